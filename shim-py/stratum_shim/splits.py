"""scikit-learn's stratified and grouped splitters with their label work on the Rust runtime.

``StratifiedKFold``, ``StratifiedShuffleSplit`` (so ``train_test_split(..., stratify=y)``),
``GroupKFold``, ``StratifiedGroupKFold`` and the group splitters all start with ``np.unique`` of
the labels or groups, with ``return_index`` / ``return_inverse`` / ``return_counts``. For string
labels NumPy sorts a 1M-element object array with Python comparisons: 1.1 s of the 1.25 s
``train_test_split(stratify=...)`` takes on 1M rows with 6 string classes here, 1.7 s of
``StratifiedKFold(5, shuffle=True).split``'s 1.8 s.

So the module ``sklearn.model_selection._split`` sees a copy of the ``numpy`` namespace in which
two functions are replaced (everything else, and every other module, keeps NumPy's own):

- ``unique`` of a large 1-D array of ``str`` labels (or of integers, when the index, inverse or
  counts are asked for: NumPy sorts for those) goes to the kernel ``label_codes`` (the one the
  classification metrics use), which returns the sorted distinct labels and every sample's
  position among them. The index of each label's first occurrence follows from a stable sort of
  those positions, the counts from a bincount; the distinct values are the input's elements at
  their first occurrences, as NumPy's own stable sort (used whenever ``return_index`` is asked)
  yields them. Strings sort by code point in both (the kernel compares UTF-8 bytes).
- ``argsort(a, kind="stable")`` of a large 1-D array of small non-negative integers (the inverse
  above, which ``StratifiedShuffleSplit`` sorts) is computed on the same values cast to 16 bits,
  where NumPy's stable sort is a radix sort: a stable order is unique, so the result is the same
  array.

Everything else, the random streams included, stays scikit-learn's own code, so the folds are
identical by construction. Other dtypes (floats, mixed objects, None, bytes), ``axis=``,
``sorted=False`` and arrays below the thresholds go to NumPy.
"""

from __future__ import annotations

import functools
import os
import threading
import types

from .dispatch import RT, per_call_scope, shim_error
from .sort import narrow_for_radix

# below these many labels NumPy is as fast as the round trip; measured (6 classes, best of 5,
# NumPy vs kernel, ms): np.unique(return_inverse=True) of str objects 3000: 0.62 vs 1.04, 10000:
# 2.1 vs 1.5, 100000: 30 vs 9.7, 1M: 372 vs 90 (cached_unique alike); of int64 (NumPy does not
# sort small ranges) 10000: 0.18 vs 0.93, 30000: 0.62 vs 1.16, 100000: 3.5 vs 2.5, 1M: 26 vs 21
MIN_STR_LABELS = int(os.environ.get("STRATUM_KERNEL_MIN_SPLIT_LABELS", "5000"))
MIN_INT_LABELS = int(os.environ.get("STRATUM_KERNEL_MIN_SPLIT_INT_LABELS", "100000"))
stats = {"runs": 0, "declined": 0, "radix": 0}


class _Local(threading.local):
    # inside StratifiedKFold._make_test_folds: {array's memory, shape, strides, dtype: (the array,
    # its codes, the number of labels)}; type_of_target and np.unique see the same y there
    scope = None


_tls = _Local()


def install(register) -> None:
    import numpy as np
    import sklearn.model_selection._split as S

    import sklearn.utils.multiclass as M

    if S.np is np:  # else someone else's replacement: leave it
        register(S, "np", np)
        S.np = _namespace(np)
    original = M.cached_unique
    register(M, "cached_unique", original)
    M.cached_unique = _make_cached_unique(np, original)
    folds = S.StratifiedKFold._make_test_folds
    register(S.StratifiedKFold, "_make_test_folds", folds)
    # the label codes of y computed once per call: its type_of_target and its np.unique convert
    # the same y (~50 ms each at 1M strings)
    S.StratifiedKFold._make_test_folds = per_call_scope(folds, _tls, _active)


