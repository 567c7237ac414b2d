"""Prefix sharing: a Pipeline's fitted prefix is computed once per distinct (steps, data).

Agents search over the last step of a pipeline: GridSearchCV over a Ridge's alpha refits the same
ColumnTransformer on the same fold once per candidate (8 candidates x 5 folds = 40 fits of the
preprocessing, 10 of them distinct), and a script trying several models on one X_train fits the
same preprocessing once per model. Inside the process, the outermost prefix step of a Pipeline
(``sklearn.pipeline._fit_transform_one``, which ``Pipeline._fit`` calls for every step but the
last) is memoised by

    (the step's class and params, the identity of its X and y, scikit-learn's config),

and the transform of a step fitted that way, on an input of known identity, likewise.

Identities: the rows ``_safe_split`` takes for a fold are named by (the CV's X or y, the
indices, the estimator's pairwise tag); a memoised step's output is named by the step's key;
pandas objects keep their stratum lineage. Anything else has no identity here and is computed as
usual. The CV's own X and y are named by their lineage, or (arrays) by object identity within
the user-level call that is running: nothing outside scikit-learn runs between two folds.

Exactness: a hit gives the state of a fit of the same class and params on the same rows, and a
copy of the same output (a fresh, unpickled estimator copy and a copy of the array, so nothing
that mutates its input can change the cached result). Fits that show a warning are not stored,
so a hit never hides a warning the script would have shown. Random steps (random_state None),
noisy ones (verbose), sample weights, metadata-routed params and Pipeline(verbose=True) are not
memoised. Entries are bounded (``STRATUM_PREFIX_CACHE_MB``, default 512, least recently used
first out).
"""

from __future__ import annotations

import os
import pickle
import threading
import time
import warnings
import weakref
from collections import OrderedDict

import numpy as np

from . import estimators as E
from . import lid as L

CACHE_BYTES = int(float(os.environ.get("STRATUM_PREFIX_CACHE_MB", "512")) * 2**20)

# objects named here (fold rows, step outputs) -> (ref, key, the user-level call that named them):
# such a name is valid only within that call (no user code runs inside it to mutate the object)
_idents: dict[int, tuple[weakref.ref, str, int]] = {}
_fitted: dict[int, tuple[weakref.ref, str, int]] = {}  # steps fitted through the cache -> their key
# key -> (fitted state or None for a transform, output, bytes, ms it took to compute)
_cache: OrderedDict[str, tuple[bytes | None, object, int, float]] = OrderedDict()
_size = 0
stats = {"fit_hits": 0, "transform_hits": 0, "stored": 0, "saved_ms": 0.0}


class _State(threading.local):
    busy = False  # inside a memoised computation: nested steps are not memoised
    shown = 0  # warnings shown in this thread


_tls = _State()


def _call() -> int:
    from .dispatch import RT

    return RT.calls


def _in_call() -> bool:
    """Inside a traced user-level call (names that live within one call are only valid there)."""
    from .dispatch import _tls as dispatch_tls

    return dispatch_tls.depth > 0


def _track(table, obj, key: str) -> None:
    k = id(obj)
    try:
        table[k] = (weakref.ref(obj, L._forget(table, k)), key, _call())
    except TypeError:
        pass


def _lookup(table, obj, this_call_only: bool) -> str | None:
    e = table.get(id(obj))
    if e is None or e[0]() is not obj or this_call_only and e[2] != _call():
        return None
    return e[1]


def identity(obj) -> str | None:
    """obj's name for prefix sharing, or None."""
    key = _lookup(_idents, obj, True) if _in_call() else None
    if key is not None:
        return key
    if L._is_pandas(obj):  # its lineage (a fresh local one if it has none: mutations renew it)
        try:
            return L.value_lid(obj)
        except L.Opaque:
            return None
    return None


def forget(est) -> None:
    """est is being fitted (or given a shared fit's state): the cached-fit keys of it and of its
    steps no longer describe them."""
    if _fitted:
        _fitted.pop(id(est), None)
        for _, sub in E.sub_estimators(est):
            _fitted.pop(id(sub), None)


