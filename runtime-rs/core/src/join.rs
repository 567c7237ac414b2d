//! pandas' merge join indexers (`pandas.core.reshape.merge.get_join_indexers`), exactly.
//!
//! `df.merge(other, on=..., how=...)` spends most of its time (86% for 1M x 200k rows) finding
//! which rows pair up: it factorises the keys with its hash tables, then `libjoin` walks the
//! groups. Everything around that (key coercion, the taking of columns, suffixes, dtypes) is
//! pandas' own code on the two indexers this kernel returns: for each output row the left row
//! and the right row it comes from, `-1` where a side has none.
//!
//! Keys are one or more columns per side, compared level by level: int64 (no nulls), float64
//! (NaN or null missing; `-0.0` equals `0.0`) or strings (null missing). A missing key equals
//! another missing key (pandas' "NA group"). The order of the output rows is libjoin's:
//!
//! - `sort=false`, `how` left / inner: the left rows in order, each followed by its matches on
//!   the right in right-row order (left: a row without matches once, with `-1`); `right` is the
//!   mirror image (the right rows in order, each with its left matches).
//! - `sort=true` (and always for `outer`, which pandas sorts): the groups in sorted key order
//!   (numbers numerically, strings by code point, a level's missing key last), within a group
//!   every left row with every right row, left-major (right-major for `how="right"`); a group
//!   with rows on one side only contributes them with `-1` for the other side when `how` keeps
//!   that side.
//!
//! An indexer that is `0..n` for its side is not written (pandas returns None for it).
//! Declined: an outer join with `sort=false` (merge never asks for one), keys of different
//! types on the two sides, int64 keys with nulls, more than `u32::MAX` rows a side, more than
//! `i32::MAX` output rows; and two corners where pandas departs from this definition: a `str`
//! key holding NUL when the keys are sorted (pandas checks them as C strings: it raises or
//! misorders), and an unsorted inner join with as many rows as the left side but not one per
//! left row (libjoin's short-cut reorders them).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::groupby::{
    factorize, factorize_dense_all, factorize_unordered, string_groups, Strings, NONE,
};
use crate::ipc::{input_column, kernel_input, read_ipc_file, write_ipc_file, ColumnRef};

/// pandas' `how`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum How {
    Left,
    Right,
    Inner,
    Outer,
}

#[derive(Deserialize)]
struct Options {
    how: How,
    sort: bool,
    /// key columns per side: `l0..` in the input, `r0..` in `right` (or referenced)
    keys: usize,
    /// the Arrow IPC file of the right side's key columns (absent when all are referenced)
    right: Option<String>,
    #[serde(default)]
    refs: HashMap<String, ColumnRef>,
    /// decline one key column sorted on both sides and unique on one (pandas' merge-join path
    /// is faster than the round trip)
    #[serde(default)]
    single_sorted_declines: bool,
}

/// The join indexers: for each output row its left and right row, `-1` for none.
#[derive(Debug, PartialEq, Eq)]
pub struct Indexers {
    pub left: Vec<i64>,
    pub right: Vec<i64>,
}

/// One key level factorised over both sides: each row's group in sorted key order, the missing
/// key (when present) as the last group, and the number of groups.
pub(crate) struct Level {
    pub(crate) left: Vec<u32>,
    pub(crate) right: Vec<u32>,
    pub(crate) groups: usize,
    /// whether some key is missing (its group is the last one)
    pub(crate) missing: bool,
    /// whether some string key holds a NUL (pandas' sort of the keys checks them with a hash
    /// table of C strings, which end at the first NUL: it raises or orders differently)
    pub(crate) has_nul: bool,
}

/// The float64 key of row `i` as an integer that sorts as the number does, `-0.0` as `0.0`;
/// None when missing (NaN or null).
#[inline]
pub(crate) fn float_key(a: &arrow_array::Float64Array, i: usize) -> Option<u64> {
    let x = a.value(i);
    if a.is_null(i) || x.is_nan() {
        return None;
    }
    let bits = if x == 0.0 { 0u64 } else { x.to_bits() };
    Some(if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    })
}

