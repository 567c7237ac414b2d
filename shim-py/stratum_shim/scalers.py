"""RobustScaler's and StandardScaler's statistics on the Rust runtime.

``RobustScaler.fit`` on a dense array spends its time in NumPy: ``np.nanmedian(X, axis=0)``
(``apply_along_axis``: per column a NaN-free copy and a partition) and, per column,
``np.nanpercentile(X[:, j], quantile_range)`` (again a copy and a partition): 1M x 4 float64
with missing values takes ~250 ms on one core. The kernel ``scale_stats`` (runtime-rs
scale.rs) reads the same order statistics for all columns at once, in parallel, and repeats
NumPy's float arithmetic operation for operation, so the values are identical.

The hook is as narrow as the work: ``RobustScaler.fit`` runs as scikit-learn wrote it (parameter
and data validation, errors, ``_handle_zeros_in_scale``, ``unit_variance``, every attribute),
inside a per-thread scope that records the array its ``validate_data`` returns (the name in
``sklearn.preprocessing._data``). The first ``np.nanmedian(X, axis=0)`` or
``np.nanpercentile(X[:, j], quantile_range)`` on that array (float64, 2-D, C or F contiguous, at
least 600 rows: NumPy's ``apply_along_axis`` path) sends it to the kernel once, for the medians
(``with_centering``) and the percentiles (``with_scaling``) the fit asks for; those calls, and
the later ones on the same array or its columns (checked by memory address, stride and length),
are answered from the kernel's result. Everything else (another array, other arguments, a
kernel that declines, any shim failure, outside the scope) is NumPy's own function.

An F-ordered array goes to the kernel column by column; when it is a plain copy of the float64
frame the scaler was given (what validation makes of a frame), the frame's own columns are sent
instead, and those lying in a store file (a frame read through stratum) go by reference: the
kernel maps them and nothing is written.

StandardScaler (``fit`` / ``partial_fit`` on a dense array, every caller) computes its mean and
variance in ``_incremental_mean_and_var`` (the name in ``sklearn.preprocessing._data``): NaN-aware
sums over the array with temporaries of its size (``np.where`` copies, ``X - T``, the square),
~100-200 ms for 1M x 4. Without sample weights, on a float64 C or F contiguous array, the kernel
returns the four per-column reductions in NumPy's summation order for that layout (sum, count,
correction, sum of squares); the function's remaining per-column arithmetic is repeated here with
NumPy, operation for operation, on those values.

MinMaxScaler (``partial_fit``, hence ``fit`` and ``fit_transform``, every caller) spends its time
in ``_array_api._nanmin(X, axis=0)`` and ``_nanmax``: ``np.fmin.reduce`` / ``np.fmax.reduce``
along axis 0, which NumPy does one row after the other for a C-ordered array (~70 ns a row for
both: 1M x 4 takes ~70 ms). ``partial_fit`` runs as scikit-learn wrote it inside a per-thread
scope that records the array its ``validate_data`` returns; the names ``_nanmin`` / ``_nanmax`` in
``sklearn.utils._array_api`` are scope-aware wrappers that, on that array, ask the kernel
``minmax_stats`` once for both (in parallel, exact: a minimum is one of the values) and then hand
the one row of results to scikit-learn's own function, so the returned array and the "All-NaN
slice encountered" warning of a column without values are scikit-learn's. data_range_, scale_,
min_, n_samples_seen_, the combination with an earlier partial_fit, clip and transform are
scikit-learn's code. Only C-ordered arrays of a few columns go to the kernel: contiguous columns
(F order: a frame's validated array) are NumPy's fast SIMD reductions (~2 ms for 1M x 4).
"""

from __future__ import annotations

import functools
import os
import threading

from .dispatch import RT, shim_error

