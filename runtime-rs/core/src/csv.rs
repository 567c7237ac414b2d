//! `read_csv` with the semantics of `pandas.read_csv(path, sep=..., usecols=..., dtype=...)`
//! (pandas 3, C parser, defaults otherwise). Inputs it cannot reproduce exactly are declined.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Array, ArrayRef, LargeStringArray, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{Field, Schema};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::file::map_file;
use crate::infer::{convert_columns, low_memory_chunk, Dtype, Rows};
use crate::ipc::write_ipc_file;
use crate::tokenize::{tokenize, TokenizeError, MAX_INPUT};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok {
        rows: usize,
        cols: usize,
        bytes: u64,
        elapsed_ms: f64,
    },
    Declined(String),
}

impl Outcome {
    pub fn to_json(&self) -> String {
        match self {
            Outcome::Ok {
                rows,
                cols,
                bytes,
                elapsed_ms,
            } => format!(
                r#"{{"status":"ok","rows":{rows},"cols":{cols},"bytes":{bytes},"elapsed_ms":{:.3}}}"#,
                elapsed_ms
            ),
            Outcome::Declined(reason) => format!(
                r#"{{"status":"declined","reason":{}}}"#,
                Value::from(reason.as_str())
            ),
        }
    }
}

#[derive(Debug)]
pub struct Options {
    pub sep: u8,
    pub usecols: Option<Vec<String>>,
    pub dtype: HashMap<String, Dtype>,
    /// strings read as missing besides pandas' defaults
    pub na_values: Vec<Vec<u8>>,
    pub nrows: Option<usize>,
    /// lines skipped at the start of the file (before the header)
    pub skiprows: usize,
    /// `header`: Some(true) for 0, Some(false) for None, None for 'infer' (the default: the
    /// first row names the columns unless `names` are given)
    pub header: Option<bool>,
    pub names: Option<Vec<String>>,
    /// columns parsed as datetime64[us]
    pub parse_dates: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sep: b',',
            usecols: None,
            dtype: HashMap::new(),
            na_values: Vec::new(),
            nrows: None,
            skiprows: 0,
            header: None,
            names: None,
            parse_dates: Vec::new(),
        }
    }
}

/// A JSON array of distinct strings, or the reason to decline.
fn distinct_strings(v: &Value, what: &str) -> std::result::Result<Vec<String>, String> {
    let names: Option<Vec<String>> = v
        .as_array()
        .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_owned)).collect());
    let names = names.ok_or(format!("option '{what}' must be a list of strings"))?;
    if names.is_empty() || names.iter().collect::<HashSet<_>>().len() != names.len() {
        return Err(format!(
            "option '{what}' must be a non-empty list of distinct names"
        ));
    }
    Ok(names)
}

/// A JSON integer >= `min`, or the reason to decline.
fn count(v: &Value, what: &str, min: u64) -> std::result::Result<usize, String> {
    v.as_u64()
        .filter(|n| *n >= min)
        .map(|n| n as usize)
        .ok_or(format!("option '{what}' must be an integer >= {min}"))
}

