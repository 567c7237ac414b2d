"""Conformance of the log_loss kernel, run *under the coordinator* (tests/kernels.test.ts).

For randomised problems (binary 1-D / (n, 1) / (n, 2) probabilities and 3-12 classes;
Dirichlet, one-hot, rounded and softmax rows; exact 0 and 1, tiny and subnormal
probabilities; int / uint8 / int32 / bool / str (object and numpy unicode) labels, numpy
arrays and Series, pandas str; C, F and strided probability arrays; sample weights with zeros
and negative values; normalize=False), `log_loss` through stratum's substitution (shim -> coordinator -> Rust) must
equal scikit-learn's own function (the original, not the substitute) bit for bit, warnings
and errors included, and every case scikit-learn answers without a warning must have run on
the kernel. Cases scikit-learn warns or raises about (rows not summing to 1, probabilities
outside [0, 1], NaN, one class, classes missing, weights summing to 0, NaN weights) are
declined by the kernel and still identical; calls outside the kernel's scope (labels=,
y_pred=, float labels, lists, float32, weights with normalize=False, ...) never reach it.
Prints one summary line; any mismatch raises.
"""

import os
import random
import warnings

import numpy as np
import pandas as pd
import sklearn.metrics
import sklearn.metrics._classification as classification

from stratum_shim import classify, kernels, logloss
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
# a user's call is traced first (the public name is the tracing wrapper), the kernel runs inside
substitute = sklearn.metrics.log_loss.__stratum_original__
original = substitute.__stratum_kernel_original__
# sklearn's own name stays the original (the neg_log_loss scorer refers to it; pickle finds it)
assert classification.log_loss is original
logloss.MIN_SAMPLES = 2

SEED = int(os.environ.get("STRATUM_CONFORMANCE_SEED", "0"))  # other seeds: a longer search
rng = np.random.default_rng(SEED)
pyrng = random.Random(SEED)


def probabilities(n, k):
    """An (n, k) float64 array of rows summing to 1 (up to rounding), of a random kind."""
    kind = pyrng.choice(["dirichlet", "peaked", "onehot", "rounded", "softmax", "zeros", "tiny"])
    if kind == "dirichlet":
        return rng.dirichlet(np.full(k, pyrng.choice([0.1, 1.0, 10.0])), n)
    if kind == "peaked":
        return rng.dirichlet(np.full(k, 0.01), n)
    if kind == "onehot":
        return np.eye(k)[rng.integers(0, k, n)]
    if kind == "rounded":
        p = np.round(rng.dirichlet(np.ones(k), n), pyrng.choice([1, 2, 3]))
        p[:, -1] = 0.0
        p[:, -1] = 1.0 - p.sum(axis=1)  # exact for decimals: rows may be within an ulp of 1
        return np.clip(p, 0.0, 1.0)
    if kind == "softmax":
        z = rng.standard_normal((n, k)) * pyrng.choice([1.0, 10.0, 50.0])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    p = rng.dirichlet(np.ones(k), n)
    small = {"zeros": 0.0, "tiny": pyrng.choice([1e-300, 5e-324, 1e-17, 2.2e-16, 3e-16])}[kind]
    mask = rng.random((n, k)) < 0.3
    mask[np.arange(n), rng.integers(0, k, n)] = False  # one value of each row stays
    p[mask] = small
    return p / p.sum(axis=1, keepdims=True)


def binary_proba(n):
    kind = pyrng.choice(["uniform", "exact", "tiny", "near1", "rounded"])
    if kind == "uniform":
        return rng.random(n)
    if kind == "exact":
        return rng.choice([0.0, 1.0, 0.5, 0.25], n)
    if kind == "tiny":
        return rng.choice([0.0, 5e-324, 1e-300, 1e-17, 2.2e-16, 1.1e-16, 1.0 - 1e-16, 1.0 - 2.2e-16, 0.3], n)
    if kind == "near1":
        return 1.0 - rng.random(n) * 1e-12
    return np.round(rng.random(n), 2)


