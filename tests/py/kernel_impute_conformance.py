"""Conformance of the SimpleImputer statistics kernel, run *under the coordinator*
(tests/kernels.test.ts).

For randomised float64 arrays (C and F order, one and several columns, 0-90% and 100% missing,
few and many distinct values, heavy ties, signed zeros, huge and tiny values, values near
overflow, NaN or a number as missing_values, keep_empty_features) SimpleImputer's median,
most_frequent and mean through stratum's substitution (shim -> coordinator -> Rust) must give
the statistics_ of scikit-learn's own `_dense_fit` bit for bit, the same transform output and
the same warnings, and every supported case must have run on the kernel. Unsupported calls
(float32, add_indicator, constant, a callable, non-contiguous arrays, sparse input, object
columns) stay with scikit-learn and are still identical. Prints one summary line; any mismatch
raises.
"""

import random
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.impute import SimpleImputer

from stratum_shim import kernels
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
substitute = SimpleImputer._dense_fit
original = substitute.__stratum_kernel_original__
kernels.MIN_IMPUTE_VALUES = kernels.MIN_IMPUTE_MEAN_VALUES = 0
kernels.IMPUTE_MEAN_CONTIGUOUS = True  # exactness of every layout (production leaves it to numpy)

rng = np.random.default_rng(0)
pyrng = random.Random(0)


def column(n):
    kind = pyrng.choice(["normal", "few", "ties", "zeros", "extreme", "ints", "overflow", "rounded"])
    if kind == "few":
        return rng.integers(0, pyrng.choice([1, 2, 3, 10]), n) / 7.0
    if kind == "ties":
        c = rng.standard_normal(n)
        c[rng.random(n) < 0.5] = 0.25
        return c
    if kind == "zeros":
        return rng.choice(pyrng.choice([[-0.0, 0.0, 1.0], [-0.0, 2.0], [0.0, -3.0], [-0.0, 0.0]]), n)
    if kind == "extreme":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    if kind == "ints":
        return rng.integers(-5, 5, n).astype(np.float64)
    if kind == "overflow":
        return rng.choice([np.finfo(np.float64).max, -np.finfo(np.float64).max, 1.0], n)
    if kind == "rounded":
        return np.round(rng.standard_normal(n) * 100, pyrng.choice([0, 1, 3]))
    return rng.standard_normal(n)


def array(n, k, missing, p_missing):
    X = np.column_stack([column(n) for _ in range(k)]) if k else np.empty((n, 0))
    mask = rng.random(X.shape) < p_missing
    if k and pyrng.random() < 0.2:
        mask[:, pyrng.randrange(k)] = True  # a column without any value
    X[mask] = missing
    if pyrng.random() < 0.5:
        X = np.asfortranarray(X)
    return X


def fit(imp_kwargs, X, use_original):
    """statistics_, transform output and warning messages of SimpleImputer(**imp_kwargs).fit(X)."""
    if use_original:
        SimpleImputer._dense_fit = original
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                imp = SimpleImputer(**imp_kwargs).fit(X)
                out = imp.transform(X)
                ind = imp.indicator_
                result = (imp.statistics_, out, None if ind is None else (type(ind).__name__, ind.features_))
            except Exception as e:  # noqa: BLE001 - compared with the original's
                result = (type(e).__name__, str(e))
    finally:
        SimpleImputer._dense_fit = substitute
    return result, [(type(x.message).__name__, str(x.message)) for x in w]


def same(a, b):
    if sp.issparse(a) or sp.issparse(b):
        return sp.issparse(a) and sp.issparse(b) and same(a.toarray(), b.toarray())
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind == "f":
            return a.tobytes() == b.tobytes()
        return bool(np.all((a == b) | (pd.isna(a) & pd.isna(b))))
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


cases = runs = 0


