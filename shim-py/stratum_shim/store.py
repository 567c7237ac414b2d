"""Results in the coordinator's store directory: Arrow IPC for plain frames, pickle otherwise.

Publishing writes a temporary file and renames it, so a reader never sees a partial result.
"""

from __future__ import annotations

import io
import os
import pickle


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
