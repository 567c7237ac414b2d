"""Row takes of frames with several blocks on every granted core.

``sort_values``, ``drop_duplicates``, boolean and positional row selection (``take``, ``iloc``),
``train_test_split``'s halves and merge's result assembly all end in
``BlockManager.reindex_indexer(..., axis=1)``, which takes the rows of one block after the other
(``Block.take_nd``): at 1M rows x 7 columns ~95-135 ms, ~35 ms of it per Arrow ``str`` column
(pyarrow's take) and ~7 ms per numeric column (pandas' own take loops). Both release the GIL, so
the blocks can be taken at once by threads.

``reindex_indexer`` is wrapped: for a row take of at least ``MIN_ROWS`` rows from a manager of
two or more blocks, while the script is granted two or more cores, each block's
``take_nd(indexer, axis=1, fill_value=...)`` (the call pandas' loop makes, with the fill value it
would pass) runs first on the thread pool, largest blocks first; pandas' own
``reindex_indexer`` then runs as written, and ``Block.take_nd`` (wrapped too) hands it the
prepared block when called on the same block with the same indexer, axis and fill value. Any
other call, a block whose take raised (pandas raises the same error in its own loop) and every
call in another thread are pandas' own. The blocks are the ones pandas' code would build, by
the same code: only the threads differ.
"""

from __future__ import annotations

import functools
import os
import threading

from .dispatch import shim_error

# below this many rows the thread hand-off eats the overlap; measured (a 6-block frame: 2 int64,
# float64, datetime, 2 short `str`; df.take of a permutation, medians of 41 in a traced script on
# 2 idle cores, pandas vs threads, ms): 20k 1.23 vs 1.36, 50k 2.3-2.8 vs 1.8-2.1, 100k 6.2-6.9 vs
# 4.9-5.4, 300k 19-20 vs 15, 1M 84 vs 70-82; the bench's 1M x 7 frame 135 vs 77
MIN_ROWS = int(os.environ.get("STRATUM_PARALLEL_TAKE_ROWS", "100000"))
stats = {"parallel": 0}


class _Local(threading.local):
    # during a wrapped reindex_indexer in this thread: {id(block): (block, indexer, fill_value,
    # prepared block)}
    prepared = None


_tls = _Local()


def install(register) -> None:
    if os.environ.get("STRATUM_PARALLEL_TAKE") == "0":
        return
    from pandas.core.internals.blocks import Block
    from pandas.core.internals.managers import BlockManager

    reindex = BlockManager.reindex_indexer
    register(BlockManager, "reindex_indexer", reindex)
    BlockManager.reindex_indexer = _make_reindex(reindex)
    take_nd = Block.take_nd
    register(Block, "take_nd", take_nd)
    Block.take_nd = _make_take_nd(take_nd)


def _make_reindex(original):
    @functools.wraps(original)
    def reindex_indexer(self, new_axis, indexer, axis, fill_value=None, *args, **kwargs):
        prepared = None
        if axis == 1 and _tls.prepared is None and _worth_it(self, indexer):
            try:
                prepared = _prepare(self, indexer, fill_value)
            except Exception as e:
                shim_error("parallel_take", e)
        if not prepared:
            return original(self, new_axis, indexer, axis, fill_value, *args, **kwargs)
        stats["parallel"] += 1
        _tls.prepared = prepared
        try:
            return original(self, new_axis, indexer, axis, fill_value, *args, **kwargs)
        finally:
            _tls.prepared = None

    reindex_indexer.__stratum_kernel_original__ = original
    return reindex_indexer


def _worth_it(mgr, indexer) -> bool:
    import numpy as np

    from . import cores

    return (
        type(indexer) is np.ndarray
        and indexer.ndim == 1
        and len(indexer) >= MIN_ROWS
        and mgr.ndim == 2
        and len(mgr.blocks) >= 2
        and cores.granted() >= 2
    )


def _prepare(mgr, indexer, fill_value):
    """Every block's row take as pandas' loop will ask for it, on the thread pool."""
    import numpy as np

    from . import cores

    jobs = []
    for blk in mgr.blocks:
        if blk.dtype == np.void:
            continue  # pandas' loop makes these itself
        fv = fill_value if fill_value is not None else blk.fill_value
        jobs.append((blk, fv))
    if len(jobs) < 2:
        return None
    jobs.sort(key=lambda j: -_size(j[0]))

    def take(job):
        blk, fv = job
        try:
            return blk.take_nd(indexer, axis=1, fill_value=fv)
        except Exception:
            return None  # pandas' own loop raises it

    threads = min(cores.granted(), len(jobs))
    done = cores.pool(threads).map(take, jobs)
    return {id(blk): (blk, indexer, fv, out) for (blk, fv), out in zip(jobs, done) if out is not None}


def _size(blk) -> int:
    try:
        return int(blk.values.nbytes)
    except Exception:
        return 0


def _make_take_nd(original):
    @functools.wraps(original)
    def take_nd(self, indexer, axis, new_mgr_locs=None, *args, **kwargs):
        prepared = _tls.prepared
        if prepared is not None and axis == 1 and new_mgr_locs is None and len(args) + len(kwargs) == 1:
            got = prepared.get(id(self))
            fv = args[0] if args else kwargs.get("fill_value", _MISSING)
            if got is not None and got[0] is self and got[1] is indexer and _same_fill(got[2], fv):
                del prepared[id(self)]
                return got[3]
        return original(self, indexer, axis, new_mgr_locs, *args, **kwargs)

    take_nd.__stratum_kernel_original__ = original
    return take_nd


_MISSING = object()


def _same_fill(a, b) -> bool:
    """Whether fill value b is the one a block was prepared with (NaN, NaT and None included)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        equal = bool(a == b) or (a != a and b != b)
    except Exception:
        return False
    return equal and repr(a) == repr(b)  # -0.0 is not 0.0
