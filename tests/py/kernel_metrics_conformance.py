"""Conformance of the Rust metric kernels, run *under the coordinator* (tests/kernels.test.ts).

For randomised binary problems (few and many distinct scores, heavy ties, signed zeros, huge
and tiny scores, imbalanced and balanced classes, labels 0/1, -1/1, 3/7, bools, int32 and
uint8, numpy arrays and Series), `roc_auc_score` through stratum's substitution (shim ->
coordinator -> Rust) must equal scikit-learn's own function bit for bit, and every supported
case must have run on the kernel. Unsupported calls (weights, max_fpr, one class, NaN, float
labels, string labels, multiclass) must be declined or left alone, and still identical,
errors and warnings included. Then the same for f1_score / precision_score / recall_score with
average="binary" (flipped predictions, positive labels other than 1, bools, Series).
Prints one summary line; any mismatch raises.
"""

import random
import warnings

import numpy as np
import pandas as pd
import sklearn.metrics
import sklearn.metrics._ranking as ranking

from stratum_shim import kernels
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
# a user's call is traced first (the public name is the tracing wrapper), the kernel runs inside
substitute = sklearn.metrics.roc_auc_score.__stratum_original__
original = substitute.__stratum_kernel_original__
# sklearn's own name stays the original, so that pickle finds the scorers' reference to it
assert ranking.roc_auc_score is original
kernels.MIN_SAMPLES = 2

rng = np.random.default_rng(0)
pyrng = random.Random(0)


def scores(n):
    kind = pyrng.choice(["uniform", "few", "ties", "zeros", "extreme", "normal", "ints"])
    if kind == "uniform":
        return rng.random(n)
    if kind == "few":
        return rng.integers(0, pyrng.choice([2, 3, 10]), n) / 7.0
    if kind == "ties":
        s = rng.random(n)
        s[rng.random(n) < 0.5] = 0.25
        return s
    if kind == "zeros":
        return rng.choice([-0.0, 0.0, 1e-300, -1e-300, 5e-324], n)
    if kind == "extreme":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    if kind == "ints":
        return rng.integers(-5, 5, n).astype(np.float64)
    return rng.standard_normal(n)


def labels(n):
    p = pyrng.choice([0.5, 0.1, 0.01, 0.9])
    pos = rng.random(n) < p
    pos[0], pos[-1] = True, False  # both classes present
    kind = pyrng.choice(["01", "-11", "37", "bool", "int32", "uint8"])
    if kind == "bool":
        return pos
    lo, hi = {"01": (0, 1), "-11": (-1, 1), "37": (3, 7), "int32": (0, 1), "uint8": (0, 1)}.get(kind)
    y = np.where(pos, hi, lo)
    return y.astype({"int32": np.int32, "uint8": np.uint8}.get(kind, np.int64))


def same(a, b):
    return (np.isnan(a) and np.isnan(b)) if isinstance(a, float) and np.isnan(a) else a == b and np.float64(a).tobytes() == np.float64(b).tobytes()


def call(fn, *args, **kwargs):
    """(result or the exception's type and message, warnings)"""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except Exception as e:  # the same error both ways
            out = (type(e).__name__, str(e))
    return out, [(x.category.__name__, str(x.message)) for x in w]


cases = runs = 0
for i in range(300):
    n = pyrng.choice([2, 3, 10, 100, 1000, 20000])
    y, s = labels(n), scores(n)
    if pyrng.random() < 0.2:
        y, s = pd.Series(y), pd.Series(s, index=np.arange(n)[::-1])
    before = kernels.stats["runs"]
    got, want = call(sklearn.metrics.roc_auc_score, y, s), call(original, y, s)
    assert got[1] == want[1], (i, got[1], want[1])
    assert same(got[0], want[0]), (i, n, got[0], want[0])
    assert kernels.stats["runs"] == before + 1, f"case {i} did not run on the kernel"
    cases += 1
    runs += 1

