"""pandas merge's join indexers on the Rust runtime (kernel ``join_indexers``).

``df.merge(other, on=..., how=...)`` (also ``pd.merge``) on key columns spends most of its time in ``get_join_indexers`` (the name in ``pandas.core.reshape.merge``):
factorising the keys of both sides with pandas' hash tables and walking the groups (147 of
171 ms for a 1M-row frame merged with 200k rows). That function is substituted: the kernel
(runtime-rs join.rs) returns the same two indexers, for each output row the left and the right
row it comes from in libjoin's order, and everything around them (key coercion and validation,
``validate=``, ``indicator=``, suffixes, the taking of every column, dtypes, the index) stays
pandas' own code, so the frame is the one pandas builds.

Supported, and everything else is pandas' own: ``how`` left / right / inner / outer, ``sort``
either way, one or more key columns whose dtypes are the same on both sides: int64, float64,
datetime64 without a time zone (its int64 values, NaT included, as pandas' factoriser sees
them) or pandas' ``str``; at least ``STRATUM_KERNEL_MIN_MERGE_ROWS`` rows on the two sides
together, and neither side empty. Two sorted single keys, one of them unique, are left to
pandas' own merge-join path (faster than the round trip; the kernel also declines them when it
finds them sorted). The kernel also declines two corners where pandas departs from its own
definition: str keys holding NUL when the keys are sorted (pandas raises or misorders), and an
unsorted inner join with as many rows as the left side but not one per left row (libjoin's
short-cut reorders them). Checked against pandas by tests/py/kernel_merge_conformance.py;
``STRATUM_MERGE_KERNEL=0`` turns the substitution off.

Key columns of frames read through the store go to the kernel by reference (no copy).
"""

from __future__ import annotations

import os

import numpy as np

from .bridge import column_ref, is_arrow_str, one_chunk, write_table
from .dispatch import RT

ENABLED = os.environ.get("STRATUM_MERGE_KERNEL", "1") != "0"
# below this many key rows (both sides together) pandas' own join is as fast as the round trip
# or faster: measured break-even 0.7-1M rows (see docs/ARCHITECTURE.md, "Merge join indexers")
MIN_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_MERGE_ROWS", "1000000"))
HOWS = ("left", "right", "inner", "outer")
stats = {"runs": 0, "declined": 0}


def install(register) -> None:
    import pandas.core.reshape.merge as M

    from .kernels import _substitute

    original = M.get_join_indexers
    register(M, "get_join_indexers", original)
    M.get_join_indexers = _substitute("join_indexers", original, _plan, _run)


def _arrow_key(k):
    """A key array as Arrow (and a tag of its type), or None when unsupported."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(k, np.ndarray):
        if k.ndim == 1 and k.dtype in (np.int64, np.float64):
            return str(k.dtype), pa.array(k)
        return None
    dtype = getattr(k, "dtype", None)
    if is_arrow_str(dtype):
        return "str", one_chunk(k._pa_array)
    if isinstance(k, pd.arrays.DatetimeArray) and isinstance(dtype, np.dtype):  # no time zone
        return str(dtype), pa.array(k._ndarray.view(np.int64))
    return None


def _sorted(k) -> bool:
    """Whether a numpy key is sorted ascending (pandas' merge-join path); False for others,
    which the kernel checks."""
    from pandas._libs import algos

    return isinstance(k, np.ndarray) and bool(algos.is_monotonic(k, False)[0])


def _plan(left_keys, right_keys, sort=False, how="inner"):
    if not ENABLED or how not in HOWS or not isinstance(sort, bool) or (how == "outer" and not sort):
        return None
    if not left_keys or len(left_keys) != len(right_keys):
        return None
    nl, nr = len(left_keys[0]), len(right_keys[0])
    if nl == 0 or nr == 0 or nl + nr < MIN_ROWS:
        return None
    left, right = [], []
    for lk, rk in zip(left_keys, right_keys):
        a, b = _arrow_key(lk), _arrow_key(rk)
        if a is None or b is None or a[0] != b[0] or lk.dtype != rk.dtype:
            return None
        left.append(a[1])
        right.append(b[1])
    if len(left_keys) == 1 and _sorted(left_keys[0]) and _sorted(right_keys[0]):
        return None
    return left, right, sort, how


def _run(p, *args, **kwargs):
    import pyarrow as pa

    from .kernels import _kernel, _seq

    left, right, sort, how = p
    options = {"how": how, "sort": sort, "keys": len(left), "single_sorted_declines": True}
    refs, by_value = {}, {}
    for j, a in enumerate(right):
        ref = column_ref(a)
        if ref is None:
            by_value[f"r{j}"] = a
        else:
            refs[f"r{j}"] = ref
    path = None
    if by_value:
        path = os.path.join(RT.store_dir, f"in-{os.getpid()}-{next(_seq)}-right.arrow")
        write_table(pa.table(by_value), path)
        options["right"] = path
    if refs:
        options["refs"] = refs
    try:
        res = _kernel("join_indexers", pa.table({f"l{j}": a for j, a in enumerate(left)}), options, by_ref=True)
    finally:
        if path is not None and os.path.exists(path):
            os.unlink(path)
    if res is None:
        stats["declined"] += 1
        return None
    stats["runs"] += 1
    names = res.column_names
    # read-only views of the result's mapping: pandas only reads an indexer
    lidx = res.column("l").to_numpy() if "l" in names else None
    ridx = res.column("r").to_numpy() if "r" in names else None
    return lidx, ridx
