//! pandas' `describe()` of int64 and float64 columns (`describe_numeric_1d`), bit for bit.
//!
//! Per column pandas computes (pandas.core.nanops, NumPy; no bottleneck):
//! - `count`: the values that are not NaN;
//! - `mean` (`nanmean`): float64: NaN filled with 0.0, `values.sum()` (NumPy's pairwise sum
//!   `DOUBLE_pairwise_sum` over the whole column, added to the identity 0.0) divided by the
//!   count (NaN for none); int64: `values.sum(dtype=float64)`, which NumPy casts in buffers of
//!   `np.getbufsize()` values: each buffer is summed pairwise and the buffers' sums are added to
//!   0.0 one after the other;
//! - `std` (`nanvar`, ddof 1, then `np.sqrt`): `count <= 1` gives NaN; else
//!   `avg = sum / count` (int64 columns: first cast to float64, then summed pairwise as a whole),
//!   `((avg - x) ** 2)` with 0.0 where NaN, summed pairwise, divided by `count - 1`;
//! - `min` / `max`: over the values that are not NaN (NaN for none);
//! - the quantiles (`np.quantile(values, qs)`, method "linear", of the values that are not NaN):
//!   virtual index `v = (n - 1) * q`, `previous = floor(v)`, `next = previous + 1` (both the
//!   last element, and `previous = -1` for the weight, when `v >= n - 1`), `gamma = v -
//!   previous`, and `_lerp`: `a + (b - a) * gamma`, or `b - (b - a) * (1 - gamma)` where
//!   `gamma >= 0.5`; for int64 `b - a` is int64 arithmetic (it wraps around), the rest float64.
//!
//! The order statistics are found by a histogram of the column's order-preserving keys and a
//! selection within the few buckets that hold them.
//!
//! Declined, so that pandas runs and gives its own warnings: an infinite value (NumPy warns
//! "invalid value" in the variance or the quantiles), any overflow (a sum, a square, `b - a`),
//! and a `min`, `max` or quantile that depends on which zero NumPy reads when the column holds
//! both 0.0 and -0.0 (NumPy's partition and SIMD minimum do not define which: the quantiles are
//! computed with each and declined only if the results differ).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow_schema::DataType;
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::impute::{pairwise_sum_by, unkey};
use crate::ipc::{input_columns, kernel_input, write_ipc_file, ColumnRef};

/// One column's values.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    Float(&'a [f64]),
    Int(&'a [i64]),
}

/// What `describe_numeric_1d` reports of one column.
#[derive(Clone, Debug, PartialEq)]
pub struct Description {
    pub count: usize,
    pub mean: f64,
    pub std: f64,
    /// NaN without values
    pub min: f64,
    pub max: f64,
    /// an int64 column's min and max as integers (pandas converts them when it builds the
    /// Series); 0 otherwise
    pub imin: i64,
    pub imax: i64,
    /// in the order of the quantiles asked for
    pub quantiles: Vec<f64>,
}

type Why = std::result::Result<Description, String>;

/// The description of one column; `qs` are the quantiles in [0, 1], `bufsize` NumPy's buffer
/// size (`np.getbufsize()`). `Err` is the reason to decline.
pub fn describe_column(values: Values, qs: &[f64], bufsize: usize) -> Why {
    if bufsize == 0 {
        return Err("a buffer size of 0".into());
    }
    if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(format!("quantile {q} outside [0, 1]"));
    }
    match values {
        Values::Float(x) => describe_float(x, qs),
        Values::Int(x) => describe_int(x, qs, bufsize),
    }
}

const NEG_ZERO: u64 = 1 << 63;

/// A column's values as the kernel reads them.
trait Value: Copy + Send + Sync {
    /// not NaN
    fn valid(self) -> bool;
    /// the order-preserving key (floats: `impute::key`, with -0.0 and 0.0 one key)
    fn exact(self) -> u64;
    /// the histogram bucket of the value with key `exact`: the top bits of its float key
    /// (non-decreasing in the value)
    fn bucket(self, exact: u64) -> usize;
}

impl Value for f64 {
    #[inline]
    fn valid(self) -> bool {
        !self.is_nan()
    }
    #[inline]
    fn exact(self) -> u64 {
        key(self)
    }
    #[inline]
    fn bucket(self, exact: u64) -> usize {
        (exact >> (64 - BUCKET_BITS)) as usize
    }
}

