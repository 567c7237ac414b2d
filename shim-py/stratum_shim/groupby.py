"""pandas groupby aggregations on the Rust runtime (kernel ``groupby_agg``).

``df.groupby(key)`` followed by ``agg`` / ``aggregate`` (named aggregation, a dict of function
names, a function name or a list of them) or by one of the reductions ``sum mean count size
min max std var nunique first median``, or by ``transform`` with one of those names, is substituted on
DataFrameGroupBy and SeriesGroupBy. The kernel
factorises the key (pandas' ``sort=True`` order, rows with a missing key dropped) and runs
every aggregation with the arithmetic of pandas' Cython kernels (see runtime-rs groupby.rs), so
the result is identical; this module only checks the call, sends the columns and builds the
frame pandas would have built.

Supported, and everything else is pandas' own: one column label as the key (int64, or pandas'
default ``str`` dtype), ``sort=True``, ``dropna=True``, ``as_index`` either way, no other
arguments; value columns float64, int64, bool (sent as int64), datetime64 (count, size, min,
max, first) and ``str`` (count, size, nunique). ``STRATUM_GROUPBY_KERNEL=0`` turns it off.

Columns of frames read through the store (read_csv / read_parquet results, mapped from their
file) are passed to the kernel by reference, not copied (``bridge.column_ref``): the kernel maps
the same file. A column the script has written to is detected (its pages are no longer the
file's) and sent by value.
"""

from __future__ import annotations

import os

import numpy as np

from .bridge import is_arrow_str, one_chunk
from .dispatch import RT

# below these many rows pandas is as fast as the round trip (~2.5 ms): from 100k rows for
# three aggregations or more, from 500k for one or two. Measured (a traced script, pandas vs
# kernel, ms, best of 3): 100k rows, 8 named aggregations by an int key 17.3 vs 10.0, 4 by a
# str key with 6 groups 8.4 vs 4.7, one sum by an int key with 7 groups 1.1 vs 2.7, one mean
# by a str key 2.8 vs 3.1; 1M rows: the same 11.7 vs 11.6 and 25.1 vs 17.9, one sum by an int
# key with 190k groups 50.7 vs 13.8 (see docs/ARCHITECTURE.md)
MIN_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_GROUPBY_ROWS", "100000"))
MIN_ROWS_FEW = int(os.environ.get("STRATUM_KERNEL_MIN_GROUPBY_ROWS_FEW", "500000"))
OPS = ("sum", "mean", "count", "size", "min", "max", "std", "var", "nunique", "first", "median")
ENABLED = os.environ.get("STRATUM_GROUPBY_KERNEL", "1") != "0"
# what each kind of value column supports
_SUPPORTS = {
    "float": set(OPS),
    "int": set(OPS),
    "bool": set(OPS),
    "datetime": {"count", "size", "min", "max", "first"},
    "str": {"count", "size", "nunique"},
}
stats = {"runs": 0, "declined": 0}


def install(register) -> None:
    """Substitute agg / aggregate and the reductions of DataFrameGroupBy and SeriesGroupBy;
    `register(owner, name, original)` records what to restore."""
    from pandas.core.groupby import DataFrameGroupBy, SeriesGroupBy

    from .kernels import _substitute

    for cls in (DataFrameGroupBy, SeriesGroupBy):
        for name in ("agg", "aggregate", "transform", *OPS):
            original = vars(cls)[name] if name in vars(cls) else getattr(cls, name)
            register(cls, name, original)
            plan = {"agg": _plan_agg, "aggregate": _plan_agg, "transform": _plan_transform}.get(name) or _plan_reduction(name)
            setattr(cls, name, _substitute(f"groupby.{name}", original, plan, _run))


def _key(gb):
    """(label, Arrow array) of a supported single-column key, else None."""
    import pyarrow as pa

    if gb.level is not None or gb.sort is not True or gb.dropna is not True:
        return None
    keys = gb.keys  # a list, even of one label, gives tuple-like results in places: pandas' own
    groupings = gb._grouper.groupings
    if len(groupings) != 1 or not groupings[0].in_axis or not isinstance(keys, (str, int)) or isinstance(keys, bool):
        return None
    vec = groupings[0].grouping_vector
    if isinstance(vec, np.ndarray) and vec.dtype == np.int64:
        return keys, pa.array(vec), vec.dtype
    array = getattr(vec, "array", vec)
    if is_arrow_str(getattr(array, "dtype", None)):
        return keys, one_chunk(array._pa_array), array.dtype
    return None


