"""The background writer of store.publish_later: the file it writes is the frame or Series as it
was when published, whatever the script does to it next; failures reach the callback; drain waits."""

from __future__ import annotations

import os
import threading

import numpy as np
import pandas as pd
import pytest

from stratum_shim import bridge, store


def _frame(n=200_000):
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "i": rng.integers(-10**12, 10**12, n),
        "f": rng.standard_normal(n),
        "s": pd.array(rng.choice(["a", "bb", "ccc", None], n), dtype="str"),
        "b": rng.random(n) < 0.5,
    })


class Done:
    def __init__(self):
        self.calls = []
        self.event = threading.Event()

    def __call__(self, path, fmt, exc):
        self.calls.append((path, fmt, exc, threading.current_thread().name))
        self.event.set()


def _hold_writer():
    """Queue a job whose callback blocks the writer until the returned event is set."""
    release = threading.Event()
    started = threading.Event()

    def block(path, fmt, exc):
        started.set()
        release.wait(30)

    store.publish_later(_tmp_dir, "blocker", pd.DataFrame({"x": [1]}), block)
    assert started.wait(30)
    return release


@pytest.fixture(autouse=True)
def _tmp(tmp_path):
    global _tmp_dir
    _tmp_dir = str(tmp_path)
    yield
    store.drain()


def test_written_file_is_the_frame_as_published(tmp_path):
    df = _frame()
    expected = df.copy()
    release = _hold_writer()
    done = Done()
    nbytes = store.publish_later(str(tmp_path), "lid1", df, done)
    assert nbytes and nbytes > 0
    # the script goes on and writes to the frame before the writer gets to it
    df.loc[0, "f"] = -1.0
    df.iloc[1, 0] = 42
    df.loc[2, "i"] += 7
    df["f"] *= 2
    release.set()
    store.drain()
    assert done.calls == [(os.path.join(str(tmp_path), "lid1.arrow"), "arrow", None, "stratum-publish")]
    back = bridge.ipc_to_frame(done.calls[0][0])
    pd.testing.assert_frame_equal(back, expected)
    assert df.loc[0, "f"] == -2.0 and df.iloc[1, 0] == 42  # the script's writes took effect


def test_same_bytes_as_synchronous_publish(tmp_path):
    df = _frame(5000)
    done = Done()
    store.publish_later(str(tmp_path), "bg", df, done)
    path, fmt, _ = store.publish(str(tmp_path), "fg", df)
    store.drain()
    assert fmt == "arrow"
    with open(path, "rb") as a, open(done.calls[0][0], "rb") as b:
        assert a.read() == b.read()


@pytest.mark.parametrize("make", [
    lambda f: f.set_axis(f["i"].astype(str), axis=0),  # a str index
    lambda f: f.assign(t=pd.Timestamp("2020-01-01") + pd.to_timedelta(f["i"] % 1000, unit="s"), n=pd.array(f["i"] % 7, dtype="Int64")),
    lambda f: f["f"],  # a Series
    lambda f: f.set_index("s")["i"],
], ids=["str-index", "datetime-nullable", "series", "str-index-series"])
def test_other_frames_and_series_are_pickled_as_they_were(tmp_path, make):
    obj = make(_frame(50_000))
    expected = obj.copy()
    release = _hold_writer()
    done = Done()
    assert store.publish_later(str(tmp_path), "p", obj, done) > 0
    obj.iloc[0] = obj.iloc[1]  # the script writes before the writer gets to it
    if isinstance(obj, pd.DataFrame):
        obj.loc[obj.index[2], "f"] = -5.0
    release.set()
    store.drain()
    (path, fmt, exc, _), = done.calls
    assert exc is None and fmt == "pickle" and path.endswith("p.pkl")
    back = store.load(path, fmt)
    (pd.testing.assert_frame_equal if isinstance(obj, pd.DataFrame) else pd.testing.assert_series_equal)(back, expected)
    assert not back.equals(obj)


