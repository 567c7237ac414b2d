//! Scalers' statistics on a dense float64 array, bit for bit: `RobustScaler`'s medians and
//! percentiles, and the reductions of `StandardScaler`'s `_incremental_mean_and_var`.
//!
//! RobustScaler:
//! scikit-learn computes `center_ = np.nanmedian(X, axis=0)` and, per column,
//! `np.nanpercentile(X[:, j], quantile_range)`. Both drop the NaNs of a column and read order
//! statistics of what is left (NumPy partitions, which puts each requested element where a sort
//! would), then do a little float arithmetic the kernel repeats operation for operation:
//! - median (`np.median` of the `n` values, `n >= 600` rows: `apply_along_axis`): the mean of
//!   the middle element (odd `n`: `0.0 + m`, NumPy's sum starts from 0.0) or of the two middle
//!   ones (`((0.0 + low) + high) / 2.0`);
//! - percentile `p` (method "linear"): `q = p / 100`, virtual index `v = (n - 1) * q`,
//!   `previous = floor(v)`, `next = previous + 1` (both the last element, and `previous = -1`
//!   for the weight, when `v >= n - 1`), `gamma = v - previous`, and NumPy's `_lerp`:
//!   `a + (b - a) * gamma`, or `b - (b - a) * (1 - gamma)` where `gamma >= 0.5`.
//!
//! Declined: a column without values (NumPy warns "All-NaN slice"), any infinite intermediate
//! (NumPy warns about the overflow), and a statistic that depends on the sign of a zero it reads
//! when the column holds both 0.0 and -0.0 (which of them NumPy's partition puts at a position
//! is not defined; the kernel tries both and declines only if the results differ: a median never
//! does, since its sum starts from 0.0).
//!
//! StandardScaler (`_incremental_mean_and_var` without weights): per column the sum of the
//! values (NaN as 0.0: `np.where(isnan, 0, X)`), their count, then with `T = sum / count` the
//! sums of `X - T` (the "correction") and of `(X - T) ** 2` (`x * x`), each summed in NumPy's order
//! for the layout: pairwise (`DOUBLE_pairwise_sum`) down a contiguous column (F order, or one
//! column), one row after the other from 0.0 for a C-ordered array of several columns. The few
//! per-column operations after these sums are NumPy's, in the shim. Declined: a column without
//! values (NumPy warns dividing by its zero count) and any infinite result (an overflow NumPy
//! warns about).
//!
//! MinMaxScaler (`minmax_stats`, kernel `minmax_stats`): `np.nanmin` / `np.nanmax` along axis 0,
//! i.e. `np.fmin.reduce` / `np.fmax.reduce`. A minimum or maximum is one of the values, whatever
//! the order of comparison, so blocks of rows are folded in parallel and merged. Two things do
//! depend on NumPy's order, and are declined: a zero extreme when the column holds both 0.0 and
//! -0.0 (NumPy's SIMD reductions return either, depending on the layout and positions), and a
//! column without values whose NaN are not all the same bits (a column of one NaN gives it back
//! as it is, the shim has NumPy warn "All-NaN slice encountered" for it).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, Float64Array, RecordBatch};
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::impute::{
    columns_of, input_values, key, pairwise_sum_by, unkey, value_columns, Column, Order, Sum2,
};
use crate::ipc::{kernel_input, write_ipc_file, ColumnRef};

/// Per column: the median (NaN when not asked for) and the percentiles, in the order asked.
pub struct RobustStats {
    pub median: Vec<f64>,
    /// `cols x percentiles.len()`, row after row
    pub quantiles: Vec<f64>,
}

/// `RobustScaler.fit`'s statistics of `x` (`rows x cols` in `order`, NaN = missing); `Err` is
/// the reason to decline.
pub fn robust_stats(
    x: &[f64],
    rows: usize,
    cols: usize,
    order: Order,
    median: bool,
    percentiles: &[f64],
) -> std::result::Result<RobustStats, String> {
    robust_columns(&columns_of(x, rows, cols, order)?, median, percentiles)
}

/// [`robust_stats`] of columns given one by one (each may lie anywhere).
fn robust_columns(
    columns: &[Column],
    median: bool,
    percentiles: &[f64],
) -> std::result::Result<RobustStats, String> {
    if let Some(p) = percentiles.iter().find(|p| !(0.0..=100.0).contains(*p)) {
        return Err(format!("percentile {p} outside [0, 100]"));
    }
    let per_column = columns
        .par_iter()
        .enumerate()
        .map(|(j, column)| column_stats(j, column, median, percentiles))
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let mut out = RobustStats {
        median: Vec::with_capacity(columns.len()),
        quantiles: Vec::with_capacity(columns.len() * percentiles.len()),
    };
    for (m, q) in per_column {
        out.median.push(m);
        out.quantiles.extend(q);
    }
    Ok(out)
}

