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
import sys
import threading

_LIMIT: int | None = None
_grant: mmap.mmap | None = None
# threadpoolctl's view of the native pools, and the pool libraries mapped when it was made
_controller = None
_controller_key = None
# how many modules were imported when _controller_key was taken: native libraries come with
# imports, so while this is unchanged /proc/self/maps need not be read again (~3-8 ms)
_modules_seen = -1
GRANT_FILE = "cores"


def _native_key():
    """The native thread-pool libraries mapped into this process (OpenBLAS, libgomp, ... by
    threadpoolctl's own file-name prefixes, from /proc/self/maps: ~3 ms); the pools found before
    are still all of them while this is unchanged. None when it cannot tell."""
    try:
        from threadpoolctl import _ALL_PREFIXES

        with open("/proc/self/maps") as f:
            paths = {line.rsplit(" ", 1)[-1] for line in f.read().splitlines() if ".so" in line}
    except (ImportError, OSError):
        return None
    prefixes = tuple(_ALL_PREFIXES)
    return frozenset(p for p in paths if p.rsplit("/", 1)[-1].startswith(prefixes))


def discover() -> None:
    """In the warm worker, before it forks: find the native thread pools once (threadpoolctl
    walks every loaded library, ~11-22 ms), so that each script's limit() does not."""
    global _controller, _controller_key, _modules_seen
    from threadpoolctl import ThreadpoolController

    _modules_seen = len(sys.modules)
    _controller, _controller_key = ThreadpoolController(), _native_key()


def limit(n: int) -> None:
    """Give this process n cores: native pools of n threads, joblib at most n workers. The pools
    found before are reused unless another pool library was loaded since (then threadpoolctl
    looks again): a grant change at the batch's end cost every script that walk (~11 ms). The
    mapped libraries are only looked at again when modules were imported since."""
    global _LIMIT, _controller, _controller_key, _modules_seen
    if _controller is None or len(sys.modules) != _modules_seen:
        modules, key = len(sys.modules), _native_key()
        if _controller is None or key is None or key != _controller_key:
            from threadpoolctl import ThreadpoolController

            _controller, _controller_key = ThreadpoolController(), key
        _modules_seen = modules if key is not None else -1
    _controller.limit(limits=n)
    if _LIMIT is None:
        _clamp_joblib()
    _LIMIT = n


def granted() -> int:
    """The cores this script may use now (1 outside the coordinator)."""
    return _LIMIT or 1


_pool = None  # (pid, threads, executor): a forked script makes its own


def pool(threads: int):
    """A thread pool of `threads` workers for work that releases the GIL (hashing, Arrow and
    pandas takes), made in this process (threads do not survive the warm worker's fork)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid() or _pool[1] != threads:
        from concurrent.futures import ThreadPoolExecutor

        if _pool is not None and _pool[0] == os.getpid():
            _pool[2].shutdown(wait=False)
        _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="stratum"))
    return _pool[2]


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
