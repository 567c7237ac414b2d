"""Conformance of the classification-label kernel (`stratum_shim.classify`), run *under the
coordinator* (tests/kernels.test.ts).

Inside `sklearn.metrics._classification` the shim replaces `attach_unique` (the unique labels, now
from the Rust `label_codes` kernel, which also records each array's integer codes), `LabelEncoder`
(whose `transform` returns those codes for an array the hook saw) and wraps
`precision_recall_fscore_support` / `classification_report` in a per-call scope that reuses the
kernel's results and `multilabel_confusion_matrix`'s for the same attached arrays. Every public metric built on them must stay identical to scikit-learn's own.

Randomised label problems (1 to 3000 samples, twice 20000): integer labels with 2 classes ({0,1},
{-1,1}, {3,7}), 3 to 10 classes, hundreds of classes (some only in y_true, some only in y_pred),
int64 extremes, neighbours beyond 2**53, every int and uint width (uint64 above the int64 range
too), bools; strings as object arrays, `<U` arrays (little- and big-endian), pandas `str` Series
(one or several Arrow chunks, sliced), `string[pyarrow]` / `string[python]` / Arrow large_string /
object Series (unicode, combining accents, CJK, emoji, "", " ", "a\x00", "a\x00b", case variants,
"10" before "9"); int Series with a shuffled or string index, frame columns; strided, reversed,
big-endian and read-only arrays, views sharing one buffer (same data pointer with other strides or
another dtype), the same array as y_true and y_pred, mixed dtypes between y_true and y_pred.
Predictions all correct, none correct (no true positive at all), noisy, one class only, labels
present in only one of the two. Calls, through the public (traced) names or the module's own
functions (as scorers call them): accuracy_score, precision / recall / f1 / fbeta_score,
precision_recall_fscore_support, jaccard_score (every average, labels subsets with absent labels
sorting between present ones, float or string labels, pos_label present or absent, every
zero_division), classification_report (digits, output_dict, labels, target_names),
multilabel_confusion_matrix, confusion_matrix (every normalize), balanced_accuracy_score,
hamming_loss, matthews_corrcoef, zero_one_loss, cohen_kappa_score, class_likelihood_ratios; and
sequences on the same arrays: arrays mutated in place between two calls, hinge_loss (which also
uses the module's LabelEncoder) after a call that saw the same y_true.
Inputs the kernel leaves to scikit-learn (floats, None / NaN / pd.NA in object arrays, `str`
Series with missing values, mixed str / int, bytes, lone surrogates, lists, categoricals, nullable
dtypes, masked arrays, dtype metadata of the user's, 2-D indicator arrays, scipy sparse matrices,
columns, 0-d arrays, different lengths, sample_weight, empty arrays) must be identical all the
same, and must not trip the shim (no shim error).

Each case runs twice through the public function: first with the kernels off (inside
`classify.disabled()`, with sklearn's own `attach_unique` / `LabelEncoder` put back in the module
and the binary-score kernel's threshold out of reach), then as a script would run it (with
`kernels.MIN_SAMPLES = 2`, so the binary f1/precision/recall kernel is in play too). Results must
be identical: the same types, floats bit for bit (NaN equal to NaN), arrays of the same dtype,
shape, strides and bytes, dicts with the same keys in the same order; or the same exception (type
and message); the same warnings (category, message, file and line) in the same order; unchanged
inputs; no shim error. Prints one summary line; any mismatch raises.
"""

import contextlib
import copy
import os
import random
import tempfile
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
import sklearn.metrics as M
import sklearn.metrics._classification as C
from sklearn.preprocessing._label import LabelEncoder as SkLabelEncoder
from sklearn.utils import _unique

from stratum_shim import kernels
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
import stratum_shim.classify as classify  # noqa: E402

classify.MIN_LABELS = classify.MIN_INT_LABELS = 1
kernels.MIN_SAMPLES = 2

# sklearn's own functions, put back in the module for the reference runs (the shim replaces them
# only inside sklearn.metrics._classification)
ORIGINALS = {"attach_unique": _unique.attach_unique, "LabelEncoder": SkLabelEncoder}
for _name, _orig in ORIGINALS.items():
    assert getattr(C, _name) is not _orig, f"sklearn.metrics._classification.{_name} is not substituted"
assert issubclass(C.LabelEncoder, SkLabelEncoder)

rng = np.random.default_rng(0)
pyrng = random.Random(0)

I64 = np.iinfo(np.int64)
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
WORDS = ["a", "A", "b", "B", "ab", "aB", "Ab", "", " ", "a ", " a", "é", "e\u0301", "É", "ß", "ss", "中", "中文",
         "文", "😀", "😀😀", "👍🏽", "10", "9", "1", "-1", "a\x00", "a\x00b", "nan", "None", "True", "z", "Z", "zz", "ｚ"]
ABSENT_WORDS = ["aa", "b ", "c", "zzz", "é!", "0", "09", "中中", "~", "\t", "😀a", "Ω"]
ZERO_DIVISION = ["warn", 0, 1, np.nan, 0.0, 1.0]
AVERAGES = ["binary", "micro", "macro", "weighted", None]


