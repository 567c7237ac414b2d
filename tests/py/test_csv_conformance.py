"""The Rust CSV kernel against pandas.read_csv: identical frames, or an explicit decline."""

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SEP17 = ",".join(f"c{i}" for i in range(17))


def low_memory_file(first, rest, chunk=32768):
    """17 columns; column c0 holds `first` for one whole low_memory chunk, then `rest`."""
    row = lambda v: v + ",1" * 16 + "\n"  # noqa: E731
    return SEP17 + "\n" + row(first) * chunk + "".join(row(v) for v in rest)


OK_CASES = {
    "basic": "i,f,s,b\n1,1.5,x,True\n2,2.25,y,False\n",
    "quotes": 'a,b\n"x,y",1\n"say ""hi""",2\n"multi\nline\r\nfield",3\n"",4\n"ab"cd,5\nx"y,6\n',
    "crlf_blank_lines": "a,b\r\n1,2\r\n\r\n\r\n3,4\r\n",
    "cr_only": "a,b\r1,x\r\r3,y\r",
    "na_spellings": "f,s\n" + "".join(
        f"{v},{v}\n" for v in ["#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                               "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None",
                               "n/a", "nan", "null", ""]
    ) + "1.5,text\n",
    "quoted_na": 'a,b\n"NA",1\n"",2\n3,"NA"\n',
    "mixed_str_column": "a\nx\n1\n2.5\nTrue\nNAN\n inf\n1e+\n0x10\n.\n",
    "empty_and_all_na_columns": "a,b,c\n1,,NA\n2,,null\n",
    "unicode": "nom,ville\nhé,Zürich\n日本,東京\nemoji 😀,ok\n",
    "long_field": "a,b\n" + "x" * 100_000 + ",1\n\"" + "y,\n" * 30_000 + "\",2\n",
    "spaces": "i,f,s\n 1 ,\t2.5 , x \n2, 3 ,y\n",
    "ints_with_na": "a,b\n1,\n,2\n3,NA\n",
    "floats_extreme": "a\n" + "\n".join([
        "1.7976931348623157e308", "2.2250738585072014e-308", "4.9406564584124654e-324",
        "1e-320", "1e-330", "1e400", "-1e400", "-0e400", "9e308", "1E5", "1e 5", "-0.0",
        "+.5e-3", "5.", "123456789012345678901234567890.5", "0.000000000000000000001234",
        "1e-99999999999999999999", "1e99999999999999999999", "12345678901234567890",
    ]) + "\n",
    "infinities": "a\n1.5\ninf\n-inf\n+inf\nInf\n-Infinity\n+INFINITY\ninfinity\n",
    "bools": "a,b\nTrue,true\nFALSE,false\ntrue,tRuE\n",
    "short_rows": "a,b,c\n1,2,3\n4,5\n6\n",
    "bom": "\ufeffa,b\n1,2\n",
    "whitespace_lines": "a,b\n1,2\n   \n\t\n  x,3\n ,4\n",
    "trailing_sep_rows": "a,b\n1,\n,\n",
    "big_ints": "a,b\n9223372036854775807,-9223372036854775808\n-1,+0\n",
    "no_final_newline": "a,b\n1,2",
    "overflow_int_with_decimals": "a\n12345678901234567890\n1.5\n\n-98765432109876543210\n",
    "low_memory_int_then_float": low_memory_file("12345678901234567", ["1.5", "2"]),
    "low_memory_int_then_na": low_memory_file("7", ["", "8"]),
    # "-0" is 0.0 in an int64 chunk (cast on concatenation) but -0.0 in a float chunk
    "low_memory_boundary_last_of_chunk": low_memory_file("7", ["-0", "1.5"], chunk=32767),
    "low_memory_boundary_first_of_chunk": low_memory_file("7", ["-0", "1.5"]),
    "quoted_empty_row": 'a\n""\n1\n',
    "leading_blank_lines": "\n\n  \n\"a\nb\",c\n1,2\n",
}

