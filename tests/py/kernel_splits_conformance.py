"""Conformance of the splitters' label kernel (`stratum_shim.splits`), run *under the coordinator*
(tests/kernels.test.ts).

`sklearn.model_selection._split` sees a copy of numpy whose `unique` sends large 1-D `str` (or,
with index / inverse / counts asked, integer) arrays to the Rust `label_codes` kernel and whose
`argsort(kind="stable")` sorts small non-negative integers cast to 16 bits; and
`sklearn.utils.multiclass.cached_unique` (type_of_target, unique_labels) sends one large `str`
array to the same kernel. Every splitter built on them must yield the same folds as
scikit-learn's own.

Part 1, the two functions directly against NumPy's: randomised 1-D arrays (1 to 3000 elements, a
few of 30000) of str objects (unicode, combining accents, CJK, emoji, "", " ", case variants,
"10" before "9", "a\\x00b"), `<U` arrays (little- and big-endian, strided, reversed, read-only),
every int and uint width (int64 extremes, uint64 above the int64 range), 1 to 3000 distinct
values, every combination of return_index / return_inverse / return_counts; and inputs that must
go to NumPy (np.str_ elements, None / NaN in object arrays, bytes, floats, bools, 2-D, axis=0,
sorted=False, lists, empty arrays). argsort: stable and default kinds, `stable=True`, values
below and above 2**16, negative values, every int width, 2-D.
type_of_target, unique_labels and cached_unique (one or two arrays, arrays carrying sklearn's own
cached uniques) on the same inputs.
Part 2, the splitters: StratifiedKFold (shuffle or not, random_state int / RandomState / None
sequences), StratifiedShuffleSplit, train_test_split(stratify=...) on frames and arrays,
GroupKFold, StratifiedGroupKFold, GroupShuffleSplit, LeaveOneGroupOut, LeavePGroupsOut, with str
/ int / Series labels and groups, classes too small (the errors and warnings), one class.

Each case runs twice: with numpy itself as the module's `np` (scikit-learn's own path), then with
the shim's copy and the thresholds at 1. Results must be identical: arrays of the same dtype,
shape and values (object elements equal and of the same type), or the same exception (type and
message), the same warnings; no shim error. Prints one summary line; any mismatch raises.
"""

import random
import warnings

import numpy as np
import pandas as pd
import sklearn.model_selection as MS
import sklearn.model_selection._split as S
import sklearn.utils.multiclass as MC
from sklearn.utils._unique import cached_unique as SK_CACHED_UNIQUE

from stratum_shim import sort, splits
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
SHIM_NP = S.np
assert SHIM_NP is not np and SHIM_NP.unique is not np.unique, "sklearn.model_selection._split.np is not substituted"
SHIM_CACHED_UNIQUE = MC.cached_unique
assert SHIM_CACHED_UNIQUE is not SK_CACHED_UNIQUE, "sklearn.utils.multiclass.cached_unique is not substituted"
splits.MIN_STR_LABELS = splits.MIN_INT_LABELS = sort.MIN_RADIX = 1

rng = np.random.default_rng(0)
pyrng = random.Random(0)
WORDS = ["a", "b", "B", "ab", "", " ", "10", "9", "é", "é", "日本", "😀", "a\x00b", "zz", "Zz",
         "subscription", "add-on", "x" * 40]


