"""Conformance of the value_counts kernel, run *under the coordinator* (tests/kernels.test.ts).

Randomised Series (0 to 4000 values, some of 20k-200k with up to all-distinct values, which the
kernel counts in partitions): int64 with extremes and int64 spread over the whole range, narrower
and unsigned integers, uint64 past int64, float64 with NaN of several bit patterns, signed zeros
(either first), infinities and tiny values, all-NaN; float32 and float16; bool; datetime64 of
several units and timedelta64 with NaT; tz-aware datetimes (their int64 after pandas drops NaT);
pandas `str` and `string[pyarrow]` with unicode, empty strings, NUL, missing values and two Arrow
chunks; few, many or all-distinct values. Every parameter combination of ``value_counts`` (normalize,
sort, ascending, dropna, bins), called on a Series, on a frame's column and on an Index. Through
stratum's substitution each result must equal pandas' own (``assert_series_equal`` exact, the
index's type and dtype, keys and values bit for bit: which of 0.0 and -0.0 is the key, the order
of ties), with the same warnings and exception and an unchanged input; every supported call must
have run on the kernel exactly once, and the others (object, nullable masked, categorical,
python-storage strings, other Arrow dtypes, ``bins=``, an empty array, a bad ``dropna``) stay
with pandas. Prints one summary line;
any mismatch raises.
"""

import random

import numpy as np
import pandas as pd

from pandas_compare import difference, outcome
from stratum_shim import value_counts
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
value_counts.ENABLED = True  # whatever STRATUM_VALUE_COUNTS_KERNEL says
value_counts.MIN_VALUES = 0
value_counts.MIN_SAMPLE_DISTINCT = 0  # every array, whatever its number of distinct values
value_counts.MIN_STR_VALUES = 0
value_counts.MIN_STR_SAMPLE_DISTINCT = 0

rng = np.random.default_rng(1)
pyrng = random.Random(1)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
NANS = np.array([0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0x7FF4000000000abc], dtype=np.uint64).view(np.float64)
FLOATS = np.concatenate([[0.0, -0.0, -0.0, 0.0, 1.5, -1.5, np.inf, -np.inf, 1e308, -1e-308, 5e-324, 0.1 + 0.2, 0.3], NANS])

# kinds whose counting reaches htable.value_count without a mask, and the ones that do not
SUPPORTED = ("i", "i_wide", "i32", "i8", "u8", "u64", "f", "f32", "f16", "b", "t", "ts", "td", "tz", "s", "S")
UNSUPPORTED = ("o", "I", "F", "B", "c", "spy", "pa")
WORDS = ["a", "A", "b", "", " ", "é", "e\u0301", "É", "ß", "ss", "😀", "中文", "0", "nan", "None", "a\x00", "\x00",
         "exactly 16 bytes", "fifteen bytes..", "a string longer than sixteen bytes", "a string longer than sixteen bytez"]


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
    if kind == "i_wide":  # values over the whole int64 range: hashed, not counted in an array
        vals = rng.integers(INT64_MIN, INT64_MAX, max(n, 1), dtype=np.int64, endpoint=True)
        return vals[:n] if many else pick(vals[:64], n, distinct)
    if kind == "i32":
        return pick(np.array([0, -1, 2**31 - 1, -(2**31), 5, 6], dtype=np.int32), n, distinct) if not many else rng.integers(-(2**31), 2**31, n, dtype=np.int32)
    if kind == "i8":
        return pick(np.array([0, -1, 127, -128, 3], dtype=np.int8), n, distinct)
    if kind == "u8":
        return pick(np.array([0, 255, 1, 128], dtype=np.uint8), n, distinct)
    if kind == "u64":  # past int64: the same bits as negative int64s
        base = np.array([0, 1, 2**63, 2**64 - 1, 2**63 - 1, 2**63 + 1], dtype=np.uint64)
        return pick(base, n, distinct) if not many else rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    if kind == "f":
        if many:
            x = rng.standard_normal(n)
            x[rng.random(n) < 0.05] = NANS[rng.integers(0, len(NANS))]
            x[rng.random(n) < 0.01] = -0.0
            x[rng.random(n) < 0.01] = 0.0
            return x
        vals = np.concatenate([FLOATS, np.round(rng.standard_normal(64), 3)])
        return pick(vals[rng.permutation(len(vals))], n, distinct)
    if kind in ("f32", "f16"):
        t = np.float32 if kind == "f32" else np.float16
        with np.errstate(over="ignore", invalid="ignore"):  # 1e308 becomes inf, NaN payloads NaN
            small = FLOATS.astype(t)
        return pick(small[rng.permutation(len(small))], n, distinct) if not many else rng.standard_normal(n).astype(t)
    if kind == "b":
        return pick([True, False], n, distinct)
    if kind in ("t", "ts"):
        if kind == "ts":
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
        idx = pd.DatetimeIndex(pick(np.arange(0, 40) * 3_600_000_000_000, n, distinct)).tz_localize("UTC").tz_convert("Europe/Paris")
        return idx.where(rng.random(n) >= 0.1)
    if kind == "c":
        return pd.Categorical(pick(["lo", "mid", "hi", None], n, distinct), categories=["lo", "mid", "hi", "unused"])
    if kind in ("s", "S", "spy"):
        if many:
            values = np.array([f"w{i}é" if i % 3 else f"a longer word number {i}" for i in rng.integers(0, max(n, 1), n)], dtype=object)
            values[rng.random(n) < 0.05] = None
        else:
            values = pick(np.array(WORDS + [None, np.nan], dtype=object)[rng.permutation(len(WORDS) + 2)], n, distinct)
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
    assert kind == "pa"
    return pd.array(pick(np.arange(5), n, distinct), dtype="int64[pyarrow]")


