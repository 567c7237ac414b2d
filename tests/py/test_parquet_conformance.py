"""The Rust Parquet kernel against pd.read_parquet: identical frames, or an explicit decline.

The kernel returns the Arrow table pyarrow would read; the shim checks its schema against
pyarrow's and converts it with pandas' own code. These tests check the whole chain on files
pandas writes: every dtype pandas stores, indexes, row groups, codecs, column subsets.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest


def frame(rows, seed):
    """A frame with every kind of column pandas writes to Parquet, with missing values."""
    rng = np.random.default_rng(seed)
    missing = rng.random(rows) < 0.2
    floats = rng.standard_normal(rows) * 10.0 ** rng.integers(-300, 300, rows)
    floats[missing] = np.nan
    words = np.array(["a", "bé", "日本", "emoji 😀", "", "x" * 50, "None", "NA"], dtype=object)
    strings = words[rng.integers(0, len(words), rows)]
    strings[rng.random(rows) < 0.15] = None
    ints = rng.integers(-(2**63), 2**63 - 1, rows, dtype=np.int64)
    return pd.DataFrame(
        {
            "i": ints,
            "i32": rng.integers(-1000, 1000, rows).astype(np.int32),
            "u8": rng.integers(0, 255, rows).astype(np.uint8),
            "f": floats,
            "f32": rng.standard_normal(rows).astype(np.float32),
            "tiny": np.where(missing, 5e-324, -0.0),
            "s": pd.array(strings, dtype="str"),
            "obj": pd.array(strings, dtype=object),
            "b": rng.random(rows) < 0.5,
            "nb": pd.array(np.where(missing, None, rng.random(rows) < 0.5), dtype="boolean"),
            "ni": pd.array(np.where(missing, None, rng.integers(0, 9, rows)), dtype="Int64"),
            "cat": pd.Categorical(strings),
            "many_cats": pd.Categorical([f"c{v}" for v in rng.integers(0, 5000, rows)]),
            "t": pd.to_datetime(rng.integers(0, 2**40, rows), unit="ms").as_unit("us"),
            "tz": pd.to_datetime(rng.integers(0, 2**30, rows), unit="s", utc=True),
            "td": pd.to_timedelta(rng.integers(0, 10**6, rows), unit="s"),
            "all_null": pd.array([None] * rows, dtype="str"),
        }
    )


INDEXES = {
    "range": lambda n: pd.RangeIndex(n),
    "range_step": lambda n: pd.RangeIndex(5, 5 + 3 * n, 3, name="r"),
    "named_int": lambda n: pd.Index(np.arange(n) * 7, name="key"),
    "strings": lambda n: pd.Index([f"row{i}" for i in range(n)], dtype="str"),
    "multi": lambda n: pd.MultiIndex.from_arrays([np.arange(n) % 3, [f"k{i}" for i in range(n)]], names=["a", "b"]),
}


def check(tmp_path, parquet_kernel, bridge, df, columns=None, **write):
    path = tmp_path / "in.parquet"
    df.to_parquet(path, **write)
    out = tmp_path / "out.arrow"
    res = parquet_kernel(path, out, {"columns": columns} if columns is not None else {})
    assert res["status"] == "ok", res
    got = bridge.parquet_table_to_frame(bridge.ipc_table(str(out)), str(path), nan_nulls=True)
    exp = pd.read_parquet(path, columns=columns)
    pd.testing.assert_frame_equal(got, exp, check_exact=True)
    assert list(got.dtypes) == list(exp.dtypes)
    assert type(got.index) is type(exp.index) and got.index.equals(exp.index)
    assert got.columns.equals(exp.columns) and got.columns.dtype == exp.columns.dtype
    assert got.attrs == exp.attrs
    for c in exp.columns:  # NaN payloads and signed zeros too
        if exp[c].dtype in (np.float64, np.float32):
            assert got[c].to_numpy().tobytes() == exp[c].to_numpy().tobytes(), c
    # pandas' blocks: pyarrow's conversion makes one 2-D block of each numpy dtype, which is
    # observable (df.to_numpy() of such a frame is a read-only view)
    def blocks(df):
        return sorted((str(b.dtype), b.mgr_locs.as_array.tolist()) for b in df._mgr.blocks)

    assert blocks(got) == blocks(exp)
    # plain int64 / float64 columns of one row group (null-free, or float64 with nulls: the
    # kernel writes NaN into their null slots) are views of the mapped file, writable, and a
    # write changes this frame only. They need the store's layout of a batch (the values of
    # one dtype one after the other, to make one block): a table with dictionaries (pandas
    # categoricals) is an IPC stream from arrow's writer, so only a dtype's lone column is a view.
    table = bridge.ipc_table(str(out))
    stream = any(pa.types.is_dictionary(t) for t in table.schema.types)
    for c in ("i", "tiny", "f"):
        if c in got.columns and len(got) and table.column(c).num_chunks == 1 and not (stream and c != "i"):
            address = got[c].to_numpy().__array_interface__["data"][0]
            assert any(start <= address < end for start, end, *_ in bridge._regions), f"{c} was copied"
            before = got[c].copy()
            got.loc[got.index[0], c] = 1
            assert got[c].iloc[0] == 1
            again = bridge.parquet_table_to_frame(bridge.ipc_table(str(out)), str(path), nan_nulls=True)
            pd.testing.assert_series_equal(again[c], before, check_exact=True)
    return res


@pytest.mark.parametrize("index", sorted(INDEXES))
@pytest.mark.parametrize("rows", [0, 1, 257])
def test_all_dtypes_and_indexes(tmp_path, parquet_kernel, bridge, index, rows):
    df = frame(rows, seed=rows)
    df.index = INDEXES[index](rows)
    check(tmp_path, parquet_kernel, bridge, df)


@pytest.mark.parametrize("compression", ["snappy", "zstd", "gzip", "brotli", "lz4", None])
def test_codecs_and_row_groups(tmp_path, parquet_kernel, bridge, compression):
    df = frame(3000, seed=7)
    res = check(tmp_path, parquet_kernel, bridge, df, compression=compression, row_group_size=700)
    assert res["rows"] == 3000


@pytest.mark.parametrize(
    "columns", [["s", "i"], ["cat"], ["t", "f", "b"], []],
)
def test_column_subsets_keep_the_index(tmp_path, parquet_kernel, bridge, columns):
    df = frame(500, seed=3)
    df.index = INDEXES["named_int"](500)
    check(tmp_path, parquet_kernel, bridge, df, columns=columns, row_group_size=128)


@pytest.mark.parametrize("rows", [1, 7, 1000, 100_001])
def test_numeric_columns_are_pandas_blocks_without_a_copy(tmp_path, parquet_kernel, bridge, rows):
    """A frame of int64 and float64 columns (NaN in some: nulls in the file) and a str column, one
    row group: every numeric column is a view of the mapped file, each dtype's columns one 2-D
    block as pandas' conversion makes them, so to_numpy() of the float columns is a read-only view
    for both; writes stay in the script's frame."""
    rng = np.random.default_rng(rows)
    floats = {f"x{k}": np.where(rng.random(rows) < 0.1 * k, np.nan, rng.standard_normal(rows)) for k in range(4)}
    df = pd.DataFrame({"id": np.arange(rows) * 3, **floats, "name": pd.array([f"n{i % 5}" for i in range(rows)], dtype="str"), "n": rng.integers(0, 9, rows)})
    check(tmp_path, parquet_kernel, bridge, df)
    path = tmp_path / "in.parquet"
    got = bridge.parquet_table_to_frame(bridge.ipc_table(str(tmp_path / "out.arrow")), str(path), nan_nulls=True)
    exp = pd.read_parquet(path)
    for frame_ in (got, exp):
        assert not frame_.drop(columns=["id", "name", "n"]).to_numpy().flags.writeable
    address = got.drop(columns=["id", "name", "n"]).to_numpy().__array_interface__["data"][0]
    assert any(start <= address < end for start, end, *_ in bridge._regions)
    assert sorted(len(b.mgr_locs) for b in got._mgr.blocks if b.dtype != "str") == [2, 4]
    before = exp.copy()
    got.loc[0, "x1"] = 99.0
    again = bridge.parquet_table_to_frame(bridge.ipc_table(str(tmp_path / "out.arrow")), str(path), nan_nulls=True)
    pd.testing.assert_frame_equal(again, before, check_exact=True)


