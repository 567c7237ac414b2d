"""pandas' ``describe()`` of numeric columns on the Rust runtime (kernel ``describe``).

``df.describe()`` runs ``describe_numeric_1d`` once per numeric column: ``count``, ``mean``,
``std``, ``min``, ``max`` (pandas' nanops: masks, copies, NumPy reductions) and
``Series.quantile`` (a NaN-free copy and ``np.partition``): 1M rows x 6 columns take ~140 ms,
two thirds of it in the partitions. ``describe_ndframe`` (its name in ``pandas.core.generic``,
which ``NDFrame.describe`` calls) is substituted: all the columns pandas will describe as
numbers are known there, so the eligible ones go to the kernel in one call (runtime-rs
describe.rs: per column in parallel, NumPy's arithmetic operation for operation). Then pandas'
own ``describe_ndframe`` runs, in a per-thread scope in which ``describe_numeric_1d`` (its name
in ``pandas.core.methods.describe``, which ``select_describe_func`` returns) answers those
columns with the Series it builds itself (index from ``format_percentiles``, the column's name,
float64), so the selection of columns, the other columns' descriptions, the concatenation and
the frame are pandas' own.

Supported, and everything else is pandas' own: ``Series.describe`` and ``DataFrame.describe``
with any ``include`` / ``exclude`` pandas accepts and any ``percentiles`` (pandas' own
``_refine_percentiles`` sorts and checks them); columns of NumPy int64 or float64 (NaN, signed
zeros, tiny and huge values) described as numbers; the other selected columns (bool, other
numeric widths, datetimes, strings, categoricals, nullable dtypes) are described by pandas in
the same call, but a frame selecting an object or complex column stays entirely with pandas
(their descriptions can raise). The kernel declines what NumPy would warn about (an infinite
value, an overflow) and a min, max or quantile that depends on which zero NumPy's partition or
minimum picks when a column holds both 0.0 and -0.0: then pandas runs. At least
``STRATUM_KERNEL_MIN_DESCRIBE_ROWS`` values in the eligible columns; bottleneck in use or
``np.seterr(under=...)`` other than "ignore" leave the call to pandas.
``STRATUM_DESCRIBE_KERNEL=0`` turns the substitution off.

Columns of frames read through the store go to the kernel by reference (no copy).
"""

from __future__ import annotations

import collections
import os
import threading

import numpy as np

ENABLED = os.environ.get("STRATUM_DESCRIBE_KERNEL", "1") != "0"
# below this many values (rows x eligible columns) pandas' own is as fast as the round trip:
# measured (describe_ndframe, median of 7, pandas vs kernel, ms; store columns / columns
# written): 10k x 1 1.5 vs 2.0-7.3, 30k x 1 1.7 vs 2.0-2.3, 30k x 3 4.5 vs 3.5-4.4, 100k x 1
# 3.5 vs 2.4-2.6, 100k x 3 8.8 vs 4.9-6.2, 1M x 3 60 vs 20-32 (docs/ARCHITECTURE.md, "describe")
MIN_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_DESCRIBE_ROWS", "100000"))
stats = {"runs": 0, "declined": 0, "answered": 0, "mismatch": 0}
_INT64, _FLOAT64 = np.dtype(np.int64), np.dtype(np.float64)


class _Local(threading.local):
    # inside a substituted describe_ndframe: the describe_numeric_1d calls pandas will make,
    # in order, each (name, length, dtype, percentiles, (values, stat_index) from the kernel's
    # result or None for pandas' own)
    queue = None


_tls = _Local()


def install(register) -> None:
    import pandas.core.generic as generic
    import pandas.core.methods.describe as D

    from .kernels import _substitute

    numeric = vars(D)["describe_numeric_1d"]
    register(D, "describe_numeric_1d", numeric)
    D.describe_numeric_1d = _answering(numeric)
    original = vars(generic)["describe_ndframe"]
    register(generic, "describe_ndframe", original)

    def run(p, *args, **kwargs):
        return _run(original, p, *args, **kwargs)

    generic.describe_ndframe = _substitute("describe", original, _plan, run)


def _same_label(a, b) -> bool:
    if a is b:
        return True
    try:
        if type(a) is not type(b):
            return False
        if isinstance(a, float) and a != a:
            return b != b  # NaN labels
        return bool(a == b)
    except Exception:
        return False


def _answering(numeric):
    """describe_numeric_1d: inside a scope, the next expected column is answered from the
    kernel's numbers (None: pandas' own); anything unexpected ends the scope."""

    def describe_numeric_1d(series, percentiles):
        queue = _tls.queue
        if queue:
            name, length, dtype, pcts, row = queue[0]
            if (len(series) == length and series.dtype == dtype and _same_label(series.name, name)
                    and np.array_equal(np.asarray(percentiles), pcts)):
                queue.popleft()
                if row is not None:
                    stats["answered"] += 1
                    return _series(series, percentiles, row)
            else:
                stats["mismatch"] += 1
                _tls.queue = None
        return numeric(series, percentiles)

    return describe_numeric_1d


