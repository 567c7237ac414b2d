"""LID canonicalisation: sound (different computations differ) and stable (same ones agree)."""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Lasso, LogisticRegression
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from stratum_shim import lid as L
from stratum_shim.estimators import ParamsOf


def h(*items):
    return L.lid_of("op", *items)


# --- plain values ------------------------------------------------------------------------------

def test_lid_format_and_determinism():
    a = h((1, "x"), {"k": 2.5})
    assert a == h((1, "x"), {"k": 2.5})
    assert re.fullmatch(r"[0-9a-f]{32}", a)
    assert not L.is_local(a)


def test_op_name_enters_the_lid():
    assert L.lid_of("DataFrame.head", 5) != L.lid_of("DataFrame.tail", 5)


@pytest.mark.parametrize(
    "x, y",
    [
        (0.1, 0.1000001),
        (-0.0, 0.0),
        (1, 1.0),
        (1, True),
        (1.0, True),
        (0, False),
        (0, None),
        ("", None),
        ("1", 1),
        (b"a", "a"),
        ([1, 2], (1, 2)),
        ([1, 2], [2, 1]),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # dict order matters (kwargs, column mappings)
        ({1, 2}, [1, 2]),
        (np.float64(1.0), 1.0),
        (np.int64(1), 1),
        (np.int32(1), np.int64(1)),
        (slice(0, 2), (0, 2)),
        (1 + 0j, 1.0),
        (["ab", "c"], ["a", "bc"]),  # no ambiguity in concatenation
        ([[1], 2], [1, [2]]),
        (float("inf"), float("-inf")),
        (np.dtype("int64"), np.dtype("int32")),
        (int, float),
        (np.sum, np.mean),
    ],
)
def test_different_values_give_different_lids(x, y):
    assert h(x) != h(y)


def test_args_are_positional():
    assert h(1, 2) != h(2, 1)
    assert h((1, 2)) != h(1, 2)


def test_sets_are_order_independent():
    assert h({3, 1, 2}) == h({1, 2, 3})
    assert h(frozenset({"a", "b"})) == h(frozenset({"b", "a"}))


def test_equal_values_agree():
    assert h(0.1) == h(0.1)
    assert h(float("nan")) == h(float("nan"))
    assert h(["a", {"x": (1, 2.0)}]) == h(["a", {"x": (1, 2.0)}])
    assert h(np.float32(0.5)) == h(np.float32(0.5))


def test_unknown_objects_are_opaque():
    class Thing:
        pass

    with pytest.raises(L.Opaque):
        h(Thing())
    with pytest.raises(L.Opaque):
        h([1, {"k": object()}])
    with pytest.raises(L.Opaque):
        h(Exception("x"))


def test_too_deep_is_opaque():
    x: list = []
    for _ in range(60):
        x = [x]
    with pytest.raises(L.Opaque):
        h(x)


# --- arrays ------------------------------------------------------------------------------------

def test_array_content_lid():
    a = np.arange(6, dtype=np.int64)
    assert h(a) == h(np.arange(6, dtype=np.int64))
    assert h(a) != h(a.astype(np.int32))  # dtype
    assert h(a) != h(a.reshape(2, 3))  # shape
    assert h(a.reshape(2, 3)) != h(a.reshape(3, 2))
    assert h(a.reshape(2, 3).T) == h(np.ascontiguousarray(a.reshape(2, 3).T))


def test_datetime_and_timedelta_arrays_hash_their_values():
    # memoryview cannot export datetime64 / timedelta64 buffers: their bytes are hashed as uint8
    t = np.array([0, 1, -(2**63)], dtype="M8[ns]")
    assert h(t) == h(t.copy())
    assert h(t) != h(t.view(np.int64))  # dtype
    assert h(t) != h(t.astype("M8[s]"))
    assert h(t) != h(np.array([0, 2, -(2**63)], dtype="M8[ns]"))
    d = np.array([1, 2], dtype="m8[ms]")
    assert h(d) == h(d.copy()) and h(d) != h(d.view(np.int64))
    assert h(np.array([], dtype="M8[ns]")) != h(np.array([], dtype="m8[ns]"))


def test_array_mutated_in_place_gets_new_lid():
    a = np.arange(5.0)
    before = L.value_lid(a)
    a[0] = 42.0
    assert L.value_lid(a) != before
    a += 1
    assert L.value_lid(a) != before