/// Labels of the rows of both sides taken end to end (NONE = missing), split back per side,
/// with the missing key numbered after the others.
fn level_of(mut labels: Vec<u32>, nl: usize, count: usize) -> Level {
    let missing = labels.par_iter().any(|&l| l == NONE);
    if missing {
        labels.par_iter_mut().for_each(|l| {
            if *l == NONE {
                *l = count as u32;
            }
        });
    }
    let right = labels.split_off(nl);
    Level {
        left: labels,
        right,
        groups: count + usize::from(missing),
        missing,
        has_nul: false,
    }
}

/// With `ordered` false the groups are numbered in no particular order (`duplicated`: only
/// which rows are equal matters), which is cheaper for many distinct numbers.
pub(crate) fn factorize_level(
    l: &ArrayRef,
    r: &ArrayRef,
    ordered: bool,
) -> std::result::Result<Level, String> {
    let (nl, nr) = (l.len(), r.len());
    let n = nl + nr;
    match (l.data_type(), r.data_type()) {
        (DataType::Int64, DataType::Int64) => {
            if l.null_count() > 0 || r.null_count() > 0 {
                return Err("int64 keys with nulls".into());
            }
            let (a, b) = (
                l.as_primitive::<Int64Type>().values(),
                r.as_primitive::<Int64Type>().values(),
            );
            if let Some((mut labels, keys)) = factorize_dense_all(&[a, b]) {
                let right = labels.pop().expect("two columns");
                let left = labels.pop().expect("two columns");
                return Ok(Level {
                    left,
                    right,
                    groups: keys.len(),
                    missing: false,
                    has_nul: false,
                });
            }
            let (labels, groups) =
                number(n, ordered, |i| Some(if i < nl { a[i] } else { b[i - nl] }));
            Ok(level_of(labels, nl, groups))
        }
        (DataType::Float64, DataType::Float64) => {
            let (a, b) = (
                l.as_primitive::<Float64Type>(),
                r.as_primitive::<Float64Type>(),
            );
            let (labels, groups) = number(n, ordered, |i| {
                if i < nl {
                    float_key(a, i)
                } else {
                    float_key(b, i - nl)
                }
            });
            Ok(level_of(labels, nl, groups))
        }
        (lt, rt) => match (Strings::of(l), Strings::of(r)) {
            (Some(a), Some(b)) => {
                let g = string_groups(&[a, b]);
                let count = g.keys.len();
                let keys = g.keys.as_string::<i64>();
                let has_nul = (0..count).any(|k| keys.value(k).contains('\0'));
                Ok(Level {
                    has_nul,
                    ..level_of(g.labels, nl, count)
                })
            }
            _ => Err(format!("keys of types {lt} and {rt}")),
        },
    }
}

/// Each row's group and the number of groups: numbered in key order (`factorize`), or in no
/// particular order (`factorize_unordered`).
fn number<K, F>(n: usize, ordered: bool, key: F) -> (Vec<u32>, usize)
where
    K: std::hash::Hash + Eq + Ord + Copy + Send + Sync,
    F: Fn(usize) -> Option<K> + Sync,
{
    if ordered {
        let (labels, keys) = factorize(n, key);
        (labels, keys.len())
    } else {
        factorize_unordered(n, key)
    }
}

