//! pandas' `DataFrame.nunique` / `Series.nunique`, exactly: per column, the number of distinct
//! values that are not missing, and whether any value is missing (`dropna=False` counts the
//! missing ones as one more value; the shim adds it).
//!
//! pandas takes `unique()` of the column (its hash tables) and drops the missing values. Equality
//! is its hash tables': integers by value; float64 by value with `-0.0` equal to `0.0`, NaN (or a
//! null) missing; strings by their bytes, a null missing. An integer column may carry a sentinel
//! that marks a missing value (`missing`: NaT, the int64 minimum, for datetimes and timedeltas;
//! -1 for a categorical's codes); without one every integer is a value. Integer columns of any
//! width up to 64 bits are read as they are (codes of a categorical come as int8 / int16, bools
//! as uint8); an integer column with nulls and every other type are declined.
//!
//! Counting: integers that span a range not much larger than the rows mark their value in a byte
//! (ranges up to `BYTE_SPAN`) or a bit per possible value (one map per chunk of rows, in
//! parallel, then or-ed) and count the marks. Anything else is hashed: each chunk of rows first
//! keeps its own small set (in cache; few distinct values end there and the sets are merged); as
//! soon as one chunk's set grows past `LOCAL_CAP` keys (or nearly every row is a new key), all
//! the rows are instead scattered by hash into partitions that are then counted in parallel,
//! each in a set that fits in cache. Columns are fetched and counted in parallel too.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, GenericStringArray, Int64Array, OffsetSizeTrait, RecordBatch, UInt8Array,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::ipc::{input_column, kernel_input, write_ipc_file, ColumnRef};

#[derive(Deserialize)]
struct Options {
    /// the columns `c0..` (in the input or referenced)
    columns: usize,
    /// per column: what marks a missing value of an integer column (null: nothing)
    #[serde(default)]
    missing: Vec<Option<Sentinel>>,
    #[serde(default)]
    refs: HashMap<String, ColumnRef>,
}

/// The integer that marks a missing value (named, not sent as a number: the options pass
/// through JavaScript, whose numbers do not hold every int64).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Sentinel {
    /// NaT, the int64 minimum (datetimes, timedeltas)
    Nat,
    /// -1, a categorical's code for a missing value
    Code,
}

impl Sentinel {
    pub fn value(self) -> i64 {
        match self {
            Sentinel::Nat => i64::MIN,
            Sentinel::Code => -1,
        }
    }
}

/// What one column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distinct {
    /// distinct values that are not missing
    pub values: u64,
    /// whether some value is missing
    pub missing: bool,
}

/// The distinct values of `col` (see the module's documentation for equality and missing values).
pub fn count_distinct(
    col: &ArrayRef,
    missing: Option<i64>,
) -> std::result::Result<Distinct, String> {
    if col.len() > u32::MAX as usize {
        return Err(format!("{} rows: more than a u32 can number", col.len()));
    }
    if missing.is_some() && !col.data_type().is_integer() {
        return Err(format!(
            "a missing-value sentinel for a column of type {}",
            col.data_type()
        ));
    }
    struct CountDistinct {
        missing: Option<i64>,
    }
    impl KeyVisitor for CountDistinct {
        type Out = Distinct;
        fn ints<T: Copy + Into<i64> + Send + Sync>(&self, v: &[T]) -> Distinct {
            ints(v, self.missing)
        }
        fn keys<S: Keys>(&self, keys: &S) -> Distinct {
            count(keys)
        }
    }
    visit_keys(col, &CountDistinct { missing })
}

/// What a computation over one column's values does with each kind of column (`visit_keys`):
/// integers as their values, floats and strings as `Keys`.
pub(crate) trait KeyVisitor {
    type Out;
    fn ints<T: Copy + Into<i64> + Send + Sync>(&self, v: &[T]) -> Self::Out;
    fn keys<S: Keys>(&self, keys: &S) -> Self::Out;
}

