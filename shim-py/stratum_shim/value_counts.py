"""pandas' ``Series.value_counts`` counting step on the Rust runtime (kernel ``value_counts``).

``Series.value_counts`` (and ``Index.value_counts``) of a NumPy column goes through
``value_counts_internal`` -> ``value_counts_arraylike`` -> ``htable.value_count``: one hash
table, one thread (1M rows: ~17 ms for 190k distinct ints, 45-110 ms for 1M, 170-270 ms for 1M
distinct floats). ``htable.value_count`` returns the distinct values in the order of their first
appearance and their counts; everything around it (NaT dropped, the keys' dtype restored, the
index, name, ``sort_values(kind="stable")``, ``normalize``, ``bins``) is pandas' own code.

So ``pandas.core.algorithms.htable`` (the name that module looks the hash tables up by) becomes
a copy of ``pandas._libs.hashtable`` whose ``value_count`` sends a large 1-D array to the kernel
(runtime-rs valuecounts.rs): every distinct value's first row and its count, counted in parallel.
The keys are taken from the array itself at those rows, so they are exactly the values pandas'
table keeps (of ``0.0`` and ``-0.0``, or of NaNs with different bits, the first seen).

Supported, and everything else is pandas' own: no mask (masked ``Int64`` / ``boolean`` arrays
pass one), ``dropna`` a bool, an ndarray of integers of any width (uint64 as its int64 bits),
bool (uint8, as ``_ensure_data`` makes it), float64 or float32 (widened exactly; NaN missing,
-0.0 equal to 0.0) of at least ``STRATUM_KERNEL_MIN_VALUE_COUNTS`` values whose strided sample
holds many distinct values (with few, pandas' table stays in cache and is faster than the round
trip). datetime64 / timedelta64 arrive as their int64 (pandas drops NaT after counting).

pandas' Arrow ``str`` / ``string[pyarrow]`` arrays never reach the hash table:
``ArrowExtensionArray.value_counts`` counts with pyarrow's ``value_counts`` (distinct values, a
null one too, in the order of their first appearance). It is replaced for ``ArrowStringArray``s
of at least ``STRATUM_KERNEL_MIN_VALUE_COUNTS_STR`` values with many distinct ones: the kernel
counts the strings (bytes equal, a null one key), the values are the array's own at the first
rows, and the rest of the method (the null dropped with ``dropna``, the index, the int64[pyarrow]
counts) is rebuilt as pandas builds it. ``STRATUM_VALUE_COUNTS_KERNEL=0`` turns both off.
"""

from __future__ import annotations

import os
import types

import numpy as np

from .dispatch import RT, shim_error

ENABLED = os.environ.get("STRATUM_VALUE_COUNTS_KERNEL", "1") != "0"
# below this many values pandas' table is as fast as the round trip or faster (measured in a
# traced script, pandas vs kernel, ms: 500k ints with 125k / 500k distinct 9.2 vs 11.9 / 19.2 vs
# 20.3; 750k: 24.4 vs 19.5 / 39.7 vs 34.5, floats 43.6 vs 20.6 / 78.0 vs 36.1; 1M: ints with 6
# to 1M distinct values 1.1-3.1x, floats 1.55-2.5x from 3000 up; see docs/ARCHITECTURE.md)
MIN_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_VALUE_COUNTS", "750000"))
# an array goes to the kernel when a strided sample of nunique.SAMPLE of its values holds at least
# this many distinct ones (some 2000 distinct values or more in all), or when it holds integers
# over a range the kernel counts in an array (no hashing: as fast for any number of distinct
# values); few distinct hashed values are as fast in pandas' table, which stays in cache (1M
# floats: 1000 distinct 9.6 vs 10.4 ms, 6 distinct 6.3 vs 8.6; 3000 distinct 15.3 vs 9.8)
MIN_SAMPLE_DISTINCT = 2000
# pandas' Arrow ``str`` arrays are counted by pyarrow's own hash, faster than pandas' table; the
# kernel pays only with many distinct strings (traced script, strings not in the store, pyarrow
# vs kernel, ms: 1M with 6 / 1000 / 20k / 190k / 1M distinct 13.6 / 15.7 / 23.8 / 51.9 / 158 vs
# 16.8 / 17.5 / 23.3 / 44.5 / 73.0; 500k with 190k / 500k distinct 31.0 / 52.6 vs 28.4 / 31.4):
# at least this many values, and a sample of 4096 holding at least MIN_STR_SAMPLE_DISTINCT
# distinct ones (some 100k distinct values or more)
MIN_STR_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_VALUE_COUNTS_STR", "500000"))
MIN_STR_SAMPLE_DISTINCT = 4000
stats = {"runs": 0, "declined": 0}


