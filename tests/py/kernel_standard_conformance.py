"""Conformance of the StandardScaler statistics kernel, run *under the coordinator*
(tests/kernels.test.ts).

StandardScaler's ``partial_fit`` (hence ``fit`` and ``fit_transform``) computes its mean and
variance in ``_incremental_mean_and_var`` (its name in ``sklearn.preprocessing._data``), which
stratum substitutes: on a float64 C-contiguous array of several columns, or a contiguous column
(F order, one column) holding NaN among its first 1000 rows, the kernel returns the per-column
sum, count, correction and sum of squares in NumPy's summation order and the shim finishes
with NumPy. For randomised arrays (1 to 131075 rows: around the pairwise summation's blocks of
8 and 128 and the parallel split of long columns; C and F order; one to five columns; 0-90%
and 100% missing; normal values, huge offsets with small noise, extreme magnitudes, values
near overflow, signed zeros, constant columns, rounded values, small integers) and every
with_mean / with_std, fit / fit_transform / two or three partial_fit calls on consecutive
chunks (with different NaN patterns) must give scikit-learn's own mean_, var_, scale_,
n_samples_seen_ bit for bit, the same fitted attributes, the same transform and
inverse_transform outputs and the same warnings (or the same exception), and every supported
call must have run on the kernel (or been declined by it, for the reasons the jest test
checks: a column without values, an overflow). Unsupported calls (float32, sparse input,
sample weights, strided views, infinite values, empty arrays) stay with NumPy and are still
identical. Prints one summary line; any mismatch raises.
"""

import random
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn.preprocessing._data as D
from sklearn.preprocessing import StandardScaler

from stratum_shim import scalers
from stratum_shim.dispatch import RT

from sklearn_compare import describe, same

assert RT.client is not None, "run me under the coordinator"
installed = D._incremental_mean_and_var  # the tracing wrapper around the substitute, if traced
substitute = getattr(installed, "__stratum_original__", installed)
original = substitute.__stratum_kernel_original__
assert original is not substitute, "_incremental_mean_and_var is not substituted"
# small arrays reach the kernel too (F order still needs a NaN in its first 1000 rows, and
# with_std=False F arrays never reach it)
scalers.MIN_STANDARD_VALUES = scalers.MIN_STANDARD_LARGE_VALUES = 0
# every traced fit and transform computes here: a memo hit (the reference fit is the same call
# as the one before it) would skip the substitution and the reference alike
RT.min_memo_rows = 1 << 62

SEED = 0
N_RANDOM = 320
N_PARTIAL = 80
rng = np.random.default_rng(SEED)
pyrng = random.Random(SEED)
MAX = np.finfo(np.float64).max
ROWS = [1, 2, 3, 7, 8, 9, 16, 127, 128, 129, 1000, 1001, 5000, 20000]
LARGE_ROWS = [70000, 131075]  # >= 65536 rows: the kernel splits a column's sum in parallel


def column(n):
    """(values, kind) of one random column of n rows."""
    kind = pyrng.choice(["normal"] * 3 + ["offset"] * 2 + ["extreme", "overflow", "zeros", "constant", "rounded", "ints"])
    if kind == "offset":  # catastrophic cancellation: summation order matters most
        return 1e8 + rng.standard_normal(n) * pyrng.choice([1e-6, 1e-3, 1.0]), kind
    if kind == "extreme":
        e = pyrng.choice([300, 150])  # beyond 1e154 the squares overflow: declined
        return rng.standard_normal(n) * 10.0 ** rng.integers(-e, e, n), kind
    if kind == "overflow":
        if pyrng.random() < 0.5:
            return rng.choice([MAX, -MAX, 1.0], n), kind
        return MAX * rng.uniform(0.3, 1.0, n), kind
    if kind == "zeros":
        return rng.choice(pyrng.choice([[-0.0, 0.0, 1.0], [-0.0, 2.0], [0.0, -3.0], [-0.0, 0.0], [-0.0]]), n), kind
    if kind == "constant":
        return np.full(n, pyrng.choice([0.1, 1e8 + 0.3, -3.7, 1 / 3, 0.0, -0.0, 1e300, 5e-324])), kind
    if kind == "rounded":
        return np.round(rng.standard_normal(n) * pyrng.choice([1, 100, 1e6]), pyrng.choice([0, 1, 3])), kind
    if kind == "ints":
        return rng.integers(-5, 5, n).astype(np.float64), kind
    return rng.standard_normal(n) * pyrng.choice([1.0, 1e-3, 1e5]) + pyrng.choice([0.0, 3.0, -1e4]), kind


