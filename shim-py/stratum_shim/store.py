"""Results in the coordinator's store directory: Arrow IPC for plain frames, pickle otherwise.

Publishing writes a temporary file and renames it, so a reader never sees a partial result.
Frames and Series are written by a background thread (publish_later): writing a 1M-row result
to the store takes tens of milliseconds that the script need not wait for. Other payloads
(arrays, fitted estimators) are pickled at once: the script may change them next, and nothing
would copy them first.
"""

from __future__ import annotations

import io
import os
import pickle
import queue
import threading


def load(path: str, fmt: str):
    if fmt == "arrow":
        from .bridge import ipc_to_frame

        return ipc_to_frame(path)
    if fmt == "arrow-table":  # an Arrow table as read from its source (read_parquet)
        from .bridge import ipc_table

        return ipc_table(path)
    if fmt == "pickle":
        with io.open(path, "rb") as f:
            return pickle.load(f)
    raise ValueError(f"unknown result format {fmt!r} for {path}")


def publish(store_dir: str, lid: str, payload) -> tuple[str, str, int]:
    """Write payload under store_dir; returns (path, format, bytes)."""
    import pandas as pd

    if isinstance(payload, pd.DataFrame):
        from .bridge import frame_to_ipc

        path = os.path.join(store_dir, f"{lid}.arrow")
        if frame_to_ipc(payload, path):
            return path, "arrow", os.path.getsize(path)
    return _pickle(store_dir, lid, payload)


def _pickle(store_dir: str, lid: str, payload) -> tuple[str, str, int]:
    path = os.path.join(store_dir, f"{lid}.pkl")
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with io.open(tmp, "wb") as f:
            pickle.dump(payload, f, protocol=5)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path, "pickle", os.path.getsize(path)


def publish_later(store_dir: str, lid: str, payload, done) -> int | None:
    """Queue a frame or Series for the background writer; returns an estimate of its size in
    bytes, or None (nothing queued) when the payload needs publish() instead.

    ``done(path, format, None)`` runs on the writer thread once the file is in place,
    ``done(None, None, exc)`` if writing failed. What the writer reads is protected from the
    script's later writes by pandas' copy-on-write: frames IPC can carry keep their columns
    borrowed until written (see bridge.frame_table); other frames and Series are pickled from a
    shallow copy, which shares the blocks and so makes a write to the original copy them first.
    Other payloads (arrays, estimators) are mutable without any such guard: publish() them.
    """
    import pandas as pd

    if not isinstance(payload, (pd.DataFrame, pd.Series)):
        return None
    from .bridge import frame_table

    got = frame_table(payload) if isinstance(payload, pd.DataFrame) else None
    if got is not None:
        table, borrowed = got
        path = os.path.join(store_dir, f"{lid}.arrow")

        def write():
            from .bridge import write_table

            write_table(table, path)  # pyarrow writes without the interpreter lock
            return path, "arrow"

        _writer().put((write, done, borrowed))
        return table.nbytes
    snapshot = payload.copy(deep=False)
    _writer().put((lambda: _pickle(store_dir, lid, snapshot)[:2], done, None))
    usage = snapshot.memory_usage(index=True, deep=False)
    return int(usage.sum() if isinstance(snapshot, pd.DataFrame) else usage)


def drain() -> None:
    """Wait until every queued result is written and announced (before the script's connection closes)."""
    q = _state.get("queue")
    if q is not None and _state.get("pid") == os.getpid():
        q.join()


_state: dict = {}  # the writer of this process: {"pid", "queue"}; a forked child starts its own


def _writer() -> queue.Queue:
    if _state.get("pid") != os.getpid():
        q: queue.Queue = queue.Queue()
        threading.Thread(target=_write_loop, args=(q,), name="stratum-publish", daemon=True).start()
        _state.update(pid=os.getpid(), queue=q)
    return _state["queue"]


def _write_loop(q: queue.Queue) -> None:
    while True:
        write, done, keep = q.get()
        try:
            try:
                (path, fmt), exc = write(), None
            except BaseException as e:  # noqa: BLE001 - reported through done()
                (path, fmt), exc = (None, None), e
            write = keep = None  # written or failed: the script's frame need not stay borrowed
            done(path, fmt, exc)
        except BaseException:  # noqa: BLE001 - done() reports its own failures; the loop must go on
            pass
        finally:
            write = done = keep = None
            q.task_done()
