"""The declarative table of patch targets, and their reversible installation.

Every target names (owner, attribute, op name, kind); every patch goes through
dispatch.make_wrapper. Originals are kept in one registry and restored by uninstall().
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import inspect
import sys
import types

from .dispatch import make_wrapper
from .handlers import _FUNCS

PANDAS_OPERATORS = (
    "__getitem__ __array_ufunc__ __add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ "
    "__rtruediv__ __floordiv__ __rfloordiv__ __mod__ __rmod__ __pow__ __rpow__ __eq__ __ne__ __lt__ "
    "__le__ __gt__ __ge__ __and__ __rand__ __or__ __ror__ __xor__ __rxor__ __neg__ __pos__ __abs__ "
    "__invert__ __round__"
).split()
PANDAS_MUTATORS = (
    "__setitem__ __delitem__ __setattr__ insert pop update __iadd__ __isub__ __imul__ __itruediv__ "
    "__ifloordiv__ __imod__ __ipow__ __iand__ __ior__ __ixor__"
).split()
# Display and iteration: tracing them costs time and shares nothing.
PANDAS_SKIP = frozenset(
    "to_string to_html to_markdown to_latex info plot hist boxplot items iterrows itertuples keys "
    "memory_usage to_clipboard style".split()
)
PANDAS_FUNCTIONS = "concat merge merge_asof get_dummies to_datetime to_numeric cut qcut pivot_table crosstab melt factorize".split()

FIT_METHODS = ("fit", "fit_transform", "fit_predict", "partial_fit")
APPLY_METHODS = (
    "predict", "predict_proba", "predict_log_proba", "decision_function", "transform",
    "inverse_transform", "score", "score_samples",
)
SKLEARN_SPLIT_FUNCS = ("train_test_split",)
SKLEARN_CV_FUNCS = ("cross_val_score", "cross_validate", "cross_val_predict")

_installed: list[tuple[object, str, object]] = []  # (owner, attribute, original)
_patched_classes: set = set()
_hook = None


def _patch(owner, name: str, op: str, kind: str, original=None) -> None:
    if original is None:
        original = getattr(owner, name)
    if getattr(original, "__stratum_original__", None) is not None:
        return
    current = vars(owner).get(name) if hasattr(owner, "__dict__") else None
    if getattr(current, "__stratum_original__", None) is not None:
        return
    _installed.append((owner, name, owner.__dict__.get(name, _ABSENT) if isinstance(owner, type) else original))
    setattr(owner, name, make_wrapper(op, kind, original))
    _FUNCS.setdefault(op, original)


_ABSENT = object()


def _public_methods(cls):
    for name in dir(cls):
        if name.startswith("_") or name in PANDAS_SKIP:
            continue
        attr = inspect.getattr_static(cls, name, None)
        if isinstance(attr, types.FunctionType):
            yield name


def _patch_pandas() -> None:
    import pandas as pd
    from pandas.core.groupby import DataFrameGroupBy, SeriesGroupBy
    from pandas.core.indexing import _AtIndexer, _iAtIndexer, _iLocIndexer, _LocIndexer

    for cls in (pd.DataFrame, pd.Series):
        for name in _public_methods(cls):
            kind = "mutator" if name in PANDAS_MUTATORS else "pd"
            _patch(cls, name, f"{cls.__name__}.{name}", kind)
        for name in PANDAS_OPERATORS:
            if hasattr(cls, name):
                _patch(cls, name, f"{cls.__name__}.{name}", "pd")
        for name in PANDAS_MUTATORS:
            if name.startswith("__") and hasattr(cls, name):
                _patch(cls, name, f"{cls.__name__}.{name}", "mutator")
    for cls in (DataFrameGroupBy, SeriesGroupBy):
        for name in [*_public_methods(cls), "__getitem__"]:
            _patch(cls, name, f"{cls.__name__}.{name}", "pd")
    for cls in (_LocIndexer, _iLocIndexer, _AtIndexer, _iAtIndexer):
        label = cls.__name__.strip("_").replace("Indexer", "").lower()
        _patch(cls, "__getitem__", f"{label}.__getitem__", "idx_get")
        _patch(cls, "__setitem__", f"{label}.__setitem__", "idx_set")
    _patch(pd, "read_csv", "pd.read_csv", "source")
    _patch(pd, "read_parquet", "pd.read_parquet", "source")
    for name in PANDAS_FUNCTIONS:
        if hasattr(pd, name):
            _patch(pd, name, f"pd.{name}", "pd")


SKLEARN_PRELOAD = (
    "sklearn.linear_model sklearn.ensemble sklearn.tree sklearn.neighbors sklearn.svm sklearn.naive_bayes "
    "sklearn.preprocessing sklearn.impute sklearn.compose sklearn.pipeline sklearn.model_selection "
    "sklearn.metrics sklearn.feature_extraction.text sklearn.decomposition sklearn.feature_selection "
    "sklearn.dummy sklearn.cluster"
).split()


def _patch_sklearn() -> None:
    for mod in SKLEARN_PRELOAD:
        importlib.import_module(mod)
    import sklearn.metrics
    import sklearn.model_selection as ms

    patch_estimator_classes()
    for name in SKLEARN_SPLIT_FUNCS:
        _patch(ms, name, f"sklearn.{name}", "func")
    for name in SKLEARN_CV_FUNCS:
        _patch(ms, name, f"sklearn.{name}", "cv")
    for name in sklearn.metrics.__all__:
        fn = getattr(sklearn.metrics, name, None)
        if isinstance(fn, types.FunctionType):
            _patch(sklearn.metrics, name, f"sklearn.metrics.{name}", "metric")


def _all_subclasses(root):
    seen, stack = [], [root]
    while stack:
        c = stack.pop()
        for s in c.__subclasses__():
            if s not in seen:
                seen.append(s)
                stack.append(s)
    return seen


def patch_estimator_classes() -> None:
    """Patch every estimator and splitter class defined so far (idempotent)."""
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import BaseCrossValidator
    from sklearn.model_selection._split import BaseShuffleSplit
    from sklearn.utils._available_if import _AvailableIfDescriptor

    for cls in _all_subclasses(BaseEstimator):
        if cls in _patched_classes:
            continue
        _patched_classes.add(cls)
        for names, kind in ((FIT_METHODS, "fit"), (APPLY_METHODS, "apply")):
            for name in names:
                _patch_method(cls, name, kind, _AvailableIfDescriptor)
    for root in (BaseCrossValidator, BaseShuffleSplit):
        for cls in [root, *_all_subclasses(root)]:
            if cls not in _patched_classes:
                _patched_classes.add(cls)
                _patch_method(cls, "split", "func", _AvailableIfDescriptor)


def _patch_method(cls, name: str, kind: str, available_if) -> None:
    """Wrap cls's effective method (wherever in the MRO it is defined, mixins included) under
    the name of cls, so records say LogisticRegression.predict, not LinearClassifierMixin.predict."""
    attr = inspect.getattr_static(cls, name, None)
    op = f"{cls.__name__}.{name}"
    if isinstance(attr, types.FunctionType):
        _patch(cls, name, op, kind, original=getattr(attr, "__stratum_original__", attr))
    elif isinstance(attr, available_if) and isinstance(attr.fn, types.FunctionType):
        # keep the descriptor (hasattr() must still say whether the method exists)
        _patch(attr, "fn", op, kind)


class _SklearnImportHook(importlib.abc.MetaPathFinder):
    """Patches estimator classes of sklearn modules imported after install()."""

    def find_spec(self, name, path, target=None):
        if not name.startswith("sklearn.") or name in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            original(module)
            try:
                patch_estimator_classes()
            except Exception as e:  # pragma: no cover - never break an import
                from .dispatch import shim_error

                shim_error("import hook", e)

        loader.exec_module = exec_module
        return spec


def _patch_open() -> None:
    from . import files

    _installed.append((builtins, "open", builtins.open))
    builtins.open = files.make_open(builtins.open)


def install() -> None:
    global _hook
    if _installed:
        return
    from . import kernels, prefix, warn

    kernels.install()  # first: the tracing patches then wrap the substituted methods
    _patch_pandas()
    _patch_sklearn()
    _patch_open()

    register = lambda owner, name: _installed.append((owner, name, getattr(owner, name)))  # noqa: E731
    warn.install(register)
    prefix.install(register)
    _hook = _SklearnImportHook()
    sys.meta_path.insert(0, _hook)


def uninstall() -> None:
    global _hook
    from . import kernels
    while _installed:
        owner, name, original = _installed.pop()
        if original is _ABSENT:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _patched_classes.clear()
    _FUNCS.clear()
    if _hook is not None and _hook in sys.meta_path:
        sys.meta_path.remove(_hook)
    _hook = None
    kernels.uninstall()  # last: the tracing patches wrapped the substituted methods


def installed_count() -> int:
    return len(_installed)
