"""Times the library calls that stratum runs on Rust kernels (used by bench/run.ts).

Run by plain python it times the library; run under the coordinator the same calls go through
stratum's kernel path (shim -> coordinator -> Rust -> back), so the two columns of the kernel
table are what a script sees either way. Settings come from the environment (the coordinator
runs scripts with its own environment): STRATUM_BENCH_DATA (folder), STRATUM_BENCH_CASE. One
timed call per process (a repeated call in the same batch would be a memo hit); bench/run.ts
repeats processes. Prints one JSON line: {"case": ..., "seconds": [t], "check": ...}.
"""

import hashlib
import json
import os
import time

import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer

DATA = os.environ["STRATUM_BENCH_DATA"]
CASE = os.environ["STRATUM_BENCH_CASE"]


def digest(*arrays) -> str:
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def notes():
    return pd.read_csv(os.path.join(DATA, "customers.csv"), usecols=["support_notes"])["support_notes"].fillna("")


def case_read_csv():
    t0 = time.perf_counter()
    df = pd.read_csv(os.path.join(DATA, "transactions.csv"))
    return [time.perf_counter() - t0], f"{df.shape} {pd.util.hash_pandas_object(df).sum()}"


def case_read_parquet():
    t0 = time.perf_counter()
    df = pd.read_parquet(os.path.join(DATA, "transactions.parquet"))
    return [time.perf_counter() - t0], f"{df.shape} {list(df.dtypes.astype(str))} {pd.util.hash_pandas_object(df).sum()}"


def case_roc_auc():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    n = 5 * int(os.environ.get("STRATUM_BENCH_KERNEL_ROWS", "200000"))
    rng = np.random.default_rng(7)
    y = (rng.random(n) < 0.3).astype(np.int64)
    score = np.round(rng.random(n) + 0.3 * y, 4)  # ties, as predicted probabilities have
    t0 = time.perf_counter()
    auc = roc_auc_score(y, score)
    return [time.perf_counter() - t0], repr(auc)


def case_f1():
    import numpy as np
    from sklearn.metrics import f1_score

    n = 5 * int(os.environ.get("STRATUM_BENCH_KERNEL_ROWS", "200000"))
    rng = np.random.default_rng(8)
    y = (rng.random(n) < 0.3).astype(np.int64)
    pred = np.where(rng.random(n) < 0.2, 1 - y, y)
    t0 = time.perf_counter()
    f1 = f1_score(y, pred)
    return [time.perf_counter() - t0], repr(f1)


def log_loss_case(k):
    """log_loss on 1M samples: binary int labels with 1-D probabilities (k == 1), or k int
    classes with (n, k) probabilities (softmax rows, as predict_proba returns them)."""
    import numpy as np
    from sklearn.metrics import log_loss

    n = 5 * int(os.environ.get("STRATUM_BENCH_KERNEL_ROWS", "200000"))
    rng = np.random.default_rng(9)
    if k == 1:
        y = (rng.random(n) < 0.3).astype(np.int64)
        proba = np.clip(0.7 * y + 0.3 * rng.random(n), 0.0, 1.0)
    else:
        y = rng.integers(0, k, n)
        z = rng.standard_normal((n, k)) + 2.0 * np.eye(k)[y]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        proba = e / e.sum(axis=1, keepdims=True)
    t0 = time.perf_counter()
    loss = log_loss(y, proba)
    return [time.perf_counter() - t0], repr(loss)


def labels_case(kind, call):
    """A classification metric on 1M predictions of 5 classes (20% wrong): string labels as a
    classifier's predict() returns them (object arrays), or int labels."""
    import numpy as np

    n = 5 * int(os.environ.get("STRATUM_BENCH_KERNEL_ROWS", "200000"))
    rng = np.random.default_rng(9)
    classes = np.array(["churned", "active", "dormant", "new", "reactivated"], dtype=object) if kind == "str" else np.arange(5) * 10
    y = classes[rng.integers(0, 5, n)]
    pred = np.where(rng.random(n) < 0.2, classes[rng.integers(0, 5, n)], y)
    t0 = time.perf_counter()
    out = call(y, pred)
    return [time.perf_counter() - t0], repr(out)


def impute_case(strategy):
    """SimpleImputer(strategy).fit on the 1M x 4 float64 columns (10% missing) of a file read
    by the script, as agents' frames come from a source (bench/run.ts writes the file)."""
    from sklearn.impute import SimpleImputer

    X = pd.read_parquet(os.path.join(DATA, "impute.parquet"))
    t0 = time.perf_counter()
    imp = SimpleImputer(strategy=strategy).fit(X)
    return [time.perf_counter() - t0], repr(imp.statistics_.tolist())


def scaler_case(make, attrs):
    """A scaler's fit on the same 1M x 4 float64 frame (10% missing) as the imputer cases."""
    X = pd.read_parquet(os.path.join(DATA, "impute.parquet"))
    t0 = time.perf_counter()
    sc = make().fit(X)
    return [time.perf_counter() - t0], repr([getattr(sc, a).tolist() for a in attrs])


