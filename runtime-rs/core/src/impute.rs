//! `SimpleImputer`'s statistics (`_dense_fit` on a float64 array), bit for bit.
//!
//! scikit-learn computes them on a masked array (`np.ma`), the missing values masked:
//! - `median`: `np.ma.median(X, axis=0)`: the column sorted with the masked values last, the
//!   low and high middle elements of the unmasked ones, summed by `np.ma.sum` (from 0.0, so
//!   zeros of either sign give 0.0) and halved: `((0.0 + low) + high) / 2.0`, also when the
//!   count is odd (low == high: `x + x` can overflow, and NumPy warns: declined);
//! - `most_frequent`: `scipy.stats.mode` of the unmasked values (the smallest of the most
//!   frequent);
//! - `mean`: `X.filled(0).sum(axis=0) * 1. / count`. NumPy sums along axis 0 pairwise when the
//!   column is contiguous in memory (Fortran order, or a single column) and one row after the
//!   other when it is not (C order): the kernel takes the layout and sums the same way, with the
//!   masked values as 0.0.
//!
//! A column with no unmasked value gives NaN (scikit-learn then writes NaN or 0). Declined:
//! an unmasked NaN (scikit-learn validates them away), a sum that overflows (NumPy warns, and
//! np.ma masks an infinite mean), and a mode at a zero when the column holds both 0.0 and -0.0
//! (which one NumPy's unstable sort puts first is not defined). A mean whose quotient np.ma's
//! safe division masks (`|sum| * tiny >= count`) is NaN, as there.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch};
use rayon::prelude::*;

use crate::csv::Outcome;
use crate::error::Result;
use crate::ipc::{input_columns, read_ipc_file, write_ipc_file, ColumnRef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Mean,
    Median,
    MostFrequent,
}

/// How the `rows x cols` values lie in memory: `C` (row after row) or `F` (column after column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    C,
    F,
}

/// Which values are missing: NaN, or those equal to a number (as `X == value`: 0.0 also masks
/// -0.0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Missing {
    Nan,
    Value(f64),
}

impl Missing {
    #[inline]
    fn is(&self, x: f64) -> bool {
        match *self {
            Missing::Nan => x.is_nan(),
            Missing::Value(v) => x == v,
        }
    }
}

/// One statistic per column of `x` (`rows x cols` in `order`); `Err` is the reason to decline.
pub fn impute_stats(
    x: &[f64],
    rows: usize,
    cols: usize,
    order: Order,
    missing: Missing,
    strategy: Strategy,
) -> std::result::Result<Vec<f64>, String> {
    let columns = columns_of(x, rows, cols, order)?; // (checks the sizes)
    if cols == 0 {
        return Ok(Vec::new());
    }
    if strategy == Strategy::Mean && order == Order::C && cols > 1 {
        return finite(mean_by_rows(x, rows, cols, missing));
    }
    impute_columns(&columns, missing, strategy)
}

/// One statistic per column (each contiguous, or a column of a C-ordered array for the median
/// and the mode); `Err` is the reason to decline.
fn impute_columns(
    columns: &[Column],
    missing: Missing,
    strategy: Strategy,
) -> std::result::Result<Vec<f64>, String> {
    let stats = columns
        .par_iter()
        .map(|column| match strategy {
            Strategy::Mean => Ok(mean_of_contiguous(column.contiguous(), missing)),
            Strategy::Median => Ok(median(column.unmasked_keys(missing)?)),
            Strategy::MostFrequent => most_frequent(column, missing),
        })
        .collect::<std::result::Result<Vec<f64>, String>>()?;
    finite(stats)
}

/// NaN marks a column without values; an infinite statistic means a sum overflowed (NumPy
/// warns "overflow encountered"): declined.
fn finite(stats: Vec<f64>) -> std::result::Result<Vec<f64>, String> {
    if stats.iter().any(|s| s.is_infinite()) {
        return Err("a sum overflows (NumPy warns)".into());
    }
    Ok(stats)
}

pub(crate) struct Column<'a> {
    pub(crate) x: &'a [f64],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) order: Order,
    pub(crate) j: usize,
}