def outcome(call):
    """(result or exception, warnings) of call()."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            out = ("ok", call())
        except Exception as e:  # noqa: BLE001
            out = ("raised", type(e), str(e))
    return out, [(x.category, str(x.message)) for x in w]


def same(a, b, where):
    if isinstance(a, tuple) and isinstance(b, tuple) or isinstance(a, list) and isinstance(b, list):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: {type(a)} {len(a)} vs {type(b)} {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
        return
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        if a.dtype == object:
            assert all(type(x) is type(y) and x == y for x, y in zip(a.ravel(), b.ravel())), f"{where}: object values differ"
        else:
            assert np.array_equal(a, b), f"{where}: values differ"
        return
    if isinstance(a, (pd.DataFrame, pd.Series)):
        assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
        assert a.equals(b) and list(a.index) == list(b.index), f"{where}: pandas objects differ"
        return
    assert type(a) is type(b) and a == b, f"{where}: {a!r} vs {b!r}"


def compare(make_call, where):
    """make_call() -> a fresh zero-argument call (random states rebuilt per run)."""
    S.np, MC.cached_unique = np, SK_CACHED_UNIQUE
    try:
        ref = outcome(make_call())
    finally:
        S.np, MC.cached_unique = SHIM_NP, SHIM_CACHED_UNIQUE
    got = outcome(make_call())
    assert ref[1] == got[1], f"{where}: warnings {ref[1]} vs {got[1]}"
    assert ref[0][0] == got[0][0], f"{where}: {ref[0][:3]} vs {got[0][:3]}"
    if ref[0][0] == "raised":
        assert ref[0] == got[0], f"{where}: {ref[0]} vs {got[0]}"
    else:
        same(ref[0][1], got[0][1], where)


def n_samples():
    return pyrng.choice([1, 2, 3, 7, 20, 100, 500, 3000, 3000, 30000 if pyrng.random() < 0.1 else 1000])


def str_labels(n, k):
    pool = pyrng.sample(WORDS, min(k, len(WORDS))) + [f"c{i}" for i in range(max(0, k - len(WORDS)))]
    return np.array([pool[i] for i in rng.integers(0, len(pool), n)], dtype=object)


def int_labels(n, k):
    dtype = pyrng.choice([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64])
    info = np.iinfo(dtype)
    if pyrng.random() < 0.3:
        pool = rng.integers(info.min, info.max, size=k, dtype=dtype, endpoint=True)
    else:
        pool = np.arange(min(k, int(info.max))).astype(dtype)
    return pool[rng.integers(0, len(pool), n)]


def labels(n):
    k = pyrng.choice([1, 2, 3, 6, 20, 300, 3000])
    kind = pyrng.choice(["obj", "obj", "U", "Ubig", "int", "int", "strided"])
    if kind == "int":
        return int_labels(n, k)
    y = str_labels(n, k)
    if kind == "U":
        return y.astype(str)
    if kind == "Ubig":
        u = y.astype(str)
        return u.astype(u.dtype.newbyteorder(">"))
    # strided / reversed / read-only views of a str array
    big = str_labels(2 * n, k).astype(pyrng.choice([object, str]))
    v = big[::2] if pyrng.random() < 0.5 else big[::-1][:n]
    v.flags.writeable = pyrng.random() < 0.5
    return v


def declined_input(n):
    """Inputs the copy leaves to NumPy."""
    choice = pyrng.choice(["np_str", "none", "nan", "bytes", "float", "bool", "2d", "list", "empty", "mixed"])
    y = str_labels(max(n, 2), 4)
    if choice == "np_str":
        y[0] = np.str_(y[0])
    elif choice == "none":
        y[-1] = None
    elif choice == "nan":
        y[0] = float("nan")
    elif choice == "bytes":
        y = np.array([s.encode() for s in y], dtype=object)
    elif choice == "float":
        y = rng.integers(0, 3, len(y)).astype(float)
    elif choice == "bool":
        y = rng.integers(0, 2, len(y)).astype(bool)
    elif choice == "2d":
        y = y[: len(y) // 2 * 2].reshape(-1, 2)
    elif choice == "list":
        y = list(y)
    elif choice == "empty":
        y = y[:0]
    else:
        y[0] = 3
    return y


def unique_cases(count):
    for case in range(count):
        n = n_samples()
        y = labels(n) if pyrng.random() < 0.85 else declined_input(n)
        flags = {f: pyrng.random() < 0.5 for f in ("return_index", "return_inverse", "return_counts")}
        extra = {}
        if pyrng.random() < 0.1:
            extra = pyrng.choice([{"axis": 0}, {"sorted": False}, {"equal_nan": False}])
        compare(lambda y=y, flags=flags, extra=extra: lambda: S.np.unique(y, **flags, **extra), f"unique case {case} {getattr(y, 'dtype', type(y))} {flags} {extra}")


def multiclass_cases(count):
    """type_of_target and unique_labels, which reach cached_unique."""
    for case in range(count):
        n = n_samples()
        y = labels(n) if pyrng.random() < 0.85 else declined_input(n)
        if pyrng.random() < 0.2 and isinstance(y, np.ndarray):
            y = MC.attach_unique(y)  # sklearn's cache in the dtype: its own path
        call = pyrng.choice([MC.type_of_target, MC.unique_labels, lambda y: MC.cached_unique(y), lambda y: MC.cached_unique(y, y)])
        compare(lambda y=y, call=call: lambda: call(y), f"multiclass case {case} {getattr(y, 'dtype', type(y))} {call}")


def argsort_cases(count):
    for case in range(count):
        n = n_samples()
        dtype = pyrng.choice([np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64, np.intp])
        top = pyrng.choice([2, 6, 300, 1 << 16, (1 << 16) + 5])
        a = rng.integers(0, top, n).astype(dtype)
        if pyrng.random() < 0.1 and dtype not in (np.uint32, np.uint64):
            a[0] = -1
        if pyrng.random() < 0.1:
            a = a[: n // 2 * 2].reshape(2, -1)
        kw = pyrng.choice([{"kind": "stable"}, {"kind": "stable"}, {"stable": True}, {}, {"kind": "mergesort"}, {"axis": 0, "kind": "stable"}])
        compare(lambda a=a, kw=kw: lambda: S.np.argsort(a, **kw), f"argsort case {case} {a.dtype} {kw}")


def folds(splitter, X, y=None, groups=None):
    return [(train, test) for train, test in splitter.split(X, y, groups)]


def splitter_cases(count):
    for case in range(count):
        n = pyrng.choice([4, 10, 50, 500, 3000, 3000, 20000])
        y = labels(n)
        if isinstance(y, np.ndarray) and y.dtype.kind in "iu" and pyrng.random() < 0.5:
            y = y % 4
        groups = labels(n)
        as_series = pyrng.random() < 0.3
        if as_series:
            y = pd.Series(y.astype(str) if y.dtype.kind in "OU" else y, dtype="str" if y.dtype.kind in "OU" else None)
        X = np.zeros((n, 2))
        seed = pyrng.choice([0, 1, 42])
        which = pyrng.choice(["skf", "skf_noshuffle", "sss", "tts", "tts_frame", "gkf", "sgkf", "gss", "logo", "lpgo"])
        k = pyrng.choice([2, 3, 5])
        if which == "skf":
            make = lambda: lambda: folds(MS.StratifiedKFold(k, shuffle=True, random_state=seed), X, y)  # noqa: E731
        elif which == "skf_noshuffle":
            make = lambda: lambda: folds(MS.StratifiedKFold(k), X, y)  # noqa: E731
        elif which == "sss":
            make = lambda: lambda: folds(MS.StratifiedShuffleSplit(k, test_size=0.25, random_state=np.random.RandomState(seed)), X, y)  # noqa: E731
        elif which == "tts":
            make = lambda: lambda: MS.train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)  # noqa: E731
        elif which == "tts_frame":
            frame = pd.DataFrame({"a": np.arange(n), "y": y if not as_series else y.to_numpy()})
            make = lambda: lambda: MS.train_test_split(frame, test_size=0.3, random_state=seed, stratify=frame["y"])  # noqa: E731
        elif which == "gkf":
            make = lambda: lambda: folds(MS.GroupKFold(k), X, y, groups)  # noqa: E731
        elif which == "sgkf":
            make = lambda: lambda: folds(MS.StratifiedGroupKFold(k, shuffle=True, random_state=seed), X, y, groups)  # noqa: E731
        elif which == "gss":
            make = lambda: lambda: folds(MS.GroupShuffleSplit(k, test_size=0.3, random_state=seed), X, y, groups)  # noqa: E731
        elif which == "logo":
            g = str_labels(n, 6)
            make = lambda: lambda: folds(MS.LeaveOneGroupOut(), X, y, g)  # noqa: E731
        else:
            g = str_labels(n, 5)
            make = lambda: lambda: folds(MS.LeavePGroupsOut(2), X, y, g)  # noqa: E731
        compare(make, f"splitter case {case} {which} n={n} y={getattr(y, 'dtype', None)}")


unique_cases(400)
multiclass_cases(200)
argsort_cases(200)
splitter_cases(250)
assert splits.stats["runs"] > 250, splits.stats
assert splits.stats["radix"] > 50, splits.stats
print(f"splits conformance: 1050 cases identical; kernel runs {splits.stats['runs']}, declines {splits.stats['declined']}, radix argsorts {splits.stats['radix']}")
