"""Conformance of the merge join-indexers kernel, run *under the coordinator* (tests/kernels.test.ts).

`pandas.core.reshape.merge.get_join_indexers` is substituted (stratum_shim/merge.py) by the
`join_indexers` kernel; everything around it (key coercion, validate=, indicator=, suffixes, the
taking of the columns, the index) stays pandas' own. The contract: `how` left / right / inner /
outer (outer sorted: merge always sorts it), `sort` either way, one or more key columns, each of
the same dtype on both sides and one of int64, float64 (NaN keys; -0.0 equals 0.0), datetime64
without a time zone (any unit; NaT) or pandas' Arrow-backed `str` / `string` (missing keys,
unicode, empty strings), neither side empty. One key sorted ascending on both sides is pandas' own
merge-join path: the shim leaves numpy keys to pandas, and the kernel declines the others when it
finds them sorted (no missing key) and unique on one side. Every other call is pandas' own.

Randomised frames (1 to 3000 rows a side, a few of 50k; int64 keys with few, many or unique
groups, negative and extreme values; float64 keys with NaN, signed zeros, infinities, huge and
tiny values; datetime64 keys of every unit with NaT; `str` keys with unicode, empty strings, case
variants, None and NaN; two or three key columns of mixed kinds; duplicates on both sides, no
matching key, all keys missing, sorted, shuffled and reversed rows, non-default indexes) merged in
every form (`on=`, `left_on=` / `right_on=`, `left_index=` / `right_index=`, `pd.merge`, every
`how` including cross and anti joins, `sort=`, `indicator=`, `suffixes=`, `validate=`), and key
dtypes that do not match across the sides or are not supported. Through stratum's substitution
(shim -> coordinator -> Rust) each result must equal pandas' own (the substitution bypassed): the
same frame, index, columns and dtypes, floats bit for bit, the same exception or warnings, unchanged
input frames; and every call of `get_join_indexers` the contract covers must have run on the kernel
(exactly one kernel run per call), every other call must not. Prints one summary line; any
mismatch raises.
"""

import collections
import random

import numpy as np
import pandas as pd
import pandas.core.reshape.merge as M

from pandas_compare import difference, evaluate
from stratum_shim import merge
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
merge.ENABLED = True  # whatever STRATUM_MERGE_KERNEL says
merge.MIN_ROWS = 0
HOWS = ("left", "right", "inner", "outer")


def kernel_original(fn):
    """The original behind a kernel substitute (a tracing wrapper may sit in front of it)."""
    while fn is not None and not hasattr(fn, "__stratum_kernel_original__"):
        fn = getattr(fn, "__stratum_original__", None)
    return None if fn is None else fn.__stratum_kernel_original__


SUBSTITUTE = M.get_join_indexers
ORIGINAL = kernel_original(SUBSTITUTE)
assert ORIGINAL is not None, "pandas.core.reshape.merge.get_join_indexers is not substituted"

rng = np.random.default_rng(0)
pyrng = random.Random(0)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
WORDS = ["a", "A", "b", "B", "ab", "aB", "Ab", "", " ", "a ", " a", "é", "e\u0301", "É", "ß", "ss", "SS", "😀", "😀😀",
         "👍🏽", "中", "中文", "文", "ｚ", "z", "Z", "0", "10", "9", "-", "a\x00", "nan", "None"]
EXTREME_INTS = [INT64_MIN, INT64_MIN + 1, -(2**53) - 1, -(2**53), -1, 0, 1, 2**53, 2**53 + 1, 2**62, INT64_MAX - 1, INT64_MAX]
SPECIAL_FLOATS = [0.0, -0.0, np.inf, -np.inf, 1e300, -1e300, 5e-324, -5e-324, 1e-300, 1.7976931348623157e308, -1.7976931348623157e308,
                  0.1, 0.2, 0.30000000000000004, 0.3, 2.0**53, 2.0**53 + 2, -1.5, 1.0, 3.0, 1e16, -(2.0**63)]
UNITS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
KEY_KINDS = ["int", "int", "float", "float", "dt ns", "dt s", "dt ms", "dt us", "str", "str", "str"]


# --- what the kernel must do with one call of get_join_indexers (the contract, restated) ---

def key_kind(k):
    """The contract's name of a key array's kind, or None when it is not supported."""
    dtype = k.dtype
    if isinstance(k, np.ndarray):
        return str(dtype) if k.ndim == 1 and dtype in (np.dtype(np.int64), np.dtype(np.float64)) else None
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return "str"
    if isinstance(k, pd.arrays.DatetimeArray) and isinstance(dtype, np.dtype):  # tz-naive
        return str(dtype)
    return None