def test_set_lid_never_tracks_arrays():
    a = np.arange(3)
    L.set_lid(a, "0" * 32)
    assert L.tracked_lid(a) is None
    assert L.value_lid(a) == L.array_lid(a)


def test_readonly_view_of_writeable_base_is_not_cached():
    base = np.arange(4.0)
    view = base[:]
    view.flags.writeable = False
    before = L.value_lid(view)
    base[1] = -1.0
    assert L.value_lid(view) != before


def test_readonly_view_of_readonly_base_is_cached_and_correct():
    base = np.arange(4.0)
    base.flags.writeable = False
    view = base[1:]
    assert L.value_lid(view) == L.value_lid(np.arange(1.0, 4.0))


def test_object_arrays_hash_their_items():
    a = np.array(["a", "b"], dtype=object)
    b = np.array(["a", "c"], dtype=object)
    assert h(a) != h(b)
    assert h(a) == h(np.array(["a", "b"], dtype=object))
    with pytest.raises(L.Opaque):
        h(np.array([object()], dtype=object))


def test_large_str_arrays_hash_their_arrow_buffers():
    # from 1000 items, object arrays of str only are hashed from their Arrow buffers
    words = np.array(["a", "bb", "", "é", "中文", "a\x00"] * 300, dtype=object)
    same = words.copy()
    assert L.array_lid(words) == L.array_lid(same)
    for changed in (np.concatenate([words[:1], words]), words[::-1].copy(), words.reshape(2, -1)):
        assert L.array_lid(changed) != L.array_lid(words)
    moved = words.copy()
    moved[0], moved[1] = "ab", "b"  # the same characters, split elsewhere
    assert L.array_lid(moved) != L.array_lid(words)
    mixed = words.copy()
    mixed[3] = np.str_("é")  # np.str_ is not str: hashed element by element, differently
    assert L.array_lid(mixed) != L.array_lid(words)
    odd = words.copy()
    odd[5] = "\ud800"  # a lone surrogate: Arrow refuses it, the element-wise path takes it
    assert L.array_lid(odd) != L.array_lid(words)
    small = words[:999]
    assert L.array_lid(small) == L.digest(b"objarr", str(small.shape).encode(), *_items(small))
    # the Arrow array is kept for kernels only during a traced call
    L.array_lid(words)
    assert L.arrow_of(words) is None  # outside a traced call
    L.traced_call(True)
    L.array_lid(words)
    assert L.arrow_of(words).to_pylist() == list(words) and L.arrow_of(same) is None
    L.traced_call(False)
    assert L.arrow_of(words) is None


def _items(a):
    out: list[bytes] = []
    for v in a.ravel():
        L.canon(v, out)
    return out


def test_sparse_content():
    sp = pytest.importorskip("scipy.sparse")
    m = sp.csr_matrix(np.eye(3))
    assert h(m) == h(sp.csr_matrix(np.eye(3)))
    m2 = sp.csr_matrix(np.eye(3) + np.diag([5.0, 0.0], k=1))
    assert h(m) != h(m2)


# --- pandas values -----------------------------------------------------------------------------

def test_untracked_pandas_is_local_and_stable_per_object():
    df = pd.DataFrame({"a": [1, 2]})
    a = L.lid_of("op", df)
    assert L.is_local(a)
    assert L.lid_of("op", df) == a  # the object keeps its local identity
    assert L.lid_of("op", pd.DataFrame({"a": [1, 2]})) != a  # another object: another local id


def test_memo_resolves_local_pandas_by_content():
    d1 = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    d2 = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    m1 = L.lid_of("op", d1, memo=True)
    assert not L.is_local(m1)
    assert m1 == L.lid_of("op", d2, memo=True)
    assert m1 != L.lid_of("op", pd.DataFrame({"a": [1, 2], "b": [0.5, 1.6]}), memo=True)
    assert m1 != L.lid_of("op", pd.DataFrame({"b": [0.5, 1.5], "a": [1, 2]}), memo=True)  # column order
    assert m1 != L.lid_of("op", d1.astype({"a": "int32"}), memo=True)  # dtype
    assert m1 != L.lid_of("op", d1.set_axis([5, 6]), memo=True)  # index
    s = pd.Series([1, 2], name="a")
    assert L.lid_of("op", s, memo=True) != L.lid_of("op", s.rename("b"), memo=True)