# RobustScaler: below this many values (rows x columns) numpy is as fast as the round trip
# (measured, 10% NaN, best of 5, kernel vs numpy, ms: 10k x 4 2.5 vs 2.2, 25k x 4 2.4 vs 3.7,
# 50k x 4 4.3 vs 8.5, 200k x 4 10.3 vs 33.6)
MIN_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_SCALE", "50000"))
# StandardScaler: NumPy sums a C-ordered array row by row, with temporaries (measured, best of
# 3, kernel vs numpy, ms: 200k x 4 C 8.8 vs 18.2, with NaN 8.7 vs 28.3; 50k x 4 4.2 vs 4.3); a
# contiguous column is its fast pairwise sum, which only NaN (np.where copies) makes slower than
# the round trip (1M x 4 F: 27 vs 16 without NaN, 44 vs 97 with 10% NaN; 200k x 4 with NaN 11.7
# vs 13.1); the mean alone (with_std=False) only pays for large C arrays (1M x 4: 26 vs 35, with
# NaN 40 vs 68; F: numpy's 11-35 ms always wins)
MIN_STANDARD_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_STANDARD", "400000"))
MIN_STANDARD_LARGE_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_STANDARD_LARGE", "2000000"))
stats = {"runs": 0, "declined": 0}
# MinMaxScaler: NumPy pays ~70 ns a row whatever the columns (up to 16), the kernel ~1 ns a byte
# (the store write of the array, then its scan) plus the round trip (measured, MinMaxScaler().fit
# in a traced script, 10% NaN, best of 5, numpy vs kernel, ms, machine shared: 30k x 4 3.4 vs 3.5,
# 50k x 2 4.3 vs 3.3, 50k x 4 5.5 vs 4.4, 75k x 6 9.2 vs 7.0, 1M x 4 93.9 vs 45.5, 1M x 6 110 vs
# 67; wider rows stop paying: 1M x 8 100 vs 89, 250k x 16 42 vs 56, 125k x 32 30 vs 46)
MIN_MINMAX_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_MINMAX", "50000"))
MAX_MINMAX_COLS = int(os.environ.get("STRATUM_KERNEL_MAX_MINMAX_COLS", "6"))
minmax_stats = {"runs": 0, "declined": 0}


class _Local(threading.local):
    # inside RobustScaler.fit: {"est": the scaler, "raw": the X it was given, "X": what its
    # validate_data returned, "stats": None (not asked yet), False (numpy's) or (medians,
    # quantiles)}
    scope = None
    # inside StandardScaler.partial_fit: the X it was given
    standard_raw = None
    # inside MinMaxScaler.partial_fit: {"est": the scaler, "X": what its validate_data returned,
    # "stats": None (not asked yet), False (numpy's) or the kernel's [mins, maxs]}
    minmax = None


_tls = _Local()


def install(register) -> None:
    import numpy as np
    import sklearn.preprocessing._data as D
    import sklearn.utils._array_api as A
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    fit = vars(RobustScaler)["fit"]
    register(RobustScaler, "fit", fit)
    RobustScaler.fit = _make_fit(fit)
    partial_fit = vars(StandardScaler)["partial_fit"]
    register(StandardScaler, "partial_fit", partial_fit)
    StandardScaler.partial_fit = _make_partial_fit(partial_fit)
    minmax_partial_fit = vars(MinMaxScaler)["partial_fit"]
    register(MinMaxScaler, "partial_fit", minmax_partial_fit)
    MinMaxScaler.partial_fit = _make_minmax_partial_fit(minmax_partial_fit)
    for k, name in enumerate(("_nanmin", "_nanmax")):
        original = getattr(A, name)
        register(A, name, original)
        setattr(A, name, _make_nanextreme(original, k))
    validate = D.validate_data
    register(D, "validate_data", validate)
    D.validate_data = _make_validate(validate)
    incremental = D._incremental_mean_and_var
    register(D, "_incremental_mean_and_var", incremental)
    D._incremental_mean_and_var = _make_incremental(incremental)
    for name, make in (("nanmedian", _make_nanmedian), ("nanpercentile", _make_nanpercentile)):
        original = getattr(np, name)
        register(np, name, original)
        setattr(np, name, make(original))


