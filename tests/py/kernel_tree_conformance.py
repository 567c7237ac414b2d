"""Conformance of the classification tree kernel, run *under the coordinator*
(tests/kernels.test.ts).

For randomised data (continuous, rounded, few-valued, binary, constant and near-constant
columns, values closer than FEATURE_THRESHOLD, signed zeros, huge and tiny magnitudes; 2-6
classes, one or two outputs, string labels; 1 to 3000 rows) and randomised estimators
(DecisionTreeClassifier, ExtraTreeClassifier, RandomForestClassifier, ExtraTreesClassifier with
gini / entropy / log_loss, best / random splitters, depth, leaf, split, weight-fraction and
impurity-decrease limits, max_features, bootstrap and max_samples, sample weights that are
counts), every tree grown through stratum's builder (shim -> coordinator -> Rust) must equal
the tree scikit-learn's own builder grows: the node arrays (children, feature, threshold,
impurity, sample counts and weights, and the missing-value direction of split nodes), the
values, the depth, and the predictions. Calls the kernel does not support (class_weight,
fractional weights, missing values, sparse input, max_leaf_nodes, monotonic constraints,
regression) stay with scikit-learn and are compared too. Prints one summary line; any mismatch
raises.
"""

import random

import numpy as np
import scipy.sparse as sp
import sklearn.tree._classes as classes
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier

from stratum_shim import trees
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
assert classes.DepthFirstTreeBuilder is trees.KernelBuilder
ORIGINAL = trees.KernelBuilder.original
trees.MIN_TREE_ROWS = trees.MIN_FOREST_ROWS = 0

rng = np.random.default_rng(0)
pyrng = random.Random(0)


def column(n):
    kind = pyrng.choice(["normal", "rounded", "few", "binary", "constant", "near", "zeros", "extreme", "ints"])
    if kind == "rounded":
        return np.round(rng.standard_normal(n) * 10, pyrng.choice([0, 1]))
    if kind == "few":
        return rng.integers(0, pyrng.choice([2, 3, 5, 12]), n) * 0.5
    if kind == "binary":
        return (rng.random(n) < pyrng.random()).astype(float)
    if kind == "constant":
        return np.full(n, pyrng.choice([0.0, 3.5, -1e6]))
    if kind == "near":  # values within FEATURE_THRESHOLD of each other, and just outside it
        return 1.0 + rng.integers(0, 4, n) * pyrng.choice([1e-8, 5e-8, 1.2e-7, 2e-7, 1e-6])
    if kind == "zeros":
        return rng.choice([-0.0, 0.0, 1.0, -2.0], n)
    if kind == "extreme":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
    if kind == "ints":
        return rng.integers(-100, 100, n).astype(float)
    return rng.standard_normal(n)


def dataset():
    n = pyrng.choice([1, 2, 3, 7, 40, 200, 800, 3000])
    m = pyrng.choice([1, 2, 5, 12, 30])
    X = np.column_stack([column(n) for _ in range(m)]).astype(np.float32)
    outputs = 2 if pyrng.random() < 0.15 else 1
    ys = []
    for _ in range(outputs):
        k = pyrng.choice([1, 2, 2, 3, 6])
        # labels partly predictable from the first column, partly noise
        score = X[:, 0].astype(float) + rng.standard_normal(n) * pyrng.choice([0.1, 1.0, 10.0])
        labels = np.digitize(score, np.quantile(score, np.linspace(0, 1, k + 1)[1:-1])) if k > 1 else np.zeros(n, int)
        if pyrng.random() < 0.3:
            labels = np.array(["cat", "dog", "eel", "fox", "gnu", "hen"])[labels]
        ys.append(labels)
    y = ys[0] if outputs == 1 else np.column_stack(ys)
    return X, y


