//! pandas' groupby aggregations on one key column (`df.groupby(key).agg(...)`), exactly.
//!
//! Groups are the distinct non-null keys sorted as pandas sorts them (`sort=True`): int64 keys
//! numerically, string keys by code point (the byte order of UTF-8); rows with a null key belong
//! to no group (`dropna=True`). Every aggregation visits its group's rows in row order and does
//! the arithmetic of pandas' Cython kernels (`pandas/_libs/groupby.pyx`), so floats match bit for
//! bit:
//!
//! - `sum` of floats: Kahan summation, the compensation reset when it is not finite
//!   (`group_sum`); of int64: wrapping int64 addition.
//! - `mean`: Kahan summation (the compensation reset when NaN, `group_mean`), then the sum
//!   divided by the count; int64 values are summed as float64.
//! - `var` / `std` (ddof 1): Welford's update of `group_var`, then `m2 / (n - 1)` (and its sqrt).
//! - `min` / `max`: starting from +-inf (float) or the int64 extremes, a strict comparison per
//!   value (so the first of equal values, e.g. of 0.0 and -0.0, is kept); a group without values
//!   is NaN (float) or NaT (datetime).
//! - `first`: the first value that is not missing (NaN / NaT for none).
//! - `median` (float and int values): the middle value, or the two middle values' sum halved.
//! - `count`: the values that are not missing (NaN, NaT, null); `size`: the rows;
//!   `nunique`: the distinct values that are not missing (0.0 and -0.0 are one value).
//!
//! Missing values: NaN in float64 columns, NaT (int64 minimum) in columns flagged as datetimes,
//! nulls in string columns. Datetime columns support only count, size, min, max and first; string
//! columns only count, size and nunique. The shim sends only what is supported;
//! anything else is declined here too.
//!
//! The aggregations run in parallel, one per core at a time; the factorisation of the key is one
//! hash pass plus a sort of the distinct keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, LargeStringArray, RecordBatch, StringArray,
};
use arrow_schema::DataType;
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::ipc::{input_column, kernel_input, write_ipc_file, ColumnRef};

/// No group: the label of a row whose key is null.
pub(crate) const NONE: u32 = u32::MAX;
/// pandas' NaT as an int64.
const NAT: i64 = i64::MIN;

/// A hasher for group keys: murmur3's 64-bit finaliser for int64 keys (and float bits), one
/// folded multiply for short strings as u128, XXH3 for longer strings' bytes.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u64(&mut self, v: u64) {
        let mut h = (v ^ self.0.rotate_left(29)).wrapping_add(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        self.0 = h;
    }
    fn write_u128(&mut self, v: u128) {
        // one folded multiply of the two halves (as in wyhash / foldhash)
        let m = u128::from((v as u64) ^ 0xa076_1d64_78bd_642f ^ self.0)
            * u128::from(((v >> 64) as u64) ^ 0xe703_7ed1_a0b4_28db);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}

type KeyMap<K> = HashMap<K, u32, BuildHasherDefault<KeyHasher>>;

