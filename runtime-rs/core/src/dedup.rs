//! pandas' `DataFrame.duplicated` (and so `drop_duplicates`) over several columns, exactly.
//!
//! pandas factorises every column with its hash tables, numbers the tuples of codes
//! (`get_group_index`) and marks the rows whose tuple was seen before (`keep="first"`), is seen
//! again later (`"last"`), or occurs more than once (`False`). The mask depends only on which
//! rows hold equal tuples, so any exact numbering of the tuples gives pandas' answer: here the
//! join's (`join::factorize_level` per column on all cores, `join::combine` for the tuples),
//! unordered: the groups need no order, and hash partitions number many distinct values
//! faster than sorting them (`groupby::factorize_unordered`).
//!
//! Equality is pandas' factoriser's: int64 values, float64 values with `-0.0` equal to `0.0` and
//! every NaN (or null) equal to every other, strings by value with every null equal. A column of
//! another type is declined.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{new_empty_array, ArrayRef, RecordBatch, UInt8Array};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::ipc::{input_columns, kernel_input, write_ipc_file, ColumnRef};
use crate::join::{combine, factorize_level, Level};

/// pandas' `keep`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// every occurrence but the first is a duplicate
    First,
    /// every occurrence but the last is a duplicate
    Last,
    /// every occurrence of a tuple that occurs more than once is a duplicate (`keep=False`)
    None,
}

#[derive(Deserialize)]
struct Options {
    keep: Keep,
    /// the columns `c0..` (in the input or referenced)
    columns: usize,
    #[serde(default)]
    refs: std::collections::HashMap<String, ColumnRef>,
}

/// Whether each row's tuple of values in `columns` is a duplicate under `keep`.
pub fn duplicated(columns: &[ArrayRef], keep: Keep) -> std::result::Result<Vec<bool>, String> {
    let n = match columns.first() {
        Some(c) => c.len(),
        None => return Err("no columns".into()),
    };
    if columns.iter().any(|c| c.len() != n) {
        return Err("columns of different lengths".into());
    }
    if n > u32::MAX as usize - 1 {
        return Err(format!("{n} rows: more than the labels can number"));
    }
    // each column factorised as the left side of a join with no right rows
    let levels = columns
        .par_iter()
        .map(|c| factorize_level(c, &new_empty_array(c.data_type()), false))
        .collect::<std::result::Result<Vec<Level>, String>>()?;
    let key = combine(levels, false);
    let (labels, groups) = (key.left, key.groups);
    let mut out = vec![false; n];
    match keep {
        Keep::First | Keep::Last => {
            let mut seen = vec![false; groups];
            let mut mark = |i: usize| {
                let g = labels[i] as usize;
                out[i] = seen[g];
                seen[g] = true;
            };
            if keep == Keep::First {
                (0..n).for_each(&mut mark);
            } else {
                (0..n).rev().for_each(&mut mark);
            }
        }
        Keep::None => {
            let mut count = vec![0u8; groups];
            for &g in &labels {
                let c = &mut count[g as usize];
                *c = c.saturating_add(1);
            }
            out.par_iter_mut()
                .zip(labels.par_iter())
                .for_each(|(o, &g)| *o = count[g as usize] > 1);
        }
    }
    Ok(out)
}

