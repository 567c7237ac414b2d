"""pandas' ``DataFrame.nunique`` and ``Series.nunique`` on the Rust runtime (kernel ``nunique``).

``df.nunique()`` is ``df.apply(Series.nunique)``: one column after another, each ``unique()``
through pandas' hash tables, then the missing values dropped (1M rows x 7 columns: ~150-200 ms,
most of it in ``unique_with_mask``). The kernel (runtime-rs nunique.rs) counts every column's
distinct values in parallel and says whether one is missing; ``dropna=False`` adds one for them,
as pandas' ``unique`` keeps the missing value once.

Supported, and everything else is pandas' own: ``axis`` 0 and ``dropna`` a bool, a plain
``DataFrame`` / ``Series`` of at least ``STRATUM_KERNEL_MIN_NUNIQUE_ROWS`` rows (a frame needs
at least one column the kernel takes; a Series, many distinct values in a sample of its values:
few distinct values are as fast in pandas). Columns: numpy integers of any width (uint64 as its int64
bits), bool (as uint8), float64 and float32 (NaN missing, -0.0 equal to 0.0, as pandas' hash
tables compare them; float32 widened exactly), datetime64 / timedelta64 / tz-aware (their int64,
NaT missing), categorical (its codes: only observed values count, -1 missing) and pandas' Arrow
``str`` / ``string[pyarrow]`` (null missing). In a frame, the other columns (object, nullable
masked dtypes, float16, Arrow dtypes, ...) are counted by pandas' own ``Series.nunique``, as
``apply`` would; the result is built as ``apply`` builds it (an int64 Series indexed by the
columns, ``__finalize__`` from the frame). A Series returns a Python int, as ``len`` does.
``STRATUM_NUNIQUE_KERNEL=0`` turns the substitution off.

Columns of frames read through the store go to the kernel by reference (no copy); other int64
columns go in the narrowest integer type that holds their values (fewer bytes to write).
"""

from __future__ import annotations

import os

import numpy as np

from .bridge import is_arrow_str

ENABLED = os.environ.get("STRATUM_NUNIQUE_KERNEL", "1") != "0"
# below this many rows pandas' own is as fast as the round trip or faster, for frames and for
# Series (measured in a traced script on a busy 2-core machine, pandas vs kernel: 7-column
# frames 1.5-2.9x at 1M rows, 1.1-1.75x at 750k, 0.74-1.4x at 500k, 0.5-0.7x at 100k; see
# docs/ARCHITECTURE.md, "nunique")
MIN_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_NUNIQUE_ROWS", "750000"))
# a Series goes to the kernel only when a strided sample of SAMPLE of its values holds at least
# MIN_SAMPLE_DISTINCT distinct ones (some 150k distinct values or more in all): with fewer,
# pandas' hash table stays in cache and pandas is as fast as the round trip (1M rows: 0.8-1.0x
# for 4 to 60k distinct values, 1.2-7x for 190k to 1M)
SAMPLE = 4096
MIN_SAMPLE_DISTINCT = 4000
stats = {"runs": 0, "declined": 0, "frames": 0, "series": 0}  # kernel runs, and of them for frames / Series
_series_nunique = None  # pandas' own Series.nunique


def install(register) -> None:
    import pandas as pd

    from .kernels import _substitute

    global _series_nunique
    for cls, plan, run in ((pd.Series, _plan_series, _run_series), (pd.DataFrame, _plan_frame, _run_frame)):
        original = vars(cls)["nunique"] if "nunique" in vars(cls) else getattr(cls, "nunique")
        if cls is pd.Series:
            _series_nunique = original
        register(cls, "nunique", original)
        cls.nunique = _substitute("nunique", original, plan, run)


def _column(col, narrow=True):
    """(Arrow array, what marks a missing integer: "nat", "code" or None) of a column the kernel
    counts as pandas' hash tables do, or None when unsupported; `narrow`: int64 values not in
    the store in a narrower type when they fit (`_narrow`)."""
    import pandas as pd
    import pyarrow as pa

    from .dedup import _arrow_column

    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return pa.array(np.asarray(col.array.codes)), "code"  # int8 / int16 / ...: no widening
    if is_arrow_str(dtype):
        return _arrow_column(col), None
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _arrow_column(col), "nat"
    if not isinstance(dtype, np.dtype):
        return None
    if dtype.kind in "mM":
        return _arrow_column(col), "nat"
    values = col.to_numpy()
    if dtype == np.bool_:
        return pa.array(values.view(np.uint8)), None
    if dtype.kind in "iu":
        # equal bits, equal values: uint64 as int64; narrower integers as they are
        if dtype.itemsize < 8:
            return pa.array(values), None
        return (_narrow(values.view(np.int64)) if narrow else pa.array(values.view(np.int64))), None
    if dtype == np.float64:
        return pa.array(values), None
    if dtype == np.float32:
        return pa.array(values.astype(np.float64)), None  # exact; NaN stays NaN, -0.0 -0.0
    return None