/// The levels combined into one group per distinct tuple, numbered in lexicographic order: a
/// mixed-radix number per row, then its rank among the distinct ones. When the numbers of all
/// levels would overflow 64 bits, the leading levels that fit are combined first and the result
/// is combined with the next ones (ranks keep the order; two levels of at most `u32::MAX`
/// groups always fit).
pub(crate) fn combine(levels: Vec<Level>, ordered: bool) -> Level {
    let mut rest = levels.into_iter().peekable();
    let mut acc = rest.next().expect("at least one level");
    while let Some(next) = rest.next() {
        let mut radix = (acc.groups.max(1) as u64)
            .checked_mul(next.groups.max(1) as u64)
            .expect("two levels of u32 labels");
        let mut run = vec![acc, next];
        while let Some(r) = rest
            .peek()
            .and_then(|lv| radix.checked_mul(lv.groups.max(1) as u64))
        {
            radix = r;
            run.push(rest.next().expect("peeked"));
        }
        let has_nul = run.iter().any(|lv| lv.has_nul);
        acc = Level {
            has_nul,
            ..number_tuples(&run, ordered)
        };
    }
    acc
}

/// One group per distinct tuple of labels of `levels` (whose group counts multiply to at most
/// `u64::MAX`), numbered in lexicographic order: each row's mixed-radix number, then the
/// numbers factorised (with a bitmap when they span little more than the rows).
fn number_tuples(levels: &[Level], ordered: bool) -> Level {
    let radix = levels
        .iter()
        .fold(1u64, |acc, lv| acc * lv.groups.max(1) as u64);
    fn codes<T: Send>(levels: &[Level], side: fn(&Level) -> &Vec<u32>, to: fn(u64) -> T) -> Vec<T> {
        (0..side(&levels[0]).len())
            .into_par_iter()
            .map(|i| {
                to(levels.iter().fold(0u64, |acc, lv| {
                    acc * lv.groups as u64 + u64::from(side(lv)[i])
                }))
            })
            .collect()
    }
    let nl = levels[0].left.len();
    let n = nl + levels[0].right.len();
    if radix <= (4 * n as u64).max(1 << 16) {
        // codes below 4n: the bitmap numbering of dense int64 keys
        let (left, right) = rayon::join(
            || codes(levels, |lv| &lv.left, |c| c as i64),
            || codes(levels, |lv| &lv.right, |c| c as i64),
        );
        if let Some((mut labels, keys)) = factorize_dense_all(&[&left, &right]) {
            let r = labels.pop().expect("two columns");
            let l = labels.pop().expect("two columns");
            return Level {
                left: l,
                right: r,
                groups: keys.len(),
                missing: false,
                has_nul: false,
            };
        }
    }
    if !ordered {
        let (left, right) = rayon::join(
            || codes(levels, |lv| &lv.left, |c| c),
            || codes(levels, |lv| &lv.right, |c| c),
        );
        let (labels, groups) =
            factorize_unordered(n, |i| Some(if i < nl { left[i] } else { right[i - nl] }));
        return level_of(labels, nl, groups);
    }
    // sparse codes, mostly distinct when there are many levels: sorting (code, row) pairs
    // numbers them in order without the hash tables of `factorize` (3x faster at 1M rows)
    let (left, right) = rayon::join(
        || codes(levels, |lv| &lv.left, |c| c),
        || codes(levels, |lv| &lv.right, |c| c),
    );
    let mut pairs: Vec<(u64, u32)> = left
        .into_par_iter()
        .chain(right.into_par_iter())
        .enumerate()
        .map(|(i, c)| (c, i as u32))
        .collect();
    pairs.par_sort_unstable_by_key(|p| p.0);
    let mut labels = vec![0u32; n];
    let mut groups = 0usize;
    let mut last = None;
    for &(c, i) in &pairs {
        if last != Some(c) {
            last = Some(c);
            groups += 1;
        }
        labels[i as usize] = (groups - 1) as u32;
    }
    level_of(labels, nl, groups)
}

/// The rows of each group, in row order (a stable counting sort).
struct Members {
    start: Vec<usize>,
    rows: Vec<u32>,
}

