"""Conformance of the describe kernel, run *under the coordinator* (tests/kernels.test.ts).

Randomised frames (0 to 4000 rows, a few of 70k: past NumPy's 8192-value cast buffers and the
kernel's parallel pairwise halves) of int64 columns (small, large and extreme values) and
float64 columns (NaN, all-NaN, zeros of one sign, tiny / subnormal and huge values, rounded
values with many ties), mixed with columns pandas describes itself (bool, int32, float32,
datetime64, timedelta64, str, categorical, nullable Int64 / Float64) and with columns that keep
the whole call with pandas (object, complex); C- and F-ordered blocks, odd column labels and
indexes; every call form (``DataFrame.describe`` with default arguments, custom percentiles,
``percentiles=[]``, ``include`` / ``exclude`` forms, ``Series.describe``) and invalid
arguments. Through stratum's substitution each result must equal pandas' own bit for bit (the
same type, values, index, columns and dtypes, the same exception and warnings) and the input
must not change. Every call the shim supports must have gone to the kernel exactly once, and
run there unless the kernel had to decline (an infinite value or an overflow: pandas warns, and
must still do so; a zero of both signs in a column), in which case the decline is counted; the
other calls never reach it. Prints one summary line; any mismatch raises.
"""

import random

import numpy as np
import pandas as pd

from pandas_compare import difference, outcome
from stratum_shim import describe
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
describe.ENABLED = True  # whatever STRATUM_DESCRIBE_KERNEL says
describe.MIN_VALUES = 0

rng = np.random.default_rng(0)
pyrng = random.Random(0)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)

# the kernel's kinds (int64 / float64); "finf" and "fover" make NumPy warn (the kernel declines),
# "fz2" holds both zeros (the kernel may decline)
KERNEL = ("i", "ibig", "f", "fz", "fround", "ftiny", "fhuge", "fnan")
DECLINED = ("finf", "fover")
MAYBE = ("fz2",)
# described by pandas in the same call
PANDAS = ("b", "i32", "f32", "t", "td", "s", "c", "I", "F")
# keep the whole call with pandas
WHOLE = ("o", "cx")


def nans(x, frac):
    x = x.astype(np.float64)
    x[rng.random(len(x)) < frac] = np.nan
    return x


def column(kind, n):
    if kind == "i":
        return rng.integers(-1000, 1000, n)
    if kind == "ibig":
        base = np.array([INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, 0, -1, 2**53 + 1, -(2**62), 2**63 - 2**10])
        return np.where(rng.random(n) < 0.3, base[rng.integers(0, len(base), n)], rng.integers(INT64_MIN, INT64_MAX, n, endpoint=True))
    if kind == "f":
        return nans(rng.standard_normal(n) * 10.0 ** rng.integers(-3, 6), pyrng.choice([0, 0.1, 0.5]))
    if kind == "fz":
        sign = pyrng.choice([1.0, -1.0])
        x = np.where(rng.random(n) < 0.4, sign * 0.0, np.round(rng.standard_normal(n), 1))
        x[x == 0] = sign * 0.0  # rounding may give zeros of the other sign
        return nans(x, 0.1)
    if kind == "fz2":
        return nans(np.where(rng.random(n) < 0.5, np.where(rng.random(n) < 0.5, 0.0, -0.0), rng.standard_normal(n)), 0.1)
    if kind == "fround":
        return nans(np.round(rng.standard_normal(n) * 3, 0) / 4 + 0.0, 0.05)  # + 0.0: no -0.0
    if kind == "ftiny":
        return nans(rng.choice(np.array([5e-324, -5e-324, 1e-310, 2.2e-308, -1e-300, 3e-320]), n) * rng.integers(1, 4, n), 0.1)
    if kind == "fhuge":
        return nans(rng.standard_normal(n) * 1e150, 0.1)
    if kind == "fnan":
        return np.full(n, np.nan)
    if kind == "finf":
        x = nans(rng.standard_normal(n), 0.1)
        if n:
            x[rng.integers(0, n)] = pyrng.choice([np.inf, -np.inf])
        return x
    if kind == "fover":
        x = rng.standard_normal(n) * 1e300
        if n:
            x[0] = 1.7e308
        return x
    if kind == "b":
        return rng.random(n) < 0.5
    if kind == "i32":
        return rng.integers(-5, 5, n).astype(np.int32)
    if kind == "f32":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "t":
        t = np.datetime64("2020-01-01", "ns") + rng.integers(0, 10**15, n).astype("timedelta64[ns]")
        t[rng.random(n) < 0.1] = np.datetime64("NaT")
        return t
    if kind == "td":
        return rng.integers(-50, 50, n).astype("timedelta64[ms]")
    if kind == "s":
        return pd.array(rng.choice(np.array(["a", "b", "é", ""], dtype=object), n), dtype="str")
    if kind == "c":
        return pd.Categorical(rng.choice(np.array(["lo", "hi"], dtype=object), n), categories=["lo", "hi", "unused"])
    if kind == "I":
        return pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 9, n)).tolist(), dtype="Int64")
    if kind == "F":
        return pd.array(np.where(rng.random(n) < 0.2, None, rng.standard_normal(n)).tolist(), dtype="Float64")
    if kind == "o":
        return rng.choice(np.array(["x", 1, None], dtype=object), n)
    if kind == "cx":
        return rng.standard_normal(n) + 1j
    raise ValueError(kind)