def check(imp_kwargs, X, expect_kernel):
    """expect_kernel: True (it runs), False (the call never reaches it), "reached" (it runs or
    declines: the jest test checks every decline's reason), None (either)."""
    global cases, runs
    before = dict(kernels.stats)
    got = fit(imp_kwargs, X, False)
    ran = kernels.stats["runs"] - before["runs"]
    declined = kernels.stats["declined"] - before["declined"]
    ref = fit(imp_kwargs, X, True)
    if not (same(got[0], ref[0]) and got[1] == ref[1]):
        raise AssertionError(f"mismatch for {imp_kwargs} on {X.shape} {X.dtype} C={getattr(X, 'flags', None) and X.flags.c_contiguous}:\n{got}\n!=\n{ref}")
    if expect_kernel is True and not ran or expect_kernel == "reached" and not (ran or declined):
        raise AssertionError(f"the kernel did not run for {imp_kwargs} on {X.shape}")
    if expect_kernel is False and (ran or declined):
        raise AssertionError(f"the kernel ran for an unsupported call {imp_kwargs}")
    cases += 1
    runs += ran


for i in range(240):
    n = pyrng.choice([1, 2, 3, 7, 8, 9, 100, 129, 1000, 5000])
    k = pyrng.choice([1, 1, 2, 3, 5])
    strategy = pyrng.choice(["median", "most_frequent", "mean"])
    if pyrng.random() < 0.75:
        missing, kw = np.nan, {}
    else:
        missing = pyrng.choice([-1.0, 0.0, -999, 3])
        kw = {"missing_values": missing}
    X = array(n, k, missing, pyrng.choice([0.0, 0.05, 0.5, 0.9]))
    if not np.isnan(missing):
        X[np.isnan(X)] = 1.5  # no NaN when missing_values is a number: sklearn rejects them
    kw.update(strategy=strategy, keep_empty_features=pyrng.random() < 0.3)
    check(kw, X, "reached")

# unsupported calls: the kernel is not asked, and the results stay identical
X = rng.standard_normal((300, 3))
X[rng.random(X.shape) < 0.3] = np.nan
check({"strategy": "median"}, X.astype(np.float32), False)
check({"strategy": "median", "add_indicator": True}, X, False)
check({"strategy": "constant", "fill_value": 7.0}, X, False)
check({"strategy": lambda c: float(np.min(c))}, X, False)
check({"strategy": "median"}, X[::2], None)  # a strided view: sklearn's validation copies it
check({"strategy": "median"}, sp.csr_matrix(np.nan_to_num(X)), False)
check({"strategy": "most_frequent"}, X.astype(object), False)
check({"strategy": "median"}, pd.DataFrame(X, columns=list("abc")), True)
check({"strategy": "mean"}, pd.DataFrame({"a": X[:, 0], "b": X[:, 1]}), True)
check({"strategy": "median", "missing_values": None}, X, False)
check({"strategy": "median"}, np.array([[np.inf, 1.0], [2.0, np.nan]] * 2), False)  # sklearn raises
check({"strategy": "median"}, np.empty((0, 3)), False)  # sklearn raises
check({"strategy": "median"}, array(50, 0, np.nan, 0.0), None)

# frames read through the store (the read_parquet kernel: columns are views of a store file,
# float64 columns with NaN too): their own columns go to the kernel by reference, for every
# strategy, the mean of contiguous columns included (it only runs on the kernel that way)
import os  # noqa: E402
import tempfile  # noqa: E402

kernels.IMPUTE_MEAN_CONTIGUOUS = False
with tempfile.TemporaryDirectory() as tmp:
    for i, (n, k) in enumerate([(5000, 1), (20000, 3), (3001, 5)]):
        frame = pd.DataFrame(array(n, k, np.nan, pyrng.choice([0.05, 0.5])), columns=[f"x{j}" for j in range(k)])
        path = os.path.join(tmp, f"f{i}.parquet")
        frame.to_parquet(path)
        read = pd.read_parquet(path)
        for strategy in ("median", "most_frequent", "mean"):
            before = kernels.stats["columns_by_ref"]
            check({"strategy": strategy}, read, "reached")  # (a mode of both zeros declines)
            assert kernels.stats["columns_by_ref"] - before == k, f"{strategy} on {n} x {k}: the columns were written"

print(f"impute kernel conformance: {cases} cases identical, {runs} kernel runs")