fn column_stats(
    j: usize,
    column: &Column,
    median: bool,
    percentiles: &[f64],
) -> std::result::Result<(f64, Vec<f64>), String> {
    let hist = histogram(column);
    let (n, neg_zero, pos_zero) = (hist.n, hist.neg_zero, hist.pos_zero);
    if n == 0 {
        return Err(format!(
            "column {} has no values (NumPy warns: All-NaN slice)",
            j
        ));
    }
    // the positions to read: the median's, then each percentile's two neighbours
    let mut wanted: Vec<usize> = Vec::new();
    if median {
        wanted.extend([(n - 1) / 2, n / 2]);
    }
    let last = (n - 1) as f64;
    let lerps: Vec<(usize, usize, f64)> = percentiles
        .iter()
        .map(|&p| {
            let v = last * (p / 100.0);
            // NumPy's _get_indexes: the weight uses previous = -1 above the bounds, 0 below
            let (prev, next, prev_for_gamma) = if v >= last {
                (n - 1, n - 1, -1.0)
            } else if v < 0.0 {
                (0, 0, 0.0)
            } else {
                let f = v.floor();
                (f as usize, f as usize + 1, f)
            };
            (prev, next, v - prev_for_gamma)
        })
        .collect();
    for &(prev, next, _) in &lerps {
        wanted.extend([prev, next]);
    }
    let values = select(column, &hist, wanted)?;
    // the value at a position: a zero's sign is the partition's choice when both signs occur
    let at = |rank: usize| -> Vec<f64> {
        let v = unkey(values[&rank]);
        match (v == 0.0, neg_zero, pos_zero) {
            (true, true, true) => vec![0.0, -0.0],
            (true, true, false) => vec![-0.0],
            (true, false, _) => vec![0.0],
            _ => vec![v],
        }
    };
    // a statistic of two positions, which must not depend on those choices
    let one = |what: &str,
               a: Vec<f64>,
               b: Vec<f64>,
               f: &dyn Fn(f64, f64) -> std::result::Result<f64, String>|
     -> std::result::Result<f64, String> {
        let mut result: Option<f64> = None;
        for &x in &a {
            for &y in &b {
                let r = f(x, y)?;
                if result.is_some_and(|q| q.to_bits() != r.to_bits()) {
                    return Err(format!(
                        "the {what} of column {} depends on the order of 0.0 and -0.0",
                        j
                    ));
                }
                result = Some(r);
            }
        }
        Ok(result.expect("at least one value each"))
    };
    let center = if !median {
        f64::NAN
    } else {
        let (lo, hi) = if n % 2 == 1 {
            (n / 2, n / 2)
        } else {
            (n / 2 - 1, n / 2)
        };
        one("median", at(lo), at(hi), &|lo, hi| {
            let m = if n % 2 == 1 {
                0.0 + lo
            } else {
                ((0.0 + lo) + hi) / 2.0
            };
            if m.is_infinite() {
                return Err(format!("the median of column {j} overflows (NumPy warns)"));
            }
            Ok(m)
        })?
    };
    let mut quantiles = Vec::with_capacity(lerps.len());
    for (prev, next, gamma) in lerps {
        quantiles.push(one("percentile", at(prev), at(next), &|a, b| {
            let diff = b - a;
            // NumPy computes both branches' products and the first branch for every element
            let low = a + diff * gamma;
            let high_step = diff * (1.0 - gamma);
            let q = if gamma >= 0.5 { b - high_step } else { low };
            if ![diff, low, high_step, q].iter().all(|v| v.is_finite()) {
                return Err(format!(
                    "a percentile of column {j} overflows (NumPy warns)"
                ));
            }
            Ok(q)
        })?);
    }
    Ok((center, quantiles))
}

/// `StandardScaler`'s reductions per column: (sum, count, correction, sum of squares); `Err`
/// is the reason to decline.
pub fn standard_stats(
    x: &[f64],
    rows: usize,
    cols: usize,
    order: Order,
) -> std::result::Result<Vec<[f64; 4]>, String> {
    standard_columns(&columns_of(x, rows, cols, order)?)
}

