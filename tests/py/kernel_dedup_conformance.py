"""Conformance of the duplicated-rows kernel, run *under the coordinator* (tests/kernels.test.ts).

Randomised frames (0 to 4000 rows, a few of 60k; int64 columns with few, many or unique values
and extreme ones; float64 with NaN, signed zeros, infinities, huge and tiny values; bool;
datetime64 of several units and timedelta64 with NaT; tz-aware datetimes; categoricals with
missing values and unused categories; pandas `str` with unicode, empty strings, case variants and
missing values; layouts that make duplicates common or rare) and every call form
(`duplicated` / `drop_duplicates` with `subset` None, a label, a list or a tuple label, `keep`
"first" / "last" / False, `ignore_index`, `inplace`). Through stratum's substitution each result
must equal pandas' own: the same type, values, index and dtypes, the same exception, an unchanged
input frame (except with inplace=True, where the frame itself must equal pandas' frame); every
supported call must have run on the kernel, once. Unsupported calls (one column, object or
nullable columns, duplicate column labels, bad arguments) stay with pandas and are still
identical. Prints one summary line; any mismatch raises.
"""

import random

import numpy as np
import pandas as pd

from pandas_compare import difference, outcome
from stratum_shim import dedup
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
dedup.ENABLED = True  # whatever STRATUM_DEDUP_KERNEL says
dedup.MIN_ROWS = 0

rng = np.random.default_rng(0)
pyrng = random.Random(0)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
WORDS = ["a", "A", "b", "", " ", "é", "e\u0301", "É", "ß", "ss", "😀", "👍🏽", "中文", "0", "nan", "None", "a\x00",
         "a string longer than fifteen bytes", "a string longer than fifteen bytez"]
FLOATS = np.array([0.0, -0.0, np.nan, 1.5, -1.5, np.inf, -np.inf, 1e308, -1e-308, 5e-324, 0.1 + 0.2, 0.3])

# kinds the kernel takes, and the ones that stay with pandas
SUPPORTED = ("i", "f", "b", "t", "ts", "td", "tz", "c", "s")
UNSUPPORTED = ("o", "I", "F", "B", "i32")


def pick(values, n, distinct):
    """n draws from the first `distinct` of values."""
    return np.asarray(values)[rng.integers(0, max(1, min(distinct, len(values))), n)]


def column(kind, n, distinct):
    if kind == "i":
        base = np.array([0, -1, 1, 7, INT64_MIN, INT64_MAX, 2**53 + 1, 2**53, -(2**62)])
        return pick(np.concatenate([base, rng.integers(-10**6, 10**6, 64)]), n, distinct)
    if kind == "f":
        return pick(np.concatenate([FLOATS, np.round(rng.standard_normal(64), 3)]), n, distinct)
    if kind == "b":
        return pick([True, False], n, distinct)
    if kind in ("t", "ts"):
        unit = "ns" if kind == "t" else "s"
        days = pick(np.arange(-3, 400), n, distinct).astype(f"datetime64[{unit}]") if unit == "s" else None
        if days is None:
            days = (np.datetime64("2020-01-01", "ns") + pick(np.arange(0, 10**6, 997), n, distinct).astype("timedelta64[ns]"))
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
        values = pick(cats[:4] + [None], n, distinct)
        return pd.Categorical(values, categories=cats, ordered=pyrng.random() < 0.5)
    if kind == "s":
        values = pick(WORDS + [None, np.nan], n, distinct)
        return pd.array(values, dtype="str")
    if kind == "o":
        return pick(np.array([1, 1.0, True, "1", None, (1,), "a"], dtype=object), n, distinct)
    if kind == "I":
        return pd.array(pick([1, 2, None], n, distinct), dtype="Int64")
    if kind == "F":
        return pd.array(pick([1.5, 0.0, None], n, distinct), dtype="Float64")
    if kind == "B":
        return pd.array(pick([True, False, None], n, distinct), dtype="boolean")
    return pick(np.arange(5, dtype=np.int32), n, distinct)


