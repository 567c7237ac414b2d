"""Kernel substitution: hot library internals that run on the Rust runtime.

Tracing patches only see calls made from user code; the hot loops of agent scripts mostly run
inside scikit-learn (a TfidfVectorizer in a Pipeline in cross_val_score). So a few *internals*
are replaced for every caller, at the narrowest point where the Rust kernel reproduces the
library exactly, and the library's own code does everything around it:

- ``CountVectorizer._count_vocab`` (also TfidfVectorizer's): tokenising and counting, the pure
  Python loop that dominates text pipelines. Everything after it (feature sorting, min_df /
  max_df / max_features pruning, idf, normalisation) is scikit-learn's own code on identical
  inputs, so the results are identical by construction.
- ``HashingVectorizer.transform``: tokenising and murmurhash3 of every feature (the kernel
  returns them in FeatureHasher's order); the csr_array, ``sum_duplicates``, ``binary`` and
  ``normalize`` are scikit-learn's own code, as in the original method.
- ``sklearn.metrics.roc_auc_score`` (the public name) with default arguments on binary integer or bool labels and
  float64 scores: the sort, the curve and the trapezoid sum, exactly (see runtime-rs
  metrics.rs); anything else (weights, max_fpr, multiclass, one class, NaN) is the original's.
- ``f1_score`` / ``precision_score`` / ``recall_score`` (public names) with ``average="binary"``
  on integer or bool labels: the counts and the divisions of precision_recall_fscore_support;
  more than two labels, an absent positive label or a zero denominator are the original's.
- ``sklearn.metrics.log_loss`` (the public name) on int / bool / str labels and float64
  probabilities: the per-sample losses with NumPy's own log and NumPy's sums (see
  ``logloss.py``).
- ``_BaseEncoder._fit`` / ``_transform`` (OneHotEncoder, OrdinalEncoder, TargetEncoder) on
  string columns without missing values (pandas ``str`` columns are Arrow already; object
  arrays of ``str`` are converted), ``categories="auto"``, no infrequent categories: the sorted
  categories and the codes and known-value mask; unknown values that scikit-learn would raise
  or warn about are its own.
- ``DepthFirstTreeBuilder`` (its name in ``sklearn.tree._classes``): classification trees,
  alone or in forests, built by the Rust runtime node for node (see ``trees.py``).
- ``attach_unique``, ``LabelEncoder`` (their names in ``sklearn.metrics._classification``): the
  labels' uniques and codes of the classification metrics (see ``classify.py``).
- ``RobustScaler.fit``'s ``np.nanmedian`` / ``np.nanpercentile`` calls (in a per-fit scope, on
  the validated dense float64 array): the medians and percentiles; StandardScaler's
  ``_incremental_mean_and_var`` (its name in ``sklearn.preprocessing._data``): the column sums
  in NumPy's order; MinMaxScaler.partial_fit's ``_nanmin`` / ``_nanmax`` (their names in
  ``sklearn.utils._array_api``, in a per-call scope): the columns' minima and maxima (see
  ``scalers.py``).
- ``get_join_indexers`` (its name in ``pandas.core.reshape.merge``): merge's join indexers
  (see ``merge.py``).
- ``DataFrame.duplicated`` (so ``drop_duplicates``) over two or more columns: the mask (see
  ``dedup.py``).
- ``DataFrame.nunique`` / ``Series.nunique`` (axis 0): the distinct values of every supported
  column, counted in parallel (see ``nunique.py``).
- ``htable.value_count`` (its name in ``pandas.core.algorithms``: ``Series.value_counts`` of NumPy
  columns) and ``ArrowExtensionArray.value_counts`` of pandas' ``str`` arrays with many distinct
  values: the distinct values' first rows and counts (see ``value_counts.py``).
- ``describe_ndframe`` (its name in ``pandas.core.generic``: ``Series.describe`` /
  ``DataFrame.describe``): the numbers of the int64 / float64 columns, answered to pandas' own
  ``describe_numeric_1d`` (see ``describe.py``).
- the sort indexers of ``DataFrame.sort_values`` / ``Series.sort_values`` (``lexsort_indexer``,
  ``nargsort``): the order of the rows (see ``sort.py``).
- ``SimpleImputer._dense_fit`` for ``median``, ``most_frequent`` and ``mean`` on a C- or
  F-contiguous float64 array (missing values NaN or a number, no indicator): the statistics,
  exactly as np.ma computes them (see runtime-rs impute.rs); validation before it and the
  transform after it are scikit-learn's.

Public entry points are installed *before* the tracing patches, so a user's call is traced
first and the kernel runs inside it.

A substitution applies only under the coordinator, on inputs the kernel supports (checked
here, and again by the kernel, which declines what it cannot reproduce); anything else, any
declined call and any failure of the shim runs the original. Substituted methods keep the
original as ``__stratum_kernel_original__`` (not ``__stratum_original__``, which marks a
tracing wrapper: the tracing patches must wrap, not skip or unwrap, a substituted method).
"""

