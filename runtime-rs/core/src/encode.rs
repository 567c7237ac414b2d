//! scikit-learn's categorical encoders on string columns (`_BaseEncoder._fit` / `_transform`,
//! shared by OneHotEncoder, OrdinalEncoder and TargetEncoder), exactly.
//!
//! - fit (`categories="auto"`): per column, the distinct values sorted as Python sorts `str`
//!   (by code point, which is the byte order of UTF-8): `_unique_python`'s `sorted(set(values))`.
//! - transform: per column, each value's index among the categories (`_encode`), and whether it
//!   is one of them (`_check_unknown`'s mask); an unknown value gets code 0, as scikit-learn
//!   encodes it after writing `categories_[i][0]` over it.
//!
//! Missing values are not handled here (the shim leaves them to scikit-learn, which sorts None
//! and NaN after the strings).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int64Array, LargeStringArray, RecordBatch, UInt32Array,
};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::csv::Outcome;
use crate::error::Result;
use crate::ipc::{input_column, kernel_input, write_ipc_file, ColumnRef};

/// FNV-1a over the bytes of a string key (short categorical values).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<Fnv>>;

/// A string column of the input, whatever its offset width.
enum Strings<'a> {
    Small(&'a arrow_array::StringArray),
    Large(&'a LargeStringArray),
}

impl<'a> Strings<'a> {
    fn of(col: &'a ArrayRef) -> std::result::Result<Strings<'a>, String> {
        if col.null_count() > 0 {
            return Err("missing values".into());
        }
        match col.data_type() {
            DataType::Utf8 => Ok(Strings::Small(col.as_string::<i32>())),
            DataType::LargeUtf8 => Ok(Strings::Large(col.as_string::<i64>())),
            other => Err(format!("a column of type {other} (strings only)")),
        }
    }

    fn len(&self) -> usize {
        match self {
            Strings::Small(a) => a.len(),
            Strings::Large(a) => a.len(),
        }
    }

    #[inline]
    fn value(&self, i: usize) -> &'a str {
        match self {
            Strings::Small(a) => a.value(i),
            Strings::Large(a) => a.value(i),
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct Options {
    /// the category lists of a transform
    #[serde(default)]
    categories: Option<Vec<Vec<String>>>,
    /// columns passed by reference into store files (`bridge.column_ref`)
    #[serde(default)]
    refs: HashMap<String, ColumnRef>,
}

/// The options and the columns `c0, c1, ...` of the input (in the one record batch the shim
/// writes, or referenced in the options), all of the same length; `Ok(Err(reason))` declines.
fn input_columns(
    input: &Path,
    options_json: &str,
) -> Result<std::result::Result<(Options, Vec<ArrayRef>), String>> {
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Err(why)),
    };
    let mut cols = Vec::new();
    loop {
        match input_column(&batch, &opts.refs, &format!("c{}", cols.len())) {
            Ok(Some(c)) => cols.push(c),
            Ok(None) => break,
            Err(why) => return Ok(Err(why)),
        }
    }
    if cols.iter().any(|c| c.len() != cols[0].len()) {
        return Ok(Err("columns of different lengths".into()));
    }
    Ok(Ok((opts, cols)))
}

/// The sorted distinct values of one column.
fn categories(col: &Strings) -> Vec<String> {
    const CHUNK: usize = 1 << 16;
    let n = col.len();
    let sets: Vec<FastSet<&str>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut s = FastSet::default();
            for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                s.insert(col.value(i));
            }
            s
        })
        .collect();
    let mut all: FastSet<&str> = FastSet::default();
    for s in sets {
        all.extend(s);
    }
    let mut cats: Vec<String> = all.into_iter().map(str::to_owned).collect();
    cats.sort_unstable(); // byte order of UTF-8 == code point order == Python's str order
    cats
}

/// Codes and validity of one column against its categories.
fn encode_column(col: &Strings, cats: &[String]) -> (Vec<i64>, Vec<bool>) {
    let index: FastMap<&str, i64> = cats
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as i64))
        .collect();
    (0..col.len())
        .into_par_iter()
        .map(|i| match index.get(col.value(i)) {
            Some(&code) => (code, true),
            None => (0, false),
        })
        .unzip()
}