def test_payloads_it_cannot_guard_are_refused(tmp_path):
    done = Done()
    assert store.publish_later(str(tmp_path), "x", {"not": "a frame"}, done) is None
    assert store.publish_later(str(tmp_path), "x", np.arange(10), done) is None
    assert store.publish_later(str(tmp_path), "x", (pd.DataFrame({"a": [1]}),), done) is None
    store.drain()
    assert done.calls == [] and os.listdir(tmp_path) == []


def test_a_failed_write_reaches_the_callback_and_leaves_nothing(tmp_path):
    done = Done()
    missing = str(tmp_path / "gone")
    assert store.publish_later(missing, "lid", _frame(100), done) is not None
    store.drain()
    (path, fmt, exc, _), = done.calls
    assert path is None and fmt is None and isinstance(exc, OSError)
    ok = Done()
    store.publish_later(str(tmp_path), "after", _frame(100), ok)  # the writer goes on
    store.drain()
    assert ok.calls[0][2] is None and os.listdir(tmp_path) == ["after.arrow"]


def test_a_raising_callback_does_not_stop_the_writer(tmp_path):
    def bad(path, fmt, exc):
        raise RuntimeError("callback failed")

    store.publish_later(str(tmp_path), "a", _frame(100), bad)
    done = Done()
    store.publish_later(str(tmp_path), "b", _frame(100), done)
    store.drain()
    assert done.calls and done.calls[0][2] is None


def test_drain_waits_for_every_queued_frame(tmp_path):
    release = _hold_writer()
    dones = [Done() for _ in range(3)]
    for i, d in enumerate(dones):
        store.publish_later(str(tmp_path), f"q{i}", _frame(1000), d)
    assert not any(d.calls for d in dones)
    release.set()
    store.drain()
    assert all(len(d.calls) == 1 and d.calls[0][2] is None for d in dones)


def _as_published(df):
    """A frame with the shim's default labels (str columns), as pandas builds them."""
    df.columns = pd.Index(list(df.columns), dtype="str")
    return df


@pytest.mark.parametrize("make", [
    lambda f: f.set_index(f.index * 3 + 7),  # an int64 index
    lambda f: f.rename_axis("row").iloc[::-2],  # a named RangeIndex with a negative step
    lambda f: f.iloc[10:],  # RangeIndex(10, n)
    lambda f: f.assign(t=pd.to_datetime(f["i"] % 10**9, unit="s").where(f["f"] > 0)),  # datetime64[ns] with NaT
    lambda f: f.assign(t=(pd.Timestamp("2000-01-01") + pd.to_timedelta(f["i"] % 10**6, unit="s")).astype("M8[s]")),
    lambda f: f.assign(d=pd.to_timedelta(f["i"] % 10**6, unit="ms").where(f["f"] < 0).astype("m8[ms]"),
                       u=pd.to_datetime(f["i"] % 10**6, unit="us").astype("M8[us]")),
    lambda f: f[f["f"] > 0.5],  # a filtered int64 index
    lambda f: f.sort_values("s", kind="stable").rename_axis("k"),
], ids=["int-index", "named-range-step", "range-start", "datetime-nat", "datetime-s", "timedelta-ms-us", "filtered", "sorted-named"])
def test_more_frames_round_trip_exactly_through_arrow(tmp_path, make):
    df = _as_published(make(_frame(20_000)))
    path = str(tmp_path / "f.arrow")
    assert bridge.frame_to_ipc(df, path)
    back = bridge.ipc_to_frame(path)
    pd.testing.assert_frame_equal(back, df, check_exact=True, check_index_type=True, check_column_type=True)
    assert list(back.dtypes) == list(df.dtypes) and type(back.index) is type(df.index) and back.index.name == df.index.name
    for c in df.columns:  # NaN and NaT bits too
        if df[c].dtype.kind in "fmM":
            assert np.array_equal(back[c].to_numpy().view(np.int64), df[c].to_numpy().view(np.int64)), c
    # numeric and temporal columns are views of the file's mapping; a write changes only this frame
    t = next((c for c in df.columns if df[c].dtype.kind in "mM"), None)
    if t is not None:
        assert not back[t].to_numpy().flags.owndata
        back.iloc[0, list(back.columns).index(t)] = pd.NaT
        assert bridge.ipc_to_frame(path)[t].iloc[0] is not pd.NaT or df[t].iloc[0] is pd.NaT


