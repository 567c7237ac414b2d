"""Tracing through the installed patches: records, LIDs of results, mutations, transparency."""

from __future__ import annotations

import builtins
import inspect

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
import sklearn.model_selection as ms
from shim_testutil import lid
from pandas.core.groupby import DataFrameGroupBy
from pandas.core.indexing import _LocIndexer
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from stratum_shim import estimators as E
from stratum_shim import lid as L
from stratum_shim import patches

# Library functions are looked up through their module at call time: a script imports them after
# `import stratum_shim` has patched them, while this module was imported before.

# --- records ---------------------------------------------------------------------------------------


def test_user_calls_are_recorded_with_lids(trace, csv_file):
    df = pd.read_csv(csv_file)
    sub = df[df["a"] > 2]
    out = sub.groupby("g")["b"].sum()
    recs = trace.records()
    ops = [r["op"] for r in recs]
    assert ops == ["pd.read_csv", "DataFrame.__getitem__", "Series.__gt__", "DataFrame.__getitem__",
                   "DataFrame.groupby", "DataFrameGroupBy.__getitem__", "SeriesGroupBy.sum"]
    assert recs[-1]["lid"] == lid(out)
    assert recs[0]["lid"] == lid(df)
    assert recs[3]["lid"] == lid(sub)
    assert recs[3]["inputs"] == [lid(df), recs[2]["lid"]]
    assert all(r["script"] == "test" and r["site"].endswith(f"test_patches.py:{r['site'].rsplit(':', 1)[1]}")
               for r in recs)
    assert recs[1]["rows"] == 5


def test_internal_calls_are_not_traced(trace, csv_file, xy):
    df = pd.read_csv(csv_file)
    m = trace.mark()
    df.describe()
    assert [r["op"] for r in trace.since(m)] == ["DataFrame.describe"]

    X, y = xy
    pipe = Pipeline([("sc", StandardScaler()), ("lr", LogisticRegression())])
    m = trace.mark()
    pipe.fit(X, y)
    recs = trace.since(m)
    assert [r["op"] for r in recs] == ["Pipeline.fit"]
    assert recs[0]["lid"] == lid(pipe)
    m = trace.mark()
    scores = ms.cross_val_score(LogisticRegression(), X, y, cv=3)
    recs = trace.since(m)
    assert [r["op"] for r in recs] == ["sklearn.cross_val_score"]
    assert recs[0]["lid"] is not None
    assert L.tracked_lid(scores) is None  # arrays are identified by content, never by lineage


def test_no_sink_no_records(installed, frame):
    from stratum_shim.dispatch import RT

    assert RT.sink is None
    out = frame.sort_values("a")
    assert L.tracked_lid(out) is None


# --- LID soundness through the patches ------------------------------------------------------------


def test_same_file_content_same_lid(trace, tmp_path, csv_file):
    other = tmp_path / "copy.csv"
    other.write_bytes(csv_file.read_bytes())
    d1, d2 = pd.read_csv(csv_file), pd.read_csv(other)
    assert lid(d1) == lid(d2)
    assert not L.is_local(lid(d1))
    assert lid(d1[["a", "b"]]) == lid(d2[["a", "b"]])
    assert lid(d1.groupby("g")["b"].mean()) == lid(d2.groupby("g")["b"].mean())
    # read options and content enter the LID
    assert lid(pd.read_csv(csv_file, usecols=["a"])) != lid(d1)
    changed = tmp_path / "changed.csv"
    changed.write_text(csv_file.read_text().replace("9,1.5", "9,1.6"))
    assert lid(pd.read_csv(changed)) != lid(d1)


def test_args_order_and_kwargs(trace, csv_file):
    df = pd.read_csv(csv_file)
    assert lid(df[["a", "b"]]) != lid(df[["b", "a"]])
    assert lid(df.sort_values("a")) != lid(df.sort_values("b"))
    assert lid(df.sort_values("a")) != lid(df.sort_values("a", ascending=False))
    assert lid(df.head(2)) != lid(df.head(3))
    assert lid(df.head(2)) != lid(df.tail(2))
    assert lid(df["a"] + 1) != lid(df["a"] + 1.0)
    assert lid(df["a"] * 0.1) != lid(df["a"] * 0.1000001)
    assert lid(df.rename(columns={"a": "x", "b": "y"})) == lid(df.rename(columns={"a": "x", "b": "y"}))
    assert lid(df.fillna(0)) != lid(df.fillna(False))
    assert lid(df["a"].apply(lambda v: v + 1)) != lid(df["a"].apply(lambda v: v + 2))
    assert lid(df["a"].apply(lambda v: v + 1)) == lid(df["a"].apply(lambda v: v + 1))