@contextlib.contextmanager
def kernels_off():
    """sklearn exactly as it is without stratum's classification kernels."""
    saved_min, saved = kernels.MIN_SAMPLES, {name: getattr(C, name) for name in ORIGINALS}
    with classify.disabled():
        kernels.MIN_SAMPLES = 10**12
        for name, orig in ORIGINALS.items():
            setattr(C, name, orig)
        try:
            yield
        finally:
            kernels.MIN_SAMPLES = saved_min
            for name, fn in saved.items():
                setattr(C, name, fn)


# --- comparison -------------------------------------------------------------------------------


def same(a, b):
    if type(a) is not type(b):
        return False
    if a is b and not isinstance(a, (np.ndarray, dict, list, tuple)):
        return True
    if isinstance(a, float):
        return (np.isnan(a) and np.isnan(b)) or np.float64(a).tobytes() == np.float64(b).tobytes()
    if isinstance(a, np.generic) and a.dtype.kind in "fc":
        return a.dtype == b.dtype and ((np.isnan(a) and np.isnan(b)) or a.tobytes() == b.tobytes())
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape or a.strides != b.strides:
            return False
        if a.flags.writeable != b.flags.writeable or (a.dtype.metadata is None) != (b.dtype.metadata is None):
            return False
        if a.dtype == object:
            return all(same(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
        if a.dtype.kind in "fc":
            na, nb = np.isnan(a), np.isnan(b)
            return np.array_equal(na, nb) and a[~na].tobytes() == b[~nb].tobytes()
        return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    if isinstance(a, dict):
        return len(a) == len(b) and all(same(ka, kb) and same(a[ka], b[kb]) for ka, kb in zip(a, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, pd.Series):
        return same(a.to_numpy(), b.to_numpy()) and a.dtype == b.dtype and a.index.equals(b.index) and a.name == b.name
    if sp.issparse(a):
        return a.shape == b.shape and same(a.toarray(), b.toarray())
    try:
        return bool(a == b)
    except TypeError:  # pd.NA
        return False


def capture(fn, args, kwargs):
    """(("value", result) or ("error", type, message), [warnings]), from one call site."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            out = ("value", fn(*args, **kwargs))
        except Exception as e:  # the same error both ways
            out = ("error", f"{type(e).__module__}.{type(e).__qualname__}", str(e))
    return out, [(x.category, str(x.message), x.filename, x.lineno) for x in w]


def metadata_keys(x):
    return None if x.dtype.metadata is None else sorted(x.dtype.metadata)


def snapshot(x):
    if isinstance(x, pd.Series):
        return x.copy(deep=True)
    if isinstance(x, np.ndarray):
        return x.copy(), x.flags.writeable, x.strides, metadata_keys(x)
    return copy.deepcopy(x)


def unchanged(before, x):
    if isinstance(x, np.ndarray):
        values, writeable, strides, keys = before
        return (x.dtype == values.dtype and x.shape == values.shape and x.strides == strides
                and metadata_keys(x) == keys and x.flags.writeable == writeable and same(values, x.copy()))
    if isinstance(x, pd.Series):
        return (x.dtype == before.dtype and x.index.equals(before.index) and x.name == before.name
                and same(before.to_numpy(copy=True), x.to_numpy(copy=True)))
    return same(before, x)


def describe(x):
    if isinstance(x, np.ndarray):
        return f"ndarray[{x.dtype}, {x.shape}, strides={x.strides}, writeable={x.flags.writeable}] {x.ravel()[:8].tolist()!r}"
    if isinstance(x, pd.Series):
        return f"Series[{x.dtype}, {len(x)}, index={type(x.index).__name__}] {x.head(8).tolist()!r}"
    if isinstance(x, list):
        return f"list[{len(x)}] {x[:8]!r}"
    if callable(x):
        return getattr(x, "__name__", repr(x))
    return repr(x)[:200]


def short(x, limit=1500):
    s = repr(x)
    return s if len(s) <= limit else s[:limit] + "..."


cases = runs = 0
disabled_runs = []
kinds_run = {}


def both(desc, fn, *args, inputs=None, **kwargs):
    """Run fn with the kernels off, then on: identical results, warnings, inputs."""
    global cases, runs
    inputs = list(args) + list(kwargs.values()) if inputs is None else inputs
    saved = [snapshot(x) for x in inputs]
    what = f"{desc}: {describe(fn)}({', '.join(describe(a) for a in args)}, " + \
        ", ".join(f"{k}={describe(v)}" for k, v in kwargs.items()) + ")"

    runs0, errors0, reused0 = classify.stats["runs"], RT.errors, classify.stats["mcm_reused"]
    with kernels_off():
        want = capture(fn, args, kwargs)
    if classify.stats["runs"] != runs0 or classify.stats["mcm_reused"] != reused0:
        disabled_runs.append(what)
    for before, x in zip(saved, inputs):
        assert unchanged(before, x), f"sklearn itself changed an input?? {what}"
    runs1, errors1 = classify.stats["runs"], RT.errors
    got = capture(fn, args, kwargs)
    runs2, errors2 = classify.stats["runs"], RT.errors

    if not same(got[0], want[0]):
        raise AssertionError(f"different result for {what}\n  sklearn: {short(want[0])}\n  stratum: {short(got[0])}")
    if not same(got[1], want[1]):
        raise AssertionError(f"different warnings for {what}\n  sklearn: {short(want[1])}\n  stratum: {short(got[1])}")
    for i, (before, x) in enumerate(zip(saved, inputs)):
        assert unchanged(before, x), f"input {i} changed by {what}\n  before: {describe(before[0] if isinstance(before, tuple) else before)}\n  after: {describe(x)}"
    assert errors2 - errors1 == errors1 - errors0, f"shim error ({errors2 - errors1} vs {errors1 - errors0} unshimmed) in {what}"
    cases += 1
    ran = runs2 > runs1
    runs += ran
    kinds_run[desc.split(":")[0]] = kinds_run.get(desc.split(":")[0], 0) + ran
    return want, ran


# --- label problems ---------------------------------------------------------------------------


class Problem:
    def __init__(self, desc, yt, yp, present=None, absent=()):
        self.desc, self.yt, self.yp = desc, yt, yp
        self.present = present if present is not None else present_labels(yt, yp)
        self.absent = list(absent)
        shape = getattr(yt, "shape", None)
        self.n = len(yt) if shape is None else shape[0] if shape else 1


def values_of(y):
    a = np.asarray(y, dtype=object) if isinstance(y, list) else np.asarray(y)
    return a.ravel().tolist() if a.ndim == 1 else None


def present_labels(yt, yp):
    """The sorted labels of both, as Python values (None if unsortable or not 1-D)."""
    try:
        vt, vp = values_of(yt), values_of(yp)
        if vt is None or vp is None:
            return None
        vals = set(vt) | set(vp)
        if any(v is None or (isinstance(v, float) and v != v) for v in vals):
            return None
        return sorted(vals)
    except TypeError:
        return None


def class_probs(k):
    return rng.dirichlet(np.full(k, pyrng.choice([0.2, 1.0, 20.0])))


def index_pair(k, n):
    """Indices into a vocabulary of k labels for y_true and y_pred, in one of several scenarios."""
    scenario = pyrng.choice(["noisy", "noisy", "correct", "wrong", "one class", "split", "shifted"])
    if k == 1:
        scenario = "correct"
    if scenario == "one class":
        c = int(rng.integers(0, k))
        t = np.full(n, c)
        p = t.copy() if pyrng.random() < 0.4 else rng.integers(0, k, n)
    elif scenario == "split":  # some labels only in y_true, some only in y_pred
        a = pyrng.randint(1, k - 1)
        b = pyrng.randint(0, a)
        t = rng.integers(0, a, n)
        p = np.where(rng.random(n) < 0.5, t, rng.integers(b, k, n))
        p = np.where((p < b) & (rng.random(n) < 0.5), rng.integers(b, k, n), p)
    else:
        t = rng.choice(k, n, p=class_probs(k))
        if scenario == "correct":
            p = t.copy()
        elif scenario == "wrong":  # no true positive at all
            p = (t + rng.integers(1, k, n)) % k
        elif scenario == "shifted":
            p = np.where(rng.random(n) < 0.3, t, (t + 1) % k)
        else:
            p = np.where(rng.random(n) < pyrng.choice([0.0, 0.5, 0.9, 0.99]), t, rng.integers(0, k, n))
    return scenario, t, p


def int_vocab():
    kind = pyrng.choice(["01", "-11", "37", "few", "few", "many", "huge", "near", "width", "width", "width", "bool"])
    dtype = np.int64
    if kind in ("01", "-11", "37"):
        vocab = {"01": [0, 1], "-11": [-1, 1], "37": [3, 7]}[kind]
    elif kind == "few":
        vocab = sorted(pyrng.sample(range(-20, 40), pyrng.randint(3, 10)))
    elif kind == "many":
        vocab = sorted(pyrng.sample(range(-1000, 5000), pyrng.randint(100, 600)))
    elif kind == "huge":
        vocab = sorted(pyrng.sample([I64.min, I64.min + 1, -(2**53) - 1, -1, 0, 1, 2**53 + 1, I64.max - 1, I64.max],
                                    pyrng.randint(2, 9)))
    elif kind == "near":  # neighbours beyond 2**53: equal once converted to float64
        dtype = pyrng.choice([np.int64, np.uint64])
        vocab = sorted(pyrng.sample([2**53, 2**53 + 1, 2**62, 2**62 + 1, 2**63 - 2, 2**63 - 1], pyrng.randint(2, 6)))
        kind = f"near {np.dtype(dtype).name}"
    elif kind == "bool":
        dtype, vocab = np.bool_, [False, True]
    else:
        dtype = pyrng.choice(INT_DTYPES)
        info = np.iinfo(dtype)
        lo, hi = int(info.min), int(info.max)
        if dtype == np.uint64 and pyrng.random() < 0.5:
            hi = 2**63 - 1  # within the int64 range: the kernel's
        edges = [lo, lo + 1, 0, 1, 2, hi - 1, hi]
        vocab = sorted(set(pyrng.sample(edges, pyrng.randint(1, 4))
                           + [pyrng.randint(lo, hi) for _ in range(pyrng.randint(1, 8))]))
        kind = f"{np.dtype(dtype).name}{' big' if hi > 2**63 else ''}"
    return kind, dtype, vocab


def int_absent(vocab, dtype):
    if dtype == np.bool_:
        return [2, -1]
    s = set(vocab)
    cand = {v + d for v in vocab for d in (-1, 1)} | {vocab[0] - 5, vocab[-1] + 5}
    gaps = [v for v in range(vocab[0], min(vocab[-1], vocab[0] + 200)) if v not in s]
    cand |= set(pyrng.sample(gaps, min(3, len(gaps))))
    return sorted(c for c in cand if c not in s and I64.min <= c <= I64.max)[:12]


def int_container(values, dtype, how):
    a = np.array(values, dtype=dtype)
    if how == "array":
        return a
    if how == "series":
        index = rng.permutation(len(a)) if pyrng.random() < 0.5 else [f"r{i}" for i in range(len(a))]
        return pd.Series(a, index=index, name=pyrng.choice([None, "y"]))
    if how == "strided":
        buf = np.empty(2 * len(a), dtype=dtype)
        buf[::2], buf[1::2] = a, a[::-1]
        return buf[::2]
    if how == "reversed":
        return a[::-1].copy()[::-1]
    if how == "readonly":
        a.setflags(write=False)
        return a
    if how == "big-endian":
        return a.astype(a.dtype.newbyteorder(">"))
    if how == "frame column":  # a column of a 2-D block: a strided view
        frame = pd.DataFrame(np.stack([a, a[::-1]], axis=1), columns=["y", "other"])
        return frame["y"]
    raise ValueError(how)


def int_problem(n):
    kind, dtype, vocab = int_vocab()
    scenario, t, p = index_pair(len(vocab), n)
    arr = np.array(vocab, dtype=object)
    how = pyrng.choice(["array"] * 6 + ["series", "series", "strided", "reversed", "readonly", "frame column", "big-endian"])
    how_p = how if pyrng.random() < 0.8 else pyrng.choice(["array", "series", "strided", "readonly", "frame column"])
    yt, yp = int_container(arr[t].tolist(), dtype, how), int_container(arr[p].tolist(), dtype, how_p)
    if dtype != np.bool_ and kind != "many" and pyrng.random() < 0.1:  # another dtype for y_pred
        other = pyrng.choice([d for d in INT_DTYPES if all(np.iinfo(d).min <= v <= np.iinfo(d).max for v in vocab)] + [np.int64])
        yp = np.asarray(yp).astype(other)
        how_p += f" as {np.dtype(other).name}"
    elif dtype == np.bool_ and pyrng.random() < 0.15:
        yp = np.asarray(yp).astype(pyrng.choice([np.int64, np.uint8]))
        how_p += " as ints"
    return Problem(f"int {kind} {scenario} [{how}/{how_p}] n={n}", yt, yp, absent=int_absent(vocab, dtype))


def random_word():
    return "".join(pyrng.choice(WORDS) for _ in range(pyrng.randint(1, 3)))


def str_problem(n):
    kind = pyrng.choice(["two", "few", "all", "many"])
    if kind == "two":
        vocab = pyrng.choice([["a", "b"], ["10", "9"], ["a", "A"], ["", " "], ["yes", "no"], ["é", "e\u0301"], ["中", "😀"]])
    elif kind == "few":
        vocab = pyrng.sample(WORDS, pyrng.randint(1, 8))
    elif kind == "all":
        vocab = list(WORDS)
    else:
        vocab = list({random_word() for _ in range(pyrng.randint(100, 400))})
    vocab = sorted(set(vocab))
    scenario, t, p = index_pair(len(vocab), n)
    vt, vp = [vocab[i] for i in t], [vocab[i] for i in p]
    how = pyrng.choice(["object", "object", "U", "U wide", "series str", "series object", "strided object",
                        "U big-endian", "series str chunks", "series str slice", "series string[pyarrow]", "series string[python]",
                        "series large_string"])
    how_p = how if pyrng.random() < 0.8 else pyrng.choice(["object", "U", "series str", "series str chunks"])

    def container(values, how):
        if how == "object":
            return np.array(values + [None], dtype=object)[:-1]  # never a 2-D array of characters
        if how == "U":
            return np.array(values, dtype=str)
        if how == "U wide":
            return np.array(values, dtype="<U24")
        if how == "U big-endian":
            return np.array(values, dtype=">U24")
        if how == "series str":
            return pd.Series(values, dtype="str", index=rng.permutation(len(values)) if pyrng.random() < 0.3 else None)
        if how == "series object":
            return pd.Series(values, dtype=object)
        if how == "series str chunks":  # several Arrow chunks
            cut = pyrng.randint(0, len(values))
            return pd.concat([pd.Series(values[:cut], dtype="str"), pd.Series(values[cut:], dtype="str")], ignore_index=True)
        if how == "series str slice":  # an Arrow array with an offset
            return pd.Series(["pad", "pad2"] + values, dtype="str").iloc[2:]
        if how.startswith("series string["):
            return pd.Series(values, dtype=pd.StringDtype(how[len("series string[") : -1]))
        if how == "series large_string":
            return pd.Series(values, dtype=pd.ArrowDtype(pa.large_string()))
        buf = np.empty(2 * len(values), dtype=object)
        buf[::2], buf[1::2] = values, values[::-1]
        return buf[::2]

    yt, yp = container(vt, how), container(vp, how_p)
    absent = [w for w in ABSENT_WORDS + WORDS if w not in set(vocab)]
    return Problem(f"str {kind} {scenario} [{how}/{how_p}] n={n}", yt, yp, absent=pyrng.sample(absent, min(6, len(absent))))


def declined_problem(n):
    """Inputs the kernel does not take: scikit-learn's own behaviour, identical all the same."""
    kind = pyrng.choice(["float", "float ints", "float32", "object None", "object nan", "object NA", "mixed objects",
                         "str vs int", "bytes", "S", "lengths", "2-D", "sparse", "column", "0-d", "list", "list str",
                         "categorical", "Int64", "boolean", "str missing", "object ints", "np.str_", "surrogate",
                         "metadata", "masked", "uint64 big", "int vs float"])
    k = pyrng.randint(2, 6)
    t, p = rng.integers(0, k, n), np.where(rng.random(n) < 0.6, 0, rng.integers(0, k, n))
    words = pyrng.sample(WORDS, k)
    absent = []
    if kind == "float":
        vals = np.array([0.5, -1.25, 3.0, 1e300, -0.0, 7.75][:k])
        yt, yp = vals[t], vals[p]
    elif kind == "float ints":
        yt, yp = t.astype(np.float64), p.astype(np.float64)
        absent = [float(k + 1)]
    elif kind == "float32":
        yt, yp = t.astype(np.float32), p.astype(np.float32)
    elif kind in ("object None", "object nan", "object NA"):
        miss = {"object None": None, "object nan": np.nan, "object NA": pd.NA}[kind]
        yt = np.array([words[i] for i in t] + [None], dtype=object)[:-1]
        yp = np.array([words[i] for i in p] + [None], dtype=object)[:-1]
        target = yt if pyrng.random() < 0.5 else yp
        target[rng.integers(0, n, max(1, n // 10))] = miss
    elif kind == "mixed objects":
        vals = [1, "a", 2, "b", 3, "c"][:k]
        yt = np.array([vals[i] for i in t] + [None], dtype=object)[:-1]
        yp = np.array([vals[i] for i in p] + [None], dtype=object)[:-1]
    elif kind == "str vs int":
        yt, yp = np.array([words[i] for i in t] + [None], dtype=object)[:-1], p
        if pyrng.random() < 0.5:
            yt, yp = yp, yt
    elif kind == "bytes":
        yt = np.array([words[i].encode() for i in t] + [None], dtype=object)[:-1]
        yp = np.array([words[i].encode() for i in p] + [None], dtype=object)[:-1]
    elif kind == "S":
        yt, yp = np.array([b"x%d" % i for i in t]), np.array([b"x%d" % i for i in p])
    elif kind == "lengths":
        yt, yp = t, p[: max(n - pyrng.randint(1, 2), 0)]
    elif kind == "2-D":  # multilabel indicators
        yt, yp = (rng.random((n, k)) < 0.4).astype(np.int64), (rng.random((n, k)) < 0.4).astype(np.int64)
    elif kind == "sparse":  # multilabel indicators as scipy sparse matrices
        yt = sp.csr_matrix((rng.random((n, k)) < 0.4).astype(np.int64))
        yp = sp.csr_array((rng.random((n, k)) < 0.4).astype(np.int64)) if pyrng.random() < 0.5 else sp.csr_matrix(yt)
    elif kind == "0-d":
        yt, yp = np.array(t[0]), np.array(p[0]) if pyrng.random() < 0.5 else p[:1]
    elif kind == "str missing":
        yt = pd.Series([words[i] for i in t], dtype="str")
        yp = pd.Series([None if m else words[i] for i, m in zip(p, rng.random(n) < 0.2)], dtype="str")
        if pyrng.random() < 0.5:
            yt, yp = yp, yt
    elif kind == "surrogate":  # not UTF-8 encodable: numpy and sklearn do not mind
        vals = ["a", "\ud800", "b\udfff", "\ud83d"][:k] + ["z"] * max(0, k - 4)
        yt = np.array([vals[i] for i in t] + [None], dtype=object)[:-1]
        yp = np.array([vals[i] for i in p] + [None], dtype=object)[:-1] if pyrng.random() < 0.5 else np.array([vals[i] for i in p])
    elif kind == "masked":
        yt, yp = np.ma.array(t, mask=rng.random(n) < 0.1), np.ma.array(p) if pyrng.random() < 0.5 else p
    elif kind == "metadata":  # dtype metadata of the user's own
        yt = t.view(np.dtype(np.int64, metadata={"note": "mine"}))
        yp = p if pyrng.random() < 0.5 else p.view(np.dtype(np.int64, metadata={"unique": np.unique(p)}))
    elif kind == "column":
        yt, yp = t.reshape(-1, 1), p.reshape(-1, 1) if pyrng.random() < 0.5 else p
    elif kind == "list":
        yt, yp = t.tolist(), p.tolist()
    elif kind == "list str":
        yt, yp = [words[i] for i in t], [words[i] for i in p]
    elif kind == "categorical":
        yt = pd.Series(pd.Categorical([words[i] for i in t], categories=sorted(set(words))))
        yp = pd.Series(pd.Categorical([words[i] for i in p], categories=sorted(set(words))))
    elif kind == "Int64":
        yt, yp = pd.Series(t, dtype="Int64"), pd.Series(p, dtype="Int64")
    elif kind == "boolean":
        yt, yp = pd.Series(t % 2 == 0, dtype="boolean"), pd.Series(p % 2 == 0, dtype="boolean")
    elif kind == "object ints":
        yt, yp = t.astype(object), p.astype(object)
    elif kind == "np.str_":
        yt = np.array([np.str_(words[i]) for i in t] + [None], dtype=object)[:-1]
        yp = np.array([np.str_(words[i]) for i in p] + [None], dtype=object)[:-1]
    elif kind == "uint64 big":
        vals = np.array([2**63, 2**64 - 1, 2**63 + 5, 0, 1, 2**63 - 1][:k], dtype=np.uint64)
        yt, yp = vals[t], vals[p]
    else:  # "int vs float"
        yt, yp = t, p.astype(np.float64)
    return Problem(f"declined {kind} n={n}", yt, yp, absent=absent)


# --- calls ------------------------------------------------------------------------------------


def labels_arg(p):
    """A labels= value (or None): a shuffled subset of the present labels, with or without absent ones."""
    present = p.present
    r = pyrng.random()
    if not present or r < 0.45:
        return None
    if r < 0.7:
        labels = pyrng.sample(present, pyrng.randint(1, len(present)))
    elif r < 0.9 or not p.absent:  # with absent labels, which may sort between the present ones
        labels = pyrng.sample(present, pyrng.randint(1, len(present)))
        labels += pyrng.sample(p.absent, pyrng.randint(1, min(3, len(p.absent)))) if p.absent else []
        pyrng.shuffle(labels)
    elif r < 0.95:
        labels = pyrng.sample(p.absent, pyrng.randint(1, len(p.absent)))  # none present
    else:
        labels = present + [present[0]]  # a duplicate
    r = pyrng.random()
    if r < 0.05 and all(isinstance(v, bool) for v in labels):
        return [int(v) for v in labels]  # 0 / 1 for bool targets
    if r < 0.05 and all(isinstance(v, int) for v in labels):
        return [str(v) for v in labels]  # strings for integer targets: sklearn's error
    if r < 0.2:
        try:
            return np.array(labels)
        except (OverflowError, ValueError):
            return labels
    if r < 0.25 and all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        return [float(v) for v in labels]  # float labels for integer targets
    return labels


def n_labels(labels, p):
    return len(labels) if labels is not None else (len(p.present) if p.present else 0)


def pos_label_arg(p, kw):
    present = p.present or []
    r = pyrng.random()
    if r < 0.3 and present != [0, 1]:
        pass  # the default pos_label=1: absent for most label sets (sklearn's error)
    elif r < 0.85 and present:
        kw["pos_label"] = pyrng.choice(present)
    elif p.absent:
        kw["pos_label"] = pyrng.choice(p.absent)


def maybe(kw, name, choices, prob=0.5):
    if pyrng.random() < prob:
        kw[name] = pyrng.choice(choices)


def prf_kwargs(p, name):
    kw = {}
    two = p.present is not None and len(p.present) <= 2
    avg = "binary" if two and pyrng.random() < 0.4 else pyrng.choice(AVERAGES + ["samples"] * (pyrng.random() < 0.05))
    default = None if name == "precision_recall_fscore_support" else "binary"
    if avg != default or pyrng.random() < 0.5:
        kw["average"] = avg
    if avg == "binary":
        pos_label_arg(p, kw)
    elif pyrng.random() < 0.1 and p.present:
        kw["pos_label"] = pyrng.choice(p.present)  # ignored, with sklearn's warning
    labels = labels_arg(p)
    if labels is not None:
        kw["labels"] = labels
    maybe(kw, "zero_division", ZERO_DIVISION)
    if name == "fbeta_score" or (name == "precision_recall_fscore_support" and pyrng.random() < 0.4):
        kw["beta"] = pyrng.choice([0.5, 2, 1.0])
    return kw


def report_kwargs(p):
    kw = {}
    labels = labels_arg(p)
    if labels is not None:
        kw["labels"] = labels
    maybe(kw, "digits", [0, 1, 3, 6])
    maybe(kw, "output_dict", [True, False])
    maybe(kw, "zero_division", ZERO_DIVISION, 0.3)
    m = n_labels(labels, p)
    if m and pyrng.random() < 0.3:
        names = [pyrng.choice(["class", "é", "中文", "x y", "😀", ""]) + str(i) for i in range(m)]
        if pyrng.random() < 0.1:
            names = names[:-1] + ["extra", "more"]  # not matching: sklearn's warning or error
        kw["target_names"] = names
    return kw


def call_kwargs(name, p):
    if name in ("precision_score", "recall_score", "f1_score", "fbeta_score", "precision_recall_fscore_support"):
        kw = prf_kwargs(p, name)
    elif name == "jaccard_score":
        kw = prf_kwargs(p, name)
        kw.pop("beta", None)
    elif name == "classification_report":
        kw = report_kwargs(p)
    elif name in ("accuracy_score", "zero_one_loss"):
        kw = {}
        maybe(kw, "normalize", [True, False])
    elif name == "multilabel_confusion_matrix":
        kw = {}
        labels = labels_arg(p)
        if labels is not None:
            kw["labels"] = labels
        maybe(kw, "samplewise", [True, False], 0.05)
    elif name == "confusion_matrix":
        kw = {}
        labels = labels_arg(p)
        if labels is not None:
            kw["labels"] = labels
        maybe(kw, "normalize", [None, "true", "pred", "all"], 0.6)
    elif name == "balanced_accuracy_score":
        kw = {}
        maybe(kw, "adjusted", [True, False])
    elif name == "cohen_kappa_score":
        kw = {}
        labels = labels_arg(p)
        if labels is not None:
            kw["labels"] = labels
        maybe(kw, "weights", [None, "linear", "quadratic"], 0.3)
    elif name == "class_likelihood_ratios":
        kw = {}
        labels = labels_arg(p)
        if labels is not None:
            kw["labels"] = labels
        maybe(kw, "replace_undefined_by", [np.nan, 1.0, {"LR+": 1.0, "LR-": 1.0}], 0.3)
    else:  # hamming_loss, matthews_corrcoef
        kw = {}
    if pyrng.random() < 0.08:
        w = rng.random(p.n) if pyrng.random() < 0.5 else rng.integers(0, 3, p.n)
        kw["sample_weight"] = w if pyrng.random() < 0.8 else w.tolist()
    return kw


CALLS = ["accuracy_score", "precision_score", "recall_score", "f1_score", "fbeta_score",
         "precision_recall_fscore_support", "jaccard_score", "classification_report",
         "multilabel_confusion_matrix", "confusion_matrix", "balanced_accuracy_score", "hamming_loss",
         "matthews_corrcoef", "zero_one_loss"]
calls_done = dict.fromkeys(CALLS + ["cohen_kappa_score", "class_likelihood_ratios"], 0)


def run_call(p, name=None):
    name = name or pyrng.choice(CALLS + ["cohen_kappa_score"] * (pyrng.random() < 0.3)
                                + ["class_likelihood_ratios"] * (pyrng.random() < 0.3))
    kw = call_kwargs(name, p)
    calls_done[name] += 1
    # the public name (traced), or the module's own function, as sklearn's scorers call it
    fn = getattr(C, name) if pyrng.random() < 0.2 else getattr(M, name)
    return both(p.desc, fn, p.yt, p.yp, **kw)


def size():
    return pyrng.choice([1, 2, 3, 4, 7, 10, 30, 100, 300, 1000, 3000])


# --- randomised cases -------------------------------------------------------------------------

for i in range(500):
    run_call(int_problem(size()))
for i in range(260):
    run_call(str_problem(size()))
for i in range(110):
    run_call(declined_problem(pyrng.choice([1, 2, 5, 50, 500])))

# every call on one large problem of each family
for p in (int_problem(20000), str_problem(20000)):
    for name in CALLS:
        run_call(p, name)

# the same array as y_true and y_pred; views of one buffer (same data pointer, other strides or
# another dtype); arrays mutated in place between two calls on the same objects
for i in range(60):
    n = size()
    kind = pyrng.choice(["same object", "same buffer", "strided view", "dtype view", "bool view", "offset view"])
    base = rng.integers(0, pyrng.choice([2, 3, 6]), 2 * n + 1)
    if kind == "same object":
        yt = yp = base[:n].copy() if pyrng.random() < 0.5 else np.array([pyrng.choice(WORDS) for _ in range(n)] + [None], dtype=object)[:-1]
    elif kind == "same buffer":
        yt, yp = base[:n], base[:n]
    elif kind == "strided view":  # same pointer and dtype, other strides
        yt, yp = base[:n], base[::2][:n]
    elif kind == "dtype view":  # same pointer, shape and strides, other dtype (signed / unsigned)
        signed = pyrng.choice([np.int8, np.int16, np.int32, np.int64])
        values = np.array([0, 1, -1, 5, -2], dtype=signed)[: pyrng.choice([2, 3, 5])]
        yt = values[base[:n] % len(values)]
        yp = yt.view(np.dtype(signed).str.replace("i", "u"))  # -1 is the largest unsigned value
        assert yt.ctypes.data == yp.ctypes.data and yt.strides == yp.strides and yt.shape == yp.shape
        if pyrng.random() < 0.5:
            yt, yp = yp, yt
        if pyrng.random() < 0.3:  # strided: sklearn copies them (column_or_1d), the hook sees the views
            wide = np.repeat(yt, 2)
            yt, yp = wide[::2], wide.view(yp.dtype)[::2]
    elif kind == "bool view":  # same pointer, shape and strides, bool vs uint8
        u = (base[:n] % 2).astype(np.uint8)
        yt, yp = u, u.view(np.bool_)
    else:
        yt, yp = base[:n], base[1 : n + 1]
    p = Problem(f"views {kind} n={n}", yt, yp, absent=[7, -1])
    for name in pyrng.sample(CALLS, 3) + [pyrng.choice(["multilabel_confusion_matrix", "matthews_corrcoef", "f1_score"])]:
        run_call(p, name)


def mutated(p, name, kw, new_t):
    """Call, overwrite y_true in place (same pointer, shape, strides, dtype), call again, restore."""
    fn = getattr(M, name)

    def seq():
        old = p.yt.copy()
        first = fn(p.yt, p.yp, **kw)
        p.yt[...] = new_t
        try:
            second = fn(p.yt, p.yp, **kw)
        finally:
            p.yt[...] = old
        return first, second

    seq.__name__ = f"{name}; y_true[...] = other labels; {name}"
    return seq


for i in range(40):
    p = int_problem(size()) if pyrng.random() < 0.6 else str_problem(size())
    if not isinstance(p.yt, np.ndarray) or not p.yt.flags.writeable or p.present is None:
        continue
    new_t = rng.permutation(np.asarray(p.yp)).astype(p.yt.dtype) if pyrng.random() < 0.5 else np.asarray(p.yt)[::-1].copy()
    name = pyrng.choice(CALLS)
    kw = call_kwargs(name, p)
    kw.pop("sample_weight", None)
    calls_done[name] += 1
    both(f"mutated {p.desc}", mutated(p, name, kw, new_t), inputs=[p.yt, p.yp])


def then_hinge(p, name, kw, labels, decision):
    """A classification metric, then hinge_loss (the module's LabelEncoder on the same y_true)."""
    fn = getattr(M, name)

    def seq():
        return fn(p.yt, p.yp, **kw), M.hinge_loss(p.yt, decision, labels=labels)

    seq.__name__ = f"{name}; hinge_loss(labels={labels!r})"
    return seq


for i in range(40):
    n = pyrng.choice([3, 10, 100, 1000])
    k = pyrng.randint(3, 7)
    vocab = sorted(pyrng.sample(range(-10, 30), k + 3))
    t = rng.integers(0, k, n)
    yt = np.array([vocab[j] for j in t], dtype=pyrng.choice([np.int64, np.int32, np.int8]))
    yp = np.array([vocab[j] for j in np.where(rng.random(n) < 0.7, t, rng.integers(0, k, n))], dtype=yt.dtype)
    p = Problem(f"hinge n={n}", yt, yp)
    # labels: every label of y_true plus absent ones that sort between them
    labels = sorted(set(vocab[:k]) | set(pyrng.sample(vocab[k:], pyrng.randint(0, 3))))
    decision = rng.standard_normal((n, len(labels)))
    name = pyrng.choice(CALLS)
    kw = call_kwargs(name, p)
    kw.pop("sample_weight", None)
    calls_done[name] += 1
    both(f"hinge {p.desc}", then_hinge(p, name, kw, labels, decision), inputs=[yt, yp, decision])

# a sequence of calls on the same arrays with different labels
for i in range(20):
    p = int_problem(size()) if i % 2 else str_problem(size())
    names = pyrng.sample(CALLS, 4)
    kws = [call_kwargs(name, p) for name in names]

    def seq(p=p, names=names, kws=kws):
        return [getattr(M, name)(p.yt, p.yp, **kw) for name, kw in zip(names, kws)]

    seq.__name__ = "; ".join(f"{name}({kw})" for name, kw in zip(names, kws))
    for name in names:
        calls_done[name] += 1
    both(f"sequence {p.desc}", seq, inputs=[p.yt, p.yp])

# empty arrays and a single sample
for yt, yp in [(np.array([], dtype=np.int64), np.array([], dtype=np.int64)),
               (np.array([], dtype=object), np.array([], dtype=object)),
               (np.array([5], dtype=np.int64), np.array([5], dtype=np.int64)),
               (np.array(["x"], dtype=object), np.array(["y"], dtype=object))]:
    p = Problem(f"edge n={len(yt)}", yt, yp, absent=[6] if yt.dtype != object else ["z"])
    for name in CALLS:
        run_call(p, name)

# strided numpy unicode arrays (the inner-NUL check needs a contiguous copy of them)
for yt in (np.array(["ab", "c", "d\x00e", "f", "ab"] * 40)[::2], np.array(["ab", "c", "dé", "f", "ab"] * 40)[::2]):
    p = Problem("strided <U", yt, yt[::-1])
    for name in ("f1_score", "accuracy_score", "classification_report"):
        run_call(p, name)

# a str column of a frame read through the store goes to the kernel by reference
# (bridge.column_ref): the kernel maps the store file instead of reading a copy
sent = []
request = RT.client.request


def recording(msg):
    if msg.get("kernel") == "label_codes":
        sent.append(sorted((msg.get("options") or {}).get("refs", {})))
    return request(msg)


RT.client.request = recording
try:
    with tempfile.TemporaryDirectory() as tmp:
        n = 20000
        labels = np.array(["churned", "active", "é", "中文", "10", "9"], dtype=object)
        pd.DataFrame({"y": labels[rng.integers(0, 6, n)], "n": rng.integers(0, 9, n)}).to_csv(os.path.join(tmp, "t.csv"), index=False)
        frame = pd.read_csv(os.path.join(tmp, "t.csv"))  # through the store: columns map its file
        pred = np.where(rng.random(n) < 0.3, labels[rng.integers(0, 6, n)], frame["y"].to_numpy())
        p = Problem("store column", frame["y"], pred)
        for name in ("f1_score", "classification_report", "precision_recall_fscore_support"):
            sent.clear()
            run_call(p, name)
            assert ["y"] in sent, f"{name}: the stored column did not go by reference ({sent})"
finally:
    RT.client.request = request

assert not disabled_runs, f"classify.disabled() still ran the kernel: {disabled_runs[:3]}"
few = {name: c for name, c in calls_done.items() if c < (20 if name in CALLS else 3)}
assert not few, f"calls exercised too rarely: {few}"
assert runs > 0, f"no case ran on the kernel (classify.stats: {classify.stats}, by kind: {kinds_run})"
assert classify.stats["mcm_reused"] > 0, "no report reused its confusion matrices"
print(f"classify kernel conformance: {cases} cases identical, {runs} kernel runs, {classify.stats['declined']} declined, {classify.stats['mcm_reused']} confusion matrices reused")
