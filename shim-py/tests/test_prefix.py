"""Prefix sharing: a Pipeline's fitted prefix computed once per distinct (steps, data), exactly."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.model_selection as ms
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from stratum_shim import prefix

# the patched functions, looked up at call time (the trace fixture installs the patches)
def cross_val_score(*a, **k):
    return ms.cross_val_score(*a, **k)


def cross_validate(*a, **k):
    return ms.cross_validate(*a, **k)


GridSearchCV = ms.GridSearchCV  # a class: its methods are patched in place
from stratum_shim.dispatch import RT


@pytest.fixture(autouse=True)
def _fresh_cache():
    prefix.clear()
    for k in prefix.stats:
        prefix.stats[k] = 0
    yield
    prefix.clear()


def plain(fn):
    """fn() with the shim passing every call straight through (the reference)."""
    sink, RT.sink = RT.sink, None
    try:
        return fn()
    finally:
        RT.sink = sink


@pytest.fixture
def houses():
    rng = np.random.RandomState(3)
    n = 600
    df = pd.DataFrame({
        "area": rng.gamma(3, 40, n),
        "rooms": rng.randint(1, 7, n).astype(float),
        "city": rng.choice(["north", "south", "east", None], n),
        "kind": rng.choice(["flat", "house"], n),
    })
    df.loc[rng.rand(n) < 0.1, "area"] = np.nan
    y = 3 * np.log1p(df["area"].fillna(100)) + df["rooms"] + rng.normal(size=n)
    return df, pd.Series(y, name="price")


def _pipe(strategy="median", model=None):
    pre = ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy=strategy)), ("sc", StandardScaler())]), ["area", "rooms"]),
        ("cat", Pipeline([("imp", SimpleImputer(strategy="most_frequent")), ("oh", OneHotEncoder(handle_unknown="ignore"))]),
         ["city", "kind"]),
    ])
    return Pipeline([("pre", pre), ("model", model if model is not None else Ridge())])


def _search(X, y):
    grid = {"model__alpha": [0.1, 1.0, 10.0], "pre__num__imp__strategy": ["median", "mean"]}
    s = GridSearchCV(_pipe(), grid, cv=KFold(4, shuffle=True, random_state=0), scoring="neg_root_mean_squared_error")
    s.fit(X, y)
    return s


def test_summary_record(trace, houses):
    assert prefix.summary("s") is None  # nothing reused: no record
    X, y = houses
    _search(X, y)
    rec = prefix.summary("s")
    assert rec["op"] == "prefix_share" and rec["script"] == "s"
    assert rec["fit_hits"] == prefix.stats["fit_hits"] > 0 and rec["transform_hits"] == prefix.stats["transform_hits"]
    assert rec["elapsed_ms"] > 0  # what the reused computations took when computed


def test_grid_search_fits_each_distinct_prefix_once(trace, houses):
    X, y = houses
    ref = plain(lambda: _search(X, y))
    got = _search(X, y)
    for k in ("mean_test_score", "std_test_score", "rank_test_score", "split0_test_score", "split3_test_score"):
        np.testing.assert_array_equal(got.cv_results_[k], ref.cv_results_[k])
    assert got.best_params_ == ref.best_params_
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))
    # 3 alphas x 2 strategies x 4 folds: the prefix differs by strategy only -> 2 x 4 distinct
    assert prefix.stats["fit_hits"] == 24 - 8
    # and each distinct prefix transforms its test fold once
    assert prefix.stats["transform_hits"] == 24 - 8


def test_models_on_the_same_frame_share_the_prefix(trace, houses):
    X, y = houses
    cv = KFold(3, shuffle=True, random_state=1)
    ref = [plain(lambda m=m: cross_val_score(_pipe(model=m), X, y, cv=cv)) for m in (Ridge(1.0), Ridge(5.0))]
    got = [cross_val_score(_pipe(model=m), X, y, cv=cv) for m in (Ridge(1.0), Ridge(5.0))]
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert prefix.stats["fit_hits"] == 3  # the second call's folds: X is the same pandas lineage

    # a top-level fit of a pipeline with the same prefix on the same rows
    p1, p2 = _pipe(model=Ridge(1.0)), _pipe(model=Ridge(2.0))
    p1.fit(X, y)
    hits = prefix.stats["fit_hits"]
    p2.fit(X, y)
    assert prefix.stats["fit_hits"] == hits + 1
    r2 = plain(lambda: _pipe(model=Ridge(2.0)).fit(X, y))
    np.testing.assert_array_equal(p2.predict(X), r2.predict(X))
    # the step objects stay the pipeline's own, fitted, and independent of each other
    assert p2.named_steps["pre"] is not p1.named_steps["pre"]
    assert p2.named_steps["pre"].transformers_[0][1].named_steps["imp"].statistics_ is not \
        p1.named_steps["pre"].transformers_[0][1].named_steps["imp"].statistics_


def test_numpy_rows_are_named_only_within_one_call(trace):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(size=300)
    pipe = lambda a: Pipeline([("sc", StandardScaler()), ("pca", PCA(3, random_state=0)), ("m", Ridge(a))])  # noqa: E731
    cv = KFold(3)
    first = cross_val_score(pipe(1.0), X, y, cv=cv)
    assert prefix.stats["fit_hits"] == 0
    X[:, 0] += rng.normal(size=300)  # mutated in place between two calls: nothing may be reused
    second = cross_val_score(pipe(1.0), X, y, cv=cv)
    ref = plain(lambda: cross_val_score(pipe(1.0), X, y, cv=cv))
    np.testing.assert_array_equal(second, ref)
    assert not np.array_equal(first, second)
    assert prefix.stats["fit_hits"] == 0 and prefix.stats["transform_hits"] == 0
    # within one call, numpy rows are shared (GridSearchCV over the last step)
    s = GridSearchCV(pipe(1.0), {"m__alpha": [0.5, 1.0, 2.0]}, cv=cv).fit(X, y)
    r = plain(lambda: GridSearchCV(pipe(1.0), {"m__alpha": [0.5, 1.0, 2.0]}, cv=cv).fit(X, y))
    np.testing.assert_array_equal(s.cv_results_["mean_test_score"], r.cv_results_["mean_test_score"])
    # 2 prefix steps (scaler, pca) x 3 folds x 2 repeated candidates
    assert prefix.stats["fit_hits"] == 12


def test_a_prefix_that_warns_is_not_reused(trace):
    rng = np.random.RandomState(1)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": np.nan})  # b: no observed value
    y = pd.Series(rng.normal(size=200))

    def run():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            s = GridSearchCV(Pipeline([("imp", SimpleImputer()), ("m", Ridge())]), {"m__alpha": [1.0, 2.0]}, cv=KFold(2)).fit(X, y)
        return s, [str(x.message) for x in w]

    ref, ref_warnings = plain(run)
    got, got_warnings = run()
    np.testing.assert_array_equal(got.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"])
    assert got_warnings == ref_warnings and any("Skipping features" in m for m in got_warnings)
    assert prefix.stats["fit_hits"] == 0


def test_unseeded_pca_is_not_reused(trace):
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(200, 4)), rng.normal(size=200)
    # PCA's solver may be randomized: without a seed its fit is not a function of its inputs
    GridSearchCV(Pipeline([("pca", PCA(3)), ("m", Ridge())]), {"m__alpha": [1.0, 2.0]}, cv=KFold(2)).fit(X, y)
    assert prefix.stats == {"fit_hits": 0, "transform_hits": 0, "stored": 0, "saved_ms": 0}


def test_random_or_weighted_prefixes_are_not_reused(trace, houses):
    X, y = houses
    Xn = X[["area", "rooms"]].fillna(0)
    grid = {"m__alpha": [1.0, 2.0]}
    rand = Pipeline([("pca", PCA(2, svd_solver="randomized")), ("m", Ridge())])  # random_state=None
    GridSearchCV(rand, grid, cv=KFold(2)).fit(Xn, y)
    assert prefix.stats["fit_hits"] == 0
    seeded = Pipeline([("pca", PCA(2, svd_solver="randomized", random_state=0)), ("m", Ridge())])
    GridSearchCV(seeded, grid, cv=KFold(2)).fit(Xn, y)
    assert prefix.stats["fit_hits"] == 2
    # fit params routed to a prefix step: not memoised
    before = prefix.stats["fit_hits"]
    w = np.linspace(0.5, 2.0, len(Xn))
    weighted = Pipeline([("sc", StandardScaler()), ("m", Ridge())])
    got = GridSearchCV(weighted, grid, cv=KFold(2)).fit(Xn, y, sc__sample_weight=w)
    ref = plain(lambda: GridSearchCV(weighted, grid, cv=KFold(2)).fit(Xn, y, sc__sample_weight=w))
    np.testing.assert_array_equal(got.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"])
    assert prefix.stats["fit_hits"] == before


def test_returned_estimators_are_independent_copies(trace, houses):
    X, y = houses
    cv = KFold(2)
    a = cross_validate(_pipe(model=Ridge(1.0)), X, y, cv=cv, return_estimator=True)["estimator"]
    b = cross_validate(_pipe(model=Ridge(3.0)), X, y, cv=cv, return_estimator=True)["estimator"]
    assert prefix.stats["fit_hits"] == 2
    for ea, eb in zip(a, b):
        sa, sb = ea.named_steps["pre"], eb.named_steps["pre"]
        assert sa is not sb
        np.testing.assert_array_equal(sa.transform(X.iloc[:5]).toarray() if hasattr(sa.transform(X.iloc[:5]), "toarray") else sa.transform(X.iloc[:5]),
                                      sb.transform(X.iloc[:5]).toarray() if hasattr(sb.transform(X.iloc[:5]), "toarray") else sb.transform(X.iloc[:5]))
    # refitting a returned step on other data: its transforms are its own again
    step = b[0].named_steps["pre"]
    step.fit(X.iloc[:100], y.iloc[:100])
    ref = plain(lambda: pickle.loads(pickle.dumps(step)).transform(X))
    out = b[0].named_steps["pre"].transform(X)
    np.testing.assert_array_equal(out.toarray() if hasattr(out, "toarray") else out,
                                  ref.toarray() if hasattr(ref, "toarray") else ref)


def test_cache_is_bounded(trace, houses, monkeypatch):
    X, y = houses
    monkeypatch.setattr(prefix, "CACHE_BYTES", 40_000)
    _search(X, y)
    assert prefix._size <= 40_000
    assert sum(e[2] for e in prefix._cache.values()) == prefix._size


def test_nothing_is_memoised_without_a_sink(installed, houses):
    X, y = houses
    _search(X, y)
    assert prefix.stats == {"fit_hits": 0, "transform_hits": 0, "stored": 0, "saved_ms": 0}
    assert not prefix._cache


def test_logistic_pipeline_grid_matches(trace, houses):
    X, y = houses
    yc = (y > y.median()).astype(int)
    grid = {"model__C": [0.1, 1.0]}
    mk = lambda: GridSearchCV(_pipe(model=LogisticRegression(max_iter=500)), grid, cv=KFold(3), scoring="roc_auc")  # noqa: E731
    ref = plain(lambda: mk().fit(X, yc))
    got = mk().fit(X, yc)
    np.testing.assert_array_equal(got.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(got.predict_proba(X), ref.predict_proba(X))
    assert prefix.stats["fit_hits"] == 3
