"""Conformance of the nunique kernel, run *under the coordinator* (tests/kernels.test.ts).

Randomised frames and Series (0 to 4000 rows, a few of 60k with up to all-distinct values; int64
with extremes and int64 columns whose values are spread over the whole range; narrower and
unsigned numpy integers, uint64 past int64; float64 with NaN, signed zeros, infinities, huge and
tiny values, all-NaN columns; float32; bool; datetime64 of several units and timedelta64 with NaT;
tz-aware datetimes; categoricals with missing values, unused categories and many categories;
pandas `str` and `string[pyarrow]` with unicode, empty strings, case variants, NUL and missing
values; few, many or all-distinct values) and every call form (`DataFrame.nunique` with axis 0 /
"index" / 1 / "columns", dropna True / False / not a bool, positional arguments; `Series.nunique`
with dropna True / False). Frame layouts vary: labels of several types, a named columns index,
MultiIndex and duplicate labels, attrs and flags. Through stratum's substitution each result
must equal pandas' own: the same type (a Python int for a Series, an int64 Series indexed by the
columns for a frame), values, index, attrs and flags, the same exception, an unchanged input; every
supported call must have run on the kernel once, and unsupported ones (axis=1, frames with no
supported column, object / nullable / float16 / python-storage str / Arrow columns as Series,
bad arguments, empty inputs) stay with pandas. In frames that mix supported and unsupported
columns, the kernel counts the supported ones and pandas the others. Prints one summary line;
any mismatch raises.
"""

import random

import numpy as np
import pandas as pd

from pandas_compare import difference, outcome
from stratum_shim import nunique
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
nunique.ENABLED = True  # whatever STRATUM_NUNIQUE_KERNEL says
nunique.MIN_ROWS = 0
nunique.MIN_SAMPLE_DISTINCT = 0  # every Series, whatever its number of distinct values

rng = np.random.default_rng(0)
pyrng = random.Random(0)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
WORDS = ["a", "A", "b", "", " ", "é", "e\u0301", "É", "ß", "ss", "😀", "👍🏽", "中文", "0", "nan", "None", "a\x00", "\x00",
         "exactly 16 bytes", "fifteen bytes..", "a string longer than sixteen bytes", "a string longer than sixteen bytez"]
FLOATS = np.array([0.0, -0.0, np.nan, -np.nan, 1.5, -1.5, np.inf, -np.inf, 1e308, -1e-308, 5e-324, 0.1 + 0.2, 0.3])

# kinds the kernel takes, and the ones that stay with pandas
SUPPORTED = ("i", "i_wide", "i32", "i8", "u8", "u64", "f", "f32", "b", "t", "ts", "td", "tz", "c", "c_many", "s", "S")
UNSUPPORTED = ("o", "I", "F", "B", "f16", "spy", "pa")


def pick(values, n, distinct):
    """n draws from the first `distinct` of values (all of them for None)."""
    values = np.asarray(values)
    k = len(values) if distinct is None else max(1, min(distinct, len(values)))
    return values[rng.integers(0, k, n)]


