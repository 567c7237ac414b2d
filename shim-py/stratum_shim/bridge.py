"""Arrow IPC <-> pandas, exactly: the frames match what ``pd.read_csv`` returns.

Kept free of imports of the rest of the shim so that workers and tests can load it alone.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import weakref

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc

__all__ = ["ipc_to_frame", "frame_to_ipc", "frame_table", "write_table", "column_ref"]

# schema metadata of a read_csv result whose column labels are the integers 0..n (header=None)
INT_LABELS = b"stratum.int_labels"
# schema metadata of a frame the shim published (frame_table): JSON {"index": ...} describing an
# index other than the default RangeIndex, and datetime / timedelta columns stored as their int64
# values (NaT included, never null), to be viewed back as such
FRAME = b"stratum.frame"
_INDEX_COLUMN = "__stratum_index__"

_NUMPY_TYPES = {
    np.dtype("int64"): pa.int64(),
    np.dtype("float64"): pa.float64(),
    np.dtype("bool"): pa.bool_(),
}


def ipc_to_frame(path: str) -> pd.DataFrame:
    """Map an Arrow IPC file and return it as the DataFrame read_csv would give.

    int64/float64 columns without nulls reach pandas *without a copy*: they are numpy views of
    a private copy-on-write mapping of the file (MAP_PRIVATE), so scripts share the pages of a
    result until one writes to a column, and a write (``df.loc[i, c] = v``, ``+=``) changes only
    that script's page, never the file. Other columns go through ``to_pandas``: strings become
    pandas' default ``str`` dtype (Arrow-backed) with NaN for nulls, bools become numpy bools,
    timestamps datetime64[us] with NaT for nulls. The index is a RangeIndex and the columns
    Index has dtype ``str`` (int64 labels 0..n when the schema says so: header=None).
    """
    mm = _map(path)
    buf = pa.py_buffer(mm)
    table = pa.ipc.open_file(pa.BufferReader(buf)).read_all()
    if not len(mm) or table.num_rows == 0:
        return table.to_pandas()
    meta = table.schema.metadata or {}
    frame = json.loads(meta[FRAME]) if FRAME in meta else None
    base = buf.address
    columns = {}
    for name, col in zip(table.column_names, table.columns):
        view = _numpy_view(mm, base, col, temporal=frame is not None)
        columns[name] = view if view is not None else col.to_pandas()
    if len(columns) != table.num_columns:  # duplicate names: let pyarrow handle them
        return table.to_pandas()
    index = None
    if frame is not None and frame.get("index"):
        spec = frame["index"]
        if spec["kind"] == "range":
            index = pd.RangeIndex(spec["start"], spec["start"] + spec["step"] * table.num_rows, spec["step"], name=spec["name"])
        else:
            index = pd.Index(columns.pop(_INDEX_COLUMN), dtype=np.int64, name=spec["name"], copy=False)
    if frame is not None and frame.get("blocks"):
        return _with_blocks(columns, frame["blocks"], frame["order"], index, mm, base)
    df = pd.DataFrame(columns, copy=False)  # (to_pandas Series carry a RangeIndex: set the index after)
    if index is not None:
        df.index = index
    if meta.get(INT_LABELS) == b"1":  # read_csv(header=None)
        df.columns = pd.Index(np.arange(table.num_columns, dtype=np.int64))
    return df


def _with_blocks(columns: dict, sizes: list, order: list, index, mm, base: int) -> pd.DataFrame:
    """The frame of a published file whose frame had blocks of several columns (frame_table):
    the table's first columns are those blocks' (``sizes`` columns each), ``order`` gives each
    table column's position in the frame. A block whose columns lie one after the other in the
    mapping is one 2-D view of it, as the block was in the computing script; otherwise (a
    column converted by pyarrow: bools) its columns are stacked into one array."""
    from pandas.api.internals import create_dataframe_from_blocks

    names = list(columns)
    arrays = [c if isinstance(c, np.ndarray) else c._values for c in columns.values()]
    rows = len(arrays[0])
    blocks, k = [], 0
    for size in sizes:
        part = arrays[k:k + size]
        block = _block_view(part, mm, base)
        if block is None:
            block = np.vstack([np.asarray(a) for a in part])
        blocks.append((block, np.array(order[k:k + size], dtype=np.intp)))
        k += size
    for a, j in zip(arrays[k:], order[k:]):
        blocks.append((a.reshape(1, -1) if isinstance(a, np.ndarray) else a, np.array([j], dtype=np.intp)))
    labels = [None] * len(names)
    for name, j in zip(names, order):
        labels[j] = name
    return create_dataframe_from_blocks(blocks, index=pd.RangeIndex(rows) if index is None else index, columns=pd.Index(labels))


def _block_view(arrays: list, mm, base: int):
    """One 2-D block (columns x rows) viewing the mapping ``mm`` (at address ``base``) over
    these 1-D numpy arrays of one dtype when each lies right after the previous one in it; else
    None."""
    if not all(isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype == arrays[0].dtype and a.flags.c_contiguous for a in arrays):
        return None
    rows, width = len(arrays[0]), arrays[0].dtype.itemsize
    at = [a.__array_interface__["data"][0] for a in arrays]
    if any(len(a) != rows for a in arrays) or any(b != a + rows * width for a, b in zip(at, at[1:])):
        return None
    if at[0] < base or at[0] + len(arrays) * rows * width > base + len(mm):
        return None
    return np.ndarray((len(arrays), rows), dtype=arrays[0].dtype, buffer=mm, offset=at[0] - base)


# the store results this process has mapped: (start, end, path, inode, weak reference to the
# mapping); column_ref finds a kernel input's buffers in them
_regions: list[tuple[int, int, str, int, weakref.ref]] = []


def _map(path: str):
    """A private copy-on-write mapping of the file (empty bytes for an empty file)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if not st.st_size:
            return b""
        mm = mmap.mmap(f.fileno(), st.st_size, access=mmap.ACCESS_COPY)
    start = pa.py_buffer(mm).address
    _regions[:] = [r for r in _regions if r[4]() is not None]
    _regions.append((start, start + st.st_size, path, st.st_ino, weakref.ref(mm)))
    return mm