/// A string column, whatever its offset width.
#[derive(Clone, Copy)]
pub(crate) enum Strings<'a> {
    Small(&'a StringArray),
    Large(&'a LargeStringArray),
}

impl<'a> Strings<'a> {
    pub(crate) fn of(col: &'a ArrayRef) -> Option<Strings<'a>> {
        match col.data_type() {
            DataType::Utf8 => Some(Strings::Small(col.as_string::<i32>())),
            DataType::LargeUtf8 => Some(Strings::Large(col.as_string::<i64>())),
            _ => None,
        }
    }

    /// Value i (at most INLINE bytes long) as one integer that sorts as the string does: its
    /// bytes, zero-padded, then its length (so "a" < "a\0" < "ab"; byte order = code point
    /// order = Python's str order). Hashing and comparing it never touches the string again.
    /// None when null.
    #[inline]
    fn inline_at(&self, i: usize) -> Option<u128> {
        fn at<O: arrow_array::OffsetSizeTrait>(
            a: &arrow_array::GenericStringArray<O>,
            i: usize,
        ) -> Option<u128> {
            if a.is_null(i) {
                return None;
            }
            let o = a.value_offsets();
            let (start, end) = (o[i].as_usize(), o[i + 1].as_usize());
            let data = a.value_data();
            let len = end - start;
            if start + 16 <= data.len() {
                // one 16-byte load, the bytes past the value masked off: the same integer
                let raw = u128::from_le_bytes(data[start..start + 16].try_into().expect("16"));
                let value = raw & ((1u128 << (8 * len)) - 1); // len <= 15
                return Some(value.swap_bytes() | len as u128);
            }
            let mut b = [0u8; 16];
            b[..len].copy_from_slice(&data[start..end]);
            b[INLINE] = len as u8;
            Some(u128::from_be_bytes(b))
        }
        match self {
            Strings::Small(a) => at(a, i),
            Strings::Large(a) => at(a, i),
        }
    }

    fn len(&self) -> usize {
        match self {
            Strings::Small(a) => a.len(),
            Strings::Large(a) => a.len(),
        }
    }

    /// The length in bytes of the longest value.
    fn max_len(&self) -> usize {
        fn widest<O: arrow_array::OffsetSizeTrait>(o: &[O]) -> usize {
            o.windows(2)
                .map(|w| (w[1] - w[0]).as_usize())
                .max()
                .unwrap_or(0)
        }
        match self {
            Strings::Small(a) => widest(a.value_offsets()),
            Strings::Large(a) => widest(a.value_offsets()),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strings::Small(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::Large(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// One value column as the aggregations see it.
enum Values<'a> {
    Float(&'a [f64]),
    Int(&'a [i64]),
    /// int64 nanoseconds (or any unit) with NaT as the int64 minimum
    Datetime(&'a [i64]),
    Str(Strings<'a>),
}

impl<'a> Values<'a> {
    fn of(col: &'a ArrayRef, datetime: bool) -> std::result::Result<Values<'a>, String> {
        let no_nulls = |kind: &str| {
            if col.null_count() > 0 {
                Err(format!(
                    "nulls in a {kind} column (NaN/NaT mark missing values)"
                ))
            } else {
                Ok(())
            }
        };
        match col.data_type() {
            DataType::Float64 if !datetime => {
                no_nulls("float64")?;
                Ok(Values::Float(col.as_primitive::<Float64Type>().values()))
            }
            DataType::Int64 => {
                no_nulls("int64")?;
                let v = col.as_primitive::<Int64Type>().values();
                Ok(if datetime {
                    Values::Datetime(v)
                } else {
                    Values::Int(v)
                })
            }
            _ if !datetime => Strings::of(col)
                .map(Values::Str)
                .ok_or_else(|| format!("a value column of type {}", col.data_type())),
            other => Err(format!("a datetime column of type {other} (int64 only)")),
        }
    }
}

/// One requested aggregation: value column `col` (0 for `v0`), function `op`.
#[derive(Deserialize, Clone)]
struct Agg {
    col: usize,
    op: String,
}

#[derive(Deserialize)]
struct Options {
    aggs: Vec<Agg>,
    /// columns passed by reference into store results instead of in the input file
    #[serde(default)]
    refs: HashMap<String, ColumnRef>,
    /// the value columns that hold datetimes as int64 (NaT = int64 minimum)
    #[serde(default)]
    datetime: Vec<usize>,
    /// `transform`: each aggregation's value for every row (its group's), no key column
    #[serde(default)]
    broadcast: bool,
}

/// The key column factorised: each row's group (NONE for a null key), groups numbered in
/// sorted key order, and the sorted distinct keys.
pub(crate) struct Groups {
    pub(crate) labels: Vec<u32>,
    pub(crate) keys: ArrayRef,
}

impl Groups {
    fn len(&self) -> usize {
        self.keys.len()
    }

    /// All the groups as one part.
    fn whole(&self) -> Part<'_> {
        Part {
            labels: &self.labels,
            lo: 0,
            hi: self.len() as u32,
        }
    }

    /// The groups split into consecutive ranges, one per core when there are many groups: each
    /// range is aggregated on its own (every group still sees its rows in row order).
    fn parts(&self) -> Vec<Part<'_>> {
        let n = self.len();
        let k = rayon::current_num_threads();
        if n < 1 << 14 || k < 2 {
            return vec![self.whole()];
        }
        (0..k)
            .map(|j| Part {
                labels: &self.labels,
                lo: (n * j / k) as u32,
                hi: (n * (j + 1) / k) as u32,
            })
            .collect()
    }
}

/// The groups `lo..hi` (numbered from 0 within the part).
struct Part<'a> {
    labels: &'a [u32],
    lo: u32,
    hi: u32,
}

impl Part<'_> {
    fn len(&self) -> usize {
        (self.hi - self.lo) as usize
    }
}

/// A string key hashed once (`str`'s own Hash would feed the hasher twice).
#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
struct StrKey<'a>(&'a str);

impl std::hash::Hash for StrKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0.as_bytes());
    }
}

/// Strings up to this many bytes are keyed by value (`Strings::inline_at`), not by reference.
const INLINE: usize = 15;

/// Numbers the distinct keys (in sorted key order): each chunk of rows is numbered by its own
/// hash table in parallel, the chunks' distinct keys are sorted together (tagged with their
/// chunk and local number, so equal keys end up adjacent and no global hash table is needed),
/// and every row's local number is mapped to its key's rank.
pub(crate) fn factorize<K, F>(n: usize, key: F) -> (Vec<u32>, Vec<K>)
where
    K: std::hash::Hash + Eq + Ord + Copy + Send + Sync,
    F: Fn(usize) -> Option<K> + Sync,
{
    let chunks = rayon::current_num_threads().clamp(1, n.div_ceil(1 << 16).max(1));
    let step = n.div_ceil(chunks).max(1);
    let local: Vec<(Vec<u32>, Vec<K>)> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let rows = c * step..((c + 1) * step).min(n);
            let mut ids: KeyMap<K> = KeyMap::default();
            let mut uniques: Vec<K> = Vec::new();
            let labels = rows
                .map(|i| match key(i) {
                    None => NONE,
                    Some(k) => *ids.entry(k).or_insert_with(|| {
                        uniques.push(k);
                        (uniques.len() - 1) as u32
                    }),
                })
                .collect();
            (labels, uniques)
        })
        .collect();
    let mut tagged: Vec<(K, u32, u32)> = local
        .iter()
        .enumerate()
        .flat_map(|(c, (_, u))| {
            u.iter()
                .enumerate()
                .map(move |(j, &k)| (k, c as u32, j as u32))
        })
        .collect();
    tagged.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut to: Vec<Vec<u32>> = local.iter().map(|(_, u)| vec![0; u.len()]).collect();
    let mut all: Vec<K> = Vec::new();
    for &(k, c, j) in &tagged {
        if all.last() != Some(&k) {
            all.push(k);
        }
        to[c as usize][j as usize] = (all.len() - 1) as u32;
    }
    drop(tagged);
    let mut labels: Vec<u32> = Vec::with_capacity(n);
    let parts: Vec<Vec<u32>> = local
        .into_par_iter()
        .zip(to.into_par_iter())
        .map(|((mut l, _), to)| {
            for x in l.iter_mut() {
                if *x != NONE {
                    *x = to[*x as usize];
                }
            }
            l
        })
        .collect();
    for p in parts {
        labels.extend(p);
    }
    (labels, all)
}

/// Hash partitions of [`factorize_unordered`].
const PARTS: usize = 256;

/// Numbers the distinct keys in no particular order, for callers that only need which rows hold
/// equal keys (`duplicated`): each thread splits its rows by hash into partitions, each
/// partition numbers its keys with a table of its own, and a key's number is its partition's
/// first number plus its number there. No tables are merged and no keys sorted ([`factorize`]
/// sorts the chunks' distinct keys: ~50 ms for 1M floats of 800k distinct values). Returns each
/// row's number ([`NONE`] for a null key) and how many there are.
pub(crate) fn factorize_unordered<K, F>(n: usize, key: F) -> (Vec<u32>, usize)
where
    K: std::hash::Hash + Eq + Copy + Send + Sync,
    F: Fn(usize) -> Option<K> + Sync,
{
    use std::hash::BuildHasher;
    let hasher = BuildHasherDefault::<KeyHasher>::default();
    // bits 40..48 of the hash: the tables index with the low bits and tag with the top 7, which
    // stay spread within a partition
    let part = |k: &K| (hasher.hash_one(k) >> 40) as usize % PARTS;
    let chunk = n.div_ceil(rayon::current_num_threads().max(1)).max(1 << 14);
    let split: Vec<Vec<Vec<(u32, K)>>> = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let rows = c * chunk..((c + 1) * chunk).min(n);
            let mut parts: Vec<Vec<(u32, K)>> = (0..PARTS)
                .map(|_| Vec::with_capacity(rows.len() / PARTS * 2))
                .collect();
            for i in rows {
                if let Some(k) = key(i) {
                    parts[part(&k)].push((i as u32, k));
                }
            }
            parts
        })
        .collect();
    let numbered: Vec<(Vec<(u32, u32)>, u32)> = (0..PARTS)
        .into_par_iter()
        .map(|p| {
            let len = split.iter().map(|s| s[p].len()).sum::<usize>();
            let mut ids: KeyMap<K> = KeyMap::with_capacity_and_hasher(len, Default::default());
            let mut rows = Vec::with_capacity(len);
            for &(i, k) in split.iter().flat_map(|s| &s[p]) {
                let next = ids.len() as u32;
                rows.push((i, *ids.entry(k).or_insert(next)));
            }
            (rows, ids.len() as u32)
        })
        .collect();
    drop(split);
    let mut labels = vec![NONE; n];
    let mut first = 0u32;
    for (rows, count) in &numbered {
        for &(i, id) in rows {
            labels[i as usize] = first + id;
        }
        first += count;
    }
    (labels, first as usize)
}

