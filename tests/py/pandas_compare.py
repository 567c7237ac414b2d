"""What the kernel conformance scripts share: evaluating a call with its exception and warnings,
and telling why a result differs from pandas' own (frames, series, indexes, floats bit for bit)."""

import warnings

import numpy as np
import pandas as pd


class Raised(tuple):
    """The exception a call raised: (type, message)."""


def evaluate(code, names):
    """The result (or Raised) of evaluating compiled `code` with `names` (plus pd and np), and
    the warnings it gave as (category, message) pairs."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            result = eval(code, {"pd": pd, "np": np}, dict(names))
        except Exception as e:  # noqa: BLE001 - compared with pandas' own
            result = Raised((type(e), str(e)))
    return result, [(type(x.message).__name__, str(x.message)) for x in w]


def outcome(code, names, use_kernel):
    """`evaluate`, through stratum's kernel substitutions or (use_kernel False) pandas' own:
    without a coordinator client the substitutes run the original."""
    from stratum_shim.dispatch import RT

    saved = RT.client
    if not use_kernel:
        RT.client = None
    try:
        return evaluate(code, names)
    finally:
        RT.client = saved


def float_bits(values):
    """float64 bit patterns, every NaN the same one (-0.0 and 0.0 stay apart)."""
    x = np.asarray(values, dtype=np.float64)
    bits = x.view(np.int64).copy()
    bits[np.isnan(x)] = 0x7FF8000000000000
    return bits


def bitwise_difference(got, ref, what):
    if not (isinstance(ref.dtype, np.dtype) and ref.dtype.kind == "f"):
        return None
    a, b = float_bits(got), float_bits(ref)
    if np.array_equal(a, b):
        return None
    i = int(np.flatnonzero(a != b)[0])
    return f"{what}: row {i} is {float(np.asarray(got)[i]).hex()} instead of {float(np.asarray(ref)[i]).hex()}"


def index_difference(got, ref, what):
    if type(got) is not type(ref) or got.dtype != ref.dtype or list(got.names) != list(ref.names):
        return f"{what}: {got!r} instead of {ref!r}"
    if isinstance(ref, pd.RangeIndex) and (got.start, got.stop, got.step) != (ref.start, ref.stop, ref.step):
        return f"{what}: {got!r} instead of {ref!r}"
    for level in range(ref.nlevels):
        why = bitwise_difference(got.get_level_values(level), ref.get_level_values(level), f"{what} level {level}")
        if why:
            return why
    return None


def short(result):
    return repr(tuple(result)) if isinstance(result, Raised) else f"a {type(result).__name__} of shape {getattr(result, 'shape', None)}"


def difference(got, ref):
    """Why `got` differs from pandas' `ref` (None when identical): the same exception, or the same
    type, values (floats bit for bit, NaN payloads aside), dtypes, index, columns, flags and attrs."""
    if isinstance(got, Raised) or isinstance(ref, Raised):
        if isinstance(got, Raised) and isinstance(ref, Raised) and tuple(got) == tuple(ref):
            return None
        return f"{short(got)} instead of {short(ref)}"
    if type(got) is not type(ref):
        return f"a {type(got).__name__} instead of a {type(ref).__name__}"
    try:
        if isinstance(ref, pd.DataFrame):
            pd.testing.assert_frame_equal(got, ref, check_exact=True, check_index_type=True, check_column_type=True, check_frame_type=True,
                                          check_flags=True)
            indexes = [(got.index, ref.index, "index"), (got.columns, ref.columns, "columns")]
            columns = [(got.iloc[:, j], ref.iloc[:, j], f"column {ref.columns[j]!r}") for j in range(ref.shape[1])]
        elif isinstance(ref, pd.Series):
            pd.testing.assert_series_equal(got, ref, check_exact=True, check_index_type=True, check_series_type=True, check_flags=True)
            indexes, columns = [(got.index, ref.index, "index")], [(got, ref, "values")]
        else:
            return None if got is ref or got == ref else f"{got!r} instead of {ref!r}"
    except AssertionError as e:
        return str(e)
    for a, b, what in indexes:
        why = index_difference(a, b, what)
        if why:
            return why
    for a, b, what in columns:
        why = f"{what}: dtype {a.dtype} instead of {b.dtype}" if a.dtype != b.dtype else bitwise_difference(a, b, what)
        if why:
            return why
    return None if got.attrs == ref.attrs else f"attrs {got.attrs} instead of {ref.attrs}"