def array(n, k, p_missing, order=None):
    """A random float64 array of n rows and k columns in order "C" or "F" (random if None)."""
    X = np.column_stack([column(n)[0] for _ in range(k)])
    X[rng.random(X.shape) < p_missing] = np.nan
    if pyrng.random() < 0.12:
        X[:, pyrng.randrange(k)] = np.nan  # a column without any value: NumPy warns
    order = order or pyrng.choice("CF")
    if order == "F":
        if pyrng.random() < 0.75:  # a NaN among the first 1000 rows: F arrays reach the kernel
            X[pyrng.randrange(min(n, 1000)), pyrng.randrange(k)] = np.nan
        return np.asfortranarray(X)
    return np.ascontiguousarray(X)


def params():
    return {"with_mean": pyrng.random() < 0.8, "with_std": pyrng.random() < 0.8}


def fit(kw, chunks, use_original, mode, sample_weight=None):
    """(result, warnings, [(kernel runs, declines) per fitting call]) of StandardScaler(**kw)
    fitted on `chunks` (mode "fit" / "fit_transform": one chunk; "partial": one partial_fit per
    chunk)."""
    if use_original:
        D._incremental_mean_and_var = original
    calls = []
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                est = StandardScaler(**kw)
                weights = {} if sample_weight is None else {"sample_weight": sample_weight}

                def counted(method, X):
                    """method(X, **weights), with the kernel's (runs, declines) it caused."""
                    before = dict(scalers.stats)
                    try:
                        return method(X, **weights)
                    finally:
                        calls.append((scalers.stats["runs"] - before["runs"], scalers.stats["declined"] - before["declined"]))

                outs = []
                if mode == "partial":
                    for c in chunks:
                        counted(est.partial_fit, c)
                elif mode == "fit_transform":
                    outs.append(counted(est.fit_transform, chunks[0]))
                else:
                    counted(est.fit, chunks[0])
                outs += [est.transform(c) for c in chunks]
                invs = [est.inverse_transform(o) for o in outs]
                result = (
                    sorted(vars(est)),
                    est.mean_,
                    est.var_,
                    est.scale_,
                    est.n_samples_seen_,
                    est.n_features_in_,
                    getattr(est, "feature_names_in_", None),
                    outs,
                    invs,
                )
            except Exception as e:  # noqa: BLE001 - compared with the original's
                result = (type(e).__name__, str(e))
    finally:
        D._incremental_mean_and_var = installed
    return result, [(type(x.message).__name__, str(x.message)) for x in w], calls


def numpy_overflows(V):
    """Whether NumPy's own sums of the float64 array V have a column without values or an
    infinite result (the kernel's reasons to decline)."""
    with np.errstate(all="ignore"):
        nan = np.isnan(V)
        count = (~nan).sum(axis=0)
        if (count == 0).any():
            return True
        s = np.nansum(V, axis=0)
        t = s / count
        d = np.where(nan, 0.0, V - t)
        return not all(np.isfinite(v).all() for v in (s, t, d.sum(axis=0), (d * d).sum(axis=0)))


def expectation(kw, V):
    """What one partial_fit on the validated float64 ndarray V should do with the kernel."""
    if not (kw.get("with_mean", True) or kw.get("with_std", True)) or V.shape[0] == 0:
        return False  # no statistic asked for, or sklearn raises
    if V.flags.c_contiguous and V.shape[1] > 1:
        pass
    elif V.flags.f_contiguous:
        if not kw.get("with_std", True) or not np.isnan(V[:1000]).any():
            return False
    else:
        return None
    return "reached" if numpy_overflows(V) else True


cases = runs = declines = 0