def labels(n, k):
    """(y_true with every one of k classes present, whether it is a supported label type)."""
    codes = rng.integers(0, k, n)
    codes[:k] = np.arange(k)
    rng.shuffle(codes)
    kind = pyrng.choice(["int", "shifted", "wide", "int32", "uint8", "str", "unicode", "series", "strseries", "bool"])
    if kind == "bool" and k != 2:
        kind = "int"
    if kind == "int":
        return codes.astype(np.int64)
    if kind == "shifted":
        return codes * 3 - 5
    if kind == "wide":
        return codes.astype(np.int64) * (1 << 40) - (1 << 41)
    if kind == "int32":
        return codes.astype(np.int32)
    if kind == "uint8":
        return codes.astype(np.uint8)
    if kind == "bool":
        return codes.astype(bool)
    names = np.array(["", "b", "a", "B", "é", "10", "9", "zz", "x" * 30, "🙂", "a b", "C"][:k], dtype=object)
    rng.shuffle(names)
    if kind == "str":
        return names[codes]
    if kind == "unicode":
        return names[codes].astype(str)  # a numpy unicode array
    if kind == "series":
        return pd.Series(codes * 2 + 1)
    return pd.Series(names[codes], dtype="str")


def same(a, b):
    if isinstance(a, tuple) or isinstance(b, tuple):
        return a == b
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def call(fn, *args, **kwargs):
    """(result or the exception's type and message, warnings)"""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except Exception as e:  # the same error both ways
            out = (type(e).__name__, str(e))
    return out, [(x.category.__name__, str(x.message)) for x in w]


def check(tag, args, kwargs, expect_run):
    """Compare the substitute with the original on one call; whether the kernel answered."""
    before = kernels.stats["runs"]
    got = call(sklearn.metrics.log_loss, *args, **kwargs)
    with classify.disabled():  # scikit-learn alone, no label hooks either
        want = call(original, *args, **kwargs)
    ran = kernels.stats["runs"] - before
    assert got[1] == want[1], (tag, got[1], want[1])
    assert same(got[0], want[0]), (tag, got[0], want[0])
    if expect_run is not None and not want[1] and not isinstance(want[0], tuple):
        assert ran == expect_run, f"{tag}: kernel ran {ran} times, expected {expect_run}"
    return ran