def frame(n, kinds):
    labels = pyrng.choice(["plain", "plain", "ints", "dup", "tuples"])
    data = [column(k, n) for k in kinds]
    names = [f"c{j}_{k}" for j, k in enumerate(kinds)]
    if labels == "ints":
        names = list(range(len(kinds)))
    elif labels == "tuples":
        names = [(k, j) for j, k in enumerate(kinds)]
    ints = all(k in ("i", "ibig") for k in kinds)
    floats = all(k in ("f", "fz", "fz2", "fround", "ftiny", "fhuge", "fnan", "finf", "fover") for k in kinds)
    if (ints or floats) and pyrng.random() < 0.3:
        # one 2-D block in F order: each column a strided row of it
        df = pd.DataFrame(np.stack(data, axis=1), columns=names)
    else:
        df = pd.DataFrame(dict(zip(range(len(kinds)), data)))
        df.columns = names
    if labels == "dup" and len(kinds) > 1:
        df.columns = [names[0]] * 2 + names[2:]
    layout = pyrng.choice(["range", "range", "strings", "shuffled"])
    if layout == "strings":
        df.index = pd.Index([f"r{i}" for i in range(len(df))], name="rid")
    elif layout == "shuffled":
        df = df.sample(frac=1, random_state=int(rng.integers(1 << 31)))
    return df


cases = runs = declined = maybe_runs = 0


def check(expr, obj, expect):
    """expect: True (the call runs on the kernel, once), "declined" (it goes to the kernel, which
    declines), "maybe" (either, once at most), False (it never reaches the kernel)."""
    global cases, runs, declined, maybe_runs
    code = compile(expr, "<case>", "eval")
    mine, theirs = obj.copy(deep=True), obj.copy(deep=True)
    before = dict(describe.stats)
    got = outcome(code, {"df": mine}, True)
    ran = describe.stats["runs"] - before["runs"]
    dec = describe.stats["declined"] - before["declined"]
    ref = outcome(code, {"df": theirs}, False)
    dtypes = obj.dtypes.astype(str).to_dict() if isinstance(obj, pd.DataFrame) else str(obj.dtype)
    where = f"{expr} on {len(obj)} rows {dtypes}"
    why = difference(got[0], ref[0]) or difference(mine, theirs)
    if why:
        raise AssertionError(f"{where}: {why}")
    if got[1] != ref[1]:
        raise AssertionError(f"{where}: warnings {got[1]} instead of {ref[1]}")
    if difference(mine, obj):
        raise AssertionError(f"{where}: the input changed")
    if describe.stats["mismatch"] != before["mismatch"]:
        raise AssertionError(f"{where}: pandas described other columns than planned")
    if expect is True and (ran, dec) != (1, 0):
        raise AssertionError(f"{where}: {ran} kernel runs, {dec} declines, expected one run")
    if expect == "declined" and (ran, dec) != (0, 1):
        raise AssertionError(f"{where}: {ran} kernel runs, {dec} declines, expected one decline")
    if expect == "maybe" and ran + dec != 1:
        raise AssertionError(f"{where}: {ran} kernel runs, {dec} declines, expected one request")
    if expect is False and ran + dec:
        raise AssertionError(f"{where}: {ran} kernel runs, {dec} declines, expected none")
    if ran:
        answered = describe.stats["answered"] - before["answered"]
        if answered == 0:
            raise AssertionError(f"{where}: the kernel ran but answered no column")
    cases += 1
    runs += ran
    declined += dec
    maybe_runs += ran if expect == "maybe" else 0