def _make_cached_unique(np, original):
    """`cached_unique` for `type_of_target` / `unique_labels`: one array's distinct values."""

    @functools.wraps(original)
    def cached_unique(*ys, xp=None):
        out = None
        if len(ys) == 1 and _active() and getattr(getattr(ys[0], "dtype", None), "metadata", 0) is None:
            try:
                out = _unique(np, ys[0])
            except Exception as e:
                shim_error("label_codes", e)
                out = None
        return original(*ys, xp=xp) if out is None else out

    cached_unique.__stratum_kernel_original__ = original
    return cached_unique


def _namespace(np):
    ns = types.ModuleType(np.__name__, np.__doc__)
    ns.__dict__.update(np.__dict__)  # includes numpy's module __getattr__ (lazy names)
    original_unique, original_argsort = np.unique, np.argsort

    def unique(ar, *args, **kwargs):
        out = None
        if _active():
            try:
                out = _unique(np, ar, *args, **kwargs)
            except Exception as e:
                shim_error("label_codes", e)
                out = None
        return original_unique(ar, *args, **kwargs) if out is None else out

    def argsort(a, *args, **kwargs):
        narrow = None
        try:
            narrow = _narrow_for_radix(np, a, *args, **kwargs)
        except Exception as e:
            shim_error("argsort", e)
        if narrow is None:
            return original_argsort(a, *args, **kwargs)
        stats["radix"] += 1
        return original_argsort(narrow, kind="stable")

    unique.__wrapped__ = original_unique
    argsort.__wrapped__ = original_argsort
    ns.unique, ns.argsort = unique, argsort
    return ns


def _active() -> bool:
    return RT.client is not None and RT.store_dir is not None


def _unique(np, ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
            equal_nan=True, sorted=True):
    """np.unique(ar, ...) through the kernel, or None (NumPy does it)."""
    import pyarrow as pa

    from .bridge import one_chunk
    from .classify import _labels
    from .kernels import _kernel

    if axis is not None or not sorted or type(ar) is not np.ndarray or ar.ndim != 1:
        return None
    scope = _tls.scope
    where = (ar.__array_interface__["data"][0], ar.shape, ar.strides, ar.dtype.str)
    if scope is not None and where in scope:
        return _unique_from(np, ar, *scope[where][1:], return_index, return_inverse, return_counts)
    kind = ar.dtype.kind
    if kind in "OU":
        if len(ar) < MIN_STR_LABELS:
            return None
        if kind == "O" and set(map(type, ar)) != {str}:
            return None  # str subclasses (np.str_), None, NaN, numbers: NumPy's own order and objects
    elif kind in "iu":
        if len(ar) < MIN_INT_LABELS or not (return_index or return_inverse or return_counts):
            return None  # without those NumPy hashes, as fast as the kernel
    else:
        return None
    got = _labels(ar)
    if got is None:
        return None
    res = _kernel("label_codes", pa.table({"y": got[1]}), {}, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    col = one_chunk(res.column("y"))
    codes = col.indices.to_numpy()  # uint8 / uint16 / uint32 by the number of labels
    k = len(col.dictionary)
    if scope is not None:
        scope[where] = (ar, codes, k)  # the array held: its memory cannot be another's meanwhile
    return _unique_from(np, ar, codes, k, return_index, return_inverse, return_counts)


def _unique_from(np, ar, codes, k, return_index, return_inverse, return_counts):
    """np.unique's outputs for ar from its labels' codes (positions among k sorted labels)."""
    # first occurrences: the stable order of the codes (a radix sort for 8 and 16 bits) at each
    # label's start
    counts = np.bincount(codes, minlength=k)
    order = np.argsort(codes, kind="stable")
    index = order[np.cumsum(counts) - counts]
    out = [ar[index]]
    if return_index:
        out.append(index.astype(np.intp, copy=False))
    if return_inverse:
        out.append(codes.astype(np.intp))
    if return_counts:
        out.append(counts.astype(np.intp, copy=False))
    return out[0] if len(out) == 1 else tuple(out)


def _narrow_for_radix(np, a, axis=-1, kind=None, order=None, *, stable=None):
    """`a` narrowed (sort.narrow_for_radix) when `np.argsort(a, kind="stable")` may sort that
    instead, else None."""
    if not (kind == "stable" or stable is True) or order is not None or axis not in (-1, 0):
        return None
    return narrow_for_radix(a)