def _call_identity(obj) -> str | None:
    """The CV's X or y: its identity, or (not pandas) the object itself within this call."""
    if obj is None:
        return "none"
    key = identity(obj)
    if key is not None or L._is_pandas(obj) or not _in_call():
        return key
    return "u" + L.digest(b"obj:", str((_call(), id(obj))).encode())[1:]


def _eligible() -> bool:
    from .dispatch import RT

    return RT.sink is not None and not _tls.busy and threading.current_thread() is threading.main_thread()


def _copy(out):
    """A private copy of a step's output, or None when its type is not known to copy fully."""
    import pandas as pd
    import scipy.sparse as sp

    if isinstance(out, np.ndarray) and not out.dtype.hasobject:
        return out.copy()
    if sp.issparse(out) and not out.dtype.hasobject:
        return out.copy()
    if isinstance(out, pd.DataFrame):
        return out.copy(deep=True)
    return None


def _nbytes(out) -> int:
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        return int(out.memory_usage(index=True, deep=False).sum())
    if hasattr(out, "data") and hasattr(out, "indices"):
        return int(out.data.nbytes + out.indices.nbytes + out.indptr.nbytes)
    return int(getattr(out, "nbytes", 0))


def _state_of(fitted) -> bytes | None:
    """The fitted step as bytes, or None when it does not pickle (a lambda in its params)."""
    try:
        return pickle.dumps(fitted, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


def _store(key: str, state: bytes | None, out, ms: float, fit: bool = True) -> None:
    global _size
    copy = _copy(out)
    if copy is None or fit and state is None:
        return
    n = _nbytes(copy) + (len(state) if state else 0)
    if n > CACHE_BYTES:
        return
    old = _cache.pop(key, None)
    if old is not None:
        _size -= old[2]
    while _cache and _size + n > CACHE_BYTES:
        _size -= _cache.popitem(last=False)[1][2]
    _cache[key] = (state, copy, n, ms)
    _size += n
    stats["stored"] += 1


def _get(key: str):
    entry = _cache.get(key)
    if entry is not None:
        _cache.move_to_end(key)
        stats["saved_ms"] += entry[3]
    return entry


def _no_params(params) -> bool:
    """Pipeline passes its routed params: a dict of per-method dicts (all empty unless the script
    passed fit params or metadata)."""
    if not params:
        return True
    return all(not v for v in params.values()) if isinstance(params, dict) else False


def _run_counting(fn, *args, **kwargs):
    """fn(...), whether it showed a warning, and the ms it took."""
    shown, t0 = _tls.shown, time.perf_counter()
    _tls.busy = True
    try:
        out = fn(*args, **kwargs)
    finally:
        _tls.busy = False
    return out, _tls.shown != shown, (time.perf_counter() - t0) * 1000


def make_safe_split(original):
    def _safe_split(estimator, X, y, indices, train_indices=None):
        X_sub, y_sub = original(estimator, X, y, indices, train_indices)
        if not _eligible():
            return X_sub, y_sub
        try:
            from sklearn.utils import get_tags

            xid, yid = _call_identity(X), _call_identity(y)
            if xid is None or yid is None:
                return X_sub, y_sub
            pairwise = bool(get_tags(estimator).input_tags.pairwise)
            rows = [L.array_lid(np.asarray(i)) if i is not None else "none" for i in (indices, train_indices)]
            base = L.digest(b"split:", repr((xid, yid, rows, pairwise)).encode())
            prefix = "u" if L.is_local(xid) or L.is_local(yid) else ""
            _track(_idents, X_sub, prefix + L.digest(b"X", base.encode()))
            if y_sub is not None:
                _track(_idents, y_sub, prefix + L.digest(b"y", base.encode()))
        except Exception as e:
            from .dispatch import shim_error

            shim_error("prefix.split", e)
        return X_sub, y_sub

    _safe_split.__stratum_original__ = original
    return _safe_split


def _fit_key(transformer, X, y) -> str | None:
    if getattr(transformer, "warm_start", False):  # its fit starts from its current state
        return None
    xid = identity(X)
    yid = "none" if y is None else identity(y)
    if yid is None and isinstance(y, np.ndarray) and y.nbytes <= 1 << 20:
        yid = L.array_lid(y)
    if xid is None or yid is None:
        return None
    try:
        return _key("prefix.fit_transform", E.ParamsOf(transformer), xid, yid)
    except L.Opaque:
        return None


def _key(op: str, params, *names: str) -> str:
    """The key of op on params and data names; local (never shared) when any name is local."""
    key = L.lid_of(op, params, names, E.sklearn_config())
    return "u" + key[1:] if any(L.is_local(n) for n in names) else key


def make_fit_transform_one(original):
    def _fit_transform_one(transformer, X, y, weight, message_clsname="", message=None, params=None):
        if weight is not None or message is not None or not _no_params(params) or not _eligible():
            return original(transformer, X, y, weight, message_clsname, message, params)
        from .dispatch import shim_error

        try:
            key = _fit_key(transformer, X, y)
            entry = _get(key) if key is not None else None
            if entry is not None:
                fitted, out = pickle.loads(entry[0]), _copy(entry[1])
                E.restore_into(transformer, fitted)
                _track(_idents, out, L.child_lid(key, "out"))
                _track(_fitted, transformer, key)
                stats["fit_hits"] += 1
                return out, transformer
        except Exception as e:
            shim_error("prefix.fit", e)
            key = None
        if key is None:
            return original(transformer, X, y, weight, message_clsname, message, params)
        (out, fitted), warned, ms = _run_counting(original, transformer, X, y, weight, message_clsname, message, params)
        try:
            if not warned:
                _store(key, _state_of(fitted), out, ms)
            _track(_idents, out, L.child_lid(key, "out"))
            _track(_fitted, fitted, key)
        except Exception as e:
            shim_error("prefix.store", e)
        return out, fitted

    _fit_transform_one.__stratum_original__ = original
    return _fit_transform_one


def transform(original, args, kwargs):
    """A patched `transform` called from inside scikit-learn (Pipeline.predict/score, ...)."""
    if kwargs or len(args) != 2 or not _eligible():
        return original(*args, **kwargs)
    est, X = args
    fit_key = _lookup(_fitted, est, False)
    if fit_key is None:
        return original(*args, **kwargs)
    from .dispatch import shim_error

    try:
        xid = identity(X)
        key = None if xid is None else _key("prefix.transform", E.ParamsOf(est), fit_key, xid)
        entry = _get(key) if key is not None else None
        if entry is not None:
            out = _copy(entry[1])
            _track(_idents, out, L.child_lid(key, "out"))
            stats["transform_hits"] += 1
            return out
    except Exception as e:
        shim_error("prefix.transform", e)
        key = None
    if key is None:
        return original(*args, **kwargs)
    out, warned, ms = _run_counting(original, *args)
    try:
        if not warned:
            _store(key, None, out, ms, fit=False)
        _track(_idents, out, L.child_lid(key, "out"))
    except Exception as e:
        shim_error("prefix.store", e)
    return out


def _make_showwarnmsg(original):
    def _showwarnmsg(msg):
        _tls.shown += 1
        return original(msg)

    _showwarnmsg.__stratum_original__ = original
    return _showwarnmsg


def install(register) -> None:
    """Patch the split and prefix-fit internals (register(owner, name) records each original)."""
    import sklearn.model_selection._validation as validation
    import sklearn.pipeline as pipeline

    for owner, name, make in (
        (validation, "_safe_split", make_safe_split),
        (pipeline, "_fit_transform_one", make_fit_transform_one),
        (warnings, "_showwarnmsg", _make_showwarnmsg),
    ):
        register(owner, name)
        setattr(owner, name, make(getattr(owner, name)))


def summary(script: str) -> dict | None:
    """The record that tells the coordinator what prefix sharing saved in this script."""
    if not (stats["fit_hits"] or stats["transform_hits"]):
        return None
    return {"op": "prefix_share", "script": script, "fit_hits": stats["fit_hits"],
            "transform_hits": stats["transform_hits"], "elapsed_ms": round(stats["saved_ms"], 3)}


def clear() -> None:
    global _size
    _cache.clear()
    _idents.clear()
    _fitted.clear()
    _size = 0
