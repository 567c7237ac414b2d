//! `read_csv` with the semantics of `pandas.read_csv(path, sep=..., usecols=..., dtype=...)`
//! (pandas 3, C parser, defaults otherwise). Inputs it cannot reproduce exactly are declined.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema};
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

#[derive(Debug, Default)]
pub struct Options {
    pub sep: u8,
    pub usecols: Option<Vec<String>>,
    pub dtype: HashMap<String, Dtype>,
}

/// Parses the options JSON; `Err` is the reason to decline.
pub fn parse_options(json: &str) -> std::result::Result<Options, String> {
    let mut o = Options {
        sep: b',',
        ..Default::default()
    };
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
            "usecols" => {
                let arr = v
                    .as_array()
                    .ok_or("option 'usecols' must be an array of column names")?;
                let names: Option<Vec<String>> =
                    arr.iter().map(|x| x.as_str().map(str::to_owned)).collect();
                let names =
                    names.ok_or("option 'usecols' must hold column names (strings) only")?;
                if names.is_empty() || names.iter().collect::<HashSet<_>>().len() != names.len() {
                    return Err(
                        "option 'usecols' must be a non-empty list of distinct names".into(),
                    );
                }
                o.usecols = Some(names);
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
    let (header, chunks) = tokenize(data, opts.sep).map_err(|e| match e {
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
    let names: Vec<String> = header
        .cols
        .iter()
        .map(|c| String::from_utf8(header.get(data, c[0]).to_vec()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| "the header is not valid UTF-8 (pandas raises)")?;
    let ncols = names.len();
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
    };
    let chunk = low_memory_chunk(ncols);
    let sel_names: Vec<&str> = selected.iter().map(|&c| names[c].as_str()).collect();
    let dtypes: Vec<Option<Dtype>> = sel_names
        .iter()
        .map(|n| opts.dtype.get(*n).copied())
        .collect();
    let arrays = convert_columns(&rows, &selected, &sel_names, &dtypes, chunk)?;
    let fields: Vec<Field> = selected
        .iter()
        .zip(&arrays)
        .map(|(&c, a)| Field::new(names[c].clone(), a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
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
            ("a\n1\n", r#"{"nrows":3}"#),
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
}