def estimator():
    cls = pyrng.choice([DecisionTreeClassifier, ExtraTreeClassifier, RandomForestClassifier, ExtraTreesClassifier])
    params = {
        "criterion": pyrng.choice(["gini", "entropy", "log_loss"]),
        "max_depth": pyrng.choice([None, None, 1, 3, 8]),
        "min_samples_split": pyrng.choice([2, 2, 5, 0.05]),
        "min_samples_leaf": pyrng.choice([1, 1, 3, 0.02]),
        "min_weight_fraction_leaf": pyrng.choice([0.0, 0.0, 0.0, 0.1]),
        "max_features": pyrng.choice([None, "sqrt", "log2", 1, 3, 0.5]),
        "min_impurity_decrease": pyrng.choice([0.0, 0.0, 0.0, 0.01]),
        "random_state": pyrng.choice([0, 1, 42, 12345]),
    }
    if cls in (DecisionTreeClassifier,):
        params["splitter"] = pyrng.choice(["best", "random"])
    if cls in (RandomForestClassifier, ExtraTreesClassifier):
        params["n_estimators"] = pyrng.choice([2, 4])
        params["bootstrap"] = pyrng.choice([True, False]) if cls is ExtraTreesClassifier else pyrng.choice([True, True, False])
        if params["bootstrap"] and pyrng.random() < 0.3:
            params["max_samples"] = 0.5
        params["n_jobs"] = pyrng.choice([1, 2])
    return cls(**params)


def tree_state(t):
    s = t.__getstate__()
    nodes = s["nodes"].copy()
    leaf = nodes["left_child"] == -1
    nodes["missing_go_to_left"][leaf] = 0  # uninitialised in scikit-learn for leaves
    # field by field: the records' padding bytes are uninitialised memory too
    fields = tuple(np.ascontiguousarray(nodes[f]).tobytes() for f in nodes.dtype.names)
    return s["max_depth"], s["node_count"], fields, s["values"].tobytes()


def trees_of(est):
    return [e.tree_ for e in est.estimators_] if hasattr(est, "estimators_") else [est.tree_]


def fit(est, X, y, **fit_kw):
    """est.fit without stratum's memoisation (else the second fit of a case would be the
    first one's result, from the store); the builder substitution still applies."""
    method = type(est).fit
    return getattr(method, "__stratum_original__", method)(est, X, y, **fit_kw)


def fit_both(est_factory, X, y, **fit_kw):
    """(kernel runs, reference estimator, stratum estimator) for one fit."""
    runs = trees.stats["runs"]
    classes.DepthFirstTreeBuilder = ORIGINAL
    try:
        ref = fit(est_factory(), X, y, **fit_kw)
        ref_err = None
    except Exception as e:  # noqa: BLE001 - the same error must come out of both
        ref, ref_err = None, repr(e)
    finally:
        classes.DepthFirstTreeBuilder = trees.KernelBuilder
    try:
        got = fit(est_factory(), X, y, **fit_kw)
        got_err = None
    except Exception as e:  # noqa: BLE001
        got, got_err = None, repr(e)
    assert ref_err == got_err, (ref_err, got_err)
    return trees.stats["runs"] - runs, ref, got


def difference(ta, tb):
    sa, sb = ta.__getstate__(), tb.__getstate__()
    if sa["node_count"] != sb["node_count"] or sa["max_depth"] != sb["max_depth"]:
        return f"{sa['node_count']} nodes, depth {sa['max_depth']} vs {sb['node_count']}, {sb['max_depth']}"
    for i, (a, b) in enumerate(zip(sa["nodes"], sb["nodes"])):
        if a.tolist() != b.tolist() and not (a["left_child"] == -1 and b["left_child"] == -1 and a.tolist()[:7] == b.tolist()[:7]):
            return f"node {i}: {a} vs {b}"
    diff = np.argwhere(sa["values"] != sb["values"])
    return f"values at {diff[:3].tolist()}: {sa['values'][tuple(diff[0])]!r} vs {sb['values'][tuple(diff[0])]!r}"