def minmax_case():
    """MinMaxScaler().fit_transform on the same 1M x 4 values as a C-ordered float64 array, as
    NumPy code hands it over (a frame validates to F order: NumPy's fast reductions, no kernel)."""
    import numpy as np
    from sklearn.preprocessing import MinMaxScaler

    X = np.ascontiguousarray(pd.read_parquet(os.path.join(DATA, "impute.parquet")).to_numpy(dtype=np.float64))
    t0 = time.perf_counter()
    sc = MinMaxScaler()
    out = sc.fit_transform(X)
    t = time.perf_counter() - t0
    return [t], repr([sc.data_min_.tolist(), sc.data_max_.tolist(), sc.scale_.tolist(), digest(out)])


def vectorizer_case(make):
    docs = notes()
    v = make()
    t0 = time.perf_counter()
    X = v.fit_transform(docs)
    t = time.perf_counter() - t0
    vocab = sorted(getattr(v, "vocabulary_", {}).items())[:50]
    return [t], f"{X.shape} {X.nnz} {digest(X.indices, X.indptr, X.data)} {vocab}"


def forest_case(make):
    """A classification forest on the customers table (one-hot, as agents prepare it)."""
    import numpy as np

    df = pd.read_csv(os.path.join(DATA, "customers.csv"))
    y = df["churned"]
    X = pd.get_dummies(df.drop(columns=["churned", "customer_id", "support_notes", "signup_date"]), dummy_na=True, dtype=np.uint8).fillna(0)
    model = make()
    t0 = time.perf_counter()
    model.fit(X, y)
    t = time.perf_counter() - t0
    h = hashlib.blake2b(digest_size=8)
    for est in model.estimators_:
        nodes = est.tree_.__getstate__()["nodes"]
        for name in ("left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples"):
            h.update(np.ascontiguousarray(nodes[name]).tobytes())
        h.update(est.tree_.value.tobytes())
    return [t], f"{len(model.estimators_)} trees {h.hexdigest()}"


def encoder_case(make):
    """An encoder's fit_transform on two string columns of the transactions table."""
    import numpy as np

    X = pd.read_csv(os.path.join(DATA, "transactions.csv"), usecols=["channel", "category"]).fillna("none")
    enc = make()
    t0 = time.perf_counter()
    out = enc.fit_transform(X)
    t = time.perf_counter() - t0
    dense = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    return [t], f"{dense.shape} {digest(np.ascontiguousarray(dense))} {[list(c) for c in enc.categories_]}"


def groupby_case(run):
    """A call on the transactions table as the fixture scripts prepare it (parsed dates, a
    computed column): groupby aggregations, duplicated rows."""
    tx = pd.read_csv(os.path.join(DATA, "transactions.csv"))
    tx["date"] = pd.to_datetime(tx["date"])
    tx["is_refund"] = (tx["amount"] < 0).astype(int)
    t0 = time.perf_counter()
    out = run(tx)
    t = time.perf_counter() - t0
    frame = out.to_frame() if isinstance(out, pd.Series) else out
    return [t], f"{frame.shape} {list(frame.dtypes.astype(str))} {pd.util.hash_pandas_object(frame).sum()}"


def merge_case(how):
    """The transactions table joined with the customers' labels on customer_id (fixture 39)."""
    tx = pd.read_csv(os.path.join(DATA, "transactions.csv"))
    customers = pd.read_csv(os.path.join(DATA, "customers.csv"), usecols=["customer_id", "churned", "plan"])
    t0 = time.perf_counter()
    out = tx.merge(customers, on="customer_id", how=how)
    t = time.perf_counter() - t0
    return [t], f"{out.shape} {list(out.dtypes.astype(str))} {pd.util.hash_pandas_object(out).sum()}"


def describe_case():
    """describe() of the transactions table as read_csv gives it: its three numeric columns
    (transaction_id, customer_id int64; amount float64), under stratum mapped store columns."""
    tx = pd.read_csv(os.path.join(DATA, "transactions.csv"))
    t0 = time.perf_counter()
    out = tx.describe()
    t = time.perf_counter() - t0
    return [t], f"{out.shape} {list(out.index)} {list(out.columns)} {digest(__import__('numpy').ascontiguousarray(out.to_numpy()))}"


def split_case(run):
    """A splitter stratified by a str column of the transactions table as read_csv gives it; the
    check is the test folds' row numbers."""
    tx = pd.read_csv(os.path.join(DATA, "transactions.csv"))
    t0 = time.perf_counter()
    out = run(tx)
    t = time.perf_counter() - t0
    parts = out if isinstance(out, list) else [out]
    return [t], f"{[len(p) for p in parts]} {digest(*[__import__('numpy').ascontiguousarray(p) for p in parts])}"