/// [`standard_stats`] of columns given one by one (each may lie anywhere).
fn standard_columns(columns: &[Column]) -> std::result::Result<Vec<[f64; 4]>, String> {
    let zero_nan = |v: f64| if v.is_nan() { 0.0 } else { v };
    columns
        .par_iter()
        .enumerate()
        .map(|(j, column)| {
            let (rows, strided) = (column.rows, column.order == Order::C && column.cols > 1);
            let (sum, count) = if !strided {
                let col = column.contiguous();
                // the count rides along as a float sum of ones (exact below 2^53)
                let Sum2(sum, count) = pairwise_sum_by(rows, &|i| match col[i] {
                    v if v.is_nan() => Sum2(0.0, 0.0),
                    v => Sum2(v, 1.0),
                });
                (0.0 + sum, count as usize)
            } else {
                let (mut sum, mut count) = (0.0, 0usize);
                for &v in column.x[column.j..].iter().step_by(column.cols) {
                    sum += zero_nan(v);
                    count += usize::from(!v.is_nan());
                }
                (sum, count)
            };
            if count == 0 {
                return Err(format!(
                    "column {j} has no values (NumPy warns dividing by 0)"
                ));
            }
            let t = sum / count as f64;
            let dev = |v: f64| if v.is_nan() { 0.0 } else { v - t };
            let (correction, squares) = if !strided {
                let col = column.contiguous();
                let Sum2(c, q) = pairwise_sum_by(rows, &|i| {
                    let d = dev(col[i]);
                    Sum2(d, d * d)
                });
                (0.0 + c, 0.0 + q)
            } else {
                let (mut c, mut q) = (0.0, 0.0);
                for &v in column.x[column.j..].iter().step_by(column.cols) {
                    let d = dev(v);
                    c += d;
                    q += d * d;
                }
                (c, q)
            };
            if ![sum, t, correction, squares].iter().all(|v| v.is_finite()) {
                return Err(format!("a sum of column {j} overflows (NumPy warns)"));
            }
            Ok([sum, count as f64, correction, squares])
        })
        .collect()
}

/// `MinMaxScaler`'s `np.nanmin(X, axis=0)` and `np.nanmax(X, axis=0)` of `x` (`rows x cols` in
/// `order`): `(mins, maxs)`; `Err` is the reason to decline.
pub fn minmax_stats(
    x: &[f64],
    rows: usize,
    cols: usize,
    order: Order,
) -> std::result::Result<(Vec<f64>, Vec<f64>), String> {
    if rows.checked_mul(cols) != Some(x.len()) {
        return Err(format!("{} values are not {rows} x {cols}", x.len()));
    }
    if rows == 0 {
        return Err("no rows (sklearn raises)".into());
    }
    // blocks of rows in parallel: a C-ordered array's columns interleave, so each block folds
    // all of them at once; an F-ordered one is a run of contiguous columns of width 1
    let chunk = (MINMAX_CHUNK / cols).max(1);
    let ext: Vec<Extremes> = match order {
        Order::C => vec![x
            .par_chunks(chunk * cols)
            .map(|b| Extremes::of(b, cols))
            .reduce_with(Extremes::merge)
            .expect("at least one row")],
        Order::F => (0..cols)
            .into_par_iter()
            .map(|j| {
                x[j * rows..(j + 1) * rows]
                    .par_chunks(MINMAX_CHUNK)
                    .map(|b| Extremes::of(b, 1))
                    .reduce_with(Extremes::merge)
                    .expect("at least one row")
            })
            .collect(),
    };
    let (mut mins, mut maxs) = (Vec::with_capacity(cols), Vec::with_capacity(cols));
    for j in 0..cols {
        let (e, k) = if order == Order::C {
            (&ext[0], j)
        } else {
            (&ext[j], 0)
        };
        let column = Column {
            x,
            rows,
            cols,
            order,
            j,
        };
        let (min, max) = if e.nan[k] as usize == rows {
            // fmin.reduce keeps a NaN as it is; which of several different ones is not defined
            let first = column.get(0).to_bits();
            if first & QUIET_NAN != QUIET_NAN || (1..rows).any(|i| column.get(i).to_bits() != first)
            {
                return Err(format!(
                    "column {j} has no values and NaN of several bit patterns"
                ));
            }
            (f64::from_bits(first), f64::from_bits(first))
        } else {
            (e.min[k], e.max[k])
        };
        if min == 0.0 || max == 0.0 {
            let (mut neg, mut pos) = (false, false);
            for i in 0..rows {
                let b = column.get(i).to_bits();
                neg |= b == NEG_ZERO;
                pos |= b == 0;
            }
            if neg && pos {
                let what = if min == 0.0 { "min" } else { "max" };
                return Err(format!(
                    "the {what} of column {j} depends on the order of 0.0 and -0.0"
                ));
            }
        }
        mins.push(min);
        maxs.push(max);
    }
    Ok((mins, maxs))
}