/// int64 keys spanning a range not much larger than the rows: a table indexed by the key
/// replaces hashing, and walking it in order numbers the keys sorted.
fn factorize_dense(v: &[i64]) -> Option<(Vec<u32>, Vec<i64>)> {
    factorize_dense_all(&[v]).map(|(mut labels, keys)| (labels.pop().expect("one column"), keys))
}

/// [`factorize_dense`] of several columns numbered together: each column's labels, and the
/// sorted distinct keys of all of them.
pub(crate) fn factorize_dense_all(columns: &[&[i64]]) -> Option<(Vec<Vec<u32>>, Vec<i64>)> {
    let n: usize = columns.iter().map(|c| c.len()).sum();
    if n == 0 {
        return None;
    }
    let (lo, hi) = columns
        .par_iter()
        .flat_map(|c| c.par_iter())
        .fold(
            || (i64::MAX, i64::MIN),
            |(lo, hi), &x| (lo.min(x), hi.max(x)),
        )
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let span = (hi as i128 - lo as i128 + 1) as u128;
    if span > (4 * n as u128).max(1 << 16) {
        return None;
    }
    // a bit per possible key, set in parallel (one bitmap per chunk of rows, then or-ed), then
    // a key's number is the count of set bits before it: sorted order without a sort
    let words = (span as usize).div_ceil(64);
    let chunk = n.div_ceil(rayon::current_num_threads().max(1)).max(1 << 16);
    let bits = columns
        .par_iter()
        .flat_map(|c| c.par_chunks(chunk))
        .map(|c| {
            let mut b = vec![0u64; words];
            for &x in c {
                let o = (x - lo) as usize;
                let bit = 1 << (o % 64);
                // set only when clear: with few keys the word is rarely written, and reads
                // do not wait on the previous element's write
                if b[o / 64] & bit == 0 {
                    b[o / 64] |= bit;
                }
            }
            b
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
            a
        })
        .expect("at least one row");
    let mut before = Vec::with_capacity(words);
    let mut keys = Vec::new();
    for (w, &word) in bits.iter().enumerate() {
        before.push(keys.len() as u32);
        let mut rest = word;
        while rest != 0 {
            keys.push(lo + (w * 64) as i64 + i64::from(rest.trailing_zeros()));
            rest &= rest - 1;
        }
    }
    let labels = columns
        .iter()
        .map(|c| {
            c.par_iter()
                .map(|&x| {
                    let o = (x - lo) as usize;
                    before[o / 64] + (bits[o / 64] & ((1u64 << (o % 64)) - 1)).count_ones()
                })
                .collect()
        })
        .collect();
    Some((labels, keys))
}

/// The groups of a key column (also the class labels of `labels.rs`).
pub(crate) fn group_keys(key: &ArrayRef) -> std::result::Result<Groups, String> {
    let n = key.len();
    match key.data_type() {
        DataType::Int64 => {
            let a = key.as_primitive::<Int64Type>();
            let dense = (a.null_count() == 0).then(|| factorize_dense(a.values()));
            let (labels, keys) = dense
                .flatten()
                .unwrap_or_else(|| factorize(n, |i| a.is_valid(i).then(|| a.value(i))));
            Ok(Groups {
                labels,
                keys: Arc::new(Int64Array::from(keys)),
            })
        }
        _ => {
            let s = Strings::of(key)
                .ok_or_else(|| format!("a key column of type {}", key.data_type()))?;
            Ok(string_groups(&[s]))
        }
    }
}