CASES = {
    "read_csv": case_read_csv,
    "read_parquet": case_read_parquet,
    "read_parquet_shared": case_read_parquet,
    "roc_auc": case_roc_auc,
    "f1": case_f1,
    "log_loss": lambda: log_loss_case(1),
    "log_loss_5": lambda: log_loss_case(5),
    "accuracy_str": lambda: labels_case("str", lambda y, p: __import__("sklearn.metrics").metrics.accuracy_score(y, p)),
    "f1_macro_str": lambda: labels_case("str", lambda y, p: __import__("sklearn.metrics").metrics.f1_score(y, p, average="macro")),
    "report_str": lambda: labels_case("str", lambda y, p: __import__("sklearn.metrics").metrics.classification_report(y, p, digits=4)),
    "report_int": lambda: labels_case("int", lambda y, p: __import__("sklearn.metrics").metrics.classification_report(y, p, digits=4)),
    "impute_median": lambda: impute_case("median"),
    "impute_most_frequent": lambda: impute_case("most_frequent"),
    "impute_mean": lambda: impute_case("mean"),
    "robust_scaler": lambda: scaler_case(lambda: __import__("sklearn.preprocessing").preprocessing.RobustScaler(), ("center_", "scale_")),
    "standard_scaler": lambda: scaler_case(lambda: __import__("sklearn.preprocessing").preprocessing.StandardScaler(), ("mean_", "var_", "scale_")),
    "minmax_scaler": minmax_case,
    "count_vectorizer": lambda: vectorizer_case(lambda: CountVectorizer(ngram_range=(1, 2))),
    "tfidf_vectorizer": lambda: vectorizer_case(lambda: TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
    "hashing_vectorizer": lambda: vectorizer_case(lambda: HashingVectorizer(ngram_range=(1, 2), n_features=2**18)),
    "random_forest": lambda: forest_case(lambda: __import__("sklearn.ensemble").ensemble.RandomForestClassifier(
        n_estimators=20, max_depth=12, min_samples_leaf=3, random_state=0)),
    "extra_trees": lambda: forest_case(lambda: __import__("sklearn.ensemble").ensemble.ExtraTreesClassifier(
        n_estimators=20, min_samples_leaf=4, max_features=0.4, random_state=0)),
    "onehot_encoder": lambda: encoder_case(lambda: __import__("sklearn.preprocessing").preprocessing.OneHotEncoder()),
    "ordinal_encoder": lambda: encoder_case(lambda: __import__("sklearn.preprocessing").preprocessing.OrdinalEncoder()),
    "groupby_named": lambda: groupby_case(lambda tx: tx.groupby("customer_id").agg(
        n_txn=("amount", "size"), spend_sum=("amount", "sum"), spend_mean=("amount", "mean"), spend_std=("amount", "std"),
        spend_max=("amount", "max"), n_refunds=("is_refund", "sum"), last_txn=("date", "max"), n_channels=("channel", "nunique"))),
    "groupby_sum": lambda: groupby_case(lambda tx: tx.groupby("customer_id")["amount"].sum()),
    "groupby_str_key": lambda: groupby_case(lambda tx: tx.groupby("category")["amount"].agg(["mean", "count"])),
    "groupby_transform": lambda: groupby_case(lambda tx: tx.groupby("customer_id")["amount"].transform("mean")),
    "groupby_median": lambda: groupby_case(lambda tx: tx.groupby("customer_id")["amount"].median()),
    "merge_inner": lambda: merge_case("inner"),
    "merge_left": lambda: merge_case("left"),
    "drop_duplicates": lambda: groupby_case(lambda tx: tx.drop_duplicates(["customer_id", "category"])),
    "duplicated_3": lambda: groupby_case(lambda tx: tx.duplicated(["customer_id", "amount", "channel"]).to_frame()),
    "nunique": lambda: groupby_case(lambda tx: tx.nunique()),
    "value_counts_id": lambda: groupby_case(lambda tx: tx["transaction_id"].value_counts()),
    "value_counts_customer": lambda: groupby_case(lambda tx: tx["customer_id"].value_counts()),
    "value_counts_amount": lambda: groupby_case(lambda tx: tx["amount"].value_counts()),
    "describe": describe_case,
    "sort_values_2": lambda: groupby_case(lambda tx: tx.sort_values(["category", "amount"], ascending=[True, False])),
    "sort_values_id_date": lambda: groupby_case(lambda tx: tx.sort_values(["customer_id", "date"])),
    "sort_values_stable": lambda: groupby_case(lambda tx: tx.sort_values("amount", kind="stable")),
    "sort_values_tied": lambda: groupby_case(lambda tx: tx.sort_values("amount", ascending=False)),
    "stratified_kfold": lambda: split_case(lambda tx: [
        test for _, test in __import__("sklearn.model_selection").model_selection.StratifiedKFold(5, shuffle=True, random_state=0).split(tx, tx["category"])]),
    "train_test_split_stratify": lambda: split_case(lambda tx: __import__("sklearn.model_selection").model_selection.train_test_split(
        tx, test_size=0.2, random_state=0, stratify=tx["category"])[1].index.to_numpy()),
}

seconds, check = CASES[CASE]()
print(json.dumps({"case": CASE, "seconds": seconds, "check": check}))