from __future__ import annotations

import functools
import itertools
import os
import threading

from .dispatch import RT, shim_error

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# below this many documents the round trip to the coordinator costs more than sklearn's loop;
# measured (_count_vocab, ngram_range=(1, 2), fixture notes; sklearn vs kernel, ms): 100 docs
# 0.6 vs 1.8, 300: 1.5 vs 1.8, 1000: 5.3 vs 2.7, 3000: 14.7 vs 5.4, 10000: 48.9 vs 12.8
MIN_DOCS = int(os.environ.get("STRATUM_KERNEL_MIN_DOCS", "500"))
# below this many samples roc_auc_score is cheaper in sklearn than the round trip; measured
# (sklearn vs kernel, ms, best of 5): 2000 samples 1.9-3.1 vs 1.1-1.3, 10000: 3.5-4.9 vs 1.8-2.5,
# 200000: 57-60 vs 22-25, 1M: 287-297 vs 88-113
MIN_SAMPLES = int(os.environ.get("STRATUM_KERNEL_MIN_SAMPLES", "2000"))
# SimpleImputer statistics: below these many values (rows x columns) sklearn is as fast as the
# round trip. Measured (fit in a traced script, sklearn vs kernel, ms): median 20k x 1: 2.0 vs
# 2.8, 20k x 4: 10.0 vs 4.0, 200k x 1: 21.7 vs 7.4; most_frequent 20k x 4: 5.7 vs 4.4; mean (a
# memory-bound numpy reduction) 200k x 1: 4.9 vs 7.3, 200k x 4: 21.3 vs 16.3, 1M x 1: 21.4 vs 18.9
# encoders: below this many rows sklearn's Python loops are cheaper than the round trip
MIN_ENCODE_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_ENCODE_ROWS", "2000"))
MIN_IMPUTE_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_IMPUTE", "50000"))
MIN_IMPUTE_MEAN_VALUES = int(os.environ.get("STRATUM_KERNEL_MIN_IMPUTE_MEAN", "800000"))
# the mean of contiguous columns (F order, or one column) is numpy's fast pairwise sum: writing
# them to the store costs more (1M x 4 from a frame: 36 ms in sklearn, 49 ms through the kernel),
# so they go to the kernel only where they lie in the store already (a frame read through it:
# the fit 42 -> 32 ms, the kernel 5-6 ms), as do C-ordered arrays of several columns (summed row
# by row by numpy: 107 vs 65 ms); True sends every layout (the conformance test)
IMPUTE_MEAN_CONTIGUOUS = False

_installed: list[tuple[type, str, object]] = []
_seq = itertools.count()
stats = {"runs": 0, "declined": 0, "columns_by_ref": 0}


