"""Conformance of the sort-indexer kernel, run *under the coordinator* (tests/kernels.test.ts).

Randomised frames (0 to 4000 rows, a few of 60k): int64 / int32 / uint8 / bool keys with few,
many or unique values and extreme ones; float64 / float32 with NaN, signed zeros, infinities,
huge and tiny values, or all distinct; datetime64 of several units and timedelta64 with NaT;
tz-aware datetimes; categoricals with missing values and unused categories; pandas `str` with
unicode, empty strings, NUL and missing values; on range, shuffled, string and repeated
indexes. Every call form: `DataFrame.sort_values` with one key or several, `ascending` a bool or
a list, `na_position`, `kind` (quicksort, mergesort, stable, heapsort), `ignore_index`,
`inplace`; `Series.sort_values`. Through stratum's substitution each result must equal pandas'
own: the same type, values, index and dtypes, the same exception and warnings, an unchanged input
(except with inplace=True, where the frame itself must equal pandas' frame). A stable order
(several keys, or kind stable / mergesort) must have run on the kernel, once; an unstable one
(one key, quicksort / heapsort) runs on it when the key has no equal values and is declined by
the kernel otherwise (the summary counts both); unsupported calls (key functions, object keys,
nullable dtypes, MultiIndex levels) stay with pandas and are still identical. Prints one summary
line; any mismatch raises.
"""

import random

import numpy as np
import pandas as pd

from pandas_compare import difference, outcome
from stratum_shim import sort
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
sort.ENABLED = True  # whatever STRATUM_SORT_KERNEL says
sort.MIN_ROWS = 0

rng = np.random.default_rng(0)
pyrng = random.Random(0)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
WORDS = ["a", "A", "b", "", " ", "é", "e\u0301", "É", "ß", "ss", "😀", "👍🏽", "中文", "0", "nan", "None", "a\x00",
         "a string longer than fifteen bytes", "a string longer than fifteen bytez"]
FLOATS = np.array([0.0, -0.0, np.nan, 1.5, -1.5, np.inf, -np.inf, 1e308, -1e-308, 5e-324, 0.1 + 0.2, 0.3])

# key kinds: the kernel takes them in lexsort_indexer (several keys) / nargsort (one key)
LEXSORT = ("i", "f", "b", "t", "ts", "td", "tz", "c", "s", "i32", "u8", "f32")
NARGSORT = ("i", "f", "b", "t", "ts", "td", "i32", "u8", "f32")
UNSUPPORTED = ("o", "I", "F", "B")


def pick(values, n, distinct):
    return np.asarray(values)[rng.integers(0, max(1, min(distinct, len(values))), n)]


def column(kind, n, distinct):
    if kind == "i":
        if distinct >= 1000:
            return rng.integers(-(2**62), 2**62, n) if pyrng.random() < 0.5 else rng.permutation(n).astype(np.int64) * 7 - 3
        base = np.array([0, -1, 1, 7, INT64_MIN, INT64_MAX, 2**53 + 1, 2**53, -(2**62)])
        return pick(np.concatenate([base, rng.integers(-10**6, 10**6, 64)]), n, distinct)
    if kind in ("f", "f32"):
        if distinct >= 1000:
            values = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
            values[rng.random(n) < 0.05] = np.nan
        else:
            values = pick(np.concatenate([FLOATS, np.round(rng.standard_normal(64), 3)]), n, distinct)
        if kind == "f32":
            with np.errstate(over="ignore"):  # huge values become inf
                return values.astype(np.float32)
        return values
    if kind == "b":
        return pick([True, False], n, distinct)
    if kind in ("t", "ts"):
        if kind == "t":
            days = np.datetime64("2020-01-01", "ns") + pick(np.arange(0, 10**6, 997), n, distinct).astype("timedelta64[ns]")
        else:
            days = pick(np.arange(-3, 400), n, distinct).astype("datetime64[s]")
        days = days.copy()
        days[rng.random(n) < 0.1] = np.datetime64("NaT")
        return days
    if kind == "td":
        td = pick(np.arange(-50, 50), n, distinct).astype("timedelta64[ms]").copy()
        td[rng.random(n) < 0.1] = np.timedelta64("NaT")
        return td
    if kind == "tz":
        return pd.DatetimeIndex(pick(np.arange(0, 40) * 3_600_000_000_000, n, distinct)).tz_localize("UTC").tz_convert("Europe/Paris")
    if kind == "c":
        cats = ["lo", "mid", "hi", "é", "unused"]
        return pd.Categorical(pick(cats[:4] + [None], n, distinct), categories=cats, ordered=pyrng.random() < 0.5)
    if kind == "s":
        return pd.array(pick(WORDS + [None, np.nan], n, distinct), dtype="str")
    if kind == "o":
        values = pick(np.array([1, 1.5, "1", None, "a"], dtype=object), n, distinct)
        if n:
            values[0] = 1.5  # not all strings: an object column, not pandas' str
        return values
    if kind == "I":
        return pd.array(pick([1, 2, None], n, distinct), dtype="Int64")
    if kind == "F":
        return pd.array(pick([1.5, 0.0, None], n, distinct), dtype="Float64")
    if kind == "B":
        return pd.array(pick([True, False, None], n, distinct), dtype="boolean")
    if kind == "u8":
        return pick(np.arange(250, dtype=np.uint8), n, distinct)
    return pick(np.arange(-5, 5, dtype=np.int32), n, distinct)