cases = runs = 0


def check(expr, names, expect):
    """expect: True (the call runs on the kernel exactly once), False (it must not)."""
    global cases, runs
    code = compile(expr, "<case>", "eval")
    mine = {k: v.copy(deep=True) for k, v in names.items()}
    theirs = {k: v.copy(deep=True) for k, v in names.items()}
    before = dict(value_counts.stats)
    got = outcome(code, mine, True)
    ran = value_counts.stats["runs"] - before["runs"]
    declined = value_counts.stats["declined"] - before["declined"]
    ref = outcome(code, theirs, False)
    obj = next(iter(names.values()))
    where = f"{expr} on {len(obj)} values {obj.dtypes.astype(str).to_dict() if isinstance(obj, pd.DataFrame) else obj.dtype}"
    with np.errstate(invalid="ignore"):  # comparing float16 keys' bits casts their NaNs
        why = difference(got[0], ref[0])
    if why:
        raise AssertionError(f"{where}: {why}")
    if isinstance(ref[0], pd.Series) and not got[0].index.equals(ref[0].index):
        raise AssertionError(f"{where}: keys in another order")
    if got[1] != ref[1]:
        raise AssertionError(f"{where}: warnings {got[1]} instead of {ref[1]}")
    for k in names:
        if difference(mine[k], names[k]):
            raise AssertionError(f"{where}: the input {k} changed")
    if ran != (1 if expect else 0) or declined:
        raise AssertionError(f"{where}: {ran} kernel runs, {declined} declined, expected {1 if expect else 0} runs")
    cases += 1
    runs += ran


