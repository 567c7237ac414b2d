"""pandas' sort indexers on the Rust runtime (kernel ``sort_indexer``).

``df.sort_values(by)`` spends most of its time finding the order of the rows: with several keys
``lexsort_indexer`` factorises every key into ordered categorical codes and runs
``np.lexsort`` (342 of 440 ms for two keys at 1M rows here), with one key ``nargsort`` runs
``np.argsort`` on the present values (~90 of 144 ms for a float key). Both are substituted
where ``DataFrame.sort_values`` and ``Series.sort_values`` call them (the names in
``pandas.core.frame`` and ``pandas.core.series``): the kernel (runtime-rs sort.rs) returns the
same order, and the taking of the rows, the index and ``ignore_index`` / ``inplace`` stay
pandas' own code, so the result is the one pandas builds.

Exact because the order is defined: ``lexsort_indexer`` is stable (ties in row order, also
for descending keys), and ``nargsort`` is stable with ``kind="stable"`` / ``"mergesort"``.
With NumPy's unstable kinds (the default ``"quicksort"``, ``"heapsort"``) the order among equal
values belongs to NumPy's implementation: the kernel answers only when no two present values
of the key are equal (it checks), else it declines and pandas sorts. Keys that surely have
ties (an int key with more rows than integers in its range, or equal values in a sample of
~4096 rows) are left to pandas before any round trip.

Supported, and everything else is pandas' own: no ``key=`` function; keys that are NumPy
int / uint (up to int64's range) / bool / float arrays, datetime64 / timedelta64 (NaT is
missing; also tz-aware datetimes in ``lexsort_indexer``), categoricals in ``lexsort_indexer``
(their codes: categorical order), and pandas' ``str`` in ``lexsort_indexer``; at least
``STRATUM_KERNEL_MIN_SORT_ROWS`` rows. ``STRATUM_SORT_KERNEL=0`` turns the substitution off.
Checked against pandas by tests/py/kernel_sort_conformance.py.

Key columns of frames read through the store go to the kernel by reference (no copy).
"""

from __future__ import annotations

import os

import numpy as np

from .bridge import is_arrow_str, one_chunk
from .dispatch import RT, shim_error

ENABLED = os.environ.get("STRATUM_SORT_KERNEL", "1") != "0"
# below this many rows pandas' own sort is as fast as the round trip or faster (see
# docs/ARCHITECTURE.md, "Sort indexers")
MIN_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_SORT_ROWS", "200000"))
STABLE_KINDS = ("stable", "mergesort")
UNSTABLE_KINDS = ("quicksort", "heapsort", None)
# leave keys that surely have ties to pandas before the round trip (tests turn it off to reach
# the kernel's own check)
PRECHECK = True


# a stable argsort this long or longer of integers spanning fewer than 2**16 values sorts their
# offsets from the minimum as uint8 / uint16, which NumPy sorts by radix (timsort otherwise);
# medians of 7, int64 stable argsort vs min, max, cast and radix sort, ms: 190k counts below 30
# (value_counts' sort) 7.3 vs 2.1, 1M below 60000 92 vs 20, 20k 0.67 vs 0.06; the splitters'
# labels (6 classes, medians of 21: 1000 0.010 vs 0.007, 10000 0.13 vs 0.03, 100000 3.0 vs 0.87,
# 1M 34 vs 12). Used by nargsort below and splits.py's argsort.
MIN_RADIX = int(os.environ.get("STRATUM_MIN_RADIX", "10000"))
stats = {"runs": 0, "declined": 0, "radix": 0}


def install(register) -> None:
    import pandas.core.frame as F
    import pandas.core.series as S

    from .kernels import _substitute

    for module, name, plan in ((F, "lexsort_indexer", _plan_lexsort), (F, "nargsort", _plan_nargsort), (S, "nargsort", _plan_nargsort)):
        original = getattr(module, name)
        register(module, name, original)
        sub = _substitute("sort_indexer", original, plan, _run)
        setattr(module, name, _radix_first(sub, original) if name == "nargsort" else sub)


def narrow_for_radix(a):
    """A 1-D int array of at least MIN_RADIX values spanning fewer than 2**16 integers, as the
    offsets from its minimum in uint8 / uint16: a stable argsort of those is a stable argsort of
    `a` (the map keeps the order), and NumPy sorts them by radix. None for any other array."""
    if type(a) is not np.ndarray or a.ndim != 1 or a.dtype.kind not in "iu" or a.dtype.itemsize <= 2 or len(a) < MIN_RADIX:
        return None
    lo, hi = int(a.min()), int(a.max())
    if hi - lo >= 1 << 16:
        return None
    narrow = a.astype(np.uint8 if hi - lo < 1 << 8 else np.uint16)  # a mod 2**8 / 2**16
    narrow -= narrow.dtype.type(lo % (1 << (8 * narrow.itemsize)))  # (a - lo) mod the same: a - lo
    return narrow


def _radix_first(substitute, original):
    """nargsort: a stable sort of a narrow int key is pandas' own nargsort of its radix-sortable
    offsets (ints have no missing values, so only the order matters); anything else goes on to
    the kernel substitution."""
    import functools

    @functools.wraps(original)
    def nargsort(items, kind="quicksort", ascending=True, na_position="last", key=None, mask=None):
        narrow = None
        if ENABLED and key is None and mask is None and kind in STABLE_KINDS and RT.client is not None:
            try:
                narrow = narrow_for_radix(items)
            except Exception as e:
                shim_error("nargsort", e)
        if narrow is not None:
            stats["radix"] += 1
            return original(narrow, kind=kind, ascending=ascending, na_position=na_position)
        return substitute(items, kind=kind, ascending=ascending, na_position=na_position, key=key, mask=mask)

    nargsort.__stratum_kernel_original__ = original
    return nargsort