/// Parses the options JSON; `Err` is the reason to decline.
pub fn parse_options(json: &str) -> std::result::Result<Options, String> {
    let mut o = Options::default();
    if json.trim().is_empty() {
        return Ok(o);
    }
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("options are not valid JSON: {e}"))?;
    let map = v.as_object().ok_or("options must be a JSON object")?;
    for (k, v) in map {
        match k.as_str() {
            "sep" => {
                let s = v.as_str().ok_or("option 'sep' must be a string")?;
                match s.as_bytes() {
                    [c] if c.is_ascii() && !matches!(c, b'"' | b'\n' | b'\r' | 0) => o.sep = *c,
                    _ => return Err(format!("separator {s:?} is not supported (one ASCII character other than a quote or line break)")),
                }
            }
            "usecols" => o.usecols = Some(distinct_strings(v, "usecols")?),
            "names" => o.names = Some(distinct_strings(v, "names")?),
            "parse_dates" => o.parse_dates = distinct_strings(v, "parse_dates")?,
            "nrows" => o.nrows = Some(count(v, "nrows", 1)?),
            "skiprows" => o.skiprows = count(v, "skiprows", 0)?,
            "header" => {
                o.header = match v {
                    Value::Null => Some(false),
                    _ if v.as_u64() == Some(0) => Some(true),
                    _ if v.as_str() == Some("infer") => None,
                    _ => return Err(format!("header={v} is not supported (0, 'infer' or None)")),
                }
            }
            "na_values" => {
                let list = match v {
                    Value::String(_) => vec![v.clone()],
                    Value::Array(a) => a.clone(),
                    _ => return Err("option 'na_values' must be a string or a list of strings (per-column dicts are not supported)".into()),
                };
                for x in list {
                    let s = x.as_str().ok_or("na_values must be strings")?;
                    // pandas also treats every field whose float value equals a numeric NA
                    // string as missing ("-999.0" for "-999"): only non-numeric strings here
                    let lower = s.to_ascii_lowercase();
                    if s.bytes().any(|b| b.is_ascii_digit())
                        || lower.contains("inf")
                        || lower.contains("nan")
                    {
                        return Err(format!("na_values entry {s:?} looks numeric (pandas also matches it by float value)"));
                    }
                    o.na_values.push(s.as_bytes().to_vec());
                }
            }
            "dtype" => {
                let m = v
                    .as_object()
                    .ok_or("option 'dtype' must map column names to dtypes")?;
                for (col, d) in m {
                    let d = match d.as_str() {
                        Some("int64") => Dtype::Int64,
                        Some("float64") => Dtype::Float64,
                        Some("bool") => Dtype::Bool,
                        Some("str") => Dtype::Str,
                        _ => {
                            return Err(format!(
                            "dtype {d} for column '{col}' is not one of int64, float64, bool, str"
                        ))
                        }
                    };
                    o.dtype.insert(col.clone(), d);
                }
            }
            other => return Err(format!("option '{other}' is not supported")),
        }
    }
    Ok(o)
}

/// Parses `path` and writes the result to `out`; I/O failures are errors, inputs that cannot
/// be matched exactly are an `Outcome::Declined`.
pub fn read_csv_to_ipc(path: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let opts = match parse_options(options_json) {
        Ok(o) => o,
        Err(reason) => return Ok(Outcome::Declined(reason)),
    };
    let data = map_file(path).map_err(Error::io("read CSV file", path))?;
    let batch = match read_csv(&data, &opts) {
        Ok(b) => b,
        Err(reason) => return Ok(Outcome::Declined(reason)),
    };
    drop(data);
    let bytes = write_ipc_file(&batch, out)?;
    Ok(Outcome::Ok {
        rows: batch.num_rows(),
        cols: batch.num_columns(),
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Schema metadata key: the column labels are the integers 0..n (`header=None`).
pub const INT_LABELS: &str = "stratum.int_labels";

/// `data` after its first `n` lines (each ended by "\n", "\r\n" or "\r"; blank lines count),
/// as pandas' `skiprows=n`. Declines when a skipped line holds a quote, which pandas follows
/// across line breaks.
fn skip_lines(data: &[u8], n: usize) -> std::result::Result<&[u8], String> {
    let mut at = 0;
    for _ in 0..n {
        let Some(k) = memchr::memchr2(b'\n', b'\r', &data[at..]) else {
            return Err("skiprows skips every line of the file (pandas raises)".into());
        };
        if memchr::memchr(b'"', &data[at..at + k]).is_some() {
            return Err("a skipped line holds a quote character".into());
        }
        at += k + 1;
        if data[at - 1] == b'\r' && data.get(at) == Some(&b'\n') {
            at += 1;
        }
    }
    Ok(&data[at..])
}

/// A string column as pandas' `parse_dates` gives it (datetime64[us]) when every value is an
/// ISO date "YYYY-MM-DD", or every value a "YYYY-MM-DD HH:MM:SS"; anything else is declined
/// (pandas' format inference and its fallbacks are not reproduced).
fn parse_dates(name: &str, col: &ArrayRef) -> std::result::Result<ArrayRef, String> {
    let Some(s) = col.as_any().downcast_ref::<LargeStringArray>() else {
        return Err(format!(
            "parse_dates column '{name}' is not read as strings"
        ));
    };
    let first = s.iter().flatten().next().ok_or_else(|| {
        format!("parse_dates column '{name}' has no values (pandas gives datetime64[s])")
    })?;
    let width = first.len();
    if width != 10 && width != 19 {
        return Err(format!(
            "parse_dates column '{name}' is not in ISO format (YYYY-MM-DD[ HH:MM:SS])"
        ));
    }
    let mut out = Vec::with_capacity(s.len());
    for v in s.iter() {
        out.push(match v {
            None => None,
            Some(v) => Some(iso_micros(v.as_bytes(), width).ok_or_else(|| {
                format!("parse_dates column '{name}' has value {v:?} that is not an ISO date like {first:?}")
            })?),
        });
    }
    Ok(Arc::new(TimestampMicrosecondArray::from(out)))
}

/// Microseconds since the epoch of "YYYY-MM-DD" (width 10) or "YYYY-MM-DD HH:MM:SS" (19).
fn iso_micros(b: &[u8], width: usize) -> Option<i64> {
    if b.len() != width {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + (c - b'0') as i64)
        })
    };
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if y == 0 || !(1..=12).contains(&m) || d < 1 || d > days_in[m as usize - 1] {
        return None;
    }
    let mut secs = 0;
    if width == 19 {
        if b[10] != b' ' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        secs = hh * 3600 + mm * 60 + ss;
    }
    // days from the civil date (Howard Hinnant's algorithm)
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((days * 86400 + secs) * 1_000_000)
}

