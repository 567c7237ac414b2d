"""Conformance of the MinMaxScaler statistics kernel, run *under the coordinator*
(tests/kernels.test.ts).

MinMaxScaler's ``partial_fit`` (hence ``fit`` and ``fit_transform``) takes its per-column minima
and maxima from ``_array_api._nanmin`` / ``_nanmax`` (names in ``sklearn.utils._array_api``),
which stratum answers from the kernel ``minmax_stats`` for the array partial_fit validated, when
it is float64, C-contiguous and of 2 to MAX_MINMAX_COLS columns. For randomised arrays (1 to
300001 rows: around the kernel's lanes of 32 values and its parallel blocks; C and F order; 1
to 17 columns; 0-90% and 100% missing, NaN of other bit patterns; normal values, huge and tiny
magnitudes, subnormals, values at the float64 maximum, signed zeros, constant columns, rounded
values, small integers), every feature_range (incl. ranges whose width overflows), clip, copy,
and fit / fit_transform / two or three partial_fit calls on consecutive chunks, the substituted
run must give scikit-learn's own data_min_, data_max_, data_range_, scale_, min_,
n_samples_seen_ bit for bit, the same fitted attributes, the same transform and
inverse_transform outputs and the same warnings (category, message, file and line: "All-NaN
slice encountered") or the same exception. Each supported call must have run on the kernel, or
been declined by it exactly where this script predicts it (a zero extreme in a column holding
both 0.0 and -0.0, a column without values whose NaN differ); unsupported calls (F order, one
column, float32, sparse input, strided views, infinite values, empty arrays, a bad
feature_range, too many columns) stay with NumPy and are still identical. Outside a
MinMaxScaler fit ``_nanmin`` / ``_nanmax`` are scikit-learn's (MaxAbsScaler uses _nanmax).
Prints one summary line; any mismatch raises.
"""

import copy
import random
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn.utils._array_api as A
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler

from stratum_shim import scalers
from stratum_shim.dispatch import RT

from sklearn_compare import describe, same

assert RT.client is not None, "run me under the coordinator"
installed = (A._nanmin, A._nanmax)
originals = tuple(getattr(f, "__stratum_kernel_original__", None) for f in installed)
assert all(o is not None and o is not f for o, f in zip(originals, installed)), "_nanmin / _nanmax are not substituted"
# small and wide arrays reach the kernel too
scalers.MIN_MINMAX_ROWS = 0
scalers.MAX_MINMAX_COLS = 40
# every traced fit and transform computes here: a memo hit would skip the substitution and the
# reference alike
RT.min_memo_rows = 1 << 62

SEED = 0
N_RANDOM = 330
N_PARTIAL = 90
rng = np.random.default_rng(SEED)
pyrng = random.Random(SEED)
MAX = np.finfo(np.float64).max
ROWS = [1, 2, 3, 7, 8, 9, 31, 32, 33, 100, 1000, 1001, 5000, 20000]
LARGE_ROWS = [87382, 300001]  # several of the kernel's parallel blocks (2^18 values each)
NEG_NAN = np.array([0xFFF8000000000000], dtype=np.uint64).view(np.float64)[0]
PAYLOAD_NAN = np.array([0x7FF8000000000123], dtype=np.uint64).view(np.float64)[0]
RANGES = [(0, 1)] * 4 + [(-1, 1), (-3.5, 7), (2, 3), (0.1, 0.2), (-1e300, 1e300), (-MAX, MAX), (5e-324, 1e-323), (0, 255)]


