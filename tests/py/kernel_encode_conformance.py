"""Conformance of the encoder kernels (OneHotEncoder / OrdinalEncoder fit and transform on
string columns), run *under the coordinator* (tests/kernels.test.ts).

Randomised string columns (1 to 60 categories, unicode beyond Latin-1, emoji, empty strings,
case and whitespace variants, prefixes of each other), 1 to 4 columns, as pandas `str`
columns, object columns or a 2-D object array; encoders with every handle_unknown, drop,
sparse_output and dtype; test data with unknown values. Through stratum's substitution
(shim -> coordinator -> Rust) categories_, the transform output (dense or sparse: dtype, shape,
values), feature names, errors and warnings must equal scikit-learn's own `_fit` /
`_transform`, and every supported call must have run on the kernel. Unsupported inputs
(missing values, numbers, given categories, infrequent categories) stay with scikit-learn.
Prints one summary line; any mismatch raises.
"""

import os
import random
import tempfile
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
from sklearn.preprocessing._encoders import _BaseEncoder

from stratum_shim import kernels
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
fit_sub, transform_sub = _BaseEncoder._fit, _BaseEncoder._transform
fit_orig, transform_orig = fit_sub.__stratum_kernel_original__, transform_sub.__stratum_kernel_original__
kernels.MIN_ENCODE_ROWS = 1

rng = np.random.default_rng(0)
pyrng = random.Random(0)
ALPHABET = ["a", "b", "B", "z", " ", "é", "É", "ß", "ø", "中", "文", "😀", "-", "_", "1", "Z"]


def vocabulary(size):
    words = {""} if pyrng.random() < 0.2 else set()
    while len(words) < size:
        w = "".join(pyrng.choice(ALPHABET) for _ in range(pyrng.randint(1, 6)))
        words.add(w)
        if pyrng.random() < 0.2:
            words.add(w + w[-1])  # a prefix of another word
    return sorted(words)


def frame(n, vocabs, kind):
    cols = {f"f{j}": [pyrng.choice(v) for _ in range(n)] for j, v in enumerate(vocabs)}
    if kind == "array":
        return np.array(list(zip(*cols.values())), dtype=object).reshape(n, len(vocabs))
    return pd.DataFrame(cols, dtype="str" if kind == "str" else object)


def make_encoder():
    if pyrng.random() < 0.5:
        return OneHotEncoder(
            handle_unknown=pyrng.choice(["error", "ignore", "infrequent_if_exist", "warn"]),
            drop=pyrng.choice([None, "first", "if_binary"]),
            sparse_output=pyrng.random() < 0.5,
            dtype=pyrng.choice([np.float64, np.int8]),
        )
    if pyrng.random() < 0.5:
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=pyrng.choice([np.float64, np.int64]))
    return OrdinalEncoder()


def outcome(make, X_fit, X_new, use_original):
    if use_original:
        _BaseEncoder._fit, _BaseEncoder._transform = fit_orig, transform_orig
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                enc = make().fit(X_fit)
                out = [enc.transform(X_fit), enc.transform(X_new), list(enc.get_feature_names_out()),
                       [(c.dtype, c.tolist()) for c in enc.categories_], getattr(enc, "drop_idx_", None),
                       getattr(enc, "feature_names_in_", None)]
            except Exception as e:  # noqa: BLE001 - compared with the original's
                out = [type(e).__name__, str(e)]
    finally:
        _BaseEncoder._fit, _BaseEncoder._transform = fit_sub, transform_sub
    return out, [(type(x.message).__name__, str(x.message)) for x in w]


def same(a, b):
    if sp.issparse(a) or sp.issparse(b):
        return (sp.issparse(a) and sp.issparse(b) and type(a) is type(b) and a.format == b.format and a.dtype == b.dtype
                and a.shape == b.shape and same(a.toarray(), b.toarray()))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and (a.tobytes() == b.tobytes() if a.dtype != object else same(a.tolist(), b.tolist()))
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True  # a NaN category (missing values, left to sklearn)
    return a == b


cases = runs = 0


