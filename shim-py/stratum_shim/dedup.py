"""pandas' ``DataFrame.duplicated`` over several columns on the Rust runtime (kernel ``duplicated``).

``df.drop_duplicates()`` (and ``df.duplicated()``) with two or more columns factorises every
column with pandas' hash tables, numbers the tuples and walks them (130 ms for 1M rows x 3 here,
of 200 ms for ``drop_duplicates``). ``DataFrame.duplicated`` is substituted: the kernel
(runtime-rs dedup.rs) returns the same mask, which depends only on which rows hold equal
tuples, and pandas' own ``drop_duplicates`` takes the rows, so the frame is the one pandas
builds.

Supported, and everything else is pandas' own: ``keep`` "first", "last" or False; ``subset``
None, a label or a list of labels of a frame with unique column labels, naming at least two
columns (one column goes to pandas' own, already fast, single-column path); every column int64,
float64 (NaN, and -0.0 equal to 0.0, as pandas' factoriser compares them), bool, datetime64 or
timedelta64 (their int64 values; NaT is one value), categorical (its codes) or pandas' ``str``;
at least ``STRATUM_KERNEL_MIN_DEDUP_ROWS`` rows. Object columns (Python equality across types),
nullable masked dtypes and anything else stay with pandas. ``STRATUM_DEDUP_KERNEL=0`` turns the
substitution off.

Columns of frames read through the store go to the kernel by reference (no copy).
"""

from __future__ import annotations

import os

import numpy as np

from .bridge import is_arrow_str, one_chunk

ENABLED = os.environ.get("STRATUM_DEDUP_KERNEL", "1") != "0"
# below this many rows pandas' own is as fast as the round trip or faster: measured (session
# 15, unordered numbering; a traced script, medians of 5, kernel vs pandas, ms) 3 columns (int,
# float, str) 200k 23.8 vs 26.6, 400k 32.7 vs 45.9, 700k 44.5 vs 80.6; 2 columns (int, str) 200k
# 21.9 vs 17.8, 400k 26.9 vs 33.2, 1M 41.1 vs 84.2 (see docs/ARCHITECTURE.md, "Duplicated rows")
MIN_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_DEDUP_ROWS", "300000"))
KEEPS = {"first": "first", "last": "last", False: "none"}
stats = {"runs": 0, "declined": 0}


def install(register) -> None:
    import pandas as pd

    from .kernels import _substitute

    original = vars(pd.DataFrame)["duplicated"]
    register(pd.DataFrame, "duplicated", original)
    pd.DataFrame.duplicated = _substitute("duplicated", original, _plan, _run)


def _arrow_column(col):
    """A column's values as an Arrow array the kernel compares as pandas' factoriser does, or
    None when unsupported."""
    import pandas as pd
    import pyarrow as pa

    dtype = col.dtype
    if is_arrow_str(dtype):
        return one_chunk(col.array._pa_array)
    if isinstance(dtype, pd.CategoricalDtype):
        return pa.array(np.asarray(col.array.codes, dtype=np.int64))
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pa.array(col.array._ndarray.view(np.int64))
    if not isinstance(dtype, np.dtype):
        return None
    values = col.to_numpy()
    if dtype in (np.int64, np.float64):
        return pa.array(values)
    if dtype == np.bool_:
        return pa.array(values.astype(np.int64))
    if dtype.kind in "mM":
        return pa.array(values.view(np.int64))
    return None


def _plan(self, subset=None, keep="first"):
    if not any(keep is k or (isinstance(keep, str) and keep == k) for k in KEEPS):
        return None  # pandas raises its own error
    if not ENABLED or self.empty or len(self) < MIN_ROWS or not self.columns.is_unique:
        return None
    if subset is None:
        subset = self.columns
    elif not np.iterable(subset) or isinstance(subset, str) or (isinstance(subset, tuple) and subset in self.columns):
        subset = (subset,)
    try:
        wanted = set(subset)
    except TypeError:
        return None  # pandas raises its own error
    if not all(s in self.columns for s in wanted):
        return None  # pandas raises its KeyError
    columns = [col for name, col in self.items() if name in wanted]
    if len(columns) < 2:
        return None
    arrays = [_arrow_column(c) for c in columns]
    if any(a is None for a in arrays):
        return None
    return arrays, KEEPS[False if keep is False else keep]


def _run(p, self, *args, **kwargs):
    import pyarrow as pa

    from .kernels import _kernel

    arrays, keep = p
    res = _kernel("duplicated", pa.table({f"c{j}": a for j, a in enumerate(arrays)}), {"keep": keep, "columns": len(arrays)}, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    # a writable copy (1 byte a row): the script may set values of the mask
    mask = res.column("dup").to_numpy().view(np.bool_).copy()
    return self._constructor_sliced(mask, index=self.index).__finalize__(self, method="duplicated")