def test_function_args_bound_by_signature(trace, xy):
    y = xy[1]
    p = np.roll(y, 1)
    a = sklearn.metrics.accuracy_score(y, p)
    trace_a = trace.last()["lid"]
    sklearn.metrics.accuracy_score(y_true=y, y_pred=p)
    assert trace.last()["lid"] == trace_a
    sklearn.metrics.accuracy_score(y, p, normalize=True)
    assert trace.last()["lid"] == trace_a  # defaults applied
    sklearn.metrics.accuracy_score(p, y)
    assert trace.last()["lid"] != trace_a
    sklearn.metrics.accuracy_score(y, p, normalize=False)
    assert trace.last()["lid"] != trace_a
    assert a == np.mean(y == p)


def test_metrics_label_large_arrays_without_hashing_them(trace):
    """A metric's LID only labels its record (never shared): 1M-element label arrays (~10 ms of
    SHA-256) are not hashed, small ones still are."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200_000)  # 1.6 MB
    p = np.where(rng.random(200_000) < 0.1, 1 - y, y)
    a = sklearn.metrics.f1_score(y, p)
    first = trace.last()["lid"]
    b = sklearn.metrics.f1_score(y, p)
    assert a == b == sklearn.metrics.f1_score.__wrapped__(y, p)
    assert first.startswith("u") and trace.last()["lid"].startswith("u") and trace.last()["lid"] != first
    small = y[:1000]
    sklearn.metrics.f1_score(small, p[:1000])
    once = trace.last()["lid"]
    sklearn.metrics.f1_score(small, p[:1000])
    assert once == trace.last()["lid"] and not once.startswith("u")


def test_train_test_split(trace, xy):
    X, y = xy
    a = ms.train_test_split(X, y, test_size=0.25, random_state=0)
    b = ms.train_test_split(X, y, random_state=0, test_size=0.25)
    rec = trace.last("sklearn.train_test_split")
    assert rec["lid"] is not None
    assert trace.records()[-2]["lid"] == rec["lid"]
    ms.train_test_split(X, y, test_size=0.25, random_state=1)
    assert trace.last("sklearn.train_test_split")["lid"] != rec["lid"]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    ms.train_test_split(X, y, test_size=0.25)  # random: opaque
    last = trace.last("sklearn.train_test_split")
    assert last["lid"] is None and "random" in last["opaque"]
    ms.train_test_split(X, y, test_size=0.25, shuffle=False)
    assert trace.last("sklearn.train_test_split")["lid"] is not None


def test_split_results_get_child_lids(trace, csv_file):
    df = pd.read_csv(csv_file)
    tr, te = ms.train_test_split(df, test_size=0.4, random_state=0)
    lid_tr, lid_te = lid(tr), lid(te)
    assert lid_tr != lid_te
    rec = trace.last("sklearn.train_test_split")
    assert lid_tr == L.child_lid(rec["lid"], 0) and lid_te == L.child_lid(rec["lid"], 1)


def test_estimator_lids(trace, xy):
    X, y = xy
    a = LogisticRegression(C=1.0).fit(X, y)
    b = LogisticRegression(C=1.0).fit(X, y)
    c = LogisticRegression(C=0.5).fit(X, y)
    assert lid(a) == lid(b) != lid(c)
    assert lid(a) != lid(LogisticRegression().fit(X[:-1], y[:-1]))


def test_mixin_methods_are_traced(trace, xy):
    X, y = xy
    a = LogisticRegression(C=1.0).fit(X, y)
    b = LogisticRegression(C=1.0).fit(X, y)
    c = LogisticRegression(C=0.5).fit(X, y)
    pa = a.predict(X)
    rec = trace.last(".predict")
    b.predict(X)
    assert trace.last(".predict")["lid"] == rec["lid"]
    c.predict(X)
    assert trace.last(".predict")["lid"] != rec["lid"]
    np.testing.assert_array_equal(pa, b.predict(X))


def test_random_estimators_are_opaque_in_trace(trace, xy):
    X, y = xy
    rf = RandomForestClassifier(n_estimators=3).fit(X, y)
    rec = trace.last(".fit")
    assert rec["lid"] is None and "random" in rec["opaque"]
    assert L.tracked_lid(rf) is None
    rf.predict(X)
    assert trace.last(".predict")["lid"] is None
    RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    assert trace.last(".fit")["lid"] is not None
    LogisticRegression().fit(X, y)
    assert trace.last(".fit")["lid"] is not None


def test_splitter_split_is_traced_and_opaque_when_random(trace, xy):
    X, y = xy
    list(KFold(3, shuffle=True).split(X))
    assert trace.last(".split")["lid"] is None
    list(KFold(3).split(X))
    assert trace.last(".split")["lid"] is not None


def test_fit_transform_gives_lineage(trace, xy):
    sc = StandardScaler()
    sc.fit_transform(xy[0])
    rec = trace.last(".fit_transform")
    assert rec["lid"] is not None and L.tracked_lid(sc) is not None


def test_shuffled_splitter_without_seed_is_opaque(trace, xy):
    X, y = xy
    ms.cross_val_score(LogisticRegression(), X, y, cv=KFold(3, shuffle=True))
    assert trace.last("sklearn.cross_val_score")["lid"] is None
    ms.cross_val_score(LogisticRegression(), X, y, cv=KFold(3, shuffle=True, random_state=0))
    seeded = trace.last("sklearn.cross_val_score")["lid"]
    assert seeded is not None
    ms.cross_val_score(LogisticRegression(), X, y, cv=KFold(3))
    assert trace.last("sklearn.cross_val_score")["lid"] not in (None, seeded)


def test_unseeded_sample_is_opaque(trace, csv_file):
    df = pd.read_csv(csv_file)
    np.random.seed(0)
    s1 = df.sample(frac=0.6)
    np.random.seed(1)
    s2 = df.sample(frac=0.6)
    assert trace.last("DataFrame.sample")["lid"] is None
    assert L.tracked_lid(s1) is None or L.tracked_lid(s1) != L.tracked_lid(s2)
    assert lid(df.sample(frac=0.6, random_state=0)) != lid(df.sample(frac=0.6, random_state=1))
    assert lid(df.sample(frac=0.6, random_state=0)) == lid(df.sample(frac=0.6, random_state=0))


def test_set_params_after_fit_changes_predict_lid(trace, xy):
    X, y = xy
    knn = KNeighborsClassifier(5).fit(X, y)
    p1 = knn.predict(X)
    l1 = trace.last(".predict")["lid"]
    knn.set_params(n_neighbors=1)
    p2 = knn.predict(X)
    l2 = trace.last(".predict")["lid"]
    assert (p1 != p2).any()
    assert l1 is not None and l2 is not None and l1 != l2


def test_pipeline_predict_and_steps_lineage(trace, xy):
    X, y = xy
    sc = StandardScaler().fit(X[:10])
    stale = lid(sc)
    pipe = Pipeline([("sc", sc), ("knn", KNeighborsClassifier(3))])
    pipe.fit(X, y)
    pipe.predict(X)
    p_lid = trace.last("Pipeline.predict")["lid"]
    assert p_lid is not None  # a fitted Pipeline has an identity
    # the step was refit by pipe.fit: its old lineage must not describe it any more
    assert L.tracked_lid(sc) != stale
    sc.transform(X)
    t_lid = trace.last(".transform")["lid"]
    fresh = StandardScaler().fit(X[:10])
    fresh.transform(X)
    assert trace.last(".transform")["lid"] != t_lid
    # changing a step's params after fit changes the pipeline's predictions' LID
    pipe.set_params(knn__n_neighbors=1)
    pipe.predict(X)
    assert trace.last("Pipeline.predict")["lid"] not in (None, p_lid)


# --- mutations ------------------------------------------------------------------------------------


MUTATIONS = {
    "setitem": lambda df: df.__setitem__("d", 1),
    "setitem_existing": lambda df: df.__setitem__("a", df["a"] * 2),
    "delitem": lambda df: df.__delitem__("c"),
    "insert": lambda df: df.insert(0, "z", 0),
    "pop": lambda df: df.pop("c"),
    "update": lambda df: df.update(df[["a"]] * 0),
    "columns": lambda df: setattr(df, "columns", ["A", "B", "C", "G"]),
    "index": lambda df: setattr(df, "index", [10, 11, 12, 13, 14]),
    "fillna_inplace": lambda df: df.fillna(0, inplace=True),
    "drop_inplace": lambda df: df.drop(columns=["c"], inplace=True),
    "sort_inplace": lambda df: df.sort_values("b", inplace=True),
    "rename_inplace": lambda df: df.rename(columns={"a": "q"}, inplace=True),
    "reset_index_inplace": lambda df: df.reset_index(inplace=True),
    "loc": lambda df: df.loc.__setitem__((0, "a"), 100),
    "loc_mask": lambda df: df.loc.__setitem__(df["a"] > 2, "b"),
    "iloc": lambda df: df.iloc.__setitem__((0, 0), 100),
    "at": lambda df: df.at.__setitem__((0, "a"), 100),
    "iat": lambda df: df.iat.__setitem__((0, 0), 100),
}


def _apply_syntax(name, df):
    # the same mutations written as a script would (so the caller frame is this test's code)
    if name == "setitem":
        df["d"] = 1
    elif name == "setitem_existing":
        df["a"] = df["a"] * 2
    elif name == "delitem":
        del df["c"]
    elif name == "insert":
        df.insert(0, "z", 0)
    elif name == "pop":
        df.pop("c")
    elif name == "update":
        df.update(df[["a"]] * 0)
    elif name == "columns":
        df.columns = ["A", "B", "C", "G"]
    elif name == "index":
        df.index = [10, 11, 12, 13, 14]
    elif name == "fillna_inplace":
        df.fillna(0, inplace=True)
    elif name == "drop_inplace":
        df.drop(columns=["c"], inplace=True)
    elif name == "sort_inplace":
        df.sort_values("b", inplace=True)
    elif name == "rename_inplace":
        df.rename(columns={"a": "q"}, inplace=True)
    elif name == "reset_index_inplace":
        df.reset_index(inplace=True)
    elif name == "loc":
        df.loc[0, "a"] = 100
    elif name == "loc_mask":
        df.loc[df["a"] > 2, "b"] = 0.0
    elif name == "iloc":
        df.iloc[0, 0] = 100
    elif name == "at":
        df.at[0, "a"] = 100
    elif name == "iat":
        df.iat[0, 0] = 100


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_changes_the_lid(trace, csv_file, name):
    df = pd.read_csv(csv_file)
    twin = pd.read_csv(csv_file)
    before = lid(df)
    _apply_syntax(name, df)
    after = L.tracked_lid(df)
    assert after != before
    # whatever the new identity, a derived value must differ from the unmutated twin's
    assert L.lid_of("x", df) != L.lid_of("x", twin)
    assert L.lid_of("x", df, memo=True) != L.lid_of("x", twin, memo=True)


def test_mutation_of_series_and_augmented_assignment(trace, csv_file):
    df = pd.read_csv(csv_file)
    s = df["a"]
    before = lid(s)
    s[0] = 99
    assert L.tracked_lid(s) != before
    before = lid(df)
    df["a"] += 1
    assert L.tracked_lid(df) != before
    num = df[["a", "b"]]
    before = lid(num)
    num += 1
    assert L.tracked_lid(num) != before


def test_same_mutation_twice_agrees(trace, csv_file):
    d1, d2 = pd.read_csv(csv_file), pd.read_csv(csv_file)
    d1["d"] = d1["a"] * 2
    d2["d"] = d2["a"] * 2
    assert lid(d1) == lid(d2)
    d1.loc[0, "a"] = 5
    assert lid(d1) != lid(d2)


def test_failed_mutation_drops_lineage(trace, csv_file):
    df = pd.read_csv(csv_file)
    before = lid(df)
    with pytest.raises(KeyError):
        df.drop(columns=["nope"], inplace=True)
    assert L.tracked_lid(df) != before


# --- transparency -----------------------------------------------------------------------------------


def _workload(path):
    df = pd.read_csv(path)
    df["d"] = df["a"] * df["b"]
    df.loc[df["c"] == "x", "b"] = -1.0
    g = df.groupby("c").agg({"a": "sum", "b": "mean", "d": "max"})
    merged = df.merge(g, left_on="c", right_index=True, suffixes=("", "_g"))
    dummies = pd.get_dummies(merged, columns=["c"])
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    Xtr, Xte, ytr, yte = ms.train_test_split(X, y, test_size=0.25, random_state=0)
    pipe = Pipeline([("sc", StandardScaler()), ("lr", LogisticRegression(C=0.5))]).fit(Xtr, ytr)
    proba = pipe.predict_proba(Xte)
    acc = sklearn.metrics.accuracy_score(yte, pipe.predict(Xte))
    cv = ms.cross_val_score(LogisticRegression(), X, y, cv=KFold(4, shuffle=True, random_state=1))
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(Xtr, ytr).predict(Xte)
    return df, g, merged, dummies, proba, acc, cv, rf


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, strict=True)
    else:
        assert a == b


def test_results_identical_to_unpatched(tmp_path, csv_file):
    import stratum_shim

    plain = _workload(csv_file)
    try:
        stratum_shim.activate(trace_path=str(tmp_path / "t.jsonl"), script_id="t")
        traced = _workload(csv_file)
    finally:
        stratum_shim.deactivate()
        patches.uninstall()
    for a, b in zip(plain, traced, strict=True):
        _assert_same(a, b)
    assert (tmp_path / "t.jsonl").read_text().count("\n") > 15


def _snapshot():
    from pandas.core.groupby import SeriesGroupBy
    from pandas.core.indexing import _AtIndexer, _iAtIndexer, _iLocIndexer
    from sklearn.utils._available_if import _AvailableIfDescriptor

    snap = {}
    classes = [pd.DataFrame, pd.Series, DataFrameGroupBy, SeriesGroupBy, _LocIndexer, _iLocIndexer,
               _AtIndexer, _iAtIndexer, *patches._all_subclasses(BaseEstimator),
               *patches._all_subclasses(ms.BaseCrossValidator), ms.BaseCrossValidator]
    for cls in classes:
        snap[cls] = dict(vars(cls))
        for name, attr in vars(cls).items():
            if isinstance(attr, _AvailableIfDescriptor):
                snap[(cls, name, "fn")] = attr.fn
    for mod in (pd, ms, sklearn.metrics):
        snap[mod] = dict(vars(mod))
    snap["open"] = builtins.open
    return snap


def test_uninstall_restores_every_original():
    assert patches.installed_count() == 0
    before = _snapshot()
    originals = {"getitem": pd.DataFrame.__getitem__, "read_csv": pd.read_csv, "fit": LogisticRegression.fit,
                 "acc": sklearn.metrics.accuracy_score, "tts": ms.train_test_split, "open": builtins.open,
                 "loc": _LocIndexer.__setitem__, "proba": Pipeline.__dict__["predict_proba"].fn}
    try:
        patches.install()
        assert patches.installed_count() > 500
        assert pd.DataFrame.__getitem__ is not originals["getitem"]
        assert pd.read_csv is not originals["read_csv"]
        assert LogisticRegression.fit is not originals["fit"]
        assert sklearn.metrics.accuracy_score is not originals["acc"]
        assert ms.train_test_split is not originals["tts"]
        assert builtins.open is not originals["open"]
        assert _LocIndexer.__setitem__ is not originals["loc"]
        assert Pipeline.__dict__["predict_proba"].fn is not originals["proba"]
        patches.install()  # idempotent
    finally:
        patches.uninstall()
    assert patches.installed_count() == 0
    after = _snapshot()
    assert set(after) >= set(before)
    for key, value in before.items():
        if isinstance(value, dict):
            changed = [k for k in set(value) | set(after[key]) if value.get(k, 0) is not after[key].get(k, 0)]
            assert not changed, f"{key}: {changed[:5]}"
        else:
            assert after[key] is value, key
    # inherited methods come back as inherited (no leftover override on the subclass)
    assert "sum" not in vars(pd.DataFrame) or vars(pd.DataFrame)["sum"] is before[pd.DataFrame]["sum"]


def test_available_if_preserved(installed):
    assert not hasattr(Pipeline([("sc", StandardScaler()), ("svc", SVC())]), "predict_proba")
    assert not hasattr(SVC(), "predict_proba")
    assert hasattr(Pipeline([("sc", StandardScaler()), ("lr", LogisticRegression())]), "predict_proba")
    assert not hasattr(Pipeline([("lr", StandardScaler())]), "predict")


def test_signatures_unchanged():
    targets = [
        (pd.DataFrame, "merge"), (pd.DataFrame, "sort_values"), (pd.DataFrame, "__getitem__"),
        (pd.DataFrame, "insert"), (pd.Series, "map"), (DataFrameGroupBy, "agg"), (pd, "read_csv"),
        (pd, "concat"), (LogisticRegression, "fit"), (StandardScaler, "transform"),
        (sklearn.metrics, "f1_score"), (ms, "train_test_split"), (ms, "cross_val_score"), (KFold, "split"),
    ]
    before = [inspect.signature(getattr(o, n)) for o, n in targets]
    proba = inspect.signature(Pipeline([("lr", LogisticRegression())]).predict_proba)
    try:
        patches.install()
        after = [inspect.signature(getattr(o, n)) for o, n in targets]
        proba_after = inspect.signature(Pipeline([("lr", LogisticRegression())]).predict_proba)
        assert getattr(pd.DataFrame.merge, "__stratum_original__", None) is not None
        assert pd.DataFrame.merge.__name__ == "merge" and pd.DataFrame.merge.__doc__
    finally:
        patches.uninstall()
    # str: Parameter equality compares defaults with ==, and error_score=nan != nan
    assert [str(x) for x in before] == [str(x) for x in after]
    assert str(proba) == str(proba_after)


def test_late_imported_sklearn_classes_are_patched(installed):
    import importlib
    import sys

    name = "sklearn.semi_supervised"
    was = sys.modules.pop(name, None)
    if was is not None:
        pytest.skip("already imported")
    mod = importlib.import_module(name)
    assert getattr(mod.LabelPropagation.fit, "__stratum_original__", None) is not None


def test_shim_failure_degrades_to_plain_call(trace, csv_file, monkeypatch):
    from stratum_shim import handlers

    df = pd.read_csv(csv_file)

    def boom(*a, **k):
        raise RuntimeError("shim bug")

    monkeypatch.setattr(handlers.PandasOp, "prepare", boom)
    out = df.sort_values("b")
    pd.testing.assert_frame_equal(out, pd.read_csv(csv_file).sort_values("b"))
    assert trace.last()["op"] == "shim_error"


def test_exceptions_of_the_library_propagate(trace, csv_file):
    df = pd.read_csv(csv_file)
    with pytest.raises(KeyError):
        df["missing"]
    with pytest.raises(ValueError):
        LogisticRegression().fit(np.zeros((3, 2)), [0, 0, 0])


# --- restore_into ---------------------------------------------------------------------------------


def test_restore_into_keeps_step_identity(xy):
    import pickle

    X, y = xy
    sc, lr = StandardScaler(), LogisticRegression(C=0.3)
    pipe = Pipeline([("sc", sc), ("lr", lr)])
    cached = pickle.loads(pickle.dumps(clone(pipe).fit(X, y)))
    lr.stale_ = 1  # state not in the cached result must go
    E.restore_into(pipe, cached)
    assert pipe.steps[0][1] is sc and pipe.steps[1][1] is lr
    assert pipe.named_steps["sc"] is sc
    assert E.is_fitted(sc) and E.is_fitted(lr) and E.is_fitted(pipe)
    np.testing.assert_array_equal(sc.mean_, cached[0].mean_)
    np.testing.assert_array_equal(lr.coef_, cached[1].coef_)
    assert not hasattr(lr, "stale_")
    np.testing.assert_array_equal(pipe.predict(X), cached.predict(X))
    np.testing.assert_array_equal(sc.transform(X), cached[0].transform(X))
    assert lr.C == 0.3


def test_fit_hit_restores_into_the_users_objects(trace, xy):
    """Fit.apply_hit (a shared fit served by the coordinator) gives the script's own objects the state."""
    from stratum_shim import handlers

    X, y = xy
    sc, lr = StandardScaler(), LogisticRegression()
    pipe = Pipeline([("sc", sc), ("lr", lr)])
    plan = handlers.HANDLERS["fit"].prepare("Pipeline.fit", (pipe, X, y), {})
    assert plan.lid is not None
    cached = clone(pipe).fit(X, y)
    out = handlers.HANDLERS["fit"].apply_hit(plan, (pipe, X, y), {}, (cached, None))
    assert out is pipe and pipe.steps[0][1] is sc
    assert L.tracked_lid(pipe) == plan.lid
    np.testing.assert_array_equal(lr.coef_, cached[1].coef_)
    assert L.tracked_lid(sc) is not None and L.tracked_lid(sc) != L.tracked_lid(lr)
