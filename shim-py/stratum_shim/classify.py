"""scikit-learn's classification metrics with their label work on the Rust runtime.

``accuracy_score``, ``f1_score``, ``classification_report``, ... spend nearly all their time on
two steps: ``np.unique`` of each label array (sklearn caches it in the array's dtype metadata with
``attach_unique``), and ``LabelEncoder.transform`` inside ``multilabel_confusion_matrix`` (a
searchsorted for numbers, a Python dict lookup per sample for strings). On 1M string labels
``f1_score(average="macro")`` takes 1.8 s, almost all of it there.

So, inside ``sklearn.metrics._classification`` only, three names are replaced:

- ``attach_unique``: 1-D label arrays (ints, bools, ``str`` objects, numpy unicode, and Series
  of those or of pandas' ``str``) go to the kernel ``label_codes``, which returns the sorted
  union of the labels and every sample's position in it. Each array's ``np.unique`` is the union
  at the positions present; it is attached as sklearn attaches its own, with the codes beside it.
- ``LabelEncoder``: a subclass whose ``transform`` of an array the hook saw (same memory, shape,
  strides and dtype) maps those codes to the encoder's classes instead of searching; any other
  array is the original's.
- ``precision_recall_fscore_support`` and ``classification_report`` (also their public names):
  a per-call scope in which the kernel's result for the same input arrays is reused (the report
  asks for the same counts four times, each through two ``attach_unique`` calls).
- ``multilabel_confusion_matrix``: inside that scope, its result for the same two attached label
  arrays (the views ``attach_unique`` returned, no sample weights, the same ``labels``) is
  computed once and copied for the later calls: the report's four calls each encoded both
  arrays, compared them and made three bincounts of 1M samples (~20 ms a call).

Everything else (validation, ``type_of_target``, warnings, ``zero_division``, the bincounts, the
divisions and averages, the report's text) is scikit-learn's own code on identical values. Float
labels, missing values, mixed types, bytes, 2-D inputs, other array types and arrays shorter than
``MIN_LABELS`` (strings) or ``MIN_INT_LABELS`` (numbers) are the original's; so are numbers outside
the two scoped functions, where only ``np.unique`` is needed and numpy's is as fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading

from .bridge import is_arrow_str, one_chunk
from .dispatch import RT, per_call_scope, shim_error

# below this many samples sklearn's own unique / encode is cheaper than the round trip; measured
# (5 classes, 20% wrong, best of 5, sklearn vs kernel, ms): str accuracy_score 3000: 1.8 vs 2.5,
# 10000: 5.8 vs 4.1; str f1_score(average="macro") 1000: 2.9 vs 2.9, 3000: 7.4 vs 4.2; int
# f1_score(average="macro") 3000: 2.7 vs 3.1, 10000: 3.8 vs 3.2; int classification_report 3000:
# 6.6 vs 7.1, 10000: 11.6 vs 7.4, 100000: 29.4 vs 13.5
MIN_LABELS = int(os.environ.get("STRATUM_KERNEL_MIN_LABELS", "5000"))
MIN_INT_LABELS = int(os.environ.get("STRATUM_KERNEL_MIN_INT_LABELS", "10000"))
stats = {"runs": 0, "declined": 0, "mcm_reused": 0}
_KEY = "stratum_labels"


class _Local(threading.local):
    off = False  # disabled(): every hook is the original
    scope = None  # inside a scoped call: {(id, ...): (inputs, attached views)}


_tls = _Local()


@contextlib.contextmanager
def disabled():
    """Within this block (this thread), every hook behaves as scikit-learn's original."""
    prev = _tls.off
    _tls.off = True
    try:
        yield
    finally:
        _tls.off = prev


def install(register) -> None:
    import sklearn.metrics
    import sklearn.metrics._classification as C

    attach = C.attach_unique
    register(C, "attach_unique", attach)
    C.attach_unique = _make_attach(attach)
    encoder = C.LabelEncoder
    register(C, "LabelEncoder", encoder)
    C.LabelEncoder = _make_encoder(encoder)
    mcm = C.multilabel_confusion_matrix
    register(C, "multilabel_confusion_matrix", mcm)
    C.multilabel_confusion_matrix = _make_mcm(mcm)
    for name in ("precision_recall_fscore_support", "classification_report"):
        original = getattr(C, name)
        scoped = per_call_scope(original, _tls, _active)
        register(C, name, original)
        setattr(C, name, scoped)
        if getattr(sklearn.metrics, name) is original:
            register(sklearn.metrics, name, original)
            setattr(sklearn.metrics, name, scoped)


