"""Conformance of the parallel row take (`stratum_shim.take`), run *under the coordinator*
(tests/kernels.test.ts), where a lone script is granted both cores.

Randomised frames (10 to 3000 rows, 2 to 12 columns of int64, float64 with NaN, bool, `str`
with missing values, object, datetime64 / tz-aware / timedelta with NaT, categorical, nullable
Int64 / boolean / Float64, all-missing columns; consolidated or not, range / shuffled / string /
datetime / MultiIndex indexes) go through every path that takes rows through
`BlockManager.reindex_indexer(axis=1)`: sort_values, drop_duplicates, boolean masks, iloc / take
with repeated and negative positions, reindex with new labels (filled rows), merge of every
kind (with rows missing on one side: -1 positions and NA proxies), sample, train_test_split.
Each call runs twice: with the parallel take out of reach (`MIN_ROWS` above the size: pandas'
own loop) and with `MIN_ROWS = 1`. Results must be identical (values bit for bit, dtypes,
index, column order, the blocks' dtypes and placement), or the same exception (type and message);
no shim error. Prints one summary line; any mismatch raises.
"""

import random
import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from stratum_shim import cores, take
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
cores.refresh()
assert cores.granted() >= 2, f"a lone script should be granted both cores, got {cores.granted()}"

rng = np.random.default_rng(0)
pyrng = random.Random(0)
WORDS = ["a", "bb", "", "é", "日本", "😀", "x" * 30, None]


def column(kind, n):
    if kind == "int":
        return rng.integers(-5, 5, n)
    if kind == "float":
        v = rng.normal(size=n)
        v[rng.random(n) < 0.2] = np.nan
        v[rng.random(n) < 0.05] = -0.0
        return v
    if kind == "bool":
        return rng.random(n) < 0.5
    if kind == "str":
        return pd.array([WORDS[i] for i in rng.integers(0, len(WORDS), n)], dtype="str")
    if kind == "object":
        pool = [1, "a", None, 2.5, (1, 2)]
        return np.array([pool[i] for i in rng.integers(0, len(pool), n)], dtype=object)
    if kind == "datetime":
        v = pd.to_datetime(rng.integers(0, 10**9, n), unit="s")
        return v.where(rng.random(n) > 0.1)
    if kind == "tz":
        return pd.to_datetime(rng.integers(0, 10**9, n), unit="s", utc=True).tz_convert("Europe/Paris")
    if kind == "timedelta":
        return pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")
    if kind == "category":
        return pd.Categorical(rng.choice(["x", "y", "z"], n))
    if kind == "Int64":
        return pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 9, n)).tolist(), dtype="Int64")
    if kind == "boolean":
        return pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.5).tolist(), dtype="boolean")
    if kind == "Float64":
        return pd.array(np.where(rng.random(n) < 0.2, None, rng.normal(size=n)).tolist(), dtype="Float64")
    return np.full(n, np.nan)  # all missing


KINDS = ["int", "float", "bool", "str", "object", "datetime", "tz", "timedelta", "category", "Int64", "boolean", "Float64", "nan"]


def frame():
    n = pyrng.choice([10, 100, 1000, 3000])
    k = pyrng.randint(2, 12)
    df = pd.DataFrame({f"c{j}": column(pyrng.choice(KINDS), n) for j in range(k)})
    df["key"] = rng.integers(0, max(2, n // 3), n)
    if pyrng.random() < 0.5:
        df["extra"] = rng.normal(size=n)  # a block of its own until consolidated
    if pyrng.random() < 0.3:
        df = df.copy()  # consolidated
    choice = pyrng.choice(["range", "shuffled", "str", "datetime", "multi"])
    if choice == "shuffled":
        df.index = rng.permutation(n)
    elif choice == "str":
        df.index = [f"r{i}" for i in range(n)]
    elif choice == "datetime":
        df.index = pd.date_range("2020-01-01", periods=n, freq="h")
    elif choice == "multi":
        df.index = pd.MultiIndex.from_arrays([np.arange(n) % 7, np.arange(n)])
    return df


def calls(df):
    n = len(df)
    other = pd.DataFrame({"key": rng.integers(0, max(2, n // 2), max(1, n // 2)), "o1": rng.normal(size=max(1, n // 2)),
                          "o2": pd.array([WORDS[i] for i in rng.integers(0, 7, max(1, n // 2))], dtype="str")})
    positions = rng.integers(-n, n, n)
    mask = rng.random(n) < 0.6
    labels = list(df.index[rng.integers(0, n, n // 2)]) if not isinstance(df.index, pd.MultiIndex) else None
    seed = pyrng.randint(0, 99)
    yield "sort_values", lambda d: d.sort_values("key", kind="stable")
    yield "sort_values desc", lambda d: d.sort_values(["key", d.columns[0]], ascending=[False, True], na_position="first")
    yield "drop_duplicates", lambda d: d.drop_duplicates("key")
    yield "mask", lambda d: d[mask]
    yield "iloc", lambda d: d.iloc[positions]
    yield "take", lambda d: d.take(positions)
    yield "take out of bounds", lambda d: d.take(np.array([0, n + 5]))
    if labels is not None and d_unique(df):
        yield "reindex", lambda d: d.reindex(labels + ["missing label"])
    for how in ("inner", "left", "right", "outer"):
        yield f"merge {how}", lambda d, how=how: d.merge(other, on="key", how=how)
    yield "sample", lambda d: d.sample(frac=0.7, random_state=seed)
    yield "train_test_split", lambda d: train_test_split(d, test_size=0.3, random_state=seed)


def d_unique(df):
    return df.index.is_unique


def run(call, df):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            out = call(df)
        except Exception as e:  # noqa: BLE001 - compared with pandas' own
            out = ("raised", type(e), str(e))
    return out, [(x.category, str(x.message)) for x in w]


def blocks(d):
    return [(str(b.dtype), list(b.mgr_locs.as_array), type(b).__name__) for b in d._mgr.blocks]


def same(a, b, where):
    if isinstance(a, tuple) and len(a) == 3 and isinstance(a[0], str) and a[0] == "raised":
        assert a == b, f"{where}: {a} vs {b}"
        return
    if isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for x, y in zip(a, b):
            same(x, y, where)
        return
    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame), where
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_freq=True)
        assert list(a.dtypes) == list(b.dtypes) and blocks(a) == blocks(b), f"{where}: blocks {blocks(a)} vs {blocks(b)}"
        for c in range(a.shape[1]):
            x, y = a.iloc[:, c], b.iloc[:, c]
            if x.dtype.kind == "f":
                assert np.array_equal(x.to_numpy().view(np.int64), y.to_numpy().view(np.int64)), f"{where}: float bits of column {c}"
        return
    assert a == b, f"{where}: {a} vs {b}"


cases = 0
for f in range(80):
    df = frame()
    for name, call in calls(df):
        take.MIN_ROWS = 10**12
        ref = run(call, df)
        take.MIN_ROWS = 1
        got = run(call, df)
        where = f"frame {f} ({df.shape}, {df._mgr.nblocks} blocks) {name}"
        assert ref[1] == got[1], f"{where}: warnings {ref[1]} vs {got[1]}"
        same(ref[0], got[0], where)
        cases += 1
assert take.stats["parallel"] > 500, take.stats
print(f"take conformance: {cases} cases identical, {take.stats['parallel']} parallel takes")