/// Fit: input = the string columns (no nulls); result = `feature` (uint32), `category` (the
/// sorted distinct values of that feature), one row per category.
pub fn encode_fit_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let arrays = match input_columns(input, options_json)? {
        Ok((_, a)) => a,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let cols: Vec<Strings> = match arrays.iter().map(Strings::of).collect() {
        Ok(c) => c,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let per_feature: Vec<Vec<String>> = cols.par_iter().map(categories).collect();
    let mut feature = Vec::new();
    let mut category = Vec::new();
    for (f, cats) in per_feature.iter().enumerate() {
        for c in cats {
            feature.push(f as u32);
            category.push(c.as_str());
        }
    }
    let result = RecordBatch::try_from_iter([
        ("feature", Arc::new(UInt32Array::from(feature)) as ArrayRef),
        (
            "category",
            Arc::new(LargeStringArray::from(category)) as ArrayRef,
        ),
    ])
    .expect("two columns of one length");
    let bytes = write_ipc_file(&result, out)?;
    Ok(Outcome::Ok {
        rows: arrays.first().map_or(0, |a| a.len()),
        cols: arrays.len(),
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Transform: input = the string columns (no nulls); options `{"categories": [[str...]...]}`
/// (one sorted list per column); result = `codes` (int64) and `valid` (bool), `rows x cols`
/// values in C order (X_int and X_mask of `_transform`).
pub fn encode_transform_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (cats, arrays) = match input_columns(input, options_json)? {
        Ok((
            Options {
                categories: Some(c),
                ..
            },
            a,
        )) => (c, a),
        Ok(_) => return Ok(Outcome::Declined("options need categories: [[str]]".into())),
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let cols: Vec<Strings> = match arrays.iter().map(Strings::of).collect() {
        Ok(c) => c,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    if cols.len() != cats.len() {
        return Ok(Outcome::Declined(format!(
            "{} columns for {} category lists",
            cols.len(),
            cats.len()
        )));
    }
    let (rows, k) = (arrays.first().map_or(0, |a| a.len()), cols.len());
    let encoded: Vec<(Vec<i64>, Vec<bool>)> = cols
        .par_iter()
        .zip(cats.par_iter())
        .map(|(col, c)| encode_column(col, c))
        .collect();
    let mut codes = vec![0i64; rows * k];
    let mut valid = vec![false; rows * k];
    for (j, (c, v)) in encoded.iter().enumerate() {
        for r in 0..rows {
            codes[r * k + j] = c[r];
            valid[r * k + j] = v[r];
        }
    }
    let result = RecordBatch::try_from_iter([
        ("codes", Arc::new(Int64Array::from(codes)) as ArrayRef),
        ("valid", Arc::new(BooleanArray::from(valid)) as ArrayRef),
    ])
    .expect("two columns of one length");
    let bytes = write_ipc_file(&result, out)?;
    Ok(Outcome::Ok {
        rows,
        cols: k,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(values: &[&str]) -> ArrayRef {
        Arc::new(LargeStringArray::from(values.to_vec()))
    }

    #[test]
    fn categories_sort_as_python() {
        let a = col(&["b", "a", "é", "B", "a", "", "z", "ä", "😀"]);
        let s = Strings::of(&a).unwrap();
        // Python: sorted({"b","a","é","B","","z","ä","😀"})
        assert_eq!(categories(&s), ["", "B", "a", "b", "z", "ä", "é", "😀"]);
    }

    #[test]
    fn codes_and_unknowns() {
        let a = col(&["x", "y", "q", "x"]);
        let s = Strings::of(&a).unwrap();
        let cats = vec!["x".to_string(), "y".to_string()];
        assert_eq!(
            encode_column(&s, &cats),
            (vec![0, 1, 0, 0], vec![true, true, false, true])
        );
    }

    #[test]
    fn nulls_and_other_types_decline() {
        let a: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("a"), None]));
        assert!(Strings::of(&a).is_err());
        let b: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        assert!(Strings::of(&b).is_err());
    }
}