def _numpy_key(values: np.ndarray):
    """A NumPy key as an Arrow array that orders as the key does, or None."""
    import pyarrow as pa

    if values.ndim != 1:
        return None
    kind = values.dtype.kind
    if kind == "b":
        return pa.array(values.view(np.uint8).astype(np.int64))
    if kind == "i":
        return pa.array(values if values.dtype == np.int64 else values.astype(np.int64))
    if kind == "u":
        if values.dtype == np.uint64 and len(values) and values.max() > np.iinfo(np.int64).max:
            return None
        return pa.array(values.astype(np.int64))
    if kind == "f":
        return pa.array(values if values.dtype == np.float64 else values.astype(np.float64))
    if kind in "mM":
        i8 = values.view(np.int64)
        return pa.array(i8, mask=np.isnat(values)) if np.isnat(values).any() else pa.array(i8)
    return None


def _arrow_key(k, lexsort: bool):
    """A sort key (ndarray, ExtensionArray, Index or Series) as an Arrow array, or None when
    unsupported. `lexsort`: the categorical-codes order of lexsort_indexer (which also takes
    categoricals, tz-aware datetimes and strings)."""
    import pandas as pd
    from pandas.core.construction import extract_array

    if isinstance(k, (pd.RangeIndex, pd.MultiIndex)):
        return None
    k = extract_array(k, extract_numpy=True)
    if isinstance(k, np.ndarray):
        return _numpy_key(k)
    if isinstance(k, (pd.arrays.DatetimeArray, pd.arrays.TimedeltaArray)):
        if not lexsort and getattr(k.dtype, "tz", None) is not None:
            return None
        return _numpy_key(k._ndarray)
    if not lexsort:
        return None
    import pyarrow as pa

    if isinstance(k, pd.Categorical):
        codes = np.asarray(k.codes, dtype=np.int64)
        return pa.array(codes, mask=codes == -1)
    if is_arrow_str(k.dtype):
        return one_chunk(k._pa_array)
    return None


def _surely_tied(a) -> bool:
    """Whether a key is known to hold equal present values without sorting it: an int key
    with more rows than integers in its range, or equal values among ~4096 evenly spaced rows
    (where ties are common, as in prices or dates, a sample finds them). Only routing: the
    kernel checks every value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(a.type) and not a.null_count:
        mm = pc.min_max(a)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is not None and hi - lo + 1 < len(a):
            return True
    sample = a.to_numpy(zero_copy_only=False)[:: max(1, len(a) // 4096)]
    if sample.dtype.kind == "f":
        sample = sample[~np.isnan(sample)]
    return len(np.unique(sample)) < len(sample)


def _presorted(a) -> bool:
    """Whether a numeric key looks sorted already (its ~4096 evenly spaced rows are, one way or
    the other): NumPy's stable sort (timsort) finds the runs and finishes in one pass, faster
    than the round trip (value_counts' 1M equal counts: ~20 ms slower through the kernel)."""
    import pyarrow as pa

    if pa.types.is_string(a.type) or pa.types.is_large_string(a.type) or pa.types.is_dictionary(a.type):
        return False
    sample = a.to_numpy(zero_copy_only=False)[:: max(1, len(a) // 4096)]
    if sample.dtype.kind == "f":
        sample = sample[~np.isnan(sample)]
    elif sample.dtype.kind in "Mm":
        sample = sample.view(np.int64)  # NaT, the smallest int64, breaks a run: not presorted
    elif sample.dtype.kind not in "iub":
        return False
    with np.errstate(all="ignore"):  # inf - inf: the script must not see NumPy's warning
        d = np.diff(sample.astype(np.float64))  # only routing: a rounded int64 still orders
    return bool((d >= 0).all() or (d <= 0).all())


def _plan_lexsort(keys, orders=None, na_position="last", key=None, codes_given=False):
    if not ENABLED or key is not None or codes_given or na_position not in ("last", "first"):
        return None
    keys = list(keys)
    if not keys or len(keys[0]) < max(MIN_ROWS, 1):
        return None
    if isinstance(orders, bool):
        ascending = [orders] * len(keys)
    elif orders is None:
        ascending = [True] * len(keys)
    else:
        ascending = list(orders)
        if len(ascending) != len(keys) or not all(isinstance(o, (bool, np.bool_)) for o in ascending):
            return None  # pandas raises its own error
    arrays = [_arrow_key(k, lexsort=True) for k in keys]
    if any(a is None for a in arrays) or any(len(a) != len(arrays[0]) for a in arrays):
        return None
    return arrays, [bool(o) for o in ascending], na_position == "last", True


def _plan_nargsort(items, kind="quicksort", ascending=True, na_position="last", key=None, mask=None):
    if not ENABLED or key is not None or mask is not None or na_position not in ("last", "first"):
        return None
    if kind not in STABLE_KINDS and kind not in UNSTABLE_KINDS:
        return None
    if len(items) < max(MIN_ROWS, 1):
        return None
    a = _arrow_key(items, lexsort=False)
    if a is None:
        return None
    stable = kind in STABLE_KINDS
    if PRECHECK and (_surely_tied(a) if not stable else _presorted(a)):
        return None
    return [a], [bool(ascending)], na_position == "last", stable


def _run(p, *args, **kwargs):
    import pyarrow as pa

    from .kernels import _kernel

    arrays, ascending, na_last, stable = p
    options = {"ascending": ascending, "na_last": na_last, "stable": stable}
    res = _kernel("sort_indexer", pa.table({f"k{j}": a for j, a in enumerate(arrays)}), options, by_ref=True)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    # a read-only view of the result's mapping (int64, NumPy's intp): pandas only takes by it
    return res.column("idx").to_numpy()