/// `v` applied to `col` by its type: null-free integers (int8-int64, uint8-uint32), float64 (NaN
/// and nulls missing), UTF-8 strings (nulls missing). An error names any other type and an
/// integer column with nulls.
pub(crate) fn visit_keys<V: KeyVisitor>(
    col: &ArrayRef,
    v: &V,
) -> std::result::Result<V::Out, String> {
    if col.data_type().is_integer() && col.null_count() > 0 {
        return Err(format!("nulls in an integer column ({})", col.data_type()));
    }
    Ok(match col.data_type() {
        DataType::Int64 => v.ints(col.as_primitive::<Int64Type>().values()),
        DataType::Int32 => v.ints(col.as_primitive::<Int32Type>().values()),
        DataType::Int16 => v.ints(col.as_primitive::<Int16Type>().values()),
        DataType::Int8 => v.ints(col.as_primitive::<Int8Type>().values()),
        DataType::UInt32 => v.ints(col.as_primitive::<UInt32Type>().values()),
        DataType::UInt16 => v.ints(col.as_primitive::<UInt16Type>().values()),
        DataType::UInt8 => v.ints(col.as_primitive::<UInt8Type>().values()),
        DataType::Float64 => {
            let a = col.as_primitive::<Float64Type>();
            v.keys(&FloatKeys {
                v: a.values(),
                nulls: a.nulls().filter(|n| n.null_count() > 0),
            })
        }
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            v.keys(&StrKeys {
                a,
                nulls: a.nulls().filter(|n| n.null_count() > 0),
            })
        }
        DataType::LargeUtf8 => {
            let a = col.as_string::<i64>();
            v.keys(&StrKeys {
                a,
                nulls: a.nulls().filter(|n| n.null_count() > 0),
            })
        }
        other => return Err(format!("a column of type {other}")),
    })
}

/// Rows a chunk takes at least (smaller inputs are one chunk).
pub(crate) const MIN_CHUNK: usize = 1 << 14;
/// Distinct keys a chunk's own set may hold before the rows are partitioned instead (they are
/// too, earlier, when nearly every row seen holds a new key).
pub(crate) const LOCAL_CAP: usize = 1 << 16;
/// Integer ranges up to this many values are counted in a byte per value, wider ones in a bit.
const BYTE_SPAN: usize = 1 << 20;
/// Keys a partition should get (its set then fits in cache).
pub(crate) const PART_KEYS: usize = 1 << 12;

/// The chunks of `0..n` for `per` chunks per thread (at least `MIN_CHUNK` rows each).
pub(crate) fn chunks(n: usize, per: usize) -> Vec<Range<usize>> {
    let k = (rayon::current_num_threads() * per)
        .min(n.div_ceil(MIN_CHUNK))
        .max(1);
    let step = n.div_ceil(k).max(1);
    (0..k)
        .map(|c| (c * step).min(n)..((c + 1) * step).min(n))
        .collect()
}

/// The first pass of a hashed computation over `n` rows: each chunk (`chunks(n, 1)`, in row
/// order) feeds its rows to `add` in blocks of 4096 into a state of its own (`new`). None as
/// soon as any chunk's state holds more than `LOCAL_CAP` keys (`len`), or nearly every row of
/// its first `MIN_CHUNK` rows or more is distinct: the caller then partitions the keys instead.
pub(crate) fn local_states<T: Send>(
    n: usize,
    new: impl Fn() -> T + Sync,
    add: impl Fn(&mut T, Range<usize>) + Sync,
    len: impl Fn(&T) -> usize + Sync,
) -> Option<Vec<T>> {
    let stop = AtomicBool::new(false);
    let states: Vec<Option<T>> = chunks(n, 1)
        .into_par_iter()
        .map(|rows| {
            let mut state = new();
            let mut block = rows.start;
            while block < rows.end {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                let end = (block + 4096).min(rows.end);
                add(&mut state, block..end);
                // too many keys, or so many of the rows distinct that they will be
                let (keys, seen) = (len(&state), end - rows.start);
                if keys > LOCAL_CAP || (seen >= MIN_CHUNK && keys > seen / 8 * 7) {
                    stop.store(true, Ordering::Relaxed);
                    return None;
                }
                block = end;
            }
            Some(state)
        })
        .collect();
    states.into_iter().collect() // (in chunk order)
}

