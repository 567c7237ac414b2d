//! Class labels for scikit-learn's classification metrics: the sorted distinct labels of
//! `y_true` and `y_pred` together, and every sample's position among them.
//!
//! scikit-learn spends almost all of `f1_score`, `classification_report`, ... on two things:
//! `np.unique` of each label array (cached in the dtype by `attach_unique`), and
//! `LabelEncoder.transform` (a searchsorted, or a Python dict lookup per sample for strings).
//! This kernel does both in one pass: the labels are numbered with the groupby kernel's
//! factorisation (int64 numerically, strings by code point, which is Python's `str` order and
//! NumPy's for object arrays), and the codes are returned as dictionary arrays whose shared
//! dictionary is the sorted union. The shim derives each array's `np.unique` from the codes
//! present and maps the codes to the encoder's classes; every metric is then scikit-learn's
//! own arithmetic on them.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt16Type, UInt32Type, UInt8Type};
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int64Array, PrimitiveArray, RecordBatch, UInt16Array,
    UInt32Array, UInt8Array,
};
use arrow_schema::DataType;
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::groupby::{factorize_dense_all, group_keys, string_groups, Strings};
use crate::ipc::{input_column, kernel_input, write_ipc_file, ColumnRef};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    /// columns passed by reference into store files (`bridge.column_ref`)
    #[serde(default)]
    refs: std::collections::HashMap<String, ColumnRef>,
}

/// `codes` (positions in a dictionary of `k` values) as a dictionary array over `values`, with
/// the narrowest unsigned key type.
fn dictionary(codes: &[u32], values: &ArrayRef) -> ArrayRef {
    let k = values.len();
    fn make<K: arrow_array::types::ArrowDictionaryKeyType>(
        keys: PrimitiveArray<K>,
        values: &ArrayRef,
    ) -> ArrayRef {
        Arc::new(
            DictionaryArray::<K>::try_new(keys, values.clone()).expect("codes below the length"),
        )
    }
    if k <= 1 << 8 {
        let narrow: Vec<u8> = codes.par_iter().map(|&c| c as u8).collect();
        make::<UInt8Type>(UInt8Array::from(narrow), values)
    } else if k <= 1 << 16 {
        let narrow: Vec<u16> = codes.par_iter().map(|&c| c as u16).collect();
        make::<UInt16Type>(UInt16Array::from(narrow), values)
    } else {
        make::<UInt32Type>(UInt32Array::from(codes.to_vec()), values)
    }
}

/// The sorted distinct values of `columns` together (all int64, or all strings; no nulls) and,
/// for each column, every row's position among them.
pub fn label_codes(columns: &[ArrayRef]) -> std::result::Result<(ArrayRef, Vec<Vec<u32>>), String> {
    let Some(first) = columns.first() else {
        return Err("no label column".into());
    };
    let strings = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8);
    for c in columns {
        let t = c.data_type();
        if !(t == &DataType::Int64 || strings(t)) {
            return Err(format!("labels of type {t}"));
        }
        if (t == &DataType::Int64) != (first.data_type() == &DataType::Int64) {
            return Err("int64 and string labels together".into());
        }
        if c.null_count() > 0 {
            return Err("missing labels".into());
        }
    }
    if first.data_type() == &DataType::Int64 {
        let values: Vec<&[i64]> = columns
            .iter()
            .map(|c| c.as_primitive::<Int64Type>().values().as_ref())
            .collect();
        if let Some((codes, keys)) = factorize_dense_all(&values) {
            return Ok((Arc::new(Int64Array::from(keys)), codes));
        }
    }
    let groups = if strings(first.data_type()) {
        let cols: Vec<Strings> = columns.iter().filter_map(Strings::of).collect();
        string_groups(&cols)
    } else {
        // int64 keys too wide for a bitmap: the columns end to end, numbered by hashing
        let refs: Vec<&dyn Array> = columns.iter().map(|c| c.as_ref()).collect();
        group_keys(&arrow_select::concat::concat(&refs).map_err(|e| e.to_string())?)?
    };
    // each column's codes: the end of the labels split off, column by column from the last
    let mut labels = groups.labels;
    let mut codes: Vec<Vec<u32>> = columns
        .iter()
        .rev()
        .map(|c| labels.split_off(labels.len() - c.len()))
        .collect();
    codes.reverse();
    Ok((groups.keys, codes))
}