def ascending(k):
    """(sorted ascending, strictly) in the kernel's key order: numbers numerically (-0.0 equal to
    0.0), datetimes by their int64 values (NaT a value, the smallest, as pandas' factoriser sees
    it), strings by code point; both False when a key is missing (NaN, None)."""
    if isinstance(k, pd.arrays.DatetimeArray):
        v = k._ndarray.view(np.int64)
    elif isinstance(k, np.ndarray):
        v = k
        if v.dtype.kind == "f" and np.isnan(v).any():
            return False, False
    else:
        v = k.to_numpy(dtype=object, na_value=None)
        if any(x is None for x in v):
            return False, False
        pairs = list(zip(v[:-1], v[1:]))
        return all(a <= b for a, b in pairs), all(a < b for a, b in pairs)
    return bool(np.all(v[1:] >= v[:-1])), bool(np.all(v[1:] > v[:-1]))


def key_values(k):
    """A key's values as pandas' factoriser tells them apart: missing as None, -0.0 as 0.0."""
    if isinstance(k, pd.arrays.DatetimeArray):
        return k._ndarray.view(np.int64).tolist()
    if isinstance(k, np.ndarray):
        if k.dtype.kind == "f":
            return [None if x != x else (0.0 if x == 0 else x) for x in k.tolist()]
        return k.tolist()
    return k.to_numpy(dtype=object, na_value=None).tolist()


def one_match_each(left_keys, right_keys):
    """Whether an inner join gives as many rows as the left side without every left row matching
    exactly once (pandas' inner_join short-cut then reorders them: the kernel declines)."""
    lt = list(zip(*map(key_values, left_keys)))
    counts = collections.Counter(zip(*map(key_values, right_keys)))
    per_row = [counts.get(t, 0) for t in lt]
    return sum(per_row) == len(lt) and any(c != 1 for c in per_row)


def has_nul(keys):
    return any(isinstance(x, str) and "\x00" in x for k in keys if key_kind(k) == "str" for x in key_values(k))


def expectation(left_keys, right_keys, sort, how):
    """"kernel" (the call runs there), "declined" (the kernel declines: one key sorted, a str key
    holding NUL that pandas would sort (its hash table of C strings ends them there), or pandas'
    inner-join short-cut) or "pandas" (the shim
    leaves the call to pandas)."""
    if how not in HOWS or not isinstance(sort, bool) or (how == "outer" and not sort):
        return "pandas"
    if not left_keys or len(left_keys) != len(right_keys) or len(left_keys[0]) == 0 or len(right_keys[0]) == 0:
        return "pandas"
    for a, b in zip(left_keys, right_keys):
        if key_kind(a) is None or key_kind(a) != key_kind(b) or a.dtype != b.dtype:
            return "pandas"
    if len(left_keys) == 1:
        (ls, lu), (rs, ru) = ascending(left_keys[0]), ascending(right_keys[0])
        if ls and rs and isinstance(left_keys[0], np.ndarray) and isinstance(right_keys[0], np.ndarray):
            return "pandas"  # pandas' merge-join path, whether unique or not
    if (sort or how == "outer") and (has_nul(left_keys) or has_nul(right_keys)):
        return "declined"
    if len(left_keys) == 1 and ls and rs and (lu or ru):
        return "declined"
    if how == "inner" and not sort and one_match_each(left_keys, right_keys):
        return "declined"
    return "kernel"


def describe_keys(keys):
    return ", ".join(f"{type(k).__name__}[{k.dtype}] x{len(k)}" for k in keys)


calls = []  # this case's calls of get_join_indexers: (expected, kernel runs, declines, what, key kinds)


def spy(left_keys, right_keys, sort=False, how="inner"):
    """The substitute, with what it did on each call recorded."""
    want = expectation(left_keys, right_keys, sort, how)
    what = f"get_join_indexers(left [{describe_keys(left_keys)}], right [{describe_keys(right_keys)}], sort={sort!r}, how={how!r})"
    kinds = tuple(key_kind(k) for k in left_keys)
    before, errors = dict(merge.stats), RT.errors
    try:
        return SUBSTITUTE(left_keys, right_keys, sort=sort, how=how)
    finally:
        if RT.errors != errors:
            what += f" (the shim failed: {RT.errors - errors} shim errors, STRATUM_DEBUG=1 prints them)"
        calls.append((want, merge.stats["runs"] - before["runs"], merge.stats["declined"] - before["declined"], what, kinds))


# --- keys ---

def word():
    return "".join(pyrng.choice(WORDS) for _ in range(pyrng.randint(1, 3)))


