"""RobustScaler's statistics on the Rust runtime.

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
"""

from __future__ import annotations

import functools
import os
import threading

from .dispatch import RT, shim_error

# below this many values (rows x columns) numpy is as fast as the round trip; see
# docs/ARCHITECTURE.md ("Kernel substitutions") for the measurements
MIN_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_SCALE", "50000"))
stats = {"runs": 0, "declined": 0}


class _Local(threading.local):
    # inside RobustScaler.fit: {"est": the scaler, "X": what its validate_data returned,
    # "stats": None (not asked yet), False (numpy's) or (medians, quantiles)}
    scope = None


_tls = _Local()


def install(register) -> None:
    import numpy as np
    import sklearn.preprocessing._data as D
    from sklearn.preprocessing import RobustScaler

    fit = vars(RobustScaler)["fit"]
    register(RobustScaler, "fit", fit)
    RobustScaler.fit = _make_fit(fit)
    validate = D.validate_data
    register(D, "validate_data", validate)
    D.validate_data = _make_validate(validate)
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
        _tls.scope = {"est": self, "X": None, "stats": None}
        try:
            return original(self, X, y)
        finally:
            _tls.scope = prev

    fit.__stratum_kernel_original__ = original
    return fit


def _make_validate(original):
    @functools.wraps(original)
    def validate_data(_estimator, *args, **kwargs):
        out = original(_estimator, *args, **kwargs)
        scope = _tls.scope
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
    import pyarrow as pa

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
    options = {"rows": rows, "cols": cols, "order": order, "median": bool(est.with_centering), "percentiles": percentiles}
    res = _kernel("scale_stats", pa.table({"x": pa.array(X.ravel(order=order))}), options)
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