impl Members {
    fn of(labels: &[u32], groups: usize) -> Members {
        let mut start = vec![0usize; groups + 1];
        for &g in labels {
            start[g as usize + 1] += 1;
        }
        for g in 0..groups {
            start[g + 1] += start[g];
        }
        let mut next = start.clone();
        let mut rows = vec![0u32; labels.len()];
        for (i, &g) in labels.iter().enumerate() {
            rows[next[g as usize]] = i as u32;
            next[g as usize] += 1;
        }
        Members { start, rows }
    }

    #[inline]
    fn of_group(&self, g: usize) -> &[u32] {
        &self.rows[self.start[g]..self.start[g + 1]]
    }

    #[inline]
    fn count(&self, g: usize) -> usize {
        self.start[g + 1] - self.start[g]
    }
}

/// Work split into consecutive units (rows or groups) filled in parallel: each unit's output
/// size, then every range of units writes its own slice of the output.
fn emit<C, F>(units: usize, size: C, fill: F) -> std::result::Result<Indexers, String>
where
    C: Fn(usize) -> usize + Sync,
    F: Fn(usize, &mut Vec<(i64, i64)>) + Sync,
{
    let parts = (rayon::current_num_threads() * 4).clamp(1, units.max(1));
    let bounds: Vec<usize> = (0..=parts).map(|p| units * p / parts).collect();
    let sizes: Vec<usize> = (0..parts)
        .into_par_iter()
        .map(|p| (bounds[p]..bounds[p + 1]).map(&size).sum())
        .collect();
    let total: usize = sizes.iter().sum();
    if total > i32::MAX as usize {
        return Err(format!("{total} output rows"));
    }
    let mut left = vec![0i64; total];
    let mut right = vec![0i64; total];
    let mut slices = Vec::with_capacity(parts);
    let (mut l_rest, mut r_rest) = (left.as_mut_slice(), right.as_mut_slice());
    for &s in &sizes {
        let (l, lr) = l_rest.split_at_mut(s);
        let (r, rr) = r_rest.split_at_mut(s);
        slices.push((l, r));
        l_rest = lr;
        r_rest = rr;
    }
    slices.into_par_iter().enumerate().for_each(|(p, (l, r))| {
        let mut buf = Vec::new();
        let mut at = 0;
        for u in bounds[p]..bounds[p + 1] {
            buf.clear();
            fill(u, &mut buf);
            for (k, &(a, b)) in buf.iter().enumerate() {
                l[at + k] = a;
                r[at + k] = b;
            }
            at += buf.len();
        }
        debug_assert_eq!(at, l.len());
    });
    Ok(Indexers { left, right })
}

/// The join indexers of factorised keys (see the module documentation for the order).
fn indexers(key: &Level, how: How, sort: bool) -> std::result::Result<Indexers, String> {
    if key.left.len() > u32::MAX as usize || key.right.len() > u32::MAX as usize {
        return Err("more than 2^32 rows a side".into());
    }
    if how == How::Outer && !sort {
        // merge always sorts an outer join; unsorted, libjoin would follow the order in
        // which pandas' factoriser first met each key
        return Err("an unsorted outer join".into());
    }
    // the driving side (its rows or groups in order) and the other side
    let right_major = how == How::Right;
    let (drive, other) = if right_major {
        (&key.right, &key.left)
    } else {
        (&key.left, &key.right)
    };
    // pairs are produced as (driving row, other row) and stored as (left, right)
    let pair = |d: i64, o: i64| if right_major { (o, d) } else { (d, o) };
    let keep_driving = how != How::Inner;
    let keep_other = how == How::Outer;
    let (others, drivers) = rayon::join(
        || Members::of(other, key.groups),
        || sort.then(|| Members::of(drive, key.groups)),
    );
    match drivers {
        None => emit(
            drive.len(),
            |i| {
                let c = others.count(drive[i] as usize);
                if c == 0 && keep_driving {
                    1
                } else {
                    c
                }
            },
            |i, out| {
                let o = others.of_group(drive[i] as usize);
                if o.is_empty() {
                    if keep_driving {
                        out.push(pair(i as i64, -1));
                    }
                } else {
                    out.extend(o.iter().map(|&o| pair(i as i64, i64::from(o))));
                }
            },
        ),
        Some(drivers) => emit(
            key.groups,
            |g| {
                let (dc, oc) = (drivers.count(g), others.count(g));
                match (dc, oc) {
                    (0, _) if keep_other => oc,
                    (_, 0) if keep_driving => dc,
                    _ => dc * oc,
                }
            },
            |g, out| {
                let (d, o) = (drivers.of_group(g), others.of_group(g));
                if d.is_empty() {
                    if keep_other {
                        out.extend(o.iter().map(|&o| pair(-1, i64::from(o))));
                    }
                } else if o.is_empty() {
                    if keep_driving {
                        out.extend(d.iter().map(|&d| pair(i64::from(d), -1)));
                    }
                } else {
                    for &d in d {
                        out.extend(o.iter().map(|&o| pair(i64::from(d), i64::from(o))));
                    }
                }
            },
        ),
    }
}