def check(make, X_fit, X_new, expect_kernel):
    global cases, runs
    before = kernels.stats["runs"]
    got = outcome(make, X_fit, X_new, False)
    ran = kernels.stats["runs"] - before
    ref = outcome(make, X_fit, X_new, True)
    if not (same(got[0], ref[0]) and got[1] == ref[1]):
        raise AssertionError(f"mismatch for {make()}:\n{got}\n!=\n{ref}")
    if expect_kernel and not ran:
        raise AssertionError(f"the kernel did not run for {make()}")
    if expect_kernel is False and ran:
        raise AssertionError(f"the kernel ran for an unsupported call {make()}")
    cases += 1
    runs += ran


for i in range(150):
    n = pyrng.choice([1, 2, 5, 100, 3000])
    vocabs = [vocabulary(pyrng.choice([1, 2, 3, 10, 60])) for _ in range(pyrng.randint(1, 4))]
    kind = pyrng.choice(["str", "object", "array"])
    X_fit = frame(n, vocabs, kind)
    # new data: mostly known values, sometimes unknown ones
    new_vocabs = [v + (["UNSEEN", "é?"] if pyrng.random() < 0.4 else []) for v in vocabs]
    X_new = frame(pyrng.choice([1, 50]), new_vocabs, kind)
    enc = make_encoder()
    check(lambda enc=enc: enc.__class__(**enc.get_params()), X_fit, X_new, True)

# unsupported: stay with sklearn, identical
X = frame(200, [vocabulary(5), vocabulary(3)], "str")
Xn = X.copy()
Xn.iloc[3, 0] = np.nan
check(lambda: OneHotEncoder(handle_unknown="ignore"), Xn, X, False)  # a missing value
Xo = X.astype(object)
Xo.iloc[5, 1] = None
check(lambda: OrdinalEncoder(), Xo, Xo, False)
check(lambda: OneHotEncoder(), pd.DataFrame({"a": rng.integers(0, 3, 200)}), pd.DataFrame({"a": [1, 2]}), False)
# given categories: sklearn fits; its transform (codes by position in the given lists) may run on the kernel
check(lambda: OneHotEncoder(categories=[sorted(set(X["f0"]))[::-1], sorted(set(X["f1"]))]), X, X, None)
check(lambda: OneHotEncoder(min_frequency=5, handle_unknown="infrequent_if_exist"), X, X, False)
check(lambda: OrdinalEncoder(max_categories=2), X, X, False)
mixed = X.astype(object)
mixed.iloc[0, 0] = 3
check(lambda: OrdinalEncoder(), mixed, mixed, False)  # sklearn raises about mixed types
check(lambda: OneHotEncoder(), X.iloc[:0], X, False)  # no rows: sklearn raises
check(lambda: OneHotEncoder(), X, X[["f1", "f0"]], True)  # columns swapped: sklearn raises in transform

# str columns of a frame read through the store go to the kernels by reference (bridge.column_ref):
# the kernel maps the store file instead of reading a copy
sent = []
request = RT.client.request


def recording(msg):
    if msg.get("kernel") in ("encode_fit", "encode_transform"):
        sent.append((msg["kernel"], sorted((msg.get("options") or {}).get("refs", {}))))
    return request(msg)


RT.client.request = recording
try:
    with tempfile.TemporaryDirectory() as tmp:
        n = 60000
        words = np.array(["a", "b", "é", "😀", "中文", " ", "x y"], dtype=object)
        src = pd.DataFrame({"f0": words[rng.integers(0, 7, n)], "num": rng.integers(0, 9, n),
                            "f1": words[rng.integers(2, 5, n)] + "!"})
        src.to_csv(os.path.join(tmp, "t.csv"), index=False)
        t = pd.read_csv(os.path.join(tmp, "t.csv"))  # through the store: columns map its file
        assert isinstance(t["f0"].dtype, pd.StringDtype), t.dtypes
        for make in (OneHotEncoder, OrdinalEncoder):
            sent.clear()
            check(make, t[["f0", "f1"]], t[["f1", "f0"]].set_axis(["f0", "f1"], axis=1), True)
            assert ("encode_fit", ["c0", "c1"]) in sent and ("encode_transform", ["c0", "c1"]) in sent, \
                f"stored columns not sent by reference: {sent}"
finally:
    RT.client.request = request

print(f"encode kernel conformance: {cases} cases identical, {runs} kernel runs")