cases = runs = declined = 0
for i in range(420):
    n = pyrng.choice([12, 40, 100, 1000, 5000, 30000])
    k = pyrng.choice([1, 1, 1, 2, 2, 3, 4, 5, 8, 12])
    k = min(k, max(1, n // 4 - 1))
    y = labels(n, max(k, 2))
    if k == 1:
        proba = binary_proba(n)
        if pyrng.random() < 0.2:
            proba = proba[:, None]  # (n, 1)
    else:
        proba = probabilities(n, k)
        layout = pyrng.choice(["C", "C", "F", "strided"])
        if layout == "F":
            proba = np.asfortranarray(proba)
        elif layout == "strided":
            wide = np.zeros((n, 2 * k))
            wide[:, ::2] = proba
            proba = wide[:, ::2]
    if pyrng.random() < 0.1 and k == 1:
        proba = pd.Series(proba.ravel())
    kwargs = {}
    expect = 1
    trouble = pyrng.random()
    if trouble < 0.05:  # rows not summing to 1: sklearn warns, the kernel declines
        proba = np.array(proba, dtype=np.float64) * 0.9
        expect = 0 if np.ndim(proba) == 2 and np.shape(proba)[1] > 1 else 1
    elif trouble < 0.08:  # outside [0, 1]: sklearn raises
        proba = np.array(proba, dtype=np.float64)
        proba.flat[rng.integers(0, proba.size)] = pyrng.choice([1.5, -0.1, np.inf])
    elif trouble < 0.10:  # NaN: check_array raises
        proba = np.array(proba, dtype=np.float64)
        proba.flat[rng.integers(0, proba.size)] = np.nan
    elif trouble < 0.12:  # one class only: sklearn raises
        y = np.zeros(n, dtype=np.int64)
    elif trouble < 0.14 and k > 2:  # a class missing from y_true: sklearn raises
        y = np.asarray(y)
        present = pd.unique(y)
        y = np.where(y == present[0], present[1], y).astype(y.dtype)
    if pyrng.random() < 0.3:
        w = rng.random(n) * pyrng.choice([1.0, 100.0, 1e-5])
        wk = pyrng.random()
        if wk < 0.15:
            w[rng.random(n) < 0.5] = 0.0
        elif wk < 0.25:
            w -= 0.3  # negative weights: np.average takes them
        elif wk < 0.3:
            w = np.zeros(n)  # sklearn raises
        elif wk < 0.35:
            w = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # odd n: sums to 1; even: ZeroDivisionError
        elif wk < 0.4:
            w[0] = np.nan
        if pyrng.random() < 0.2:
            w = pd.Series(w)
        kwargs["sample_weight"] = w
    if pyrng.random() < 0.3:
        kwargs["normalize"] = pyrng.choice([False, np.False_])
        if "sample_weight" in kwargs:
            expect = 0  # np.dot: left to sklearn
    ran = check(i, (y, proba), kwargs, expect)
    cases += 1
    runs += ran
    declined += ran == 0

# rows summing to 1 + d around np.isclose's bound (atol 1e-8 + rtol sqrt(eps) ~ 2.49e-8):
# sklearn warns beyond it; the kernel answers only clearly inside it
for d in [-3e-8, -2.5e-8, -2.49e-8, -2e-8, -1e-9, 1e-9, 2e-8, 2.4901161e-8, 2.5e-8, 3e-8]:
    y = rng.integers(0, 3, 2000)
    p = probabilities(2000, 3) * (1 + d)
    runs += check(f"sum 1{d:+g}", (y, p), {}, 1 if abs(d) <= 2e-8 else None)
    cases += 1

# weights so large that np.average overflows (NumPy warns): declined, identical
y = rng.integers(0, 2, 1000)
for w in (np.full(1000, 1e307), np.r_[np.full(999, 1.0), 1.7e308], np.full(1000, 1e-320)):
    runs += check(f"weights {w[-1]:g}", (y, rng.random(1000)), {"sample_weight": w}, None)
    cases += 1

# every Latin-1 class name and a 1M-sample problem
names = np.array([chr(c) for c in range(32, 256) if chr(c).isprintable()], dtype=object)
y = names[np.r_[np.arange(len(names)), rng.integers(0, len(names), 5000)]]
p = probabilities(len(y), len(names))
runs += check("latin-1", (y, p), {}, 1)
cases += 1
y = rng.integers(0, 5, 1_000_000)
runs += check("1M x 5", (y, probabilities(len(y), 5)), {}, 1)
runs += check("1M binary", (y % 2, rng.random(len(y))), {}, 1)
cases += 2

# calls that never reach the kernel, identical all the same
n = 500
y, proba = rng.integers(0, 2, n), rng.random(n)
left = [
    ((y, proba), {"labels": [0, 1]}),
    ((y, proba), {"labels": [1, 0]}),  # the ordering warning
    ((y,), {"y_pred": proba}),  # deprecated: a FutureWarning
    ((y, proba), {"y_pred": proba}),  # both: an error
    ((y.astype(np.float64), proba), {}),  # float labels
    ((list(y), proba), {}),
    ((y, list(proba)), {}),
    ((y, proba.astype(np.float32)), {}),
    ((y, proba), {"normalize": 1}),  # not a bool: InvalidParameterError
    ((y, proba), {"sample_weight": rng.integers(1, 3, n)}),  # int weights: a cast in the sum
    ((y, proba), {"sample_weight": 2.0}),
    ((y, proba), {"sample_weight": rng.random(n), "normalize": False}),  # np.dot
    ((y, proba[:-1]), {}),  # lengths differ
    ((y, proba), {"sample_weight": rng.random(n - 1)}),
    ((np.eye(2, dtype=int)[y], np.c_[1 - proba, proba]), {}),  # multilabel indicator y_true
    ((y, rng.random((n, 2, 2))), {}),  # 3-D
    ((y, np.zeros((n, 0))), {}),
    ((rng.integers(0, 300, n), rng.dirichlet(np.ones(300), n)), {}),  # classes > half the samples
    ((y[:5], proba[:5]), {}),
]
logloss.MIN_SAMPLES = 50
for args, kwargs in left:
    before = kernels.stats["runs"] + kernels.stats["declined"]
    check(str(kwargs)[:60], args, kwargs, None)
    assert kernels.stats["runs"] + kernels.stats["declined"] == before, f"reached the kernel: {kwargs}"
    cases += 1

print(f"logloss kernel conformance: {cases} cases identical, {runs} kernel runs, {declined} declined")