/// The groups of string columns taken end to end (row `i` of the second column is row
/// `len(first) + i`), without concatenating them.
pub(crate) fn string_groups(cols: &[Strings]) -> Groups {
    let lens: Vec<usize> = cols.iter().map(|c| c.len()).collect();
    let n = lens.iter().sum();
    // the column and the row in it of row i
    let at = |mut i: usize| -> (&Strings, usize) {
        for (c, &len) in cols.iter().zip(&lens) {
            if i < len {
                return (c, i);
            }
            i -= len;
        }
        unreachable!("row {i} past the columns")
    };
    if cols.iter().all(|c| c.max_len() <= INLINE) {
        let (labels, keys) = factorize(n, |i| {
            let (c, j) = at(i);
            c.inline_at(j)
        });
        return Groups {
            labels,
            keys: Arc::new(LargeStringArray::from_iter_values(keys.iter().map(|k| {
                let b = k.to_be_bytes();
                String::from_utf8_lossy(&b[..usize::from(b[INLINE])]).into_owned()
            }))),
        };
    }
    let (labels, keys) = factorize(n, |i| {
        let (c, j) = at(i);
        c.get(j).map(StrKey)
    });
    Groups {
        labels,
        keys: Arc::new(LargeStringArray::from(
            keys.into_iter().map(|k| k.0).collect::<Vec<_>>(),
        )),
    }
}

/// Rows per group (`size`).
fn size(g: &Part) -> Vec<i64> {
    let mut out = vec![0i64; g.len()];
    each(g, |l, _| out[l] += 1);
    out
}

/// Calls `f(group, row)` for every row of a group of the part, in row order (NONE, the label
/// of no group, is never in a part's range).
#[inline]
fn each<F: FnMut(usize, usize)>(g: &Part, mut f: F) {
    let (lo, hi) = (g.lo, g.hi);
    for (i, &l) in g.labels.iter().enumerate() {
        if l >= lo && l < hi {
            f((l - lo) as usize, i);
        }
    }
}

fn count_where<F: Fn(usize) -> bool>(g: &Part, present: F) -> Vec<i64> {
    let mut out = vec![0i64; g.len()];
    each(g, |l, i| {
        if present(i) {
            out[l] += 1;
        }
    });
    out
}

/// `group_sum` on float64: Kahan, the compensation reset when it is not finite. The state of
/// a group (sum, compensation) shares one cache line.
fn sum_f64(g: &Part, v: &[f64]) -> Vec<f64> {
    let mut st = vec![(0f64, 0f64); g.len()];
    each(g, |l, i| {
        let val = v[i];
        if !val.is_nan() {
            let (sum, comp) = &mut st[l];
            let y = val - *comp;
            let t = *sum + y;
            *comp = t - *sum - y;
            if !comp.is_finite() {
                *comp = 0.0;
            }
            *sum = t;
        }
    });
    st.into_iter().map(|(sum, _)| sum).collect()
}

/// `group_mean`: Kahan (the compensation reset when NaN), then sum / count, NaN for no values.
fn mean<F: Fn(usize) -> f64>(g: &Part, val_at: F) -> Vec<f64> {
    let mut st = vec![(0f64, 0f64, 0i64); g.len()];
    each(g, |l, i| {
        let val = val_at(i);
        if !val.is_nan() {
            let (sum, comp, nobs) = &mut st[l];
            *nobs += 1;
            let y = val - *comp;
            let t = *sum + y;
            *comp = t - *sum - y;
            if comp.is_nan() {
                *comp = 0.0;
            }
            *sum = t;
        }
    });
    st.into_iter()
        .map(|(s, _, n)| if n == 0 { f64::NAN } else { s / n as f64 })
        .collect()
}

/// `group_var` with ddof 1 (Welford), and its square root for `std`.
fn var<F: Fn(usize) -> f64>(g: &Part, val_at: F, std: bool) -> Vec<f64> {
    let mut st = vec![(0f64, 0f64, 0i64); g.len()]; // (m2, mean, nobs)
    each(g, |l, i| {
        let val = val_at(i);
        if !val.is_nan() {
            let (m2, mean, nobs) = &mut st[l];
            *nobs += 1;
            let old = *mean;
            *mean += (val - old) / *nobs as f64;
            *m2 += (val - *mean) * (val - old);
        }
    });
    st.into_iter()
        .map(|(m, _, n)| {
            if n <= 1 {
                f64::NAN
            } else if std {
                (m / (n - 1) as f64).sqrt()
            } else {
                m / (n - 1) as f64
            }
        })
        .collect()
}

/// `group_min_max` on float64: NaN skipped, NaN for a group without values.
fn min_max_f64(g: &Part, v: &[f64], max: bool) -> Vec<f64> {
    let start = if max {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    let mut st = vec![(start, false); g.len()]; // (extreme, seen a value)
    each(g, |l, i| {
        let val = v[i];
        if !val.is_nan() {
            let (m, seen) = &mut st[l];
            *seen = true;
            if (max && val > *m) || (!max && val < *m) {
                *m = val;
            }
        }
    });
    st.into_iter()
        .map(|(m, seen)| if seen { m } else { f64::NAN })
        .collect()
}

/// `group_min_max` on int64 (`nat`: datetimes, NaT skipped, NaT for a group without values).
fn min_max_i64(g: &Part, v: &[i64], max: bool, nat: bool) -> Vec<i64> {
    // pandas' starting points (`_get_min_or_max`): NaT + 1 for a datetime max
    let start = match (max, nat) {
        (true, true) => NAT + 1,
        (true, false) => i64::MIN,
        (false, _) => i64::MAX,
    };
    let mut st = vec![(start, false); g.len()];
    each(g, |l, i| {
        let val = v[i];
        if !(nat && val == NAT) {
            let (m, seen) = &mut st[l];
            *seen = true;
            if (max && val > *m) || (!max && val < *m) {
                *m = val;
            }
        }
    });
    st.into_iter()
        .map(|(m, seen)| if seen { m } else { NAT })
        .collect()
}

/// `first` (`group_nth`, skipna): the first value that is not missing, NaN for none.
fn first_f64(g: &Part, v: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN; g.len()];
    let mut seen = vec![false; g.len()];
    each(g, |l, i| {
        if !seen[l] && !v[i].is_nan() {
            seen[l] = true;
            out[l] = v[i];
        }
    });
    out
}