def frame(n, kinds):
    distinct = pyrng.choice([1, 2, 3, 6, 20, 1000, 1000])
    df = pd.DataFrame({f"c{j}_{k}": column(k, n, distinct if pyrng.random() < 0.8 else pyrng.choice([1, 3, 1000]))
                       for j, k in enumerate(kinds)})
    df["v"] = np.arange(n)  # a payload column, to see the rows move
    layout = pyrng.choice(["range", "range", "shuffled", "strings", "repeated"])
    if layout == "shuffled":
        df = df.sample(frac=1, random_state=int(rng.integers(1 << 31)))
    elif layout == "strings":
        df.index = pd.Index([f"r{i}" for i in range(len(df))], name="rid")
    elif layout == "repeated":
        df.index = pd.Index(np.arange(len(df)) // 3)
    return df


cases = runs = declined = radix = 0


def check(expr, df, expect, narrow=False):
    """expect: True (the call runs on the kernel exactly once), False (it must not), None (one
    kernel call, which may decline: an unstable sort of a key with ties). narrow: the call sorts
    the key's radix-sortable offsets instead (sort.narrow_for_radix), once, without the kernel."""
    global cases, runs, declined, radix
    code = compile(expr, "<case>", "eval")
    mine, theirs = df.copy(deep=True), df.copy(deep=True)
    before = dict(sort.stats)
    got = outcome(code, {"df": mine}, True)
    ran = sort.stats["runs"] - before["runs"]
    refused = sort.stats["declined"] - before["declined"]
    narrowed = sort.stats["radix"] - before["radix"]
    ref = outcome(code, {"df": theirs}, False)
    where = f"{expr} on {len(df)} rows {df.dtypes.astype(str).to_dict()}"
    why = difference(got[0], ref[0]) or difference(mine, theirs)
    if why:
        raise AssertionError(f"{where}: {why}")
    if got[1] != ref[1]:
        raise AssertionError(f"{where}: warnings {got[1]} instead of {ref[1]}")
    if "inplace" not in expr and difference(mine, df):
        raise AssertionError(f"{where}: the input frame changed")
    if expect is None:
        if ran + refused > 1:
            raise AssertionError(f"{where}: {ran} kernel runs and {refused} declines, expected one call")
    elif (ran, refused) != ((1, 0) if expect else (0, 0)):
        raise AssertionError(f"{where}: {ran} kernel runs, {refused} declines, expected {1 if expect else 0} runs")
    if narrowed != int(narrow):
        raise AssertionError(f"{where}: {narrowed} radix sorts of narrowed keys, expected {int(narrow)}")
    cases += 1
    runs += ran
    declined += refused
    radix += narrowed


def random_case(n, big=False):
    # half the cases without the shim's tie check: the kernel's own check must decline them
    sort.PRECHECK = pyrng.random() < 0.5
    # half the cases narrow int keys of any length (a stable sort of fewer than 2**16 integers)
    sort.MIN_RADIX = pyrng.choice([1, 10000])
    several = pyrng.random() < 0.5
    pool = LEXSORT if several else NARGSORT
    kinds = [pyrng.choice(pool) for _ in range(pyrng.randint(2, 3) if several else 1)]
    odd = not big and pyrng.random() < 0.15
    if odd:
        kinds[pyrng.randrange(len(kinds))] = pyrng.choice(UNSUPPORTED + (("s", "c", "tz") if not several else ()))
    df = frame(n, kinds)
    by = [c for c in df.columns if c != "v"]
    args = [repr(by if several or pyrng.random() < 0.5 else by[0])]
    asc = pyrng.choice(["", "bool", "list"])
    if asc == "bool":
        args.append(f"ascending={pyrng.random() < 0.5}")
    elif asc == "list":
        args.append(f"ascending={[pyrng.random() < 0.5 for _ in by]!r}")
    if pyrng.random() < 0.5:
        args.append(f"na_position={pyrng.choice(['first', 'last'])!r}")
    kind = pyrng.choice([None, None, "quicksort", "mergesort", "stable", "heapsort"])
    if kind:
        args.append(f"kind={kind!r}")
    if pyrng.random() < 0.2:
        args.append("ignore_index=True")
    inplace = pyrng.random() < 0.15
    if inplace:
        args.append("inplace=True")
    supported = n > 0 and not any(c.split("_", 1)[1] in UNSUPPORTED for c in by)
    narrow = False
    if not several and not supported or not several and kinds[0] in ("s", "c", "tz"):
        expect = False
    elif several:
        expect = supported
    elif kind in ("mergesort", "stable"):
        narrow = supported and sort.narrow_for_radix(df[by[0]]._values) is not None
        # a key that looks sorted already stays with NumPy's timsort (the shim's pre-check)
        expect = supported and not narrow and not (sort.PRECHECK and sort._presorted(sort._arrow_key(df[by[0]]._values, lexsort=False)))
    else:
        expect = None if supported else False
    if not several and pyrng.random() < 0.3:
        # the Series form (nargsort in pandas.core.series)
        col = by[0]
        sargs = [a for a in args[1:] if not a.startswith("ascending=[")]
        check(f"df[{col!r}].sort_values({', '.join(sargs)})" if not inplace else f"df.sort_values({', '.join(args)})",
              df, expect, narrow)
        return
    check(f"df.sort_values({', '.join(args)})", df, expect, narrow)


for size in [0, 1, 2, 3, 5, 10, 40, 200, 1000, 4000]:
    for _ in range(40 if size <= 1000 else 15):
        random_case(size)
for _ in range(8):
    random_case(60000, big=True)

# stable sorts of int keys spanning fewer than 2**16 values (radix sorts of their offsets),
# anywhere in the int64 / uint64 range, some spanning exactly 2**8 or 2**16 values (not narrowed)
sort.MIN_RADIX = 1
for _ in range(150):
    n = pyrng.choice([1, 2, 7, 300, 5000])
    dtype = pyrng.choice([np.int64, np.int32, np.uint64, np.uint32])
    info = np.iinfo(dtype)
    span = pyrng.choice([1, 2, 200, 256, 257, 40000, 65536, 65537])
    lo = pyrng.choice([int(info.min), int(info.max) - span + 1, 0, -span // 2 if info.min < 0 else 3, 10**6])
    keys = np.array([lo + int(d) for d in rng.integers(0, span, n)], dtype=dtype)
    df = pd.DataFrame({"k": keys, "v": np.arange(n)})
    fits = int(keys.max()) - int(keys.min()) < 1 << 16
    kind = pyrng.choice(["stable", "mergesort"])
    asc = pyrng.random() < 0.5
    na = pyrng.choice(["first", "last"])
    form = pyrng.choice([f"df.sort_values('k', kind={kind!r}, ascending={asc}, na_position={na!r})",
                         f"df['k'].sort_values(kind={kind!r}, ascending={asc}, na_position={na!r})",
                         f"df.sort_values('k', kind={kind!r}, ascending={asc}, ignore_index=True)"])
    check(form, df, False, narrow=fits)

# fixed corners
sort.PRECHECK = True
sort.MIN_RADIX = 10000
zeros = pd.DataFrame({"f": [0.0, -0.0, np.nan, -np.nan, 0.0, 1.0], "i": [1, 1, 1, 1, 2, 0]})
check("df.sort_values(['f', 'i'])", zeros, True)
check("df.sort_values(['f', 'i'], ascending=False, na_position='first')", zeros, True)
sort.PRECHECK = False
check("df.sort_values('f', kind='stable')", zeros, True)
sort.PRECHECK = True
check("df.sort_values('f', kind='stable')", zeros, False)  # sorted already (0.0, -0.0, 0.0, 1.0): NumPy's
check("df.sort_values('i', kind='stable', ascending=False)", zeros, True)
check("df.sort_values('f')", zeros, False)  # ties (0.0 and -0.0) found by the shim
check("df.sort_values('i')", zeros, False)  # an int key that must be tied: not sent
sort.PRECHECK = False
check("df.sort_values('f')", zeros, None)  # the kernel finds the ties and declines
assert sort.stats["declined"] > 0
sort.PRECHECK = True
distinct = pd.DataFrame({"f": [3.5, np.nan, -1.0, 2.25, -np.inf, np.nan, 1e-300]})
check("df.sort_values('f')", distinct, True)
check("df.sort_values('f', ascending=False, na_position='first')", distinct, True)
check("df['f'].sort_values()", distinct, True)
allnull = pd.DataFrame({"s": pd.array([None, np.nan, None], dtype="str"), "f": [np.nan, np.nan, np.nan]})
check("df.sort_values(['s', 'f'])", allnull, True)
check("df.sort_values('f', kind='stable')", allnull, False)  # all missing: nothing to sort, NumPy's
one = pd.DataFrame({"a": [1], "b": ["x"]}).astype({"b": "str"})
check("df.sort_values(['b', 'a'])", one, True)
empty = pd.DataFrame({"a": pd.Series([], dtype=np.int64), "b": pd.Series([], dtype=np.float64)})
check("df.sort_values(['a', 'b'])", empty, False)
unicode = pd.DataFrame({"s": pd.array(["é", "e\u0301", "É", "é", "😀", "a\x00", "a", ""], dtype="str"), "k": [1, 1, 1, 1, 2, 2, 0, 0]})
check("df.sort_values(['s', 'k'])", unicode, True)
check("df.sort_values(['k', 's'], ascending=[False, True])", unicode, True)
check("df.sort_values(['s', 'k'], key=lambda c: c)", unicode, False)
check("df.sort_values(['s', 'k'], ascending=[True])", unicode, False)  # pandas raises
check("df.sort_values(['s', 'k'], na_position='middle')", unicode, False)  # pandas raises
check("df.sort_values('nope')", unicode, False)  # pandas raises its KeyError
big = pd.DataFrame({"u": np.array([2**64 - 1, 0, 5], dtype=np.uint64), "i": [3, 2, 1]})
check("df.sort_values(['u', 'i'])", big, False)
levels = pd.DataFrame({"a": [3, 1, 2], "b": [1.5, 0.5, 2.5]}).set_index("a")
check("df.sort_values(['a', 'b'])", levels, True)  # an index level by name
# narrow int keys: extremes of int64 / uint64 (offsets from the minimum), both widths, NaN-free
sort.MIN_RADIX = 1
for values in ([INT64_MIN + 5, INT64_MIN, INT64_MIN + 65535, INT64_MIN + 5], [INT64_MAX, INT64_MAX - 200, INT64_MAX],
               np.array([2**64 - 1, 2**64 - 65536, 2**64 - 1], dtype=np.uint64), [-3, 7, -3, 100, 7, 255 - 3],
               np.array([5, 1, 5, 1 << 16], dtype=np.int32)):
    narrow_df = pd.DataFrame({"k": values, "v": np.arange(len(values))})
    fits = int(narrow_df["k"].max()) - int(narrow_df["k"].min()) < 1 << 16
    for expr in ("df.sort_values('k', kind='stable')", "df.sort_values('k', kind='mergesort', ascending=False)",
                 "df['k'].sort_values(kind='stable', ascending=False)", "df['k'].value_counts()"):
        check(expr, narrow_df, False, narrow=fits or "value_counts" in expr)  # (counts: a narrow key)
assert radix > 100, radix
print(f"sort kernel conformance: {cases} cases identical, {runs} kernel runs, {declined} declined, {radix} radix sorts of narrowed keys")