def column(kind, n, distinct):
    many = distinct is None or distinct > 1000  # values (nearly) all distinct
    if kind == "i":
        base = np.array([0, -1, 1, 7, INT64_MIN, INT64_MAX, 2**53 + 1, 2**53, -(2**62)])
        if many:
            return np.concatenate([base, rng.permutation(n)])[rng.permutation(n + len(base))[:n]]
        return pick(np.concatenate([base, rng.integers(-10**6, 10**6, 64)]), n, distinct)
    if kind == "i_wide":  # values over the whole int64 range: hashed, not a bitmap
        vals = rng.integers(INT64_MIN, INT64_MAX, max(n, 1), dtype=np.int64, endpoint=True)
        return vals[:n] if many else pick(vals[:64], n, distinct)
    if kind == "i32":
        return pick(np.array([0, -1, 2**31 - 1, -(2**31), 5, 6], dtype=np.int32), n, distinct) if not many else rng.integers(-(2**31), 2**31, n, dtype=np.int32)
    if kind == "i8":
        return pick(np.array([0, -1, 127, -128, 3], dtype=np.int8), n, distinct)
    if kind == "u8":
        return pick(np.array([0, 255, 1, 128], dtype=np.uint8), n, distinct)
    if kind == "u64":  # past int64: the same bits as negative int64s, distinct all the same
        base = np.array([0, 1, 2**63, 2**64 - 1, 2**63 - 1, 2**63 + 1], dtype=np.uint64)
        return pick(base, n, distinct) if not many else rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    if kind == "f":
        if many:
            x = rng.standard_normal(n)
            x[rng.random(n) < 0.05] = np.nan
            x[rng.random(n) < 0.01] = -0.0
            x[rng.random(n) < 0.01] = 0.0
            return x
        return pick(np.concatenate([FLOATS, np.round(rng.standard_normal(64), 3)]), n, distinct)
    if kind == "f32":
        with np.errstate(over="ignore"):  # 1e308 becomes inf
            small = FLOATS.astype(np.float32)
        return pick(small, n, distinct) if not many else rng.standard_normal(n).astype(np.float32)
    if kind == "b":
        return pick([True, False], n, distinct)
    if kind in ("t", "ts"):
        unit = "ns" if kind == "t" else "s"
        if unit == "s":
            days = pick(np.arange(-3, 400), n, distinct).astype("datetime64[s]")
        else:
            days = (np.datetime64("2020-01-01", "ns") + pick(np.arange(0, 10**9, 997), n, distinct).astype("timedelta64[ns]"))
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
    if kind == "c_many":  # int16 codes, many unused categories
        cats = [f"k{i}" for i in range(700)]
        values = pick(cats + [None], n, distinct)
        return pd.Categorical(values, categories=cats)
    if kind in ("s", "S", "spy"):
        if many:
            values = np.array([f"w{i}é" if i % 3 else f"a longer word number {i}" for i in rng.integers(0, max(n, 1), n)], dtype=object)
            values[rng.random(n) < 0.05] = None
        else:
            values = pick(np.array(WORDS + [None, np.nan], dtype=object), n, distinct)
        dtype = {"s": "str", "S": "string[pyarrow]", "spy": pd.StringDtype("python", na_value=np.nan)}[kind]
        return pd.array(values, dtype=dtype)
    if kind == "o":
        return pick(np.array([1, 1.0, True, "1", None, (1,), "a", np.nan], dtype=object), n, distinct)
    if kind == "I":
        return pd.array(pick(np.array([1, 2, None], dtype=object), n, distinct), dtype="Int64")
    if kind == "F":
        return pd.array(pick(np.array([1.5, 0.0, -0.0, None], dtype=object), n, distinct), dtype="Float64")
    if kind == "B":
        return pd.array(pick(np.array([True, False, None], dtype=object), n, distinct), dtype="boolean")
    if kind == "f16":
        return pick(np.array([0.0, -0.0, np.nan, 1.5], dtype=np.float16), n, distinct)
    assert kind == "pa"
    return pd.array(pick(np.arange(5), n, distinct), dtype="int64[pyarrow]")


def frame(n, kinds):
    distinct = pyrng.choice([1, 2, 3, 6, 20, 1000, None])
    labels = pyrng.choice(["str", "str", "int", "dup", "multi"])
    data = [column(k, n, distinct if pyrng.random() < 0.8 else pyrng.choice([1, 3, 1000, None])) for k in kinds]
    df = pd.DataFrame({j: d for j, d in enumerate(data)})
    if labels == "str":
        df.columns = pd.Index([f"c{j}_{k}" for j, k in enumerate(kinds)], name=pyrng.choice([None, "cols"]))
    elif labels == "dup" and len(kinds) > 1:
        df.columns = ["x"] * (len(kinds) - 1) + ["y"]
    elif labels == "multi":
        df.columns = pd.MultiIndex.from_tuples([(k, j) for j, k in enumerate(kinds)], names=["kind", "pos"])
    if pyrng.random() < 0.3:
        df.index = pd.Index([f"r{i}" for i in range(len(df))], name="rid")
    if pyrng.random() < 0.2:
        df.attrs["source"] = "test"
    if pyrng.random() < 0.1 and df.columns.is_unique:
        df = df.set_flags(allows_duplicate_labels=False)
    return df


cases = runs = 0


