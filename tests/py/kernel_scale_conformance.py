"""Conformance of the RobustScaler statistics kernel, run *under the coordinator*
(tests/kernels.test.ts).

For randomised float64 arrays (C and F order, one to five columns, 600 rows and more, 0-90% and
100% missing, few and many distinct values, heavy ties, signed zeros, huge and tiny values,
values near overflow, rounded values holding both 0.0 and -0.0) and every parameter
(with_centering, with_scaling, quantile ranges from (0, 100) to (50, 50), unit_variance),
RobustScaler's fit through stratum's substitution (its np.nanmedian / np.nanpercentile answered
by shim -> coordinator -> Rust) must give scikit-learn's own center_ and scale_ bit for bit, the
same fitted attributes, the same transform output and the same warnings (or the same exception),
and every supported case must have run on the kernel (or been declined by it, for the reasons
the jest test checks: a column without values, an overflow, a statistic that depends on the sign
of a zero). Arrays under 600 rows and unsupported calls (float32, sparse input, strided views,
infinite values, empty arrays, an invalid quantile_range) stay with NumPy and are still
identical; outside a RobustScaler fit np.nanmedian / np.nanpercentile are NumPy's. Prints one
summary line; any mismatch raises.
"""

import random
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import RobustScaler

from stratum_shim import scalers
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
installed = vars(RobustScaler)["fit"]  # the tracing wrapper around the substitute, if traced
substitute = getattr(installed, "__stratum_original__", installed)
original = substitute.__stratum_kernel_original__
scalers.MIN_VALUES = 0

rng = np.random.default_rng(0)
pyrng = random.Random(0)
MAX = np.finfo(np.float64).max
RISKY = {"overflow", "zeros", "rounded"}  # kinds whose statistics the kernel may decline


def column(n):
    """(values, kind) of one random column of n rows."""
    kind = pyrng.choice(["normal", "few", "ties", "zeros", "extreme", "ints", "overflow", "rounded"])
    if kind == "few":
        return rng.integers(0, pyrng.choice([1, 2, 3, 10]), n) / 7.0, kind
    if kind == "ties":
        c = rng.standard_normal(n)
        c[rng.random(n) < 0.5] = 0.25
        return c, kind
    if kind == "zeros":
        return rng.choice(pyrng.choice([[-0.0, 0.0, 1.0], [-0.0, 2.0], [0.0, -3.0], [-0.0, 0.0]]), n), kind
    if kind == "extreme":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n), kind
    if kind == "ints":
        return rng.integers(-5, 5, n).astype(np.float64), kind
    if kind == "overflow":
        return rng.choice([MAX, -MAX, 1.0], n), kind
    if kind == "rounded":
        return np.round(rng.standard_normal(n) * pyrng.choice([1, 100]), pyrng.choice([0, 1, 3])), kind
    return rng.standard_normal(n), kind


def array(n, k, p_missing):
    """(X, whether the kernel may decline it)."""
    cols = [column(n) for _ in range(k)]
    X = np.column_stack([c for c, _ in cols])
    risky = any(kind in RISKY for _, kind in cols)
    X[rng.random(X.shape) < p_missing] = np.nan
    if pyrng.random() < 0.15:
        X[:, pyrng.randrange(k)] = np.nan  # a column without any value: NumPy warns
    risky = risky or bool(np.isnan(X).all(axis=0).any())
    if pyrng.random() < 0.5:
        X = np.asfortranarray(X)
    return X, risky


def params():
    qr = pyrng.choice([(25.0, 75.0), (10.0, 90.0), (0.0, 100.0), (0, 100), (5.5, 95.5), (50.0, 50.0), (33.3, 66.7), (1e-9, 99.999999)])
    return {
        "with_centering": pyrng.random() < 0.8,
        "with_scaling": pyrng.random() < 0.8,
        "quantile_range": qr,
        "unit_variance": pyrng.random() < 0.3,
    }


