//! pandas' `Series.value_counts` counting step (`htable.value_count`), exactly: every distinct
//! value's first row and its count, in the order of first appearance.
//!
//! pandas' hash tables append a key when they first see it and count the rows that equal it, so
//! the keys come out in the order of their first rows; returning the first row (not the value)
//! lets the caller take the key from its own array, as pandas does (of `0.0` and `-0.0`, or of
//! NaNs with different bits, the first seen). Equality is nunique's (see `crate::nunique`):
//! integers by value, float64 with `-0.0` equal to `0.0`, strings by their bytes. Missing values
//! (NaN, a null) are one more key at their first row when `dropna` is false, else left out;
//! integer columns have none (pandas drops NaT itself after counting).
//!
//! Counting: integers over a range not much wider than the rows are counted in an array per
//! chunk of rows (count and first row per possible value), summed, then read out in a second
//! pass over the rows (a row that is its value's first row puts it out). Anything else is hashed
//! as nunique does: each chunk in its own small table while they stay small (merged in chunk
//! order, which keeps the first-appearance order), else every row scattered by hash into
//! partitions that are tallied in parallel in tables that fit in cache, and the keys put back in
//! the order of their first rows through an array indexed by row.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::ipc::{input_column, kernel_input, write_ipc_file, ColumnRef};
use crate::nunique::{
    chunks, local_states, visit_keys, IntKeys, KeyVisitor, Keys, MIN_CHUNK, PART_KEYS,
};

#[derive(Deserialize)]
struct Options {
    /// leave missing values out (else they are one key)
    dropna: bool,
    #[serde(default)]
    refs: HashMap<String, ColumnRef>,
}

/// The distinct values of a column in the order of their first rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts {
    /// the first row of every distinct value (ascending)
    pub rows: Vec<u32>,
    /// how many rows hold it
    pub counts: Vec<u32>,
}

/// Missing values seen: the first one's row and how many.
#[derive(Clone, Copy, Default)]
struct Missing {
    first: Option<u32>,
    count: u32,
}

impl Missing {
    #[inline(always)]
    fn see(&mut self, row: u32) {
        if self.first.is_none() {
            self.first = Some(row);
        }
        self.count += 1;
    }

    fn add(&mut self, o: Missing) {
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.count += o.count;
    }
}

/// `value_count` of `col` (see the module's documentation for equality and missing values).
pub fn value_counts(col: &ArrayRef, dropna: bool) -> std::result::Result<Counts, String> {
    if col.len() >= u32::MAX as usize {
        return Err(format!("{} rows: more than a u32 can number", col.len()));
    }
    struct Tallies;
    impl KeyVisitor for Tallies {
        type Out = (Counts, Missing);
        fn ints<T: Copy + Into<i64> + Send + Sync>(&self, v: &[T]) -> (Counts, Missing) {
            ints(v)
        }
        fn keys<S: Keys>(&self, keys: &S) -> (Counts, Missing) {
            tally(keys)
        }
    }
    let (counts, missing) = visit_keys(col, &Tallies)?;
    Ok(with_missing(counts, missing, dropna))
}

/// The missing values' key put at its first row, unless dropped.
fn with_missing(mut c: Counts, missing: Missing, dropna: bool) -> Counts {
    if let (false, Some(first)) = (dropna, missing.first) {
        let at = c.rows.partition_point(|&r| r < first);
        c.rows.insert(at, first);
        c.counts.insert(at, missing.count);
    }
    c
}