/// `first` on int64 (`nat`: datetimes, NaT skipped, NaT for a group without values).
fn first_i64(g: &Part, v: &[i64], nat: bool) -> Vec<i64> {
    let mut out = vec![NAT; g.len()];
    let mut seen = vec![false; g.len()];
    each(g, |l, i| {
        let missing = nat && v[i] == NAT;
        if !seen[l] && !missing {
            seen[l] = true;
            out[l] = v[i];
        }
    });
    out
}

/// Distinct values per group, missing values not counted: the values are numbered (`codes`,
/// NONE for missing), then each (group, code) pair is counted once, in a bitmap when
/// groups x codes is small, else by sorting the pairs.
fn nunique(g: &Part, codes: &[u32], ncodes: usize) -> Vec<i64> {
    let mut out = vec![0i64; g.len()];
    let cells = g.len() as u128 * ncodes as u128;
    if cells <= 1 << 28 {
        let mut seen = vec![0u64; (cells as usize).div_ceil(64)];
        each(g, |l, i| {
            let c = codes[i];
            if c != NONE {
                let bit = l * ncodes + c as usize;
                let (w, m) = (bit / 64, 1u64 << (bit % 64));
                if seen[w] & m == 0 {
                    seen[w] |= m;
                    out[l] += 1;
                }
            }
        });
    } else {
        let mut pairs: Vec<u64> = g
            .labels
            .iter()
            .zip(codes)
            .filter(|(&l, &c)| l >= g.lo && l < g.hi && c != NONE)
            .map(|(&l, &c)| (u64::from(l - g.lo) << 32) | u64::from(c))
            .collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        for p in pairs {
            out[(p >> 32) as usize] += 1;
        }
    }
    out
}

/// Each value's number among the column's distinct values (NONE for missing), and how many.
fn value_codes(v: &Values) -> Option<(Vec<u32>, usize)> {
    match v {
        Values::Int(x) => {
            let (codes, keys) =
                factorize_dense(x).unwrap_or_else(|| factorize(x.len(), |i| Some(x[i])));
            Some((codes, keys.len()))
        }
        Values::Str(s) => {
            let n = match s {
                Strings::Small(a) => a.len(),
                Strings::Large(a) => a.len(),
            };
            let (codes, ncodes) = if s.max_len() <= INLINE {
                let (c, k) = factorize(n, |i| s.inline_at(i));
                (c, k.len())
            } else {
                let (c, k) = factorize(n, |i| s.get(i).map(StrKey));
                (c, k.len())
            };
            Some((codes, ncodes))
        }
        Values::Float(x) => {
            // pandas counts 0.0 and -0.0 as one value; NaN is missing
            let bits = |i: usize| {
                let v = x[i];
                (!v.is_nan()).then(|| if v == 0.0 { 0u64 } else { v.to_bits() })
            };
            let (codes, keys) = factorize(x.len(), bits);
            Some((codes, keys.len()))
        }
        Values::Datetime(_) => None,
    }
}

/// `group_median_float64`: per group the values that are not NaN, the middle one (odd count) or
/// the two middle ones' sum halved (`calc_median_linear`), NaN for none. The values are
/// gathered group by group (a counting sort by label), then each group's middle is selected,
/// groups in parallel. pandas selects with its own quickselect, which may return either of
/// two equal zeros: a middle value of zero in a group holding both 0.0 and -0.0 has no
/// determined sign, and the call is declined.
fn median<F: Fn(usize) -> f64 + Sync>(
    g: &Groups,
    val_at: F,
) -> std::result::Result<ArrayRef, String> {
    let k = g.len();
    let mut start = vec![0usize; k + 1];
    for (i, &l) in g.labels.iter().enumerate() {
        if l != NONE && !val_at(i).is_nan() {
            start[l as usize + 1] += 1;
        }
    }
    for j in 0..k {
        start[j + 1] += start[j];
    }
    let mut buf = vec![0f64; start[k]];
    let mut at = start.clone();
    for (i, &l) in g.labels.iter().enumerate() {
        let v = val_at(i);
        if l != NONE && !v.is_nan() {
            buf[at[l as usize]] = v;
            at[l as usize] += 1;
        }
    }
    let mut slices: Vec<&mut [f64]> = Vec::with_capacity(k);
    let mut rest = buf.as_mut_slice();
    for j in 0..k {
        let (head, tail) = rest.split_at_mut(start[j + 1] - start[j]);
        slices.push(head);
        rest = tail;
    }
    let out: Vec<Option<f64>> = slices
        .into_par_iter()
        .map(|vals| {
            let n = vals.len();
            if n == 0 {
                return Some(f64::NAN);
            }
            let hi = *vals.select_nth_unstable_by(n / 2, f64::total_cmp).1;
            let signed_zeros = |vals: &[f64]| {
                vals.iter().any(|v| *v == 0.0 && v.is_sign_negative())
                    && vals.iter().any(|v| *v == 0.0 && v.is_sign_positive())
            };
            if n % 2 == 1 {
                return (hi != 0.0 || !signed_zeros(vals)).then_some(hi);
            }
            // the largest of the lower half is the other middle value
            let lo = vals[..n / 2]
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            ((hi != 0.0 && lo != 0.0) || !signed_zeros(vals)).then_some((hi + lo) / 2.0)
        })
        .collect();
    let out: Option<Vec<f64>> = out.into_iter().collect();
    out.map(|o| Arc::new(Float64Array::from(o)) as ArrayRef)
        .ok_or_else(|| {
            "a median between 0.0 and -0.0 (its sign depends on pandas' quickselect)".into()
        })
}

