"""Conformance of the Rust text kernel, run *under the coordinator* (tests/kernels.test.ts).

For randomised corpora and vectorizer settings, fits and transforms each vectorizer twice: with
the library's own `_count_vocab` (the reference) and through stratum's substitution (shim ->
coordinator -> Rust). Vocabulary (including its order), the matrix (shape, dtype, indptr,
indices, data bit for bit) and the idf must be identical, and every supported case must really
have run on the kernel; unsupported text (beyond Latin-1) must be declined and still identical.
Prints one summary line; any mismatch raises.
"""

import itertools
import random
import warnings

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer

from stratum_shim import kernels
from stratum_shim.dispatch import RT

assert RT.client is not None, "run me under the coordinator"
# a user's HashingVectorizer.transform is traced first (memo, records), the kernel runs inside
assert HashingVectorizer.transform.__stratum_original__.__stratum_kernel_original__ is not None
kernels.MIN_DOCS = 1

rng = random.Random(0)
LATIN1_WORDISH = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_éÉàÀßÿµªº²³¹¼½¾ÖöÞþ"
SEPARATORS = [" ", " ", " ", "  ", "\t", "\n", ", ", ". ", "! ", "-", "'", "×", "÷", "¿", "«", "»", "\xa0", "/"]
BEYOND = ["\u03a9", "\u65e5\u672c", "e\u0301", "\U0001f600", "\u0130", "\u01c5", "\uff21"]  # Omega, CJK, e + combining acute, emoji, I-dot, titlecase dz, fullwidth A


def word(pool):
    return "".join(rng.choice(pool) for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 5, 8])))


def corpus(n_docs, beyond=False):
    vocab = [word(LATIN1_WORDISH) for _ in range(rng.choice([3, 30, 300, 3000]))]
    docs = []
    for _ in range(n_docs):
        k = rng.choice([0, 1, 2, 5, 12, 40, 200])
        parts = []
        for _ in range(k):
            parts.append(rng.choice(vocab))
            parts.append(rng.choice(SEPARATORS))
        docs.append("".join(parts))
    if beyond:
        i = rng.randrange(n_docs)
        docs[i] += " " + rng.choice(BEYOND) + "x"
    return docs


def settings():
    yield {}
    yield {"lowercase": False}
    yield {"ngram_range": (1, 2)}
    yield {"ngram_range": (2, 3), "lowercase": False}
    yield {"ngram_range": (1, 3), "stop_words": "english"}
    yield {"stop_words": ["the", "ab", "Ab", "é"], "ngram_range": (1, 2)}
    yield {"min_df": 2, "max_df": 0.9}
    yield {"min_df": 0.01, "max_features": 50, "ngram_range": (1, 2)}
    yield {"binary": True}
    yield {"dtype": np.float32}


def same_matrix(a, b, what):
    assert type(a) is type(b), (what, type(a), type(b))
    assert a.shape == b.shape and a.dtype == b.dtype, (what, a.shape, b.shape, a.dtype, b.dtype)
    for part in ("indptr", "indices", "data"):
        x, y = getattr(a, part), getattr(b, part)
        assert x.dtype == y.dtype, (what, part, x.dtype, y.dtype)
        assert x.tobytes() == y.tobytes(), (what, part)


def fit_both(cls, params, train, test):
    """(reference, kernel) results of fit_transform + transform; the same exception if any.
    Also returns how many calls of the kernel pass ran on the kernel and were declined."""
    out = []
    runs0, declined0 = kernels.stats["runs"], kernels.stats["declined"]
    for use_kernel in (False, True):
        saved = RT.client
        if not use_kernel:
            RT.client = None  # the substitution runs the original without a coordinator
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                v = cls(**params)
                try:
                    X = v.fit_transform(train)
                    Y = v.transform(test)
                    out.append((v, X, Y, [str(x.message) for x in w], None))
                except ValueError as e:
                    out.append((v, None, None, [str(x.message) for x in w], str(e)))
        finally:
            RT.client = saved
    return out, kernels.stats["runs"] - runs0, kernels.stats["declined"] - declined0