/// The kernel: the mask as column `dup` (uint8, 1 for a duplicate, so that NumPy views it as
/// bool without a copy).
pub fn duplicated_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let columns = match input_columns(&batch, &opts.refs, "c", opts.columns) {
        Ok(c) => c,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let mask = match duplicated(&columns, opts.keep) {
        Ok(m) => m,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let rows = mask.len();
    let values: Vec<u8> = mask.into_par_iter().map(u8::from).collect();
    let result = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("dup", DataType::UInt8, false)])),
        vec![Arc::new(UInt8Array::from(values)) as ArrayRef],
    )
    .expect("one column");
    let bytes = write_ipc_file(&result, out)?;
    Ok(Outcome::Ok {
        rows,
        cols: 1,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, LargeStringArray, StringArray};

    /// The mask by definition: a row is a duplicate when an equal tuple occurs before it
    /// (first), after it (last), or anywhere else (none); `eq` compares two rows.
    fn naive<F: Fn(usize, usize) -> bool>(n: usize, keep: Keep, eq: F) -> Vec<bool> {
        (0..n)
            .map(|i| match keep {
                Keep::First => (0..i).any(|j| eq(i, j)),
                Keep::Last => (i + 1..n).any(|j| eq(i, j)),
                Keep::None => (0..n).any(|j| j != i && eq(i, j)),
            })
            .collect()
    }

    /// pandas' equality of two float keys: NaN equals NaN, -0.0 equals 0.0.
    fn float_eq(a: Option<f64>, b: Option<f64>) -> bool {
        let missing = |x: Option<f64>| x.is_none_or(f64::is_nan);
        if missing(a) || missing(b) {
            return missing(a) && missing(b);
        }
        a == b
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, k: u64) -> u64 {
            self.next() % k
        }
    }

    #[test]
    fn random_frames_match_the_definition() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let floats = [
            0.0,
            -0.0,
            1.5,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            1e-300,
            -2.0,
        ];
        let words = [
            "",
            "a",
            "A",
            "é",
            "e\u{301}",
            "😀",
            "a long string past the inline cut",
        ];
        for case in 0..200 {
            let n = rng.below(60) as usize;
            let spread = 1 + rng.below(6);
            let ints: Vec<i64> = (0..n)
                .map(|_| [i64::MIN, -1, 0, 7, i64::MAX][rng.below(spread.min(5)) as usize])
                .collect();
            let fl: Vec<Option<f64>> = (0..n)
                .map(|_| (rng.below(9) > 0).then(|| floats[rng.below(spread.min(8)) as usize]))
                .collect();
            let st: Vec<Option<&str>> = (0..n)
                .map(|_| (rng.below(7) > 0).then(|| words[rng.below(spread.min(7)) as usize]))
                .collect();
            let all: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(ints.clone())),
                Arc::new(Float64Array::from(fl.clone())),
                if case % 2 == 0 {
                    Arc::new(StringArray::from(st.clone()))
                } else {
                    Arc::new(LargeStringArray::from(st.clone()))
                },
            ];
            for pick in [vec![0, 1], vec![1, 2], vec![0, 2], vec![2, 0, 1], vec![1]] {
                let cols: Vec<ArrayRef> = pick.iter().map(|&k| all[k].clone()).collect();
                let eq = |i: usize, j: usize| {
                    pick.iter().all(|&k| match k {
                        0 => ints[i] == ints[j],
                        1 => float_eq(fl[i], fl[j]),
                        _ => st[i] == st[j],
                    })
                };
                for keep in [Keep::First, Keep::Last, Keep::None] {
                    if n == 0 {
                        assert_eq!(duplicated(&cols, keep), Ok(vec![]));
                        continue;
                    }
                    assert_eq!(
                        duplicated(&cols, keep).unwrap(),
                        naive(n, keep, eq),
                        "case {case}, columns {pick:?}, {keep:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn many_high_cardinality_columns_are_combined_in_steps() {
        // five columns of ~2^16 distinct values each: their product overflows 64 bits
        let n = 200_000usize;
        let mut rng = Rng(42);
        let rows: Vec<Vec<i64>> = (0..5)
            .map(|_| {
                (0..n)
                    .map(|_| rng.below(1 << 16) as i64 * 1_000_003)
                    .collect()
            })
            .collect();
        // a few exact copies of earlier rows
        let mut rows = rows;
        for k in 0..50 {
            let (from, to) = (k * 7, n - 1 - k * 13);
            for col in rows.iter_mut() {
                col[to] = col[from];
            }
        }
        let cols: Vec<ArrayRef> = rows
            .iter()
            .map(|c| Arc::new(Int64Array::from(c.clone())) as ArrayRef)
            .collect();
        let got = duplicated(&cols, Keep::First).unwrap();
        let mut seen = std::collections::HashSet::new();
        let want: Vec<bool> = (0..n)
            .map(|i| !seen.insert(rows.iter().map(|c| c[i]).collect::<Vec<_>>()))
            .collect();
        assert_eq!(got, want);
        assert!(got.iter().filter(|&&d| d).count() >= 50);
    }

    #[test]
    fn unsupported_and_mismatched_columns_are_declined() {
        let b: ArrayRef = Arc::new(arrow_array::BooleanArray::from(vec![true, false]));
        assert!(duplicated(&[b], Keep::First).is_err());
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let c: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        assert!(duplicated(&[a, c], Keep::First).is_err());
        assert!(duplicated(&[], Keep::First).is_err());
    }
}