def _active() -> bool:
    return not _tls.off and RT.client is not None and RT.store_dir is not None


def _make_attach(original):
    @functools.wraps(original)
    def attach_unique(*ys, return_tuple=False):
        if not _active() or len(ys) not in (1, 2):
            return original(*ys, return_tuple=return_tuple)
        try:
            res = _attach(ys)
        except Exception as e:
            shim_error("label_codes", e)
            res = None
        if res is None:
            return original(*ys, return_tuple=return_tuple)
        return res[0] if len(res) == 1 and not return_tuple else res

    attach_unique.__stratum_kernel_original__ = original
    return attach_unique


class _Labels:
    """What the kernel said about one array: where it lies (its memory, shape, strides and
    dtype), the sorted union of the call's labels, its codes in that union, and which union
    labels it holds."""

    __slots__ = ("where", "union", "codes", "present")

    def __init__(self, array, union, codes, present):
        self.where = _where(array)
        self.union, self.codes, self.present = union, codes, present


def _where(a):
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _labels(y):
    """y as (a 1-D numpy array sklearn would see, its Arrow array for the kernel), or None."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(y, pd.Series):
        if is_arrow_str(y.dtype) and not y.hasnans:
            return np.asarray(y), one_chunk(y.array._pa_array)
        if not isinstance(y.dtype, np.dtype):
            return None
        y = y.to_numpy()
    if type(y) is not np.ndarray or y.ndim != 1 or y.dtype.metadata is not None:
        return None
    kind = y.dtype.kind
    if kind in "iub":
        if kind == "u" and y.dtype.itemsize == 8 and len(y) and y.max() > np.iinfo(np.int64).max:
            return None
        return y, pa.array(y.astype(np.int64, copy=False))
    if kind == "U" and y.dtype.itemsize > 4 and len(y):
        # Arrow cuts a numpy unicode value at its first NUL: decline values holding one (a
        # zero code point followed by another; trailing zeros are numpy's padding)
        v = np.ascontiguousarray(y).view(np.uint32).reshape(len(y), -1)
        if ((v[:, :-1] == 0) & (v[:, 1:] != 0)).any():
            return None
    if kind in "OU":
        from .lid import arrow_of

        try:
            arrow = arrow_of(y)
            arrow = pa.array(y, from_pandas=False) if arrow is None else arrow
        except (pa.ArrowException, UnicodeError, TypeError, ValueError):
            return None  # not all str (sklearn raises or handles them its own way)
        if arrow.type != pa.string() or arrow.null_count:
            return None
        return y, arrow
    return None


def _attach(ys):
    """The attached views of ys (one or two label arrays), or None (the original does it)."""
    import numpy as np
    import pyarrow as pa

    from .kernels import _kernel

    scope = _tls.scope
    key = tuple(id(y) for y in ys)
    if scope is not None and key in scope:
        inputs, views = scope[key]
        if all(a is b for a, b in zip(inputs, ys)):
            return views
    if any(getattr(y, "ndim", None) != 1 or len(y) < min(MIN_LABELS, MIN_INT_LABELS) for y in ys):
        return None
    if scope is None and all(getattr(getattr(y, "dtype", None), "kind", "O") in ("i", "u", "b") for y in ys):
        return None  # numbers outside the scoped functions: see below, decided before converting
    got = [_labels(y) for y in ys]
    if any(g is None for g in got) or len({len(g[0]) for g in got}) > 1:
        return None
    kinds = {g[0].dtype.kind in "iub" for g in got}
    if len(kinds) > 1:
        return None  # numbers and strings together: sklearn raises
    if len(got[0][0]) < (MIN_INT_LABELS if kinds == {True} else MIN_LABELS):
        return None
    if kinds == {True} and scope is None:
        # numbers outside precision_recall_fscore_support / classification_report: only the
        # uniques are needed, and np.unique of ints is cheaper than the round trip (1M labels:
        # accuracy_score 39 ms in sklearn, 54 ms through the kernel)
        return None
    table = pa.table({name: g[1] for name, g in zip("yp", got)})
    res = _kernel("label_codes", table, {}, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    views = []
    for name, (array, _) in zip("yp", got):
        col = one_chunk(res.column(name))
        union = col.dictionary
        codes = col.indices.to_numpy()
        present = np.bincount(codes, minlength=len(union)) > 0
        if array.dtype.kind in "iub":
            union = union.to_numpy().astype(array.dtype)
        elif array.dtype.kind == "U":
            union = np.array(union.to_pylist(), dtype=array.dtype)
        else:
            union = np.array(union.to_pylist(), dtype=object)
        info = _Labels(array, union, codes, present)
        unique = union[present]
        views.append(array.view(dtype=np.dtype(array.dtype, metadata={"unique": unique, _KEY: info})))
    views = tuple(views)
    if scope is not None:
        scope[key] = (ys, views)
    return views


def _make_mcm(original):
    @functools.wraps(original)
    def multilabel_confusion_matrix(y_true, y_pred, *, sample_weight=None, labels=None, samplewise=False):
        key = None
        if _tls.scope is not None and not _tls.off and sample_weight is None and samplewise is False:
            try:
                key = _mcm_key(y_true, y_pred, labels)
            except Exception as e:
                shim_error("label_codes", e)
        if key is not None and key in _tls.scope:
            inputs, mcm = _tls.scope[key]
            if inputs[0] is y_true and inputs[1] is y_pred:
                stats["mcm_reused"] += 1
                return mcm.copy()
        mcm = original(y_true, y_pred, sample_weight=sample_weight, labels=labels, samplewise=samplewise)
        if key is not None:
            _tls.scope[key] = ((y_true, y_pred), mcm.copy())
        return mcm

    multilabel_confusion_matrix.__stratum_kernel_original__ = original
    return multilabel_confusion_matrix


def _mcm_key(y_true, y_pred, labels):
    """The scope key of multilabel_confusion_matrix(y_true, y_pred, labels=labels) on two label
    arrays attach_unique returned in this call (their codes attached), or None."""
    import numpy as np

    for y in (y_true, y_pred):
        meta = getattr(getattr(y, "dtype", None), "metadata", None)
        info = meta.get(_KEY) if meta else None
        if info is None or type(y) is not np.ndarray or _where(y) != info.where:
            return None
    if labels is None:
        return ("mcm", id(y_true), id(y_pred), None)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iubOU" or len(labels) > 10000:
        return None
    key = ("mcm", id(y_true), id(y_pred), labels.dtype.str, tuple((type(x), x) for x in labels.tolist()))
    try:
        hash(key)
    except TypeError:  # labels holding unhashable objects: sklearn's own every time
        return None
    return key


def _make_encoder(original):
    class LabelEncoder(original):
        __doc__ = original.__doc__

        def transform(self, y):
            codes = None
            if _active():
                try:
                    codes = _encode(self.classes_, y)
                except Exception as e:
                    shim_error("label_codes", e)
            return super().transform(y) if codes is None else codes

    LabelEncoder.__qualname__ = original.__qualname__
    LabelEncoder.__stratum_kernel_original__ = original
    return LabelEncoder


def _encode(classes, y):
    """LabelEncoder(classes_).transform(y) from the codes the hook attached to y, or None."""
    import numpy as np

    meta = getattr(getattr(y, "dtype", None), "metadata", None)
    info = meta.get(_KEY) if meta else None
    if info is None or type(y) is not np.ndarray or _where(y) != info.where:
        return None
    # sklearn's own transform casts y to the classes' dtype first (object labels are matched
    # against unicode classes: unique_labels makes them with np.asarray(sorted(...)))
    if not any(classes.dtype.kind in k and y.dtype.kind in k for k in ("iub", "OU")):
        return None
    at = np.searchsorted(classes, info.union)
    held = info.present & (at < len(classes))
    if not np.array_equal(held, info.present) or not np.all(classes[at[held]] == info.union[held]):
        return None  # a label the encoder does not know: its own error
    return at.astype(np.intp, copy=False)[info.codes]