@pytest.mark.parametrize("rows", [1, 7, 20_000])
def test_blocks_of_several_columns_come_back_as_they_were(tmp_path, rows):
    """A frame's 2-D blocks (consolidated columns of one dtype, interleaved with others) come
    back as the same blocks: to_numpy() of such a frame is a read-only view in pandas, of a
    frame of one block per column a writable copy. Numeric and temporal blocks view the file's
    mapping; bools (converted by pyarrow) are stacked; writes change only the loaded frame."""
    rng = np.random.default_rng(rows)
    df = pd.DataFrame({
        "a": rng.random(rows), "s": pd.array([f"x{i % 7}" for i in range(rows)], dtype="str"),
        "i": np.arange(rows), "b": rng.random(rows), "j": np.arange(rows) * 2,
        "t": pd.to_datetime(np.arange(rows), unit="s"), "u": pd.to_datetime(np.arange(rows) * 3, unit="s"),
        "f": rng.random(rows) < 0.5, "g": rng.random(rows) < 0.3, "c": rng.random(rows),
    })
    df = _as_published(df._consolidate())
    df.insert(3, "lone", np.arange(rows) * 1.5)  # a float64 block of its own beside the others

    def blocks(d):
        return sorted((str(b.dtype), b.mgr_locs.as_array.tolist()) for b in d._mgr.blocks)

    path = str(tmp_path / "f.arrow")
    assert bridge.frame_to_ipc(df, path)
    with open(path, "rb") as f:
        before = f.read()
    back = bridge.ipc_to_frame(path)
    pd.testing.assert_frame_equal(back, df, check_exact=True, check_column_type=True)
    assert blocks(back) == blocks(df)
    assert ("float64", [0, 4, 10]) in blocks(df) and ("float64", [3]) in blocks(df)
    floats = ["a", "b", "c"]
    for view in (lambda d: d[floats].to_numpy(), lambda d: d.drop(columns=[c for c in d if c not in floats]).to_numpy(),
                 lambda d: d[["i", "j"]].to_numpy(), lambda d: d.to_numpy()):
        assert view(back).flags.writeable == view(df).flags.writeable
    for b in back._mgr.blocks:
        if b.dtype.kind in "ifM" and len(b.mgr_locs) > 1:
            values = b.values._ndarray if hasattr(b.values, "_ndarray") else b.values
            address = values.__array_interface__["data"][0]
            assert any(start <= address < end for start, end, *_ in bridge._regions), b.dtype
    back.loc[0, "a"] = -1.0
    back.loc[0, "t"] = pd.NaT
    with open(path, "rb") as f:
        assert f.read() == before
    pd.testing.assert_frame_equal(bridge.ipc_to_frame(path), df, check_exact=True)


def test_dedup_result_goes_to_the_background_writer_as_arrow(tmp_path):
    """drop_duplicates keeps a filtered index and the frame's dates: Arrow now, not a pickle."""
    f = _as_published(_frame(50_000).assign(t=pd.date_range("2020-01-01", periods=50_000, freq="min")))
    out = f.drop_duplicates(["s", "b"])
    done = Done()
    store.publish_later(str(tmp_path), "dd", out, done)
    store.drain()
    (path, fmt, exc, _), = done.calls
    assert exc is None and fmt == "arrow"
    pd.testing.assert_frame_equal(store.load(path, fmt), out, check_exact=True, check_index_type=True)
