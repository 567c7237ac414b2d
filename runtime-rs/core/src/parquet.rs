//! `read_parquet`: a Parquet file decoded into the Arrow table that pyarrow's
//! `pq.read_table(path, columns=..., use_pandas_metadata=True)` returns, written as an Arrow IPC
//! file. pandas then converts that table with its own code (the shim calls the same
//! `arrow_table_to_pandas` that `pd.read_parquet` calls), so the frame is pandas' by construction;
//! the shim also checks the schema against pyarrow's reading of the file footer before use.
//!
//! Row groups and columns are decoded in parallel (one reader per row group and column, all
//! sharing the parsed footer), then written as one record batch per row group. A file of one
//! row group goes to the store column by column as each is decoded (`ipc::BatchSink`), so the
//! write of one column overlaps the decoding of the others.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde_json::Value;

use crate::csv::Outcome;
use crate::error::{Error, Result};
use crate::ipc::{write_ipc_batches, write_ipc_stream, BatchSink};

/// Options: `{"columns": [names]}` (all columns when absent).
fn parse_options(json: &str) -> std::result::Result<Option<Vec<String>>, String> {
    if json.trim().is_empty() {
        return Ok(None);
    }
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("options are not valid JSON: {e}"))?;
    let map = v.as_object().ok_or("options must be a JSON object")?;
    let mut columns = None;
    for (k, v) in map {
        match k.as_str() {
            "columns" => {
                let names: Option<Vec<String>> = v
                    .as_array()
                    .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_owned)).collect());
                let names = names.ok_or("option 'columns' must be a list of column names")?;
                if names.iter().collect::<HashSet<_>>().len() != names.len() {
                    return Err("option 'columns' names a column twice".into());
                }
                columns = Some(names);
            }
            other => return Err(format!("option '{other}' is not supported")),
        }
    }
    Ok(columns)
}

/// The top-level columns pyarrow reads for `columns`, in its order: the requested ones as
/// listed, then the index columns the pandas metadata names (`use_pandas_metadata=True`).
fn projection(schema: &Schema, columns: &[String]) -> std::result::Result<Vec<usize>, String> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if names.iter().collect::<HashSet<_>>().len() != names.len() {
        return Err("the file has duplicate column names".into());
    }
    let position = |c: &str| names.iter().position(|n| *n == c);
    let mut out = Vec::new();
    for c in columns {
        out.push(
            position(c)
                .ok_or_else(|| format!("column '{c}' is not in the file (pyarrow raises)"))?,
        );
    }
    if let Some(meta) = schema.metadata().get("pandas") {
        let meta: Value = serde_json::from_str(meta)
            .map_err(|_| "the pandas metadata of the file is not valid JSON")?;
        for ix in meta["index_columns"].as_array().into_iter().flatten() {
            // a RangeIndex is stored as a description, not a column
            if let Some(i) = ix.as_str().and_then(position) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    Ok(out)
}

/// The type pyarrow reads a column as, where it differs from arrow-rs: dictionary values of
/// byte arrays are `string`/`binary` for pyarrow whatever the stored Arrow schema says, and a
/// dictionary of nulls (a categorical without categories) is plain `null`. (Other differences
/// are caught by the shim, which compares the schema with pyarrow's.)
fn pyarrow_type(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(k, v) => match v.as_ref() {
            DataType::Null => DataType::Null,
            DataType::LargeUtf8 => DataType::Dictionary(k.clone(), Box::new(DataType::Utf8)),
            DataType::LargeBinary => DataType::Dictionary(k.clone(), Box::new(DataType::Binary)),
            _ => t.clone(),
        },
        _ => t.clone(),
    }
}

fn has_dictionary(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, _) => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            has_dictionary(f.data_type())
        }
        DataType::Struct(fs) => fs.iter().any(|f| has_dictionary(f.data_type())),
        DataType::Map(f, _) => has_dictionary(f.data_type()),
        _ => false,
    }
}