/// Each row's group's value (`transform`): a gather by label, in parallel.
fn broadcast(a: &ArrayRef, labels: &[u32]) -> ArrayRef {
    fn gather<T: Copy + Send + Sync>(v: &[T], labels: &[u32]) -> Vec<T> {
        labels.par_iter().map(|&l| v[l as usize]).collect()
    }
    match a.data_type() {
        DataType::Float64 => Arc::new(Float64Array::from(gather(
            a.as_primitive::<Float64Type>().values(),
            labels,
        ))),
        _ => Arc::new(Int64Array::from(gather(
            a.as_primitive::<Int64Type>().values(),
            labels,
        ))),
    }
}

/// One aggregation of one value column, the parts of the groups in parallel.
fn aggregate(g: &Groups, v: &Values, op: &str) -> std::result::Result<ArrayRef, String> {
    match (v, op) {
        (Values::Float(x), "median") => return median(g, |i| x[i]),
        (Values::Int(x), "median") => return median(g, |i| x[i] as f64),
        _ => {}
    }
    let codes = match (v, op) {
        (Values::Float(_) | Values::Int(_) | Values::Str(_), "nunique") => value_codes(v),
        _ => None,
    };
    let pieces = g
        .parts()
        .par_iter()
        .map(|p| aggregate_part(p, v, op, codes.as_ref()))
        .collect::<std::result::Result<Vec<ArrayRef>, String>>()?;
    match pieces.as_slice() {
        [one] => Ok(one.clone()),
        _ => {
            let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
            Ok(arrow_select::concat::concat(&refs).expect("pieces of one type"))
        }
    }
}

fn aggregate_part(
    g: &Part,
    v: &Values,
    op: &str,
    codes: Option<&(Vec<u32>, usize)>,
) -> std::result::Result<ArrayRef, String> {
    let f = |x: Vec<f64>| Ok(Arc::new(Float64Array::from(x)) as ArrayRef);
    let i = |x: Vec<i64>| Ok(Arc::new(Int64Array::from(x)) as ArrayRef);
    match (v, op) {
        (_, "size") => i(size(g)),
        (Values::Float(v), "count") => i(count_where(g, |r| !v[r].is_nan())),
        (Values::Int(_), "count") => i(size(g)),
        (Values::Datetime(v), "count") => i(count_where(g, |r| v[r] != NAT)),
        (Values::Str(s), "count") => i(count_where(g, |r| s.get(r).is_some())),
        (Values::Float(v), "sum") => f(sum_f64(g, v)),
        (Values::Int(v), "sum") => {
            let mut out = vec![0i64; g.len()];
            each(g, |l, r| out[l] = out[l].wrapping_add(v[r]));
            i(out)
        }
        (Values::Float(v), "mean") => f(mean(g, |r| v[r])),
        (Values::Int(v), "mean") => f(mean(g, |r| v[r] as f64)),
        (Values::Float(v), "var" | "std") => f(var(g, |r| v[r], op == "std")),
        (Values::Int(v), "var" | "std") => f(var(g, |r| v[r] as f64, op == "std")),
        (Values::Float(v), "min" | "max") => f(min_max_f64(g, v, op == "max")),
        (Values::Int(v), "min" | "max") => i(min_max_i64(g, v, op == "max", false)),
        (Values::Datetime(v), "min" | "max") => i(min_max_i64(g, v, op == "max", true)),
        (Values::Float(v), "first") => f(first_f64(g, v)),
        (Values::Int(v), "first") => i(first_i64(g, v, false)),
        (Values::Datetime(v), "first") => i(first_i64(g, v, true)),
        (Values::Float(_) | Values::Int(_) | Values::Str(_), "nunique") => {
            let (codes, ncodes) = codes.expect("the values' codes");
            i(nunique(g, codes, *ncodes))
        }
        (_, op) => Err(format!("{op} of this column type")),
    }
}