/// Whether labels never decrease (and whether they always increase).
fn sorted_labels(v: &[u32]) -> (bool, bool) {
    v.par_windows(2)
        .fold(
            || (true, true),
            |(s, u), w| (s && w[0] <= w[1], u && w[0] < w[1]),
        )
        .reduce(|| (true, true), |a, b| (a.0 && b.0, a.1 && b.1))
}

/// `get_join_indexers` of key columns (one array per level and side); with `single_sorted`
/// set, one key level sorted on both sides (no missing key) and unique on one of them is
/// declined.
pub fn join_indexers(
    left: &[ArrayRef],
    right: &[ArrayRef],
    how: How,
    sort: bool,
    single_sorted: bool,
) -> std::result::Result<Indexers, String> {
    if left.is_empty() || left.len() != right.len() {
        return Err(format!(
            "{} left and {} right key columns",
            left.len(),
            right.len()
        ));
    }
    let nl = left[0].len();
    let nr = right[0].len();
    if left.iter().any(|c| c.len() != nl) || right.iter().any(|c| c.len() != nr) {
        return Err("key columns of different lengths on one side".into());
    }
    let levels = left
        .par_iter()
        .zip(right.par_iter())
        .map(|(l, r)| factorize_level(l, r, true))
        .collect::<std::result::Result<Vec<Level>, String>>()?;
    let key = combine(levels, true);
    if key.has_nul && (sort || how == How::Outer) {
        return Err("a str key holds NUL: pandas sorts such keys as C strings".into());
    }
    if single_sorted && left.len() == 1 && !key.missing {
        let ((ls, lu), (rs, ru)) =
            rayon::join(|| sorted_labels(&key.left), || sorted_labels(&key.right));
        if ls && rs && (lu || ru) {
            return Err("sorted keys: pandas' merge-join path".into());
        }
    }
    let ix = indexers(&key, how, sort)?;
    // pandas' unsorted inner join takes as many output rows as left rows to mean one match per
    // left row (libjoin.inner_join's short-cut) and then reorders rows it should not: declined
    if how == How::Inner && !sort && ix.left.len() == nl && !is_range(&ix.left, nl) {
        return Err("as many inner-join rows as left rows, not one per left row: pandas' inner_join short-cut reorders them".into());
    }
    Ok(ix)
}

/// Whether `v` is `0..n`.
fn is_range(v: &[i64], n: usize) -> bool {
    v.len() == n
        && v.par_chunks(1 << 16).enumerate().all(|(c, chunk)| {
            let base = (c << 16) as i64;
            chunk.iter().enumerate().all(|(k, &x)| x == base + k as i64)
        })
}