def percentiles_arg():
    r = pyrng.random()
    if r < 0.45:
        return None, True
    if r < 0.55:
        return "[]", True
    if r < 0.9:
        choices = [0.0, 0.01, 0.1, 1 / 3, 0.25, 0.3, 0.5, 0.6, 0.75, 0.9, 0.95, 0.999, 1.0, 0.123456789, 2 / 3]
        ps = pyrng.sample(choices, pyrng.randint(1, 6))
        return repr(ps), True
    bad = pyrng.choice(["[0.5, 0.5]", "[1.5]", "[-0.1]", "'x'"])
    return bad, False


def expectation(kinds, selected, valid, n):
    """What the kernel must do with a call describing the columns of `kinds` at `selected` (n
    rows: an infinity needs one, an overflowing square two)."""
    if not valid:
        return False
    chosen = [kinds[j] for j in selected]
    chosen = [k if (k != "finf" or n >= 1) and (k != "fover" or n >= 2) else "f" for k in chosen]
    if any(k in WHOLE for k in chosen):
        return False
    ours = [k for k in chosen if k in KERNEL + DECLINED + MAYBE]
    if not ours:
        return False
    if any(k in DECLINED for k in ours):
        return "declined"
    if any(k in MAYBE for k in ours):
        return "maybe"
    return True


NUMERIC = set(KERNEL + DECLINED + MAYBE + ("i32", "f32", "cx"))


def selected_by(kinds, form):
    """The positions pandas' _select_data keeps (the test's own reading of its rules)."""
    every = list(range(len(kinds)))
    if form == "default":
        keep = [j for j in every if kinds[j] in NUMERIC or kinds[j] in ("t", "I", "F")]
        return keep or every
    if form == "all":
        return every
    if form == "number":
        return [j for j in every if kinds[j] in NUMERIC or kinds[j] in ("I", "F")]
    if form == "float":
        return [j for j in every if kinds[j] in NUMERIC - {"i", "ibig", "i32", "cx"}]
    if form == "exclude_float":
        return [j for j in every if kinds[j] not in NUMERIC - {"i", "ibig", "i32", "cx"}]
    raise ValueError(form)


INCLUDES = {"all": "include='all'", "number": "include=[np.number]", "float": "include=['float']",
            "exclude_float": "exclude=['float']"}


def random_case(n, big=False):
    k = pyrng.randint(1, 6)
    kinds = [pyrng.choice(KERNEL) for _ in range(k)]
    r = pyrng.random()
    if not big and r < 0.12:
        kinds[pyrng.randrange(k)] = pyrng.choice(DECLINED)
    elif not big and r < 0.18:
        kinds[pyrng.randrange(k)] = pyrng.choice(MAYBE)
    if not big and pyrng.random() < 0.4:
        kinds.insert(pyrng.randrange(k + 1), pyrng.choice(PANDAS))
    if not big and pyrng.random() < 0.08:
        kinds.insert(pyrng.randrange(len(kinds) + 1), pyrng.choice(WHOLE))
    df = frame(n, kinds)
    pct, valid = percentiles_arg()
    pct_arg = "" if pct is None else f"percentiles={pct}"
    form = pyrng.choice(["default", "default", "default", "series", "all", "number", "float", "exclude_float"])
    if form == "series":
        j = pyrng.randrange(len(kinds))
        expr = f"df.iloc[:, {j}].describe({pct_arg})"
        # pandas describes a Series by its own kind (object and complex alone: pandas' own)
        expect = expectation(kinds, [j], valid, n)
        check(expr, df, expect)
        return
    args = ", ".join(a for a in (INCLUDES.get(form, ""), pct_arg) if a)
    expr = f"df.describe({args})"
    selected = selected_by(kinds, form)
    if not selected:
        expect = False  # pandas raises: no columns match
    else:
        expect = expectation(kinds, selected, valid, n)
    check(expr, df, expect)


for size in [0, 1, 2, 3, 5, 8, 9, 10, 40, 129, 200, 1000, 4000]:
    for _ in range(40 if size <= 1000 else 15):
        random_case(size)
for _ in range(8):
    random_case(70000, big=True)