def _untouched(address: int, nbytes: int) -> bool:
    """Whether this process never wrote to the pages of [address, address + nbytes) of a
    private file mapping, so they still hold the file's bytes: each page is either not yet
    faulted in (and not swapped: a written page that was swapped out is anonymous) or a page
    of the file (a write replaces it by an anonymous copy). /proc/self/pagemap, bits 63
    (present), 62 (swapped) and 61 (file page)."""
    page = mmap.PAGESIZE
    first, last = address // page, (address + nbytes - 1) // page
    try:
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(first * 8)
            raw = f.read((last - first + 1) * 8)
    except OSError:
        return False
    entries = np.frombuffer(raw, dtype=np.uint64)
    if len(entries) != last - first + 1:
        return False
    present, swapped, file = ((entries >> np.uint64(b)) & np.uint64(1) for b in (63, 62, 61))
    return bool(np.all(np.where(present == 1, file == 1, swapped == 0)))


def is_arrow_str(dtype) -> bool:
    """Whether dtype is pandas' Arrow-backed `str` (its values are an Arrow array already)."""
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def one_chunk(chunked: pa.ChunkedArray) -> pa.Array:
    """A chunked Arrow array as one array (combine_chunks copies even a single chunk, and a copy
    is no longer a store column that can go to a kernel by reference)."""
    return chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()


def column_ref(array: pa.Array) -> dict | None:
    """A kernel input passed by reference instead of written again: an int64 / float64 /
    string array whose buffers all lie, unwritten, in one store result this process mapped
    (a column of a frame read through the store). The kernel maps that file itself; the
    description (path, inode, type, length, offset, null count, each buffer's offset and size
    in the file) is checked there again. None when the array is anywhere else."""
    if not isinstance(array, pa.Array) or array.type not in (pa.int64(), pa.float64(), pa.string(), pa.large_string()):
        return None
    found = None
    buffers = []
    for buf in array.buffers():
        if buf is None:
            buffers.append(None)
            continue
        for start, end, path, ino, ref in _regions:
            if start <= buf.address and buf.address + buf.size <= end and ref() is not None:
                break
        else:
            return None
        if found is not None and found != (path, ino):
            return None
        if buf.size and not _untouched(buf.address, buf.size):
            return None
        found = (path, ino)
        buffers.append([buf.address - start, buf.size])
    if found is None:
        return None
    try:  # a store result evicted (unlinked) since it was mapped: its columns go by value
        if os.stat(found[0]).st_ino != found[1]:
            return None
    except OSError:
        return None
    return {"path": found[0], "ino": found[1], "type": str(array.type), "len": len(array),
            "offset": array.offset, "null_count": array.null_count, "buffers": buffers}