def pool(kind, m):
    """m key values of `kind` (int64 / float64 / datetime ticks as int64 arrays, str as a list),
    distinct as far as the kind allows, shuffled."""
    if kind == "int":
        flavour = pyrng.choice(["small", "negative", "extreme", "wide"])
        if flavour == "small":
            return rng.choice(max(2 * m, 8), m, replace=False).astype(np.int64)
        if flavour == "negative":
            return -rng.choice(max(2 * m, 8), m, replace=False).astype(np.int64) - pyrng.choice([0, 1, 10**6])
        wide = rng.integers(INT64_MIN, INT64_MAX, m, endpoint=True, dtype=np.int64)
        if flavour == "extreme":
            wide = np.concatenate([np.array(EXTREME_INTS, dtype=np.int64), wide])
        return rng.permutation(pd.unique(wide))[:m]
    if kind == "float":
        flavour = pyrng.choice(["specials", "normal", "integral", "tiny"])
        if flavour == "specials":
            x = np.concatenate([np.array(SPECIAL_FLOATS), rng.standard_normal(max(m - len(SPECIAL_FLOATS), 0))])
        elif flavour == "normal":
            x = rng.standard_normal(m) * 10.0 ** pyrng.randint(-5, 8)
        elif flavour == "integral":
            x = rng.choice(max(2 * m, 8), m, replace=False).astype(np.float64) - m
        else:
            x = rng.standard_normal(m) * 10.0 ** rng.integers(-320, -290, m)
        return rng.permutation(x)[:m]
    if kind.startswith("dt"):
        per_second = UNITS[kind[3:]]
        if pyrng.random() < 0.3:  # instants a second apart around 1970
            ticks = (rng.choice(max(2 * m, 8), m, replace=False) - m) * per_second
        else:  # 1906 to 2096 with sub-second digits
            ticks = rng.integers(-2 * 10**9, 4 * 10**9, m) * per_second + rng.integers(0, per_second, m)
        return rng.permutation(pd.unique(ticks.astype(np.int64)))[:m]
    vocab = list(dict.fromkeys(pyrng.sample(WORDS, len(WORDS)) + [word() for _ in range(m)]))
    vocab = list(dict.fromkeys(vocab + [f"{word()}#{i}" for i in range(max(m - len(vocab), 0))]))
    return pyrng.sample(vocab, min(m, len(vocab)))


def key_array(kind, values, missing, str_dtype="str"):
    """A key column from pool values, missing where `missing` (NaN, NaT, None or NaN)."""
    if kind == "int":
        return np.asarray(values, dtype=np.int64).copy()
    if kind == "float":
        x = np.asarray(values, dtype=np.float64).copy()
        x[missing] = np.nan
        return x
    if kind.startswith("dt"):
        t = np.asarray(values, dtype=np.int64).copy()
        t[missing] = INT64_MIN  # NaT
        return t.view(f"M8[{kind[3:]}]")
    return pd.array([(None if pyrng.random() < 0.5 else np.nan) if m else v for v, m in zip(values, missing)], dtype=str_dtype)