# fixed corners
check("df.describe()", pd.DataFrame({"a": [-0.0, -0.0], "b": [0.0, np.nan]}), True)
check("df.describe()", pd.DataFrame({"a": [1.0, np.inf, 2.0, 3.0]}), "declined")
check("df.describe()", pd.DataFrame({"a": [1e308, 1e308, -1e308]}), "declined")
check("df.describe()", pd.DataFrame({"a": [-1e308, 1e308]}), "declined")
check("df.describe()", pd.DataFrame({"a": [0.0, -0.0, 1.0]}), "declined")  # the min is a zero of either sign
check("df.describe()", pd.DataFrame({"a": [5e-324, -5e-324, 1e-310]}), True)
check("df.describe()", pd.DataFrame({"a": [INT64_MAX, INT64_MIN, 5]}), True)  # NumPy's int64 b - a wraps
check("df.describe()", pd.DataFrame({"a": [INT64_MAX, INT64_MAX - 1, INT64_MAX]}), True)
check("df.describe()", pd.DataFrame({"a": [2**53 + 1, 2**53 + 3, -(2**53) - 1]}), True)
check("df.describe()", pd.DataFrame({"a": pd.Series([], dtype=np.float64), "b": pd.Series([], dtype=np.int64)}), True)
check("df.describe()", pd.DataFrame({"a": [np.nan, np.nan], "b": [1, 2]}), True)
check("df.describe()", pd.DataFrame({"a": [3.5]}), True)
check("df.describe(percentiles=[0, 1])", pd.DataFrame({"a": [3, 1, 2]}), True)
check("df.describe(percentiles=np.array([0.2, 0.1]))", pd.DataFrame({"a": [3.0, 1.0, 2.0, 7.0]}), True)
check("df['a'].describe()", pd.DataFrame({"a": rng.standard_normal(50)}), True)
check("df.describe()", pd.DataFrame({"a": ["x", "y"], "b": [True, False]}), False)  # nothing numeric
check("df.describe()", pd.DataFrame({"a": [1.0, 2.0], "z": [1 + 1j, 2j]}), False)  # complex: pandas' own
check("df.describe(include='all')", pd.DataFrame({"a": [1.0, 2.0], "o": [[1], [2]]}), False)  # unhashable
check("df.describe()", pd.DataFrame(index=[1, 2]), False)  # no columns: pandas raises
check("df.describe(include=[object])", pd.DataFrame({"a": [1.0, 2.0]}), False)  # pandas raises
check("df.describe(include='all', exclude=['float'])", pd.DataFrame({"a": [1.0, 2.0]}), False)
check("df.describe(percentiles=[0.5, 0.5])", pd.DataFrame({"a": [1.0, 2.0]}), False)
wide = pd.DataFrame({f"w{j}": column(pyrng.choice(KERNEL), 3000) for j in range(60)})
check("df.describe()", wide, True)
check("df.describe(percentiles=[0.05, 0.95])", wide, True)
# label corners: NaN, None and equal-looking labels, a named MultiIndex of columns
odd = pd.DataFrame({np.nan: [1.0, 2.0], None: [3, 4], 1: [5.0, 6.0], "1": [7, 8]})
check("df.describe()", odd, True)
multi = pd.DataFrame(rng.standard_normal((20, 3)), columns=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["x", "y"]))
check("df.describe()", multi, True)
check("df[('a', 1)].describe()", multi, True)
# NumPy's buffer size and error state are read per call
saved = np.getbufsize()
np.setbufsize(1024)
try:
    check("df.describe()", pd.DataFrame({"a": column("ibig", 70000)}), True)
finally:
    np.setbufsize(saved)
with np.errstate(under="warn"):
    check("df.describe()", pd.DataFrame({"a": [1e-310, 1e-300]}), False)
# the threshold, and the switch
describe.MIN_VALUES = 100
check("df.describe()", pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2]}), False)
check("df.describe()", pd.DataFrame({"a": np.arange(60.0), "b": np.arange(60)}), True)
describe.MIN_VALUES = 0
describe.ENABLED = False
check("df.describe()", pd.DataFrame({"a": [1.0, 2.0]}), False)
describe.ENABLED = True

assert runs == describe.stats["runs"], (runs, describe.stats)
assert declined == describe.stats["declined"], (declined, describe.stats)
print(f"describe kernel conformance: {cases} cases identical, {runs} kernel runs, {declined} declined ({maybe_runs} runs with both zeros)")