def ipc_table(path: str) -> pa.Table:
    """The Arrow table of an IPC file or stream (a stream when its batches carry their own
    dictionaries), memory-mapped copy-on-write like ipc_to_frame."""
    mm = _map(path)
    source = pa.BufferReader(pa.py_buffer(mm))
    if mm[:6] == b"ARROW1":
        return pa.ipc.open_file(source).read_all()
    return pa.ipc.open_stream(source).read_all()


def parquet_table_to_frame(table: pa.Table, source: str, nan_nulls: bool = False) -> pd.DataFrame:
    """What ``pd.read_parquet(source, columns=...)`` returns, from the table the Rust kernel read.

    The table must be the one pyarrow's ``read_table(..., use_pandas_metadata=True)`` gives: its
    schema (types and metadata) is checked against pyarrow's reading of the file's footer, and
    then pandas' own conversion (the code ``read_parquet`` runs after ``read_table``) makes the
    frame. Raises ValueError when the schemas differ (the caller then reads with pandas).

    Null-free int64 / float64 data columns that pandas' metadata says were plain ``int64`` /
    ``float64`` and that lie in a store file this process mapped reach pandas *without a copy*,
    as writable views of the copy-on-write mapping (as ``ipc_to_frame`` does): pandas converts
    the table without them, and the frame is assembled from its blocks and those views, with the
    column labels pandas gives the whole table. With ``nan_nulls`` (the table is the read_parquet
    kernel's, which writes NaN into the null slots of float64 columns: parquet.rs
    ``nan_at_nulls``) float64 columns with nulls are views too: pandas' conversion would put the
    same NaN there (pandas writes a float column's NaN to Parquet as nulls).

    The blocks are pandas' too. pyarrow's conversion gives all the columns of one dtype one 2-D
    block, which is observable (``df.to_numpy()`` of such a frame is a read-only view, of a
    frame of several blocks a writable copy; scikit-learn validates it without a copy). The
    store lays out a batch's int64 columns one right after the other, and so its float64
    columns (runtime-rs ipc.rs ``grouped_values``), so the views of one dtype are one 2-D block
    viewing that memory; the converted columns keep the blocks pandas made of them. Views of a
    dtype that are not laid out that way, or that pandas' conversion of the other columns also
    produces (an int64 column with nulls becomes float64), are left to pandas' conversion.
    """
    import json
    import warnings

    import pyarrow.parquet as pq
    from pandas.io._util import arrow_table_to_pandas

    full = pq.read_schema(source)
    names = set(full.names)
    if any(n not in names for n in table.column_names):
        raise ValueError(f"the kernel's table has columns that {source} does not have")
    expected = pa.schema([full.field(n) for n in table.column_names], metadata=full.metadata)
    if not table.schema.equals(expected, check_metadata=True):
        raise ValueError(f"the kernel's schema differs from pyarrow's for {source}")
    views, mm, base = _parquet_views(table, nan_nulls)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "make_block is deprecated")
        if views:
            rest = arrow_table_to_pandas(table.drop_columns(list(views)))
            clash = {v.dtype for v in views.values()} & set(rest.dtypes)
            if clash:  # pandas' conversion makes columns of those dtypes too: one block each
                views = {c: v for c, v in views.items() if v.dtype not in clash}
                rest = arrow_table_to_pandas(table.drop_columns(list(views)))
        if views:
            labels = arrow_table_to_pandas(table.slice(0, 0)).columns
        else:
            df = arrow_table_to_pandas(table)
    if views:
        from pandas.api.internals import create_dataframe_from_blocks

        data = [c for c in table.column_names if c not in _index_fields(table)]
        if len(labels) != len(data) or len(rest.columns) != len(data) - len(views):
            raise ValueError(f"cannot line up the columns of {source}")
        position = {c: j for j, c in enumerate(data)}
        blocks = []
        for dtype in dict.fromkeys(v.dtype for v in views.values()):  # one 2-D block per dtype
            names = [c for c in data if c in views and views[c].dtype == dtype]
            block = _block_view([views[c] for c in names], mm, base)  # (checked by _parquet_views)
            blocks.append((block, np.array([position[c] for c in names], dtype=np.intp)))
        others = np.array([position[c] for c in data if c not in views], dtype=np.intp)
        blocks += [(b.values, others[b.mgr_locs.as_array]) for b in rest._mgr.blocks]
        df = create_dataframe_from_blocks(blocks, index=rest.index, columns=labels)
    meta = table.schema.metadata or {}
    if b"PANDAS_ATTRS" in meta:
        df.attrs = json.loads(meta[b"PANDAS_ATTRS"])
    return df