OPTION_CASES = {
    "usecols": ("a,b,c,d\n1,x,2.5,y\n2,z,,w\n", {"usecols": ["d", "a"]}),
    "dtype_all": ("a,b,c,d\n1,x,2.5,True\n2,,NA,false\n", {"dtype": {"a": "str", "b": "str", "c": "float64", "d": "bool"}}),
    "dtype_int_float": ("a,b\n1,1\n2,12345678901234567\n", {"dtype": {"a": "int64", "b": "float64"}}),
    "dtype_unknown_column": ("a\n1\n", {"dtype": {"zz": "str"}}),
    "sep_semicolon": ("a;b\n1,5;x\n2,5;y\n", {"sep": ";"}),
    "sep_space": ("a b\n1 x\n \n2 \"y z\"\n", {"sep": " "}),
    "sep_tab": ("a\tb\n1\t\"x\ty\"\n\t\n3\t4\n", {"sep": "\t"}),
    "nrows": ("a,b\n1,x\n2,y\n3,z\n", {"nrows": 2}),
    "nrows_beyond_the_file": ("a,b\n1,x\n", {"nrows": 10}),
    "nrows_before_a_long_row": ("a,b\n1,2\n3,4,5\n", {"nrows": 1}),
    "nrows_one_low_memory_chunk": (low_memory_file("7", ["x"]), {"nrows": 32768}),
    "nrows_across_low_memory_chunks": (low_memory_file("7", ["1.5", "x"]), {"nrows": 32769}),
    "skiprows": ("junk line\n\nmore, junk\r\na,b\n1,2\n", {"skiprows": 3}),
    "skiprows_cr": ("x\ry\ra,b\n1,2\n", {"skiprows": 2}),
    "skiprows_zero": ("a,b\n1,2\n", {"skiprows": 0}),
    "header_none": ("1,x\n2,y\n", {"header": None}),
    "header_none_text_first_row": ("a,b\n1,2\n", {"header": None}),
    "header_none_with_names": ("1,x\n2,y\n", {"header": None, "names": ["n", "s"]}),
    "names_replace_no_header": ("a,b\n1,2\n", {"names": ["p", "q"]}),
    "names_replace_header_row": ("a,b\n1,2\n", {"names": ["p", "q"], "header": 0}),
    "names_usecols_dtype": ("1,x,2.5\n2,y,\n", {"names": ["i", "s", "f"], "usecols": ["f", "i"], "dtype": {"i": "float64"}}),
    "header_infer": ("a,b\n1,2\n", {"header": "infer"}),
    "na_values": ("a,b,c\nmissing,x,1\n1,missing,-\n2.5,-,3\n", {"na_values": ["missing", "-"]}),
    "na_values_string": ("a,b\n?,x\n1,?\n", {"na_values": "?"}),
    "na_values_quoted": ('a,b\n"?",x\n1,"?"\n', {"na_values": ["?"]}),
    "parse_dates": ("d,x\n2017-01-14,1\n,2\n2020-02-29,3\nNA,4\n1900-03-01,5\n", {"parse_dates": ["d"]}),
    "parse_dates_times": ("t\n2017-01-14 10:11:12\n1969-12-31 23:59:59\n", {"parse_dates": ["t"]}),
    "parse_dates_with_options": ("x;d;e\n1;2001-02-03;2001-02-03 04:05:06\n2;2001-02-04;\n", {"sep": ";", "parse_dates": ["e", "d"], "usecols": ["d", "e"]}),
}

