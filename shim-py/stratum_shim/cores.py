"""A script's share of the cores: BLAS/OpenMP threads and joblib workers.

Scripts that run at once share the machine, so each one gets cores/workers of it. Native thread
pools are capped with threadpoolctl; joblib (n_jobs in forests, GridSearchCV, cross_val_score)
is capped by clamping every backend's effective worker count. Without the joblib cap, two
concurrent scripts asking for n_jobs=-1 put 4+ busy threads or freshly spawned loky interpreters
(each importing sklearn again) on 2 cores: the fixture batch took 124 s of script time on 2
workers against 99 s on 1. Results do not depend on the number of joblib workers (each fit and
each tree gets its own seed before dispatch), which the conformance suite checks.
"""
from __future__ import annotations

import functools

_LIMIT: int | None = None


def limit(n: int) -> None:
    """Give this process n cores: native pools of n threads, joblib at most n workers."""
    global _LIMIT
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
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