impl Column<'_> {
    pub(crate) fn contiguous(&self) -> &[f64] {
        match self.order {
            Order::F => &self.x[self.j * self.rows..(self.j + 1) * self.rows],
            Order::C => {
                debug_assert_eq!(self.cols, 1);
                self.x
            }
        }
    }

    pub(crate) fn get(&self, i: usize) -> f64 {
        match self.order {
            Order::F => self.x[self.j * self.rows + i],
            Order::C => self.x[i * self.cols + self.j],
        }
    }

    /// The unmasked values as order-preserving keys (-0.0 as 0.0); an unmasked NaN declines.
    pub(crate) fn unmasked_keys(&self, missing: Missing) -> std::result::Result<Vec<u64>, String> {
        if self.order == Order::F || self.cols == 1 {
            let col = self.contiguous();
            if col.par_iter().any(|v| v.is_nan() && !missing.is(*v)) {
                return Err("an unmasked NaN (missing_values is a number)".into());
            }
            return Ok(col
                .par_iter()
                .filter(|v| !missing.is(**v))
                .map(|v| key(*v))
                .collect());
        }
        let mut out = Vec::with_capacity(self.rows);
        for i in 0..self.rows {
            let v = self.get(i);
            if missing.is(v) {
                continue;
            }
            if v.is_nan() {
                return Err("an unmasked NaN (missing_values is a number)".into());
            }
            out.push(key(v));
        }
        Ok(out)
    }
}

/// The columns of `x` (`rows x cols` in `order`); `Err` when the sizes do not match.
pub(crate) fn columns_of(
    x: &[f64],
    rows: usize,
    cols: usize,
    order: Order,
) -> std::result::Result<Vec<Column<'_>>, String> {
    if rows.checked_mul(cols) != Some(x.len()) {
        return Err(format!("{} values are not {rows} x {cols}", x.len()));
    }
    Ok((0..cols)
        .map(|j| Column {
            x,
            rows,
            cols,
            order,
            j,
        })
        .collect())
}

/// The float64 arrays of a statistics kernel's input (`impute_stats`, `scale_stats`): one
/// column `x` (`rows x cols` values in `order`; `true` with it), or in F order the columns `c0`
/// .. each in the batch or referenced in a store file (a frame's own columns, not written
/// again: `bridge.column_ref`). `Err` is the reason to decline: a missing column, another type,
/// nulls.
pub(crate) fn input_values(
    batch: &RecordBatch,
    refs: &HashMap<String, ColumnRef>,
    cols: usize,
    order: Order,
) -> std::result::Result<(Vec<ArrayRef>, bool), String> {
    let (arrays, whole) = if let Some(x) = batch.column_by_name("x") {
        (vec![x.clone()], true)
    } else if order == Order::F {
        (input_columns(batch, refs, "c", cols)?, false)
    } else {
        return Err("the input needs a column x".into());
    };
    for a in &arrays {
        match a.as_primitive_opt::<Float64Type>() {
            Some(f) if f.null_count() == 0 => {}
            _ => return Err("the values must be float64 without nulls".into()),
        }
    }
    Ok((arrays, whole))
}

/// The columns of [`input_values`]' arrays: of the one `x`, or one column per array.
pub(crate) fn value_columns(
    arrays: &[ArrayRef],
    whole: bool,
    rows: usize,
    cols: usize,
    order: Order,
) -> std::result::Result<Vec<Column<'_>>, String> {
    let values = arrays
        .iter()
        .map(|a| a.as_primitive::<Float64Type>().values().as_ref());
    if whole {
        let x: &[f64] = values.clone().next().ok_or("no column x")?;
        return columns_of(x, rows, cols, order);
    }
    let columns: Vec<Column> = values
        .map(|x| Column {
            x,
            rows,
            cols: 1,
            order: Order::F,
            j: 0,
        })
        .collect();
    if columns.len() != cols || columns.iter().any(|c| c.x.len() != rows) {
        return Err(format!("the columns are not {cols} of {rows} values"));
    }
    Ok(columns)
}

