"""The one generic wrapper every patch goes through: trace, LIDs, memoisation.

A wrapped call made from user code computes the LID of its result, asks the coordinator for it
when the op is worth sharing, and records an op record. Calls made from inside pandas, numpy or
scikit-learn (or from inside another traced op) run the original unchanged. Any failure of the
shim's own logic degrades to the plain call: it never changes what the script sees.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time

from . import cores, prefix
from . import lid as L
from .handlers import HANDLERS, Plan

_INTERNAL_ROOTS = frozenset(
    {"pandas", "numpy", "sklearn", "scipy", "pyarrow", "joblib", "threadpoolctl", "stratum_shim", "importlib", "runpy"}
)


class _Tls(threading.local):
    depth = 0


_tls = _Tls()


class Runtime:
    """Where records go and who answers memo requests; set by activate()."""

    sink = None  # Client | TraceFile | None
    client = None  # Client when a coordinator is connected
    store_dir = None
    script_id = ""
    min_memo_rows = int(os.environ.get("STRATUM_MEMO_MIN_ROWS", "1000"))
    min_memo_rows_pandas = int(os.environ.get("STRATUM_MEMO_MIN_ROWS_PANDAS", "50000"))
    publish_min_ms = float(os.environ.get("STRATUM_PUBLISH_MIN_MS", "20"))
    publish_thread = os.environ.get("STRATUM_PUBLISH_THREAD", "1") != "0"  # frames and Series written in the background
    errors = 0
    calls = 0  # user-level traced calls so far (names of prefix sharing live within one)


RT = Runtime()


def shim_error(where: str, exc: BaseException) -> None:
    """Log a failure of the shim itself (never the script's); the call proceeds unshimmed."""
    RT.errors += 1
    if os.environ.get("STRATUM_DEBUG"):
        import traceback

        sys.__stderr__.write(f"[stratum] shim error in {where}: {exc!r}\n")
        traceback.print_exc(file=sys.__stderr__)
    if RT.sink is not None:
        try:
            RT.sink.record({"op": "shim_error", "where": where, "error": repr(exc)[:500], "script": RT.script_id})
        except Exception:
            pass


def per_call_scope(original, tls, active=lambda: True):
    """`original`, with `tls.scope` a fresh dict during its outermost call on this thread (when
    `active()`) and None again after: a cache that lives for one library call (classify.py,
    splits.py: the label codes of an array that several steps of the call convert)."""

    @functools.wraps(original)
    def scoped(*args, **kwargs):
        if tls.scope is not None or not active():
            return original(*args, **kwargs)
        tls.scope = {}
        try:
            return original(*args, **kwargs)
        finally:
            tls.scope = None

    scoped.__stratum_kernel_original__ = original
    return scoped


def _from_user(frame) -> bool:
    name = frame.f_globals.get("__name__") or ""
    return name.partition(".")[0] not in _INTERNAL_ROOTS


def make_wrapper(op: str, kind: str, original):
    handler = HANDLERS[kind]
    is_fit = kind == "fit"
    is_transform = kind == "apply" and op.endswith(".transform")

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if is_fit and args:
            prefix.forget(args[0])
        if RT.sink is None:
            return original(*args, **kwargs)
        caller = None if _tls.depth else sys._getframe(1)
        if caller is None or not _from_user(caller):  # called by a library
            if is_transform:
                return prefix.transform(original, args, kwargs)
            return original(*args, **kwargs)
        cores.refresh()
        RT.calls += 1
        _tls.depth = 1
        L.traced_call(True)
        try:
            return _run(op, handler, original, args, kwargs, caller)
        finally:
            _tls.depth = 0
            L.traced_call(False)

    wrapper.__stratum_original__ = original
    return wrapper


def _run(op, handler, original, args, kwargs, caller):
    t0 = time.perf_counter()
    try:
        plan = handler.prepare(op, args, kwargs)
    except Exception as e:  # the shim's failure, not the script's
        shim_error(op, e)
        return original(*args, **kwargs)
    if plan.memo_lid and RT.client is not None:
        return _memo(op, handler, plan, original, args, kwargs, t0, caller)
    try:
        result = original(*args, **kwargs)
    except BaseException:
        _safe(handler.failed, plan, args)
        raise
    _finish(op, handler, plan, args, kwargs, result, t0, caller, "local")
    return result


def _safe(fn, *a):
    try:
        fn(*a)
    except Exception as e:
        shim_error(getattr(fn, "__name__", "handler"), e)


def _finish(op, handler, plan, args, kwargs, result, t0, caller, status, nbytes=0):
    try:
        handler.finish(plan, args, kwargs, result)
        _record(op, plan, t0, caller, status, nbytes)
    except Exception as e:
        shim_error(op, e)


def _record(op, plan: Plan, t0, caller, status, nbytes=0):
    rec = {
        "op": op,
        "lid": plan.lid,
        "inputs": plan.inputs,
        "script": RT.script_id,
        "site": f"{caller.f_code.co_filename}:{caller.f_lineno}",
        "rows": plan.rows,
        "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3),
        "status": status,
    }
    if plan.opaque:
        rec["opaque"] = plan.opaque
    if nbytes:
        rec["bytes"] = nbytes
    RT.sink.record(rec)


def _memo(op, handler, plan, original, args, kwargs, t0, caller):
    from . import store

    try:
        reply = RT.client.request({"t": "lookup", "lid": plan.memo_lid, "op": op, **plan.lookup_extra})
    except Exception as e:
        shim_error("lookup", e)
        reply = {"status": "local"}
    if reply.get("lid"):  # sources: the coordinator keys them by file content
        plan.lid = reply["lid"]
    lid = plan.lid or plan.memo_lid
    status = reply.get("status")
    if status == "hit":
        try:
            payload = store.load(reply["path"], reply["format"])
            result = handler.apply_hit(plan, args, kwargs, payload)
            _finish(op, handler, plan, args, kwargs, result, t0, caller, "hit", int(reply.get("bytes", 0)))
            return result
        except Exception as e:  # unreadable result: compute it here instead
            shim_error("hit", e)
            status = "local"
    owner = status == "compute"
    try:
        result = original(*args, **kwargs)
    except BaseException:
        if owner:
            _safe(RT.client.send, {"t": "abandon", "lid": lid})
        _safe(handler.failed, plan, args)
        raise
    elapsed_ms = (time.perf_counter() - t0) * 1000
    nbytes = 0
    if owner:
        try:
            if elapsed_ms >= RT.publish_min_ms:
                payload = handler.payload(plan, args, kwargs, result)
                later = store.publish_later(RT.store_dir, lid, payload, functools.partial(_published, lid, elapsed_ms)) if RT.publish_thread else None
                if later is not None:
                    nbytes = later
                else:
                    path, fmt, nbytes = store.publish(RT.store_dir, lid, payload)
                    RT.client.request({"t": "publish", "lid": lid, "path": path, "format": fmt, "bytes": nbytes, "elapsed_ms": elapsed_ms})
            else:
                RT.client.send({"t": "abandon", "lid": lid, "reason": "cheap"})
        except Exception as e:
            shim_error("publish", e)
            _safe(RT.client.send, {"t": "abandon", "lid": lid})
    _finish(op, handler, plan, args, kwargs, result, t0, caller, "computed" if owner else "local", nbytes)
    return result


def _published(lid: str, elapsed_ms: float, path: str | None, fmt: str | None, exc: BaseException | None) -> None:
    """The background writer's report (on its thread): announce the result, or give it up so a
    waiting script computes it. One-way messages: the main thread may be inside a request."""
    client = RT.client
    if client is None:
        return
    if exc is not None:
        shim_error("publish", exc)
        _safe(client.send, {"t": "abandon", "lid": lid})
        return
    try:
        client.send({"t": "publish", "lid": lid, "path": path, "format": fmt, "bytes": os.path.getsize(path), "elapsed_ms": elapsed_ms})
    except Exception as e:
        shim_error("publish", e)