def _make_fit(original):
    @functools.wraps(original)
    def fit(self, X, y=None):
        if RT.client is None or RT.store_dir is None:
            return original(self, X, y)
        prev = _tls.scope
        _tls.scope = {"est": self, "raw": X, "X": None, "stats": None}
        try:
            return original(self, X, y)
        finally:
            _tls.scope = prev

    fit.__stratum_kernel_original__ = original
    return fit


def _make_partial_fit(original):
    @functools.wraps(original)
    def partial_fit(self, X, y=None, sample_weight=None):
        prev = _tls.standard_raw
        _tls.standard_raw = X
        try:
            return original(self, X, y, sample_weight)
        finally:
            _tls.standard_raw = prev

    partial_fit.__stratum_kernel_original__ = original
    return partial_fit


def frame_input(X, order: str, raw):
    """The kernel input of the validated array X (scalers, SimpleImputer): one column `x` in C order; in F order its
    columns c0, c1, ..., taken from the frame the scaler was given when X is that frame's
    float64 values (a plain copy), so that columns lying in a store file go by reference
    instead of being written again (kernels._kernel's by_ref)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if order == "C":
        return pa.table({"x": pa.array(X.ravel(order="C"))})
    columns = None
    if isinstance(raw, pd.DataFrame) and raw.shape == X.shape and all(dt == np.float64 for dt in raw.dtypes):
        columns = [raw.iloc[:, j].to_numpy() for j in range(raw.shape[1])]
        if not all(type(c) is np.ndarray and c.dtype == np.float64 and c.flags.c_contiguous for c in columns):
            columns = None
    if columns is None:
        columns = [X[:, j] for j in range(X.shape[1])]
    return pa.table({f"c{j}": pa.array(c) for j, c in enumerate(columns)})


def _make_validate(original):
    @functools.wraps(original)
    def validate_data(_estimator, *args, **kwargs):
        out = original(_estimator, *args, **kwargs)
        scope = _tls.scope
        if scope is not None and scope["est"] is _estimator and scope["X"] is None:
            scope["X"] = out
        scope = _tls.minmax
        if scope is not None and scope["est"] is _estimator and scope["X"] is None:
            scope["X"] = out
        return out

    validate_data.__stratum_kernel_original__ = original
    return validate_data


def _stats(scope):
    """The kernel's (medians, quantiles) of the scope's array, computed on first use, or None."""
    if scope["stats"] is None:
        try:
            scope["stats"] = _run(scope) or False
        except Exception as e:
            shim_error("scale_stats", e)
            scope["stats"] = False
    return scope["stats"] or None


def _make_nanmedian(original):
    import numpy as np

    @functools.wraps(original)
    def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=np._NoValue):
        scope = _tls.scope
        if scope is not None and a is scope["X"] and axis == 0 and out is None and not overwrite_input and keepdims is np._NoValue:
            res = _stats(scope)
            if res is not None and res[0] is not None:
                return res[0].copy()
        return original(a, axis=axis, out=out, overwrite_input=overwrite_input, keepdims=keepdims)

    nanmedian.__stratum_kernel_original__ = original
    return nanmedian


def _make_nanpercentile(original):
    @functools.wraps(original)
    def nanpercentile(a, q, *args, **kwargs):
        scope = _tls.scope
        if scope is not None and not args and not kwargs and q is scope["est"].quantile_range:
            try:
                j = _column_of(scope["X"], a)
            except Exception as e:
                shim_error("scale_stats", e)
                j = None
            res = _stats(scope) if j is not None else None
            if res is not None and res[1] is not None:
                return res[1][j].copy()
        return original(a, q, *args, **kwargs)

    nanpercentile.__stratum_kernel_original__ = original
    return nanpercentile


def _run(scope):
    """(medians or None, quantiles or None) of the scope's array from the kernel, or None."""
    import numpy as np

    from .kernels import _kernel

    X, est = scope["X"], scope["est"]
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype != np.float64:
        return None
    rows, cols = X.shape
    if rows < 600 or X.size < MIN_VALUES:  # below 600 rows nanmedian is np.ma's, not the kernel's
        return None
    if X.flags.c_contiguous and cols > 1:
        order = "C"
    elif X.flags.f_contiguous:
        order = "F"
    else:
        return None
    percentiles = []
    if est.with_scaling:
        qr = est.quantile_range
        if type(qr) not in (tuple, list) or len(qr) != 2 or any(type(p) not in (int, float) for p in qr):
            return None
        percentiles = [float(p) for p in qr]
    options = {"scaler": "robust", "rows": rows, "cols": cols, "order": order, "median": bool(est.with_centering), "percentiles": percentiles}
    res = _kernel("scale_stats", frame_input(X, order, scope["raw"]), options, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stat = res.column("stat").to_numpy()
    if len(stat) != cols * (1 + len(percentiles)):
        raise ValueError(f"scale_stats returned {len(stat)} values for {cols} columns")
    stats["runs"] += 1
    medians = stat[:cols].copy() if est.with_centering else None
    quantiles = stat[cols:].reshape(cols, len(percentiles)).copy() if percentiles else None
    return medians, quantiles


def _make_incremental(original):
    @functools.wraps(original)
    def _incremental_mean_and_var(X, last_mean, last_variance, last_sample_count, sample_weight=None):
        sums = None
        if RT.client is not None and RT.store_dir is not None and sample_weight is None:
            try:
                sums = _standard_sums(X, last_variance is not None)
            except Exception as e:
                shim_error("scale_stats", e)
        if sums is None:
            return original(X, last_mean, last_variance, last_sample_count, sample_weight=sample_weight)
        return _combine(sums, last_mean, last_variance, last_sample_count)

    _incremental_mean_and_var.__stratum_kernel_original__ = original
    return _incremental_mean_and_var


def _standard_sums(X, variance: bool):
    """(rows, [sum, count, correction, sum of squares] per column) of X from the kernel, or
    None (numpy's, where it is as fast: see MIN_STANDARD_VALUES)."""
    import numpy as np

    from .kernels import _kernel

    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype != np.float64:
        return None
    rows, cols = X.shape
    if X.flags.c_contiguous and cols > 1:
        order = "C"
        if X.size < (MIN_STANDARD_VALUES if variance else MIN_STANDARD_LARGE_VALUES):
            return None
    elif X.flags.f_contiguous:
        order = "F"
        # numpy's pairwise sums of contiguous columns are faster unless NaN make it copy (a
        # sample of rows decides: a column with missing values rarely has none among them)
        if not variance or X.size < MIN_STANDARD_LARGE_VALUES or not np.isnan(X[:1000]).any():
            return None
    else:
        return None
    options = {"scaler": "standard", "rows": rows, "cols": cols, "order": order}
    res = _kernel("scale_stats", frame_input(X, order, _tls.standard_raw), options, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stat = res.column("stat").to_numpy()
    if len(stat) != 4 * cols:
        raise ValueError(f"scale_stats returned {len(stat)} values for {cols} columns")
    stats["runs"] += 1
    return rows, stat.reshape(4, cols)


def _combine(sums, last_mean, last_variance, last_sample_count):
    """The rest of scikit-learn's ``_incremental_mean_and_var`` (no weights, NumPy), on the
    kernel's reductions: the same operations in the same order."""
    import numpy as np

    n_samples, (new_sum, count, correction, squares) = sums
    last_sample_count = np.asarray(last_sample_count, dtype=np.float64)
    last_sum = last_mean * last_sample_count
    # n_samples - (the NaN count as a float sum): an exact integer either way
    new_sample_count = n_samples - (n_samples - count)
    updated_sample_count = last_sample_count + new_sample_count
    updated_mean = (last_sum + new_sum) / updated_sample_count
    if last_variance is None:
        return updated_mean, None, updated_sample_count
    new_unnormalized_variance = squares.copy()
    new_unnormalized_variance -= correction**2 / new_sample_count
    last_unnormalized_variance = last_variance * last_sample_count
    with np.errstate(divide="ignore", invalid="ignore"):
        last_over_new_count = last_sample_count / new_sample_count
        updated_unnormalized_variance = (
            last_unnormalized_variance
            + new_unnormalized_variance
            + last_over_new_count / updated_sample_count * (last_sum / last_over_new_count - new_sum) ** 2
        )
    zeros = last_sample_count == 0
    updated_unnormalized_variance[zeros] = new_unnormalized_variance[zeros]
    updated_variance = updated_unnormalized_variance / updated_sample_count
    return updated_mean, updated_variance, updated_sample_count


def _make_minmax_partial_fit(original):
    @functools.wraps(original)
    def partial_fit(self, X, y=None):
        if RT.client is None or RT.store_dir is None:
            return original(self, X, y)
        prev = _tls.minmax
        _tls.minmax = {"est": self, "X": None, "stats": None}
        try:
            return original(self, X, y)
        finally:
            _tls.minmax = prev

    partial_fit.__stratum_kernel_original__ = original
    return partial_fit


def _make_nanextreme(original, k: int):
    """``_array_api._nanmin`` (k = 0) or ``_nanmax`` (k = 1), answered from the kernel's result
    for the array MinMaxScaler.partial_fit validated."""

    @functools.wraps(original)
    def nanextreme(X, axis=None, xp=None):
        scope = _tls.minmax
        if scope is not None and X is scope["X"] and axis == 0:
            if scope["stats"] is None:
                try:
                    scope["stats"] = _run_minmax(X) or False
                except Exception as e:
                    shim_error("minmax_stats", e)
                    scope["stats"] = False
            if scope["stats"] is not False:
                # scikit-learn's own reduction of the one row of results: the same array, and
                # for a column without values the same warning from the same line
                return original(scope["stats"][k][None, :], axis=0, xp=xp)
        return original(X, axis=axis, xp=xp)

    nanextreme.__stratum_kernel_original__ = original
    return nanextreme


def _run_minmax(X):
    """[mins, maxs] of the float64 array X from the kernel, or None (numpy's: see
    MIN_MINMAX_ROWS)."""
    import numpy as np

    from .kernels import _kernel

    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype != np.float64:
        return None
    rows, cols = X.shape
    # contiguous columns (F order, or one column) are NumPy's fast SIMD reductions
    if not X.flags.c_contiguous or cols < 2 or cols > MAX_MINMAX_COLS or rows < MIN_MINMAX_ROWS:
        return None
    res = _kernel("minmax_stats", frame_input(X, "C", None), {"rows": rows, "cols": cols, "order": "C"})
    if res is None:
        minmax_stats["declined"] += 1
        return None
    stat = np.array(res.column("stat").to_numpy(), dtype=np.float64)
    if len(stat) != 2 * cols:
        raise ValueError(f"minmax_stats returned {len(stat)} values for {cols} columns")
    minmax_stats["runs"] += 1
    return [stat[:cols], stat[cols:]]


def _column_of(X, a):
    """j when `a` is the view X[:, j] (same memory, stride and length), else None."""
    import numpy as np

    if type(X) is not np.ndarray or X.ndim != 2 or type(a) is not np.ndarray or a.ndim != 1:
        return None
    if a.dtype != X.dtype or len(a) != X.shape[0] or a.strides[0] != X.strides[0]:
        return None
    offset = a.__array_interface__["data"][0] - X.__array_interface__["data"][0]
    if X.shape[1] == 1:  # its stride may be anything (X[:, None] has 0)
        return 0 if offset == 0 else None
    if X.strides[1] == 0:
        return None
    j, rest = divmod(offset, X.strides[1])
    return j if rest == 0 and 0 <= j < X.shape[1] else None