def column(n):
    """One random column of n rows."""
    kind = pyrng.choice(["normal"] * 3 + ["extreme", "tiny", "overflow", "zeros", "constant", "rounded", "ints"])
    if kind == "extreme":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    if kind == "tiny":
        return rng.integers(-4, 5, n) * 5e-324
    if kind == "overflow":
        return rng.choice([MAX, -MAX, 1.0, -MAX / 3], n)
    if kind == "zeros":
        return rng.choice(pyrng.choice([[-0.0, 0.0, 1.0], [-0.0, 2.0], [0.0, -3.0], [-0.0, 0.0], [-0.0], [0.0, -0.0, -1.0, 1.0]]), n)
    if kind == "constant":
        return np.full(n, pyrng.choice([0.1, 1e8 + 0.3, -3.7, 1 / 3, 0.0, -0.0, 1e300, 5e-324, MAX]))
    if kind == "rounded":
        return np.round(rng.standard_normal(n) * pyrng.choice([0.3, 1, 100]), pyrng.choice([0, 1, 3]))
    if kind == "ints":
        return rng.integers(-5, 5, n).astype(np.float64)
    return rng.standard_normal(n) * pyrng.choice([1.0, 1e-3, 1e5]) + pyrng.choice([0.0, 3.0, -1e4])


def array(n, k, p_missing, order=None):
    """A random float64 array of n rows and k columns in order "C" or "F" (C mostly if None)."""
    X = np.column_stack([column(n) for _ in range(k)])
    X[rng.random(X.shape) < p_missing] = pyrng.choice([np.nan] * 4 + [NEG_NAN])
    if pyrng.random() < 0.15:  # a column without any value: sklearn warns "All-NaN slice"
        j = pyrng.randrange(k)
        X[:, j] = pyrng.choice([np.nan, np.nan, NEG_NAN, PAYLOAD_NAN])
        if n > 1 and pyrng.random() < 0.2:
            X[pyrng.randrange(n), j] = NEG_NAN if np.isnan(X[0, j]) and X[0, j].tobytes() != NEG_NAN.tobytes() else np.nan
    order = order or pyrng.choice("CCCF")
    return np.asfortranarray(X) if order == "F" else np.ascontiguousarray(X)


def params():
    kw = {}
    if pyrng.random() < 0.6:
        kw["feature_range"] = pyrng.choice(RANGES)
    if pyrng.random() < 0.3:
        kw["clip"] = True
    if pyrng.random() < 0.2:
        kw["copy"] = False
    return kw


def fit(kw, chunks, use_original, mode):
    """(result, warnings, [(kernel runs, declines) per fitting call]) of MinMaxScaler(**kw) fitted
    on copies of `chunks` (mode "fit" / "fit_transform": one chunk; "partial": one partial_fit per
    chunk)."""
    chunks = copy.deepcopy(chunks)  # copy=False transforms in place
    if use_original:
        A._nanmin, A._nanmax = originals
    calls = []
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                est = MinMaxScaler(**kw)

                def counted(method, X):
                    """method(X), with the kernel's (runs, declines) it caused."""
                    before = dict(scalers.minmax_stats)
                    try:
                        return method(X)
                    finally:
                        calls.append((scalers.minmax_stats["runs"] - before["runs"], scalers.minmax_stats["declined"] - before["declined"]))

                outs = []
                if mode == "partial":
                    for c in chunks:
                        counted(est.partial_fit, c)
                elif mode == "fit_transform":
                    outs.append(counted(est.fit_transform, chunks[0]))
                else:
                    counted(est.fit, chunks[0])
                outs += [est.transform(c) for c in copy.deepcopy(chunks)]
                invs = [est.inverse_transform(o.copy()) for o in outs]
                result = (
                    sorted(vars(est)),
                    est.data_min_,
                    est.data_max_,
                    est.data_range_,
                    est.scale_,
                    est.min_,
                    est.n_samples_seen_,
                    est.n_features_in_,
                    getattr(est, "feature_names_in_", None),
                    outs,
                    invs,
                )
            except Exception as e:  # noqa: BLE001 - compared with the original's
                result = (type(e).__name__, str(e))
    finally:
        A._nanmin, A._nanmax = installed
    return result, [(type(x.message).__name__, str(x.message), x.filename, x.lineno) for x in w], calls


def kernel_declines(V):
    """Whether the kernel must decline the float64 array V: a zero extreme in a column holding
    both zeros, or a column without values whose NaN are not all the same bits."""
    for j in range(V.shape[1]):
        c = V[:, j]
        values = c[~np.isnan(c)]
        if len(values) == 0:
            if len(set(c.tobytes()[i : i + 8] for i in range(0, len(c) * 8, 8))) > 1:
                return True
            continue
        zeros = np.signbit(values[values == 0])
        if zeros.any() and not zeros.all() and (values.min() == 0 or values.max() == 0):
            return True
    return False