def test_attrs_and_dictionary_encoding_off(tmp_path, parquet_kernel, bridge):
    df = frame(100, seed=11)
    df.attrs = {"source": "test", "n": 1}
    check(tmp_path, parquet_kernel, bridge, df, use_dictionary=False)


def test_declines(tmp_path, parquet_kernel):
    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    out = tmp_path / "o.arrow"
    for options in ({"filters": [["a", "=", 1]]}, {"columns": ["zz"]}, {"columns": ["a", "a"]}):
        res = parquet_kernel(path, out, options)
        assert res["status"] == "declined" and res["reason"], (options, res)
    not_parquet = tmp_path / "x.csv"
    not_parquet.write_text("a,b\n1,2\n")
    res = parquet_kernel(not_parquet, out)
    assert res["status"] == "declined" and "footer" in res["reason"]
    assert not out.exists()
    res = parquet_kernel(tmp_path / "missing.parquet", out)
    assert res["status"] == "error" and "missing.parquet" in res["message"]


def test_schema_mismatch_is_refused(tmp_path, parquet_kernel, bridge):
    """The shim never converts a table whose schema is not pyarrow's (it reads with pandas)."""
    import pyarrow as pa

    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    out = tmp_path / "o.arrow"
    assert parquet_kernel(path, out)["status"] == "ok"
    table = bridge.ipc_table(str(out))
    wrong = table.cast(pa.schema([pa.field("a", pa.int32())], metadata=table.schema.metadata))
    with pytest.raises(ValueError, match="schema differs"):
        bridge.parquet_table_to_frame(wrong, str(path))