def _series(series, percentiles, row):
    """The Series describe_numeric_1d builds, from the kernel's numbers for the column: its
    list ``[count, mean, std, min, *quantiles, max]`` (an int64 column's min and max as int64)
    as float64, indexed by ``["count", "mean", "std", "min", *format_percentiles(percentiles),
    "max"]`` (that Index built once per call, ``stat_index``)."""
    import pandas as pd

    values, stat_index = row
    return pd.Series(values, index=stat_index, name=series.name, dtype=np.dtype("float"))


def _ours(dtype) -> bool:
    return isinstance(dtype, np.dtype) and dtype in (_INT64, _FLOAT64)


def _safe(dtype) -> bool:
    """A column pandas describes without the kernel but cannot fail on: the frame may go."""
    import pandas as pd
    from pandas.core.arrays.masked import BaseMaskedDtype

    if isinstance(dtype, np.dtype):
        return dtype.kind in "iufbmM"
    return isinstance(dtype, (pd.CategoricalDtype, pd.DatetimeTZDtype, pd.StringDtype, BaseMaskedDtype))


def _plan(*args, obj=None, include=None, exclude=None, percentiles=None, **extra):
    if args or extra or obj is None or not ENABLED:
        return None
    import pandas as pd
    import pandas.core.methods.describe as D
    import pandas.core.nanops as nanops

    if nanops._USE_BOTTLENECK or np.geterr()["under"] != "ignore":
        return None
    # at most this many values are ours: small calls stay with pandas before any other work
    if isinstance(obj, pd.Series):
        ours = len(obj) * _ours(obj.dtype)
    elif isinstance(obj, pd.DataFrame):
        ours = len(obj) * sum(_ours(dtype) for dtype in obj.dtypes)
    else:
        return None
    if ours < MIN_VALUES:
        return None
    try:
        pcts = D._refine_percentiles(percentiles)
    except Exception:
        return None  # pandas raises its own error
    if isinstance(obj, pd.Series):
        selected = [obj]
    else:
        try:
            data = D.DataFrameDescriber(obj=obj, include=include, exclude=exclude)._select_data()
        except Exception:
            return None  # pandas raises its own error (no columns, none selected)
        selected = [s for _, s in data.items()]
    expected, arrays, total = [], [], 0
    for s in selected:
        dtype = s.dtype
        numeric = D.select_describe_func(s) is D.describe_numeric_1d
        if numeric and _ours(dtype):
            expected.append([s.name, len(s), dtype, pcts, len(arrays)])
            arrays.append(s._values)
            total += len(s)
        elif _safe(dtype):
            if numeric:
                expected.append([s.name, len(s), dtype, pcts, None])
        else:
            return None
    if not arrays or total < MIN_VALUES:
        return None
    return expected, arrays, pcts


def _run(original, p, *args, **kwargs):
    import pandas as pd
    import pandas.core.methods.describe as D
    import pyarrow as pa

    from .kernels import _kernel

    expected, arrays, pcts = p
    table = pa.table({f"c{j}": pa.array(np.ascontiguousarray(a)) for j, a in enumerate(arrays)})
    options = {"columns": len(arrays), "quantiles": [str(b) for b in np.asarray(pcts, dtype=np.float64).view(np.uint64)],
               "bufsize": int(np.getbufsize())}
    res = _kernel("describe", table, options, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    cols = {name: res.column(name).to_numpy() for name in res.column_names}
    quantile_cols = [cols[f"q{k}"] for k in range(len(pcts))]
    stat_index = pd.Index(["count", "mean", "std", "min", *D.format_percentiles(pcts), "max"])
    queue = collections.deque()
    for name, length, dtype, pc, j in expected:
        row = None
        if j is not None:
            if dtype == _INT64 and cols["count"][j] > 0:
                # pandas' min and max of an int64 column are int64: converted as it builds the Series
                lo, hi = cols["imin"][j], cols["imax"][j]
            else:
                lo, hi = cols["min"][j], cols["max"][j]
            d = [int(cols["count"][j]), cols["mean"][j], cols["std"][j], lo, *(q[j] for q in quantile_cols), hi]
            row = (np.array(d, dtype=np.float64), stat_index)
        queue.append((name, length, dtype, pc, row))
    saved, _tls.queue = _tls.queue, queue
    try:
        return original(*args, **kwargs)
    finally:
        _tls.queue = saved
