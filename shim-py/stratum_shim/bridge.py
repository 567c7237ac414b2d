"""Arrow IPC <-> pandas, exactly: the frames match what ``pd.read_csv`` returns.

Kept free of imports of the rest of the shim so that workers and tests can load it alone.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc

__all__ = ["ipc_to_frame", "frame_to_ipc"]

_NUMPY_TYPES = {
    np.dtype("int64"): pa.int64(),
    np.dtype("float64"): pa.float64(),
    np.dtype("bool"): pa.bool_(),
}


def ipc_to_frame(path: str) -> pd.DataFrame:
    """Map an Arrow IPC file (zero-copy) and return it as the DataFrame read_csv would give.

    int64/float64/bool columns become numpy columns, strings become pandas' default ``str``
    dtype with NaN for nulls; the index is a RangeIndex and the columns Index has dtype ``str``.
    """
    with pa.memory_map(path, "r") as source:
        table = pa.ipc.open_file(source).read_all()
    # the buffers keep the mapping alive after the file handle is closed
    return table.to_pandas()


def _is_default_str(dtype: object) -> bool:
    if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow":
        return False
    na = dtype.na_value
    return isinstance(na, float) and math.isnan(na)


def _exact(df: pd.DataFrame) -> bool:
    idx, cols = df.index, df.columns
    if not (type(idx) is pd.RangeIndex and idx.start == 0 and idx.step == 1 and idx.name is None):
        return False
    if type(cols) is not pd.Index or not _is_default_str(cols.dtype) or cols.name is not None:
        return False
    if len(cols) == 0 or not cols.is_unique or df.attrs:
        return False
    if not all(type(c) is str for c in cols):
        return False
    return all(dt in _NUMPY_TYPES or _is_default_str(dt) for dt in df.dtypes)


def frame_to_ipc(df: pd.DataFrame, path: str) -> bool:
    """Write ``df`` to an Arrow IPC file at ``path`` if ipc_to_frame gives it back exactly.

    Returns False, writing nothing, for frames it cannot round-trip (other index or dtypes,
    non-string labels): the caller then falls back to pickle.
    """
    if not isinstance(df, pd.DataFrame) or not _exact(df):
        return False
    arrays = {}
    for name in df.columns:
        col = df[name]
        if col.dtype in _NUMPY_TYPES:
            # from numpy, NaN stays a value with its exact bits (from_pandas would make it null)
            arrays[name] = pa.array(col.to_numpy(), type=_NUMPY_TYPES[col.dtype])
        else:
            arrays[name] = pa.array(col.array, type=pa.large_string())
    table = pa.table(arrays)
    tmp = path + ".tmp"
    try:
        with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return True