def same(ref, got, X, label):
    if ref is None:
        return
    a, b = trees_of(ref), trees_of(got)
    assert len(a) == len(b), label
    for i, (ta, tb) in enumerate(zip(a, b)):
        sa, sb = tree_state(ta), tree_state(tb)
        if sa != sb:
            raise AssertionError(f"{label}: tree {i} differs: {difference(ta, tb)}")
    for e in (ref, got):  # a forest's threads add the trees' probabilities in any order
        if hasattr(e, "n_jobs"):
            e.n_jobs = 1
    pa_, pb = ref.predict_proba(X), got.predict_proba(X)
    if isinstance(pa_, list):
        assert all(np.array_equal(u, v) for u, v in zip(pa_, pb)), label
    else:
        assert np.array_equal(pa_, pb), label


cases = runs = 0
for case in range(260):
    X, y = dataset()
    est = estimator()
    params = est.get_params()
    fit_kw = {}
    if pyrng.random() < 0.2:
        fit_kw["sample_weight"] = rng.integers(0, 4, len(X)).astype(float)
    label = f"case {case}: {type(est).__name__}({params}) on {X.shape}"
    r, ref, got = fit_both(lambda: type(est)(**params), X, y, **fit_kw)
    same(ref, got, X, label)
    cases += 1
    runs += r

# supported cases must have run on the kernel: a plain forest on the fixture-like shape
X, y = dataset()
X = np.column_stack([X, rng.standard_normal((len(X), 3)).astype(np.float32)])
r, ref, got = fit_both(lambda: RandomForestClassifier(n_estimators=5, random_state=3), np.repeat(X, 2, axis=0) if len(X) < 100 else X,
                       np.repeat(y, 2, axis=0) if len(X) < 100 else y)
same(ref, got, np.repeat(X, 2, axis=0) if len(X) < 100 else X, "forest")
assert r == 5, f"a forest of 5 trees ran {r} times on the kernel"
runs += r
cases += 1

# a verbose forest prints its progress per tree: it goes to joblib as before, same output
import contextlib
import io

outs = []
for builder in (ORIGINAL, trees.KernelBuilder):
    classes.DepthFirstTreeBuilder = builder
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        fit(RandomForestClassifier(n_estimators=3, verbose=2, random_state=0), X, y)
    outs.append(buf.getvalue())
classes.DepthFirstTreeBuilder = trees.KernelBuilder
assert outs[0] == outs[1] and "building tree 3 of 3" in outs[0], outs
cases += 1

# unsupported calls stay with scikit-learn, identical
X = rng.standard_normal((500, 6)).astype(np.float32)
y = (X[:, 0] + rng.standard_normal(500) > 0).astype(int)
Xnan = X.copy()
Xnan[rng.random(X.shape) < 0.1] = np.nan
unsupported = [
    (lambda: DecisionTreeClassifier(class_weight="balanced", random_state=0), X, y, {}),
    (lambda: DecisionTreeClassifier(random_state=0), X, y, {"sample_weight": rng.random(500)}),
    (lambda: DecisionTreeClassifier(random_state=0), Xnan, y, {}),
    (lambda: RandomForestClassifier(n_estimators=3, random_state=0), Xnan, y, {}),
    (lambda: DecisionTreeClassifier(random_state=0), sp.csr_matrix(np.where(X > 0.5, X, 0)), y, {}),
    (lambda: DecisionTreeClassifier(max_leaf_nodes=20, random_state=0), X, y, {}),
    (lambda: DecisionTreeClassifier(monotonic_cst=[1, 0, 0, 0, 0, 0], random_state=0), X, y, {}),
    (lambda: DecisionTreeRegressor(random_state=0), X, X[:, 1].astype(float), {}),
    (lambda: RandomForestClassifier(n_estimators=3, class_weight="balanced_subsample", random_state=0), X, y, {}),
]
for i, (make, Xu, yu, kw) in enumerate(unsupported):
    r, ref, got = fit_both(make, Xu, yu, **kw)
    assert r == 0, f"unsupported case {i} ran on the kernel"
    if isinstance(ref, DecisionTreeRegressor):
        assert tree_state(ref.tree_) == tree_state(got.tree_)
    else:
        same(ref, got, Xu, f"unsupported case {i}")
    cases += 1

print(f"tree kernel conformance: {cases} cases identical, {runs} kernel runs")