cases = total_runs = total_declined = 0
for seed, beyond in itertools.product(range(3), (False, True)):
    rng.seed(seed)
    for params in settings():
        for cls in (CountVectorizer, TfidfVectorizer, HashingVectorizer):
            if cls is TfidfVectorizer and params.get("dtype") is not None:
                continue
            if cls is HashingVectorizer and any(k in params for k in ("min_df", "max_df", "max_features")):
                continue
            tfidf_extra = {"sublinear_tf": True, "norm": "l1"} if cls is TfidfVectorizer and rng.random() < 0.5 else {}
            if cls is HashingVectorizer:
                tfidf_extra = {"n_features": rng.choice([2**4, 2**10, 2**20]), "alternate_sign": rng.random() < 0.7,
                               "norm": rng.choice(["l2", "l1", None])}
            n = rng.choice([1, 2, 50, 700])
            docs = corpus(n + 40, beyond=beyond)
            kinds = [list, np.array, pd.Series]
            as_input = rng.choice(kinds)
            train = as_input(docs[:n]) if as_input is not np.array else np.array(docs[:n], dtype=object)
            test = docs[n:]
            ((rv, rX, rY, rw, re), (kv, kX, kY, kw, ke)), runs, declined = fit_both(cls, {**params, **tfidf_extra}, train, test)
            what = (cls.__name__, params, tfidf_extra, n, as_input.__name__, beyond)
            assert re == ke, (what, re, ke)
            assert rw == kw, (what, rw, kw)
            cases += 1
            total_runs += runs
            total_declined += declined
            if beyond and re is None:  # the document beyond Latin-1 is in the training or the test part
                assert declined >= 1, (what, runs, declined)
            elif re is None:  # fit_transform and transform both ran on the kernel
                assert (runs, declined) == (2, 0), (what, runs, declined)
            if re is not None:
                continue
            same_matrix(rX, kX, what)
            same_matrix(rY, kY, what)
            if cls is HashingVectorizer:
                continue
            assert list(rv.vocabulary_.items()) == list(kv.vocabulary_.items()), what
            same_matrix(rX, kX, what)
            same_matrix(rY, kY, what)
            if cls is TfidfVectorizer:
                assert rv.idf_.tobytes() == kv.idf_.tobytes(), what

# murmurhash3 across lengths and Latin-1 bytes, through HashingVectorizer with every feature distinct
words = [("ab" + chr(c) * (k % 7)).strip() for k, c in enumerate(range(48, 256))]
((rv, rX, _, _, re), (kv, kX, _, _, ke)), runs, _ = fit_both(HashingVectorizer, {"n_features": 2**31 - 2, "norm": None, "lowercase": False}, [" ".join(words)] * 3, [" ".join(words[::-1])])
assert re is None and ke is None and runs == 2
same_matrix(rX, kX, "murmurhash")
cases += 1

# every character of U+0000..U+00FF as a word character or not, lowercased or not
latin1 = [f"xx{chr(c)}yy {chr(c)}{chr(c)} Z{chr(c)}Q" for c in range(256)]
for lowercase in (True, False):
    ((rv, rX, _, _, re), (kv, kX, _, _, ke)), runs, _ = fit_both(CountVectorizer, {"lowercase": lowercase}, latin1, latin1)
    assert re is None and ke is None and runs == 2
    assert list(rv.vocabulary_.items()) == list(kv.vocabulary_.items()), "latin-1 table"
    same_matrix(rX, kX, "latin-1 table")
    cases += 1

# a user-given vocabulary (fixed from the start) and a pandas str column with a missing document
docs = corpus(300)
voc = sorted({t for t in CountVectorizer().fit(docs).vocabulary_})[:40]
((rv, rX, _, _, re), (kv, kX, _, _, ke)), runs, _ = fit_both(CountVectorizer, {"vocabulary": voc}, docs, docs[:5])
assert re is None and ke is None and runs == 2
same_matrix(rX, kX, "fixed vocabulary")
cases += 1
s = pd.Series(docs[:50] + [None], dtype="str")
try:
    CountVectorizer().fit_transform(s)
    raise AssertionError("a missing document must raise, as in sklearn")
except ValueError as e:
    assert "np.nan is an invalid document" in str(e), e

print(f"text kernel conformance: {cases} cases identical, {total_runs} kernel runs, {total_declined} declined")
