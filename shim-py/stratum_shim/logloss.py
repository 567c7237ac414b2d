"""``sklearn.metrics.log_loss`` (the public name) on the Rust runtime, bit for bit.

scikit-learn spends ``log_loss`` on ``np.unique`` of the labels (LabelBinarizer), the dense
one-hot matrix, ``x * np.log(y)`` over every class of every sample, and the reductions. The
kernel (runtime-rs ``logloss.rs``) numbers the labels with ``label_codes``, takes NumPy's own
log (its AVX-512 SVML routine, ported) of each sample's clipped true-class probability only,
and sums in NumPy's order, so the float is the one scikit-learn returns.

Supported: 1-D labels of ints, bools or ``str`` (ndarray or Series: what ``classify._labels``
accepts), a float64 ``y_proba`` (1-D, (n, 1) or (n, k) with every class present in ``y_true``),
an optional float64 ``sample_weight`` (with ``normalize=True``), ``normalize``, from
``MIN_SAMPLES`` samples, on a CPU where NumPy's float64 log is the AVX-512 one. Anything else
(``labels=``, the deprecated ``y_pred=``, float labels, lists, other dtypes) is the original's;
so is anything the kernel declines: one class, a class count other than the columns, values
outside [0, 1] or NaN (scikit-learn raises), rows that may not sum to 1 (it warns), weights
summing to 0 or not finite.

Only the public name is replaced: scikit-learn's own references (the ``neg_log_loss`` scorer)
keep the original, which pickle must find under its name (as for ``roc_auc_score``).
"""

from __future__ import annotations

import functools
import os

# sklearn's fixed cost (parameter validation, check_array, LabelBinarizer) is about a round
# trip, so the kernel wins from tiny inputs; measured under the coordinator (sklearn vs kernel,
# best of 7, ms): int labels, 1-D 50 samples 1.06 vs 0.86, 100: 1.02 vs 0.79, 1000: 1.20 vs
# 0.72; 5 classes 100: 1.05 vs 0.68; str labels 1000: 1.96 vs 0.78; 1M: int 1-D 133 vs 24, int
# 5 classes 166 vs 42, str 1-D 722 vs 54, str 5 classes 870 vs 104
MIN_SAMPLES = int(os.environ.get("STRATUM_KERNEL_MIN_LOG_LOSS", "100"))


def install(register) -> None:
    import sklearn.metrics

    original = sklearn.metrics.log_loss
    register(sklearn.metrics, "log_loss", original)
    sklearn.metrics.log_loss = _make_log_loss(original)


@functools.cache
def _numpy_log_is_avx512() -> bool:
    """Whether NumPy's float64 log runs its AVX-512 (SVML) loop, the one the kernel ports."""
    try:
        from numpy.lib.introspect import opt_func_info

        current = opt_func_info(func_name="^log$", signature="float64")["log"]["dd"]["current"]
    except Exception:  # another NumPy: its log is not known to match
        return False
    return current in ("X86_V4", "AVX512_SKX")


def _labels(y):
    """y_true as an Arrow array for the kernel (ints that fit as int8: an eighth of the bytes
    to write; the kernel widens them), with its length; None when sklearn keeps it."""
    import numpy as np
    import pyarrow as pa

    from .classify import _labels as class_labels

    got = class_labels(y)
    if got is None:
        return None
    array, arrow = got
    if array.dtype.kind in "iub" and len(array) and -128 <= array.min() and array.max() <= 127:
        arrow = pa.array(array.astype(np.int8))
    return arrow, len(array)


def _proba(y_proba):
    """y_proba as a float64 ndarray of 1 or 2 dimensions ((n, 1) as 1-D), else None."""
    import numpy as np
    import pandas as pd

    if isinstance(y_proba, pd.Series) and isinstance(y_proba.dtype, np.dtype):
        y_proba = y_proba.to_numpy()
    if type(y_proba) is not np.ndarray or y_proba.dtype != np.float64 or y_proba.ndim not in (1, 2):
        return None
    if y_proba.ndim == 2:
        if y_proba.shape[1] == 0:
            return None
        if y_proba.shape[1] == 1:
            return y_proba[:, 0]
    return y_proba


def _make_log_loss(original):
    import inspect

    import numpy as np

    from .kernels import _kernel, _one_d, _substitute

    signature = inspect.signature(original)

    def plan(*args, **kwargs):
        try:
            given = signature.bind(*args, **kwargs).arguments
        except TypeError:
            return None  # the original raises its own error
        if given.get("labels") is not None or "y_pred" in given:
            return None  # labels= warns / raises on its own terms; y_pred= is deprecated
        normalize = given.get("normalize", True)
        if type(normalize) not in (bool, np.bool_):
            return None
        proba = _proba(given.get("y_proba"))
        if proba is None or len(proba) < MIN_SAMPLES:
            return None
        classes = 2 if proba.ndim == 1 else proba.shape[1]
        if 2 * classes + 2 > len(proba):
            return None  # classes near half the samples: sklearn may warn ("more than 50%")
        weights = given.get("sample_weight")
        if weights is not None:
            weights = _one_d(weights)
            if weights is None or weights.dtype != np.float64 or len(weights) != len(proba) or not normalize:
                return None
        labels = _labels(given.get("y_true"))
        if labels is None or labels[1] != len(proba) or not _numpy_log_is_avx512():
            return None
        return labels[0], proba, weights, bool(normalize)

    def run(p, *args, **kwargs):
        import pyarrow as pa

        labels, proba, weights, normalize = p
        flat = pa.array(np.ascontiguousarray(proba).reshape(-1))
        # (n, k) rows as fixed-size lists (no copy): one row per sample, as the table needs
        columns = {"y": labels, "p": flat if proba.ndim == 1 else pa.FixedSizeListArray.from_arrays(flat, proba.shape[1])}
        if weights is not None:
            columns["w"] = pa.array(weights)
        options = {"classes": 1 if proba.ndim == 1 else int(proba.shape[1]), "normalize": normalize}
        res = _kernel("log_loss", pa.table(columns), options, by_ref=True)
        return None if res is None else float(res.column("loss")[0].as_py())

    return _substitute("log_loss", original, plan, run)