def frame(n, kinds):
    distinct = pyrng.choice([1, 2, 3, 6, 20, 1000])
    data = {f"c{j}_{k}": column(k, n, distinct if pyrng.random() < 0.8 else pyrng.choice([1, 3, 1000])) for j, k in enumerate(kinds)}
    df = pd.DataFrame(data)
    if pyrng.random() < 0.3 and n:
        # exact copies of earlier rows, so that keep matters for whole-row duplicates
        rows = rng.integers(0, n, max(1, n // 5))
        df = pd.concat([df, df.iloc[rows]])
    layout = pyrng.choice(["range", "range", "shuffled", "strings", "repeated"])
    if layout == "shuffled":
        df = df.sample(frac=1, random_state=int(rng.integers(1 << 31)))
    elif layout == "strings":
        df.index = pd.Index([f"r{i}" for i in range(len(df))], name="rid")
    elif layout == "repeated":
        df.index = pd.Index(np.arange(len(df)) // 3)
    else:
        df = df.reset_index(drop=True)
    return df


cases = runs = 0


def check(expr, df, expect):
    """expect: True (the call runs on the kernel exactly once), False (it must not)."""
    global cases, runs
    code = compile(expr, "<case>", "eval")
    mine, theirs = df.copy(deep=True), df.copy(deep=True)
    before = dedup.stats["runs"]
    got = outcome(code, {"df": mine}, True)
    ran = dedup.stats["runs"] - before
    ref = outcome(code, {"df": theirs}, False)
    where = f"{expr} on {len(df)} rows {df.dtypes.astype(str).to_dict()}"
    why = difference(got[0], ref[0]) or difference(mine, theirs)
    if why:
        raise AssertionError(f"{where}: {why}")
    if got[1] != ref[1]:
        raise AssertionError(f"{where}: warnings {got[1]} instead of {ref[1]}")
    if "inplace" not in expr and difference(mine, df):
        raise AssertionError(f"{where}: the input frame changed")
    if ran != (1 if expect else 0):
        raise AssertionError(f"{where}: {ran} kernel runs, expected {1 if expect else 0}")
    cases += 1
    runs += ran


def keep_arg():
    return pyrng.choice(["", ", keep='first'", ", keep='last'", ", keep=False"])


def random_case(n, big=False):
    kinds = [pyrng.choice(SUPPORTED) for _ in range(pyrng.randint(2, 4))]
    odd = not big and pyrng.random() < 0.15
    if odd:
        kinds[pyrng.randrange(len(kinds))] = pyrng.choice(UNSUPPORTED)
    df = frame(n, kinds)
    cols = list(df.columns)
    form = pyrng.choice(["all", "all", "list", "list", "one", "one_list", "tuple_list"])
    if form == "all":
        subset, width = "", len(cols)
    elif form == "list":
        chosen = pyrng.sample(cols, pyrng.randint(2, len(cols)))
        subset, width = f"subset={chosen!r}", len(chosen)
    elif form == "tuple_list":
        chosen = tuple(pyrng.sample(cols, 2))
        subset, width = f"subset={chosen!r}", 2
    elif form == "one":
        subset, width = repr(pyrng.choice(cols)), 1
    else:
        subset, width = f"[{pyrng.choice(cols)!r}]", 1
    used = cols if form == "all" else [c for c in cols if c in subset]
    expect = len(df) > 0 and width >= 2 and not any(c.split("_", 1)[1] in UNSUPPORTED for c in used)
    sep = ", " if subset else ""
    keep = keep_arg()
    call = pyrng.choice(["duplicated", "drop_duplicates", "drop_duplicates_ignore", "drop_duplicates_inplace"])
    if call == "duplicated":
        expr = f"df.duplicated({subset}{keep})"
    elif call == "drop_duplicates":
        expr = f"df.drop_duplicates({subset}{keep})"
    elif call == "drop_duplicates_ignore":
        expr = f"df.drop_duplicates({subset}{sep if keep or subset else ''}ignore_index=True{keep})"
    else:
        expr = f"df.drop_duplicates({subset}{sep if subset else ''}inplace=True{keep})"
    expr = expr.replace("(, ", "(")
    check(expr, df, expect)


for size in [0, 1, 2, 3, 5, 10, 40, 200, 1000, 4000]:
    for _ in range(40 if size <= 1000 else 15):
        random_case(size)
for _ in range(6):
    random_case(60000, big=True)

# fixed corners
zeros = pd.DataFrame({"f": [0.0, -0.0, np.nan, -np.nan, 0.0], "i": [1, 1, 1, 1, 2]})
check("df.duplicated()", zeros, True)
check("df.duplicated(keep=False)", zeros, True)
allnull = pd.DataFrame({"s": pd.array([None, np.nan, None], dtype="str"), "f": [np.nan, np.nan, np.nan]})
check("df.drop_duplicates()", allnull, True)
check("df.drop_duplicates(keep=False)", allnull, True)
one = pd.DataFrame({"a": [1], "b": ["x"]}).astype({"b": "str"})
check("df.duplicated()", one, True)
empty = pd.DataFrame({"a": pd.Series([], dtype=np.int64), "b": pd.Series([], dtype=np.float64)})
check("df.drop_duplicates()", empty, False)
unicode = pd.DataFrame({"s": pd.array(["é", "e\u0301", "É", "é", "😀", "😀"], dtype="str"), "k": [1, 1, 1, 1, 2, 2]})
check("df.duplicated(keep='last')", unicode, True)
dup_labels = pd.DataFrame([[1, 2, 1], [1, 2, 1]], columns=["a", "a", "b"])
check("df.duplicated()", dup_labels, False)
check("df.duplicated(subset=['a', 'nope'])", pd.DataFrame({"a": [1, 1], "b": [2, 2]}), False)
check("df.duplicated(keep='middle')", pd.DataFrame({"a": [1, 1], "b": [2, 2]}), False)
check("df.duplicated(subset=[['a']])", pd.DataFrame({"a": [1, 1], "b": [2, 2]}), False)
tuple_label = pd.DataFrame({("x", 1): [1, 1, 2], ("y", 2): [3, 3, 3]})
check("df.duplicated(('x', 1))", tuple_label, False)
check("df.duplicated([('x', 1), ('y', 2)])", tuple_label, True)
wide = pd.DataFrame({f"u{j}": rng.permutation(5000) for j in range(6)})
wide.iloc[4000:] = wide.iloc[:1000].to_numpy()
check("df.duplicated()", wide, True)  # six columns of 5000 distinct values: numbered in steps
check("df.drop_duplicates(keep=False)", wide, True)

# the threshold: below MIN_ROWS pandas does the work
dedup.MIN_ROWS = 100
check("df.duplicated()", pd.DataFrame({"a": [1, 1], "b": [2, 2]}), False)
dedup.MIN_ROWS = 0

assert runs == dedup.stats["runs"], (runs, dedup.stats)
print(f"dedup kernel conformance: {cases} cases identical, {runs} kernel runs")
