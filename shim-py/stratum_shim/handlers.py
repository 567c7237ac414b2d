"""Per-kind logic of the generic wrapper: how an op's LID, inputs and result lineage are found.

Kinds: pd (pandas method or function), mutator (changes its target in place), idx_get / idx_set
(.loc/.iloc/.at/.iat), fit, apply (predict/transform/score...), func (library function), cv
(cross-validation functions: clone their estimator, worth sharing), source (read_csv).
"""

from __future__ import annotations

import inspect
import os
import threading
import types
from dataclasses import dataclass, field

from . import estimators as E
from . import lid as L
from .estimators import ParamsOf


@dataclass
class Plan:
    lid: str | None = None
    inputs: list = field(default_factory=list)
    rows: int = 0
    opaque: str | None = None
    memo_lid: str | None = None
    lookup_extra: dict = field(default_factory=dict)
    target: object = None  # the object a mutator changes
    state_lid: str | None = None  # the fitted state an estimator gets
    source: str | None = None  # the file a source op reads


def _nrows(x) -> int:
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    try:
        return len(x)
    except TypeError:
        return 0


def _data_inputs(values) -> list:
    out = []
    for v in values:
        lid = L.tracked_lid(v)
        if lid is not None:
            out.append(lid)
    return out


def _memo_allowed(rows: int) -> bool:
    from .dispatch import RT

    return RT.client is not None and rows >= RT.min_memo_rows and threading.current_thread() is threading.main_thread()


def _lids(op, items, memo: bool, hash_arrays: bool = True) -> tuple[str | None, str | None, str | None]:
    """(lid, memo_lid, opaque reason). With memo, local inputs are resolved by content."""
    if memo:
        try:
            lid = L.lid_of(op, *items, memo=True)
            if not L.is_local(lid):
                return lid, lid, None
        except L.Opaque:
            pass
    try:
        return L.lid_of(op, *items, hash_arrays=hash_arrays), None, None
    except L.Opaque as e:
        return None, None, str(e)


def register(result, lid: str | None) -> None:
    if lid is None:
        return
    if isinstance(result, (tuple, list)) and len(result) <= 64:
        for i, item in enumerate(result):
            register(item, L.child_lid(lid, i))
        return
    if result is None or isinstance(result, (bool, int, float, str)):
        return
    L.set_lid(result, lid)


class Handler:
    memo = False

    def prepare(self, op, args, kwargs) -> Plan:
        plan = Plan(inputs=_data_inputs(args), rows=_nrows(args[0]) if args else 0)
        plan.lid, plan.memo_lid, plan.opaque = _lids(op, (args, kwargs), self.memo and _memo_allowed(plan.rows))
        return plan

    def finish(self, plan, args, kwargs, result) -> None:
        register(result, plan.lid)

    def failed(self, plan, args) -> None:
        pass

    def payload(self, plan, args, kwargs, result):
        return result

    def apply_hit(self, plan, args, kwargs, payload):
        register(payload, plan.lid)
        return payload


# Pure pandas ops that cost real time on large inputs (a crosstab of 100k rows: ~430 ms).
_PANDAS_SHARED = frozenset(
    "merge join pivot_table crosstab sort_values drop_duplicates value_counts describe corr get_dummies".split()
)
_GROUPBY_SHARED = frozenset("agg aggregate sum mean median min max std var count size nunique first last prod".split())


def _pandas_worth_sharing(op: str, args, kwargs, rows: int) -> bool:
    from .dispatch import RT

    cls, _, name = op.rpartition(".")
    if name not in (_GROUPBY_SHARED if cls.endswith("GroupBy") else _PANDAS_SHARED):
        return False
    if RT.client is None or rows < RT.min_memo_rows_pandas or threading.current_thread() is not threading.main_thread():
        return False
    # a user function may print or write: running it only once would lose that
    return not any(isinstance(v, types.FunctionType) and not L._is_library_module(v.__module__ or "")
                   for v in (*args, *kwargs.values()))