/// The IPC face of [`label_codes`]: label columns `y` and optionally `p` (int64, or strings),
/// in the input file or referenced in the options; the result has the same columns as
/// dictionary arrays (uint8/16/32 codes) sharing one dictionary, the sorted union of labels.
pub fn label_codes_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let mut names = Vec::new();
    let mut columns = Vec::new();
    for name in ["y", "p"] {
        let col = match input_column(&batch, &opts.refs, name) {
            Ok(c) => c,
            Err(why) => return Ok(Outcome::Declined(why)),
        };
        if let Some(c) = col {
            names.push(name);
            columns.push(c);
        }
    }
    let (labels, codes) = match label_codes(&columns) {
        Ok(r) => r,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let rows = columns.iter().map(|c| c.len()).max().unwrap_or(0);
    let out_columns: Vec<(&str, ArrayRef)> = names
        .iter()
        .zip(&codes)
        .map(|(&n, c)| (n, dictionary(c, &labels)))
        .collect();
    let batch = match RecordBatch::try_from_iter(out_columns) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Outcome::Declined(format!(
                "columns of different lengths: {e}"
            )))
        }
    };
    let bytes = write_ipc_file(&batch, out)?;
    Ok(Outcome::Ok {
        rows,
        cols: names.len(),
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{LargeStringArray, StringArray};

    #[test]
    fn int_labels_sorted_and_coded() {
        let y: ArrayRef = Arc::new(Int64Array::from(vec![3, -1, 3, 7]));
        let p: ArrayRef = Arc::new(Int64Array::from(vec![7, 7, i64::MIN, 3]));
        let (labels, codes) = label_codes(&[y, p]).unwrap();
        let labels = labels.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(labels.values().to_vec(), vec![i64::MIN, -1, 3, 7]);
        assert_eq!(codes, vec![vec![2, 1, 2, 3], vec![3, 3, 0, 2]]);
    }

    #[test]
    fn dense_and_hashed_int_labels_agree() {
        // a small span is numbered with a bitmap, a wide one by hashing the concatenation
        let y: Vec<i64> = (0..5000).map(|i| (i * 7919) % 13 - 6).collect();
        let p: Vec<i64> = (0..5000).map(|i| (i * 104729) % 17 - 3).collect();
        let cols = |y: &[i64], p: &[i64]| -> Vec<ArrayRef> {
            vec![
                Arc::new(Int64Array::from(y.to_vec())),
                Arc::new(Int64Array::from(p.to_vec())),
            ]
        };
        let (dense_labels, dense) = label_codes(&cols(&y, &p)).unwrap();
        let wide = |v: &[i64]| v.iter().map(|x| x * (1 << 40)).collect::<Vec<_>>();
        let (wide_labels, hashed) = label_codes(&cols(&wide(&y), &wide(&p))).unwrap();
        assert_eq!(dense, hashed);
        assert_eq!(dense_labels.len(), wide_labels.len());
        assert_eq!(dense_labels.len(), 20); // -6..=13
    }

    #[test]
    fn string_labels_in_code_point_order() {
        // "10" < "9" (strings), "A" < "a", "" first, long strings past the inline width
        let y: ArrayRef = Arc::new(StringArray::from(vec!["9", "10", "a", "A", "", "é"]));
        let long = "x".repeat(40);
        let p: ArrayRef = Arc::new(LargeStringArray::from(vec![
            "a",
            long.as_str(),
            "9",
            "9",
            "",
            "z",
        ]));
        let (labels, codes) = label_codes(&[y, p]).unwrap();
        let labels: Vec<&str> = labels
            .as_string::<i64>()
            .iter()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(
            labels,
            vec!["", "10", "9", "A", "a", long.as_str(), "z", "é"]
        );
        let at = |s: &str| labels.iter().position(|l| *l == s).unwrap() as u32;
        assert_eq!(codes[0], ["9", "10", "a", "A", "", "é"].map(at).to_vec());
        assert_eq!(
            codes[1],
            ["a", long.as_str(), "9", "9", "", "z"].map(at).to_vec()
        );
    }

    #[test]
    fn declines_what_it_cannot_number() {
        let y: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        assert!(label_codes(&[y]).is_err());
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["1"]));
        assert!(label_codes(&[a, b]).is_err());
        assert!(label_codes(&[]).is_err());
    }

    #[test]
    fn codes_narrow_with_the_number_of_labels() {
        let few: ArrayRef = Arc::new(Int64Array::from((0..256).collect::<Vec<i64>>()));
        let many: ArrayRef = Arc::new(Int64Array::from((0..257).collect::<Vec<i64>>()));
        for (col, key) in [(few, DataType::UInt8), (many, DataType::UInt16)] {
            let (labels, codes) = label_codes(&[col]).unwrap();
            let d = dictionary(&codes[0], &labels);
            assert_eq!(
                d.data_type(),
                &DataType::Dictionary(Box::new(key), Box::new(DataType::Int64))
            );
        }
    }
}