/// A float64 column with its null slots set to NaN (`f64::NAN`, the bits pyarrow's conversion
/// to pandas writes there), the validity bitmap kept: Arrow leaves those slots' values
/// undefined, and with NaN in them the shim hands the values buffer to pandas as the column
/// pandas' conversion would make (`bridge.parquet_table_to_frame`, nan_nulls), without a copy.
/// Other columns are returned as they are. The values are patched in place when the decoder's
/// buffer is not shared (the usual case), copied otherwise.
fn nan_at_nulls(array: ArrayRef) -> ArrayRef {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::Array;
    if array.data_type() != &DataType::Float64 || array.null_count() == 0 {
        return array;
    }
    let column = array.as_primitive::<Float64Type>().clone();
    drop(array); // so that the values buffer can be unique
    let (_, values, nulls) = column.into_parts();
    let nulls = nulls.expect("a column with nulls has a validity bitmap");
    let len = values.len();
    let mut out = match values.into_inner().into_mutable() {
        Ok(m) => m,
        Err(shared) => {
            arrow_buffer::MutableBuffer::from(shared.typed_data::<f64>()[..len].to_vec())
        }
    };
    let slots = &mut out.typed_data_mut::<f64>()[..len];
    let mut at = 0;
    for (start, end) in nulls.inner().set_slices() {
        slots[at..start].fill(f64::NAN);
        at = end;
    }
    slots[at..].fill(f64::NAN);
    let values = arrow_buffer::ScalarBuffer::<f64>::new(out.into(), 0, len);
    Arc::new(arrow_array::Float64Array::new(values, Some(nulls)))
}