def _index_fields(table: pa.Table) -> set:
    meta = table.schema.pandas_metadata or {}
    return {c for c in meta.get("index_columns", []) if isinstance(c, str)}


def _parquet_views(table: pa.Table, nan_nulls: bool) -> tuple[dict, object, int]:
    """({column name: writable numpy view}, the mapping they view, its address) for the table's
    data columns that can reach pandas without a copy (see parquet_table_to_frame), those of one
    dtype one right after the other in column order; no views when there are none."""
    meta = table.schema.pandas_metadata
    if not meta or table.num_rows == 0 or len(set(table.column_names)) != table.num_columns:
        return {}, None, 0
    numpy_type = {c.get("field_name"): c.get("numpy_type") for c in meta.get("columns", [])}
    index = _index_fields(table)
    views, mapping, base = {}, None, 0
    for name, col in zip(table.column_names, table.columns):
        if name in index or numpy_type.get(name) != {pa.int64(): "int64", pa.float64(): "float64"}.get(col.type):
            continue
        if col.num_chunks != 1:
            continue
        address = col.chunk(0).buffers()[1].address
        for start, end, _path, _ino, ref in _regions:
            mm = ref()
            if mm is not None and start <= address < end and (mapping is None or mm is mapping):
                view = _numpy_view(mm, start, col, nan_nulls=nan_nulls)
                if view is not None:
                    views[name] = view
                    mapping, base = mm, start
                break
    for dtype in {v.dtype for v in views.values()}:  # each dtype's values one after the other
        if _block_view([v for v in views.values() if v.dtype == dtype], mapping, base) is None:
            views = {c: v for c, v in views.items() if v.dtype != dtype}
    return views, mapping, base


def _numpy_view(mm, base: int, col: pa.ChunkedArray, temporal: bool = False, nan_nulls: bool = False):
    """A writable numpy view of a null-free int64/float64 column inside the mapping, or None.
    With temporal, also of timestamp / duration columns (a frame the shim published: its NaT
    are int64 values, not nulls) as datetime64 / timedelta64 of their unit. With nan_nulls, also
    of a float64 column with nulls whose null slots hold NaN (the caller vouches for that)."""
    dtype = {pa.int64(): np.int64, pa.float64(): np.float64}.get(col.type)
    if dtype is None and temporal and (pa.types.is_timestamp(col.type) and col.type.tz is None or pa.types.is_duration(col.type)):
        dtype = np.dtype(f"{'M' if pa.types.is_timestamp(col.type) else 'm'}8[{col.type.unit}]")
    if dtype is None or col.num_chunks != 1 or col.null_count and not (nan_nulls and dtype is np.float64):
        return None
    arr = col.chunk(0)
    data = arr.buffers()[1]
    offset = data.address - base + arr.offset * 8
    if offset < 0 or offset + len(arr) * 8 > len(mm):
        return None
    return np.frombuffer(mm, dtype=dtype, count=len(arr), offset=offset)


def _is_default_str(dtype: object) -> bool:
    if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow":
        return False
    na = dtype.na_value
    return isinstance(na, float) and math.isnan(na)


def _default_index(idx) -> bool:
    return type(idx) is pd.RangeIndex and idx.start == 0 and idx.step == 1 and idx.name is None


def _index_spec(df: pd.DataFrame):
    """How frame_table stores the index: None for the default RangeIndex, a dict for another
    RangeIndex or an int64 Index (name None or a str), False when it cannot."""
    idx = df.index
    if _default_index(idx):
        return None
    if len(df) == 0 or not (idx.name is None or type(idx.name) is str) or not df.flags.allows_duplicate_labels:
        return False
    if type(idx) is pd.RangeIndex:
        return {"kind": "range", "start": int(idx.start), "step": int(idx.step), "name": idx.name}
    if type(idx) is pd.Index and idx.dtype == np.int64 and _INDEX_COLUMN not in df.columns:
        return {"kind": "column", "name": idx.name}
    return False