/// Integers: a bitmap over their range when it is small, else hashed.
fn ints<T>(v: &[T], missing: Option<i64>) -> Distinct
where
    T: Copy + Into<i64> + Send + Sync,
{
    let n = v.len();
    let (lo, hi, any_missing) = v
        .par_chunks(MIN_CHUNK)
        .map(|c| {
            c.iter()
                .fold((i64::MAX, i64::MIN, false), |(lo, hi, m), &x| {
                    let x: i64 = x.into();
                    if Some(x) == missing {
                        (lo, hi, true)
                    } else {
                        (lo.min(x), hi.max(x), m)
                    }
                })
        })
        .reduce(
            || (i64::MAX, i64::MIN, false),
            |a, b| (a.0.min(b.0), a.1.max(b.1), a.2 || b.2),
        );
    if lo > hi {
        // no value (no rows, or every one missing)
        return Distinct {
            values: 0,
            missing: any_missing,
        };
    }
    let span = (hi as i128 - lo as i128 + 1) as u128;
    if span > (4 * n as u128).max(1 << 16) {
        return count(&IntKeys { v, missing });
    }
    let span = span as usize;
    if span <= BYTE_SPAN {
        // a byte per possible value: plain stores, no read of what is there (with few values a
        // bit's read-modify-write would wait on the previous write to the same word)
        let seen = chunks(n, 1)
            .into_par_iter()
            .map(|rows| {
                let mut b = vec![0u8; span];
                for &x in &v[rows] {
                    let x: i64 = x.into();
                    if Some(x) != missing {
                        b[(x - lo) as usize] = 1;
                    }
                }
                b
            })
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
                a
            })
            .expect("at least one chunk");
        return Distinct {
            values: seen.iter().map(|&b| u64::from(b)).sum(),
            missing: any_missing,
        };
    }
    let words = span.div_ceil(64);
    let bits = chunks(n, 1)
        .into_par_iter()
        .map(|rows| {
            let mut b = vec![0u64; words];
            for &x in &v[rows] {
                let x: i64 = x.into();
                if Some(x) == missing {
                    continue;
                }
                let o = (x - lo) as usize;
                b[o / 64] |= 1 << (o % 64);
            }
            b
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
            a
        })
        .expect("at least one chunk");
    Distinct {
        values: bits.iter().map(|w| u64::from(w.count_ones())).sum(),
        missing: any_missing,
    }
}

/// The keys of a column as the hashed count sees them.
pub(crate) trait Keys: Sync {
    type K: Copy + Default + Send + Sync;
    /// the set that holds them
    type Set: KeySet<Self::K>;
    fn len(&self) -> usize;
    /// `f` of the key of every row of `rows` in order, None for a missing value
    fn each(&self, rows: Range<usize>, f: impl FnMut(Option<Self::K>));
    fn hash(&self, k: Self::K) -> u64;
    fn eq(&self, a: Self::K, b: Self::K) -> bool;
}

/// The two halves of a 128-bit product folded together (wyhash's and foldhash's mixer): every
/// bit of the result depends on every bit of both factors.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// The hash of a 64-bit key.
#[inline(always)]
fn mix(v: u64) -> u64 {
    fold(v ^ 0xa076_1d64_78bd_642f, 0x9e37_79b9_7f4a_7c15)
}

/// Integer values (the key is the value's bits).
pub(crate) struct IntKeys<'a, T> {
    pub(crate) v: &'a [T],
    pub(crate) missing: Option<i64>,
}

impl<T: Copy + Into<i64> + Sync> Keys for IntKeys<'_, T> {
    type K = u64;
    type Set = U64Set;
    fn len(&self) -> usize {
        self.v.len()
    }
    #[inline(always)]
    fn each(&self, rows: Range<usize>, mut f: impl FnMut(Option<u64>)) {
        for &x in &self.v[rows] {
            let x: i64 = x.into();
            f((Some(x) != self.missing).then_some(x as u64));
        }
    }
    #[inline(always)]
    fn hash(&self, k: u64) -> u64 {
        mix(k)
    }
    #[inline(always)]
    fn eq(&self, a: u64, b: u64) -> bool {
        a == b
    }
}

/// float64 values: the key is the bits, `-0.0` as `0.0`; NaN and null are missing.
pub(crate) struct FloatKeys<'a> {
    pub(crate) v: &'a [f64],
    pub(crate) nulls: Option<&'a NullBuffer>,
}

impl Keys for FloatKeys<'_> {
    type K = u64;
    type Set = U64Set;
    fn len(&self) -> usize {
        self.v.len()
    }
    #[inline(always)]
    fn each(&self, rows: Range<usize>, mut f: impl FnMut(Option<u64>)) {
        let key = |x: f64| (!x.is_nan()).then_some(if x == 0.0 { 0 } else { x.to_bits() });
        match self.nulls {
            None => self.v[rows].iter().for_each(|&x| f(key(x))),
            Some(n) => {
                for i in rows {
                    f(if n.is_null(i) { None } else { key(self.v[i]) })
                }
            }
        }
    }
    #[inline(always)]
    fn hash(&self, k: u64) -> u64 {
        mix(k)
    }
    #[inline(always)]
    fn eq(&self, a: u64, b: u64) -> bool {
        a == b
    }
}