/// An order-preserving integer key of a non-NaN float, with -0.0 and 0.0 equal.
#[inline]
pub(crate) fn key(x: f64) -> u64 {
    let b = (x + 0.0).to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

#[inline]
pub(crate) fn unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// `filled(0)`: masked values count as 0.0.
#[inline]
fn filled(v: f64, missing: Missing) -> f64 {
    if missing.is(v) {
        0.0
    } else {
        v
    }
}

fn mean_of_contiguous(col: &[f64], missing: Missing) -> f64 {
    let count = col.par_iter().filter(|v| !missing.is(**v)).count();
    if count == 0 {
        return f64::NAN;
    }
    // the reduction starts from NumPy's identity 0.0 (only the sign of a zero sum shows it)
    let sum = 0.0 + pairwise_sum_by(col.len(), &|i| filled(col[i], missing));
    if !sum.is_finite() {
        return f64::INFINITY; // overflowed (inf, or inf - inf): declined
    }
    masked_divide(sum * 1.0, count)
}

/// NumPy's pairwise summation (`DOUBLE_pairwise_sum`) of `f(0) .. f(n - 1)` without
/// materialising them; the two halves of large blocks run in parallel (the grouping, and so the
/// result, is the same). `T` is `f64`, or several sums taken in one pass with the same grouping
/// each (`T::default()` is 0.0 in each).
pub(crate) fn pairwise_sum_by<T, F>(n: usize, f: &F) -> T
where
    T: Copy + Default + std::ops::Add<Output = T> + Send,
    F: Fn(usize) -> T + Sync,
{
    fn go<T, F>(start: usize, n: usize, f: &F) -> T
    where
        T: Copy + Default + std::ops::Add<Output = T> + Send,
        F: Fn(usize) -> T + Sync,
    {
        if n < 8 {
            let mut res = T::default();
            for i in start..start + n {
                res = res + f(i);
            }
            res
        } else if n <= 128 {
            let mut r = [T::default(); 8];
            for (j, rj) in r.iter_mut().enumerate() {
                *rj = f(start + j);
            }
            let whole = n - n % 8;
            let mut i = 8;
            while i < whole {
                for (j, rj) in r.iter_mut().enumerate() {
                    *rj = *rj + f(start + i + j);
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for i in whole..n {
                res = res + f(start + i);
            }
            res
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            let (a, b) = if n >= 1 << 16 {
                rayon::join(|| go(start, n2, f), || go(start + n2, n - n2, f))
            } else {
                (go(start, n2, f), go(start + n2, n - n2, f))
            };
            a + b
        }
    }
    go(0, n, f)
}

/// Two sums taken in one pass of [`pairwise_sum_by`], each grouped as NumPy groups one.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub(crate) struct Sum2(pub f64, pub f64);

impl std::ops::Add for Sum2 {
    type Output = Sum2;
    #[inline]
    fn add(self, o: Sum2) -> Sum2 {
        Sum2(self.0 + o.0, self.1 + o.1)
    }
}

/// C order, several columns: NumPy adds row after row to 0.0 (per column: the values in
/// order, left to right).
fn mean_by_rows(x: &[f64], rows: usize, cols: usize, missing: Missing) -> Vec<f64> {
    let mut sums = vec![0.0f64; cols];
    let mut counts = vec![0usize; cols];
    for row in x.chunks_exact(cols) {
        for ((s, c), &v) in sums.iter_mut().zip(counts.iter_mut()).zip(row) {
            *s += filled(v, missing);
            *c += usize::from(!missing.is(v));
        }
    }
    if rows == 0 {
        return vec![f64::NAN; cols];
    }
    sums.iter()
        .zip(&counts)
        .map(|(&s, &c)| match c {
            0 => f64::NAN,
            _ if !s.is_finite() => f64::INFINITY, // overflowed: declined
            _ => masked_divide(s * 1.0, c),
        })
        .collect()
}

/// np.ma's division `sum / count`: masked (NaN here) where `|sum| * tiny >= |count|`
/// (`_DomainSafeDivide`: a quotient near or above 1 / tiny), which includes count 0.
fn masked_divide(sum: f64, count: usize) -> f64 {
    let count = count as f64;
    if sum.abs() * f64::MIN_POSITIVE >= count {
        f64::NAN
    } else {
        sum / count
    }
}

fn median(mut keys: Vec<u64>) -> f64 {
    let n = keys.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = n / 2;
    let (left, &mut high, _) = keys.select_nth_unstable(h);
    let low = if n % 2 == 1 {
        high
    } else {
        *left.iter().max().expect("n >= 2")
    };
    // which zero the sort put in the middle does not matter: 0.0 + -0.0 == 0.0
    ((0.0 + unkey(low)) + unkey(high)) / 2.0
}

/// A multiplicative hasher for u64 keys (the bits of a float).
#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = MulHasher::hash_u64(v);
    }
}

impl MulHasher {
    #[inline]
    fn hash_u64(v: u64) -> u64 {
        let m = (v ^ (v >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        m ^ (m >> 32)
    }
}

type Counts = HashMap<u64, usize, BuildHasherDefault<MulHasher>>;

fn most_frequent(column: &Column, missing: Missing) -> std::result::Result<f64, String> {
    let keys = column.unmasked_keys(missing)?;
    if keys.is_empty() {
        return Ok(f64::NAN);
    }
    let mode = unkey(mode_key(&keys));
    if mode == 0.0 {
        let values = (0..column.rows)
            .map(|i| column.get(i))
            .filter(|v| !missing.is(*v));
        let (mut pos, mut neg) = (false, false);
        for v in values.filter(|v| *v == 0.0) {
            if v.is_sign_negative() {
                neg = true;
            } else {
                pos = true;
            }
        }
        if pos && neg {
            return Err("the mode is a zero and the column holds 0.0 and -0.0".into());
        }
        return Ok(if neg { -0.0 } else { 0.0 }); // the zero as it appears in the column
    }
    Ok(mode)
}

/// Hash partitions of `mode_key`: enough that a partition's distinct keys fit in cache.
const MODE_PARTS: usize = 256;

/// The most frequent of `keys` (not empty), the smallest of them on a tie (keys are ordered as
/// the values). The keys are split by hash into partitions (each thread its part of the rows),
/// then each partition is counted on its own: equal keys share a partition, so no count tables
/// are merged, and each table stays small. (Tables per chunk of rows merged pairwise cost ~60
/// ms for 4 columns of 900k values with up to 600k distinct; this way ~4x less.)
fn mode_key(keys: &[u64]) -> u64 {
    let most = |a: &(u64, usize), b: &(u64, usize)| a.1.cmp(&b.1).then(b.0.cmp(&a.0));
    if keys.len() < 1 << 16 {
        let mut counts = Counts::default();
        for &k in keys {
            *counts.entry(k).or_insert(0) += 1;
        }
        return counts.into_iter().max_by(most).expect("not empty").0;
    }
    // bits 40..48 of the hash: the tables index with the low bits and tag with the top 7, which
    // stay spread within a partition
    let part = |k: u64| (MulHasher::hash_u64(k) >> 40) as usize % MODE_PARTS;
    let chunk = keys
        .len()
        .div_ceil(rayon::current_num_threads().max(1))
        .max(1 << 14);
    let split: Vec<Vec<Vec<u64>>> = keys
        .par_chunks(chunk)
        .map(|c| {
            let mut parts = vec![Vec::with_capacity(c.len() / MODE_PARTS * 2); MODE_PARTS];
            for &k in c {
                parts[part(k)].push(k);
            }
            parts
        })
        .collect();
    (0..MODE_PARTS)
        .into_par_iter()
        .filter_map(|p| {
            let len = split.iter().map(|s| s[p].len()).sum::<usize>();
            let mut counts = Counts::with_capacity_and_hasher(len, Default::default());
            for k in split.iter().flat_map(|s| &s[p]) {
                *counts.entry(*k).or_insert(0) += 1;
            }
            counts.into_iter().max_by(most)
        })
        .max_by(most)
        .expect("not empty")
        .0
}

/// The IPC face: column `x` (float64, `rows * cols` values in `order`) or, in F order, columns
/// `c0` .. (in the batch or in `refs`), options `{"rows", "cols", "order": "C"|"F", "strategy",
/// "missing": null (NaN) | number, "refs"}`; the result file has one float64 column `stat` with
/// one value per column (NaN: no value).
pub fn impute_stats_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let opts = match Options::parse(options_json) {
        Ok(o) => o,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let batches = read_ipc_file(input)?;
    let [batch] = batches.as_slice() else {
        return Ok(Outcome::Declined(
            "the input must be one record batch".into(),
        ));
    };
    let stats =
        match input_values(batch, &opts.refs, opts.cols, opts.order).and_then(|(a, whole)| {
            if whole {
                let x = a[0].as_primitive::<Float64Type>().values();
                impute_stats(
                    x,
                    opts.rows,
                    opts.cols,
                    opts.order,
                    opts.missing,
                    opts.strategy,
                )
            } else {
                let columns = value_columns(&a, whole, opts.rows, opts.cols, opts.order)?;
                impute_columns(&columns, opts.missing, opts.strategy)
            }
        }) {
            Ok(s) => s,
            Err(why) => return Ok(Outcome::Declined(why)),
        };
    let batch = RecordBatch::try_from_iter([("stat", Arc::new(Float64Array::from(stats)) as _)])
        .expect("one column");
    let bytes = write_ipc_file(&batch, out)?;
    Ok(Outcome::Ok {
        rows: opts.rows,
        cols: opts.cols,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

struct Options {
    rows: usize,
    cols: usize,
    order: Order,
    missing: Missing,
    strategy: Strategy,
    /// columns passed by reference into store files (`bridge.column_ref`)
    refs: HashMap<String, ColumnRef>,
}

impl Options {
    fn parse(json: &str) -> std::result::Result<Options, String> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("bad options: {e}"))?;
        let size = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .ok_or_else(|| format!("{k} must be a count"))
        };
        let order = match v.get("order").and_then(|o| o.as_str()) {
            Some("C") => Order::C,
            Some("F") => Order::F,
            other => return Err(format!("unknown order {other:?}")),
        };
        let strategy = match v.get("strategy").and_then(|s| s.as_str()) {
            Some("mean") => Strategy::Mean,
            Some("median") => Strategy::Median,
            Some("most_frequent") => Strategy::MostFrequent,
            other => return Err(format!("unknown strategy {other:?}")),
        };
        let missing = match v.get("missing") {
            None | Some(serde_json::Value::Null) => Missing::Nan,
            Some(m) => match m.as_f64() {
                Some(f) if f.is_finite() => Missing::Value(f),
                _ => return Err(format!("missing_values {m} is not a finite number")),
            },
        };
        let refs = match v.get("refs") {
            None => HashMap::new(),
            Some(r) => serde_json::from_value(r.clone()).map_err(|e| format!("bad refs: {e}"))?,
        };
        Ok(Options {
            rows: size("rows")?,
            cols: size("cols")?,
            order,
            missing,
            strategy,
            refs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::pairwise_sum;

    #[test]
    fn pairwise_by_matches_pairwise_on_large_arrays() {
        // the parallel halves (>= 2^16) keep NumPy's grouping
        let a: Vec<f64> = (0..300_001u64)
            .map(|i| {
                ((i * 2654435761) % 1000003) as f64 * 1e-3 * if i % 3 == 0 { 1e9 } else { 1.0 }
            })
            .collect();
        // the parallel split gives the sequential recursion's grouping: halves at multiples of 8
        let (n, mut n2) = (a.len(), a.len() / 2);
        n2 -= n2 % 8;
        let halves = pairwise_sum_by(n2, &|i| a[i]) + pairwise_sum_by(n - n2, &|i| a[n2 + i]);
        assert_eq!(pairwise_sum(&a), halves);
        assert_ne!(pairwise_sum(&a), a.iter().sum::<f64>());
    }

    const NAN: f64 = f64::NAN;

    fn stats(x: &[f64], rows: usize, cols: usize, order: Order, s: Strategy) -> Vec<f64> {
        impute_stats(x, rows, cols, order, Missing::Nan, s).unwrap()
    }

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn medians() {
        // columns [1, NaN, 3, 2] and [NaN, NaN, NaN, NaN] in F order
        let x = [1.0, NAN, 3.0, 2.0, NAN, NAN, NAN, NAN];
        assert!(same(
            &stats(&x, 4, 2, Order::F, Strategy::Median),
            &[2.0, NAN]
        ));
        // even count: the mean of the middle two; C order
        let x = [4.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 5.0];
        assert!(same(
            &stats(&x, 4, 2, Order::C, Strategy::Median),
            &[2.5, 2.5]
        ));
        // an odd count at a huge value: x + x overflows in NumPy (with a warning): declined
        let big = f64::MAX;
        let declined = |x: &[f64], rows, cols, order, s| {
            impute_stats(x, rows, cols, order, Missing::Nan, s).is_err()
        };
        assert!(declined(&[big, big, 1.0], 3, 1, Order::C, Strategy::Median));
        assert!(declined(&[big, big], 2, 1, Order::F, Strategy::Mean));
        assert!(declined(
            &[big, 1.0, big, 1.0],
            2,
            2,
            Order::C,
            Strategy::Mean
        ));
        // a mean near 1 / tiny is masked by np.ma's safe division (NaN: no statistic)
        assert!(stats(&[-big, 1.0, 1.0], 3, 1, Order::F, Strategy::Mean)[0].is_nan());
        let x = [-big, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(stats(&x, 5, 1, Order::F, Strategy::Mean)[0], -big / 5.0);
        // signed zeros: the sum from 0.0 makes any middle zero 0.0
        assert!(same(
            &stats(&[0.0, -0.0, 1.0], 3, 1, Order::C, Strategy::Median),
            &[0.0]
        ));
        assert!(same(
            &stats(&[-0.0, -0.0, 1.0], 3, 1, Order::C, Strategy::Median),
            &[0.0]
        ));
        assert!(same(
            &stats(
                &[0.0, -0.0, 1.0, 2.0, 3.0],
                5,
                1,
                Order::C,
                Strategy::Median
            ),
            &[1.0]
        ));
    }

    #[test]
    fn modes() {
        let x = [3.0, 1.0, 3.0, 1.0, 2.0, NAN, NAN];
        assert_eq!(stats(&x, 7, 1, Order::F, Strategy::MostFrequent), [1.0]); // tie: the smallest
        assert!(same(
            &stats(&[-0.0, -0.0, 5.0], 3, 1, Order::C, Strategy::MostFrequent),
            &[-0.0]
        ));
        assert!(impute_stats(
            &[-0.0, 0.0, 5.0],
            3,
            1,
            Order::C,
            Missing::Nan,
            Strategy::MostFrequent
        )
        .is_err());
        assert!(same(
            &stats(&[NAN], 1, 1, Order::C, Strategy::MostFrequent),
            &[NAN]
        ));
    }

    #[test]
    fn columns_give_what_one_f_ordered_x_gives() {
        let dir = std::env::temp_dir().join(format!("stratum-impute-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = 3000;
        let col = |j: usize| -> Vec<f64> {
            (0..rows)
                .map(|i| match (i * 7 + j) % 11 {
                    0 => NAN,
                    k => (k * (j + 1)) as f64 * 0.5 - 2.0,
                })
                .collect()
        };
        let x: Vec<f64> = (0..3).flat_map(col).collect();
        let whole =
            RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(x)) as _)]).unwrap();
        let parts = RecordBatch::try_from_iter((0..3).map(|j| {
            (
                format!("c{j}"),
                Arc::new(Float64Array::from(col(j))) as ArrayRef,
            )
        }))
        .unwrap();
        for strategy in ["mean", "median", "most_frequent"] {
            let opts =
                format!(r#"{{"rows": {rows}, "cols": 3, "order": "F", "strategy": "{strategy}"}}"#);
            let mut got = Vec::new();
            for (name, batch) in [("whole", &whole), ("parts", &parts)] {
                let input = dir.join(format!("{name}.arrow"));
                let out = dir.join(format!("{name}-{strategy}.out.arrow"));
                write_ipc_file(batch, &input).unwrap();
                let r = impute_stats_ipc(&input, &opts, &out).unwrap();
                assert!(matches!(r, Outcome::Ok { .. }), "{strategy} {name}: {r:?}");
                let b = read_ipc_file(&out).unwrap().remove(0);
                got.push(b.column(0).as_primitive::<Float64Type>().values().to_vec());
            }
            assert!(same(&got[0], &got[1]), "{strategy}: {got:?}");
        }
        // a missing column declines
        let input = dir.join("short.arrow");
        write_ipc_file(&parts, &input).unwrap();
        let opts = format!(r#"{{"rows": {rows}, "cols": 4, "order": "F", "strategy": "mean"}}"#);
        let r = impute_stats_ipc(&input, &opts, &dir.join("short.out.arrow")).unwrap();
        assert!(
            matches!(r, Outcome::Declined(ref why) if why.contains("c3")),
            "{r:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mode_of_many_keys_matches_a_sorted_count() {
        // few to nearly all distinct, ties broken by the smallest key
        let mut next = crate::xorshift(7u64);
        for (n, distinct) in [
            (1usize, 1u64),
            (5, 5),
            (1000, 3),
            (50_000, 700),
            (300_000, 250_000),
            (900_000, 600_000),
        ] {
            let keys: Vec<u64> = (0..n)
                .map(|_| key((next() % distinct) as f64 - 3.0))
                .collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            let (mut best, mut best_n, mut i) = (0u64, 0usize, 0usize);
            while i < sorted.len() {
                let j = sorted[i..].partition_point(|&k| k == sorted[i]) + i;
                if j - i > best_n {
                    (best, best_n) = (sorted[i], j - i);
                }
                i = j;
            }
            let t = std::time::Instant::now();
            assert_eq!(mode_key(&keys), best, "{n} keys, {distinct} distinct");
            eprintln!("mode of {n} keys ({distinct} distinct): {:?}", t.elapsed());
        }
    }

    #[test]
    fn means_follow_numpy_summation_order() {
        // a contiguous column is summed pairwise, rows of a C array one after the other
        let col: Vec<f64> = (0..300)
            .map(|i| {
                if i % 7 == 0 {
                    1e16
                } else {
                    1.0 + i as f64 * 1e-3
                }
            })
            .collect();
        let pw = stats(&col, 300, 1, Order::C, Strategy::Mean)[0];
        assert_eq!(pw, pairwise_sum(&col) / 300.0);
        let mut c = Vec::new();
        for v in &col {
            c.extend([*v, 0.0]);
        }
        let seq = stats(&c, 300, 2, Order::C, Strategy::Mean)[0];
        assert_eq!(seq, col.iter().fold(0.0, |s, v| s + v) / 300.0);
        assert_ne!(pw, seq);
        // masked values count as +0.0: [-0.0, NaN] sums to 0.0
        assert!(same(
            &stats(&[-0.0, NAN], 2, 1, Order::F, Strategy::Mean),
            &[0.0]
        ));
        // sums start from 0.0 (NumPy's identity), in both orders
        assert!(same(
            &stats(&[-0.0, -0.0], 2, 1, Order::F, Strategy::Mean),
            &[0.0]
        ));
        assert!(same(
            &stats(&[-0.0; 16], 16, 1, Order::F, Strategy::Mean),
            &[0.0]
        ));
        assert!(same(
            &stats(&[-0.0; 4], 2, 2, Order::C, Strategy::Mean),
            &[0.0, 0.0]
        ));
        assert!(same(
            &stats(&[NAN, NAN, NAN, NAN], 2, 2, Order::C, Strategy::Mean),
            &[NAN, NAN]
        ));
    }

    #[test]
    fn a_missing_number() {
        let x = [-1.0, 4.0, 2.0, -1.0];
        let m = impute_stats(&x, 4, 1, Order::C, Missing::Value(-1.0), Strategy::Median).unwrap();
        assert_eq!(m, [3.0]);
        assert!(impute_stats(
            &[NAN, 1.0],
            2,
            1,
            Order::C,
            Missing::Value(0.0),
            Strategy::Median
        )
        .is_err());
        assert!(impute_stats(
            &[1.0, 2.0, 3.0],
            2,
            1,
            Order::C,
            Missing::Nan,
            Strategy::Median
        )
        .is_err());
    }
}