/// Reads `path` and writes the table to `out`. I/O failures are errors; files and options the
/// reader cannot match are an `Outcome::Declined`.
pub fn read_parquet_to_ipc(path: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let columns = match parse_options(options_json) {
        Ok(c) => c,
        Err(reason) => return Ok(Outcome::Declined(reason)),
    };
    let file = File::open(path).map_err(Error::io("open Parquet file", path))?;
    let meta = match ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Outcome::Declined(format!(
                "cannot read the Parquet footer: {e}"
            )))
        }
    };
    let full = meta.schema().clone();
    let roots: Vec<usize> = match &columns {
        None => (0..full.fields().len()).collect(),
        Some(c) => match projection(&full, c) {
            Ok(r) => r,
            Err(reason) => return Ok(Outcome::Declined(reason)),
        },
    };
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(
        roots
            .iter()
            .map(|&i| {
                let f = full.field(i);
                f.clone().with_data_type(pyarrow_type(f.data_type()))
            })
            .collect::<Vec<_>>(),
        full.metadata().clone(),
    ));
    let groups = meta.metadata().num_row_groups();
    let rows_in = |g: usize| meta.metadata().row_group(g).num_rows() as usize;
    // Each row group has its own dictionaries (pandas categoricals), as in pyarrow's table; the
    // IPC file format holds one per column, so such tables are written as an IPC stream.
    let dictionaries = schema
        .fields()
        .iter()
        .any(|f| has_dictionary(f.data_type()));
    // one row group: each column is written as soon as it is decoded
    let sink = match groups == 1 && !dictionaries {
        // (at least 8 bytes a row for each column: values or offsets)
        true => BatchSink::create(&schema, rows_in(0), rows_in(0) * 8 * roots.len(), out)?,
        false => None,
    };
    let sink_error: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    let unplaced = std::sync::atomic::AtomicBool::new(false);
    // one task per (row group, column): each decodes one column chunk into one array
    let tasks: Vec<(usize, usize, usize)> = (0..groups)
        .flat_map(|g| roots.iter().enumerate().map(move |(i, &c)| (g, i, c)))
        .collect();
    let decoded: Vec<std::result::Result<ArrayRef, String>> = tasks
        .par_iter()
        .map(|&(g, i, c)| {
            // a file of its own: clones of one descriptor would share its read offset
            let input = File::open(path).map_err(|e| e.to_string())?;
            let mask = ProjectionMask::roots(meta.parquet_schema(), [c]);
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
                .with_row_groups(vec![g])
                .with_projection(mask)
                .with_batch_size(rows_in(g).max(1))
                .build()
                .map_err(|e| e.to_string())?;
            let mut parts = Vec::new();
            for b in reader {
                parts.push(b.map_err(|e| e.to_string())?.column(0).clone());
            }
            let array = match parts.len() {
                0 => Ok(arrow_array::new_empty_array(full.field(c).data_type())),
                1 => Ok(parts.pop().expect("one part")),
                _ => {
                    let refs: Vec<&dyn arrow_array::Array> =
                        parts.iter().map(|a| a.as_ref()).collect();
                    arrow_select::concat::concat(&refs).map_err(|e| e.to_string())
                }
            }?;
            let to = pyarrow_type(array.data_type());
            let array = if &to == array.data_type() {
                array
            } else {
                arrow_cast::cast(&array, &to).map_err(|e| e.to_string())?
            };
            let array = nan_at_nulls(array);
            if let Some(sink) = &sink {
                match sink.put(i, &array.to_data()) {
                    Ok(true) => {}
                    Ok(false) => unplaced.store(true, std::sync::atomic::Ordering::Relaxed),
                    Err(e) => *sink_error.lock().expect("error slot") = Some(e),
                }
            }
            Ok(array)
        })
        .collect();
    let mut arrays = Vec::with_capacity(tasks.len());
    for d in decoded {
        match d {
            Ok(a) => arrays.push(a),
            // (an unfinished sink removes its file when dropped)
            Err(e) => return Ok(Outcome::Declined(format!("cannot decode the file: {e}"))),
        }
    }
    if let Some(e) = sink_error.into_inner().expect("error slot") {
        return Err(e);
    }
    let mut batches: Vec<RecordBatch> = Vec::with_capacity(groups);
    for g in 0..groups {
        let cols = arrays[g * roots.len()..(g + 1) * roots.len()].to_vec();
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows_in(g)));
        match RecordBatch::try_new_with_options(schema.clone(), cols, &options) {
            Ok(b) => batches.push(b),
            Err(e) => return Ok(Outcome::Declined(format!("row group {g}: {e}"))),
        }
    }
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let bytes = match sink {
        Some(sink) if !unplaced.into_inner() => sink.finish()?,
        other => {
            drop(other); // a column it could not lay out: its file goes
            if batches.len() > 1 && dictionaries {
                write_ipc_stream(&schema, &batches, out)?
            } else {
                write_ipc_batches(&schema, &batches, out)?
            }
        }
    };
    Ok(Outcome::Ok {
        rows,
        cols: schema.fields().len(),
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{DictionaryArray, Int64Array, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use std::collections::HashMap;

    /// A file like pandas writes: an index column named in the pandas metadata, a categorical,
    /// two row groups.
    fn sample(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("s.parquet");
        let cat: DictionaryArray<arrow_array::types::Int8Type> =
            vec!["x", "y", "x", "z"].into_iter().collect();
        let meta = HashMap::from([(
            "pandas".to_string(),
            r#"{"index_columns": ["k"], "columns": []}"#.to_string(),
        )]);
        let batch = RecordBatch::try_from_iter([
            (
                "a",
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            ),
            (
                "s",
                Arc::new(StringArray::from(vec![
                    Some("p"),
                    None,
                    Some("q"),
                    Some("r"),
                ])),
            ),
            ("c", Arc::new(cat)),
            ("k", Arc::new(Int64Array::from(vec![10, 11, 12, 13]))),
        ])
        .unwrap();
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(meta));
        let batch = batch.with_schema(schema.clone()).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_size(2)
            .build();
        let mut w =
            ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    }

    #[test]
    fn projection_follows_pyarrow() {
        let dir = std::env::temp_dir().join(format!("stratum-pq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = sample(&dir);
        let out = dir.join("o.arrow");
        let r = read_parquet_to_ipc(&path, r#"{"columns":["s","a"]}"#, &out).unwrap();
        assert!(
            matches!(
                r,
                Outcome::Ok {
                    rows: 4,
                    cols: 3,
                    ..
                }
            ),
            "{r:?}"
        );
        let mut reader =
            arrow_ipc::reader::FileReader::try_new(File::open(&out).unwrap(), None).unwrap();
        let names: Vec<String> = reader
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["s", "a", "k"]); // requested order, then the index column
        let first = reader.next().unwrap().unwrap();
        assert_eq!(first.num_rows(), 2); // one batch per row group
        assert_eq!(
            first.column(1).as_primitive::<Int64Type>().values(),
            &[1, 2]
        );
        // dictionary columns over two row groups: a stream, dictionary values as Utf8
        let r = read_parquet_to_ipc(&path, "", &out).unwrap();
        assert!(
            matches!(
                r,
                Outcome::Ok {
                    rows: 4,
                    cols: 4,
                    ..
                }
            ),
            "{r:?}"
        );
        let reader =
            arrow_ipc::reader::StreamReader::try_new(File::open(&out).unwrap(), None).unwrap();
        assert_eq!(
            reader.schema().field(2).data_type(),
            &DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
        );
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 4);
        for (opts, why) in [
            (r#"{"columns":["zz"]}"#, "not in the file"),
            (r#"{"filters":[]}"#, "not supported"),
            (r#"{"columns":["a","a"]}"#, "twice"),
        ] {
            match read_parquet_to_ipc(&path, opts, &out).unwrap() {
                Outcome::Declined(reason) => assert!(reason.contains(why), "{reason}"),
                o => panic!("{opts}: {o:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn float_nulls_read_as_nan() {
        use arrow_array::types::Float64Type;
        use arrow_array::{Array, Float64Array};
        let dir = std::env::temp_dir().join(format!("stratum-pq-nan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.parquet");
        let n = 3000;
        // null runs at both ends and inside, a NaN with a payload that is not null, -0.0
        let values: Vec<Option<f64>> = (0..n)
            .map(|i| match i {
                0..=2 | 2997.. => None,
                7 => Some(f64::from_bits(0x7ff0_0000_0000_0001)),
                8 => Some(-0.0),
                i if i % 7 == 3 => None,
                i => Some(i as f64 * 0.5),
            })
            .collect();
        let batch = RecordBatch::try_from_iter([
            (
                "f",
                Arc::new(Float64Array::from(values.clone())) as ArrayRef,
            ),
            ("g", Arc::new(Float64Array::from(vec![1.5; n])) as ArrayRef),
        ])
        .unwrap();
        let mut w =
            ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let out = dir.join("o.arrow");
        let r = read_parquet_to_ipc(&path, "", &out).unwrap();
        assert!(matches!(r, Outcome::Ok { rows: 3000, .. }), "{r:?}");
        let mut reader =
            arrow_ipc::reader::FileReader::try_new(File::open(&out).unwrap(), None).unwrap();
        let b = reader.next().unwrap().unwrap();
        let f = b.column(0).as_primitive::<Float64Type>();
        assert_eq!(
            f.null_count(),
            values.iter().filter(|v| v.is_none()).count()
        );
        for (i, v) in values.iter().enumerate() {
            let bits = f.values()[i].to_bits();
            match v {
                None => assert!(
                    f.is_null(i) && bits == 0x7ff8_0000_0000_0000,
                    "{i}: {bits:x}"
                ),
                Some(x) => assert!(f.is_valid(i) && bits == x.to_bits(), "{i}"),
            }
        }
        assert_eq!(b.column(1).null_count(), 0);
        // a shared values buffer is copied, not written through
        let shared: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)]));
        let keep = shared.clone();
        let patched = nan_at_nulls(shared);
        assert!(patched.as_primitive::<Float64Type>().values()[1].is_nan());
        assert_eq!(keep.as_primitive::<Float64Type>().values()[1], 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