def _value(series):
    """(kind, Arrow array) of a supported value column, else None."""
    import pyarrow as pa

    dtype = series.dtype
    if is_arrow_str(dtype):
        return "str", one_chunk(series.array._pa_array)
    if not isinstance(dtype, np.dtype):
        return None
    values = series.to_numpy()
    if dtype == np.float64:
        return "float", pa.array(values)
    if dtype == np.int64:
        return "int", pa.array(values)
    if dtype == np.bool_:
        return "bool", pa.array(values.astype(np.int64))
    if dtype.kind == "M":
        return "datetime", pa.array(values.view(np.int64))
    return None


class _Plan:
    """A supported call: the key, the value columns, the aggregations and the result's shape."""

    def __init__(self, gb, label, key, key_dtype):
        self.gb, self.label, self.key, self.key_dtype = gb, label, key, key_dtype
        self.columns: list[tuple] = []  # (kind, Arrow array, pandas dtype) per value column sent
        self.sent: dict[object, int] = {}  # column label -> index in columns
        self.aggs: list[tuple[int, str, object]] = []  # (column index, op, source dtype)

    def add(self, column_label, series, op) -> bool:
        if column_label not in self.sent:
            v = _value(series)
            if v is None:
                return False
            self.sent[column_label] = len(self.columns)
            self.columns.append((*v, series.dtype))
        j = self.sent[column_label]
        kind, _, dtype = self.columns[j]
        if op not in _SUPPORTS[kind]:
            return False
        self.aggs.append((j, op, dtype))
        return True


def _start(gb):
    """A plan for a supported GroupBy object, else None."""
    if not ENABLED or RT.client is None or len(gb.obj) < min(MIN_ROWS, MIN_ROWS_FEW):
        return None
    k = _key(gb)
    if k is None:
        return None
    return _Plan(gb, *k)


def _frame_columns(gb):
    """The value columns of a DataFrameGroupBy (its selection, key excluded): label -> Series,
    or None when labels repeat (pandas' own)."""
    obj = gb._obj_with_exclusions
    if not obj.columns.is_unique:
        return None
    return {c: obj[c] for c in obj.columns}


def _plan_reduction(op):
    def plan(self, *args, **kwargs):
        if args or kwargs:
            return None
        return _plan_ops(self, [op], shape="reduction")

    return plan


def _plan_ops(gb, ops, shape):
    """One or several function names applied to every value column of `gb`."""
    from pandas.core.groupby import SeriesGroupBy

    p = _start(gb)
    if p is None:
        return None
    if isinstance(gb, SeriesGroupBy):
        series = {gb.obj.name: gb.obj}
        p.series = True
    else:
        series = _frame_columns(gb)
        p.series = False
        if series is None or (not series and ops != ["size"]):
            return None
    p.shape = shape
    if ops == ["size"] and shape in ("reduction", "transform"):  # rows per group: the key itself is the value column
        p.columns.append(("str" if is_arrow_str(p.key_dtype) else "int", p.key, p.key_dtype))
        p.aggs.append((0, "size", p.key_dtype))
        p.outputs = [None]
        return _finish(p)
    p.outputs = []
    for label, s in series.items():
        for op in ops:
            if not p.add(label, s, op):
                return None
            p.outputs.append((label, op))
    return _finish(p)


def _finish(p):
    """The plan with its output labels, or None when ``as_index=False`` would insert the key
    next to an output of the same name (pandas' own error or result)."""
    if p.shape == "transform":
        p.labels = []  # the result keeps the frame's index and columns
    elif p.outputs == [None]:
        p.labels = ["size"]
    elif p.shape == "named":
        p.labels = list(p.names)
    elif p.shape == "list":
        p.labels = [op for _, op in p.outputs]
    else:
        p.labels = [c for c, _ in p.outputs]
    if not p.gb.as_index and p.label in p.labels:
        return None
    if len(p.gb.obj) < (MIN_ROWS if len(p.aggs) >= 3 else MIN_ROWS_FEW):
        return None
    return p


def _plan_transform(self, func, *args, engine=None, engine_kwargs=None, **kwargs):
    """transform(name): the aggregation broadcast back to the rows, in the frame's index. Keys
    must not be missing (pandas gives those rows NaN, even for integer results)."""
    from pandas.core.groupby import SeriesGroupBy

    if args or kwargs or engine is not None or engine_kwargs is not None or not isinstance(func, str) or func not in OPS:
        return None
    if func == "size" and not isinstance(self, SeriesGroupBy):
        return None  # a frame's transform("size") is a Series: pandas' own
    p = _plan_ops(self, [func], shape="transform")
    if p is None or p.key.null_count:
        return None
    return p