/// Integers: an array per chunk over their range when it is small, else hashed.
fn ints<T>(v: &[T]) -> (Counts, Missing)
where
    T: Copy + Into<i64> + Send + Sync,
{
    let n = v.len();
    let (lo, hi) = v
        .par_chunks(MIN_CHUNK)
        .map(|c| {
            c.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &x| {
                let x: i64 = x.into();
                (lo.min(x), hi.max(x))
            })
        })
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    if lo > hi {
        return (Counts::default(), Missing::default());
    }
    let span = (hi as i128 - lo as i128 + 1) as u128;
    if span > (n as u128).max(1 << 16) {
        return tally(&IntKeys { v, missing: None });
    }
    let span = span as usize;
    // per chunk: (count, first row) of every possible value
    let parts: Vec<(Vec<u32>, Vec<u32>)> = chunks(n, 1)
        .into_par_iter()
        .map(|rows| {
            let mut count = vec![0u32; span];
            let mut first = vec![0u32; span];
            for (i, &x) in v[rows.clone()].iter().enumerate() {
                let x: i64 = x.into();
                let o = (x - lo) as usize;
                if count[o] == 0 {
                    first[o] = (rows.start + i) as u32;
                }
                count[o] += 1;
            }
            (count, first)
        })
        .collect();
    let mut parts = parts.into_iter();
    let (mut count, mut first) = parts.next().expect("at least one chunk");
    // later chunks hold later rows: their first row counts only where the value is new
    for (c, f) in parts {
        count
            .par_iter_mut()
            .zip(first.par_iter_mut())
            .zip(c.par_iter().zip(f.par_iter()))
            .for_each(|((a, fa), (&b, &fb))| {
                if *a == 0 {
                    *fa = fb;
                }
                *a += b;
            });
    }
    // the rows again, in order: a row that is its value's first row puts the value out (reads
    // of the per-value arrays, no n-sized scatter)
    let found: Vec<Counts> = chunks(n, 2)
        .into_par_iter()
        .map(|rows| {
            let mut out = Counts::default();
            for (i, &x) in v[rows.clone()].iter().enumerate() {
                let x: i64 = x.into();
                let o = (x - lo) as usize;
                let row = (rows.start + i) as u32;
                if first[o] == row {
                    out.rows.push(row);
                    out.counts.push(count[o]);
                }
            }
            out
        })
        .collect();
    let mut out = Counts::default();
    for c in found {
        out.rows.extend(c.rows);
        out.counts.extend(c.counts);
    }
    (out, Missing::default())
}

/// The rows of `at` that hold a count, in order.
fn from_rows(at: &[AtomicU32]) -> Counts {
    let found: Vec<(Vec<u32>, Vec<u32>)> = at
        .par_chunks(1 << 16)
        .enumerate()
        .map(|(j, c)| {
            let base = (j << 16) as u32;
            let mut rows = Vec::new();
            let mut counts = Vec::new();
            for (i, a) in c.iter().enumerate() {
                let k = a.load(Ordering::Relaxed);
                if k > 0 {
                    rows.push(base + i as u32);
                    counts.push(k);
                }
            }
            (rows, counts)
        })
        .collect();
    let mut out = Counts::default();
    for (r, c) in found {
        out.rows.extend(r);
        out.counts.extend(c);
    }
    out
}

/// Keys with their first row and count, in the order they were first added.
struct Tally<K> {
    /// 0 empty, else 7 bits of the hash
    tags: Vec<u8>,
    /// the entry of every used slot
    slots: Vec<u32>,
    keys: Vec<K>,
    first: Vec<u32>,
    count: Vec<u32>,
}