/// Values per parallel block of [`minmax_stats`] (2 MB).
const MINMAX_CHUNK: usize = 1 << 18;
/// The exponent and the quiet bit of a float64: set in every quiet NaN.
const QUIET_NAN: u64 = 0x7ff8_0000_0000_0000;
/// How many values [`Extremes::of`] folds side by side (a multiple of the width), so that the
/// compiler can vectorise the loop whatever the number of columns.
const MINMAX_LANES: usize = 32;

/// Per column of a block of rows: the least and greatest value that is not NaN (+inf / -inf
/// when there is none) and how many NaN it holds.
struct Extremes {
    min: Vec<f64>,
    max: Vec<f64>,
    nan: Vec<u64>,
}

impl Extremes {
    /// The extremes of `x`, `x.len() / width` rows of `width` values one after the other.
    fn of(x: &[f64], width: usize) -> Extremes {
        let lanes = width * (MINMAX_LANES / width).max(1);
        let mut e = Extremes {
            min: vec![f64::INFINITY; lanes],
            max: vec![f64::NEG_INFINITY; lanes],
            nan: vec![0; lanes],
        };
        let fold = |e: &mut Extremes, block: &[f64]| {
            for (((v, lo), hi), n) in block
                .iter()
                .zip(e.min.iter_mut())
                .zip(e.max.iter_mut())
                .zip(e.nan.iter_mut())
            {
                // a NaN compares false: it never replaces an extreme
                *lo = if *v < *lo { *v } else { *lo };
                *hi = if *v > *hi { *v } else { *hi };
                *n += u64::from(v.is_nan());
            }
        };
        let mut blocks = x.chunks_exact(lanes);
        for block in &mut blocks {
            fold(&mut e, block);
        }
        fold(&mut e, blocks.remainder());
        // lane t holds column t % width
        let mut out = Extremes {
            min: e.min[..width].to_vec(),
            max: e.max[..width].to_vec(),
            nan: e.nan[..width].to_vec(),
        };
        for t in width..lanes {
            out.take(t % width, e.min[t], e.max[t], e.nan[t]);
        }
        out
    }

    fn take(&mut self, j: usize, min: f64, max: f64, nan: u64) {
        if min < self.min[j] {
            self.min[j] = min;
        }
        if max > self.max[j] {
            self.max[j] = max;
        }
        self.nan[j] += nan;
    }

    fn merge(mut self, other: Extremes) -> Extremes {
        for j in 0..self.min.len() {
            self.take(j, other.min[j], other.max[j], other.nan[j]);
        }
        self
    }
}

/// Keys are bucketed by their top 16 bits (sign, exponent, 4 bits of mantissa).
const BUCKET_SHIFT: u32 = 48;
const BUCKETS: usize = 1 << 16;
const NEG_ZERO: u64 = 1 << 63;

/// One pass over a column: how many of its keys fall in each bucket, the count of values other
/// than NaN, and whether it holds -0.0 and whether it holds 0.0.
struct Histogram {
    counts: Vec<u32>,
    n: usize,
    neg_zero: bool,
    pos_zero: bool,
}

/// Calls `f` on each value of the column that is not NaN, in row order.
fn for_each_value(column: &Column, mut f: impl FnMut(f64)) {
    let mut visit = |&v: &f64| {
        if !v.is_nan() {
            f(v)
        }
    };
    if column.order == Order::F || column.cols == 1 {
        column.contiguous().iter().for_each(visit);
    } else {
        column.x[column.j..]
            .iter()
            .step_by(column.cols)
            .for_each(&mut visit);
    }
}

fn histogram(column: &Column) -> Histogram {
    let mut h = Histogram {
        counts: vec![0; BUCKETS],
        n: 0,
        neg_zero: false,
        pos_zero: false,
    };
    for_each_value(column, |v| {
        let b = v.to_bits();
        h.neg_zero |= b == NEG_ZERO;
        h.pos_zero |= b == 0;
        h.counts[(key(v) >> BUCKET_SHIFT) as usize] += 1;
        h.n += 1;
    });
    h
}