def _temporal(dtype) -> bool:
    """datetime64 / timedelta64 without a time zone, in any unit numpy and pandas share."""
    return isinstance(dtype, np.dtype) and dtype.kind in "mM" and np.datetime_data(dtype)[0] in ("s", "ms", "us", "ns")


def _exact(df: pd.DataFrame) -> bool:
    cols = df.columns
    if _index_spec(df) is False:
        return False
    if type(cols) is not pd.Index or not _is_default_str(cols.dtype) or cols.name is not None:
        return False
    if len(cols) == 0 or not cols.is_unique or df.attrs:
        return False
    if not all(type(c) is str for c in cols):
        return False
    temporal_ok = len(df) > 0  # an empty table goes through to_pandas, which has no NaT values to keep
    return all(dt in _NUMPY_TYPES or _is_default_str(dt) or (temporal_ok and _temporal(dt)) for dt in df.dtypes)


def _int64_array(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """values' int64 representation as an Arrow array of arrow_type, without a copy and without
    a null bitmap (NaT stays its int64 value)."""
    data = np.ascontiguousarray(values).view(np.int64)
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def frame_to_ipc(df: pd.DataFrame, path: str) -> bool:
    """Write ``df`` to an Arrow IPC file at ``path`` if ipc_to_frame gives it back exactly.

    Returns False, writing nothing, for frames it cannot round-trip (other index or dtypes,
    non-string labels): the caller then falls back to pickle.
    """
    got = frame_table(df)
    if got is None:
        return False
    write_table(got[0], path)
    return True


def frame_table(df: pd.DataFrame) -> tuple[pa.Table, list] | None:
    """The Arrow table frame_to_ipc writes for ``df`` and the columns (Series) it borrows from,
    or None for frames ipc_to_frame could not give back exactly.

    int64 / float64 / datetime64 / timedelta64 columns and an int64 index are borrowed without a
    copy. Whoever writes the table later (another thread) must keep the borrowed Series alive
    until then: while they live, pandas' copy-on-write copies a block before a write to it
    (``df.loc[i, c] = v``), so the table never sees the script's later writes. Without them the
    write would land in the table's memory.
    """
    if not isinstance(df, pd.DataFrame) or not _exact(df):
        return None
    arrays, borrowed, meta = {}, [], {}
    # pandas' blocks of several columns (one dtype each): their columns go to the table one
    # after the other (the file then holds each block's values contiguously: pyarrow pads
    # buffers to 8 bytes), the others after them; ipc_to_frame rebuilds the same blocks
    blocks = [b.mgr_locs.as_array.tolist() for b in df._mgr.blocks if len(b.mgr_locs) > 1]
    order = [j for b in blocks for j in b]
    order += sorted(set(range(df.shape[1])) - set(order))
    if blocks:
        meta["blocks"], meta["order"] = [len(b) for b in blocks], order
    for name in df.columns[order]:
        col = df[name]
        borrowed.append(col)
        if col.dtype in _NUMPY_TYPES:
            # from numpy, NaN stays a value with its exact bits (from_pandas would make it null)
            arrays[name] = pa.array(col.to_numpy(), type=_NUMPY_TYPES[col.dtype])
        elif _temporal(col.dtype):
            unit = np.datetime_data(col.dtype)[0]
            arrays[name] = _int64_array(col.to_numpy(), (pa.timestamp if col.dtype.kind == "M" else pa.duration)(unit))
            meta["temporal"] = True
        else:
            arrays[name] = pa.array(col.array, type=pa.large_string())
    spec = _index_spec(df)
    if spec is not None:
        meta["index"] = spec
        if spec["kind"] == "column":
            arrays[_INDEX_COLUMN] = pa.array(df.index.to_numpy(), type=pa.int64())
            borrowed.append(df.index)
    table = pa.table(arrays)
    if meta:
        table = table.replace_schema_metadata({FRAME: json.dumps(meta).encode()})
    return table, borrowed


def write_table(table: pa.Table, path: str) -> None:
    """Write ``table`` as an Arrow IPC file at ``path``: to a temporary file, then renamed, so
    a reader never sees a partial file (and a failed write leaves nothing behind)."""
    tmp = path + ".tmp"
    try:
        with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            if table.num_rows:
                writer.write_table(table)
            else:  # write_table writes no batch at all: readers (the kernels) expect one
                writer.write_batch(pa.RecordBatch.from_pylist([], schema=table.schema))
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
