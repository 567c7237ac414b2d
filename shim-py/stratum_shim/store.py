"""Results in the coordinator's store directory: Arrow IPC for plain frames, pickle otherwise.

Publishing writes a temporary file and renames it, so a reader never sees a partial result.
Plain frames are written by a background thread (publish_later): writing a 1M-row result to the
store takes tens of milliseconds that the script need not wait for. Pickles are written at once:
pickling needs the interpreter lock throughout and reads objects the script may change next.
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
    path = os.path.join(store_dir, f"{lid}.pkl")
    tmp = f"{path}.{os.getpid()}.tmp"
    with io.open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=5)
    os.rename(tmp, path)
    return path, "pickle", os.path.getsize(path)


def publish_later(store_dir: str, lid: str, payload, done) -> int | None:
    """Queue a plain frame for the background writer; returns its Arrow buffers' size in bytes,
    or None (nothing queued) when the payload needs publish() instead.

    ``done(path, None)`` runs on the writer thread once the file is in place, ``done(None, exc)``
    if writing failed. The frame's columns stay borrowed until then (see bridge.frame_table).
    """
    import pandas as pd

    if not isinstance(payload, pd.DataFrame):
        return None
    from .bridge import frame_table

    got = frame_table(payload)
    if got is None:
        return None
    table, borrowed = got
    _writer().put((table, borrowed, os.path.join(store_dir, f"{lid}.arrow"), done))
    return table.nbytes


def drain() -> None:
    """Wait until every queued frame is written and announced (before the script's connection closes)."""
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
    from .bridge import write_table

    while True:
        table, borrowed, path, done = q.get()
        try:
            try:
                write_table(table, path)  # pyarrow writes without the interpreter lock
            except BaseException as e:  # noqa: BLE001 - reported through done()
                table = borrowed = None
                done(None, e)
            else:
                table = borrowed = None
                done(path, None)
        except BaseException:  # noqa: BLE001 - done() reports its own failures; the loop must go on
            pass
        finally:
            table = borrowed = done = None
            q.task_done()
