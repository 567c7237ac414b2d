"""scikit-learn specifics: canonical estimator identity, randomness rules, restoring fitted state."""

from __future__ import annotations

import numpy as np

from .lid import Opaque, _ctx, canon, canon_input, is_local, tracked_lid

try:
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import BaseCrossValidator
    from sklearn.model_selection._split import BaseShuffleSplit, _RepeatedSplits
except ImportError:  # sklearn missing: nothing of this module applies
    BaseEstimator = BaseCrossValidator = BaseShuffleSplit = _RepeatedSplits = None


class ParamsOf:
    """Canonicalises as an estimator's params alone (what fit() and clone() start from)."""

    __slots__ = ("est", "fitted_state")

    def __init__(self, est, fitted_state=False):
        self.est = est
        self.fitted_state = fitted_state


def is_estimator(x) -> bool:
    return BaseEstimator is not None and isinstance(x, BaseEstimator)


def is_splitter(x) -> bool:
    return BaseCrossValidator is not None and isinstance(x, (BaseCrossValidator, BaseShuffleSplit, _RepeatedSplits))


def is_fitted(est) -> bool:
    check = getattr(est, "__sklearn_is_fitted__", None)  # Pipeline and other meta-estimators
    if check is not None:
        try:
            return bool(check())
        except Exception:
            pass
    return any(k.endswith("_") and not k.startswith("__") for k in vars(est))


def _solver_not(*solvers):
    return lambda p: p.get("solver") not in solvers


# random_state is irrelevant to these estimators for the given params (documented in sklearn):
# leaving it None then does not make the result random.
_RANDOM_STATE_UNUSED = {
    "LogisticRegression": _solver_not("sag", "saga", "liblinear"),
    "Ridge": _solver_not("sag", "saga"),
    "RidgeClassifier": _solver_not("sag", "saga"),
    "Lasso": lambda p: p.get("selection") == "cyclic",
    "ElasticNet": lambda p: p.get("selection") == "cyclic",
    # sklearn 1.9 deprecated `probability`; its default "deprecated" means False
    "SVC": lambda p: p.get("probability") in (False, "deprecated"),
    "SVR": lambda p: True,
    "KFold": lambda p: not p.get("shuffle"),
    "StratifiedKFold": lambda p: not p.get("shuffle"),
    "GroupKFold": lambda p: not p.get("shuffle", False),
}

# Parameters that change how fast, not what: excluded from identities.
IGNORED_PARAMS = frozenset({"n_jobs", "pre_dispatch"})

# Parameters that make an estimator print while it works: sharing it would drop that output.
_NOISY = ("verbose",)


def _is_random(state) -> bool:
    return state is None or isinstance(state, (np.random.RandomState, np.random.Generator))


def canon_estimator(est, out: list, depth: int, fitted_state: bool = True) -> None:
    """Identity of an estimator (or splitter): its fitted lineage when fitted_state and it is
    fitted, else class + params, recursively. fit() and clone() start from params alone."""
    cls = type(est)
    if fitted_state and is_estimator(est) and is_fitted(est):
        lid = tracked_lid(est)
        if lid is None:
            raise Opaque(f"fitted {cls.__name__} of unknown lineage")
        if is_local(lid):
            if _ctx.memo:
                raise Opaque(f"fitted {cls.__name__} has no shareable identity")
            _ctx.local = True
        out.append(b"fitted" + lid.encode())
        # Params can change after fit (set_params, attribute assignment) and some are read at
        # predict time (KNeighbors' n_neighbors): they are part of a fitted estimator's identity.
    _canon_params(est, cls, out, depth)


def _canon_params(est, cls, out: list, depth: int) -> None:
    params = est.get_params(deep=False) if hasattr(est, "get_params") else _splitter_params(est)
    for name in _NOISY:
        v = params.get(name)
        if v not in (None, 0, False):
            raise Opaque(f"{cls.__name__}({name}={v!r}) prints while it runs")
    if "random_state" in params and _is_random(params["random_state"]):
        rule = _RANDOM_STATE_UNUSED.get(cls.__name__)
        if rule is None or not rule(params):
            raise Opaque(f"{cls.__name__} is random (random_state={params['random_state']!r})")
    out.append(b"est:" + f"{cls.__module__}.{cls.__qualname__}".encode())
    for k in sorted(params):
        if k in IGNORED_PARAMS or k == "random_state" and _is_random(params[k]):
            continue
        canon(k, out)
        canon_input(params[k], out, depth + 1)


def sub_estimators(est):
    """(path, estimator) of the estimators in est's params, recursively (Pipeline steps...)."""
    stack, seen = [((), est)], {id(est)}
    while stack:
        path, cur = stack.pop()
        try:
            params = cur.get_params(deep=False)
        except Exception:
            continue
        items = [((k,), v) for k, v in sorted(params.items())]
        while items:
            p, v = items.pop()
            if isinstance(v, (list, tuple)):
                items.extend((p + (i,), x) for i, x in enumerate(v))
            elif isinstance(v, dict):
                items.extend((p + (k,), x) for k, x in v.items())
            elif is_estimator(v) and id(v) not in seen:
                seen.add(id(v))
                yield path + p, v
                stack.append((path + p, v))


def _splitter_params(sp) -> dict:
    return {k: v for k, v in vars(sp).items() if not k.startswith("_")}


def sklearn_config() -> dict:
    import sklearn

    return sklearn.get_config()


def restore_into(orig, cached, _seen=None) -> None:
    """Give `orig` the fitted state of `cached` while keeping the identity of orig's sub-estimators.

    A script may hold a reference to a step it put into a Pipeline; after a shared fit that step
    must look fitted, exactly as after a real fit.
    """
    if _seen is None:
        _seen = set()
    if id(orig) in _seen:
        return
    _seen.add(id(orig))
    for k, v in vars(cached).items():
        cur = orig.__dict__.get(k, _MISSING)
        orig.__dict__[k] = _merge(cur, v, _seen)
    for k in list(orig.__dict__):
        if k not in vars(cached):
            del orig.__dict__[k]


_MISSING = object()


def _merge(cur, new, seen):
    if cur is _MISSING:
        return new
    if is_estimator(cur) and type(cur) is type(new):
        restore_into(cur, new, seen)
        return cur
    if isinstance(cur, (list, tuple)) and isinstance(new, (list, tuple)) and len(cur) == len(new):
        merged = [_merge(a, b, seen) for a, b in zip(cur, new)]
        return type(new)(merged) if isinstance(new, list) else tuple(merged)
    return new