def expectation(kw, X):
    """What one partial_fit on X should do with the kernel: True (runs), "declined", False (never
    asked), None (either: validation decides)."""
    if not isinstance(X, np.ndarray) or X.dtype != np.float64:
        return None if isinstance(X, np.ndarray) and X.dtype != np.float32 else False
    fr = kw.get("feature_range", (0, 1))
    if fr[0] >= fr[1] or X.ndim != 2 or X.shape[0] == 0 or np.isinf(X).any():
        return False  # sklearn raises
    if not X.flags.c_contiguous or X.shape[1] < 2 or X.shape[1] > scalers.MAX_MINMAX_COLS:
        return False
    return "declined" if kernel_declines(X) else True


cases = runs = declines = 0


def check(kw, chunks, expect, mode="fit"):
    """expect: per chunk (one for "fit" / "fit_transform") True (the kernel runs), "declined"
    (it is asked and declines), False (the call never reaches it), None (either)."""
    global cases, runs, declines
    if not isinstance(chunks, list):
        chunks = [chunks]
    if not isinstance(expect, list):
        expect = [expect] * len(chunks)
    got = fit(kw, chunks, False, mode)
    ref = fit(kw, chunks, True, mode)
    where = f"{kw} {mode} on [{'; '.join(describe(c) for c in chunks)}]"
    if not (same(got[0], ref[0]) and got[1] == ref[1]):
        raise AssertionError(f"mismatch for {where} (kernel runs/declines per call {got[2]}):\n{got[:2]}\n!=\n{ref[:2]}")
    if any(r or d for r, d in ref[2]):
        raise AssertionError(f"the kernel ran with the originals restored for {where}")
    for (ran, declined), e in zip(got[2], expect):
        if ran + declined > 1:
            raise AssertionError(f"the kernel was asked {ran + declined} times for one call {where}")
        if (e is True and not ran) or (e == "declined" and not declined) or (e is False and (ran or declined)):
            raise AssertionError(f"expected {e} from the kernel for {where}, got runs/declines per call {got[2]}")
        runs += ran
        declines += declined
    cases += 1


# randomised arrays and parameters: fit / fit_transform
for i in range(N_RANDOM):
    n = pyrng.choice(ROWS * 3 + ROWS[:10] * 2) if pyrng.random() > 0.03 else pyrng.choice(LARGE_ROWS)
    k = pyrng.choice([1, 2, 2, 3, 4, 5, 5, 9, 17])
    X = array(n, k, pyrng.choice([0.0, 0.05, 0.5, 0.9]))
    kw = params()
    check(kw, X, expectation(kw, X), mode="fit_transform" if pyrng.random() < 0.3 else "fit")

# randomised partial_fit sequences: 2-3 consecutive chunks, each its own order and NaN pattern
for i in range(N_PARTIAL):
    k = pyrng.choice([2, 3, 5])
    chunks = [array(pyrng.choice(ROWS[:12] + [1000, 5000]), k, pyrng.choice([0.0, 0.05, 0.5, 0.9])) for _ in range(pyrng.choice([2, 3]))]
    kw = params()
    check(kw, chunks, [expectation(kw, c) for c in chunks], mode="partial")