/// Input: `key` (int64 or strings, nulls allowed) and value columns `v0..`; options
/// `{"aggs": [{"col": j, "op": "sum"}...], "datetime": [j...]}`. Result: `key` (the sorted
/// distinct keys) and `a0..` (one column per aggregation, in order).
pub fn groupby_agg_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let mut columns_in = Vec::new();
    for name in std::iter::once("key".to_string()).chain((0..).map(|j| format!("v{j}"))) {
        match input_column(&batch, &opts.refs, &name) {
            Ok(Some(c)) => columns_in.push(c),
            Ok(None) => break,
            Err(why) => return Ok(Outcome::Declined(why)),
        }
    }
    let Some((key, value_cols)) = columns_in.split_first() else {
        return Ok(Outcome::Declined("no key column".into()));
    };
    if let Some(c) = value_cols.iter().find(|c| c.len() != key.len()) {
        return Ok(Outcome::Declined(format!(
            "a value column of {} rows for {} keys",
            c.len(),
            key.len()
        )));
    }
    let mut values = Vec::new();
    for (j, col) in value_cols.iter().enumerate() {
        match Values::of(col, opts.datetime.contains(&j)) {
            Ok(v) => values.push(v),
            Err(why) => return Ok(Outcome::Declined(why)),
        }
    }
    if opts.aggs.is_empty() {
        return Ok(Outcome::Declined("no aggregations".into()));
    }
    if let Some(a) = opts.aggs.iter().find(|a| a.col >= values.len()) {
        return Ok(Outcome::Declined(format!("no value column v{}", a.col)));
    }
    let groups = match group_keys(key) {
        Ok(g) => g,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    if opts.broadcast && groups.labels.contains(&NONE) {
        return Ok(Outcome::Declined("transform with missing keys".into()));
    }
    let results: std::result::Result<Vec<ArrayRef>, String> = opts
        .aggs
        .par_iter()
        .map(|a| aggregate(&groups, &values[a.col], &a.op))
        .collect();
    let mut results = match results {
        Ok(r) => r,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    if opts.broadcast {
        results = results
            .iter()
            .map(|a| broadcast(a, &groups.labels))
            .collect();
    }
    let mut columns: Vec<(String, ArrayRef)> = Vec::new();
    if !opts.broadcast {
        columns.push(("key".into(), groups.keys.clone()));
    }
    columns.extend(
        results
            .into_iter()
            .enumerate()
            .map(|(j, a)| (format!("a{j}"), a)),
    );
    let result = RecordBatch::try_from_iter(columns).expect("columns of one length");
    let bytes = write_ipc_file(&result, out)?;
    Ok(Outcome::Ok {
        rows: key.len(),
        cols: opts.aggs.len(),
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(keys: &[Option<i64>]) -> Groups {
        let a: ArrayRef = Arc::new(Int64Array::from(keys.to_vec()));
        group_keys(&a).unwrap()
    }

    #[test]
    fn keys_sorted_nulls_dropped() {
        let g = groups(&[Some(5), None, Some(-1), Some(5), Some(3)]);
        assert_eq!(g.labels, vec![2, NONE, 0, 2, 1]);
        let k = g.keys.as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(k, vec![-1, 3, 5]);
        assert_eq!(size(&g.whole()), vec![1, 1, 2]);
    }

    #[test]
    fn unordered_numbers_are_equal_exactly_for_equal_keys() {
        let mut next = crate::xorshift(11u64);
        for (n, distinct) in [
            (0usize, 1u64),
            (1, 1),
            (1000, 7),
            (70_000, 60_000),
            (300_000, 40),
        ] {
            let keys: Vec<Option<u64>> = (0..n)
                .map(|_| (next() % 10 != 0).then(|| next() % distinct))
                .collect();
            let (labels, groups) = factorize_unordered(n, |i| keys[i]);
            let mut first: HashMap<u64, u32> = HashMap::new();
            let mut seen = vec![false; groups];
            for (k, &l) in keys.iter().zip(&labels) {
                match k {
                    None => assert_eq!(l, NONE),
                    Some(k) => {
                        assert_eq!(*first.entry(*k).or_insert(l), l, "{n} rows");
                        seen[l as usize] = true;
                    }
                }
            }
            // one number per distinct key, all of 0..groups used
            assert_eq!(first.len(), groups, "{n} rows");
            assert!(seen.iter().all(|&s| s));
        }
    }

    #[test]
    fn dense_keys_match_hashed_keys() {
        for (lo, n, span) in [
            (-1000i64, 5000usize, 3000i64),
            (i64::MAX - 200, 300, 200),
            (i64::MIN, 70, 64),
            (7, 1, 1),
        ] {
            let v: Vec<i64> = (0..n as i64).map(|i| lo + (i * 7919) % span).collect();
            let dense = factorize_dense(&v).expect("a dense span");
            let hashed = factorize(n, |i| Some(v[i]));
            assert_eq!(dense, hashed);
        }
        // a sparse span is left to hashing
        assert!(factorize_dense(&[0, i64::MAX]).is_none());
    }

    #[test]
    fn string_keys_sort_by_code_point() {
        let a: ArrayRef = Arc::new(LargeStringArray::from(vec![
            Some("b"),
            Some("é"),
            None,
            Some("B"),
            Some(""),
            Some("😀"),
            Some("b"),
        ]));
        let g = group_keys(&a).unwrap();
        let k: Vec<&str> = g
            .keys
            .as_string::<i64>()
            .iter()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(k, vec!["", "B", "b", "é", "😀"]);
        assert_eq!(g.labels, vec![2, 3, NONE, 1, 0, 4, 2]);
    }

    #[test]
    fn inline_keys_sort_as_strings() {
        let mut v = vec![
            "a\0",
            "ab",
            "a",
            "",
            "b",
            "é",
            "B",
            "😀",
            "a\0\0",
            "fifteen bytes!!",
        ];
        let a: ArrayRef = Arc::new(LargeStringArray::from(v.clone()));
        let s = Strings::of(&a).unwrap();
        let mut k: Vec<u128> = (0..v.len()).map(|i| s.inline_at(i).unwrap()).collect();
        k.sort_unstable();
        v.sort_unstable();
        let back: Vec<String> = k
            .iter()
            .map(|k| {
                let b = k.to_be_bytes();
                String::from_utf8(b[..usize::from(b[INLINE])].to_vec()).unwrap()
            })
            .collect();
        assert_eq!(back, v);
        // a long key goes by reference, the same order
        let long = "x".repeat(40);
        let a: ArrayRef = Arc::new(LargeStringArray::from(vec![
            long.as_str(),
            "a",
            long.as_str(),
        ]));
        let g = group_keys(&a).unwrap();
        assert_eq!(g.labels, vec![1, 0, 1]);
    }

    #[test]
    fn kahan_sum_and_mean() {
        let g = groups(&[Some(1), Some(1), Some(1), Some(2)]);
        let v = [1e16, 1.0, 1.0, f64::NAN];
        // naive summation loses both ones; Kahan keeps them
        assert_eq!(sum_f64(&g.whole(), &v), vec![1e16 + 2.0, 0.0]);
        let m = mean(&g.whole(), |r| v[r]);
        assert_eq!(m[0], (1e16 + 2.0) / 3.0);
        assert!(m[1].is_nan());
        // an infinite value: the compensation is reset, the sum stays infinite
        let w = [f64::INFINITY, 1.0, 2.0, 3.0];
        assert_eq!(sum_f64(&g.whole(), &w), vec![f64::INFINITY, 3.0]);
    }

    #[test]
    fn parts_equal_the_whole() {
        let n = 100_000;
        let keys: Vec<Option<i64>> = (0..n).map(|i| Some((i * 7919) % 40_000)).collect();
        let g = groups(&keys);
        assert!(g.parts().len() == rayon::current_num_threads().max(1));
        let v: Vec<f64> = (0..n).map(|i| (i as f64).sin() * 1e6).collect();
        let whole = sum_f64(&g.whole(), &v);
        let parts = aggregate(&g, &Values::Float(&v), "sum").unwrap();
        assert_eq!(parts.as_primitive::<Float64Type>().values().to_vec(), whole);
    }

    #[test]
    fn welford_var_std() {
        let g = groups(&[Some(0), Some(0), Some(0), Some(1)]);
        let v = [1.0, 2.0, 4.0, 5.0];
        let var = var(&g.whole(), |r| v[r], false);
        assert!((var[0] - 7.0 / 3.0).abs() < 1e-15);
        assert!(var[1].is_nan()); // one value, ddof 1
    }

    #[test]
    fn min_max_keep_first_of_equals_and_skip_missing() {
        let g = groups(&[Some(0), Some(0), Some(1), Some(2)]);
        let v = [0.0, -0.0, f64::NAN, -1.0];
        let mx = min_max_f64(&g.whole(), &v, true);
        assert_eq!(mx[0].to_bits(), 0f64.to_bits());
        assert!(mx[1].is_nan());
        let d = [NAT, 7, NAT, i64::MIN + 1];
        assert_eq!(
            min_max_i64(&g.whole(), &d, true, true),
            vec![7, NAT, i64::MIN + 1]
        );
        assert_eq!(
            min_max_i64(&g.whole(), &d, false, true),
            vec![7, NAT, i64::MIN + 1]
        );
    }

    #[test]
    fn broadcast_gives_each_row_its_group() {
        let g = groups(&[Some(4), Some(2), Some(4)]);
        let sums = aggregate(&g, &Values::Int(&[1, 10, 100]), "sum").unwrap();
        let b = broadcast(&sums, &g.labels);
        assert_eq!(
            b.as_primitive::<Int64Type>().values().to_vec(),
            vec![101, 10, 101]
        );
    }

    #[test]
    fn median_of_groups() {
        let g = groups(&[
            Some(0),
            Some(1),
            Some(0),
            Some(0),
            Some(1),
            Some(2),
            Some(0),
        ]);
        let v = [3.0, 1.0, f64::NAN, 1.0, 2.0, f64::NAN, 2.0];
        let m = median(&g, |i| v[i]).unwrap();
        let m = m.as_primitive::<Float64Type>().values().to_vec();
        assert_eq!(&m[..2], &[2.0, 1.5]);
        assert!(m[2].is_nan());
        // even counts: the two middle values halved, also with infinities
        let g2 = groups(&[Some(0), Some(0), Some(0), Some(0)]);
        let w = [f64::INFINITY, 1.0, 5.0, -2.0];
        assert_eq!(
            median(&g2, |i| w[i])
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0),
            3.0
        );
        // a zero middle with both signs present is declined; one sign is kept
        assert!(median(&g2, |i| [-0.0, 0.0, 5.0, -5.0][i]).is_err());
        let z = median(&g2, |i| [-0.0, -0.0, 5.0, -5.0][i]).unwrap();
        assert_eq!(
            z.as_primitive::<Float64Type>().value(0).to_bits(),
            (-0.0f64).to_bits()
        );
    }

    #[test]
    fn first_skips_missing() {
        let g = groups(&[Some(0), Some(0), Some(1), Some(1)]);
        let v = [f64::NAN, -0.0, f64::NAN, f64::NAN];
        let f = first_f64(&g.whole(), &v);
        assert_eq!(f[0].to_bits(), (-0.0f64).to_bits());
        assert!(f[1].is_nan());
        assert_eq!(
            first_i64(&g.whole(), &[NAT, 3, NAT, NAT], true),
            vec![3, NAT]
        );
        assert_eq!(first_i64(&g.whole(), &[NAT, 3, 5, 6], false), vec![NAT, 5]);
    }

    #[test]
    fn nunique_skips_missing() {
        let g = groups(&[Some(0), Some(0), Some(0), Some(1)]);
        let a: ArrayRef = Arc::new(LargeStringArray::from(vec![
            Some("x"),
            None,
            Some("x"),
            None,
        ]));
        let v = Values::Str(Strings::of(&a).unwrap());
        let (codes, ncodes) = value_codes(&v).unwrap();
        assert_eq!(nunique(&g.whole(), &codes, ncodes), vec![1, 0]);
        assert_eq!(
            aggregate(&g, &Values::Int(&[5, 5, -7, 5]), "nunique")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec(),
            vec![2, 1]
        );
    }

    #[test]
    fn unsupported_combinations_decline() {
        let g = groups(&[Some(0)]);
        let a: ArrayRef = Arc::new(LargeStringArray::from(vec!["x"]));
        let s = Values::Str(Strings::of(&a).unwrap());
        assert!(aggregate(&g, &s, "sum").is_err());
        assert!(aggregate(&g, &Values::Datetime(&[1]), "nunique").is_err());
        assert!(aggregate(&g, &Values::Datetime(&[1]), "mean").is_err());
    }
}