def check(kw, chunks, expect, mode="fit", sample_weight=None):
    """expect: per chunk (one for "fit" / "fit_transform") True (the kernel runs), False (the
    call never reaches it), "reached" (it runs or declines: the jest test checks every
    decline's reason), None (either)."""
    global cases, runs, declines
    if not isinstance(chunks, list):
        chunks = [chunks]
    if not isinstance(expect, list):
        expect = [expect] * len(chunks)
    got = fit(kw, chunks, False, mode, sample_weight)
    ref = fit(kw, chunks, True, mode, sample_weight)
    where = f"{kw} {mode} on [{'; '.join(describe(c) for c in chunks)}]"
    if not (same(got[0], ref[0]) and got[1] == ref[1]):
        raise AssertionError(f"mismatch for {where} (kernel runs/declines per call {got[2]}):\n{got[:2]}\n!=\n{ref[:2]}")
    if any(r or d for r, d in ref[2]):
        raise AssertionError(f"the kernel ran with the original restored for {where}")
    for (ran, declined), e in zip(got[2], expect):
        if ran + declined > 1:
            raise AssertionError(f"the kernel was asked {ran + declined} times for one call {where}")
        if e is True and not ran or e == "reached" and not (ran or declined):
            raise AssertionError(f"the kernel did not run for {where} (runs/declines per call {got[2]}, expected {expect})")
        if e is False and (ran or declined):
            raise AssertionError(f"the kernel ran for an unsupported call {where} (runs/declines per call {got[2]})")
        runs += ran
        declines += declined
    cases += 1


# randomised arrays and parameters: fit / fit_transform
for i in range(N_RANDOM):
    n = pyrng.choice(ROWS * 3 + ROWS[:10] * 2) if pyrng.random() > 0.02 else pyrng.choice(LARGE_ROWS)
    k = pyrng.choice([1, 1, 2, 3, 4, 5])
    X = array(n, k, pyrng.choice([0.0, 0.05, 0.5, 0.9]))
    kw = params()
    check(kw, X, expectation(kw, X), mode="fit_transform" if pyrng.random() < 0.25 else "fit")

# randomised partial_fit sequences: 2-3 consecutive chunks, each its own order and NaN pattern
for i in range(N_PARTIAL):
    k = pyrng.choice([1, 2, 3, 5])
    chunks = [array(pyrng.choice(ROWS[:12] + [1000, 5000]), k, pyrng.choice([0.0, 0.05, 0.5, 0.9])) for _ in range(pyrng.choice([2, 3]))]
    kw = params()
    check(kw, chunks, [expectation(kw, c) for c in chunks], mode="partial")

# the parallel split of long columns, in both orders, with and without NaN
for n in LARGE_ROWS:
    for order in "CF":
        X = array(n, 3, 0.05, order)
        X[0, 0] = np.nan
        check({}, X, expectation({}, X))
        X = np.ascontiguousarray(np.column_stack([1e8 + rng.standard_normal(n) * 1e-3, rng.standard_normal(n)]))
        X[rng.random(X.shape) < 0.3] = np.nan
        X = X if order == "C" else np.asfortranarray(X)
        check({}, X, True)
        check({}, np.ascontiguousarray(X[:, :1]), True, mode="fit_transform")  # one contiguous column
        check({"with_std": False}, X, True if order == "C" else False)

# fixed cases: every boundary of the pairwise summation, one contiguous column (with NaN first)
for n in [7, 8, 9, 15, 16, 17, 127, 128, 129, 135, 136, 1023, 1024, 1025, 8191, 8192, 8193, 65535, 65536, 65537]:
    x = 1e8 + rng.standard_normal(n) * 1e-2
    x[0] = np.nan
    check({}, x[:, None], True)
    X = np.column_stack([x, rng.standard_normal(n) * 1e-4 + 1e-4 * np.arange(n)])
    check({}, X, True)  # C: row after row
    check({}, np.asfortranarray(X), True)  # F: pairwise down each column

# signed zeros and constant columns (var 0: _is_constant_feature / _handle_zeros_in_scale)
zeros = np.full((200, 3), -0.0)
zeros[5, 1] = np.nan
check({}, zeros, True)
check({}, np.asfortranarray(zeros), True)
check({"with_std": False}, zeros, True)
const = np.column_stack([np.full(1000, 1e8 + 0.1), np.full(1000, 0.1), np.full(1000, -1e-300)])
const[::7, 0] = np.nan
check({}, const, True)
check({}, np.asfortranarray(const), True)

# the kernel's reasons to decline: a column without values, an overflow
all_nan = rng.standard_normal((300, 3))
all_nan[:, 1] = np.nan
check({}, all_nan, "reached")
check({}, np.asfortranarray(all_nan), "reached")
check({"with_mean": False, "with_std": False}, all_nan, False)  # no statistic asked for
check({}, np.column_stack([np.tile([MAX, MAX, 1.0], 100), rng.standard_normal(300)]), "reached")  # the sum overflows
check({}, np.column_stack([np.tile([MAX, -MAX, np.nan], 100), rng.standard_normal(300)]), "reached")  # X - T overflows
check({}, np.column_stack([np.tile([1e200, -1e200], 150), rng.standard_normal(300)]), "reached")  # the squares overflow
check({"with_std": False}, np.column_stack([np.tile([1e200, -1e200], 150), rng.standard_normal(300)]), "reached")