def values_counted(s, dropna):
    """How many values reach pandas' hash table: tz-aware arrays drop NaT before counting."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) and dropna:
        return int(s.notna().sum())
    return len(s)


FORMS = ["", "dropna=False", "normalize=True", "sort=False", "ascending=True", "sort=False, dropna=False",
         "normalize=True, dropna=False, ascending=True", "True, False, True, None, False", "normalize=True, sort=False",
         "dropna=np.False_", "dropna=None", "bins=3", "bins=[-1, 0, 1]"]


def series_case(n):
    kind = pyrng.choice(SUPPORTED + SUPPORTED + UNSUPPORTED)
    s = pd.Series(column(kind, n, pyrng.choice([1, 2, 3, 6, 20, 1000, None])), name=pyrng.choice([None, "v"]))
    if pyrng.random() < 0.2:
        s.index = pd.Index([f"r{i}" for i in range(len(s))])
    form = pyrng.choice(FORMS)
    dropna = not ("dropna=False" in form or "dropna=np.False_" in form or form.startswith("True, False, True, None, False"))
    ok_args = "bins" not in form and form != "dropna=None"
    expect = ok_args and kind in SUPPORTED and values_counted(s, dropna) > 0
    where = pyrng.choice(["s", "s", "df", "index"])
    if where == "df":
        df = pd.DataFrame({"x": s, "y": np.arange(n)})
        check(f"df['x'].value_counts({form})", {"df": df}, expect)
    elif where == "index" and kind != "b":
        check(f"pd.Index(s).value_counts({form})", {"s": s}, expect and kind != "f16")  # no float16 Index: raises
    else:
        check(f"s.value_counts({form})", {"s": s}, expect)


for size in [0, 1, 2, 3, 5, 10, 40, 200, 1000, 4000]:
    for _ in range(40 if size <= 1000 else 15):
        series_case(size)
for size in [20000, 70000, 200000]:
    for _ in range(8):
        series_case(size)

# fixed corners
zeros = pd.Series([-0.0, 0.0, np.nan, -np.nan, 0.0, 1.0])
for form in ("", "dropna=False", "sort=False, dropna=False"):
    check(f"s.value_counts({form})", {"s": zeros}, True)
    check(f"s.value_counts({form})", {"s": -zeros}, True)
allnan = pd.Series([np.nan, -np.nan, np.nan])
check("s.value_counts()", {"s": allnan}, True)
check("s.value_counts(dropna=False)", {"s": allnan}, True)
check("s.value_counts(dropna=False, normalize=True)", {"s": allnan}, True)
nat = pd.Series(np.array(["NaT", "NaT"], dtype="datetime64[ns]"))
check("s.value_counts()", {"s": nat}, True)
check("s.value_counts(dropna=False)", {"s": nat}, True)
check("s.value_counts()", {"s": pd.Series([7])}, True)
check("s.value_counts(dropna=False)", {"s": pd.Series([np.inf])}, True)
check("s.value_counts()", {"s": pd.Series([], dtype=np.float64)}, False)
check("s.value_counts()", {"s": pd.Series([], dtype=np.int64)}, False)
extremes = pd.Series(np.array([INT64_MIN, INT64_MAX, INT64_MIN, 0, -1, INT64_MAX], dtype=np.int64))
check("s.value_counts()", {"s": extremes}, True)
check("s.value_counts(sort=False)", {"s": pd.Series(extremes.to_numpy().view("datetime64[ns]"))}, True)
ties = pd.Series(rng.permutation(np.repeat(np.arange(5000), 3)))
check("s.value_counts()", {"s": ties}, True)
check("s.value_counts(ascending=True)", {"s": ties}, True)
big = pd.DataFrame({"x": rng.standard_normal(300_000), "k": rng.integers(0, 150_000, 300_000),
                    "t": pd.Series(pd.to_datetime(rng.integers(0, 200_000, 300_000), unit="s"))})
for col in big:
    check(f"df[{col!r}].value_counts()", {"df": big}, True)
    check(f"df[{col!r}].value_counts(sort=False, dropna=False)", {"df": big}, True)
sorted_ids = pd.Series(np.arange(300_000, dtype=np.int64))
check("s.value_counts()", {"s": sorted_ids}, True)
unicode = pd.Series(pd.array(["é", "e\u0301", "É", "é", "😀", "😀", "", "", "a\x00", "a", None, "a"], dtype="str"))
for form in ("", "dropna=False", "sort=False, dropna=False", "normalize=True"):
    check(f"s.value_counts({form})", {"s": unicode}, True)
    check(f"s.value_counts({form})", {"s": unicode.astype("string[pyarrow]")}, True)
chunked = pd.Series(pd.concat([unicode, unicode[::-1]], ignore_index=True))  # two Arrow chunks
check("s.value_counts(dropna=False)", {"s": chunked}, True)
check("s.value_counts()", {"s": pd.Series(pd.array([None, None], dtype="str"))}, True)
check("s.value_counts(dropna=False)", {"s": pd.Series(pd.array([None, None], dtype="str"))}, True)
check("s.value_counts()", {"s": pd.Series([], dtype="str")}, False)
check("s.value_counts()", {"s": pd.Series([[1], [2]])}, False)  # pandas raises on the unhashable lists
check("s.value_counts()", {"s": pd.Series([1, 2, 2]).astype(pd.SparseDtype("int64", 0))}, True)  # its sp_values

# the threshold: below MIN_VALUES pandas counts
value_counts.MIN_VALUES = 100
check("s.value_counts()", {"s": pd.Series([1.5, 1.5])}, False)
value_counts.MIN_VALUES = 0
# an array with few distinct values in its sample stays with pandas (as fast) unless it holds
# integers over a small range; one with many goes
value_counts.MIN_SAMPLE_DISTINCT = 2000
check("s.value_counts()", {"s": pd.Series(rng.integers(0, 50, 100_000) / 7)}, False)
check("s.value_counts()", {"s": pd.Series(rng.choice(np.array([-(2**62), 0, 2**62, 5, 2**40]), 100_000))}, False)
check("s.value_counts()", {"s": pd.Series(rng.choice(np.array([0, 2**63, 2**64 - 1], dtype=np.uint64), 100_000))}, False)
check("s.value_counts()", {"s": pd.Series(rng.integers(0, 50, 100_000))}, True)  # a small range: counted in an array
check("s.value_counts()", {"s": pd.Series(rng.integers(0, 90_000, 100_000))}, True)
check("s.value_counts()", {"s": pd.Series(rng.standard_normal(100_000))}, True)
check("s.value_counts(dropna=False)", {"s": pd.Series(rng.permutation(1_000_000))}, True)
value_counts.MIN_STR_SAMPLE_DISTINCT = 4000
check("s.value_counts()", {"s": pd.Series(pd.array([f"v{i}" for i in range(3000)] * 30, dtype="str"))}, False)
check("s.value_counts(dropna=False)", {"s": pd.Series(pd.array([f"v{i}" if i % 1000 else None for i in range(100_000)], dtype="str"))}, True)
value_counts.MIN_STR_SAMPLE_DISTINCT = 0
value_counts.MIN_SAMPLE_DISTINCT = 0

assert runs == value_counts.stats["runs"], (runs, value_counts.stats)
print(f"value_counts kernel conformance: {cases} cases identical, {runs} kernel runs")