/// The keys at the given positions of the sorted column (each as a sort would place it): the
/// histogram says which bucket holds each position; a second pass collects only those
/// buckets' keys, and a selection among them finds each one. (A column of few distinct values
/// can have most keys in one bucket: that pass then collects them all, which is the work of a
/// plain selection.)
fn select(
    column: &Column,
    hist: &Histogram,
    wanted: Vec<usize>,
) -> std::result::Result<HashMap<usize, u64>, String> {
    // slot[bucket]: which part collects the bucket's keys (u16::MAX: none); starts[part]: the
    // sorted position of the part's first key
    let mut slot = vec![u16::MAX; BUCKETS];
    let mut starts: Vec<usize> = Vec::new();
    let mut at: Vec<(usize, usize)> = Vec::with_capacity(wanted.len()); // (position, part)
    let mut ranks = wanted;
    ranks.sort_unstable();
    ranks.dedup();
    let (mut bucket, mut before) = (0usize, 0usize);
    for &rank in &ranks {
        if rank >= hist.n {
            return Err(format!("position {rank} outside {} values", hist.n));
        }
        while before + hist.counts[bucket] as usize <= rank {
            before += hist.counts[bucket] as usize;
            bucket += 1;
        }
        if slot[bucket] == u16::MAX {
            slot[bucket] = starts.len() as u16;
            starts.push(before);
        }
        at.push((rank, slot[bucket] as usize));
    }
    let mut parts: Vec<Vec<u64>> = vec![Vec::new(); starts.len()];
    for (b, &s) in slot.iter().enumerate() {
        if s != u16::MAX {
            parts[s as usize].reserve_exact(hist.counts[b] as usize);
        }
    }
    for_each_value(column, |v| {
        let k = key(v);
        let s = slot[(k >> BUCKET_SHIFT) as usize];
        if s != u16::MAX {
            parts[s as usize].push(k);
        }
    });
    let mut found = HashMap::with_capacity(at.len());
    for (i, part) in parts.iter_mut().enumerate() {
        let local = at
            .iter()
            .filter(|&&(_, s)| s == i)
            .map(|&(rank, _)| rank - starts[i])
            .collect();
        for (local_rank, k) in order_statistics(part, local)? {
            found.insert(local_rank + starts[i], k);
        }
    }
    Ok(found)
}

