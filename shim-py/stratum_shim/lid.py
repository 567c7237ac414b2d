"""Lineage ids (LIDs): 128-bit ids computed from what produced a value.

A LID is the SHA-256 (first 128 bits) of a canonical byte encoding of (operation, arguments, input LIDs).
Anything that cannot be canonicalised raises Opaque: the value is then never shared.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import types
import uuid
import weakref

import numpy as np


class Opaque(Exception):
    """The value cannot be canonicalised soundly; results depending on it are never shared."""


# parts at least twice this long are hashed in pieces of this size (see `digest`)
PIECE = 4 << 20


def digest(*parts) -> str:
    """SHA-256 of the parts (truncated to 128 bits), not blake2b: this CPU hashes it in hardware
    (SHA-NI), 1.6 GB/s against blake2b's 0.55 GB/s, and every traced call on an array pays it
    once. A part of 8 MB or more goes in as a marker, its length and the SHA-256 of each of its
    4 MB pieces, which the script's granted cores hash at once (hashlib releases the GIL: a 32 MB
    array in 9 ms on 2 cores instead of 18). The pieces do not depend on the cores, so neither
    does the LID; a part's length follows from what precedes it (dtype and shape), so no raw part
    can spell a pieced one."""
    h = hashlib.sha256()
    for p in parts:
        m = memoryview(p)
        if m.nbytes >= 2 * PIECE:
            h.update(_pieced(m if m.format == "B" and m.ndim == 1 else m.cast("B")))
        else:
            h.update(m)
    return h.hexdigest()[:32]


def _pieced(m: memoryview) -> bytes:
    from . import cores

    pieces = [m[i:i + PIECE] for i in range(0, len(m), PIECE)]
    threads = min(cores.granted(), len(pieces))
    if threads > 1:
        digests = list(cores.pool(threads).map(_sha256, pieces))
    else:
        digests = [_sha256(v) for v in pieces]
    return b"".join([b"\0sha256 pieces:", str(len(m)).encode(), b":", *digests])


def _sha256(view) -> bytes:
    return hashlib.sha256(view).digest()



class _Ctx(threading.local):
    memo = False  # resolve local inputs by content (the LID will be used to share a result)
    local = False  # some input had no shareable identity: the LID is local to this process
    hash_arrays = True  # False: large numeric arrays get a local LID instead of their content's


# with hash_arrays=False, numeric arrays from this size on are not hashed (SHA-256 runs at ~1.6
# GB/s here: two 1M-element int64 arrays cost ~10 ms)
CHEAP_ARRAY_BYTES = 1 << 20


_ctx = _Ctx()


def lid_of(op: str, *items, memo: bool = False, hash_arrays: bool = True) -> str:
    """LID of op applied to items. Local LIDs start with 'u' and are never shared.

    hash_arrays=False is for ops whose LID only labels the op record (never shared, result not
    data): large numeric arrays then make the LID local instead of being hashed."""
    prev = (_ctx.memo, _ctx.local, _ctx.hash_arrays)
    _ctx.memo, _ctx.local, _ctx.hash_arrays = memo, False, hash_arrays
    try:
        out: list[bytes] = [b"op:", op.encode(), b"\0"]
        for it in items:
            canon(it, out)
        lid = digest(*out)
        return "u" + lid[1:] if _ctx.local else lid
    finally:
        _ctx.memo, _ctx.local, _ctx.hash_arrays = prev


def is_local(lid: str) -> bool:
    return lid.startswith("u")


def child_lid(lid: str, index) -> str:
    d = digest(b"child:", lid.encode(), b":", repr(index).encode())
    return "u" + d[1:] if is_local(lid) else d


def new_local_lid() -> str:
    return "u" + uuid.uuid4().hex[1:]


# Objects whose LID comes from lineage (the op that produced them). Keyed by id() with a weakref
# so that a recycled id never inherits a stale LID.
_lineage: dict[int, tuple[weakref.ref, str]] = {}
# Content LIDs of read-only arrays (they cannot change, so the hash can be cached).
_content_cache: dict[int, tuple[weakref.ref, str]] = {}


def _forget(table, key):
    def cb(_ref):
        table.pop(key, None)

    return cb


def set_lid(obj, lid: str | None) -> None:
    """Record obj's lineage LID. Arrays are never tracked by lineage: numpy can mutate them in
    place through paths no patch sees, so their LID is always their content."""
    if isinstance(obj, np.ndarray) or _is_sparse(obj):
        return
    key = id(obj)
    if lid is None:
        _lineage.pop(key, None)
        return
    try:
        _lineage[key] = (weakref.ref(obj, _forget(_lineage, key)), lid)
    except TypeError:
        pass


def tracked_lid(obj) -> str | None:
    entry = _lineage.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return None


def _is_sparse(obj) -> bool:
    return type(obj).__module__.startswith("scipy.sparse")


def sparse_lid(m) -> str:
    m = m.tocsr()
    return digest(b"sparse:", str(m.shape).encode(), m.dtype.str.encode(),
                  array_lid(m.data).encode(), array_lid(m.indices).encode(), array_lid(m.indptr).encode())


def value_lid(obj) -> str:
    """The LID of a data value that is an input of an op.

    Arrays: always their content. Pandas objects: their lineage; when they have none (or only a
    local one), their content if the LID will be used for sharing, else a fresh local LID (cheap:
    hashing every row of an iterrows() loop would cost more than the script).
    """
    if isinstance(obj, np.ndarray):
        return array_lid(obj)
    if _is_sparse(obj):
        return sparse_lid(obj)
    lid = tracked_lid(obj)
    if lid is not None and not (is_local(lid) and _ctx.memo):
        if is_local(lid):
            _ctx.local = True
        return lid
    if _is_pandas(obj):
        if _ctx.memo:
            # Identify it by content from now on: the next shared op on it need not hash it
            # again, and mutations derive new LIDs from this one as from any lineage.
            lid = pandas_content_lid(obj)
            set_lid(obj, lid)
            return lid
        lid = new_local_lid()
        set_lid(obj, lid)
        _ctx.local = True
        return lid
    if lid is not None:  # local lineage of a non-pandas object (e.g. a fitted estimator)
        raise Opaque(f"{type(obj).__name__} has no shareable identity")
    out: list[bytes] = []
    canon(obj, out)
    return digest(b"value:", *out)


def array_lid(a: np.ndarray) -> str:
    if a.dtype.hasobject:
        fast = _str_array_lid(a)
        if fast is not None:
            return fast
        out: list[bytes] = [b"objarr", str(a.shape).encode()]
        for v in a.ravel():
            canon(v, out)
        return digest(*out)
    if not _ctx.hash_arrays and a.nbytes >= CHEAP_ARRAY_BYTES:
        _ctx.local = True
        return new_local_lid()
    key = id(a)
    cached = _content_cache.get(key)
    if cached is not None and cached[0]() is a:
        return cached[1]
    c = np.ascontiguousarray(a)
    lid = digest(b"arr:", a.dtype.str.encode(), str(a.shape).encode(), _raw(c))
    if not a.flags.writeable and a.base is not None and not _base_writeable(a):
        try:
            _content_cache[key] = (weakref.ref(a, _forget(_content_cache, key)), lid)
        except TypeError:
            pass
    return lid


class _Arrow(threading.local):
    def __init__(self):
        self.seen: dict = {}
        self.active = False  # inside a traced call (dispatch): only then are they kept


_arrow = _Arrow()


def arrow_of(a):
    """The Arrow array `_str_array_lid` made of `a` during the traced call running now (a kernel
    hook inside the call reuses it instead of converting 1M strings again), or None."""
    got = _arrow.seen.get(id(a))
    return got[1] if got is not None and got[0] is a else None


def traced_call(active: bool) -> None:
    """Called by dispatch when a traced call starts (True) and ends (False): Arrow arrays are
    kept only in between, since the script may change its arrays outside the call."""
    _arrow.active = active
    if _arrow.seen:
        _arrow.seen = {}


def _str_array_lid(a: np.ndarray):
    """The LID of a large object array holding only `str` (labels, predictions, text), from its
    Arrow buffers: 1M strings in ~60 ms instead of ~800 ms element by element. None otherwise."""
    if a.dtype != object or a.size < 1000:
        return None
    flat = a.ravel()
    if set(map(type, flat)) != {str}:
        return None
    import pyarrow as pa

    try:
        arrow = pa.array(flat, from_pandas=False)
    except (pa.ArrowException, UnicodeError):
        return None  # lone surrogates: the element-wise encoding handles them
    if not isinstance(arrow, pa.StringArray) or arrow.null_count or arrow.offset:
        return None
    if _arrow.active:
        _arrow.seen[id(a)] = (a, arrow)
    _, offsets, data = arrow.buffers()
    return digest(b"strarr", str(a.shape).encode(), memoryview(offsets), b"" if data is None else memoryview(data))


def _raw(c: np.ndarray):
    """The bytes of a contiguous array (memoryview cannot cast an empty one, nor export
    datetime64 / timedelta64 buffers: a uint8 view can)."""
    return memoryview(c.reshape(-1).view(np.uint8)) if c.size else b""


def _base_writeable(a: np.ndarray) -> bool:
    base = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
        if isinstance(base, np.ndarray) and base.flags.writeable:
            return True
    return False


def _is_pandas(obj) -> bool:
    mod = type(obj).__module__
    return mod.startswith("pandas")


def pandas_content_lid(obj) -> str:
    import pandas as pd

    if isinstance(obj, (pd.DataFrame, pd.Series)):
        out: list[bytes] = [b"pdcontent:", type(obj).__name__.encode()]
        if isinstance(obj, pd.DataFrame):
            canon(list(obj.columns), out)
            canon([str(t) for t in obj.dtypes], out)
        else:
            canon(obj.name, out)
            canon(str(obj.dtype), out)
        canon(list(obj.index.names), out)
        canon(str(obj.index.dtype), out)
        try:
            hashed = pd.util.hash_pandas_object(obj, index=True)
        except TypeError as e:
            raise Opaque(f"unhashable pandas content: {e}") from None
        out.append(_raw(np.ascontiguousarray(hashed.to_numpy())))
        out.append(str(obj.shape).encode())
        return digest(*out)
    if isinstance(obj, pd.Index):
        out = [b"index:", str(obj.dtype).encode()]
        canon(list(obj), out)
        return digest(*out)
    raise Opaque(f"untracked {type(obj).__name__}")


_PRIMS = (type(None), bool, int, float, str, bytes, complex)


def canon(x, out: list, depth: int = 0) -> None:
    """Append a canonical, type-tagged encoding of x to out; raise Opaque when impossible."""
    if depth > 40:
        raise Opaque("structure too deep")
    t = type(x)
    if t is bool or x is None:
        out.append(b"b" + repr(x).encode())
    elif t is int:
        out.append(b"i" + str(x).encode() + b";")
    elif t is float:
        out.append(b"f" + struct.pack("<d", x))
    elif t is str:
        b = x.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(b) + b)
    elif t is bytes:
        out.append(b"y%d:" % len(x) + x)
    elif t in (list, tuple):
        out.append(b"L(" if t is list else b"T(")
        for v in x:
            canon(v, out, depth + 1)
        out.append(b")")
    elif t is dict:
        out.append(b"D(")
        for k, v in x.items():
            canon(k, out, depth + 1)
            canon(v, out, depth + 1)
        out.append(b")")
    elif t in (set, frozenset):
        items = []
        for v in x:
            sub: list[bytes] = []
            canon(v, sub, depth + 1)
            items.append(b"".join(sub))
        out.append(b"S(" + b",".join(sorted(items)) + b")")
    elif t is slice:
        out.append(b"sl")
        canon((x.start, x.stop, x.step), out, depth + 1)
    elif t is complex:
        out.append(b"c" + struct.pack("<dd", x.real, x.imag))
    elif isinstance(x, np.generic):
        out.append(b"g" + x.dtype.str.encode() + b":" + x.tobytes())
    elif isinstance(x, np.dtype):
        out.append(b"dt" + x.str.encode() + str(x).encode())
    elif isinstance(x, np.ndarray):
        out.append(b"A" + array_lid(x).encode())
    elif isinstance(x, type):
        out.append(b"ty" + f"{x.__module__}.{x.__qualname__}".encode())
    elif isinstance(x, np.ufunc):
        out.append(b"uf" + x.__name__.encode())
    elif isinstance(x, types.ModuleType):
        out.append(b"mod" + x.__name__.encode())
    elif isinstance(x, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        canon_callable(x, out, depth + 1)
    else:
        canon_object(x, out, depth + 1)


def canon_callable(fn, out: list, depth: int) -> None:
    if isinstance(fn, types.MethodType):
        out.append(b"meth(")
        canon(fn.__self__, out, depth + 1)
        canon_callable(fn.__func__, out, depth + 1)
        out.append(b")")
        return
    if isinstance(fn, types.BuiltinFunctionType):
        owner = getattr(fn, "__self__", None)
        if owner is not None and not isinstance(owner, types.ModuleType):
            # A bound builtin method (e.g. some_list.append): its state is the owner's.
            out.append(b"bbm(")
            canon(owner, out, depth + 1)
            out.append(fn.__name__.encode() + b")")
            return
        out.append(b"bf" + f"{getattr(fn, '__module__', '')}.{fn.__qualname__}".encode())
        return
    if not isinstance(fn, types.FunctionType):
        raise Opaque(f"callable {type(fn).__name__}")
    mod = fn.__module__ or ""
    if _is_library_module(mod):
        out.append(b"libfn" + f"{mod}.{fn.__qualname__}".encode())
        return
    code = fn.__code__
    impure = _IMPURE_NAMES.intersection(_global_names(code))
    if impure:
        # np.random.rand(), random.choice(), time.time() ...: a fresh value on every run
        raise Opaque(f"{fn.__qualname__} uses {sorted(impure)[0]!r}: its result may differ run to run")
    out.append(b"fn(")
    canon_code(code, out, depth + 1)
    canon(fn.__defaults__, out, depth + 1)
    canon(fn.__kwdefaults__, out, depth + 1)
    if fn.__closure__:
        for cell in fn.__closure__:
            try:
                v = cell.cell_contents
            except ValueError:
                raise Opaque("empty closure cell") from None
            canon_input(v, out, depth + 1)
    g = fn.__globals__
    for name in _global_names(code):
        if name in g:
            canon(name, out)
            v = g[name]
            if v is fn:
                out.append(b"self")
            else:
                canon_input(v, out, depth + 1)
    out.append(b")")


# Names (globals or attributes) a user function may draw fresh values from.
_IMPURE_NAMES = frozenset(
    "random rand randn randint random_sample choice shuffle permutation normal uniform default_rng "
    "time time_ns perf_counter monotonic now today utcnow uuid1 uuid4 urandom getrandbits".split()
)


def _global_names(code) -> list[str]:
    names = list(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names.extend(_global_names(c))
    return names


def canon_code(code, out: list, depth: int) -> None:
    out.append(b"code(")
    out.append(code.co_code)
    canon(code.co_names, out)
    canon(code.co_varnames, out)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            canon_code(c, out, depth + 1)
        else:
            canon(c, out, depth + 1)
    out.append(b")")


def _is_library_module(mod: str) -> bool:
    root = mod.split(".", 1)[0]
    return root in {"numpy", "pandas", "sklearn", "scipy", "math", "builtins", "operator", "re", "string", "datetime", "statistics"}


def canon_input(v, out: list, depth: int) -> None:
    """Canonicalise a value that may be data (lineage/content LID) or plain parameters."""
    if isinstance(v, np.ndarray) or _is_pandas(v) or _is_sparse(v) or (
        tracked_lid(v) is not None and not estimators_mod().is_estimator(v)
    ):  # estimators: canon_estimator (fitted lineage *and* current params)
        out.append(b"in" + value_lid(v).encode())
    else:
        canon(v, out, depth)


def estimators_mod():
    from . import estimators

    return estimators


def canon_object(x, out: list, depth: int) -> None:
    if _is_pandas(x) or tracked_lid(x) is not None and not estimators_mod().is_estimator(x):
        out.append(b"lid" + value_lid(x).encode())
        return
    if _is_sparse(x):
        out.append(b"sp" + sparse_lid(x).encode())
        return
    estimators = estimators_mod()
    if isinstance(x, estimators.ParamsOf):
        estimators.canon_estimator(x.est, out, depth, fitted_state=x.fitted_state)
        return
    if type(x).__module__ == "sklearn.metrics._scorer":
        out.append(b"scorer:" + type(x).__qualname__.encode())
        canon({k: v for k, v in vars(x).items()}, out, depth + 1)
        return
    if estimators.is_estimator(x) or estimators.is_splitter(x):
        estimators.canon_estimator(x, out, depth)
        return
    import functools

    if isinstance(x, functools.partial):
        out.append(b"partial(")
        canon_callable(x.func, out, depth + 1)
        canon(x.args, out, depth + 1)
        canon(x.keywords, out, depth + 1)
        out.append(b")")
        return
    mod = type(x).__module__
    if mod == "numpy" and type(x).__name__ == "_ArrayFunctionDispatcher":  # np.sum, np.mean...
        out.append(b"npfn" + f"{x.__module__}.{x.__qualname__}".encode())
        return
    if isinstance(x, (types.MethodDescriptorType, types.WrapperDescriptorType)) and _is_library_module(
        x.__objclass__.__module__
    ):  # str.upper, float.__add__: stateless, named by their type
        out.append(b"mdesc" + f"{x.__objclass__.__module__}.{x.__qualname__}".encode())
        return
    if mod == "re" and hasattr(x, "pattern"):
        out.append(b"re" + repr((x.pattern, x.flags)).encode())
        return
    raise Opaque(f"cannot canonicalise {type(x).__module__}.{type(x).__qualname__}")