# the parallel blocks and lanes: extremes in the first, last and a middle row, with NaN
for n in LARGE_ROWS + [64, 65, 127]:
    for k in (3, 7) if n > 100000 else (2, 3, 4, 7, 16):
        X = rng.standard_normal((n, k))
        X[rng.random(X.shape) < 0.1] = np.nan
        X[0, 0], X[n - 1, k - 1], X[n // 2, k // 2] = -50.0, 50.0, 60.0
        check({}, X, True)
        check({"feature_range": (-1, 1), "clip": True}, X, True, mode="fit_transform")

# signed zeros: one sign keeps it; both at an extreme decline; both not at an extreme run
check({}, np.tile([[-0.0, 1.0], [2.0, -0.0]], (50, 1)), True)
check({}, np.tile([[-0.0, 0.0], [0.0, -0.0], [1.0, 1.0]], (50, 1)), "declined")
check({}, np.tile([[-0.0, 0.0], [0.0, -0.0], [-1.0, 1.0], [1.0, -1.0]], (50, 1)), True)
check({}, np.tile([[-0.0, 0.0], [0.0, -1.0]], (50, 1)), "declined")
# columns without values: NaN, -NaN, a payload, mixed
for nan in (np.nan, NEG_NAN, PAYLOAD_NAN):
    X = rng.standard_normal((300, 3))
    X[:, 1] = nan
    check({}, X, True)
    check({"clip": True}, [X, rng.standard_normal((20, 3))], [True, True], mode="partial")
X[::2, 1] = np.nan
check({}, X, "declined")
# the warning is scikit-learn's own, from its line (fit() compares category, message, file, line)
X[:, 1] = np.nan
got = fit({}, [X], False, "fit")
assert got[2] == [(1, 0)] and [w[:2] for w in got[1]] == [("RuntimeWarning", "All-NaN slice encountered")] * 2, got[1:]
assert got[1][0][2] == A.__file__, got[1]
runs += 1
cases += 1
# a column without values in a later chunk only, then values again
a = rng.standard_normal((500, 3))
b = a.copy()
b[:, 2] = np.nan
check({}, [a, b, a], True, mode="partial")
check({}, [b, a], True, mode="partial")
check({}, [b, np.asfortranarray(a), b], [True, False, True], mode="partial")

# pandas frames: sklearn's validation gives an F-ordered array (NumPy's fast path)
X = rng.standard_normal((1000, 3)) * [1, 1e3, 1e-3]
X[rng.random(X.shape) < 0.2] = np.nan
check({}, pd.DataFrame(X, columns=["a", "b", "c"]), False)
check({}, [pd.DataFrame(X[:600], columns=["a", "b", "c"]), pd.DataFrame(X[600:], columns=["a", "b", "c"])], False, mode="partial")
check({}, [np.ascontiguousarray(X[:600]), pd.DataFrame(X[600:], columns=["a", "b", "c"])], [True, False], mode="partial")  # sklearn warns: feature names

# unsupported calls: the kernel is not asked (or may be), and the results stay identical
check({}, X.astype(np.float32), False)
check({}, sp.csr_matrix(np.nan_to_num(X)), False)  # sklearn raises
check({}, np.repeat(X, 2, axis=0)[::2], None)  # a strided view
check({}, rng.integers(-50, 50, (1000, 2)), None)  # validation converts to float64
check({}, np.asfortranarray(rng.integers(-50, 50, (1000, 2))), None)
check({}, X.astype(object), None)
check({}, X[:, :1], False)  # one column
check({}, np.where(rng.random(X.shape) < 0.01, np.inf, X), False)  # sklearn raises
check({}, np.empty((0, 3)), False)  # sklearn raises
check({"feature_range": (1, 0)}, X, False)  # sklearn raises
check({"feature_range": (1, 1)}, X, False)
check({}, rng.standard_normal((100, scalers.MAX_MINMAX_COLS + 1)), False)  # NumPy's SIMD over the columns

# outside a MinMaxScaler fit the names are scikit-learn's
before = dict(scalers.minmax_stats)
Y = rng.standard_normal((2000, 4))
Y[rng.random(Y.shape) < 0.1] = np.nan
with warnings.catch_warnings(record=True) as w1:  # a row without values warns, both times
    warnings.simplefilter("always")
    assert same(A._nanmin(Y, axis=0), originals[0](Y, axis=0)) and same(A._nanmax(Y, axis=1), originals[1](Y, axis=1))
    assert same(MaxAbsScaler().fit(Y).max_abs_, np.nanmax(np.abs(Y), axis=0))
assert scalers.minmax_stats == before, "the kernel ran outside a MinMaxScaler fit"
cases += 1

print(f"minmax kernel conformance: {cases} cases identical, {runs} kernel runs, {declines} declined")