impl Value for i64 {
    #[inline]
    fn valid(self) -> bool {
        true
    }
    #[inline]
    fn exact(self) -> u64 {
        int_key(self)
    }
    #[inline]
    fn bucket(self, _: u64) -> usize {
        (key(self as f64) >> (64 - BUCKET_BITS)) as usize
    }
}

/// `impute::key` without its branch on the sign (mispredicted half the time on values of
/// random signs): an order-preserving key of a non-NaN float, -0.0 and 0.0 one key.
#[inline]
fn key(x: f64) -> u64 {
    let b = (x + 0.0).to_bits();
    b ^ ((((b as i64) >> 63) as u64) | (1 << 63))
}

#[inline]
fn int_key(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

#[inline]
fn int_unkey(k: u64) -> i64 {
    (k ^ (1 << 63)) as i64
}

const BUCKET_BITS: u32 = 16;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// One pass over a column: the values that are not NaN (count, smallest and largest key) and
/// a histogram of their buckets.
struct Summary {
    count: usize,
    min: u64,
    max: u64,
    hist: Vec<u32>,
}

/// The column in parts of at least 64k values, about two per thread.
fn part_len(n: usize) -> usize {
    (n.div_ceil(2 * rayon::current_num_threads())).max(1 << 16)
}

fn summarize<V: Value>(x: &[V]) -> Summary {
    let empty = || Summary {
        count: 0,
        min: u64::MAX,
        max: 0,
        hist: vec![0; BUCKETS],
    };
    x.par_chunks(part_len(x.len()))
        .map(|part| {
            let mut s = empty();
            for &v in part {
                if v.valid() {
                    let k = v.exact();
                    s.count += 1;
                    s.min = s.min.min(k);
                    s.max = s.max.max(k);
                    s.hist[v.bucket(k)] += 1;
                }
            }
            s
        })
        .reduce(empty, |mut a, b| {
            a.count += b.count;
            a.min = a.min.min(b.min);
            a.max = a.max.max(b.max);
            for (h, g) in a.hist.iter_mut().zip(&b.hist) {
                *h += g;
            }
            a
        })
}

/// Which zeros a float column holds: 1 for 0.0, 2 for -0.0.
fn zeros(x: &[f64]) -> u8 {
    x.par_chunks(part_len(x.len()))
        .map(|part| {
            part.iter().fold(0u8, |z, v| {
                z | u8::from(v.to_bits() == 0) | (u8::from(v.to_bits() == NEG_ZERO) << 1)
            })
        })
        .reduce(|| 0, |a, b| a | b)
}

/// The values a float statistic read as `v` can be: a zero has the sign of the column's zeros
/// (`zeros()` tells, asked only then), either sign when it holds both (which one NumPy reads
/// is not defined).
fn signed(v: f64, zeros: impl Fn() -> u8) -> Vec<f64> {
    if v != 0.0 {
        return vec![v];
    }
    match zeros() & 3 {
        3 => vec![0.0, -0.0],
        2 => vec![-0.0],
        _ => vec![0.0],
    }
}

fn describe_float(x: &[f64], qs: &[f64]) -> Why {
    let n = x.len();
    if n > u32::MAX as usize {
        return Err(format!("{n} values: more than the histogram counts"));
    }
    let s = scan(x, qs)?;
    if s.count > 0 && (unkey(s.min).is_infinite() || unkey(s.max).is_infinite()) {
        return Err("an infinite value (NumPy warns: invalid value)".into());
    }
    let zero_signs = std::cell::OnceCell::new();
    let zero_signs = || *zero_signs.get_or_init(|| zeros(x));
    // NaN filled with 0.0; NumPy's reduction starts from its identity 0.0
    let sum = 0.0 + pairwise_sum_by(n, &|i| if x[i].is_nan() { 0.0 } else { x[i] });
    if !sum.is_finite() {
        return Err("the sum overflows (NumPy warns)".into());
    }
    let count = s.count;
    let cnt = count as f64;
    let mean = if count > 0 { sum / cnt } else { f64::NAN };
    let std = if count <= 1 {
        f64::NAN // nanvar's count and divisor are NaN: no warning
    } else {
        let avg = sum / cnt;
        // the NaN positions are squared too ((avg - 0.0) ** 2) before being set to 0.0
        if count < n && !(avg * avg).is_finite() {
            return Err("a square overflows (NumPy warns)".into());
        }
        let sq = 0.0
            + pairwise_sum_by(n, &|i| {
                let v = x[i];
                if v.is_nan() {
                    0.0
                } else {
                    let d = avg - v;
                    d * d
                }
            });
        if !sq.is_finite() {
            return Err("the sum of squares overflows (NumPy warns)".into());
        }
        (sq / (cnt - 1.0)).sqrt()
    };
    let (min, max) = if count == 0 {
        (f64::NAN, f64::NAN)
    } else {
        let (lo, hi) = (
            signed(unkey(s.min), zero_signs),
            signed(unkey(s.max), zero_signs),
        );
        if lo.len() > 1 || hi.len() > 1 {
            return Err("the min or max is a zero and the column holds 0.0 and -0.0".into());
        }
        (lo[0], hi[0])
    };
    let quantiles = quantiles(&s, qs, |a, b, same, t| {
        one_result(
            signed(unkey(a), zero_signs),
            signed(unkey(b), zero_signs),
            same,
            |a, b| lerp(a, b, t),
        )
    })?;
    Ok(Description {
        count,
        mean,
        std,
        min,
        max,
        imin: 0,
        imax: 0,
        quantiles,
    })
}

fn describe_int(x: &[i64], qs: &[f64], bufsize: usize) -> Why {
    let n = x.len();
    if n > u32::MAX as usize {
        return Err(format!("{n} values: more than the histogram counts"));
    }
    let cnt = n as f64;
    let mean = if n == 0 {
        f64::NAN
    } else {
        // values.sum(dtype=float64): cast and summed one buffer at a time
        let parts: Vec<f64> = x
            .par_chunks(bufsize)
            .map(|c| pairwise_sum_by(c.len(), &|i| c[i] as f64))
            .collect();
        let mut sum = 0.0;
        for p in parts {
            sum += p;
        }
        sum / cnt
    };
    let std = if n <= 1 {
        f64::NAN
    } else {
        // nanvar: values.astype("f8"), then float64 sums of the whole column
        let avg = (0.0 + pairwise_sum_by(n, &|i| x[i] as f64)) / cnt;
        let sq = 0.0
            + pairwise_sum_by(n, &|i| {
                let d = avg - x[i] as f64;
                d * d
            });
        (sq / (cnt - 1.0)).sqrt()
    };
    let s = scan(x, qs)?;
    let (imin, imax) = (int_unkey(s.min), int_unkey(s.max));
    let quantiles = quantiles(&s, qs, |a, b, _, t| {
        let (a, b) = (int_unkey(a), int_unkey(b));
        // b - a in int64 (wrapping, as NumPy's arrays), then float64
        let diff = b.wrapping_sub(a) as f64;
        let low = a as f64 + diff * t;
        Ok(if t >= 0.5 {
            b as f64 - diff * (1.0 - t)
        } else {
            low
        })
    })?;
    Ok(Description {
        count: n,
        mean,
        std,
        min: if n == 0 { f64::NAN } else { imin as f64 },
        max: if n == 0 { f64::NAN } else { imax as f64 },
        imin: if n == 0 { 0 } else { imin },
        imax: if n == 0 { 0 } else { imax },
        quantiles,
    })
}

/// NumPy's `_lerp(a, b, t)` for float64; `Err` when an operation NumPy does overflows (it
/// computes `a + diff * t` and `diff * (1 - t)` for every element).
fn lerp(a: f64, b: f64, t: f64) -> std::result::Result<f64, String> {
    let diff = b - a;
    let step = diff * t;
    let low = a + step;
    let high_step = diff * (1.0 - t);
    let q = if t >= 0.5 { b - high_step } else { low };
    if [diff, step, low, high_step, q]
        .iter()
        .all(|v| v.is_finite())
    {
        Ok(q)
    } else {
        Err("a quantile overflows (NumPy warns)".into())
    }
}

/// `f` over the possible values of its two operands (a zero of either sign when the column
/// holds both; one operand twice when both are the same element); the result must not depend
/// on the choice.
fn one_result(
    a: Vec<f64>,
    b: Vec<f64>,
    same: bool,
    f: impl Fn(f64, f64) -> std::result::Result<f64, String>,
) -> std::result::Result<f64, String> {
    let mut result: Option<f64> = None;
    let pairs: Vec<(f64, f64)> = if same {
        a.iter().map(|&x| (x, x)).collect()
    } else {
        a.iter()
            .flat_map(|&x| b.iter().map(move |&y| (x, y)))
            .collect()
    };
    for (x, y) in pairs {
        let r = f(x, y)?;
        if result.is_some_and(|q| q.to_bits() != r.to_bits()) {
            return Err("a quantile depends on the order of 0.0 and -0.0".into());
        }
        result = Some(r);
    }
    Ok(result.expect("one value at least"))
}

/// (previous, next, gamma) of each quantile of `n > 0` values, as NumPy's `_get_indexes` and
/// `_get_gamma` compute them.
fn reads_of(n: usize, qs: &[f64]) -> Vec<(usize, usize, f64)> {
    let last = (n - 1) as f64;
    qs.iter()
        .map(|&q| {
            let v = last * q;
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
        .collect()
}

/// The distinct positions `reads` read, ascending.
fn ranks_of(reads: &[(usize, usize, f64)]) -> Vec<usize> {
    let mut ranks: Vec<usize> = reads.iter().flat_map(|&(p, q, _)| [p, q]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    ranks
}

/// What a scan of a column found: its values that are not NaN (count, smallest and largest
/// key), the positions each quantile reads and the keys at those positions.
struct Scanned {
    count: usize,
    min: u64,
    max: u64,
    reads: Vec<(usize, usize, f64)>,
    found: HashMap<usize, u64>,
}

/// The scan of a column: a histogram pass ([`summarize`]) and a collecting pass
/// ([`order_statistics`]).
fn scan<V: Value>(x: &[V], qs: &[f64]) -> std::result::Result<Scanned, String> {
    let s = summarize(x);
    let reads = if s.count == 0 {
        Vec::new()
    } else {
        reads_of(s.count, qs)
    };
    let found = order_statistics(x, &s, &ranks_of(&reads))?;
    Ok(Scanned {
        count: s.count,
        min: s.min,
        max: s.max,
        reads,
        found,
    })
}

/// The quantiles (NaN each without values): the keys each reads, combined by
/// `lerp(previous key, next key, same element, gamma)`.
fn quantiles(
    sc: &Scanned,
    qs: &[f64],
    lerp: impl Fn(u64, u64, bool, f64) -> std::result::Result<f64, String>,
) -> std::result::Result<Vec<f64>, String> {
    if sc.count == 0 {
        return Ok(vec![f64::NAN; qs.len()]);
    }
    sc.reads
        .iter()
        .map(|&(prev, next, gamma)| lerp(sc.found[&prev], sc.found[&next], prev == next, gamma))
        .collect()
}

/// The keys at sorted positions `ranks` (ascending, distinct, each `< s.count`) of the
/// column's values: the histogram says which bucket holds each position, a second pass
/// collects those buckets' keys, and a selection within them finds each one. (Most values in
/// one bucket, as with few distinct values, make that pass collect them all: the work of a
/// plain selection.)
fn order_statistics<V: Value>(
    x: &[V],
    s: &Summary,
    ranks: &[usize],
) -> std::result::Result<HashMap<usize, u64>, String> {
    if ranks.is_empty() {
        return Ok(HashMap::new());
    }
    // slot[bucket]: the part that collects the bucket's keys (u16::MAX: none); starts[part]:
    // the sorted position of the part's first key
    let mut slot = vec![u16::MAX; BUCKETS];
    let mut starts: Vec<usize> = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    let mut bucket_of = Vec::with_capacity(ranks.len()); // (rank, part)
    let (mut b, mut before) = (0usize, 0usize);
    for &rank in ranks {
        if rank >= s.count {
            return Err(format!("position {rank} outside {} values", s.count));
        }
        while before + s.hist[b] as usize <= rank {
            before += s.hist[b] as usize;
            b += 1;
        }
        if slot[b] == u16::MAX {
            slot[b] = starts.len() as u16;
            starts.push(before);
            sizes.push(s.hist[b] as usize);
        }
        bucket_of.push((rank, slot[b] as usize));
    }
    let slot = &slot;
    let n = x.len().max(1);
    let chunks: Vec<Vec<Vec<u64>>> = x
        .par_chunks(part_len(x.len()))
        .map(|chunk| {
            // about this chunk's share of each part
            let mut parts: Vec<Vec<u64>> = sizes
                .iter()
                .map(|&size| Vec::with_capacity(size * chunk.len() / n * 9 / 8 + 64))
                .collect();
            for &v in chunk {
                if v.valid() {
                    let k = v.exact();
                    let p = slot[v.bucket(k)];
                    if p != u16::MAX {
                        parts[p as usize].push(k);
                    }
                }
            }
            parts
        })
        .collect();
    let mut parts: Vec<Vec<u64>> = sizes.iter().map(|&size| Vec::with_capacity(size)).collect();
    for chunk in chunks {
        for (part, keys) in parts.iter_mut().zip(chunk) {
            part.extend_from_slice(&keys);
        }
    }
    let mut found = HashMap::with_capacity(ranks.len());
    for (i, part) in parts.iter_mut().enumerate() {
        if part.len() != sizes[i] {
            return Err(format!("{} keys in a bucket of {}", part.len(), sizes[i]));
        }
        // the highest position first, each next one within the part left of the previous
        let mut end = part.len();
        for &(rank, _) in bucket_of.iter().rev().filter(|&&(_, p)| p == i) {
            let local = rank - starts[i];
            if local >= end {
                return Err(format!("position {rank} outside its bucket"));
            }
            let (_, &mut k, _) = part[..end].select_nth_unstable(local);
            found.insert(rank, k);
            end = local;
        }
    }
    Ok(found)
}

/// The descriptions of several columns (int64 or float64 arrays without nulls), in parallel.
pub fn describe(
    columns: &[ArrayRef],
    qs: &[f64],
    bufsize: usize,
) -> std::result::Result<Vec<Description>, String> {
    columns
        .par_iter()
        .enumerate()
        .map(|(j, c)| {
            if c.null_count() > 0 {
                return Err(format!("column {j} has nulls"));
            }
            let values = match c.data_type() {
                DataType::Float64 => Values::Float(c.as_primitive::<Float64Type>().values()),
                DataType::Int64 => Values::Int(c.as_primitive::<Int64Type>().values()),
                other => return Err(format!("column {j} of type {other}")),
            };
            describe_column(values, qs, bufsize).map_err(|why| format!("column {j}: {why}"))
        })
        .collect()
}

#[derive(Deserialize)]
struct Options {
    /// the columns `c0..` (in the input or referenced)
    columns: usize,
    /// the quantiles' float64 bit patterns as decimal strings (exact through msgpack and JSON)
    quantiles: Vec<String>,
    /// NumPy's buffer size (`np.getbufsize()`)
    bufsize: usize,
    #[serde(default)]
    refs: HashMap<String, ColumnRef>,
}

/// The kernel: one row per column `c0..`: `count` (int64), `mean`, `std`, `min`, `max`
/// (float64), `imin`, `imax` (an int64 column's min and max, else 0) and `q0..` (float64, one
/// per quantile asked for).
pub fn describe_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let columns = match input_columns(&batch, &opts.refs, "c", opts.columns) {
        Ok(c) => c,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let Ok(qs) = opts
        .quantiles
        .iter()
        .map(|b| b.parse::<u64>().map(f64::from_bits))
        .collect::<std::result::Result<Vec<f64>, _>>()
    else {
        return Ok(Outcome::Declined("quantiles are not bit patterns".into()));
    };
    let described = match describe(&columns, &qs, opts.bufsize) {
        Ok(d) => d,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let rows: usize = columns.iter().map(|c| c.len()).sum();
    let floats = |f: &dyn Fn(&Description) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from(
            described.iter().map(f).collect::<Vec<f64>>(),
        ))
    };
    let ints = |f: &dyn Fn(&Description) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(
            described.iter().map(f).collect::<Vec<i64>>(),
        ))
    };
    let mut fields: Vec<(String, ArrayRef)> = vec![
        ("count".into(), ints(&|d| d.count as i64)),
        ("mean".into(), floats(&|d| d.mean)),
        ("std".into(), floats(&|d| d.std)),
        ("min".into(), floats(&|d| d.min)),
        ("max".into(), floats(&|d| d.max)),
        ("imin".into(), ints(&|d| d.imin)),
        ("imax".into(), ints(&|d| d.imax)),
    ];
    for k in 0..qs.len() {
        fields.push((format!("q{k}"), floats(&|d| d.quantiles[k])));
    }
    let result = RecordBatch::try_from_iter(fields).expect("columns of one length");
    let bytes = write_ipc_file(&result, out)?;
    Ok(Outcome::Ok {
        rows,
        cols: columns.len(),
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quantiles pandas sorts `percentiles=[.25, .5, .75, 0, 1, .1, .999]` into.
    const QS: [f64; 7] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.999, 1.0];

    /// `((i * 2654435761) mod 2^32) / 2^32 * 1000 - 300`, NaN where `i % 17 == 3`.
    fn floats(n: usize) -> Vec<f64> {
        (0..n as u64)
            .map(|i| {
                if i % 17 == 3 {
                    f64::NAN
                } else {
                    ((i * 2654435761) % (1 << 32)) as f64 / 4294967296.0 * 1000.0 - 300.0
                }
            })
            .collect()
    }

    /// `(i * 6364136223846793005 + 1442695040888963407) mod 2^64` as int64, shifted right by 2.
    fn ints(n: usize) -> Vec<i64> {
        (0..n as u64)
            .map(|i| {
                (i.wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407) as i64)
                    >> 2
            })
            .collect()
    }

    /// mean, std, min, the quantiles, max as pandas 3.0.6 / NumPy 2.4 give them
    /// (`pd.Series(x).describe(percentiles=...)`), as bit patterns.
    fn check(d: &Description, count: usize, want: [u64; 11]) {
        assert_eq!(d.count, count);
        let got: Vec<u64> = [d.mean, d.std, d.min]
            .iter()
            .chain(&d.quantiles)
            .chain([d.max].iter())
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(got, want.to_vec(), "{d:?}");
    }

    #[test]
    fn floats_with_nan_match_pandas() {
        let x = floats(300_000);
        let d = describe_column(Values::Float(&x), &QS, 8192).unwrap();
        check(
            &d,
            282353,
            [
                0x4068ff8f2117cb89,
                0x40720acfbb30277b,
                0xc072c00000000000,
                0xc072c00000000000,
                0xc069003b272a0000,
                0xc049017988700000,
                0x4068ffe086620000,
                0x407c1fa97c4b8000,
                0x4085d802d5ad8000,
                0x4085dffa7e744000,
                0x4085dffa7e744000,
            ],
        );
        let x = floats(6);
        let d = describe_column(Values::Float(&x), &QS, 8192).unwrap();
        check(
            &d,
            5,
            [
                0xc030b7eb24a00000,
                0x407029979aa24931,
                0xc072c00000000000,
                0xc072c00000000000,
                0xc0707ee994930000,
                0xc06a3a8fe6df0000,
                0xc04ff74ca4980000,
                0x40658459adb40000,
                0x4073d734d0fb4000,
                0x4073e08b35b68000,
                0x4073e08b35b68000,
            ],
        );
    }

    #[test]
    fn int_mean_is_summed_in_numpy_buffers() {
        // the mean differs from a pairwise sum of the whole column (...894.9 vs ...895.45)
        let x = ints(50_000);
        let d = describe_column(Values::Int(&x), &QS, 8192).unwrap();
        check(
            &d,
            50_000,
            [
                0x42dda1475ede0bba,
                0x43b279b25cf6b396,
                0xc3bffff03db33973,
                0xc3bffff03db33973,
                0xc3b9996b00a88f72,
                0xc3afffeb020d8985,
                0xc2d1f73d3e44f7a0,
                0x43b0000d20a300e6,
                0x43bfeed501e0124f,
                0x43bfffb2dfb77b9c,
                0x43bfffb2dfb77b9c,
            ],
        );
        assert_eq!(d.imin, *x.iter().min().unwrap());
        assert_eq!(d.imax, *x.iter().max().unwrap());
        let whole = describe_column(Values::Int(&x), &QS, 1 << 20).unwrap();
        assert_ne!(whole.mean.to_bits(), d.mean.to_bits());
        let x = ints(5);
        let d = describe_column(Values::Int(&x), &QS, 8192).unwrap();
        check(
            &d,
            5,
            [
                0x43a587e51ffb7c73,
                0x43b21be87ff40d06,
                0xc3adab4e1337b6c0,
                0xc3adab4e1337b6c0,
                0xc39b982c4aacb1e6,
                0x4394057b7ef76781,
                0x439cfb5806dd27ff,
                0x43bb15dbeb10ff40,
                0x43bd5107d2896ff3,
                0x43bd53530d0a6f60,
                0x43bd53530d0a6f60,
            ],
        );
    }

    #[test]
    fn int_quantiles_wrap_as_numpy() {
        // pd.Series([2**63 - 1, -2**63, 5]).describe(): 25% is 4.611686018427388e18, as NumPy's
        // int64 b - a wraps around
        let x = [i64::MAX, i64::MIN, 5];
        let d = describe_column(Values::Int(&x), &[0.25, 0.5, 0.75], 8192).unwrap();
        assert_eq!(
            d.quantiles,
            vec![4.611686018427388e18, 5.0, 4.611686018427388e18]
        );
        assert_eq!(
            (d.min, d.max),
            (-9.223372036854776e18, 9.223372036854776e18)
        );
        assert_eq!(d.std, 9.223372036854776e18);
    }

    /// Quantiles by NumPy's definition on a sorted copy.
    fn sorted_quantiles(x: &[f64], qs: &[f64]) -> Vec<f64> {
        let mut v: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = v.len();
        let last = (n - 1) as f64;
        qs.iter()
            .map(|&q| {
                let vi = last * q;
                let (p, nx, pg) = if vi >= last {
                    (n - 1, n - 1, -1.0)
                } else {
                    let f = vi.floor();
                    (f as usize, f as usize + 1, f)
                };
                lerp(v[p], v[nx], vi - pg).unwrap()
            })
            .collect()
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn selection_matches_a_sort() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let qs = [0.0, 0.01, 0.25, 0.3, 0.5, 0.75, 0.9, 0.99, 1.0];
        for case in 0..60 {
            let n = 1 + (rng.next() % 30_000) as usize;
            let distinct = 1 + rng.next() % [2, 10, 1000, u64::MAX][case % 4];
            let scale = [1e-300, 1.0, 1e6, 1e300][case % 4 / 2 + case % 2];
            let x: Vec<f64> = (0..n)
                .map(|_| match rng.next() % 20 {
                    0 => f64::NAN,
                    _ => ((rng.next() % distinct) as f64 - distinct as f64 / 3.0) * scale,
                })
                .collect();
            if x.iter().all(|v| v.is_nan()) {
                continue;
            }
            let got = describe_column(Values::Float(&x), &qs, 8192);
            let Ok(got) = got else {
                // only a zero of both signs or an overflow may decline
                continue;
            };
            let want = sorted_quantiles(&x, &qs);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.quantiles), bits(&want), "case {case}");
            let ix: Vec<i64> = x
                .iter()
                .map(|v| if v.is_nan() { 7 } else { (*v / scale) as i64 })
                .collect();
            let got = describe_column(Values::Int(&ix), &qs, 8192).unwrap();
            let fx: Vec<f64> = ix.iter().map(|&v| v as f64).collect();
            assert_eq!(
                bits(&got.quantiles),
                bits(&sorted_quantiles(&fx, &qs)),
                "int case {case}"
            );
        }
    }

    #[test]
    fn keys_are_impute_keys() {
        for x in [
            0.0,
            -0.0,
            1.5,
            -1.5,
            f64::MIN_POSITIVE,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(key(x), crate::impute::key(x), "{x}");
            assert_eq!(unkey(key(x)).to_bits(), (x + 0.0).to_bits());
        }
    }

    #[test]
    fn large_columns_match_a_sort() {
        // several parts per column: the parallel histograms and collections are merged
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let qs = [0.0, 0.05, 0.25, 0.5, 0.5000001, 0.75, 0.99, 1.0];
        let n = 300_000;
        let uniform: Vec<f64> = (0..n).map(|_| (rng.next() % 1_000_000) as f64).collect();
        let mut sorted = uniform.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let descending: Vec<f64> = sorted.iter().rev().copied().collect();
        let few: Vec<f64> = (0..n).map(|_| (rng.next() % 3) as f64 - 1.5).collect();
        let nan_heavy: Vec<f64> = (0..n)
            .map(|_| match rng.next() % 10 {
                0 => (rng.next() >> 12) as f64 - (1u64 << 51) as f64,
                _ => f64::NAN,
            })
            .collect();
        let heavy_tail: Vec<f64> = (0..n)
            .map(|_| 1.0 / ((rng.next() >> 11) as f64 / (1u64 << 53) as f64 + 1e-12))
            .collect();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (what, x) in [
            ("uniform", uniform),
            ("sorted", sorted),
            ("descending", descending),
            ("three values", few),
            ("90% NaN", nan_heavy),
            ("heavy tail", heavy_tail),
        ] {
            let d = describe_column(Values::Float(&x), &qs, 8192).unwrap();
            assert_eq!(
                bits(&d.quantiles),
                bits(&sorted_quantiles(&x, &qs)),
                "{what}"
            );
            let valid: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
            assert_eq!(d.count, valid.len(), "{what}");
            assert_eq!(d.min, valid.iter().copied().fold(f64::INFINITY, f64::min));
            assert_eq!(
                d.max,
                valid.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            );
        }
        // ints over the full range (keys up to u64::MAX), and few distinct ones
        for x in [
            (0..n)
                .map(|i| match i % 7 {
                    0 => i64::MAX,
                    1 => i64::MIN,
                    _ => rng.next() as i64,
                })
                .collect::<Vec<i64>>(),
            (0..n).map(|_| (rng.next() % 100) as i64 - 50).collect(),
        ] {
            let d = describe_column(Values::Int(&x), &qs, 8192).unwrap();
            let mut sorted = x.clone();
            sorted.sort_unstable();
            let want: Vec<f64> = reads_of(n, &qs)
                .iter()
                .map(|&(p, nx, t)| {
                    let (a, b) = (sorted[p], sorted[nx]);
                    let diff = b.wrapping_sub(a) as f64;
                    if t >= 0.5 {
                        b as f64 - diff * (1.0 - t)
                    } else {
                        a as f64 + diff * t
                    }
                })
                .collect();
            assert_eq!(bits(&d.quantiles), bits(&want));
            assert_eq!((d.imin, d.imax), (sorted[0], sorted[n - 1]));
        }
    }

    #[test]
    fn empty_all_nan_and_one_value() {
        let qs = [0.25, 0.5];
        let d = describe_column(Values::Float(&[]), &qs, 8192).unwrap();
        assert_eq!(d.count, 0);
        assert!(
            [d.mean, d.std, d.min, d.max, d.quantiles[0], d.quantiles[1]]
                .iter()
                .all(|v| v.is_nan())
        );
        let d = describe_column(Values::Float(&[f64::NAN, f64::NAN]), &qs, 8192).unwrap();
        assert_eq!(d.count, 0);
        assert!(d.mean.is_nan() && d.min.is_nan() && d.quantiles[1].is_nan());
        let d = describe_column(Values::Float(&[f64::NAN, 3.0]), &qs, 8192).unwrap();
        assert_eq!((d.count, d.mean, d.min, d.max), (1, 3.0, 3.0, 3.0));
        assert!(d.std.is_nan());
        assert_eq!(d.quantiles, vec![3.0, 3.0]);
        let d = describe_column(Values::Int(&[]), &qs, 8192).unwrap();
        assert_eq!(d.count, 0);
        assert!(d.mean.is_nan() && d.min.is_nan() && d.quantiles[0].is_nan());
        let d = describe_column(Values::Int(&[-4]), &qs, 8192).unwrap();
        assert_eq!(
            (d.mean, d.min, d.imin, d.quantiles[1]),
            (-4.0, -4.0, -4, -4.0)
        );
        assert!(d.std.is_nan());
        // no quantiles asked for
        let d = describe_column(Values::Int(&[1, 2]), &[], 8192).unwrap();
        assert!(d.quantiles.is_empty());
    }

    #[test]
    fn zeros_keep_their_sign_or_decline() {
        let qs = [0.25, 0.5, 0.75];
        // pandas: [-0.0, -0.0] -> mean 0.0, std 0.0, min -0.0, 25% 0.0, 50% -0.0, 75% -0.0
        let d = describe_column(Values::Float(&[-0.0, -0.0]), &qs, 8192).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&[
                d.mean,
                d.std,
                d.min,
                d.quantiles[0],
                d.quantiles[1],
                d.quantiles[2],
                d.max
            ]),
            bits(&[0.0, 0.0, -0.0, 0.0, -0.0, -0.0, -0.0])
        );
        // both signs and a zero minimum: which one NumPy returns is not defined
        assert!(describe_column(Values::Float(&[0.0, -0.0, 1.0]), &qs, 8192).is_err());
        // both signs, but neither extreme nor any quantile depends on it
        let d = describe_column(Values::Float(&[0.0, -0.0, 1.0, -1.0, 5.0]), &[0.9], 8192);
        assert!(d.is_ok());
    }

    #[test]
    fn infinities_and_overflows_decline() {
        let qs = [0.5];
        for x in [
            vec![1.0, f64::INFINITY],
            vec![f64::NEG_INFINITY],
            vec![1e308, 1e308],                // the sum
            vec![-1e308, 1e308, 0.0, 0.0],     // the squares
            vec![1e200, f64::NAN, 1e200],      // a NaN position's square
            vec![-1.7e308, 1.7e308, -1.7e308], // b - a in a quantile
        ] {
            assert!(
                describe_column(Values::Float(&x), &qs, 8192).is_err(),
                "{x:?}"
            );
        }
        assert!(describe_column(Values::Float(&[5e-324, -5e-324, 1e-310]), &qs, 8192).is_ok());
        assert!(describe_column(Values::Float(&[1.0]), &[1.5], 8192).is_err());
        assert!(describe_column(Values::Float(&[1.0]), &[0.5], 0).is_err());
    }
}