def test_tracked_lineage_is_used_and_local_propagates():
    df = pd.DataFrame({"a": [1]})
    L.set_lid(df, "1" * 32)
    assert h(df) == h(df)
    assert not L.is_local(h(df))
    L.set_lid(df, "u" + "1" * 31)
    assert L.is_local(h(df))
    assert L.is_local(L.child_lid("u" + "1" * 31, 0))
    assert not L.is_local(L.child_lid("1" * 32, 0))
    assert L.child_lid("1" * 32, 0) != L.child_lid("1" * 32, 1)


def test_lineage_is_per_object_not_per_id():
    df = pd.DataFrame({"a": [1]})
    L.set_lid(df, "2" * 32)
    other = pd.DataFrame({"a": [1]})
    assert L.tracked_lid(other) is None
    L.set_lid(df, None)
    assert L.tracked_lid(df) is None


# --- callables ---------------------------------------------------------------------------------

G = 10


def test_lambdas_with_different_constants_differ():
    assert h(lambda x: x + 1) != h(lambda x: x + 2)
    assert h(lambda x: x + 1) == h(lambda x: x + 1)
    assert h(lambda x: x * 2) != h(lambda x: x + 2)
    assert h(lambda x, y=1: x + y) != h(lambda x, y=2: x + y)  # defaults
    assert h(lambda x: x.mean()) != h(lambda x: x.sum())


def _adder(k):
    return lambda x: x + k


def test_closures():
    assert h(_adder(1)) == h(_adder(1))
    assert h(_adder(1)) != h(_adder(2))
    assert h(_adder(1)) != h(_adder(1.0))
    with pytest.raises(L.Opaque):
        h(_adder(object()))


def test_closure_over_data_uses_its_identity():
    a, b = np.arange(3), np.arange(3) + 1
    assert h(_adder(a)) != h(_adder(b))
    assert h(_adder(a)) == h(_adder(np.arange(3)))


def test_referenced_globals():
    global G
    f = lambda x: x + G  # noqa: E731
    before = h(f)
    assert h(lambda x: x + G) == before
    try:
        G = 11
        assert h(f) != before
    finally:
        G = 10
    assert h(f) == before


def _nested(x):
    return [v + 1 for v in x]


def test_nested_code_and_named_functions():
    def other(x):
        return [v + 2 for v in x]

    assert h(_nested) != h(other)
    assert h(_nested) == h(_nested)


def test_library_callables_by_name():
    assert h(np.mean) == h(np.mean)
    assert h(np.mean) != h(np.median)
    assert h(len) != h(abs)
    assert h(str.upper) != h(str.lower)


def test_partial():
    assert h(functools.partial(_adder, 1)) != h(functools.partial(_adder, 2))
    assert h(functools.partial(_adder, 1)) == h(functools.partial(_adder, 1))


def test_bound_builtin_method_includes_its_owner():
    assert h([1].append) != h([2].append)


# --- estimators and splitters --------------------------------------------------------------------

def test_estimator_params_enter_the_lid():
    assert h(LogisticRegression(C=1.0)) != h(LogisticRegression(C=2.0))
    assert h(LogisticRegression(C=1.0)) == h(LogisticRegression())
    assert h(LogisticRegression()) != h(Lasso())
    assert h(LogisticRegression(max_iter=100)) != h(LogisticRegression(max_iter=101))


def test_n_jobs_is_ignored():
    assert h(LogisticRegression(n_jobs=4)) == h(LogisticRegression())


def test_random_state_enters_the_lid():
    assert h(RandomForestClassifier(random_state=0)) != h(RandomForestClassifier(random_state=1))
    assert h(RandomForestClassifier(random_state=0)) == h(RandomForestClassifier(random_state=0))
    assert h(RandomForestClassifier(random_state=0, n_estimators=5)) != h(RandomForestClassifier(random_state=0))


def test_random_estimators_are_opaque():
    with pytest.raises(L.Opaque):
        h(RandomForestClassifier())
    with pytest.raises(L.Opaque):
        h(RandomForestClassifier(random_state=np.random.RandomState(0)))
    with pytest.raises(L.Opaque):
        h(LogisticRegression(solver="saga"))
    with pytest.raises(L.Opaque):
        h(Lasso(selection="random"))
    with pytest.raises(L.Opaque):  # nested
        h(Pipeline([("sc", StandardScaler()), ("rf", RandomForestClassifier())]))


