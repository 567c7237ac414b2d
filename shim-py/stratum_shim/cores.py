"""A script's share of the cores: BLAS/OpenMP threads and joblib workers.

Scripts that run at once share the machine, so each one gets cores/workers of it, and more when
cores fall idle (the batch's last scripts): the coordinator keeps the current grant in a
one-byte file in the store, which the shim reads (mapped) before each traced call and applies
when it changed. Native thread pools are capped with threadpoolctl; joblib (n_jobs in forests,
GridSearchCV, cross_val_score) is capped by clamping every backend's effective worker count.
Without the joblib cap, two concurrent scripts asking for n_jobs=-1 put 4+ busy threads or
freshly spawned loky interpreters (each importing sklearn again) on 2 cores: the fixture batch
took 62.4 s, 59.8 s with the cap. Results do not depend on the number of joblib workers (each
fit and each tree gets its own seed before dispatch; tests/test_cores.py checks it).
"""
from __future__ import annotations

import functools
import mmap
import os
import threading

_LIMIT: int | None = None
_grant: mmap.mmap | None = None
_controller = None  # threadpoolctl's view of the native pools loaded by the warm worker
GRANT_FILE = "cores"


def discover() -> None:
    """In the warm worker, before it forks: find the native thread pools once (threadpoolctl
    walks every loaded library, ~22 ms), so that each script's first limit() does not."""
    global _controller
    from threadpoolctl import ThreadpoolController

    _controller = ThreadpoolController()


def limit(n: int) -> None:
    """Give this process n cores: native pools of n threads, joblib at most n workers."""
    global _LIMIT, _controller
    if _controller is not None and _LIMIT is None:  # a script's start: the warm worker's libraries
        _controller.limit(limits=n)
    else:  # later the script may have loaded more libraries: look again
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    _controller = None
    if _LIMIT is None:
        _clamp_joblib()
    _LIMIT = n


def _clamp_joblib() -> None:
    from joblib import _parallel_backends as backends

    for cls in vars(backends).values():
        if isinstance(cls, type) and issubclass(cls, backends.ParallelBackendBase):
            cls.effective_n_jobs = _clamped(cls.effective_n_jobs)


def _clamped(fn):
    @functools.wraps(fn)
    def effective_n_jobs(self, n_jobs):
        n = fn(self, n_jobs)
        if _LIMIT is not None and isinstance(n, int) and n > _LIMIT:
            return _LIMIT
        return n

    return effective_n_jobs


def watch(store_dir: str) -> None:
    """Follow the coordinator's grant (``<store>/cores``, one byte: threads per script)."""
    global _grant
    try:
        fd = os.open(os.path.join(store_dir, GRANT_FILE), os.O_RDONLY)
    except OSError:
        return
    try:
        _grant = mmap.mmap(fd, 1, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        _grant = None
    finally:
        os.close(fd)


def refresh() -> None:
    """Apply the current grant if it changed (cheap: one byte read from a mapped file)."""
    if _grant is None or _LIMIT is None or threading.current_thread() is not threading.main_thread():
        return  # OpenMP's thread count is per calling thread: only the main thread's matters
    n = _grant[0]
    if n and n != _LIMIT:
        limit(n)