DECLINED_CASES = {
    "duplicate_header": ("a,a\n1,2\n", None),
    "empty_header_name": ("a,\n1,2\n", None),
    "no_data_rows": ("a,b\n", None),
    "empty_file": ("", None),
    "index_column": ("a,b\n1,2,3\n4,5,6\n", None),
    "long_row": ("a,b\n1,2\n4,5,6\n", None),
    "bool_with_na": ("a,b\nTrue,1\n,2\n", None),
    "uint64": ("a\n9223372036854775808\n1\n", None),
    "int_underflow": ("a\n-9223372036854775809\n1\n", None),
    "overflow_int_with_inf_only": ("a\n12345678901234567890\ninf\n", None),
    "eof_in_quotes": ('a,b\n"abc,1\n', None),
    "nul_byte": ("a,b\nx\x00y,1\n", None),
    "bare_cr_leading_space": ("a,b\r1,2\r  x,4\r", None),
    "low_memory_mixed": (low_memory_file("5", ["x"]), None),
    "low_memory_str_then_na": (low_memory_file("x", [""]), None),
    "unknown_option": ("a\n1\n", {"thousands": ","}),
    "nrows_zero": ("a\n1\n", {"nrows": 0}),
    "header_row_two": ("x\na\n1\n", {"header": 2}),
    "header_none_usecols": ("1,2\n", {"header": None, "usecols": ["0"]}),
    "names_too_few": ("a,b\n1,2\n", {"names": ["x"]}),
    "skiprows_quote": ('"a\nb"\nx\n1\n', {"skiprows": 1}),
    "skiprows_everything": ("a\n1\n", {"skiprows": 5}),
    "na_values_numeric": ("a\n-999\n-999.0\n", {"na_values": ["-999"]}),
    "na_values_per_column": ("a\nx\n", {"na_values": {"a": ["x"]}}),
    "parse_dates_not_iso": ("d\n14/01/2017\n", {"parse_dates": ["d"]}),
    "parse_dates_short_iso": ("d\n2017-01-14\n2017-1-4\n", {"parse_dates": ["d"]}),
    "parse_dates_bad_day": ("d\n2017-02-29\n", {"parse_dates": ["d"]}),
    "parse_dates_all_missing": ("d\nNA\n", {"parse_dates": ["d"]}),
    "parse_dates_numbers": ("d\n20170101\n", {"parse_dates": ["d"]}),
    "parse_dates_unknown_column": ("d\n2017-01-01\n", {"parse_dates": ["x"]}),
    "multichar_sep": ("a\n1\n", {"sep": "::"}),
    "sep_space_leading_spaces": ("a b\n1 x\n  2 y\n", {"sep": " "}),
    "dtype_int_with_na": ("a\n1\n\n,\n", {"dtype": {"a": "int64"}}),
    "dtype_float_text": ("a\nx\n", {"dtype": {"a": "float64"}}),
    "dtype_bool_text": ("a\nyes\n", {"dtype": {"a": "bool"}}),
    "dtype_unsupported": ("a\n1\n", {"dtype": {"a": "int32"}}),
    "usecols_missing": ("a\n1\n", {"usecols": ["b"]}),
}


def write(tmp_path, name, content):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def assert_identical(got, exp):
    pd.testing.assert_frame_equal(got, exp, check_exact=True)
    assert list(got.dtypes) == list(exp.dtypes)
    assert got.columns.equals(exp.columns) and got.columns.dtype == exp.columns.dtype
    assert type(got.index) is type(exp.index) and got.index.equals(exp.index)
    for c in exp.columns:
        if exp[c].dtype == np.float64:
            assert np.array_equal(got[c].to_numpy().view(np.int64), exp[c].to_numpy().view(np.int64)), c


def check_ok(tmp_path, kernel, bridge, name, content, options=None):
    path = write(tmp_path, name, content)
    out = tmp_path / f"{name}.arrow"
    res = kernel(path, out, options)
    assert res["status"] == "ok", res
    exp = pd.read_csv(path, **(options or {}))
    got = bridge.ipc_to_frame(str(out))
    assert (res["rows"], res["cols"]) == exp.shape
    assert not (tmp_path / f"{name}.arrow.tmp").exists()
    assert_identical(got, exp)
    return got


@pytest.mark.parametrize("name", sorted(OK_CASES))
def test_matches_pandas(tmp_path, kernel, bridge, name):
    check_ok(tmp_path, kernel, bridge, name, OK_CASES[name])


@pytest.mark.parametrize("name", sorted(OPTION_CASES))
def test_options_match_pandas(tmp_path, kernel, bridge, name):
    content, options = OPTION_CASES[name]
    check_ok(tmp_path, kernel, bridge, name, content, options)