/// The kernel: the indexers as columns `l` and `r` (int64, `-1` for none), each left out when
/// it is the identity of its side.
pub fn join_indexers_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let right_batch = match &opts.right {
        Some(p) => {
            let mut batches = read_ipc_file(Path::new(p))?;
            match (batches.pop(), batches.is_empty()) {
                (Some(b), true) => b,
                _ => {
                    return Ok(Outcome::Declined(
                        "the right keys must be one record batch".into(),
                    ))
                }
            }
        }
        None => RecordBatch::new_empty(Arc::new(Schema::empty())),
    };
    let mut left = Vec::new();
    let mut right = Vec::new();
    for j in 0..opts.keys {
        for (side, b, out) in [("l", &batch, &mut left), ("r", &right_batch, &mut right)] {
            match input_column(b, &opts.refs, &format!("{side}{j}")) {
                Ok(Some(c)) => out.push(c),
                Ok(None) => return Ok(Outcome::Declined(format!("no key column {side}{j}"))),
                Err(why) => return Ok(Outcome::Declined(why)),
            }
        }
    }
    let (nl, nr) = (
        left.first().map_or(0, |c| c.len()),
        right.first().map_or(0, |c| c.len()),
    );
    let ix = match join_indexers(
        &left,
        &right,
        opts.how,
        opts.sort,
        opts.single_sorted_declines,
    ) {
        Ok(ix) => ix,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let rows = ix.left.len();
    let (l_range, r_range) = rayon::join(|| is_range(&ix.left, nl), || is_range(&ix.right, nr));
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, v, range) in [("l", ix.left, l_range), ("r", ix.right, r_range)] {
        if !range {
            fields.push(Field::new(name, DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from(v)));
        }
    }
    let result = RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .expect("columns of one length");
    let bytes = write_ipc_file(&result, out)?;
    Ok(Outcome::Ok {
        rows,
        cols: result.num_columns(),
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, StringArray};

    fn ints(v: &[i64]) -> ArrayRef {
        Arc::new(Int64Array::from(v.to_vec()))
    }

    /// The indexers by definition: nested loops over the rows in the documented order.
    fn naive(l: &[Option<i64>], r: &[Option<i64>], how: How, sort: bool) -> Indexers {
        let mut keys: Vec<Option<i64>> = l.iter().chain(r).copied().collect();
        // sorted, missing last
        keys.sort_by_key(|k| (k.is_none(), *k));
        keys.dedup();
        let mut out = Vec::new();
        let rows = |side: &[Option<i64>], k: Option<i64>| -> Vec<i64> {
            (0..side.len() as i64)
                .filter(|&i| side[i as usize] == k)
                .collect()
        };
        if sort {
            for k in keys {
                let (ls, rs) = (rows(l, k), rows(r, k));
                match (ls.is_empty(), rs.is_empty()) {
                    (false, false) if how == How::Right => {
                        for &j in &rs {
                            out.extend(ls.iter().map(|&i| (i, j)));
                        }
                    }
                    (false, false) => {
                        for &i in &ls {
                            out.extend(rs.iter().map(|&j| (i, j)));
                        }
                    }
                    (false, true) if matches!(how, How::Left | How::Outer) => {
                        out.extend(ls.iter().map(|&i| (i, -1)))
                    }
                    (true, false) if matches!(how, How::Right | How::Outer) => {
                        out.extend(rs.iter().map(|&j| (-1, j)))
                    }
                    _ => {}
                }
            }
        } else if how == How::Right {
            for (j, k) in r.iter().enumerate() {
                let ls = rows(l, *k);
                if ls.is_empty() {
                    out.push((-1, j as i64));
                }
                out.extend(ls.iter().map(|&i| (i, j as i64)));
            }
        } else {
            for (i, k) in l.iter().enumerate() {
                let rs = rows(r, *k);
                if rs.is_empty() && how == How::Left {
                    out.push((i as i64, -1));
                }
                out.extend(rs.iter().map(|&j| (i as i64, j)));
            }
        }
        Indexers {
            left: out.iter().map(|p| p.0).collect(),
            right: out.iter().map(|p| p.1).collect(),
        }
    }

    fn floats(v: &[Option<i64>]) -> ArrayRef {
        Arc::new(Float64Array::from(
            v.iter()
                .map(|k| k.map_or(f64::NAN, |k| k as f64))
                .collect::<Vec<_>>(),
        ))
    }

    fn strings(v: &[Option<i64>]) -> ArrayRef {
        // zero-padded, so the strings sort as the numbers do
        Arc::new(StringArray::from(
            v.iter()
                .map(|k| k.map(|k| format!("k{:06}", k + 1000)))
                .collect::<Vec<_>>(),
        ))
    }

    /// `got` is the definition's `want`, or declined where pandas' inner-join short-cut
    /// reorders rows (as many rows as left rows, not one per left row).
    fn check(
        got: std::result::Result<Indexers, String>,
        want: &Indexers,
        how: How,
        sort: bool,
        nl: usize,
    ) {
        let short_cut = how == How::Inner
            && !sort
            && want.left.len() == nl
            && want.left != (0..nl as i64).collect::<Vec<_>>();
        if short_cut {
            assert!(got.unwrap_err().contains("short-cut"));
        } else {
            assert_eq!(&got.unwrap(), want, "{how:?} sort={sort}");
        }
    }

    #[test]
    fn every_how_and_key_type_matches_the_definition() {
        let mut seed = 7u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for case in 0..60 {
            let (nl, nr) = (1 + next(40) as usize, 1 + next(40) as usize);
            let span = 1 + next(if case % 3 == 0 { 4 } else { 30 });
            let mut gen = |n: usize| -> Vec<Option<i64>> {
                (0..n)
                    .map(|_| (next(10) != 0).then(|| next(span) as i64 - 3))
                    .collect()
            };
            let (l, r) = (gen(nl), gen(nr));
            let present = |v: &[Option<i64>]| v.iter().map(|k| k.unwrap_or(99)).collect::<Vec<_>>();
            for how in [How::Left, How::Right, How::Inner, How::Outer] {
                for sort in [false, true] {
                    if how == How::Outer && !sort {
                        assert!(
                            join_indexers(&[ints(&[1])], &[ints(&[1])], how, sort, false).is_err()
                        );
                        continue;
                    }
                    let want = naive(&l, &r, how, sort);
                    for (a, b) in [(floats(&l), floats(&r)), (strings(&l), strings(&r))] {
                        check(
                            join_indexers(&[a], &[b], how, sort, false),
                            &want,
                            how,
                            sort,
                            nl,
                        );
                    }
                    // int64 keys cannot be missing: 99 stands for it
                    let (li, ri) = (present(&l), present(&r));
                    let wi = naive(
                        &li.iter().map(|&k| Some(k)).collect::<Vec<_>>(),
                        &ri.iter().map(|&k| Some(k)).collect::<Vec<_>>(),
                        how,
                        sort,
                    );
                    check(
                        join_indexers(&[ints(&li)], &[ints(&ri)], how, sort, false),
                        &wi,
                        how,
                        sort,
                        nl,
                    );
                }
            }
        }
    }

    #[test]
    fn pandas_quirks_are_declined() {
        // 4 inner rows for 4 left rows, but left row 1 matches three times and rows 0, 2 none
        let (l, r) = (ints(&[3, 2, 1, 4]), ints(&[2, 4, 2, 2]));
        let why = join_indexers(&[l.clone()], &[r.clone()], How::Inner, false, false).unwrap_err();
        assert!(why.contains("short-cut"), "{why}");
        assert!(join_indexers(&[l.clone()], &[r.clone()], How::Inner, true, false).is_ok());
        assert!(join_indexers(&[l], &[r], How::Left, false, false).is_ok());
        // a str key holding NUL: declined only where pandas sorts the keys
        let s = |v: &[&str]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
        let (l, r) = (s(&["b", "a\0x", "a"]), s(&["a"]));
        for (how, sort) in [(How::Inner, true), (How::Left, true), (How::Outer, true)] {
            assert!(join_indexers(&[l.clone()], &[r.clone()], how, sort, false)
                .unwrap_err()
                .contains("NUL"));
        }
        assert!(join_indexers(&[l.clone()], &[r.clone()], How::Left, false, false).is_ok());
        let two = join_indexers(
            &[l.clone(), ints(&[1, 1, 1])],
            &[r, ints(&[1])],
            How::Inner,
            true,
            false,
        );
        assert!(two.unwrap_err().contains("NUL"));
    }

    #[test]
    fn several_levels_are_tuples_in_lexicographic_order() {
        // (a, b) pairs; the second level alone would order them differently
        let (la, lb) = (
            ints(&[2, 1, 1, 2]),
            floats(&[Some(0), None, Some(5), Some(0)]),
        );
        let (ra, rb) = (ints(&[1, 2, 1]), floats(&[None, Some(0), Some(4)]));
        let got = join_indexers(
            &[la.clone(), lb.clone()],
            &[ra.clone(), rb.clone()],
            How::Outer,
            true,
            false,
        )
        .unwrap();
        // tuples sorted: (1, 4) right 2; (1, 5) left 2; (1, NaN) left 1 + right 0; (2, 0) left 0, 3 + right 1
        assert_eq!(got.left, vec![-1, 2, 1, 0, 3]);
        assert_eq!(got.right, vec![2, -1, 0, 1, 1]);
        let inner = join_indexers(&[la, lb], &[ra, rb], How::Inner, false, false).unwrap();
        assert_eq!(inner.left, vec![0, 1, 3]);
        assert_eq!(inner.right, vec![1, 0, 1]);
    }

    #[test]
    fn zeros_are_one_key_and_types_must_match() {
        let l: ArrayRef = Arc::new(Float64Array::from(vec![-0.0, 1.0]));
        let r: ArrayRef = Arc::new(Float64Array::from(vec![0.0]));
        let got = join_indexers(&[l.clone()], &[r], How::Inner, false, false).unwrap();
        assert_eq!((got.left, got.right), (vec![0], vec![0]));
        assert!(join_indexers(&[l], &[ints(&[0])], How::Inner, false, false).is_err());
        let with_null: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        assert!(join_indexers(&[with_null], &[ints(&[1])], How::Left, false, false).is_err());
    }

    #[test]
    fn sorted_single_keys_are_declined_when_asked() {
        let (sorted, unique) = (ints(&[1, 2, 2, 5]), ints(&[1, 2, 3]));
        assert!(
            join_indexers(&[sorted.clone()], &[unique.clone()], How::Left, false, true).is_err()
        );
        assert!(join_indexers(
            &[sorted.clone()],
            &[unique.clone()],
            How::Left,
            false,
            false
        )
        .is_ok());
        // neither side unique, one side unsorted, or a missing key: the general path
        assert!(
            join_indexers(&[sorted.clone()], &[sorted.clone()], How::Left, false, true).is_ok()
        );
        assert!(join_indexers(&[ints(&[2, 1])], &[unique], How::Left, false, true).is_ok());
        let nan = floats(&[Some(1), Some(2), None]);
        assert!(join_indexers(&[nan.clone()], &[nan], How::Inner, false, true).is_ok());
    }

    #[test]
    fn identity_indexers_are_detected() {
        assert!(is_range(&[0, 1, 2], 3));
        assert!(!is_range(&[0, 1, 2], 4));
        assert!(!is_range(&[0, 2, 1], 3));
        let big: Vec<i64> = (0..200_000).collect();
        assert!(is_range(&big, big.len()));
        let mut off = big.clone();
        off[150_000] = -1;
        assert!(!is_range(&off, off.len()));
    }
}