/// Strings: nulls are missing.
pub(crate) struct StrKeys<'a, O: OffsetSizeTrait> {
    pub(crate) a: &'a GenericStringArray<O>,
    pub(crate) nulls: Option<&'a NullBuffer>,
}

/// A string's key: up to 16 bytes the bytes themselves (zero-padded, `lo` then `hi`) and the
/// length, so that comparing keys never reads the strings; a longer string's hash (`lo`) and
/// its row, whose bytes are compared when the hashes are equal.
#[derive(Clone, Copy, Default)]
pub(crate) struct StrKey {
    lo: u64,
    hi: u64,
    row: u32,
    len: u32,
}

/// The hash of a string of at most 16 bytes from its key.
#[inline(always)]
fn short_hash(lo: u64, hi: u64, len: u32) -> u64 {
    fold(
        lo ^ 0xa076_1d64_78bd_642f,
        hi ^ 0xe703_7ed1_a0b4_28db ^ u64::from(len),
    )
}

impl<O: OffsetSizeTrait> StrKeys<'_, O> {
    #[inline]
    fn bytes(&self, i: usize) -> &[u8] {
        let o = self.a.value_offsets();
        &self.a.value_data()[o[i].as_usize()..o[i + 1].as_usize()]
    }

    /// The key of row `i`, the bytes `start..end` of `data`.
    #[inline(always)]
    fn key(data: &[u8], start: usize, end: usize, i: usize) -> StrKey {
        let len = end - start;
        if len > 16 {
            return StrKey {
                lo: xxhash_rust::xxh3::xxh3_64(&data[start..end]),
                hi: 0,
                row: i as u32,
                len: len.min(u32::MAX as usize) as u32,
            };
        }
        // the bytes past the value masked off (a mask of n bytes, n <= 8)
        let mask = |n: usize| if n == 0 { 0 } else { u64::MAX >> (64 - 8 * n) };
        let (lo, hi) = if start + 16 <= data.len() {
            // two 8-byte loads
            let lo = u64::from_le_bytes(data[start..start + 8].try_into().expect("8"));
            let hi = u64::from_le_bytes(data[start + 8..start + 16].try_into().expect("8"));
            (lo & mask(len.min(8)), hi & mask(len.saturating_sub(8)))
        } else {
            let mut b = [0u8; 16];
            b[..len].copy_from_slice(&data[start..end]);
            let raw = u128::from_le_bytes(b);
            (raw as u64, (raw >> 64) as u64)
        };
        StrKey {
            lo,
            hi,
            row: i as u32,
            len: len as u32,
        }
    }
}

impl<O: OffsetSizeTrait> Keys for StrKeys<'_, O> {
    type K = StrKey;
    type Set = Set<StrKey>;
    fn len(&self) -> usize {
        self.a.len()
    }
    #[inline(always)]
    fn each(&self, rows: Range<usize>, mut f: impl FnMut(Option<StrKey>)) {
        let data = self.a.value_data();
        let offsets = &self.a.value_offsets()[rows.start..=rows.end];
        for (w, i) in offsets.windows(2).zip(rows) {
            if self.nulls.is_some_and(|n| n.is_null(i)) {
                f(None);
            } else {
                f(Some(Self::key(data, w[0].as_usize(), w[1].as_usize(), i)));
            }
        }
    }
    #[inline(always)]
    fn hash(&self, k: StrKey) -> u64 {
        if k.len > 16 {
            k.lo
        } else {
            short_hash(k.lo, k.hi, k.len)
        }
    }
    #[inline(always)]
    fn eq(&self, a: StrKey, b: StrKey) -> bool {
        a.lo == b.lo
            && a.hi == b.hi
            && a.len == b.len
            && (a.len <= 16 || self.bytes(a.row as usize) == self.bytes(b.row as usize))
    }
}