class PandasOp(Handler):
    def prepare(self, op, args, kwargs):
        if kwargs.get("inplace") is True:
            return Mutator().prepare(op, args, kwargs)
        rows = _nrows(getattr(args[0], "obj", args[0])) if args else 0  # a GroupBy's frame
        plan = Plan(inputs=_data_inputs(args), rows=rows)
        if op.endswith(".sample"):  # df.sample() without a seed draws from numpy's global state
            rs = _random_state_of(op, args, kwargs)
            if E._is_random(rs):
                plan.opaque = f"random (random_state={rs!r})"
                return plan
        plan.lid, _, plan.opaque = _lids(op, (args, kwargs), False)
        # shared only when its inputs already have a shareable identity: hashing content for an
        # op that takes milliseconds would cost more than it saves
        if plan.lid is not None and not L.is_local(plan.lid) and _pandas_worth_sharing(op, args, kwargs, rows):
            plan.memo_lid = plan.lid
        return plan

    def finish(self, plan, args, kwargs, result):
        if plan.target is not None:
            L.set_lid(plan.target, plan.lid)
        else:
            register(result, plan.lid)

    def failed(self, plan, args):
        if plan.target is not None:
            L.set_lid(plan.target, None)


def _random_state_of(op, args, kwargs):
    fn = _FUNCS.get(op)
    if fn is None:
        return kwargs.get("random_state")
    try:
        return _bind(fn, args, kwargs).get("random_state")
    except TypeError:
        return None


class Mutator(PandasOp):
    """The target gets a new LID (or loses its lineage: it is then identified by content)."""

    def target_of(self, args):
        return args[0]

    def prepare(self, op, args, kwargs):
        target = self.target_of(args)
        plan = Plan(target=target, inputs=_data_inputs(args[1:]))
        old = L.tracked_lid(target)
        if old is not None:
            try:
                plan.lid = L.lid_of(op, old, args[1:], kwargs)
            except L.Opaque as e:
                plan.opaque = str(e)
        return plan


class IndexerGet(Handler):
    def prepare(self, op, args, kwargs):
        obj = args[0].obj
        plan = Plan(inputs=_data_inputs((obj, *args[1:])), rows=_nrows(obj))
        plan.lid, _, plan.opaque = _lids(op, (obj, args[1:]), False)
        return plan


class IndexerSet(Mutator):
    def target_of(self, args):
        return args[0].obj


def _split_xy(args, kwargs):
    X = args[1] if len(args) > 1 else kwargs.get("X", kwargs.get("raw_documents"))
    y = args[2] if len(args) > 2 else kwargs.get("y")
    return X, y


class Fit(Handler):
    """fit / fit_transform / fit_predict: the estimator's new state comes from params + data."""

    memo = True

    def prepare(self, op, args, kwargs):
        est = args[0]
        X, _ = _split_xy(args, kwargs)
        plan = Plan(inputs=_data_inputs(args[1:]), rows=_nrows(X))
        warm = bool(getattr(est, "warm_start", False)) or op.endswith(".partial_fit")
        items = (ParamsOf(est, fitted_state=warm), args[1:], kwargs, E.sklearn_config())
        plan.lid, plan.memo_lid, plan.opaque = _lids(op, items, _memo_allowed(plan.rows))
        if plan.lid is not None:
            plan.state_lid = plan.lid if op.endswith((".fit", ".partial_fit")) else L.child_lid(plan.lid, "state")
        return plan

    def finish(self, plan, args, kwargs, result):
        _set_state(args[0], plan.state_lid)
        if result is not args[0]:
            register(result, plan.lid)

    def failed(self, plan, args):
        _set_state(args[0], None)

    def payload(self, plan, args, kwargs, result):
        return (args[0], None if result is args[0] else result)

    def apply_hit(self, plan, args, kwargs, payload):
        fitted, result = payload
        E.restore_into(args[0], fitted)
        _set_state(args[0], plan.state_lid)
        if result is None:
            return args[0]
        register(result, plan.lid)
        return result


def _set_state(est, state_lid) -> None:
    """est's new fitted lineage. Its sub-estimators (Pipeline steps) may have been refit too, so
    their old lineage is stale; their new state is determined by what determined est's fit."""
    L.set_lid(est, state_lid)
    for path, sub in E.sub_estimators(est):
        L.set_lid(sub, None if state_lid is None else L.child_lid(state_lid, ("sub", path)))


class Apply(Handler):
    """predict / transform / score ...: depends on the fitted state and the data."""

    memo = True

    def prepare(self, op, args, kwargs):
        X, _ = _split_xy(args, kwargs)
        plan = Plan(inputs=_data_inputs(args), rows=_nrows(X))
        items = (args, kwargs, E.sklearn_config())
        plan.lid, plan.memo_lid, plan.opaque = _lids(op, items, _memo_allowed(plan.rows))
        return plan


_SIGNATURES: dict = {}