/// The keys at the given sorted positions of `keys`, by selection: the highest position first,
/// each next one within the part left of the previous.
fn order_statistics(
    keys: &mut [u64],
    mut wanted: Vec<usize>,
) -> std::result::Result<HashMap<usize, u64>, String> {
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = HashMap::with_capacity(wanted.len());
    let mut end = keys.len();
    for &rank in wanted.iter().rev() {
        if rank >= end {
            return Err(format!("position {rank} outside {end} values"));
        }
        let (_, &mut k, _) = keys[..end].select_nth_unstable(rank);
        found.insert(rank, k);
        end = rank;
    }
    Ok(found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    scaler: String,
    rows: usize,
    cols: usize,
    order: String,
    #[serde(default)]
    median: bool,
    #[serde(default)]
    percentiles: Vec<f64>,
    /// columns passed by reference into store files (`bridge.column_ref`)
    #[serde(default)]
    refs: HashMap<String, ColumnRef>,
}

/// The IPC face: column `x` (float64, `rows * cols` values in `order`) or, in F order, columns
/// `c0` .. (in the batch or in `refs`), options
/// `{"scaler": "robust"|"standard", "rows", "cols", "order": "C"|"F", "refs"}` and for "robust"
/// `"median": bool, "percentiles": [p, ...]`. The result file has one float64 column `stat`:
/// robust: the `cols` medians (NaN when not asked for), then the percentiles, `cols x
/// percentiles` row after row; standard: the `cols` sums, counts, corrections and sums of
/// squares, in that order.
pub fn scale_stats_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(v) => v,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let order = match opts.order.as_str() {
        "C" => Order::C,
        "F" => Order::F,
        other => return Ok(Outcome::Declined(format!("unknown order {other:?}"))),
    };
    let (arrays, whole) = match input_values(&batch, &opts.refs, opts.cols, order) {
        Ok(v) => v,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let columns = match value_columns(&arrays, whole, opts.rows, opts.cols, order) {
        Ok(c) => c,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let stat: Vec<f64> = match opts.scaler.as_str() {
        "robust" => match robust_columns(&columns, opts.median, &opts.percentiles) {
            Ok(s) => s.median.into_iter().chain(s.quantiles).collect(),
            Err(why) => return Ok(Outcome::Declined(why)),
        },
        "standard" => match standard_columns(&columns) {
            Ok(s) => (0..4).flat_map(|k| s.iter().map(move |c| c[k])).collect(),
            Err(why) => return Ok(Outcome::Declined(why)),
        },
        other => return Ok(Outcome::Declined(format!("unknown scaler {other:?}"))),
    };
    let batch = RecordBatch::try_from_iter([("stat", Arc::new(Float64Array::from(stat)) as _)])
        .expect("one column");
    let bytes = write_ipc_file(&batch, out)?;
    Ok(Outcome::Ok {
        rows: opts.rows,
        cols: opts.cols,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MinMaxOptions {
    rows: usize,
    cols: usize,
    order: String,
}

/// The IPC face of [`minmax_stats`]: column `x` (float64, `rows * cols` values in `order`),
/// options `{"rows", "cols", "order": "C"|"F"}`. The result file has one float64 column `stat`:
/// the `cols` minima, then the `cols` maxima (NaN for a column without values, as NumPy gives
/// it; the shim has NumPy warn about it).
pub fn minmax_stats_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (MinMaxOptions, _) = match kernel_input(input, options_json)? {
        Ok(v) => v,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let order = match opts.order.as_str() {
        "C" => Order::C,
        "F" => Order::F,
        other => return Ok(Outcome::Declined(format!("unknown order {other:?}"))),
    };
    let x = match batch
        .column_by_name("x")
        .and_then(|a| a.as_primitive_opt::<Float64Type>())
    {
        Some(f) if f.null_count() == 0 => f.values(),
        _ => {
            return Ok(Outcome::Declined(
                "the input needs a float64 column x without nulls".into(),
            ))
        }
    };
    let (mins, maxs) = match minmax_stats(x, opts.rows, opts.cols, order) {
        Ok(v) => v,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let stat = Float64Array::from_iter_values(mins.into_iter().chain(maxs));
    let batch = RecordBatch::try_from_iter([("stat", Arc::new(stat) as _)]).expect("one column");
    let bytes = write_ipc_file(&batch, out)?;
    Ok(Outcome::Ok {
        rows: opts.rows,
        cols: opts.cols,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    fn robust(x: &[f64], rows: usize, cols: usize, order: Order, p: &[f64]) -> RobustStats {
        robust_stats(x, rows, cols, order, true, p).unwrap()
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn median_and_percentiles_of_one_column() {
        // sorted: 1 2 3 4 (NaN dropped): median 2.5; 25%: v = 0.75 -> 1 + 1 * 0.75;
        // 75%: v = 2.25 -> 3 + 1 * 0.25
        let s = robust(&[4.0, NAN, 1.0, 3.0, 2.0], 5, 1, Order::F, &[25.0, 75.0]);
        assert_eq!(s.median, vec![2.5]);
        assert_eq!(s.quantiles, vec![1.75, 3.25]);
        // odd count; 0% and 100% are the extremes
        let s = robust(&[5.0, -1.0, 7.0], 3, 1, Order::C, &[0.0, 100.0]);
        assert_eq!(s.median, vec![5.0]);
        assert_eq!(s.quantiles, vec![-1.0, 7.0]);
    }

    #[test]
    fn c_and_f_orders_agree() {
        // 3 rows x 2 columns: column 0 = 1 2 3, column 1 = 10 NaN 30
        let c = robust(
            &[1.0, 10.0, 2.0, NAN, 3.0, 30.0],
            3,
            2,
            Order::C,
            &[10.0, 90.0],
        );
        let f = robust(
            &[1.0, 2.0, 3.0, 10.0, NAN, 30.0],
            3,
            2,
            Order::F,
            &[10.0, 90.0],
        );
        assert_eq!(bits(&c.median), bits(&f.median));
        assert_eq!(bits(&c.quantiles), bits(&f.quantiles));
        assert_eq!(c.median, vec![2.0, 20.0]);
        // column 1: n = 2, 90%: v = 0.9 -> 10 + 20 * 0.9 -> b - 20 * 0.1 (gamma >= 0.5)
        assert_eq!(c.quantiles[3], 30.0 - 20.0 * (1.0 - 0.9));
    }

    #[test]
    fn zeros_of_one_sign_keep_it_and_both_signs_decline() {
        let s = robust(&[-0.0, -0.0, -0.0, 1.0], 4, 1, Order::F, &[25.0]);
        assert_eq!(s.median[0].to_bits(), 0.0f64.to_bits()); // (0.0 + -0.0) + -0.0
        assert_eq!(s.quantiles[0].to_bits(), (-0.0f64).to_bits()); // -0.0 + 0.0 * 0.75... as NumPy
                                                                   // both signs: the median is 0.0 whichever the partition chose
        let s = robust(&[-0.0, 0.0, 1.0], 3, 1, Order::F, &[]);
        assert_eq!(s.median[0].to_bits(), 0.0f64.to_bits());
        // 25% of [+-0, +-0, 1, 2]: v = 0.75, b - (b - a) * 0.25 with a, b zeros: -0.0 - 0.0 or
        // 0.0 - 0.0: the sign depends on the partition
        assert!(robust_stats(&[-0.0, 0.0, 1.0, 2.0], 4, 1, Order::F, false, &[25.0]).is_err());
        // a nonzero neighbour hides the sign: 50% of [+-0, +-0, 1, 5]: v = 1.5 -> 1 - (1 - a) * 0.5
        let s = robust_stats(&[-0.0, 1.0, 0.0, 5.0], 4, 1, Order::F, false, &[50.0]).unwrap();
        assert_eq!(s.quantiles, vec![0.5]);
    }

    #[test]
    fn bucketed_selection_matches_a_sort() {
        // spread, clustered (one bucket) and tied data, with NaN; every position checked
        let mut next = crate::xorshift(7u64);
        for kind in 0..4 {
            let x: Vec<f64> = (0..5000)
                .map(|_| match (kind, next() % 10) {
                    (_, 0) => NAN,
                    (0, _) => (next() % 1_000_000) as f64 * 1e-3 - 500.0,
                    (1, _) => 1.0 + (next() % 1000) as f64 * 1e-6,
                    (2, _) => (next() % 3) as f64,
                    _ => f64::from_bits(next() >> 2) * if next() % 2 == 0 { 1.0 } else { -1.0 },
                })
                .collect();
            let column = Column {
                x: &x,
                rows: x.len(),
                cols: 1,
                order: Order::F,
                j: 0,
            };
            let mut sorted: Vec<u64> = x.iter().filter(|v| !v.is_nan()).map(|&v| key(v)).collect();
            sorted.sort_unstable();
            let hist = histogram(&column);
            assert_eq!(hist.n, sorted.len());
            let wanted: Vec<usize> = (0..sorted.len())
                .step_by(7)
                .chain([sorted.len() - 1])
                .collect();
            let found = select(&column, &hist, wanted.clone()).unwrap();
            for r in wanted {
                assert_eq!(found[&r], sorted[r], "kind {kind} position {r}");
            }
        }
    }

    #[test]
    fn standard_sums_follow_numpy_order() {
        // C order, 3 rows x 2 columns: column 0 = 1 2 NaN, column 1 = 0.1 0.2 0.3
        let c = standard_stats(&[1.0, 0.1, 2.0, 0.2, NAN, 0.3], 3, 2, Order::C).unwrap();
        assert_eq!(c[0], [3.0, 2.0, (1.0 - 1.5) + (2.0 - 1.5), 0.25 + 0.25]);
        let s1 = (0.0 + 0.1) + 0.2 + 0.3;
        let t1 = s1 / 3.0;
        let d = [0.1 - t1, 0.2 - t1, 0.3 - t1];
        assert_eq!(
            c[1],
            [
                s1,
                3.0,
                ((0.0 + d[0]) + d[1]) + d[2],
                ((0.0 + d[0] * d[0]) + d[1] * d[1]) + d[2] * d[2]
            ]
        );
        // F order: pairwise per column (fewer than 8 values: left to right from 0.0)
        let f = standard_stats(&[1.0, 2.0, NAN, 0.1, 0.2, 0.3], 3, 2, Order::F).unwrap();
        assert_eq!(f, c);
        assert!(standard_stats(&[NAN, 1.0], 1, 2, Order::C).is_err());
        assert!(standard_stats(&[f64::MAX, -f64::MAX], 2, 1, Order::F).is_err());
    }

    #[test]
    fn minmax_ignores_nan_in_both_orders() {
        // C order, 3 rows x 2 columns: column 0 = 3 NaN -1, column 1 = NaN 2 NaN
        let c = minmax_stats(&[3.0, NAN, NAN, 2.0, -1.0, NAN], 3, 2, Order::C).unwrap();
        assert_eq!(c, (vec![-1.0, 2.0], vec![3.0, 2.0]));
        let f = minmax_stats(&[3.0, NAN, -1.0, NAN, 2.0, NAN], 3, 2, Order::F).unwrap();
        assert_eq!(f, c);
        // infinities are values; one row
        let s = minmax_stats(&[f64::INFINITY, -5e-324, f64::NEG_INFINITY], 1, 3, Order::C).unwrap();
        assert_eq!(s.0, s.1);
        assert_eq!(s.0, vec![f64::INFINITY, -5e-324, f64::NEG_INFINITY]);
    }

    #[test]
    fn minmax_of_long_arrays_matches_a_scan() {
        // several parallel blocks, lanes and a remainder; extremes at the ends and inside
        let mut s = 11u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for (rows, cols) in [(300_001, 3), (70_000, 5), (1, 7), (33, 1), (200_000, 40)] {
            let mut x: Vec<f64> = (0..rows * cols)
                .map(|_| match next() % 10 {
                    0 => NAN,
                    _ => (next() % 2_000_001) as f64 * 1e-3 - 1000.0,
                })
                .collect();
            x[rows * cols - 1] = 5000.0;
            x[0] = -5000.0;
            for order in [Order::C, Order::F] {
                let (mins, maxs) = minmax_stats(&x, rows, cols, order).unwrap();
                for j in 0..cols {
                    let column = Column {
                        x: &x,
                        rows,
                        cols,
                        order,
                        j,
                    };
                    let values: Vec<f64> = (0..rows)
                        .map(|i| column.get(i))
                        .filter(|v| !v.is_nan())
                        .collect();
                    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let (lo, hi) = if values.is_empty() {
                        (NAN, NAN)
                    } else {
                        (lo, hi)
                    };
                    assert_eq!(
                        bits(&[mins[j], maxs[j]]),
                        bits(&[lo, hi]),
                        "{rows} x {cols} {order:?} column {j}"
                    );
                }
            }
        }
    }

    #[test]
    fn minmax_zeros_and_all_nan_columns() {
        // one zero sign keeps it; both signs at an extreme decline, elsewhere they do not matter
        let s = minmax_stats(&[-0.0, 1.0, -0.0, 2.0], 2, 2, Order::C).unwrap();
        assert_eq!(s.0[0].to_bits(), (-0.0f64).to_bits());
        assert_eq!(s.1[0].to_bits(), (-0.0f64).to_bits());
        assert!(minmax_stats(&[-0.0, 0.0, 1.0], 3, 1, Order::F).is_err());
        assert!(minmax_stats(&[-0.0, 0.0, -1.0], 3, 1, Order::F).is_err());
        assert!(minmax_stats(&[-0.0, 0.0, -1.0, 1.0], 4, 1, Order::F).is_ok());
        // a column without values: its NaN as it is, when all its NaN are the same
        let neg_nan = f64::from_bits(0xfff8_0000_0000_0000);
        let s = minmax_stats(&[neg_nan, 1.0, neg_nan, 2.0], 2, 2, Order::C).unwrap();
        assert_eq!(bits(&[s.0[0], s.1[0]]), bits(&[neg_nan, neg_nan]));
        assert!(minmax_stats(&[neg_nan, NAN], 2, 1, Order::F).is_err());
        assert!(minmax_stats(&[f64::from_bits(0x7ff0_0000_0000_0001)], 1, 1, Order::F).is_err());
        assert!(minmax_stats(&[], 0, 2, Order::C).is_err());
        assert!(minmax_stats(&[1.0, 2.0, 3.0], 2, 2, Order::C).is_err());
    }

    #[test]
    fn declines_empty_columns_overflow_and_bad_percentiles() {
        assert!(robust_stats(&[NAN, NAN], 2, 1, Order::F, true, &[]).is_err());
        assert!(robust_stats(&[f64::MAX, f64::MAX], 2, 1, Order::F, true, &[]).is_err());
        assert!(robust_stats(&[-f64::MAX, f64::MAX], 2, 1, Order::F, false, &[50.0]).is_err());
        assert!(robust_stats(&[1.0], 1, 1, Order::F, true, &[101.0]).is_err());
        assert!(robust_stats(&[1.0, 2.0], 3, 1, Order::F, true, &[]).is_err());
    }
}