# partial_fit: a column without values in one chunk only (a zero last count, then a zero new one)
a = rng.standard_normal((500, 3))
a[:, 2] = np.nan
b = rng.standard_normal((300, 3))
b[rng.random(b.shape) < 0.2] = np.nan
check({}, [a, b], ["reached", True], mode="partial")
check({}, [b, a], [True, "reached"], mode="partial")
check({}, [b, np.asfortranarray(a), np.asfortranarray(b)], [True, "reached", True], mode="partial")
check({"with_std": False}, [b, b[::-1].copy(), b], True, mode="partial")

# pandas frames: sklearn's validation gives an F-ordered float64 array (feature names kept)
X = rng.standard_normal((1000, 3)) * [1, 1e3, 1e-3] + [0, 1e8, 0]
X[rng.random(X.shape) < 0.2] = np.nan
X[0, 0] = np.nan
check({}, pd.DataFrame(X, columns=["a", "b", "c"]), True)
check({}, pd.DataFrame({"x": X[:, 0], "y": X[:, 2]}), True, mode="fit_transform")
check({"with_mean": False}, pd.DataFrame({"only": X[:, 1]}), True)
check({"with_std": False}, pd.DataFrame(X, columns=["a", "b", "c"]), False)  # F: the mean alone stays with NumPy
check({}, pd.DataFrame(np.nan_to_num(X), columns=["a", "b", "c"]), False)  # F without NaN stays with NumPy
check({}, [pd.DataFrame(X[:600], columns=["a", "b", "c"]), pd.DataFrame(X[600:], columns=["a", "b", "c"])], [True, None], mode="partial")

# unsupported calls: the kernel is not asked (or may be), and the results stay identical
check({}, X.astype(np.float32), False)
check({"with_mean": False}, sp.csr_matrix(np.nan_to_num(X)), False)
check({"with_mean": False}, sp.csc_matrix(np.nan_to_num(X)), False)
check({}, sp.csr_matrix(np.nan_to_num(X)), False)  # sklearn raises: cannot center sparse matrices
check({}, X, False, sample_weight=rng.random(1000))
check({"with_std": False}, np.ascontiguousarray(X), False, mode="fit_transform", sample_weight=np.ones(1000))
check({}, np.repeat(X, 2, axis=0)[::2], None)  # a strided view
check({}, rng.integers(-50, 50, (1000, 2)), None)  # validation converts to float64
check({}, np.asfortranarray(rng.integers(-50, 50, (1000, 2))), None)
check({}, X.astype(object), None)
check({}, X[:, 0][:, None], None)  # a strided column with a new axis: neither C nor F contiguous
check({}, np.where(rng.random(X.shape) < 0.01, np.inf, X), False)  # sklearn raises
check({}, np.empty((0, 3)), False)  # sklearn raises

# direct calls of the substituted function (every caller of the name, first pass and later ones)
Y = rng.standard_normal((2000, 4)) * [1, 1e-3, 1e3, 1] + [0, 1e8, 0, -5]
Y[rng.random(Y.shape) < 0.1] = np.nan
for args in [(0.0, 0.0, 0), (0.0, None, 0), (np.arange(4.0), np.ones(4), np.array([5, 0, 7, 1])), (np.zeros(4), None, np.full(4, 3.0))]:
    before = dict(scalers.stats)
    with warnings.catch_warnings(record=True) as w1:
        warnings.simplefilter("always")
        got = D._incremental_mean_and_var(Y, *args)
    assert scalers.stats["runs"] == before["runs"] + 1, f"the kernel did not run for a direct call {args}"
    with warnings.catch_warnings(record=True) as w2:
        warnings.simplefilter("always")
        ref = original(Y, *args)
    if not (same(list(got), list(ref)) and [str(x.message) for x in w1] == [str(x.message) for x in w2]):
        raise AssertionError(f"direct call {args}: {got} != {ref}")
    runs += 1
    cases += 1

print(f"standard kernel conformance: {cases} cases identical, {runs} kernel runs")