impl<K: Copy> Tally<K> {
    fn new(n: usize) -> Tally<K> {
        let size = (2 * n).next_power_of_two().max(512);
        Tally {
            tags: vec![0; size],
            slots: vec![0; size],
            keys: Vec::with_capacity(n),
            first: Vec::with_capacity(n),
            count: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    /// Adds `count` rows holding `k` (hash `h`), the first of them `row`.
    #[inline(always)]
    fn add<S: Keys<K = K>>(&mut self, keys: &S, h: u64, k: K, row: u32, count: u32) {
        if 2 * (self.len() + 1) > self.tags.len() {
            self.grow(keys);
        }
        let mask = self.tags.len() - 1;
        let tag = 0x80 | ((h >> 32) as u8 & 0x7f);
        let mut i = h as usize & mask;
        loop {
            let t = self.tags[i];
            if t == 0 {
                self.tags[i] = tag;
                self.slots[i] = self.keys.len() as u32;
                self.keys.push(k);
                self.first.push(row);
                self.count.push(count);
                return;
            }
            if t == tag {
                let e = self.slots[i] as usize;
                if keys.eq(self.keys[e], k) {
                    self.count[e] += count;
                    return;
                }
            }
            i = (i + 1) & mask;
        }
    }

    #[cold]
    #[inline(never)]
    fn grow<S: Keys<K = K>>(&mut self, keys: &S) {
        let size = self.tags.len() * 2;
        self.tags.clear();
        self.tags.resize(size, 0);
        self.slots.resize(size, 0);
        let mask = size - 1;
        for (e, &k) in self.keys.iter().enumerate() {
            let h = keys.hash(k);
            let mut i = h as usize & mask;
            while self.tags[i] != 0 {
                i = (i + 1) & mask;
            }
            self.tags[i] = 0x80 | ((h >> 32) as u8 & 0x7f);
            self.slots[i] = e as u32;
        }
    }
}

/// Every row of `rows` tallied into `t` (missing ones into `m`).
#[inline(always)]
fn tally_rows<S: Keys>(keys: &S, rows: Range<usize>, t: &mut Tally<S::K>, m: &mut Missing) {
    let mut row = rows.start as u32;
    keys.each(rows, |k| {
        match k {
            None => m.see(row),
            Some(k) => t.add(keys, keys.hash(k), k, row, 1),
        }
        row += 1;
    });
}

/// The hashed count: every chunk in its own table while they stay small, else partitioned.
fn tally<S: Keys>(keys: &S) -> (Counts, Missing) {
    let local = local_states(
        keys.len(),
        || (Tally::new(0), Missing::default()),
        |(t, m), rows| tally_rows(keys, rows, t, m),
        |(t, _)| t.len(),
    );
    if let Some(local) = local {
        // chunks in row order, each one's keys in the order of their first rows: a key's first
        // addition here is its first row overall
        let mut rest = local.into_iter();
        let (mut all, mut missing) = rest.next().expect("at least one chunk");
        for (t, m) in rest {
            missing.add(m);
            for e in 0..t.len() {
                let k = t.keys[e];
                all.add(keys, keys.hash(k), k, t.first[e], t.count[e]);
            }
        }
        let Tally { first, count, .. } = all;
        return (
            Counts {
                rows: first,
                counts: count,
            },
            missing,
        );
    }
    partitioned(keys)
}

/// Every row's key scattered by the top bits of its hash (a buffer per partition and chunk of
/// rows, rows ascending in each), each partition tallied in a table of its own, then the keys
/// put back in the order of their first rows.
fn partitioned<S: Keys>(keys: &S) -> (Counts, Missing) {
    let n = keys.len();
    let bits = (n / PART_KEYS).max(1).ilog2().min(12);
    let parts = 1usize << bits;
    let part = |h: u64| {
        if bits == 0 {
            0
        } else {
            (h >> (64 - bits)) as usize
        }
    };
    type Scattered<K> = (Vec<Vec<(K, u32)>>, Missing);
    let scattered: Vec<Scattered<S::K>> = chunks(n, 2)
        .into_par_iter()
        .map(|rows| {
            let guess = rows.len() / parts + rows.len() / parts / 4 + 16;
            let mut bufs: Vec<Vec<(S::K, u32)>> =
                (0..parts).map(|_| Vec::with_capacity(guess)).collect();
            let mut missing = Missing::default();
            let mut row = rows.start as u32;
            keys.each(rows, |k| {
                match k {
                    None => missing.see(row),
                    Some(k) => bufs[part(keys.hash(k))].push((k, row)),
                }
                row += 1;
            });
            (bufs, missing)
        })
        .collect();
    let mut missing = Missing::default();
    for (_, m) in &scattered {
        missing.add(*m);
    }
    let at: Vec<AtomicU32> = (0..n).into_par_iter().map(|_| AtomicU32::new(0)).collect();
    (0..parts).into_par_iter().for_each(|p| {
        let mut t = Tally::new(scattered.iter().map(|(b, _)| b[p].len()).sum::<usize>() / 2);
        for (b, _) in &scattered {
            for &(k, row) in &b[p] {
                t.add(keys, keys.hash(k), k, row, 1);
            }
        }
        for (&r, &c) in t.first.iter().zip(&t.count) {
            at[r as usize].store(c, Ordering::Relaxed);
        }
    });
    (from_rows(&at), missing)
}

/// The kernel: `value_count` of the input column `c0`: `row` (uint32, every distinct value's
/// first row, ascending) and `count` (uint32), one row per distinct value.
pub fn value_counts_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let col = match input_column(&batch, &opts.refs, "c0") {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(Outcome::Declined("no column c0".into())),
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let counted = match value_counts(&col, opts.dropna) {
        Ok(c) => c,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let result = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("row", DataType::UInt32, false),
            Field::new("count", DataType::UInt32, false),
        ])),
        vec![
            Arc::new(UInt32Array::from(counted.rows)) as ArrayRef,
            Arc::new(UInt32Array::from(counted.counts)),
        ],
    )
    .expect("two columns");
    let bytes = write_ipc_file(&result, out)?;
    Ok(Outcome::Ok {
        rows: col.len(),
        cols: 2,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt32Type;
    use arrow_array::{
        BooleanArray, Float64Array, Int64Array, Int8Array, LargeStringArray, StringArray,
    };

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

    /// The definition, as pandas' `value_count` loop: keys appended when first seen, missing
    /// values (None) one key unless dropped.
    fn naive<T: std::hash::Hash + Eq>(
        values: impl Iterator<Item = Option<T>>,
        dropna: bool,
    ) -> Counts {
        let mut index: HashMap<Option<T>, usize> = HashMap::new();
        let mut out = Counts::default();
        for (row, v) in values.enumerate() {
            if dropna && v.is_none() {
                continue;
            }
            match index.get(&v) {
                Some(&e) => out.counts[e] += 1,
                None => {
                    index.insert(v, out.rows.len());
                    out.rows.push(row as u32);
                    out.counts.push(1);
                }
            }
        }
        out
    }

    fn float_key(x: Option<f64>) -> Option<u64> {
        x.filter(|x| !x.is_nan())
            .map(|x| if x == 0.0 { 0 } else { x.to_bits() })
    }

    /// sizes around the chunk, cap and partition thresholds
    const SIZES: [usize; 11] = [
        0, 1, 2, 5, 1000, 16_383, 16_385, 40_000, 70_000, 200_000, 600_000,
    ];

    #[test]
    fn ints_match_the_definition() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let extremes = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for &n in &SIZES {
            for spread in [1u64, 3, 1000, 50_000, 400_000, 1 << 40, u64::MAX] {
                let v: Vec<i64> = (0..n)
                    .map(|_| match rng.below(if spread > 1000 { 20 } else { 1000 }) {
                        0 => extremes[rng.below(7) as usize],
                        _ => (rng.below(spread) as i64).wrapping_sub((spread / 2) as i64),
                    })
                    .collect();
                let col: ArrayRef = Arc::new(Int64Array::from(v.clone()));
                for dropna in [true, false] {
                    let want = naive(v.iter().map(|&x| Some(x)), dropna);
                    assert_eq!(
                        value_counts(&col, dropna).unwrap(),
                        want,
                        "n {n}, spread {spread}"
                    );
                }
            }
        }
        let v: Vec<i8> = (0..70_000).map(|_| rng.below(256) as u8 as i8).collect();
        let col: ArrayRef = Arc::new(Int8Array::from(v.clone()));
        assert_eq!(
            value_counts(&col, true).unwrap(),
            naive(v.iter().map(|&x| Some(x)), true)
        );
    }

    #[test]
    fn floats_match_the_definition() {
        let mut rng = Rng(42);
        let specials = [
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            5e-324,
        ];
        for &n in &SIZES {
            for spread in [1u64, 10, 5000, 1 << 30] {
                let v: Vec<f64> = (0..n)
                    .map(|_| match rng.below(12) {
                        0 | 1 => specials[rng.below(8) as usize],
                        _ => rng.below(spread) as f64 / 8.0 - 3.0,
                    })
                    .collect();
                let col: ArrayRef = Arc::new(Float64Array::from(v.clone()));
                for dropna in [true, false] {
                    let want = naive(v.iter().map(|&x| float_key(Some(x))), dropna);
                    assert_eq!(value_counts(&col, dropna).unwrap(), want, "{n} {spread}");
                }
            }
        }
    }

    #[test]
    fn strings_match_the_definition() {
        let mut rng = Rng(99);
        let words = [
            "",
            "a",
            "a\0",
            "A",
            "é",
            "exactly sixteen!",
            "seventeen bytes..",
            "a long string well past the inline cut of sixteen bytes",
        ];
        for &n in &SIZES {
            for spread in [1u64, 8, 100_000] {
                let v: Vec<Option<String>> = (0..n)
                    .map(|_| match rng.below(15) {
                        0 => None,
                        k if k < 8 || spread <= 8 => {
                            Some(words[rng.below(spread.min(8)) as usize].to_string())
                        }
                        _ => Some(format!("w{}", rng.below(spread))),
                    })
                    .collect();
                let small: ArrayRef = Arc::new(StringArray::from(v.clone()));
                let large: ArrayRef = Arc::new(LargeStringArray::from(v.clone()));
                for dropna in [true, false] {
                    let want = naive(v.iter().cloned(), dropna);
                    assert_eq!(value_counts(&small, dropna).unwrap(), want, "{n}");
                    assert_eq!(value_counts(&large, dropna).unwrap(), want, "{n}");
                }
            }
        }
    }

    #[test]
    fn all_distinct_columns() {
        let n = 1_000_000u32;
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..n as i64).map(|i| (i * 7919) % n as i64),
        ));
        let c = value_counts(&ids, true).unwrap();
        assert_eq!(c.rows, (0..n).collect::<Vec<_>>());
        assert!(c.counts.iter().all(|&k| k == 1));
        let spread: ArrayRef =
            Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| {
                (i % 300_000).wrapping_mul(0x9e37_79b9_7f4a_7c15u64 as i64)
            })));
        let c = value_counts(&spread, true).unwrap();
        assert_eq!(c.rows, (0..300_000).collect::<Vec<_>>());
        assert_eq!(c.counts.iter().map(|&k| k as u64).sum::<u64>(), n as u64);
    }

    #[test]
    fn the_kernel_writes_first_rows_and_counts() {
        let dir = std::env::temp_dir().join(format!("stratum-vc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (input, out) = (dir.join("in.arrow"), dir.join("out.arrow"));
        let col: ArrayRef = Arc::new(Float64Array::from(vec![
            -0.0,
            f64::NAN,
            1.5,
            0.0,
            f64::NAN,
            1.5,
            1.5,
        ]));
        let batch = RecordBatch::try_from_iter([("c0", col)]).unwrap();
        write_ipc_file(&batch, &input).unwrap();
        for (dropna, rows, counts) in [
            (true, vec![0, 2], vec![2, 3]),
            (false, vec![0, 1, 2], vec![2, 2, 3]),
        ] {
            let options = format!(r#"{{"dropna": {dropna}}}"#);
            match value_counts_ipc(&input, &options, &out).unwrap() {
                Outcome::Ok { rows, .. } => assert_eq!(rows, 7),
                Outcome::Declined(why) => panic!("declined: {why}"),
            }
            let res = crate::ipc::read_ipc_file(&out).unwrap().remove(0);
            let got_rows = res.column(0).as_primitive::<UInt32Type>().values().to_vec();
            let got_counts = res.column(1).as_primitive::<UInt32Type>().values().to_vec();
            assert_eq!((got_rows, got_counts), (rows, counts));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unsupported_columns_are_declined() {
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![true, false]));
        assert!(value_counts(&b, true).is_err());
        let i: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        assert!(value_counts(&i, true).is_err());
    }
}