def install() -> None:
    if _installed:
        return
    import sklearn.metrics
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing._encoders import _BaseEncoder

    for owner, name, make in ((CountVectorizer, "_count_vocab", _make_count_vocab), (HashingVectorizer, "transform", _make_hashing_transform),
                              (SimpleImputer, "_dense_fit", _make_impute_dense_fit), (SimpleImputer, "fit", _make_imputer_fit),
                              (_BaseEncoder, "_fit", _make_encoder_fit), (_BaseEncoder, "_transform", _make_encoder_transform)):
        original = vars(owner)[name]
        _installed.append((owner, name, original))
        setattr(owner, name, make(original))
    # the public name only: sklearn's own references (the "roc_auc" scorer) keep the original,
    # which must stay what `sklearn.metrics._ranking.roc_auc_score` names for pickle to find it
    # (a fitted GridSearchCV(scoring="roc_auc") is pickled into the store)
    for name, make in (("roc_auc_score", _make_roc_auc), *((n, _make_binary_score) for n in BINARY_SCORES)):
        original = getattr(sklearn.metrics, name)
        _installed.append((sklearn.metrics, name, original))
        setattr(sklearn.metrics, name, make(original))
    from . import classify, dedup, describe, groupby, logloss, merge, nunique, scalers, sort, splits, take, trees, value_counts

    register = lambda owner, name, original: _installed.append((owner, name, original))  # noqa: E731
    trees.install(register)
    groupby.install(register)
    classify.install(register)
    logloss.install(register)
    scalers.install(register)
    merge.install(register)
    dedup.install(register)
    nunique.install(register)
    value_counts.install(register)
    describe.install(register)
    sort.install(register)
    splits.install(register)
    take.install(register)


def uninstall() -> None:
    while _installed:
        owner, name, original = _installed.pop()
        setattr(owner, name, original)


def _substitute(name, original, plan, run):
    """The substituted function or method: `plan(...)` says whether (and with what) the kernel
    can do this call, `run(plan, ...)` does it (both take the original's parameters, `self`
    first for a method); None from either, or any shim failure, runs the original."""

    @functools.wraps(original)
    def substitute(*args, **kwargs):
        if RT.client is None or RT.store_dir is None:
            return original(*args, **kwargs)
        try:
            p = plan(*args, **kwargs)
        except Exception as e:
            shim_error(name, e)
            p = None
        if p is None:
            return original(*args, **kwargs)
        try:
            out = run(p, *args, **kwargs)
        except Exception as e:
            shim_error(name, e)
            out = None
        if out is None:
            stats["declined"] += 1
            return original(*args, **kwargs)
        stats["runs"] += 1
        return out

    substitute.__stratum_kernel_original__ = original
    return substitute


def _make_count_vocab(original):
    def run(plan, self, raw_documents, fixed_vocab):
        return _run_count_vocab(self, plan, fixed_vocab)

    return _substitute("count_vocab", original, _count_plan, run)


def _make_hashing_transform(original):
    def plan(self, X):
        if isinstance(X, str) or self.ngram_range[0] > self.ngram_range[1]:
            return None  # the original raises its own error
        return _analyzer_options(self, X)

    def run(p, self, X):
        return _run_hashing(self, *p)

    return _substitute("hash_features", original, plan, run)


def _make_roc_auc(original):
    import inspect

    signature = inspect.signature(original)

    def plan(*args, **kwargs):
        try:
            given = signature.bind(*args, **kwargs).arguments
        except TypeError:
            return None  # the original raises its own error
        if any(given.get(k) is not None for k in ("sample_weight", "max_fpr", "labels")):
            return None
        if any(not isinstance(given.get(k, v), str) or given.get(k, v) != v for k, v in (("average", "macro"), ("multi_class", "raise"))):
            return None
        y, scores = _binary_labels(given["y_true"]), _float_scores(given["y_score"])
        if y is None or scores is None or len(y) != len(scores) or len(y) < MIN_SAMPLES:
            return None
        return y, scores

    def run(p, *args, **kwargs):
        import pyarrow as pa

        res = _kernel("roc_auc", pa.table({"y": p[0], "score": p[1]}), {})
        return None if res is None else float(res.column("auc")[0].as_py())

    return _substitute("roc_auc", original, plan, run)


BINARY_SCORES = {"f1_score": "f1", "precision_score": "precision", "recall_score": "recall"}