@pytest.mark.parametrize("name", sorted(DECLINED_CASES))
def test_declines(tmp_path, kernel, name):
    content, options = DECLINED_CASES[name]
    out = tmp_path / "out.arrow"
    res = kernel(write(tmp_path, name, content), out, options)
    assert res["status"] == "declined", res
    assert res["reason"].strip()
    assert not out.exists()


def test_invalid_utf8_declines(tmp_path, kernel):
    res = kernel(write(tmp_path, "latin1", "a\ncafé\n".encode("latin-1")), tmp_path / "o.arrow")
    assert res["status"] == "declined"


def test_missing_file_rejects_with_the_path(tmp_path, kernel):
    res = kernel(tmp_path / "nope.csv", tmp_path / "o.arrow")
    assert res["status"] == "error" and "nope.csv" in res["message"]


def random_float_csv(rows, seed):
    rng = random.Random(seed)
    fmts = [
        lambda: f"{rng.random() * 10 ** rng.randint(-30, 30):.17g}",
        lambda: f"{rng.uniform(-1e6, 1e6):.17f}",
        lambda: f"{rng.uniform(-1, 1):.{rng.randint(1, 20)}f}",
        lambda: f"{rng.gauss(0, 1) * 10 ** rng.randint(-300, 300):.17e}",
        lambda: f"{rng.random() * 1e-310:.17g}",
        lambda: str(rng.randint(-(10**18), 10**18)) + "." + str(rng.randint(0, 99)),
    ]
    lines = ["f0,f1,f2,f3,f4,f5"]
    lines += [",".join(f() for f in fmts) for _ in range(rows)]
    return "\n".join(lines) + "\n"


def test_random_floats_bitwise(tmp_path, kernel, bridge):
    content = random_float_csv(20_000, seed=42)
    assert len(content) > 2 << 20  # large enough for the parallel tokenizer
    got = check_ok(tmp_path, kernel, bridge, "floats", content)
    exact = np.array([float(v) for v in content.splitlines()[1].split(",")])
    assert got.shape == (20_000, 6) and exact.dtype == np.float64


def test_hash_file(tmp_path):
    import subprocess

    ADDON = Path(__file__).resolve().parents[2] / "runtime-rs" / "node" / "stratum_runtime.node"

    p = write(tmp_path, "h", "a\n1\n")
    q = write(tmp_path, "g", "a\n2\n")
    js = f"const a=require({str(ADDON)!r});Promise.all([a.hashFile({str(p)!r}),a.hashFile({str(p)!r}),a.hashFile({str(q)!r})]).then(r=>console.log(r.join(' ')))"
    h1, h2, h3 = subprocess.run(["node", "-e", js], capture_output=True, text=True, check=True).stdout.split()
    assert h1 == h2 != h3 and len(h1) == 32


def test_frame_round_trip(tmp_path, kernel, bridge):
    got = check_ok(tmp_path, kernel, bridge, "rt", OK_CASES["basic"] + "3,nan,,true\n")
    out = str(tmp_path / "rt2.arrow")
    assert bridge.frame_to_ipc(got, out)
    assert_identical(bridge.ipc_to_frame(out), got)
    weird_nan = np.array([0x7FF8000000000123, 0xFFF8000000000000], dtype=np.uint64).view(np.float64)
    df = pd.DataFrame({"x": weird_nan, "s": pd.array(["a", None], dtype="str"), "b": [True, False], "i": [1, 2]})
    df.columns = pd.Index(["x", "s", "b", "i"], dtype="str")
    assert bridge.frame_to_ipc(df, out)
    back = bridge.ipc_to_frame(out)
    assert_identical(back, df)