/// Whether `data` is valid UTF-8, checked in parallel pieces split before ASCII bytes (which
/// never sit inside a multi-byte character).
fn is_utf8(data: &[u8]) -> bool {
    const PIECE: usize = 1 << 20;
    let mut bounds = vec![0];
    let mut at = PIECE;
    while at < data.len() {
        match data[at..].iter().position(|b| b.is_ascii()) {
            Some(k) => bounds.push(at + k),
            None => break,
        }
        at = bounds[bounds.len() - 1] + PIECE;
    }
    bounds.push(data.len());
    bounds
        .par_windows(2)
        .all(|w| std::str::from_utf8(&data[w[0]..w[1]]).is_ok())
}

/// Parses CSV bytes into one record batch; `Err` is the reason to decline.
pub fn read_csv(data: &[u8], opts: &Options) -> std::result::Result<RecordBatch, String> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if data.len() > MAX_INPUT {
        return Err("the file is larger than 4 GiB, the reader's limit".into());
    }
    if memchr::memchr(0, data).is_some() {
        return Err(
            "the file contains NUL bytes, which pandas' C parser truncates fields at".into(),
        );
    }
    let data = skip_lines(data, opts.skiprows)?;
    // the first row names the columns, unless header=None, or names are given without header=0
    let header_row = opts.header.unwrap_or(opts.names.is_none());
    let (header, chunks) =
        tokenize(data, opts.sep, header_row, opts.nrows).map_err(|e| match e {
            TokenizeError::EofInQuotes => {
                "the file ends inside a quoted field (pandas raises)".to_string()
            }
            TokenizeError::FieldTooLong => "a field is longer than 2 GiB".to_string(),
        })?;
    let all = || std::iter::once(&header).chain(&chunks);
    if all().any(|t| t.bare_cr) && all().any(|t| t.ws_line_start) {
        return Err("lines end with a bare '\\r' and some start with whitespace, where pandas' tokenizer backtracks unpredictably".into());
    }
    if header.rows == 0 {
        return Err("the file has no header row (pandas raises)".into());
    }
    let ncols = header.cols.len();
    // integer labels 0..n for header=None without names (pandas' Index of int64)
    let int_labels = !header_row && opts.names.is_none();
    let names: Vec<String> = match &opts.names {
        Some(n) if n.len() != ncols => {
            return Err(format!(
                "{} names for {ncols} columns (pandas makes the extra columns an index)",
                n.len()
            ))
        }
        Some(n) => n.clone(),
        None if int_labels => (0..ncols).map(|i| i.to_string()).collect(),
        None => header
            .cols
            .iter()
            .map(|c| String::from_utf8(header.get(data, c[0]).to_vec()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| "the header is not valid UTF-8 (pandas raises)")?,
    };
    if names.iter().any(|n| n.is_empty()) {
        return Err(
            "the header has an empty column name, which pandas renames to 'Unnamed: N'".into(),
        );
    }
    if names.iter().collect::<HashSet<_>>().len() != ncols {
        return Err(
            "the header has duplicate column names, which pandas renames with '.1' suffixes".into(),
        );
    }
    let nrows: usize = chunks.iter().map(|t| t.rows).sum();
    if nrows == 0 {
        return Err("the file has no data rows (pandas returns object columns)".into());
    }
    if let Some((ci, r)) = chunks
        .iter()
        .enumerate()
        .find_map(|(ci, t)| t.first_long_row.map(|r| (ci, r)))
    {
        return Err(if ci == 0 && r == 0 {
            "the first data row has more fields than the header, which pandas turns into an index"
                .into()
        } else {
            format!("a data row has more fields than the header's {ncols} (pandas raises)")
        });
    }
    if int_labels
        && (opts.usecols.is_some() || !opts.dtype.is_empty() || !opts.parse_dates.is_empty())
    {
        return Err(
            "usecols, dtype and parse_dates name columns by position with header=None".into(),
        );
    }
    let selected: Vec<usize> = match &opts.usecols {
        None => (0..ncols).collect(),
        Some(u) => {
            if let Some(missing) = u.iter().find(|c| !names.contains(c)) {
                return Err(format!(
                    "usecols names column '{missing}' that is not in the header (pandas raises)"
                ));
            }
            (0..ncols).filter(|i| u.contains(&names[*i])).collect()
        }
    };
    let rows = Rows {
        data,
        chunks: &chunks,
        len: nrows,
        utf8: is_utf8(data),
        extra_na: &opts.na_values,
    };
    let chunk = low_memory_chunk(ncols);
    let sel_names: Vec<&str> = selected.iter().map(|&c| names[c].as_str()).collect();
    let dtypes: Vec<Option<Dtype>> = sel_names
        .iter()
        .map(|n| opts.dtype.get(*n).copied())
        .collect();
    let mut arrays = convert_columns(&rows, &selected, &sel_names, &dtypes, chunk)?;
    for col in &opts.parse_dates {
        let i = sel_names.iter().position(|n| n == col).ok_or_else(|| {
            format!("parse_dates names column '{col}' that is not read (pandas raises)")
        })?;
        arrays[i] = parse_dates(col, &arrays[i])?;
    }
    let fields: Vec<Field> = selected
        .iter()
        .zip(&arrays)
        .map(|(&c, a)| Field::new(names[c].clone(), a.data_type().clone(), true))
        .collect();
    let mut schema = Schema::new(fields);
    if int_labels {
        schema = schema.with_metadata(HashMap::from([(INT_LABELS.to_string(), "1".to_string())]));
    }
    RecordBatch::try_new(Arc::new(schema), arrays).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_schema::DataType;

    fn read(s: &str, opts: &str) -> std::result::Result<RecordBatch, String> {
        read_csv(s.as_bytes(), &parse_options(opts)?)
    }

    fn types(b: &RecordBatch) -> Vec<DataType> {
        b.schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect()
    }

    #[test]
    fn inference() {
        let b = read("i,f,n,s,t,e\n1,1.5,1,x,True,\n2,-inf,,NA,false,NA\n", "").unwrap();
        use DataType::*;
        assert_eq!(
            types(&b),
            vec![Int64, Float64, Float64, LargeUtf8, Boolean, Float64]
        );
        assert_eq!(b.column(2).as_primitive::<Float64Type>().value(0), 1.0);
        assert!(b.column(2).as_primitive::<Float64Type>().value(1).is_nan());
        assert!(b.column(3).is_null(1));
    }

    #[test]
    fn options_and_usecols() {
        let b = read(
            "a;b;c\n1;x;2\n",
            r#"{"sep":";","usecols":["c","a"],"dtype":{"c":"str"}}"#,
        )
        .unwrap();
        assert_eq!(b.schema().field(0).name(), "a");
        assert_eq!(types(&b), vec![DataType::Int64, DataType::LargeUtf8]);
        assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 1);
    }

    #[test]
    fn declines() {
        for (csv, opts) in [
            ("a,a\n1,2\n", ""),
            ("a,\n1,2\n", ""),
            ("a,b\n", ""),
            ("", ""),
            ("a,b\n1,2,3\n", ""),
            ("a,b\n1,2\n1,2,3\n", ""),
            ("a\nTrue\nNA\n", ""),
            ("a\n9223372036854775808\n", ""),
            ("a\n\"x\n", ""),
            ("a\n1\n", r#"{"nrows":0}"#),
            ("a\n1\n", r#"{"header":2}"#),
            ("a\n1\n", r#"{"na_values":["-999"]}"#),
            ("a\n1\n", r#"{"na_values":{"a":"x"}}"#),
            ("a\n1\n", r#"{"parse_dates":["a"]}"#),
            ("a\n2017-02-29\n", r#"{"parse_dates":["a"]}"#),
            ("a\n2017-02-28\n2017-2-28\n", r#"{"parse_dates":["a"]}"#),
            ("a\nNA\n", r#"{"parse_dates":["a"]}"#),
            ("x\ny\na\n1\n", r#"{"skiprows":5}"#),
            ("\"x\ny\"\na\n1\n", r#"{"skiprows":1}"#),
            ("a\n1\n", r#"{"header":null,"usecols":["0"]}"#),
            ("a,b\n1,2\n", r#"{"names":["x"]}"#),
            ("a\n1\n", r#"{"sep":"::"}"#),
            ("a\n1\nNA\n", r#"{"dtype":{"a":"int64"}}"#),
            ("a\nx\n", r#"{"dtype":{"a":"float64"}}"#),
            ("a\n1\n", r#"{"usecols":["b"]}"#),
            ("a,b\r  x,1\r", ""),
        ] {
            assert!(read(csv, opts).is_err(), "{csv:?} {opts}");
        }
    }

    #[test]
    fn low_memory_chunks_mix_types() {
        assert_eq!(low_memory_chunk(17), 32768);
        assert_eq!(low_memory_chunk(1), 1 << 19);
        let chunk = low_memory_chunk(17);
        let hdr = (0..17)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let row = |v: &str| format!("{v}{}\n", ",1".repeat(16));
        let mut s = format!("{hdr}\n");
        for _ in 0..chunk {
            s.push_str(&row("5"));
        }
        let mut mixed = s.clone();
        mixed.push_str(&row("x"));
        assert!(read(&mixed, "").is_err());
        s.push_str(&row("2.5"));
        assert_eq!(types(&read(&s, "").unwrap())[0], DataType::Float64);
    }

    #[test]
    fn options_beyond_the_defaults() {
        let b = read(
            "skip me\r\n\na,b\n1,x\nmissing,y\n3,z\n",
            r#"{"skiprows":2,"na_values":"missing","nrows":2}"#,
        )
        .unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(types(&b), vec![DataType::Float64, DataType::LargeUtf8]);
        assert!(b.column(0).as_primitive::<Float64Type>().value(1).is_nan());
        let b = read("1,x\n2,y\n", r#"{"header":null}"#).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            b.schema().metadata().get(INT_LABELS).map(String::as_str),
            Some("1")
        );
        assert_eq!(b.schema().field(1).name(), "1");
        let b = read("a,b\n1,x\n", r#"{"names":["p","q"]}"#).unwrap();
        assert_eq!(
            (b.num_rows(), b.schema().field(0).name().as_str()),
            (2, "p")
        );
        let b = read("a,b\n1,x\n", r#"{"names":["p","q"],"header":0}"#).unwrap();
        assert_eq!(
            (b.num_rows(), b.schema().field(1).name().as_str()),
            (1, "q")
        );
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_micros(b"1970-01-01", 10), Some(0));
        assert_eq!(iso_micros(b"2000-03-01", 10), Some(951_868_800_000_000));
        assert_eq!(iso_micros(b"1969-12-31 23:59:59", 19), Some(-1_000_000));
        assert_eq!(iso_micros(b"2024-02-29", 10), Some(1_709_164_800_000_000));
        assert_eq!(iso_micros(b"0001-01-01", 10), Some(-62_135_596_800_000_000));
        for bad in [
            "2023-02-29",
            "2000-13-01",
            "2000-00-10",
            "0000-01-01",
            "2000-01-1x",
            "2000/01/01",
        ] {
            assert_eq!(iso_micros(bad.as_bytes(), 10), None, "{bad}");
        }
        assert_eq!(iso_micros(b"2000-01-01 24:00:00", 19), None);
        assert_eq!(iso_micros(b"2000-01-01T00:00:00", 19), None);
        let b = read("d\n2017-01-14\nNA\n", r#"{"parse_dates":["d"]}"#).unwrap();
        assert_eq!(
            b.column(0).data_type(),
            &DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None)
        );
        assert!(b.column(0).is_null(1));
    }
}