def install(register) -> None:
    import pandas.core.algorithms as A
    from pandas._libs import hashtable
    from pandas.core.arrays.arrow.array import ArrowExtensionArray

    from .kernels import _substitute

    if A.htable is hashtable:  # else someone else's replacement: leave it
        register(A, "htable", hashtable)
        A.htable = _namespace(hashtable)
    original = vars(ArrowExtensionArray)["value_counts"]
    register(ArrowExtensionArray, "value_counts", original)
    ArrowExtensionArray.value_counts = _substitute("value_counts", original, _plan_arrow, _run_arrow)


def _namespace(hashtable):
    ns = types.ModuleType(hashtable.__name__, hashtable.__doc__)
    ns.__dict__.update(hashtable.__dict__)
    original = hashtable.value_count

    def value_count(values, dropna, mask=None):
        out = None
        try:
            array = _plan(values, dropna, mask)
            if array is not None:
                out = _run(array, values, dropna)
                if out is None:
                    stats["declined"] += 1
        except Exception as e:
            shim_error("value_counts", e)
            out = None
        return original(values, dropna, mask=mask) if out is None else out

    value_count.__wrapped__ = original
    value_count.__stratum_kernel_original__ = original
    ns.value_count = value_count
    return ns


def _plan(values, dropna, mask):
    """The values as the kernel's input, or None when pandas counts them."""
    from .nunique import _many_distinct

    if not (ENABLED and RT.client is not None and RT.store_dir is not None and mask is None
            and isinstance(dropna, (bool, np.bool_)) and type(values) is np.ndarray and values.ndim == 1
            and len(values) >= max(MIN_VALUES, 1)):
        return None
    array = _column(values)
    if array is None or not (_many_distinct(array, MIN_SAMPLE_DISTINCT) or _small_range(values)):
        return None
    return array


def _small_range(values) -> bool:
    """Whether the values are integers the kernel counts in an array over their range (its
    rule: a range no wider than the values, or than 2**16)."""
    if values.dtype.kind not in "iu" or not len(values):
        return False
    v = values.view(np.int64) if values.dtype == np.uint64 else values  # the kernel's values
    return int(v.max()) - int(v.min()) < max(len(v), 1 << 16)


def _column(values):
    """The values as an Arrow array the kernel compares as pandas' table does, or None."""
    import pyarrow as pa

    from .nunique import _narrow

    dtype = values.dtype
    if dtype.kind in "iu":
        if dtype.itemsize < 8:
            return pa.array(values)
        return _narrow(values.view(np.int64))  # equal bits, equal values: uint64 as int64
    if dtype.kind == "b":
        return pa.array(values.view(np.uint8))
    if dtype == np.float64:
        return pa.array(values)
    if dtype == np.float32:
        return pa.array(values.astype(np.float64))  # exact; NaN stays NaN, -0.0 -0.0
    return None


def _run(array, values, dropna):
    """htable.value_count(values, dropna) from the kernel's first rows and counts, or None when
    it declined."""
    import pyarrow as pa

    from .kernels import _kernel

    res = _kernel("value_counts", pa.table({"c0": array}), {"dropna": bool(dropna)}, by_ref=True)
    if res is None:
        return None
    stats["runs"] += 1
    rows = res.column("row").to_numpy()
    counts = res.column("count").to_numpy().astype(np.int64)  # a new writable array, as pandas'
    # the keys pandas' table appends: each distinct value as first seen (no mask: no NA count)
    return values[rows], counts, 0


def _plan_arrow(self, dropna=True):
    """(the Arrow array, dropna) of a pandas ``str`` / ``string[pyarrow]`` array the kernel
    counts, or None when pyarrow counts it."""
    from pandas.arrays import ArrowStringArray

    from .bridge import one_chunk
    from .nunique import _many_distinct

    if not (ENABLED and type(self) is ArrowStringArray and isinstance(dropna, (bool, np.bool_))
            and len(self) >= max(MIN_STR_VALUES, 1)):
        return None
    array = one_chunk(self._pa_array)
    if not _many_distinct(array, MIN_STR_SAMPLE_DISTINCT):
        return None
    return array, bool(dropna)


def _run_arrow(p, self, dropna=True):
    """ArrowExtensionArray.value_counts from the kernel's first rows and counts: pyarrow's
    ``value_counts`` gives the distinct values (a null one too) in the order of their first
    appearance; pandas' own code follows."""
    import pyarrow as pa
    from pandas import Index, Series
    from pandas.core.arrays.arrow.array import ArrowExtensionArray

    from .kernels import _kernel

    array, dropna = p
    res = _kernel("value_counts", pa.table({"c0": array}), {"dropna": dropna}, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    values = array.take(res.column("row").combine_chunks())  # the null key left out when dropna, as pandas filters it
    counts = ArrowExtensionArray(res.column("count").combine_chunks().cast(pa.int64()))
    index = Index(self._from_pyarrow_array(values), copy=False)
    return Series(counts, index=index, name="count", copy=False)