def _bind(fn, args, kwargs) -> dict:
    sig = _SIGNATURES.get(fn)
    if sig is None:
        sig = _SIGNATURES[fn] = inspect.signature(fn)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


class Func(Handler):
    """A library function: arguments bound to its signature, so positional == keyword."""

    def __init__(self, memo=False, clone=False, hash_arrays=True):
        self.memo = memo
        self.clone = clone
        self.hash_arrays = hash_arrays

    def prepare(self, op, args, kwargs):
        fn = _FUNCS.get(op)
        try:
            bound = _bind(fn, args, kwargs) if fn is not None else {"args": args, "kwargs": kwargs}
        except TypeError:  # the real call will raise the right error
            return Plan(opaque="arguments do not bind")
        for k in E.IGNORED_PARAMS:
            bound.pop(k, None)
        if bound.get("verbose") not in (None, 0, False):
            return Plan(opaque="verbose output")
        rs = bound.get("random_state", 0)
        if E._is_random(rs) and bound.get("shuffle", True) and "random_state" in bound:
            return Plan(opaque=f"random (random_state={rs!r})")
        if self.clone:
            bound = {k: ParamsOf(v) if E.is_estimator(v) else v for k, v in bound.items()}
        data = [v for v in bound.values()]
        plan = Plan(inputs=_data_inputs(data), rows=_first_rows(data))
        plan.lid, plan.memo_lid, plan.opaque = _lids(op, (bound, E.sklearn_config()), self.memo and _memo_allowed(plan.rows), self.hash_arrays)
        return plan


def _first_rows(values) -> int:
    for v in values:
        if hasattr(v, "shape") or isinstance(v, list):
            return _nrows(v)
    return 0


_FUNCS: dict = {}  # op name -> original function, for signature binding (filled by patches)


class Source(Handler):
    """pd.read_csv / pd.read_parquet of a local file: the coordinator keys it by file content (and
    may read it in Rust); standalone, the shim hashes the file itself."""

    memo = True
    # the name of the path parameter of each source
    PATH_ARG = {"pd.read_csv": "filepath_or_buffer", "pd.read_parquet": "path"}

    def prepare(self, op, args, kwargs):
        from .dispatch import RT

        path_arg = self.PATH_ARG[op]
        path = args[0] if args else kwargs.get(path_arg)
        if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
            return Handler.prepare(self, op, args, kwargs)
        rest = {k: v for k, v in kwargs.items() if k != path_arg}
        st = os.stat(path)
        real = os.path.realpath(path)
        try:
            kw_lid = L.lid_of("kwargs", args[1:], rest)
        except L.Opaque as e:
            return Plan(opaque=str(e))
        plan = Plan()
        if RT.client is not None:
            plan.memo_lid = L.digest(b"src", op.encode(), real.encode(), str((st.st_size, st.st_mtime_ns)).encode(), kw_lid.encode())
            plan.lookup_extra = {
                "source": {"path": real, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "kw_lid": kw_lid,
                           "nargs": len(args), "kwargs": _plain(rest)}
            }
        else:
            plan.lid = L.lid_of(op.removeprefix("pd."), _file_hash(real), kw_lid)
        plan.source = real
        return plan

    def apply_hit(self, plan, args, kwargs, payload):
        import pyarrow as pa

        if isinstance(payload, pa.Table):  # read_parquet in Rust: pandas converts pyarrow's table
            from .bridge import parquet_table_to_frame

            payload = parquet_table_to_frame(payload, plan.source, nan_nulls=True)
        return Handler.apply_hit(self, plan, args, kwargs, payload)

def _plain(kwargs: dict):
    """kwargs as plain msgpack values, or None when any is not (the kernel then declines)."""
    ok = (str, int, float, bool, type(None))

    def plain(v):
        if isinstance(v, ok):
            return True
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        return False

    if not plain(kwargs):
        return None
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}


def _file_hash(path: str) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, hashlib.sha256).hexdigest()[:32]


HANDLERS = {
    "pd": PandasOp(),
    "mutator": Mutator(),
    "idx_get": IndexerGet(),
    "idx_set": IndexerSet(),
    "fit": Fit(),
    "apply": Apply(),
    "func": Func(),
    # metrics: never shared and their results are not data, so their LIDs only label records;
    # hashing 1M-element label arrays (~10 ms) would cost a third of a binary f1_score
    "metric": Func(hash_arrays=False),
    "cv": Func(memo=True, clone=True),
    "source": Source(),
}