/// A set of distinct keys.
pub(crate) trait KeySet<K>: Send + Sized {
    fn new() -> Self;
    /// Empties the set, sized for `n` keys.
    fn reset(&mut self, n: usize);
    fn len(&self) -> usize;
    /// Inserts `k` (hash `h`, `keys` compares and hashes keys).
    fn insert<S: Keys<K = K>>(&mut self, keys: &S, h: u64, k: K);
    fn keys(&self) -> Vec<K>;
}

/// Slots for `n` keys: at most half full, and at least 512 (few keys then rarely share a slot,
/// and their probes are predictable).
fn slots_for(n: usize) -> usize {
    (2 * n).next_power_of_two().max(512)
}

/// An open-addressing set of keys (linear probing, at most half full): a tag byte per slot
/// (0 empty, else 7 bits of the hash) spares most comparisons of keys.
pub(crate) struct Set<K> {
    tags: Vec<u8>,
    slots: Vec<K>,
    len: usize,
}

impl<K: Copy + Default + Send> KeySet<K> for Set<K> {
    fn new() -> Set<K> {
        let mut s = Set {
            tags: Vec::new(),
            slots: Vec::new(),
            len: 0,
        };
        s.reset(0);
        s
    }

    fn reset(&mut self, n: usize) {
        let size = slots_for(n);
        self.tags.clear();
        self.tags.resize(size, 0);
        self.slots.resize(size, K::default());
        self.len = 0;
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn insert<S: Keys<K = K>>(&mut self, keys: &S, h: u64, k: K) {
        if 2 * (self.len + 1) > self.tags.len() {
            self.grow(keys);
        }
        let mask = self.tags.len() - 1;
        // the slot from the low bits, the tag from bits 32.. (partitions use the top bits)
        let tag = 0x80 | ((h >> 32) as u8 & 0x7f);
        let mut i = h as usize & mask;
        loop {
            let t = self.tags[i];
            if t == 0 {
                self.tags[i] = tag;
                self.slots[i] = k;
                self.len += 1;
                return;
            }
            if t == tag && keys.eq(self.slots[i], k) {
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn keys(&self) -> Vec<K> {
        self.tags
            .iter()
            .zip(&self.slots)
            .filter(|(&t, _)| t != 0)
            .map(|(_, &k)| k)
            .collect()
    }
}

impl<K: Copy + Default + Send> Set<K> {
    #[cold]
    #[inline(never)]
    fn grow<S: Keys<K = K>>(&mut self, keys: &S) {
        let old = self.keys();
        self.reset(old.len() * 2);
        for k in old {
            self.insert(keys, keys.hash(k), k);
        }
    }
}

/// A slot of a [`U64Set`] that holds no key (a NaN's bits: never a float key).
const EMPTY: u64 = 0x7ff4_8a3c_5d1e_9b27;

/// An open-addressing set of 64-bit keys without tags (linear probing, at most half full): a
/// slot holds its key or `EMPTY`; the key `EMPTY` itself is a flag.
pub(crate) struct U64Set {
    slots: Vec<u64>,
    len: usize,
    has_empty: bool,
}

impl KeySet<u64> for U64Set {
    fn new() -> U64Set {
        let mut s = U64Set {
            slots: Vec::new(),
            len: 0,
            has_empty: false,
        };
        s.reset(0);
        s
    }

    fn reset(&mut self, n: usize) {
        self.slots.clear();
        self.slots.resize(slots_for(n), EMPTY);
        self.len = 0;
        self.has_empty = false;
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn insert<S: Keys<K = u64>>(&mut self, keys: &S, h: u64, k: u64) {
        if k == EMPTY {
            self.len += usize::from(!self.has_empty);
            self.has_empty = true;
            return;
        }
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow(keys);
        }
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = self.slots[i];
            if s == k {
                return;
            }
            if s == EMPTY {
                self.slots[i] = k;
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn keys(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self.slots.iter().copied().filter(|&k| k != EMPTY).collect();
        if self.has_empty {
            out.push(EMPTY);
        }
        out
    }
}

impl U64Set {
    #[cold]
    #[inline(never)]
    fn grow<S: Keys<K = u64>>(&mut self, keys: &S) {
        let old = self.keys();
        self.reset(old.len() * 2);
        for k in old {
            self.insert(keys, keys.hash(k), k);
        }
    }
}

/// The distinct keys, hashed: every chunk in its own set while they stay small, else
/// partitioned.
fn count<S: Keys>(keys: &S) -> Distinct {
    let local = local_states(
        keys.len(),
        || (S::Set::new(), false),
        |(set, missing), rows| {
            keys.each(rows, |k| match k {
                None => *missing = true,
                Some(k) => {
                    set.insert(keys, keys.hash(k), k);
                }
            })
        },
        |(set, _)| set.len(),
    );
    if let Some(mut sets) = local {
        sets.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let missing = sets.iter().any(|(_, m)| *m);
        let mut rest = sets.into_iter();
        let (mut all, _) = rest.next().expect("at least one chunk");
        for (s, _) in rest {
            for k in s.keys() {
                all.insert(keys, keys.hash(k), k);
            }
        }
        return Distinct {
            values: all.len() as u64,
            missing,
        };
    }
    partitioned(keys)
}

/// Every key scattered by the top bits of its hash (a buffer per partition and chunk of rows),
/// then each partition's keys counted in a set of their own.
fn partitioned<S: Keys>(keys: &S) -> Distinct {
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
    let scattered: Vec<(Vec<Vec<S::K>>, bool)> = chunks(n, 2)
        .into_par_iter()
        .map(|rows| {
            let guess = rows.len() / parts + rows.len() / parts / 4 + 16;
            let mut bufs: Vec<Vec<S::K>> = (0..parts).map(|_| Vec::with_capacity(guess)).collect();
            let mut missing = false;
            keys.each(rows, |k| match k {
                None => missing = true,
                Some(k) => bufs[part(keys.hash(k))].push(k),
            });
            (bufs, missing)
        })
        .collect();
    let values: u64 = (0..parts)
        .into_par_iter()
        .map_init(S::Set::new, |set, p| {
            set.reset(scattered.iter().map(|(b, _)| b[p].len()).sum());
            for (b, _) in &scattered {
                for &k in &b[p] {
                    set.insert(keys, keys.hash(k), k);
                }
            }
            set.len() as u64
        })
        .sum();
    Distinct {
        values,
        missing: scattered.iter().any(|(_, m)| *m),
    }
}

/// The kernel: per input column `c<j>`, `distinct` (int64, the distinct values that are not
/// missing) and `missing` (uint8, 1 when some value is missing), one row per column.
pub fn nunique_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    if !opts.missing.is_empty() && opts.missing.len() != opts.columns {
        return Ok(Outcome::Declined(format!(
            "{} missing-value sentinels for {} columns",
            opts.missing.len(),
            opts.columns
        )));
    }
    // each column fetched and counted in one task: a referenced string column is validated in
    // full (UTF-8, offsets) while the others are counted
    let counted = (0..opts.columns)
        .into_par_iter()
        .map(|j| {
            let c = match input_column(&batch, &opts.refs, &format!("c{j}")) {
                Ok(Some(c)) => c,
                Ok(None) => return Err(format!("no column c{j}")),
                Err(why) => return Err(why),
            };
            let missing = opts.missing.get(j).copied().flatten().map(Sentinel::value);
            Ok((c.len(), count_distinct(&c, missing)?))
        })
        .collect::<std::result::Result<Vec<(usize, Distinct)>, String>>();
    let (lens, counted): (Vec<usize>, Vec<Distinct>) = match counted {
        Ok(c) => c.into_iter().unzip(),
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    if lens.windows(2).any(|w| w[0] != w[1]) {
        return Ok(Outcome::Declined("columns of different lengths".into()));
    }
    let rows = lens.first().copied().unwrap_or(0);
    let result = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("distinct", DataType::Int64, false),
            Field::new("missing", DataType::UInt8, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                counted.iter().map(|d| d.values as i64),
            )) as ArrayRef,
            Arc::new(UInt8Array::from_iter_values(
                counted.iter().map(|d| u8::from(d.missing)),
            )),
        ],
    )
    .expect("two columns");
    let bytes = write_ipc_file(&result, out)?;
    Ok(Outcome::Ok {
        rows,
        cols: counted.len(),
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        BooleanArray, Float64Array, Int16Array, Int32Array, Int8Array, LargeStringArray,
        StringArray, UInt8Array,
    };
    use std::collections::HashSet;

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

    /// The definition: distinct non-missing values by a std HashSet.
    fn naive<T: std::hash::Hash + Eq>(values: impl Iterator<Item = Option<T>>) -> Distinct {
        let mut seen = HashSet::new();
        let mut missing = false;
        for v in values {
            match v {
                None => missing = true,
                Some(v) => {
                    seen.insert(v);
                }
            }
        }
        Distinct {
            values: seen.len() as u64,
            missing,
        }
    }

    fn float_key(x: Option<f64>) -> Option<u64> {
        x.filter(|x| !x.is_nan())
            .map(|x| if x == 0.0 { 0 } else { x.to_bits() })
    }

    /// sizes around the chunk, cap and partition thresholds
    const SIZES: [usize; 12] = [
        0, 1, 2, 5, 63, 1000, 16_383, 16_385, 40_000, 70_000, 200_000, 600_000,
    ];

    #[test]
    fn ints_match_the_definition() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let extremes = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for (case, &n) in SIZES.iter().enumerate() {
            for spread in [1u64, 3, 1000, 50_000, 1 << 40, u64::MAX] {
                let v: Vec<i64> = (0..n)
                    .map(|_| match rng.below(20) {
                        0 => extremes[rng.below(7) as usize],
                        _ => (rng.below(spread) as i64).wrapping_sub((spread / 2) as i64),
                    })
                    .collect();
                let col: ArrayRef = Arc::new(Int64Array::from(v.clone()));
                for missing in [None, Some(i64::MIN), Some(-1), Some(0)] {
                    let want = naive(v.iter().map(|&x| (Some(x) != missing).then_some(x)));
                    assert_eq!(
                        count_distinct(&col, missing).unwrap(),
                        want,
                        "case {case}, n {n}, spread {spread}, missing {missing:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn narrow_ints_match_the_definition() {
        let mut rng = Rng(7);
        for &n in &SIZES {
            let v: Vec<i8> = (0..n).map(|_| rng.below(7) as i8 - 1).collect();
            let col: ArrayRef = Arc::new(Int8Array::from(v.clone()));
            let want = naive(v.iter().map(|&x| (x != -1).then_some(x)));
            assert_eq!(count_distinct(&col, Some(-1)).unwrap(), want, "int8 {n}");
            let v16: Vec<i16> = (0..n).map(|_| rng.below(40_000) as i16).collect();
            let col: ArrayRef = Arc::new(Int16Array::from(v16.clone()));
            assert_eq!(
                count_distinct(&col, Some(-1)).unwrap(),
                naive(v16.iter().map(|&x| (x != -1).then_some(x))),
                "int16 {n}"
            );
            let v32: Vec<i32> = (0..n).map(|_| rng.next() as i32).collect();
            let col: ArrayRef = Arc::new(Int32Array::from(v32.clone()));
            assert_eq!(
                count_distinct(&col, None).unwrap(),
                naive(v32.iter().map(|&x| Some(x))),
                "int32 {n}"
            );
            let b: Vec<u8> = (0..n).map(|_| rng.below(2) as u8).collect();
            let col: ArrayRef = Arc::new(UInt8Array::from(b.clone()));
            assert_eq!(
                count_distinct(&col, None).unwrap(),
                naive(b.iter().map(|&x| Some(x))),
                "uint8 {n}"
            );
        }
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
            f64::MIN_POSITIVE,
            5e-324,
            1e308,
        ];
        for &n in &SIZES {
            for spread in [1u64, 10, 5000, 1 << 30] {
                let v: Vec<Option<f64>> = (0..n)
                    .map(|_| match rng.below(12) {
                        0 => None,
                        1 | 2 => Some(specials[rng.below(10) as usize]),
                        _ => Some(rng.below(spread) as f64 / 8.0 - 3.0),
                    })
                    .collect();
                let want = naive(v.iter().map(|&x| float_key(x)));
                let with_nulls: ArrayRef = Arc::new(Float64Array::from(v.clone()));
                assert_eq!(count_distinct(&with_nulls, None).unwrap(), want, "{n}");
                // NaN for the nulls, as numpy holds them
                let dense: ArrayRef = Arc::new(Float64Array::from(
                    v.iter().map(|x| x.unwrap_or(f64::NAN)).collect::<Vec<_>>(),
                ));
                assert_eq!(count_distinct(&dense, None).unwrap(), want, "{n} dense");
            }
        }
        let zeros: ArrayRef = Arc::new(Float64Array::from(vec![0.0, -0.0, f64::NAN, -f64::NAN]));
        assert_eq!(
            count_distinct(&zeros, None).unwrap(),
            Distinct {
                values: 1,
                missing: true
            }
        );
    }

    #[test]
    fn strings_match_the_definition() {
        let mut rng = Rng(99);
        let words = [
            "",
            "a",
            "a\0",
            "\0",
            "A",
            "é",
            "e\u{301}",
            "😀",
            "exactly sixteen!",
            "fifteen bytes..",
            "seventeen bytes..",
            "a long string well past the inline cut of sixteen bytes",
            "a long string well past the inline cut of sixteen byteZ",
        ];
        for (case, &n) in SIZES.iter().enumerate() {
            for spread in [1u64, 5, 13, 100_000] {
                let v: Vec<Option<String>> = (0..n)
                    .map(|_| match rng.below(15) {
                        0 => None,
                        k if k < 8 || spread <= 13 => {
                            Some(words[rng.below(spread.min(13)) as usize].to_string())
                        }
                        _ => Some(format!("w{}", rng.below(spread))),
                    })
                    .collect();
                let want = naive(v.iter().cloned());
                let small: ArrayRef = Arc::new(StringArray::from(v.clone()));
                let large: ArrayRef = Arc::new(LargeStringArray::from(v.clone()));
                assert_eq!(count_distinct(&small, None).unwrap(), want, "case {case}");
                assert_eq!(count_distinct(&large, None).unwrap(), want, "case {case}");
                if n > 3 {
                    // a slice: offsets that do not start at 0
                    let sliced = large.slice(2, n - 3);
                    assert_eq!(
                        count_distinct(&sliced, None).unwrap(),
                        naive(v[2..n - 1].iter().cloned()),
                        "case {case} sliced"
                    );
                }
            }
        }
    }

    #[test]
    fn all_distinct_and_all_equal_columns() {
        let n = 1_000_000;
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n as i64));
        assert_eq!(count_distinct(&ids, None).unwrap().values, n as u64);
        // hashed, partitioned: a span far wider than the rows
        let spread: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..n as i64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15u64 as i64)),
        ));
        assert_eq!(count_distinct(&spread, None).unwrap().values, n as u64);
        let floats: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| (i % 777_777) as f64 * 0.37),
        ));
        assert_eq!(count_distinct(&floats, None).unwrap().values, 777_777);
        let same: ArrayRef = Arc::new(Float64Array::from(vec![f64::NAN; 50_000]));
        assert_eq!(
            count_distinct(&same, None).unwrap(),
            Distinct {
                values: 0,
                missing: true
            }
        );
        let strs: ArrayRef = Arc::new(LargeStringArray::from_iter_values(
            (0..300_000).map(|i| format!("row {}", i % 123_457)),
        ));
        assert_eq!(count_distinct(&strs, None).unwrap().values, 123_457);
    }

    #[test]
    fn the_kernel_reads_sentinels_and_writes_one_row_per_column() {
        let dir = std::env::temp_dir().join(format!("stratum-nunique-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (input, out) = (dir.join("in.arrow"), dir.join("out.arrow"));
        let dates: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN, 5, 5, i64::MIN, 7]));
        let codes: ArrayRef = Arc::new(Int8Array::from(vec![-1, 0, 0, 2, 2]));
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN, -1, 0, 0, 1]));
        let batch =
            RecordBatch::try_from_iter([("c0", dates), ("c1", codes), ("c2", ints)]).unwrap();
        write_ipc_file(&batch, &input).unwrap();
        let options = r#"{"columns": 3, "missing": ["nat", "code", null]}"#;
        match nunique_ipc(&input, options, &out).unwrap() {
            Outcome::Ok { rows, cols, .. } => assert_eq!((rows, cols), (5, 3)),
            Outcome::Declined(why) => panic!("declined: {why}"),
        }
        let res = crate::ipc::read_ipc_file(&out).unwrap().remove(0);
        let distinct = res.column(0).as_primitive::<Int64Type>().values().to_vec();
        let missing = res.column(1).as_primitive::<UInt8Type>().values().to_vec();
        assert_eq!((distinct, missing), (vec![2, 2, 4], vec![1, 1, 0]));
        let bad = r#"{"columns": 3, "missing": ["nat"]}"#;
        assert!(matches!(
            nunique_ipc(&input, bad, &out).unwrap(),
            Outcome::Declined(_)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unsupported_columns_are_declined() {
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![true, false]));
        assert!(count_distinct(&b, None).is_err());
        let i: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        assert!(count_distinct(&i, None).is_err());
        let f: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        assert!(count_distinct(&f, Some(-1)).is_err());
    }
}