def draw_keys(kinds, nl, nr, groups, relation, unique, p_missing, str_dtype="str"):
    """Key columns of both sides: rows pick a key tuple among `groups` (the same tuple number is
    the same values in every key column; a jittered level breaks some tuples apart), the sides
    from the same, overlapping, disjoint or nested parts of them."""
    pools = [pool(kind, groups) for kind in kinds]
    m = min(len(p) for p in pools)
    parts = {"same": ((0, m), (0, m)), "overlap": ((0, max(2 * m // 3, 1)), (m // 3, m)),
             "disjoint": ((0, max(m // 2, 1)), (max(m // 2, 1), m)), "subset": ((0, m), (0, max(m // 4, 1)))}[relation]
    if relation == "disjoint" and m < 2:
        parts = ((0, 1), (0, 1))
    sides = []
    for n, (lo, hi), uniq in ((nl, parts[0], unique[0]), (nr, parts[1], unique[1])):
        hi = max(hi, lo + 1)
        ids = lo + (rng.permutation(hi - lo)[:n] if uniq and hi - lo >= n else rng.integers(0, hi - lo, n))
        cols = []
        for j, (kind, p) in enumerate(zip(kinds, pools)):
            level = ids % len(p)
            if j > 0 and pyrng.random() < 0.2:
                level = (level + (rng.random(n) < 0.1)) % len(p)
            missing = rng.random(n) < p_missing if kind != "int" else np.zeros(n, dtype=bool)
            values = p[level] if not isinstance(p, list) else [p[i] for i in level]
            cols.append(key_array(kind, values, missing, str_dtype))
        sides.append(cols)
    return sides


def inner_rows(left_cols, right_cols):
    """How many rows an inner merge on these key columns gives (missing keys match each other)."""
    nl = len(left_cols[0])
    code = np.zeros(nl + len(right_cols[0]), dtype=np.int64)
    for a, b in zip(left_cols, right_cols):
        both = pd.concat([pd.Series(a), pd.Series(b)], ignore_index=True)
        c, u = pd.factorize(both, use_na_sentinel=False)
        code = code * (len(u) + 1) + c
    c, u = pd.factorize(code)
    return int((np.bincount(c[:nl], minlength=len(u)) * np.bincount(c[nl:], minlength=len(u))).sum())


# --- frames ---

def values(kind, n):
    if kind == "f":
        x = rng.standard_normal(n) * 10.0 ** pyrng.randint(-3, 6)
        x[rng.random(n) < pyrng.choice([0.0, 0.2, 1.0])] = np.nan
        x[rng.random(n) < 0.05] = -0.0
        return x
    if kind == "i":
        return rng.integers(-(10**12), 10**12, n) if pyrng.random() < 0.5 else rng.choice(np.array(EXTREME_INTS), n)
    if kind == "s":
        vocab = pool("str", 5)
        return key_array("str", [vocab[i] for i in rng.integers(0, len(vocab), n)], rng.random(n) < 0.2)
    if kind == "b":
        return rng.random(n) < 0.5
    if kind == "c":
        return pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi", "unused"])
    t = rng.integers(0, 10**18, n).view("M8[ns]")
    t[rng.random(n) < 0.1] = np.datetime64("NaT")
    return t


LAYOUTS = ["range", "range", "range", "shuffled", "str index", "dup index", "sorted", "sorted", "sorted reset", "reversed"]


def side_frame(key_names, key_cols, n, side, layout, overlap):
    data = dict(zip(key_names, key_cols))
    for j, kind in enumerate(pyrng.sample("fisbct", pyrng.randint(0, 3))):
        data[f"{side}{kind}{j}"] = values(kind, n)
    if overlap:
        data["x"] = values(pyrng.choice("fis"), n)
    order = list(data)
    pyrng.shuffle(order)
    df = pd.DataFrame({c: data[c] for c in order})
    if layout == "shuffled":
        df.index = rng.permutation(n)
    elif layout == "str index":
        df.index = pd.Index([f"r{i}" for i in range(n)], dtype="str", name="row")
    elif layout == "dup index":
        df.index = rng.integers(0, 5, n)
    elif layout.startswith("sorted"):
        df = df.sort_values(list(key_names), kind="stable", na_position=pyrng.choice(["last", "first"]))
        if layout == "sorted reset":
            df = df.reset_index(drop=True)
    elif layout == "reversed":
        df = df.iloc[::-1]
    return df


def frames(kinds, nl, nr, *, groups=None, relation=None, unique=None, p_missing=None, layouts=None, renamed=None, str_dtype="str",
           max_rows=300_000):
    """(left, right, left key names, right key names), their inner merge at most max_rows rows."""
    for _ in range(20):
        g = groups or pyrng.choice([1, 2, 3, 5, max(nl // 10, 1), max(nl // 2, 1), max(2 * max(nl, nr), 1)])
        rel = relation or pyrng.choice(["same", "same", "overlap", "overlap", "disjoint", "subset"])
        uniq = unique or (pyrng.random() < 0.3, pyrng.random() < 0.3)
        p = pyrng.choice([0.0, 0.0, 0.05, 0.3]) if p_missing is None else p_missing
        lk, rk = draw_keys(kinds, nl, nr, g, rel, uniq, p, str_dtype)
        if inner_rows(lk, rk) <= max_rows:
            break
        nl, nr = max(nl // 2, 1), max(nr // 2, 1)
    else:
        raise AssertionError(f"no frames of {kinds} small enough")
    names = pyrng.sample(["k", "k2", "clé", "😀 key", "id"], len(kinds))
    rename = pyrng.random() < 0.35 if renamed is None else renamed
    rnames = [f"r_{k}" for k in names] if rename else names
    overlap = pyrng.random() < 0.6
    lay = layouts or (pyrng.choice(LAYOUTS), pyrng.choice(LAYOUTS))
    return side_frame(names, lk, nl, "l", lay[0], overlap), side_frame(rnames, rk, nr, "r", lay[1], overlap), names, rnames


# --- running and comparing ---

def outcome(code, left, right, use_kernel):
    """The result (or Raised) of evaluating `code`, and the warnings it gave; without the kernel
    pandas' own get_join_indexers is called."""
    M.get_join_indexers = spy if use_kernel else ORIGINAL
    try:
        return evaluate(code, {"left": left, "right": right})
    finally:
        M.get_join_indexers = SUBSTITUTE


def describe(df):
    return f"{len(df)} rows, index {type(df.index).__name__}[{df.index.dtype}], {df.dtypes.astype(str).to_dict()}"


cases = expected_runs = 0
start, start_errors = dict(merge.stats), RT.errors
ran_kinds = set()


def check(code, left, right):
    """Evaluate `code` with and without the kernel: identical outcomes, unchanged inputs, and the
    kernel ran on exactly the calls of get_join_indexers the contract covers. The calls made."""
    global cases, expected_runs
    snapshots, errors = (left.copy(), right.copy()), RT.errors
    calls.clear()
    got = outcome(code, left, right, True)
    made = list(calls)
    calls.clear()
    changed = difference(left, snapshots[0]) or difference(right, snapshots[1])
    ref = outcome(code, left, right, False)
    why = difference(got[0], ref[0]) or (got[1] != ref[1] and f"warnings {got[1]} instead of {ref[1]}")
    where = f"{code} on left {describe(left)}; right {describe(right)}"
    if why or changed:
        raise AssertionError(f"{where}: {why or 'an input frame changed: ' + changed}")
    assert not calls, f"{where}: pandas' own run went through the substitute"
    assert RT.errors == errors, f"{where}: {RT.errors - errors} shim errors ({[what for *_, what, _ in made]})"
    for want, ran, dec, what, kinds in made:
        did = {(1, 0): "kernel", (0, 1): "declined", (0, 0): "pandas"}.get((ran, dec), f"{ran} runs, {dec} declines")
        if did != want:
            raise AssertionError(f"{where}: {what} should have been {want!r} but was {did!r}")
        if want == "kernel":
            expected_runs += 1
            ran_kinds.add(kinds if len(kinds) > 1 else kinds[0])
    cases += 1
    return made


def options():
    opts = ""
    if pyrng.random() < 0.2:
        opts += ", indicator=True" if pyrng.random() < 0.7 else ", indicator='how it merged'"
    if pyrng.random() < 0.3:
        opts += f", suffixes={pyrng.choice([('_l', '_r'), ('', '_right'), ('_x', None), ('_é', '_😀')])!r}"
    if pyrng.random() < 0.15:
        opts += f", validate={pyrng.choice(['one_to_one', '1:1', 'one_to_many', '1:m', 'many_to_one', 'm:1', 'many_to_many', 'm:m'])!r}"
    return opts


def merge_call(lnames, rnames, how, sort, form=None):
    """A merge of left and right on their key columns in a random form."""
    one = len(lnames) == 1 and pyrng.random() < 0.5
    lk, rk = (repr(lnames[0]), repr(rnames[0])) if one else (repr(lnames), repr(rnames))
    tail = f"how={how!r}, sort={sort!r}{options()}"
    if lnames == rnames:
        form = form or pyrng.choice(["method", "method", "function", "common"])
        if form == "common":  # the columns both sides have (the keys, and x when both have it)
            return f"left.merge(right, {tail})"
        return f"left.merge(right, on={lk}, {tail})" if form == "method" else f"pd.merge(left, right, on={lk}, {tail})"
    form = form or pyrng.choice(["columns", "columns", "function", "right index", "left index"])
    if form == "columns":
        return f"left.merge(right, left_on={lk}, right_on={rk}, {tail})"
    if form == "function":
        return f"pd.merge(left, right, left_on={lk}, right_on={rk}, {tail})"
    if form == "right index":
        return f"left.merge(right.set_index({rk}), left_on={lk}, right_index=True, {tail})"
    return f"left.set_index({lk}).merge(right, left_index=True, right_on={rk}, {tail})"


def random_how():
    return pyrng.choice(["left", "left", "right", "right", "inner", "inner", "outer", "outer", "left_anti", "right_anti"])


def size():
    return pyrng.choice([1, 1, 2, 3, 5, 10, 30, 100, 100, 300, 1000, 3000])


# one key of every kind, random sizes, groups, layouts, forms
for _ in range(300):
    kind = pyrng.choice(KEY_KINDS)
    left, right, ln, rn = frames([kind], size(), size(), str_dtype=pyrng.choice(["str", "str", "str", "string"]))
    for _ in range(2):
        check(merge_call(ln, rn, random_how(), pyrng.choice([False, True])), left, right)

# two or three key columns of mixed kinds
for _ in range(120):
    kinds = [pyrng.choice(KEY_KINDS) for _ in range(pyrng.choice([2, 2, 3]))]
    left, right, ln, rn = frames(kinds, size(), size())
    for _ in range(2):
        check(merge_call(ln, rn, random_how(), pyrng.choice([False, True])), left, right)

# every how and sort on the same frames, for each kind (anti joins included)
for kinds in (["int"], ["float"], ["dt ns"], ["dt s"], ["str"], ["int", "str"], ["float", "dt us", "str"]):
    left, right, ln, rn = frames(kinds, 200, 150, groups=60, relation="overlap", unique=(False, False), p_missing=0.0 if kinds == ["int"] else 0.1,
                                 layouts=("shuffled", "range"), renamed=False)
    for how in (*HOWS, "left_anti", "right_anti"):
        for sort in (False, True):
            check(f"left.merge(right, on={ln!r}, how={how!r}, sort={sort})", left, right)

# sides of one row, against one row or many
for kind in ("int", "float", "dt ns", "str"):
    for nl, nr in ((1, 1), (1, 50), (50, 1)):
        for relation in ("same", "disjoint"):
            left, right, ln, rn = frames([kind], nl, nr, groups=3, relation=relation, p_missing=0.0, layouts=("range", "shuffled"))
            for how in HOWS:
                check(merge_call(ln, rn, how, pyrng.choice([False, True])), left, right)

# no key matches; every key missing (all of them match each other)
for kinds in (["int"], ["float"], ["dt ms"], ["str"], ["int", "float"], ["str", "dt ns"]):
    left, right, ln, rn = frames(kinds, 300, 200, groups=40, relation="disjoint", p_missing=0.0)
    for how in HOWS:
        check(merge_call(ln, rn, how, pyrng.choice([False, True])), left, right)
for kinds in (["float"], ["dt ns"], ["dt s"], ["str"], ["float", "str"], ["str", "str"]):
    for nl, nr in ((1, 1), (7, 3), (40, 25)):
        left, right, ln, rn = frames(kinds, nl, nr, groups=3, p_missing=1.0)
        for how in HOWS:
            check(merge_call(ln, rn, how, pyrng.choice([False, True])), left, right)
for kind in ("float", "str", "dt us"):  # missing keys on one side only, or a few on both
    for p_missing in (0.5, 0.02):
        left, right, ln, rn = frames([kind], 400, 300, groups=50, p_missing=p_missing)
        if p_missing == 0.5:  # none on the right
            right = right.assign(**{rn[0]: right[rn[0]].fillna(right[rn[0]].dropna().iloc[0])})
        for how in HOWS:
            check(merge_call(ln, rn, how, pyrng.choice([False, True])), left, right)

# sorted keys: both sides (pandas' merge-join path when one is unique: numpy keys stay with pandas,
# the kernel declines the others), one side, neither; unique or not; several keys sorted too
for kinds in (["int"], ["float"], ["dt ns"], ["dt s"], ["str"], ["int", "str"], ["str", "float"], ["dt ms", "int", "str"]):
    for unique in ((True, True), (True, False), (False, True), (False, False)):
        for layouts in (("sorted reset", "sorted reset"), ("sorted", "shuffled"), ("range", "sorted reset")):
            left, right, ln, rn = frames(kinds, pyrng.choice([20, 500]), pyrng.choice([20, 400]), groups=pyrng.choice([5, 300, 2000]),
                                         unique=unique, p_missing=pyrng.choice([0.0, 0.0, 0.1]), layouts=layouts)
            check(merge_call(ln, rn, pyrng.choice(HOWS), pyrng.choice([False, True])), left, right)
# numbers already in order (no sorting needed), with and without duplicates
for dtype in ("int64", "float64", "M8[ns]", "M8[s]"):
    for lstep, rstep in ((1, 1), (2, 3), (0.5, 1)):
        lk = np.floor(np.arange(300) * lstep).astype(np.int64).astype(dtype)
        rk = np.floor(np.arange(200) * rstep + 50).astype(np.int64).astype(dtype)
        left, right = pd.DataFrame({"k": lk, "a": np.arange(300)}), pd.DataFrame({"k": rk, "b": np.arange(200.0)})
        for how in HOWS:
            check(f"left.merge(right, on='k', how={how!r}, sort={pyrng.choice([False, True])})", left, right)
words = sorted(set(pool("str", 1000)))  # code point order
for lstep, rstep in ((1, 1), (2, 3), (0.5, 1)):
    left = pd.DataFrame({"k": pd.array([words[int(i * lstep)] for i in range(300)], dtype="str"), "a": np.arange(300)})
    right = pd.DataFrame({"k": pd.array([words[int(i * rstep)] for i in range(100)], dtype="str"), "b": np.arange(100)})
    for how in HOWS:
        check(f"left.merge(right, on='k', how={how!r}, sort={pyrng.choice([False, True])})", left, right)

# signed zeros, infinities and NaN keys, each side in both orders
FLOATS = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, -5e-324, 1e300, 1.7976931348623157e308]
for _ in range(12):
    lk, rk = rng.choice(FLOATS, pyrng.randint(1, 30)), rng.choice(FLOATS, pyrng.randint(1, 30))
    left, right = pd.DataFrame({"k": lk, "a": np.arange(len(lk))}), pd.DataFrame({"k": rk, "b": np.arange(len(rk))})
    for how in HOWS:
        for sort in (False, True):
            check(f"left.merge(right, on='k', how={how!r}, sort={sort})", left, right)
left, right = pd.DataFrame({"k": [-0.0, 0.0, 1.0], "a": [1, 2, 3]}), pd.DataFrame({"k": [0.0, 1.0, -0.0, np.nan], "b": [4, 5, 6, 7]})
for how in HOWS:
    for sort in (False, True):
        check(f"left.merge(right, on='k', how={how!r}, sort={sort}, indicator=True)", left, right)
        check(f"right.merge(left, on='k', how={how!r}, sort={sort})", left, right)

# what pandas does in two corners, which the substitution must do too: an inner merge without
# sorting that gives as many rows as the left side has although a left row matched several right
# rows (libjoin's inner_join then orders its output as if no left row had matched twice), and
# str keys equal up to a NUL, sorted (pandas' safe_sort checks them with a hash table of C strings
# and raises ValueError)
left = pd.DataFrame({"k": [3, 2, 1, 4], "a": ["x", "y", "z", "w"]})
right = pd.DataFrame({"k": [2, 4, 2, 2], "b": [10, 20, 30, 40]})
for how in HOWS:
    for sort in (False, True):
        check(f"left.merge(right, on='k', how={how!r}, sort={sort})", left, right)
        check(f"left.astype({{'k': 'str'}}).merge(right.astype({{'k': 'str'}}), on='k', how={how!r}, sort={sort})", left, right)
        check(f"left.assign(j='a').merge(right.assign(j='a'), on=['k', 'j'], how={how!r}, sort={sort})", left, right)
left = pd.DataFrame({"k": pd.array(["b", "a\x00", "a"], dtype="str"), "x": [1, 2, 3]})
right = pd.DataFrame({"k": pd.array(["a", "", "\x00", "a\x00b"], dtype="str"), "y": [1, 2, 3, 4]})
for how in HOWS:
    for sort in (False, True):
        check(f"left.merge(right, on='k', how={how!r}, sort={sort})", left, right)
        check(f"left.assign(i=1).merge(right.assign(i=1), on=['i', 'k'], how={how!r}, sort={sort})", left, right)

# validate=: satisfied or raising MergeError, the same either way
for kind in ("int", "float", "str", "dt ns"):
    for unique in ((True, True), (True, False), (False, True), (False, False)):
        left, right, ln, rn = frames([kind], 60, 50, groups=200, unique=unique, relation="same", p_missing=0.0, renamed=False)
        for v in ("one_to_one", "one_to_many", "many_to_one", "many_to_many"):
            check(f"left.merge(right, on={ln!r}, how={pyrng.choice(HOWS)!r}, validate={v!r})", left, right)

# indicator, suffixes, cross joins, index joins on the same frames
left, right, ln, rn = frames(["str", "int"], 80, 60, groups=30, p_missing=0.1, renamed=False)
for how in HOWS:
    check(f"left.merge(right, on={ln!r}, how={how!r}, indicator=True, suffixes=('_left', '_right'))", left, right)
    check(f"pd.merge(left, right, on={ln[:1]!r}, how={how!r}, suffixes=('', '_r'))", left, right)  # the other key suffixed
    check(f"left.merge(right, on={ln[:1]!r}, how={how!r}, suffixes=('', ''))", left, right)  # raises: columns overlap
    check(f"left.merge(right.set_index({ln!r}), left_on={ln!r}, right_index=True, how={how!r})", left, right)
    check(f"left.set_index({ln!r}).merge(right.set_index({ln!r}), left_index=True, right_index=True, how={how!r})", left, right)
    check(f"left.join(right.set_index({ln!r}), on={ln!r}, how={how!r}, rsuffix='_r')", left, right)
for n in (1, 2, 17):
    left, right, ln, rn = frames(["int"], n, 9, groups=4)
    check("left.merge(right, how='cross')", left, right)
    check("pd.merge(left, right, how='cross', suffixes=('_a', '_b'))", left, right)
    check(f"left.merge(right, how='cross', on={ln!r})", left, right)  # raises

# key dtypes that differ across the sides (pandas coerces, warns or raises) or are not supported
ints, strs = rng.integers(0, 20, 300), pd.array(rng.choice(["0", "1", "2", "x", "é"], 300), dtype="str")
days = pd.Series((rng.integers(0, 20, 300) * 86400 * 10**9).view("M8[ns]"))
base = pd.DataFrame({"i": ints, "f": rng.integers(0, 20, 300).astype(np.float64), "g": ints + 0.5, "v": rng.standard_normal(300),
                     "s": strs, "o": pd.Series(np.array(strs, dtype=object), dtype=object), "c": pd.Categorical(strs),
                     "t": days, "ts": days.astype("M8[s]"), "u": days.dt.tz_localize("UTC"), "b": ints % 2 == 0})
for how in HOWS:
    for code in ["left.merge(right, left_on='i', right_on='f', how=HOW)",  # int64 with float64: no kernel
                 "left.merge(right, left_on='i', right_on='g', how=HOW)",  # ... whose floats are not integers: a warning
                 "left.merge(right, left_on='f', right_on='i', how=HOW, sort=True)",
                 "left.merge(right, left_on='i', right_on='s', how=HOW)",  # raises
                 "left.merge(right, left_on='s', right_on='f', how=HOW)",
                 "left.merge(right, left_on='s', right_on='o', how=HOW)",
                 "left.merge(right, left_on='o', right_on='o', how=HOW)",
                 "left.merge(right, left_on='s', right_on='c', how=HOW)",
                 "left.merge(right, left_on='c', right_on='c', how=HOW)",
                 "left.merge(right, left_on='t', right_on='ts', how=HOW)",  # two units
                 "left.merge(right, left_on='t', right_on='i', how=HOW)",
                 "left.merge(right, left_on='u', right_on='u', how=HOW)",  # a time zone
                 "left.merge(right, left_on='u', right_on='t', how=HOW)",
                 "left.merge(right, left_on='b', right_on='b', how=HOW)",
                 "left.merge(right, left_on='b', right_on='i', how=HOW)",
                 "left.merge(right, left_on=['i', 's'], right_on=['f', 's'], how=HOW)",
                 "left.merge(right, left_on=['i', 's'], right_on=['i', 'o'], how=HOW)",
                 "left.merge(right.astype({'i': 'int32'}), on='i', how=HOW)",
                 "left.astype({'i': 'int32'}).merge(right.astype({'i': 'int32'}), on='i', how=HOW)",
                 "left.astype({'i': 'uint64'}).merge(right.astype({'i': 'uint64'}), on='i', how=HOW)",
                 "left.astype({'i': 'uint64'}).merge(right, on='i', how=HOW)",
                 "left.astype({'i': 'Int64'}).merge(right.astype({'i': 'Int64'}), on='i', how=HOW)",
                 "left.astype({'i': 'Int64'}).merge(right, on='i', how=HOW)",
                 "left.astype({'f': 'float32'}).merge(right, on='f', how=HOW)",
                 "left.astype({'f': 'Float64'}).merge(right.astype({'f': 'Float64'}), on='f', how=HOW)",
                 "left.astype({'s': 'string'}).merge(right, on='s', how=HOW)",  # str with string: both Arrow
                 "left.astype({'s': 'string'}).merge(right.astype({'s': 'string'}), on='s', how=HOW)",
                 "left.astype({'s': pd.StringDtype('python')}).merge(right.astype({'s': pd.StringDtype('python')}), on='s', how=HOW)",
                 "left.astype({'s': pd.ArrowDtype(pa.string())}).merge(right.astype({'s': pd.ArrowDtype(pa.string())}), on='s', how=HOW)",
                 "left.astype({'i': pd.ArrowDtype(pa.int64())}).merge(right.astype({'i': pd.ArrowDtype(pa.int64())}), on='i', how=HOW)",
                 "left.assign(d=left['t'] - left['t'].min()).merge(right.assign(d=right['t'] - right['t'].min()), on='d', how=HOW)",
                 "left.assign(p=left['t'].dt.to_period('D')).merge(right.assign(p=right['t'].dt.to_period('D')), on='p', how=HOW)"]:
        code = code.replace("HOW", repr(how)).replace("pa.", "__import__('pyarrow').")
        check(code, base.iloc[:200], base.iloc[100:].sample(frac=1.0, random_state=1))

# empty sides (pandas' own)
for kind in ("int", "str", "dt ns"):
    left, right, ln, rn = frames([kind], 30, 20, groups=10, renamed=False)
    for how in (*HOWS, "cross", "left_anti"):
        for sort in (False, True):
            on = "" if how == "cross" else f"on={ln!r}, "
            check(f"left.iloc[:0].merge(right, {on}how={how!r}, sort={sort})", left, right)
            check(f"left.merge(right.iloc[:0], {on}how={how!r}, sort={sort})", left, right)
            check(f"left.iloc[:0].merge(right.iloc[:0], {on}how={how!r}, sort={sort})", left, right)

# str keys in several Arrow chunks (a concatenation), against one chunk
chunks = pd.concat([pd.DataFrame({"k": pd.array(pool("str", 30), dtype="str"), "a": np.arange(30)}) for _ in range(3)], ignore_index=True)
other = pd.DataFrame({"k": pd.array(pool("str", 50) + [None], dtype="str"), "b": np.arange(51)})
for how in HOWS:
    check(f"left.merge(right, on='k', how={how!r})", chunks, other)
    check(f"right.merge(left, on='k', how={how!r}, sort=True)", chunks, other)

# big sides (the kernel's threads)
for kinds, nl, nr, groups, unique in ((["int"], 50_000, 50_000, 90_000, (True, True)), (["int"], 50_000, 20_000, 10_000, (False, True)),
                                      (["float"], 50_000, 30_000, 20_000, (False, True)), (["str"], 50_000, 40_000, 30_000, (False, True)),
                                      (["dt ns"], 40_000, 50_000, 30_000, (True, False)), (["int", "str"], 50_000, 50_000, 40_000, (False, True)),
                                      (["str"], 50_000, 50_000, 90_000, (True, True))):
    left, right, ln, rn = frames(kinds, nl, nr, groups=groups, unique=unique, relation="overlap", p_missing=0.0 if kinds == ["int"] else 0.01,
                                 layouts=("shuffled", "range"), max_rows=10**6)
    for how in ("left", "inner", "outer", "right"):
        check(merge_call(ln, rn, how, pyrng.choice([False, True])), left, right)
left, right, ln, rn = frames(["str"], 50_000, 50_000, groups=70_000, unique=(True, True), relation="same", p_missing=0.0,
                             layouts=("sorted reset", "sorted reset"), renamed=False)
check(f"left.merge(right, on={ln!r}, how='inner')", left, right)  # sorted: declined by the kernel, pandas' own

M.get_join_indexers = SUBSTITUTE
runs = merge.stats["runs"] - start["runs"]
declined = merge.stats["declined"] - start["declined"]
assert runs == expected_runs, f"{runs} kernel runs, expected {expected_runs}"
assert RT.errors == start_errors, f"{RT.errors - start_errors} shim errors (STRATUM_DEBUG=1 prints them)"
for kind in ("int64", "float64", "datetime64[ns]", "datetime64[s]", "datetime64[ms]", "datetime64[us]", "str"):
    assert kind in ran_kinds, f"no {kind} key ran on the kernel"
assert sum(isinstance(k, tuple) for k in ran_kinds) >= 10, f"too few combinations of several keys ran on the kernel: {ran_kinds}"
print(f"merge kernel conformance: {cases} cases identical, {runs} kernel runs, {declined} declined")