def _plan_agg(self, func=None, *args, engine=None, engine_kwargs=None, **kwargs):
    """agg / aggregate: named aggregation, a dict of names, a name or a list of names."""
    import pandas as pd
    from pandas.core.groupby import SeriesGroupBy

    if args or engine is not None or engine_kwargs is not None:
        return None
    if isinstance(func, str):
        return None if kwargs or func not in OPS else _plan_ops(self, [func], shape="reduction")
    if isinstance(func, list):
        if kwargs or not func or not all(isinstance(f, str) and f in OPS for f in func) or len(set(func)) != len(func):
            return None
        if not isinstance(self, SeriesGroupBy):
            return None  # a frame with a list gives MultiIndex columns: pandas' own
        return _plan_ops(self, func, shape="list")
    if isinstance(self, SeriesGroupBy):
        return None  # named aggregation of a Series: pandas' own
    if isinstance(func, dict):
        if kwargs or not func or not all(isinstance(f, str) and f in OPS for f in func.values()):
            return None
        pairs = list(func.items())
        names = [c for c, _ in pairs]
    elif func is None and kwargs:
        pairs = []
        for name, spec in kwargs.items():
            if isinstance(spec, pd.NamedAgg):
                if spec.args or spec.kwargs:
                    return None
                spec = (spec.column, spec.aggfunc)
            if not isinstance(spec, tuple) or len(spec) != 2 or not isinstance(spec[1], str) or spec[1] not in OPS:
                return None
            pairs.append(spec)
        names = list(kwargs)
    else:
        return None
    p = _start(self)
    if p is None:
        return None
    columns = _frame_columns(self)
    if columns is None:
        return None
    p.series, p.shape, p.names = False, "named", names
    p.outputs = []
    for column, op in pairs:
        if column not in columns or not p.add(column, columns[column], op):
            return None
        p.outputs.append((column, op))
    return _finish(p)


def _result_values(res, i, dtype, op):
    """Aggregation i of the kernel's result as the (writable, owned) numpy array pandas would
    hold: the result file's mapping is read-only and goes away."""
    a = res.column(f"a{i}").to_numpy()
    if op in ("min", "max", "first"):
        if dtype == np.bool_:
            return a.astype(np.bool_)
        if dtype.kind == "M":
            return a.view(dtype).copy()
    return a.copy()


def _run(p, *args, **kwargs):
    import pandas as pd
    import pyarrow as pa

    from .kernels import _kernel

    table = pa.table({"key": p.key, **{f"v{j}": c[1] for j, c in enumerate(p.columns)}})
    options = {
        "aggs": [{"col": j, "op": op} for j, op, _ in p.aggs],
        "datetime": [j for j, c in enumerate(p.columns) if c[0] == "datetime"],
        "broadcast": p.shape == "transform",
    }
    res = _kernel("groupby_agg", table, options, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    values = [_result_values(res, i, dtype, op) for i, (_, op, dtype) in enumerate(p.aggs)]
    gb = p.gb
    if p.shape == "transform":  # one value per row, in the frame's own index
        obj = gb._obj_with_exclusions
        if p.series:
            return pd.Series(values[0], index=obj.index, name=obj.name)
        out = pd.DataFrame(dict(zip(range(len(values)), values)), index=obj.index, copy=False)
        out.columns = obj.columns
        return out
    keys = res.column("key")
    if is_arrow_str(p.key_dtype):
        index = pd.Index(pd.array(one_chunk(keys), dtype=p.key_dtype), name=p.label)
    else:
        index = pd.Index(keys.to_numpy(), dtype=p.key_dtype, name=p.label)
    if p.outputs == [None]:  # size
        name = gb.obj.name if p.series else None
        out = pd.Series(values[0], index=index, name=name)
        if not gb.as_index:
            out = out.rename("size").reset_index()
        return out
    if p.series and p.shape == "reduction":
        out = pd.Series(values[0], index=index, name=gb.obj.name)
    else:
        # the arrays are the frame's own: no copy, no consolidation (8 columns of 200k rows:
        # 27 ms stacked into blocks, 2 ms as they are)
        out = pd.DataFrame(dict(zip(range(len(values)), values)), index=index, copy=False)
        out.columns = pd.Index(p.labels)
    if not gb.as_index:
        out = out.reset_index()
    return out
