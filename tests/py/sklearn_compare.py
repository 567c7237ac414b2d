"""What the scikit-learn conformance scripts of the scalers share: bitwise equality of fitted
attributes and outputs, and a short description of an input for failure messages."""

import numpy as np
import pandas as pd
import scipy.sparse as sp


def same(a, b):
    """Equal as scikit-learn's results must be: same types, dtypes and shapes, floats bit for bit."""
    if sp.issparse(a) or sp.issparse(b):
        return sp.issparse(a) and sp.issparse(b) and a.format == b.format and same(a.toarray(), b.toarray())
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (np.ndarray, np.generic)) or isinstance(b, (np.ndarray, np.generic)):
        if type(a) is not type(b):
            return False
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fiub":
            return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        return a.tolist() == b.tolist()
    if isinstance(a, (tuple, list)):
        return isinstance(b, type(a)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def describe(X):
    """X in a few words: its type, shape, dtype, layout and NaN count."""
    if sp.issparse(X):
        return f"{type(X).__name__} {X.shape}"
    if isinstance(X, pd.DataFrame):
        return f"DataFrame {X.shape} {list(X.dtypes)}"
    if isinstance(X, np.ndarray):
        return f"{X.shape} {X.dtype} C={X.flags.c_contiguous} F={X.flags.f_contiguous} NaN={int(np.isnan(X).sum()) if X.dtype.kind == 'f' else 0}"
    return type(X).__name__