def check(expr, names, expect, what="frames"):
    """expect: True (the call runs on the kernel exactly once), False (it must not); `what`:
    the counter of nunique.stats the run is counted in ("frames" or "series")."""
    global cases, runs
    code = compile(expr, "<case>", "eval")
    mine = {k: v.copy(deep=True) for k, v in names.items()}
    theirs = {k: v.copy(deep=True) for k, v in names.items()}
    before = dict(nunique.stats)
    got = outcome(code, mine, True)
    ran = nunique.stats["runs"] - before["runs"]
    ran_what = nunique.stats[what] - before[what]
    ref = outcome(code, theirs, False)
    obj = next(iter(names.values()))
    where = f"{expr} on {len(obj)} rows {obj.dtypes.astype(str).to_dict() if isinstance(obj, pd.DataFrame) else obj.dtype}"
    why = difference(got[0], ref[0])
    if why:
        raise AssertionError(f"{where}: {why}")
    if got[1] != ref[1]:
        raise AssertionError(f"{where}: warnings {got[1]} instead of {ref[1]}")
    for k in names:
        if difference(mine[k], names[k]):
            raise AssertionError(f"{where}: the input {k} changed")
    if ran != (1 if expect else 0) or ran_what != ran:
        raise AssertionError(f"{where}: {ran} kernel runs ({ran_what} for {what}), expected {1 if expect else 0}")
    cases += 1
    runs += ran


def frame_case(n, big=False):
    kinds = [pyrng.choice(SUPPORTED) for _ in range(pyrng.randint(1, 5))]
    if not big and pyrng.random() < 0.25:
        for _ in range(pyrng.randint(1, len(kinds))):
            kinds[pyrng.randrange(len(kinds))] = pyrng.choice(UNSUPPORTED)
    df = frame(n, kinds)
    supported = any(k in SUPPORTED for k in kinds)
    form = pyrng.choice(["", "", "dropna=False", "axis=0", "axis='index', dropna=False", "0, False", "axis=1", "axis='columns', dropna=False",
                         "dropna=np.False_", "dropna=0", "axis='nope'"])
    ok_args = form in ("", "dropna=False", "axis=0", "axis='index', dropna=False", "0, False", "dropna=np.False_")
    if form.startswith("axis=1") or form.startswith("axis='columns'"):
        # the rows go to Series.nunique one by one: keep them with pandas (they are not what is tested here)
        nunique.MIN_ROWS = df.shape[1] + 1
        check(f"df.nunique({form})", {"df": df}, False)
        nunique.MIN_ROWS = 0
        return
    check(f"df.nunique({form})", {"df": df}, ok_args and n > 0 and supported)


def series_case(n):
    kind = pyrng.choice(SUPPORTED + UNSUPPORTED)
    s = pd.Series(column(kind, n, pyrng.choice([1, 2, 3, 6, 20, 1000, None])), name=pyrng.choice([None, "v"]))
    if pyrng.random() < 0.2:
        s.index = pd.Index([f"r{i}" for i in range(len(s))])
    form = pyrng.choice(["", "dropna=False", "False", "dropna=True", "dropna=None"])
    ok_args = form != "dropna=None"
    check(f"s.nunique({form})", {"s": s}, ok_args and n > 0 and kind in SUPPORTED, "series")


for size in [0, 1, 2, 3, 5, 10, 40, 200, 1000, 4000]:
    for _ in range(30 if size <= 1000 else 10):
        frame_case(size)
        series_case(size)
for size in [20000, 60000]:
    for _ in range(4):
        frame_case(size, big=True)
        series_case(size)

# fixed corners
zeros = pd.DataFrame({"f": [0.0, -0.0, np.nan, -np.nan, 0.0], "i": [1, 1, 1, 1, 2]})
check("df.nunique()", {"df": zeros}, True)
check("df.nunique(dropna=False)", {"df": zeros}, True)
allnan = pd.DataFrame({"s": pd.array([None, np.nan, None], dtype="str"), "f": [np.nan, np.nan, np.nan],
                       "t": np.array(["NaT"] * 3, dtype="datetime64[ns]"), "c": pd.Categorical([None] * 3, categories=["a"])})