def _make_binary_score(original):
    """f1_score / precision_score / recall_score with average="binary" on integer or bool labels."""
    import inspect

    import numpy as np

    signature = inspect.signature(original)
    score = BINARY_SCORES[original.__name__]

    def plan(*args, **kwargs):
        try:
            given = signature.bind(*args, **kwargs).arguments
        except TypeError:
            return None  # the original raises its own error
        if given.get("labels") is not None or given.get("sample_weight") is not None:
            return None
        average, zero_division, pos = given.get("average", "binary"), given.get("zero_division", "warn"), given.get("pos_label", 1)
        if not (isinstance(average, str) and average == "binary" and isinstance(zero_division, str) and zero_division == "warn"):
            return None
        if type(pos) is not int and not isinstance(pos, np.integer):  # bools, floats, strings: sklearn
            return None
        if abs(int(pos)) > 2**53:  # the options travel as JSON numbers
            return None
        y, pred = _binary_labels(given["y_true"]), _binary_labels(given["y_pred"])
        if y is None or pred is None or len(y) != len(pred) or len(y) < MIN_SAMPLES:
            return None
        return y, pred, int(pos)

    def run(p, *args, **kwargs):
        import pyarrow as pa

        res = _kernel("binary_score", pa.table({"y": p[0], "pred": p[1]}), {"score": score, "pos_label": p[2]})
        return None if res is None else float(res.column("value")[0].as_py())

    return _substitute("binary_score", original, plan, run)


def _one_d(values):
    """A 1-D numpy array (numpy dtype) behind an ndarray or a Series, else None."""
    import numpy as np
    import pandas as pd

    if isinstance(values, pd.Series) and isinstance(values.dtype, np.dtype):
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and values.ndim == 1 and type(values) is np.ndarray:
        return values
    return None


def _binary_labels(y_true):
    """Integer or bool labels as int8 when they fit (an eighth of the bytes to write; the kernel
    widens them) or int64, else None (sklearn handles other label types)."""
    import numpy as np

    y = _one_d(y_true)
    if y is None or y.dtype.kind not in "iub" or (y.dtype.kind == "u" and y.dtype.itemsize == 8 and len(y) and y.max() > np.iinfo(np.int64).max):
        return None
    if y.dtype.kind == "b" or (len(y) and -128 <= y.min() and y.max() <= 127):
        return y.astype(np.int8, copy=False)
    return y.astype(np.int64, copy=False)


def _float_scores(y_score):
    import numpy as np

    s = _one_d(y_score)
    return s if s is not None and s.dtype == np.float64 else None