# calls the kernel leaves to scikit-learn, identical all the same
n = 500
y, s = labels(n), rng.random(n)
declined = [
    ((y, s), {"sample_weight": rng.random(n)}),
    ((y, s), {"max_fpr": 0.5}),
    ((np.zeros(n, dtype=np.int64), s), {}),  # one class: a warning and NaN
    ((y, np.where(rng.random(n) < 0.1, np.nan, s)), {}),  # NaN scores raise
    ((y.astype(np.float64), s), {}),  # float labels
    ((np.where(y == y.max(), "yes", "no"), s), {}),  # string labels
    ((rng.integers(0, 3, n), rng.random((n, 3))), {"multi_class": "ovr"}),
    ((y, s.astype(np.float32)), {}),
    ((list(y), list(s)), {}),
    ((y, s[:-1]), {}),  # lengths differ: sklearn's error
]
for args, kwargs in declined:
    before = kernels.stats["runs"]
    got, want = call(sklearn.metrics.roc_auc_score, *args, **kwargs), call(original, *args, **kwargs)
    assert got[1] == want[1], (kwargs, got[1], want[1])
    if isinstance(want[0], tuple):
        assert got[0] == want[0], (got[0], want[0])
    else:
        assert same(got[0], want[0]), (kwargs, got[0], want[0])
    assert kernels.stats["runs"] == before, f"declined case ran on the kernel: {kwargs}"
    cases += 1

# f1 / precision / recall with average="binary"
scores_fns = {name: getattr(sklearn.metrics, name) for name in kernels.BINARY_SCORES}
originals = {name: fn.__stratum_original__.__stratum_kernel_original__ for name, fn in scores_fns.items()}
import sklearn.metrics._classification as classification  # noqa: E402

assert all(getattr(classification, name) is originals[name] for name in originals)
for i in range(240):
    n = pyrng.choice([2, 5, 100, 1000, 20000])
    y = labels(n)
    flip = rng.random(n) < pyrng.choice([0.0, 0.1, 0.5, 1.0])
    values = np.unique(y)
    if y.dtype == np.bool_:
        pred, kwargs = y ^ flip, {}
    else:  # swap the two labels where flipped; the larger label is the positive one
        pred = np.where(flip, values.min() + values.max() - y, y).astype(y.dtype)
        kwargs = {} if values.max() == 1 else {"pos_label": int(values.max())}
    name = pyrng.choice(sorted(scores_fns))
    if pyrng.random() < 0.2:
        y, pred = pd.Series(y), pd.Series(pred)
    before = kernels.stats["runs"]
    got, want = call(scores_fns[name], y, pred, **kwargs), call(originals[name], y, pred, **kwargs)
    assert got[1] == want[1], (i, name, got[1], want[1])
    assert (got[0] == want[0]) if isinstance(want[0], tuple) else same(got[0], want[0]), (i, name, n, got[0], want[0])
    cases += 1
    ran = kernels.stats["runs"] - before
    # every case with a non-zero denominator runs on the kernel
    if not want[1] and not isinstance(want[0], tuple):
        assert ran == 1, f"{name} case {i} did not run on the kernel"
        runs += 1

n = 500
y = rng.integers(0, 2, n)
pred = rng.integers(0, 2, n)
for name in sorted(scores_fns):
    for args, kwargs in [
        ((y, pred), {"average": "macro"}),
        ((y, pred), {"sample_weight": rng.random(n)}),
        ((y, pred), {"zero_division": 0.0}),
        ((y, pred), {"pos_label": 2}),  # absent: sklearn raises
        ((rng.integers(0, 3, n), pred), {}),  # multiclass with average="binary": sklearn raises
        ((y.astype(np.float64), pred), {}),
        ((np.where(y == 1, "a", "b"), np.where(pred == 1, "a", "b")), {"pos_label": "a"}),
        ((list(y), list(pred)), {}),
    ]:
        before = kernels.stats["runs"]
        got, want = call(scores_fns[name], *args, **kwargs), call(originals[name], *args, **kwargs)
        assert got[1] == want[1], (name, kwargs, got[1], want[1])
        assert (got[0] == want[0]) if isinstance(want[0], tuple) else same(got[0], want[0]), (name, kwargs, got[0], want[0])
        assert kernels.stats["runs"] == before, f"{name} {kwargs} ran on the kernel"
        cases += 1
    # nothing predicted positive: precision's denominator is zero (sklearn warns, applies
    # zero_division); recall and f1 are defined and run on the kernel
    before = kernels.stats["runs"]
    zeros = np.zeros(n, dtype=np.int64)
    got, want = call(scores_fns[name], y, zeros), call(originals[name], y, zeros)
    assert got[1] == want[1] and same(got[0], want[0]), (name, got, want)
    assert kernels.stats["runs"] == before + (name != "precision_score"), name
    cases += 1

print(f"metrics kernel conformance: {cases} cases identical, {runs} kernel runs")