def test_numeric_columns_reach_pandas_without_a_copy(tmp_path, kernel, bridge):
    import ctypes
    import mmap

    rows = "".join(f"{i},{i * 0.5},name{i % 7},{'' if i % 5 == 0 else i * 1.25}\n" for i in range(50000))
    got = check_ok(tmp_path, kernel, bridge, "zc", "i,f,s,g\n" + rows)
    out = tmp_path / "zc.arrow"
    before = out.read_bytes()
    for col in ("i", "f", "g"):  # int64, float64, float64 with NaN for the empty fields
        values = got[col].array._ndarray
        owner = values.base
        while isinstance(owner, np.ndarray):  # pandas may hand out a view of its block's array
            owner = owner.base
        assert isinstance(owner, memoryview) and isinstance(owner.obj, mmap.mmap), (col, type(owner))
        mm = owner.obj
        start = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        addr = values.__array_interface__["data"][0]
        assert start <= addr and addr + values.nbytes <= start + len(mm), col  # inside the file's mapping
    # a script writing to a column changes its own copy of the page, never the shared file
    got.loc[0, "i"] = -1
    got["f"] += 1.0
    assert got.loc[0, "i"] == -1 and got.loc[1, "f"] == 1.5
    assert out.read_bytes() == before
    again = bridge.ipc_to_frame(str(out))
    assert again.loc[0, "i"] == 0 and again.loc[1, "f"] == 0.5


@pytest.mark.parametrize(
    "make",
    [
        lambda: pd.DataFrame({0: [1, 2]}),
        lambda: pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}),
        lambda: pd.DataFrame({"a": pd.Categorical(["x", "y"])}),
        lambda: pd.DataFrame({"a": pd.to_datetime(["2020-01-01", "2020-01-02"]).tz_localize("UTC")}),
        lambda: pd.DataFrame({"a": pd.to_datetime(["2020-01-01", "2020-01-02"])}).iloc[:0],  # empty
        lambda: pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 6], name=0)),  # index name not a str
        lambda: pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"])),  # str index
        lambda: pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 6], dtype=np.int32)),
        lambda: pd.DataFrame({"a": [1, 2], "__stratum_index__": [3, 4]}, index=[5, 6]),
        lambda: pd.DataFrame({"a": np.array([1, 2], dtype=np.int32)}),
        lambda: pd.DataFrame({"a": np.array(["x", 1], dtype=object)}),
        lambda: pd.DataFrame({"a": [1]}).set_axis(pd.Index(["a"], dtype=object), axis=1),
        lambda: pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
        lambda: pd.DataFrame({"a": pd.array(["x"], dtype=pd.StringDtype("python"))}),
    ],
)
def test_frame_to_ipc_refuses_unsupported(tmp_path, bridge, make):
    path = tmp_path / "x.arrow"
    assert bridge.frame_to_ipc(make(), str(path)) is False
    assert not path.exists()


def bench_csv(rows, seed=0):
    rng = np.random.default_rng(seed)
    cats = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
    cols = {
        "id": np.arange(rows),
        "i1": rng.integers(-1000, 1000, rows),
        "i2": rng.integers(0, 10**12, rows),
        "f1": rng.normal(size=rows),
        "f2": rng.uniform(0, 1e6, rows),
        "f3": np.round(rng.normal(50, 10, rows), 2),
        "f4": rng.exponential(size=rows) * 1e-5,
        "f5": rng.normal(size=rows),
        "f6": rng.normal(size=rows) * 1e8,
        "fna": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows)),
        "ina": np.where(rng.random(rows) < 0.1, np.nan, rng.integers(0, 100, rows)),
        "cat": rng.choice(cats, rows),
        "catna": np.where(rng.random(rows) < 0.2, None, rng.choice(cats, rows)),
        "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, rows), unit="D"),
        "flag": rng.random(rows) < 0.5,
        "text": [f"item {i} \"q\", more" for i in rng.integers(0, 10**6, rows)],
        "f7": rng.normal(size=rows),
    }
    return pd.DataFrame(cols)


@pytest.mark.slow
def test_200k_rows_bitwise(tmp_path, kernel, bridge):
    """A benchmark-size file (several low_memory chunks): identical frame, bitwise floats.
    Speed is measured by `npm run bench`, not here."""
    path = tmp_path / "big.csv"
    bench_csv(200_000).to_csv(path, index=False, float_format="%.17g")
    out = tmp_path / "big.arrow"
    res = kernel(path, out)
    assert res["status"] == "ok", res
    assert_identical(bridge.ipc_to_frame(str(out)), pd.read_csv(path))