def fit(kw, X, use_original, fit_transform=False):
    """The fitted attributes, transform output and warnings of RobustScaler(**kw).fit(X)."""
    if use_original:
        RobustScaler.fit = original
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                est = RobustScaler(**kw)
                out = est.fit_transform(X) if fit_transform else est.fit(X).transform(X)
                result = (
                    sorted(vars(est)),
                    est.center_,
                    est.scale_,
                    est.n_features_in_,
                    getattr(est, "feature_names_in_", None),
                    out,
                )
            except Exception as e:  # noqa: BLE001 - compared with the original's
                result = (type(e).__name__, str(e))
    finally:
        RobustScaler.fit = installed
    return result, [(type(x.message).__name__, str(x.message)) for x in w]


def same(a, b):
    if sp.issparse(a) or sp.issparse(b):
        return sp.issparse(a) and sp.issparse(b) and a.format == b.format and same(a.toarray(), b.toarray())
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind == "f":
            return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        return a.tolist() == b.tolist()
    if isinstance(a, (tuple, list)):
        return isinstance(b, type(a)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def describe(X):
    if sp.issparse(X):
        return f"{type(X).__name__} {X.shape}"
    if isinstance(X, pd.DataFrame):
        return f"DataFrame {X.shape} {list(X.dtypes)}"
    return f"{X.shape} {X.dtype} C={X.flags.c_contiguous} F={X.flags.f_contiguous}"


cases = runs = declines = 0


def check(kw, X, expect_kernel, fit_transform=False):
    """expect_kernel: True (it runs), False (the call never reaches it), "reached" (it runs or
    declines: the jest test checks every decline's reason), None (either)."""
    global cases, runs, declines
    before = dict(scalers.stats)
    got = fit(kw, X, False, fit_transform)
    ran = scalers.stats["runs"] - before["runs"]
    declined = scalers.stats["declined"] - before["declined"]
    ref = fit(kw, X, True, fit_transform)
    if not (same(got[0], ref[0]) and got[1] == ref[1]):
        raise AssertionError(f"mismatch for {kw} on {describe(X)} (kernel runs {ran}, declined {declined}):\n{got}\n!=\n{ref}")
    if ran + declined > 1:
        raise AssertionError(f"the kernel was asked {ran + declined} times for one fit {kw} on {describe(X)}")
    if expect_kernel is True and not ran or expect_kernel == "reached" and not (ran or declined):
        raise AssertionError(f"the kernel did not run for {kw} on {describe(X)} (declined {declined})")
    if expect_kernel is False and (ran or declined):
        raise AssertionError(f"the kernel ran for an unsupported call {kw} on {describe(X)}")
    cases += 1
    runs += ran
    declines += declined


def expectation(kw, n, risky):
    if n < 600 or not (kw["with_centering"] or kw["with_scaling"]):
        return False  # NumPy's small-array path, or no statistic asked for
    return "reached" if risky else True


# randomised arrays and parameters
for i in range(300):
    n = pyrng.choice([600, 601, 602, 700, 1000, 1001, 5000] * 4 + [1, 2, 3, 50, 599])
    X, risky = array(n, pyrng.choice([1, 1, 2, 3, 4, 5]), pyrng.choice([0.0, 0.05, 0.5, 0.9]))
    kw = params()
    check(kw, X, expectation(kw, n, risky), fit_transform=pyrng.random() < 0.2)

# fixed cases for each of the kernel's reasons to decline, and for what it must not decline
both_zeros = np.tile([-0.0, 0.0, 1.0, 2.0], 200).reshape(-1, 1)  # 25%: a zero's sign is the partition's
check({"quantile_range": (25.0, 75.0)}, both_zeros, "reached")
check({"with_scaling": False}, both_zeros, True)  # a median of zeros is 0.0 whichever the sign
check({"quantile_range": (50.0, 90.0)}, np.tile([-0.0, 1.0, 0.0, 5.0], 200).reshape(-1, 1), True)  # a 1.0 beside the zero hides its sign
check({}, np.tile([-0.0, -0.0, -0.0, 1.0], 200).reshape(-1, 1), True)  # one sign: no ambiguity
check({}, np.column_stack([np.tile([MAX, MAX, 1.0], 300), rng.standard_normal(900)]), "reached")  # median overflows
check({"with_centering": False, "quantile_range": (50.0, 75.0)}, np.tile([-MAX, MAX], 400).reshape(-1, 1), "reached")  # MAX - -MAX overflows
all_nan = rng.standard_normal((700, 3))
all_nan[:, 1] = np.nan
check({}, all_nan, "reached")  # All-NaN slice: NumPy warns
check({}, np.asfortranarray(all_nan), "reached")
check({"with_centering": False, "with_scaling": False}, all_nan, False)  # no statistic asked for

# pandas frames: sklearn's validation gives an F-ordered float64 array (feature names kept)
X = rng.standard_normal((1000, 3))
X[rng.random(X.shape) < 0.2] = np.nan
check({}, pd.DataFrame(X, columns=["a", "b", "c"]), True)
check({"quantile_range": (10.0, 90.0), "unit_variance": True}, pd.DataFrame({"x": X[:, 0], "y": X[:, 2]}), True)
check({"with_centering": False}, pd.DataFrame({"only": X[:, 1]}), True, fit_transform=True)

# unsupported calls: the kernel is not asked (or may be), and the results stay identical
check({}, X.astype(np.float32), False)
check({"with_centering": False}, sp.csc_matrix(np.nan_to_num(X)), False)
check({}, sp.csc_matrix(np.nan_to_num(X)), False)  # sklearn raises: cannot center sparse matrices
check({}, rng.integers(-50, 50, (1000, 2)), None)  # validation converts to float64
check({}, np.repeat(X, 2, axis=0)[::2], None)  # a strided view: validation may copy it
check({}, X.astype(object), None)  # validation converts to float64
check({"with_centering": False}, X[:, 0][:, None], None)  # a strided column with a new axis: neither C nor F contiguous
check({"with_centering": False}, np.ascontiguousarray(X[:, 0])[:, None], True)  # a new axis of stride 0: still its only column
check({}, np.where(rng.random(X.shape) < 0.01, np.inf, X), False)  # sklearn raises
check({}, np.empty((0, 3)), False)  # sklearn raises
check({"quantile_range": (120, 10)}, X, False)  # sklearn raises
check({"quantile_range": (75.0, 25.0)}, X, False)  # sklearn raises: q_min > q_max

# a NaN-free frame read through the store: the kernel gets the frame's own columns, by
# reference into the store file (nothing written), and the results stay identical
import os
import tempfile

from stratum_shim import bridge

frame_path = os.path.join(tempfile.mkdtemp(), "frame.parquet")
pd.DataFrame(np.round(rng.standard_normal((5000, 3)) * [1, 10, 100], 2), columns=["a", "b", "c"]).to_parquet(frame_path)
F = pd.read_parquet(frame_path)
sent = scalers.frame_input(np.asarray(F), "F", F)
assert all(bridge.column_ref(c.chunk(0)) is not None for c in sent.columns), "the frame's columns do not go by reference"
check({}, F, "reached")
check({"quantile_range": (10.0, 90.0), "with_centering": False}, F, "reached", fit_transform=True)
os.unlink(frame_path)

# outside a RobustScaler fit the numpy functions are numpy's
Y = rng.standard_normal((800, 3))
Y[rng.random(Y.shape) < 0.1] = np.nan
assert np.nanmedian is not np.nanmedian.__stratum_kernel_original__, "np.nanmedian is not substituted"
before = dict(scalers.stats)
for got, ref in (
    (np.nanmedian(Y, axis=0), np.nanmedian.__stratum_kernel_original__(Y, axis=0)),
    (np.nanmedian(Y), np.nanmedian.__stratum_kernel_original__(Y)),
    (np.nanpercentile(Y[:, 1], (25.0, 75.0)), np.nanpercentile.__stratum_kernel_original__(Y[:, 1], (25.0, 75.0))),
    (np.nanpercentile(Y, 30.0, axis=0), np.nanpercentile.__stratum_kernel_original__(Y, 30.0, axis=0)),
):
    if not same(np.asarray(got), np.asarray(ref)):
        raise AssertionError(f"numpy outside a fit: {got!r} != {ref!r}")
assert scalers.stats == before, "the kernel ran outside a RobustScaler fit"

print(f"scale kernel conformance: {cases} cases identical, {runs} kernel runs")