def _documents(raw):
    """The documents as an Arrow array of strings, or None (not a sized, all-str collection)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(raw, pd.Series):
        if len(raw) < MIN_DOCS:
            return None
        if isinstance(raw.dtype, pd.StringDtype) or raw.dtype == "str":
            if raw.hasnans:  # sklearn raises on np.nan documents: let it
                return None
            arr = raw.array
            if hasattr(arr, "__arrow_array__"):
                return arr.__arrow_array__()
        values = raw.tolist()
    elif isinstance(raw, (list, tuple)):
        values = raw
    elif isinstance(raw, np.ndarray) and raw.ndim == 1 and raw.dtype.kind in "OU":
        values = raw.tolist()
    else:  # iterators, files, sparse input...: never consume what sklearn must read
        return None
    if len(values) < MIN_DOCS or not all(type(d) is str for d in values):
        return None
    return pa.array(values, type=pa.large_string())


def _analyzer_options(self, raw_documents):
    """(documents as Arrow, analyzer options) when the kernel reproduces this analyzer, else None."""
    if not (
        self.analyzer == "word"
        and self.tokenizer is None
        and self.preprocessor is None
        and self.token_pattern == TOKEN_PATTERN
        and self.strip_accents is None
        and self.input == "content"
    ):
        return None
    docs = _documents(raw_documents)
    if docs is None:
        return None
    self.build_analyzer()  # sklearn's validation and warnings, exactly as the original does
    min_n, max_n = self.ngram_range
    stop = self.get_stop_words()
    if stop is not None:
        stop = list(stop)
        if not all(type(w) is str for w in stop):
            return None
    return docs, {"lowercase": bool(self.lowercase), "ngram_range": [int(min_n), int(max_n)], "stop_words": stop}


IMPUTE_STRATEGIES = ("mean", "median", "most_frequent")


class _ImputerFit(threading.local):
    # inside SimpleImputer.fit: (the imputer, the X it was given)
    current = None


_imputer_fit = _ImputerFit()


def _make_imputer_fit(original):
    """SimpleImputer.fit, recording the X it was given for _dense_fit's kernel input: when the
    validated array is that frame's float64 columns, the frame's own columns go to the kernel
    (by reference when they lie in a store file) instead of the array being written."""

    @functools.wraps(original)
    def fit(self, X, *args, **kwargs):
        prev = _imputer_fit.current
        _imputer_fit.current = (self, X)
        try:
            return original(self, X, *args, **kwargs)
        finally:
            _imputer_fit.current = prev

    fit.__stratum_kernel_original__ = original
    return fit


def _imputer_input(imputer, X, order):
    """The kernel input of the validated array X: the frame the imputer's fit was given where X
    is its float64 columns (scalers.frame_input)."""
    from .scalers import frame_input

    current = _imputer_fit.current
    return frame_input(X, order, current[1] if current is not None and current[0] is imputer else None)


def _make_impute_dense_fit(original):
    """SimpleImputer's statistics of a dense float64 array on the Rust runtime."""

    def plan(self, X, strategy, missing_values, fill_value):
        import numbers

        import numpy as np

        if not isinstance(strategy, str) or strategy not in IMPUTE_STRATEGIES or self.add_indicator:
            return None
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype != np.float64:
            return None
        if X.size < (MIN_IMPUTE_MEAN_VALUES if strategy == "mean" else MIN_IMPUTE_VALUES):
            return None
        if X.flags.c_contiguous and X.shape[1] > 1:
            order = "C"
        elif X.flags.f_contiguous:
            order = "F"
        else:
            return None
        table = None
        if strategy == "mean" and order == "F" and not IMPUTE_MEAN_CONTIGUOUS:
            # numpy's pairwise sums of contiguous columns beat writing them to the store, not
            # the kernel reading them where they lie (a frame read through the store)
            from .bridge import column_ref, one_chunk

            table = _imputer_input(self, X, order)
            if not all(column_ref(one_chunk(c)) is not None for c in table.columns):
                return None
        mv = missing_values
        if isinstance(mv, float) and np.isnan(mv):
            missing = None
        elif isinstance(mv, numbers.Real) and not isinstance(mv, bool) and np.isfinite(mv):
            missing = float(mv)
        else:
            return None
        return order, {"rows": int(X.shape[0]), "cols": int(X.shape[1]), "order": order, "strategy": strategy, "missing": missing}, table

    def run(p, self, X, strategy, missing_values, fill_value):
        import numpy as np

        order, options, table = p
        if table is None:
            table = _imputer_input(self, X, order)
        res = _kernel("impute_stats", table, options, by_ref=True)
        if res is None:
            return None
        stats = res.column("stat").to_numpy().copy()
        self._fit_indicator(None)  # add_indicator is False: indicator_ = None, as the original
        # a column without any value: NaN, or 0 to keep it (what the original writes there)
        stats[np.isnan(stats)] = 0 if self.keep_empty_features else np.nan
        return stats

    return _substitute("impute_stats", original, plan, run)