def test_random_state_unused_is_not_opaque():
    h(LogisticRegression())  # lbfgs ignores random_state
    h(LogisticRegression(solver="newton-cg"))
    h(Lasso())
    h(SVC())  # sklearn 1.9: probability="deprecated" means no Platt scaling
    h(Pipeline([("sc", StandardScaler()), ("lr", LogisticRegression())]))


def test_verbose_estimators_are_opaque():
    with pytest.raises(L.Opaque):
        h(LogisticRegression(verbose=1))
    h(LogisticRegression(verbose=0))


def test_splitters():
    with pytest.raises(L.Opaque):
        h(KFold(5, shuffle=True))
    with pytest.raises(L.Opaque):
        h(StratifiedKFold(5, shuffle=True))
    with pytest.raises(L.Opaque):
        h(ShuffleSplit(3))
    assert h(KFold(5)) != h(KFold(4))
    assert h(KFold(5)) != h(StratifiedKFold(5))
    assert h(KFold(5, shuffle=True, random_state=0)) != h(KFold(5, shuffle=True, random_state=1))
    assert h(KFold(5, shuffle=True, random_state=0)) != h(KFold(5))
    assert h(ShuffleSplit(3, random_state=0)) == h(ShuffleSplit(3, random_state=0))


def test_fitted_estimator_without_lineage_is_opaque():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 2
    est = LogisticRegression().fit(X, y)
    with pytest.raises(L.Opaque):
        h(est)
    # what fit() starts from is still its params
    assert h(ParamsOf(est)) == h(ParamsOf(LogisticRegression()))


def test_fitted_estimator_params_enter_the_lid():
    """set_params after fit changes predict (KNeighbors reads n_neighbors at predict time)."""
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 2
    knn = KNeighborsClassifier(3).fit(X, y)
    L.set_lid(knn, "3" * 32)
    before = h(knn)
    knn.set_params(n_neighbors=1)
    assert h(knn) != before
    knn.set_params(n_neighbors=3)
    assert h(knn) == before
    L.set_lid(knn, "4" * 32)
    assert h(knn) != before


def test_functions_drawing_random_or_time_values_are_opaque():
    import random
    import time

    for fn in (lambda r: np.random.rand(), lambda r: random.random(), lambda r: time.time(),
               lambda r: np.random.default_rng().normal()):
        with pytest.raises(L.Opaque):
            L.lid_of("DataFrame.apply", fn)
    assert L.lid_of("DataFrame.apply", lambda r: r * 2) == L.lid_of("DataFrame.apply", lambda r: r * 2)


def test_empty_arrays_and_frames_have_content_lids():
    # memoryview cannot cast an empty array: the LID of empty data must still be computed
    shapes = [(0,), (0, 3), (5, 0), (0, 0)]
    lids = [L.value_lid(np.empty(s)) for s in shapes]
    assert len(set(lids)) == len(shapes)  # the shape is part of the identity
    assert L.value_lid(np.empty((0, 3))) == lids[1]
    L._ctx.memo = True
    try:
        a = L.value_lid(pd.DataFrame({"a": pd.Series([], dtype=float)}))
        b = L.value_lid(pd.DataFrame({"b": pd.Series([], dtype=float)}))
    finally:
        L._ctx.memo = False
    assert a != b


def test_large_arrays_hash_in_pieces_whatever_the_cores():
    from stratum_shim import cores

    a = np.random.default_rng(5).random(3 * L.PIECE // 8 + 7)  # three pieces and a bit
    saved = cores._LIMIT
    try:
        lids = []
        for n in (None, 1, 2, 3):
            cores._LIMIT = n
            lids.append(L.array_lid(a))
        assert len(set(lids)) == 1
        for at in (0, L.PIECE // 8, len(a) - 1):  # a change in the first, second or last piece
            b = a.copy()
            b[at] = np.nextafter(b[at], 2.0)
            assert L.array_lid(b) != lids[0]
        # the same bytes as another dtype or shape are another array
        assert L.array_lid(a.view(np.int64)) != lids[0]
        assert L.array_lid(a[:-1].reshape(-1, 2)) != L.array_lid(a[:-1])
        # a part's bytes, not its elements: an int64 view hashes as its uint8 view
        ints = np.arange(2 * L.PIECE // 8, dtype=np.int64)
        assert L.digest(b"x", memoryview(ints)) == L.digest(b"x", memoryview(ints.view(np.uint8)))
    finally:
        cores._LIMIT = saved