check("df.nunique()", {"df": allnan}, True)
check("df.nunique(dropna=False)", {"df": allnan}, True)
one = pd.DataFrame({"a": [1], "b": ["x"]}).astype({"b": "str"})
check("df.nunique()", {"df": one}, True)
empty = pd.DataFrame({"a": pd.Series([], dtype=np.int64), "b": pd.Series([], dtype=np.float64)})
check("df.nunique()", {"df": empty}, False)
check("df.nunique()", {"df": pd.DataFrame(index=range(3))}, False)  # no columns
check("df.nunique()", {"df": pd.DataFrame()}, False)
extremes = pd.DataFrame({"i": np.array([INT64_MIN, INT64_MAX, INT64_MIN, 0], dtype=np.int64),
                         "t": np.array([INT64_MIN + 1, 0, 5, 5], dtype=np.int64).view("datetime64[ns]")})
check("df.nunique(dropna=False)", {"df": extremes}, True)
check("s.nunique()", {"s": extremes["i"]}, True, "series")
unicode = pd.Series(pd.array(["é", "e\u0301", "É", "é", "😀", "😀", "", "", "a\x00", "a"], dtype="str"))
check("s.nunique()", {"s": unicode}, True, "series")
check("s.nunique()", {"s": pd.Series([], dtype=np.float64)}, False, "series")
check("s.nunique(dropna=False)", {"s": pd.Series([np.nan])}, True, "series")
observed = pd.Series(pd.Categorical(["a", "a", None], categories=list("abcdefgh")))
check("s.nunique()", {"s": observed}, True, "series")
check("s.nunique(dropna=False)", {"s": observed}, True, "series")
objects = pd.DataFrame({"o": [[1], [2], [1]], "i": [1, 2, 3]})
check("df.nunique()", {"df": objects}, False)  # pandas raises on the unhashable lists, first
mixed = pd.DataFrame({"o": np.array([1, "1", 1.0], dtype=object), "I": pd.array([1, None, 1], dtype="Int64"), "f": [1.0, 2.0, 1.0]})
check("df.nunique()", {"df": mixed}, True)
check("df.nunique(dropna=False)", {"df": mixed}, True)
wide = pd.DataFrame({f"u{j}": rng.permutation(5000) for j in range(12)})
check("df.nunique()", {"df": wide}, True)
big = pd.DataFrame({"x": rng.standard_normal(300_000), "k": rng.integers(0, 50_000, 300_000),
                    "s": pd.array([f"id{i}" for i in rng.integers(0, 100_000, 300_000)], dtype="str")})
check("df.nunique()", {"df": big}, True)


class Sub(pd.DataFrame):
    @property
    def _constructor(self):
        return Sub


# a subclass is pandas' own; its apply then counts each column through Series.nunique
check("df.nunique()", {"df": Sub({"a": [1, 2, 2]})}, True, "series")

# the threshold: below MIN_ROWS pandas does the work, frames and Series
nunique.MIN_ROWS = 100
check("df.nunique()", {"df": pd.DataFrame({"a": [1, 1], "b": [2, 2]})}, False)
check("s.nunique()", {"s": pd.Series([1, 1])}, False, "series")
nunique.MIN_ROWS = 0
# a Series with few distinct values in its sample stays with pandas (as fast); one with many goes
nunique.MIN_SAMPLE_DISTINCT = 4000
check("s.nunique()", {"s": pd.Series(rng.integers(0, 50, 100_000))}, False, "series")
check("s.nunique()", {"s": pd.Series(pd.array([f"v{i}" for i in range(3000)] * 30, dtype="str"))}, False, "series")
check("s.nunique()", {"s": pd.Series(rng.standard_normal(100_000))}, True, "series")
check("s.nunique(dropna=False)", {"s": pd.Series(pd.array([f"v{i}" for i in range(100_000)], dtype="str"))}, True, "series")
check("df.nunique()", {"df": pd.DataFrame({"few": rng.integers(0, 3, 1000)})}, True)  # frames: no sample
nunique.MIN_SAMPLE_DISTINCT = 0

assert runs == nunique.stats["runs"], (runs, nunique.stats)
print(f"nunique kernel conformance: {cases} cases identical, {runs} kernel runs")