def _encoder_strings(X):
    """X's columns as one Arrow table of strings (c0, c1, ...), or None: not a DataFrame or 2-D
    object array whose every value is a str (missing values and other types are sklearn's)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from .bridge import one_chunk

    if isinstance(X, pd.DataFrame):
        if X.shape[0] < MIN_ENCODE_ROWS or X.shape[1] == 0:
            return None
        cols = []
        for i in range(X.shape[1]):
            s = X.iloc[:, i]
            if isinstance(s.dtype, pd.StringDtype) and hasattr(s.array, "__arrow_array__"):
                cols.append(one_chunk(s.array.__arrow_array__()))  # a store column stays one
            elif s.dtype == object:
                cols.append(s.to_numpy())
            else:
                return None
    elif isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == object:
        if X.shape[0] < MIN_ENCODE_ROWS or X.shape[1] == 0:
            return None
        cols = [X[:, i] for i in range(X.shape[1])]
    else:
        return None
    arrays = []
    for c in cols:
        if isinstance(c, np.ndarray):
            try:  # every value must be a str (None, NaN, numbers, bytes: not ours)
                c = pa.array(c, type=pa.large_string(), from_pandas=False)
            except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):
                return None
        if c.null_count:
            return None
        arrays.append(c)
    return pa.table({f"c{i}": a for i, a in enumerate(arrays)})


def _encoder_plain(self) -> bool:
    """categories="auto" and no infrequent categories (the kernels' scope)."""
    return (isinstance(self.categories, str) and self.categories == "auto"
            and getattr(self, "max_categories", None) is None and getattr(self, "min_frequency", None) is None)


def _make_encoder_fit(original):
    def plan(self, X, handle_unknown="error", ensure_all_finite=True, return_counts=False,
             return_and_ignore_missing_for_infrequent=False):
        if return_counts or not _encoder_plain(self):
            return None
        return _encoder_strings(X)

    def run(table, self, X, handle_unknown="error", ensure_all_finite=True, return_counts=False,
            return_and_ignore_missing_for_infrequent=False):
        import numpy as np
        from sklearn.utils.validation import validate_data

        res = _kernel("encode_fit", table, {}, by_ref=True)
        if res is None:
            return None
        self._check_infrequent_enabled()
        try:
            validate_data(self, X=X, reset=True, skip_check_array=True)
        except Exception:  # the original raises it, at the same point
            return None
        feature = res.column("feature").to_numpy()
        cats = np.array(res.column("category").to_pylist(), dtype=object)
        bounds = np.searchsorted(feature, np.arange(table.num_columns + 1))
        self.n_features_in_ = table.num_columns
        # _unique_python: np.array(sorted(set(values)), dtype=values.dtype), values of dtype object
        self.categories_ = [np.array(cats[bounds[i]:bounds[i + 1]], dtype=object) for i in range(table.num_columns)]
        output = {"n_samples": table.num_rows}
        if return_and_ignore_missing_for_infrequent:
            output["missing_indices"] = {}  # no missing values, so no NaN category
        return output

    return _substitute("encode_fit", original, plan, run)


def _make_encoder_transform(original):
    def plan(self, X, handle_unknown="error", ensure_all_finite=True, warn_on_unknown=False,
             ignore_category_indices=None):
        import numpy as np

        if getattr(self, "_infrequent_enabled", True):
            return None
        cats = getattr(self, "categories_", None)
        if not isinstance(cats, list) or not all(isinstance(c, np.ndarray) and c.dtype == object and all(type(v) is str for v in c) for c in cats):
            return None
        table = _encoder_strings(X)
        if table is None or table.num_columns != len(cats):
            return None
        return table, [c.tolist() for c in cats]

    def run(p, self, X, handle_unknown="error", ensure_all_finite=True, warn_on_unknown=False,
            ignore_category_indices=None):
        from sklearn.utils.validation import validate_data

        table, cats = p
        res = _kernel("encode_transform", table, {"categories": cats}, by_ref=True)
        if res is None:
            return None
        n, k = table.num_rows, table.num_columns
        valid = res.column("valid").to_numpy(zero_copy_only=False).reshape(n, k)
        if handle_unknown == "error" or warn_on_unknown:
            if not valid.all():  # sklearn raises or warns with its own message
                return None
        try:
            validate_data(self, X=X, reset=False, skip_check_array=True)
        except Exception:  # the original raises it (after _check_X, which cannot fail here)
            return None
        X_int = res.column("codes").to_numpy().reshape(n, k).astype(int, copy=True)
        X_mask = valid.copy()
        self._map_infrequent_categories(X_int, X_mask, ignore_category_indices)
        return X_int, X_mask

    return _substitute("encode_transform", original, plan, run)


def _kernel(name, table, options, by_ref=False):
    """Run kernel `name` on an input table; the result table, or None when it declined.

    by_ref (for kernels that read ``options["refs"]``): columns that lie unwritten in a store
    result this process mapped are passed as references into that file (bridge.column_ref)
    instead of being written again."""
    import pyarrow as pa

    from .bridge import column_ref, write_table

    if by_ref:
        refs = dict(options.get("refs") or {})  # the caller's own references (other inputs)
        for col_name, col in zip(table.column_names, table.columns):
            ref = column_ref(col.chunk(0)) if col.num_chunks == 1 else None
            if ref is not None:
                refs[col_name] = ref
        if refs:
            stats["columns_by_ref"] += len(refs) - len(options.get("refs") or {})
            table = table.drop_columns(list(refs)) if len(refs) < table.num_columns else pa.table({})
            options = {**options, "refs": refs}
    path = os.path.join(RT.store_dir, f"in-{os.getpid()}-{next(_seq)}.arrow")
    write_table(table, path)
    reply = RT.client.request({"t": "kernel", "kernel": name, "input": path, "options": options})
    if reply.get("status") != "ok":
        return None
    out = reply["path"]
    try:
        with pa.memory_map(out) as src:
            return pa.ipc.open_file(src).read_all()
    finally:
        os.unlink(out)


def _flat(table, name):
    return table.column(name).chunk(0).values


def _count_plan(self, raw_documents, fixed_vocab):
    plan = _analyzer_options(self, raw_documents)
    if plan is None:
        return None
    docs, options = plan
    if fixed_vocab:
        vocab = self.vocabulary_
        terms = list(vocab.keys())
        indices = [int(i) for i in vocab.values()]
        if not all(type(t) is str for t in terms):
            return None
        options["vocabulary"] = {"terms": terms, "indices": indices}
    return docs, options


def _run_count_vocab(self, plan, fixed_vocab):
    import numpy as np
    import pyarrow as pa
    import scipy.sparse as sp
    from sklearn.utils._sparse import _align_api_if_sparse

    docs, options = plan
    res = _kernel("count_vocab", pa.table({"doc": docs}), options)
    if res is None:
        return None

    def flat(name):
        return _flat(res, name)

    indptr = flat("indptr").to_numpy()
    indices = flat("indices").to_numpy()
    if fixed_vocab:
        vocabulary = self.vocabulary_
    else:
        vocabulary = dict(zip(flat("terms").to_pylist(), range(len(flat("terms")))))
        if not vocabulary:  # sklearn's own error message, from sklearn
            return None
    # sklearn's index dtype: int32 unless the matrix needs 64-bit indexing
    idx_dtype = np.int64 if indptr[-1] > np.iinfo(np.int32).max else np.int32
    X = sp.csr_array(
        (flat("counts").to_numpy().astype(np.intc, copy=False), indices.astype(idx_dtype), indptr.astype(idx_dtype)),
        shape=(len(indptr) - 1, len(vocabulary)),
        dtype=self.dtype,
    )
    X.sort_indices()
    return vocabulary, _align_api_if_sparse(X)


def _run_hashing(self, docs, options):
    """HashingVectorizer.transform after the analyzer: sklearn's own steps on the kernel's hashes."""
    import numpy as np
    import pyarrow as pa
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize
    from sklearn.utils._sparse import _align_api_if_sparse

    res = _kernel("hash_features", pa.table({"doc": docs}), {**options, "n_features": int(self.n_features), "alternate_sign": bool(self.alternate_sign)})
    if res is None:
        return None
    indptr = _flat(res, "indptr").to_numpy()
    if len(indptr) <= 1:  # sklearn raises "Cannot vectorize empty sequence." itself
        return None
    indices = _flat(res, "indices").to_numpy()
    # FeatureHasher's dtypes: int32 indices, int32 indptr unless 64-bit indexing is needed
    if indptr[-1] > np.iinfo(np.int32).max:
        indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
    else:
        indices, indptr = indices.astype(np.int32), indptr.astype(np.int32)
    values = _flat(res, "values").to_numpy().astype(self.dtype)
    X = sp.csr_array((values, indices, indptr), dtype=self.dtype, shape=(len(indptr) - 1, self.n_features))
    X.sum_duplicates()
    X = _align_api_if_sparse(X)
    if self.binary:
        X.data.fill(1)
    if self.norm is not None:
        X = normalize(X, norm=self.norm, copy=False)
    return _align_api_if_sparse(X)