def _narrow(values):
    """int64 values as an Arrow array: a store column as it is (it goes to the kernel by
    reference), any other in the narrowest integer type that holds all its values (fewer bytes
    to write; distinct values stay distinct)."""
    import pyarrow as pa

    from .bridge import column_ref

    array = pa.array(values)
    if len(values) == 0 or column_ref(array) is not None:
        return array
    lo, hi = int(values.min()), int(values.max())
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return pa.array(values.astype(t))
    return array


def _dropna(dropna):
    """dropna as a bool, or None when pandas should see what it does with it."""
    return bool(dropna) if isinstance(dropna, (bool, np.bool_)) else None


def _count(columns):
    """[(distinct values, whether one is missing)] of the (array, missing) columns, or None when
    the kernel declined."""
    import pyarrow as pa

    from .kernels import _kernel

    table = pa.table({f"c{j}": a for j, (a, _) in enumerate(columns)})
    options = {"columns": len(columns), "missing": [m for _, m in columns]}
    res = _kernel("nunique", table, options, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    return list(zip(res.column("distinct").to_pylist(), res.column("missing").to_pylist()))


def _plan_series(self, dropna=True, *extra, **unknown):
    import pandas as pd

    if not ENABLED or extra or unknown or type(self) is not pd.Series or len(self) < max(MIN_ROWS, 1):
        return None
    dropna = _dropna(dropna)
    column = None if dropna is None else _column(self, narrow=False)
    if column is None or not _many_distinct(column[0]):
        return None
    array, missing = column
    if missing is None and array.type == "int64":
        array = _narrow(array.to_numpy())
    return (array, missing), dropna


def _many_distinct(array, at_least=None) -> bool:
    """Whether a strided sample of SAMPLE of the array's values holds at least `at_least`
    (default MIN_SAMPLE_DISTINCT) distinct values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    at_least = MIN_SAMPLE_DISTINCT if at_least is None else at_least
    if at_least <= 0:
        return True
    n = len(array)
    sample = array if n <= SAMPLE else array.take(pa.array(np.arange(SAMPLE, dtype=np.int64) * (n // SAMPLE)))
    return pc.count_distinct(sample, mode="all").as_py() >= at_least


def _run_series(p, self, *args, **kwargs):
    column, dropna = p
    res = _count([column])
    if res is None:
        return None
    stats["series"] += 1
    distinct, missing = res[0]
    return int(distinct) + (0 if dropna else int(missing))


def _plan_frame(self, axis=0, dropna=True, *extra, **unknown):
    import pandas as pd

    if not ENABLED or extra or unknown or type(self) is not pd.DataFrame:
        return None
    try:
        if self._get_axis_number(axis) != 0:
            return None
    except (ValueError, TypeError):
        return None  # pandas raises its own error
    dropna = _dropna(dropna)
    if dropna is None or not all(self.shape) or len(self) < max(MIN_ROWS, 1):
        return None
    cols = [self._ixs(j, axis=1) for j in range(self.shape[1])]  # as apply takes them
    arrays = [_column(c) for c in cols]
    if all(a is None for a in arrays):
        return None
    return cols, arrays, dropna


def _run_frame(p, self, *args, **kwargs):
    cols, arrays, dropna = p
    counts = {}
    for j, (col, a) in enumerate(zip(cols, arrays)):
        if a is None:  # pandas' own; should it raise, the original raises it (at its column)
            try:
                counts[j] = _series_nunique(col, dropna=dropna)
            except Exception:
                return None
    sent = [j for j, a in enumerate(arrays) if a is not None]
    res = _count([arrays[j] for j in sent])
    if res is None:
        return None
    stats["frames"] += 1
    for j, (distinct, missing) in zip(sent, res):
        counts[j] = int(distinct) + (0 if dropna else int(missing))
    # FrameApply.wrap_results: a Series of the results by position, then the columns as index
    out = self._constructor_sliced(dict(sorted(counts.items())))
    out.index = self.columns
    return out.__finalize__(self, method="apply")
