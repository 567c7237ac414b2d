//! scikit-learn's depth-first decision tree builder for classification (`DepthFirstTreeBuilder`
//! with `BestSplitter` or `RandomSplitter` on dense data, criterion `gini` or `entropy` /
//! `log_loss`), node for node and bit for bit.
//!
//! The same tree comes out because every decision scikit-learn takes is taken here from the
//! same numbers, in the same order:
//! - its random stream: the splitter's `rand_r` state (drawn by the caller from the estimator's
//!   RandomState exactly as `Splitter.init` does), the Fisher-Yates draws of candidate features
//!   with its bookkeeping of constant features (the `features` / `constant_features` arrays,
//!   carried from node to node in the builder's depth-first order), and for `random` the
//!   uniform threshold draws;
//! - its tests: features constant within `FEATURE_THRESHOLD` (a float32 sum), tied values
//!   skipped the same way, `min_samples_leaf`, `min_weight_leaf`, `min_impurity_decrease`,
//!   `max_depth`, `min_samples_split`, the strict `>` between candidate splits;
//! - its arithmetic: impurities, proxy improvements, improvements, thresholds and node values
//!   with the same floating-point expressions in the same order.
//!
//! What differs is how the numbers are found: scikit-learn sorts the node's values of each
//! candidate feature at every node (introsort); here each feature's values get dense ranks once
//! per call (a forest's trees are built in one call and share them), packed in as few bits as
//! they need (one for a binary column), and a node's values of a feature are counted per rank
//! when its ranks span few values for the node's size (binary and small-integer columns: one
//! pass) or sorted as integer keys otherwise; a random split compares ranks too. The node's
//! samples carry their weights and classes along (moved with them at each split), so that only
//! the ranks are read at random. The order of samples *within* tied values then differs from
//! scikit-learn's, and sums are added up in other orders (per rank, in several copies; a
//! child's class sums are taken from its parent's split), which is harmless only because the
//! sums involved are exact: class weights are integers (no weight, or bootstrap counts) whose
//! sums are integers below 2^53, the same whatever the order.
//! Non-integer weights, regression criteria (float sums of `y`, order-dependent), missing
//! values, monotonic constraints and `max_leaf_nodes` (best-first builder) are declined by the
//! caller, and checked again here where they reach the kernel.
//!
//! Measured (customers fixture, 46 one-hot columns, gini, bootstrap weights, one thread, in
//! `cargo test`, the ranks apart): at 200k rows a tree with max_features 6 and depth 12 in
//! ~42 ms (scikit-learn ~250 ms), an extra tree (max_features 18, min_samples_leaf 4) in
//! ~105 ms, a full tree in ~500 ms, the ranks in ~40 ms (two threads); at 20k rows the first
//! in ~5.5 ms (scikit-learn ~20 ms), the extra tree in ~8 ms (~38).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, UInt32Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, UInt8Array};

use crate::csv::Outcome;
use crate::error::Result;
use crate::ipc::{read_ipc_file, write_ipc_file};

/// scikit-learn's `FEATURE_THRESHOLD` (a float32 constant, added in float32)
const FEATURE_THRESHOLD: f32 = 1e-7;
/// `RAND_R_MAX` of sklearn's `_random.pxd`
pub const RAND_R_MAX: u32 = 0x7FFF_FFFF;
const TREE_LEAF: i64 = -1;
const TREE_UNDEFINED: i64 = -2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criterion {
    Gini,
    Entropy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Splitter {
    Best,
    Random,
}

#[derive(Clone, Debug)]
pub struct Params {
    pub criterion: Criterion,
    pub splitter: Splitter,
    pub max_depth: i64,
    pub min_samples_split: i64,
    pub min_samples_leaf: i64,
    pub min_weight_leaf: f64,
    pub min_impurity_decrease: f64,
    pub max_features: usize,
    /// the splitter's `rand_r_state` after `Splitter.init` drew it
    pub seed: u32,
    /// classes per output
    pub n_classes: Vec<usize>,
}

/// The training matrix: `m` float32 columns of `n` finite values.
pub struct Data {
    pub x: Vec<Vec<f32>>,
    pub n: usize,
    /// every feature's dense ranks, computed on first use
    ranks: OnceLock<Vec<Ranks>>,
}

/// A feature's distinct values in ascending order and each row's index among them (-0.0 and
/// 0.0 are one value, as they tie in scikit-learn's sort and compare the same with any
/// threshold; which sign stands for it never changes a best split's threshold: that is computed
/// in float64 from halves, and half a nonzero float32 is never zero). The indices are packed
/// in u64 words, in the fewest bits that hold them rounded up to a power of two (1 for a binary
/// column, 8 for up to 256 values), so that a node's scattered reads of them stay in cache.
struct Ranks {
    values: Vec<f32>,
    /// every `BLOCK`th value, to search `values` in few cache lines
    coarse: Vec<f32>,
    /// whether the column holds both -0.0 and 0.0 (`values` then holds 0.0)
    mixed_zeros: bool,
    /// log2 of the bits per row
    log_bits: u32,
    words: Vec<u64>,
}

/// `Ranks::coarse` holds every `BLOCK`th value.
const BLOCK: usize = 64;

/// A float32's place in the order of finite floats, as an integer (-0.0 taken as 0.0).
fn order_key(v: f32) -> u32 {
    let bits = (v + 0.0).to_bits();
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }
}

impl Ranks {
    fn new(col: &[f32]) -> Ranks {
        let mut keys: Vec<u32> = col.iter().map(|&v| order_key(v)).collect();
        keys.sort_unstable();
        keys.dedup();
        let negative_zero = col.iter().any(|v| v.to_bits() == (-0.0f32).to_bits());
        let positive_zero = col.iter().any(|v| v.to_bits() == 0);
        let values: Vec<f32> = keys
            .iter()
            .map(|&k| {
                let v = f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k });
                if v == 0.0 && negative_zero && !positive_zero {
                    -0.0
                } else {
                    v
                }
            })
            .collect();
        let top_rank = keys.len().saturating_sub(1) as u32;
        let bits = (u32::BITS - top_rank.leading_zeros()).max(1);
        let log_bits = bits.next_power_of_two().trailing_zeros();
        let per_word = 64 >> log_bits;
        let mut words = vec![0u64; col.len().div_ceil(per_word)];
        for (i, &v) in col.iter().enumerate() {
            let r = keys
                .binary_search(&order_key(v))
                .expect("a value of the column");
            words[i / per_word] |= (r as u64) << ((i % per_word) << log_bits);
        }
        Ranks {
            coarse: values.iter().step_by(BLOCK).copied().collect(),
            values,
            mixed_zeros: negative_zero && positive_zero,
            log_bits,
            words,
        }
    }

    /// The number of values `v` with `v as f64 <= threshold`.
    fn count_at_most(&self, threshold: f64) -> usize {
        let blocks = self.coarse.partition_point(|&v| v as f64 <= threshold);
        let lo = blocks.saturating_sub(1) * BLOCK;
        let hi = (blocks * BLOCK).min(self.values.len());
        lo + self.values[lo..hi].partition_point(|&v| v as f64 <= threshold)
    }

    /// The ranks of `rows` into `out`.
    fn gather(&self, rows: &[u32], out: &mut [u32]) {
        fn packed<const LOG: u32>(words: &[u64], rows: &[u32], out: &mut [u32]) {
            let mask = u64::MAX >> (64 - (1 << LOG));
            for (r, &row) in out.iter_mut().zip(rows) {
                let row = row as usize;
                let word = words[row >> (6 - LOG)];
                *r = ((word >> ((row & ((1 << (6 - LOG)) - 1)) << LOG)) & mask) as u32;
            }
        }
        match self.log_bits {
            0 => packed::<0>(&self.words, rows, out),
            1 => packed::<1>(&self.words, rows, out),
            2 => packed::<2>(&self.words, rows, out),
            3 => packed::<3>(&self.words, rows, out),
            4 => packed::<4>(&self.words, rows, out),
            _ => packed::<5>(&self.words, rows, out),
        }
    }
}

impl Data {
    pub fn new(x: Vec<Vec<f32>>) -> std::result::Result<Data, String> {
        let n = x.first().map(|c| c.len()).ok_or("no feature column")?;
        if x.iter().any(|c| c.len() != n) {
            return Err("columns of different lengths".into());
        }
        if n > u32::MAX as usize {
            return Err("too many rows".into());
        }
        if x.iter().any(|c| c.iter().any(|v| !v.is_finite())) {
            return Err("missing or infinite values in X".into());
        }
        Ok(Data {
            x,
            n,
            ranks: OnceLock::new(),
        })
    }

    fn ranks(&self) -> &Vec<Ranks> {
        self.ranks.get_or_init(|| {
            use rayon::prelude::*;
            self.x.par_iter().map(|col| Ranks::new(col)).collect()
        })
    }
}

/// A fitted tree: scikit-learn's `Tree` node arrays and values (`node_count x n_outputs x
/// max_n_classes`), and the depth reached.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TreeOut {
    pub left: Vec<i64>,
    pub right: Vec<i64>,
    pub feature: Vec<i64>,
    pub threshold: Vec<f64>,
    pub impurity: Vec<f64>,
    pub n_node_samples: Vec<i64>,
    pub weighted_n_node_samples: Vec<f64>,
    pub missing_go_to_left: Vec<u8>,
    pub values: Vec<f64>,
    pub max_depth: i64,
}

#[inline]
fn our_rand_r(seed: &mut u32) -> u32 {
    if *seed == 0 {
        *seed = 1; // DEFAULT_SEED
    }
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    *seed % (RAND_R_MAX + 1)
}

#[inline]
fn rand_int(low: usize, high: usize, seed: &mut u32) -> usize {
    low + (our_rand_r(seed) as usize) % (high - low)
}

#[inline]
fn rand_uniform(low: f64, high: f64, seed: &mut u32) -> f64 {
    ((high - low) * our_rand_r(seed) as f64 / RAND_R_MAX as f64) + low
}

/// Class weight sums of one node side, per output and class (`k * max_nc + c`).
struct Shape {
    n_classes: Vec<usize>,
    max_nc: usize,
}

impl Shape {
    #[inline(always)]
    fn impurity(&self, crit: Criterion, sums: &[f64], wn: f64) -> f64 {
        // the mean over the outputs (x / 1.0 is x: one output needs no division)
        let n_outputs = self.n_classes.len();
        let mean = |x: f64| {
            if n_outputs == 1 {
                x
            } else {
                x / n_outputs as f64
            }
        };
        match crit {
            Criterion::Gini => {
                let mut gini = 0.0;
                for (k, &nc) in self.n_classes.iter().enumerate() {
                    let mut sq = 0.0;
                    for &count in &sums[k * self.max_nc..k * self.max_nc + nc] {
                        sq += count * count;
                    }
                    gini += 1.0 - sq / (wn * wn);
                }
                mean(gini)
            }
            Criterion::Entropy => {
                let ln2 = 2.0f64.ln();
                let mut entropy = 0.0;
                for (k, &nc) in self.n_classes.iter().enumerate() {
                    for &count in &sums[k * self.max_nc..k * self.max_nc + nc] {
                        if count > 0.0 {
                            let p = count / wn;
                            entropy -= p * (p.ln() / ln2);
                        }
                    }
                }
                mean(entropy)
            }
        }
    }
}

#[derive(Clone)]
struct Split {
    feature: usize,
    pos: usize,
    threshold: f64,
    /// the samples going left: those whose value's rank is below this
    n_below: u32,
    missing_go_to_left: bool,
    impurity_left: f64,
    impurity_right: f64,
    improvement: f64,
    weight_left: f64,
    weight_right: f64,
}

/// The best candidate of a node so far (its left sums are in `Builder::best_left`).
struct Best {
    split: Option<Split>,
    proxy: f64,
}

/// A node to build; its class sums are on the stack of sums beside (the same as sklearn's
/// `node_reset` finds: exact integers).
struct StackRecord {
    start: usize,
    end: usize,
    depth: i64,
    parent: i64,
    is_left: bool,
    impurity: f64,
    weighted_n_node_samples: f64,
    n_constant_features: usize,
}

struct Builder<'a> {
    data: &'a Data,
    p: &'a Params,
    shape: Shape,
    weighted_n_samples: f64,
    seed: u32,
    features: Vec<usize>,
    constant_features: Vec<usize>,
    /// the node's samples, split between the children at each split (like sklearn's `samples`),
    /// and beside them, moved with them, each one's weight and (per output) class slot
    /// `k * max_nc + y_k`: a node's weights and classes are read in order, only its feature
    /// values at random
    samples: Vec<u32>,
    weights: Vec<f64>,
    slots: Vec<Vec<u32>>,
    /// partition: whether each of the node's positions goes left, and room for the others
    goes_left: Vec<bool>,
    scratch: Vec<u32>,
    scratch_w: Vec<f64>,
    /// the node's ranks of the feature at hand
    node_ranks: Vec<u32>,
    /// per rank and class slot, the node's number of samples and their weight (`sum_by_rank`)
    bins: Vec<[f64; 2]>,
    /// best splitter: the node's values of a feature as runs of one value in ascending order
    /// (its rank, row count and class sums), from `bins` or from sorted keys
    keys: Vec<u64>,
    run_rank: Vec<u32>,
    run_count: Vec<u32>,
    run_sums: Vec<f64>,
    // per-node sums
    total: Vec<f64>,
    left: Vec<f64>,
    right: Vec<f64>,
    best_left: Vec<f64>,
}

impl<'a> Builder<'a> {
    /// The class sums of samples[start..end] into `self.total`; their weight.
    fn node_sums(&mut self, start: usize, end: usize) -> f64 {
        self.total.iter_mut().for_each(|s| *s = 0.0);
        let weights = &self.weights[start..end];
        for slots in &self.slots {
            for (&w, &slot) in weights.iter().zip(&slots[start..end]) {
                self.total[slot as usize] += w;
            }
        }
        weights.iter().sum()
    }

    /// The value of the node's rank `r` of `feature` (with `node_ranks` holding the node's
    /// ranks): when the column holds both zeros, that of the node's first sample of the rank,
    /// the one `find_min_max` keeps.
    fn value_of(&self, feature: usize, start: usize, end: usize, r: u32) -> f32 {
        let v = self.data.ranks()[feature].values[r as usize];
        if v != 0.0 || !self.data.ranks()[feature].mixed_zeros {
            return v;
        }
        let i = self.node_ranks[..end - start]
            .iter()
            .position(|&x| x == r)
            .expect("a sample of the rank");
        self.data.x[feature][self.samples[start + i] as usize]
    }

    /// `proxy_impurity_improvement` with `self.left` holding the left sums.
    #[inline]
    fn proxy(&mut self, wl: f64, wr: f64) -> f64 {
        for i in 0..self.total.len() {
            self.right[i] = self.total[i] - self.left[i];
        }
        let il = self.shape.impurity(self.p.criterion, &self.left, wl);
        let ir = self.shape.impurity(self.p.criterion, &self.right, wr);
        -wr * ir - wl * il
    }

    /// A candidate split (position, rows left and right; threshold, ranks going left) with
    /// `self.left` holding its left sums: sklearn's checks (min_samples_leaf, then
    /// min_weight_leaf) and its strict `>` against the best proxy improvement so far.
    fn consider(
        &mut self,
        best: &mut Best,
        feature: usize,
        (pos, n_left, n_right): (usize, usize, usize),
        (threshold, n_below): (f64, u32),
        wl: f64,
        wn: f64,
    ) {
        let msl = self.p.min_samples_leaf.max(0) as usize;
        if n_left < msl || n_right < msl {
            return;
        }
        let wr = wn - wl;
        if wl < self.p.min_weight_leaf || wr < self.p.min_weight_leaf {
            return;
        }
        let proxy = self.proxy(wl, wr);
        if proxy > best.proxy {
            best.proxy = proxy;
            self.best_left.copy_from_slice(&self.left);
            best.split = Some(Split {
                feature,
                pos,
                threshold,
                n_below,
                missing_go_to_left: n_left > n_right,
                impurity_left: f64::INFINITY,
                impurity_right: f64::INFINITY,
                improvement: f64::NEG_INFINITY,
                weight_left: wl,
                weight_right: wr,
            });
        }
    }

    /// `node_split_best` / `node_split_random`: the best split of samples[start..end], or
    /// None; updates the constant-feature bookkeeping as sklearn does.
    fn node_split(
        &mut self,
        start: usize,
        end: usize,
        impurity: f64,
        wn: f64,
        n_constant_features: &mut usize,
    ) -> Option<Split> {
        let n_features = self.features.len();
        let max_features = self.p.max_features;
        let n_known_constants = *n_constant_features;
        let mut n_total_constants = n_known_constants;
        let mut n_found_constants = 0usize;
        let mut n_drawn_constants = 0usize;
        let mut n_visited_features = 0usize;
        let mut f_i = n_features;
        let mut best = Best {
            split: None,
            proxy: f64::NEG_INFINITY,
        };

        while f_i > n_total_constants
            && (n_visited_features < max_features
                || n_visited_features <= n_found_constants + n_drawn_constants)
        {
            n_visited_features += 1;
            let mut f_j = rand_int(n_drawn_constants, f_i - n_found_constants, &mut self.seed);
            if f_j < n_known_constants {
                self.features.swap(n_drawn_constants, f_j);
                n_drawn_constants += 1;
                continue;
            }
            f_j += n_found_constants;
            let feature = self.features[f_j];
            let data = self.data;
            let ranks = &data.ranks()[feature];
            let values = &ranks.values;
            // the node's smallest and largest value, from its smallest and largest rank
            let node_ranks = &mut self.node_ranks[..end - start];
            ranks.gather(&self.samples[start..end], node_ranks);
            let (lo, hi) = node_ranks
                .iter()
                .fold((u32::MAX, 0), |(lo, hi), &r| (lo.min(r), hi.max(r)));
            let first = self.value_of(feature, start, end, lo);
            let last = self.value_of(feature, start, end, hi);
            if last <= first + FEATURE_THRESHOLD {
                self.features.swap(f_j, n_total_constants);
                n_found_constants += 1;
                n_total_constants += 1;
                continue;
            }
            f_i -= 1;
            self.features.swap(f_i, f_j);
            match self.p.splitter {
                Splitter::Best => {
                    self.runs_of(lo, hi, start, end);
                    self.left.iter_mut().for_each(|s| *s = 0.0);
                    // every boundary between two runs whose values differ by more than the
                    // threshold, in ascending order
                    let width = self.total.len();
                    let mut wl = 0.0;
                    let mut n_left = 0usize;
                    let mut prev = first;
                    for j in 0..self.run_rank.len() {
                        let v = values[self.run_rank[j] as usize];
                        if j > 0 && v > prev + FEATURE_THRESHOLD {
                            let threshold = prev as f64 / 2.0 + v as f64 / 2.0;
                            let at = (start + n_left, n_left, end - start - n_left);
                            let cut = (threshold, self.run_rank[j - 1] + 1);
                            self.consider(&mut best, feature, at, cut, wl, wn);
                        }
                        let sums = &self.run_sums[j * width..(j + 1) * width];
                        for (l, &x) in self.left.iter_mut().zip(sums) {
                            *l += x;
                        }
                        // every row adds its weight to one class of the first output
                        wl += sums[..self.shape.n_classes[0]].iter().sum::<f64>();
                        n_left += self.run_count[j] as usize;
                        prev = v;
                    }
                }
                Splitter::Random => {
                    let mut threshold = rand_uniform(first as f64, last as f64, &mut self.seed);
                    if threshold == last as f64 {
                        threshold = first as f64;
                    }
                    // x <= threshold for the ranks below this one: the node's sides as ranks 0
                    // and 1
                    let n_below = ranks.count_at_most(threshold) as u32;
                    let node_ranks = &mut self.node_ranks[..end - start];
                    node_ranks
                        .iter_mut()
                        .for_each(|r| *r = (*r >= n_below) as u32);
                    sum_by_rank(
                        node_ranks,
                        2,
                        &self.weights[start..end],
                        self.slots.iter().map(|s| &s[start..end]),
                        self.total.len(),
                        &mut self.bins,
                    );
                    for (l, bin) in self.left.iter_mut().zip(&self.bins) {
                        *l = bin[1];
                    }
                    // every row is counted, with its weight, in one class of the first output
                    let first_output = &self.bins[..self.shape.n_classes[0]];
                    let n_left = first_output.iter().map(|b| b[0]).sum::<f64>() as usize;
                    let wl = first_output.iter().map(|b| b[1]).sum::<f64>();
                    let at = (start + n_left, n_left, end - start - n_left);
                    self.consider(&mut best, feature, at, (threshold, n_below), wl, wn);
                }
            }
        }

        // sklearn's invariant: the known constants keep their order for siblings and children
        self.features[..n_known_constants]
            .copy_from_slice(&self.constant_features[..n_known_constants]);
        let found = n_known_constants..n_known_constants + n_found_constants;
        self.constant_features[found.clone()].copy_from_slice(&self.features[found]);
        *n_constant_features = n_total_constants;

        let mut split = best.split?;
        if split.pos >= end {
            return Some(split);
        }
        self.partition(start, end, &split);
        let (best_wl, wr) = (split.weight_left, split.weight_right);
        for i in 0..self.total.len() {
            self.right[i] = self.total[i] - self.best_left[i];
        }
        split.impurity_left = self
            .shape
            .impurity(self.p.criterion, &self.best_left, best_wl);
        split.impurity_right = self.shape.impurity(self.p.criterion, &self.right, wr);
        split.improvement = (wn / self.weighted_n_samples)
            * (impurity - (wr / wn * split.impurity_right) - (best_wl / wn * split.impurity_left));
        Some(split)
    }

    /// The node's values of a feature (its ranks in `node_ranks`, from `lo` to `hi`) as runs of
    /// equal values in ascending order: counted per rank when the ranks span few values for the
    /// node's size, else sorted.
    fn runs_of(&mut self, lo: u32, hi: u32, start: usize, end: usize) {
        let width = self.total.len();
        let span = (hi - lo) as usize + 1;
        let node_ranks = &mut self.node_ranks[..end - start];
        node_ranks.iter_mut().for_each(|r| *r -= lo);
        let weights = &self.weights[start..end];
        self.run_rank.clear();
        self.run_count.clear();
        self.run_sums.clear();
        if span <= 2 * (end - start) {
            let slots = self.slots.iter().map(|s| &s[start..end]);
            sum_by_rank(node_ranks, span, weights, slots, width, &mut self.bins);
            let nc = self.shape.n_classes[0];
            for (r, bins) in self.bins[..span * width].chunks_exact(width).enumerate() {
                // every row is counted in one class of the first output
                let count = bins[..nc].iter().map(|b| b[0]).sum::<f64>();
                if count > 0.0 {
                    self.run_rank.push(lo + r as u32);
                    self.run_count.push(count as u32);
                    self.run_sums.extend(bins.iter().map(|b| b[1]));
                }
            }
        } else {
            // the rank, and the position in the node
            self.keys.clear();
            self.keys.extend(
                node_ranks
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| ((r as u64) << 32) | i as u64),
            );
            self.keys.sort_unstable();
            for &key in &self.keys {
                let (r, i) = (
                    lo + (key >> 32) as u32,
                    start + (key & 0xFFFF_FFFF) as usize,
                );
                if self.run_rank.last() != Some(&r) {
                    self.run_rank.push(r);
                    self.run_count.push(0);
                    self.run_sums.extend(std::iter::repeat_n(0.0, width));
                }
                let j = self.run_rank.len() - 1;
                self.run_count[j] += 1;
                let run = &mut self.run_sums[j * width..(j + 1) * width];
                for slots in &self.slots {
                    run[slots[i] as usize] += self.weights[i];
                }
            }
        }
    }

    /// Splits samples[start..end] (with their weights and classes) stably into those going
    /// left (`x <= threshold`: the ranks below `n_below`) and the others.
    fn partition(&mut self, start: usize, end: usize, split: &Split) {
        let node_ranks = &mut self.node_ranks[..end - start];
        self.data.ranks()[split.feature].gather(&self.samples[start..end], node_ranks);
        let goes_left = &mut self.goes_left[..end - start];
        for (l, &r) in goes_left.iter_mut().zip(node_ranks.iter()) {
            *l = r < split.n_below;
        }
        stable_split(&mut self.samples[start..end], goes_left, &mut self.scratch);
        stable_split(
            &mut self.weights[start..end],
            goes_left,
            &mut self.scratch_w,
        );
        for slots in &mut self.slots {
            stable_split(&mut slots[start..end], goes_left, &mut self.scratch);
        }
    }
}

/// For each rank below `d` (`ranks`: the node's) and each class slot, the number of the node's
/// samples and their weight, in `bins[r * width + slot]` (every output's `slots` counts the
/// samples again). When `d` is small for the number of samples, consecutive samples go to
/// separate copies of the bins, so that additions to one bin do not wait for each other; the
/// copies are added up after, which is harmless as the sums are exact integers, the same in
/// any order.
fn sum_by_rank<'s>(
    ranks: &[u32],
    d: usize,
    weights: &[f64],
    slots: impl Iterator<Item = &'s [u32]>,
    width: usize,
    bins: &mut Vec<[f64; 2]>,
) {
    const LANES: usize = 4;
    let size = d * width;
    let lanes = if LANES * size <= ranks.len() {
        LANES
    } else {
        1
    };
    bins.clear();
    bins.resize(lanes * size, [0.0; 2]);
    let add = |bins: &mut [[f64; 2]], r: u32, w: f64, slot: u32| {
        let bin = &mut bins[r as usize * width + slot as usize];
        bin[0] += 1.0;
        bin[1] += w;
    };
    for slots in slots {
        let (mut ranks, mut weights, mut slots) = (ranks, weights, slots);
        if lanes == LANES {
            let (b0, rest) = bins.split_at_mut(size);
            let (b1, rest) = rest.split_at_mut(size);
            let (b2, b3) = rest.split_at_mut(size);
            let whole = ranks.len() / LANES * LANES;
            for ((r, w), s) in ranks[..whole]
                .chunks_exact(LANES)
                .zip(weights.chunks_exact(LANES))
                .zip(slots.chunks_exact(LANES))
            {
                add(b0, r[0], w[0], s[0]);
                add(b1, r[1], w[1], s[1]);
                add(b2, r[2], w[2], s[2]);
                add(b3, r[3], w[3], s[3]);
            }
            (ranks, weights, slots) = (&ranks[whole..], &weights[whole..], &slots[whole..]);
        }
        for ((&r, &w), &s) in ranks.iter().zip(weights).zip(slots) {
            add(bins, r, w, s);
        }
    }
    for lane in 1..lanes {
        for b in 0..size {
            let [count, weight] = bins[lane * size + b];
            bins[b][0] += count;
            bins[b][1] += weight;
        }
    }
}

/// Moves the items of `list` that go left to its front and the others after them, each in
/// their order (`scratch` has room for them all).
fn stable_split<T: Copy>(list: &mut [T], goes_left: &[bool], scratch: &mut [T]) {
    let (mut l, mut r) = (0, 0);
    for (i, &left) in goes_left.iter().enumerate() {
        // written to both sides, kept on one (no branch to mispredict); l <= i
        let x = list[i];
        list[l] = x;
        scratch[r] = x;
        l += left as usize;
        r += !left as usize;
    }
    list[l..].copy_from_slice(&scratch[..r]);
}

/// Builds one tree on `data` with sample weights `w` (one per row; 0 leaves a row out), as
/// scikit-learn's `DepthFirstTreeBuilder.build` does. `Err` is the reason to decline.
pub fn build_tree(
    data: &Data,
    y: &[Vec<u32>],
    w: &[f64],
    p: &Params,
) -> std::result::Result<TreeOut, String> {
    let n = data.n;
    if y.iter().any(|c| c.len() != n) {
        return Err("y and X have different lengths".into());
    }
    if w.len() != n {
        return Err(format!("{} weights for {n} rows", w.len()));
    }
    if p.n_classes.len() != y.len() || p.n_classes.contains(&0) {
        return Err("n_classes does not match y".into());
    }
    for (yk, &nc) in y.iter().zip(&p.n_classes) {
        if yk.iter().any(|&c| c as usize >= nc) {
            return Err("a class index out of range".into());
        }
    }
    // exact sums whatever the order: integer weights whose total stays below 2^53
    let mut weighted_n_samples = 0.0;
    for &x in w {
        if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0) {
            return Err("sample weights that are not counts".into());
        }
        weighted_n_samples += x;
    }
    if weighted_n_samples >= 9007199254740992.0 {
        return Err("sample weights too large to sum exactly".into());
    }
    if p.max_features == 0 {
        return Err("max_features must be positive".into());
    }
    let samples: Vec<u32> = (0..n as u32).filter(|&i| w[i as usize] != 0.0).collect();
    let n_s = samples.len();
    let m = data.x.len();
    let max_nc = *p.n_classes.iter().max().expect("one output");
    let width = p.n_classes.len() * max_nc;
    let weights: Vec<f64> = samples.iter().map(|&s| w[s as usize]).collect();
    let slots: Vec<Vec<u32>> = y
        .iter()
        .enumerate()
        .map(|(k, yk)| {
            let offset = (k * max_nc) as u32;
            samples.iter().map(|&s| offset + yk[s as usize]).collect()
        })
        .collect();
    let mut b = Builder {
        data,
        p,
        shape: Shape {
            n_classes: p.n_classes.clone(),
            max_nc,
        },
        weighted_n_samples,
        seed: p.seed,
        features: (0..m).collect(),
        constant_features: vec![0; m],
        samples,
        weights,
        slots,
        goes_left: vec![false; n_s],
        scratch: vec![0; n_s],
        scratch_w: vec![0.0; n_s],
        node_ranks: vec![0; n_s],
        bins: Vec::new(),
        keys: Vec::new(),
        run_rank: Vec::new(),
        run_count: Vec::new(),
        run_sums: Vec::new(),
        total: vec![0.0; width],
        left: vec![0.0; width],
        right: vec![0.0; width],
        best_left: vec![0.0; width],
    };

    let eps = f64::EPSILON;
    let mut out = TreeOut {
        max_depth: -1,
        ..Default::default()
    };
    let mut stack = vec![StackRecord {
        start: 0,
        end: n_s,
        depth: 0,
        parent: TREE_UNDEFINED,
        is_left: false,
        impurity: f64::INFINITY,
        weighted_n_node_samples: b.node_sums(0, n_s),
        n_constant_features: 0,
    }];
    // the class sums of the nodes on the stack, `width` each
    let mut stack_sums = b.total.clone();
    let mut first = true;
    while let Some(rec) = stack.pop() {
        let (start, end) = (rec.start, rec.end);
        let n_node = (end - start) as i64;
        let wn = rec.weighted_n_node_samples;
        let sums_at = stack_sums.len() - width;
        b.total.copy_from_slice(&stack_sums[sums_at..]);
        stack_sums.truncate(sums_at);
        let mut is_leaf = rec.depth >= p.max_depth
            || n_node < p.min_samples_split
            || n_node < 2 * p.min_samples_leaf
            || wn < 2.0 * p.min_weight_leaf;
        let mut impurity = rec.impurity;
        if first {
            impurity = b.shape.impurity(p.criterion, &b.total, wn);
            first = false;
        }
        is_leaf = is_leaf || impurity <= eps;
        let mut n_constant_features = rec.n_constant_features;
        let mut split = None;
        if !is_leaf {
            split = b.node_split(start, end, impurity, wn, &mut n_constant_features);
            is_leaf = match &split {
                None => true,
                Some(s) => s.pos >= end || s.improvement + eps < p.min_impurity_decrease,
            };
        }
        let node_id = out.left.len() as i64;
        if rec.parent != TREE_UNDEFINED {
            let parent = rec.parent as usize;
            if rec.is_left {
                out.left[parent] = node_id;
            } else {
                out.right[parent] = node_id;
            }
        }
        out.impurity.push(impurity);
        out.n_node_samples.push(n_node);
        out.weighted_n_node_samples.push(wn);
        out.left.push(TREE_LEAF);
        out.right.push(TREE_LEAF);
        match (&split, is_leaf) {
            (Some(s), false) => {
                out.feature.push(s.feature as i64);
                out.threshold.push(s.threshold);
                out.missing_go_to_left.push(s.missing_go_to_left as u8);
            }
            _ => {
                out.feature.push(TREE_UNDEFINED);
                out.threshold.push(TREE_UNDEFINED as f64);
                out.missing_go_to_left.push(0);
            }
        }
        for (k, &nc) in p.n_classes.iter().enumerate() {
            for c in 0..max_nc {
                out.values.push(if c < nc {
                    b.total[k * max_nc + c] / wn
                } else {
                    0.0
                });
            }
        }
        if !is_leaf {
            let s = split.expect("a split");
            stack.push(StackRecord {
                start: s.pos,
                end,
                depth: rec.depth + 1,
                parent: node_id,
                is_left: false,
                impurity: s.impurity_right,
                weighted_n_node_samples: s.weight_right,
                n_constant_features,
            });
            stack_sums.extend_from_slice(&b.right);
            stack.push(StackRecord {
                start,
                end: s.pos,
                depth: rec.depth + 1,
                parent: node_id,
                is_left: true,
                impurity: s.impurity_left,
                weighted_n_node_samples: s.weight_left,
                n_constant_features,
            });
            stack_sums.extend_from_slice(&b.best_left);
        }
        if rec.depth > out.max_depth {
            out.max_depth = rec.depth;
        }
    }
    Ok(out)
}

/// The kernel: options `{"trees": [{criterion, splitter, max_depth, min_samples_split,
/// min_samples_leaf, min_weight_leaf, min_impurity_decrease, max_features, seed, n_classes},
/// ...]}`; the input holds the training matrix (`x0`, `x1`.., float32, one per feature) and
/// the encoded classes of each output (`y0`, `y1`.., uint32), shared by the trees, and each
/// tree's sample weights (`w0`, `w1`.., float64). The trees (a forest's, or one) are built
/// in parallel. Writes every tree's node arrays one after the other (one row per node, `tree`
/// saying whose, `max_depth` the tree's depth) with the values (`values`, a list per node).
/// One tree that cannot be built exactly declines the call.
pub fn tree_fit_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    use rayon::prelude::*;

    let t0 = Instant::now();
    let params = match parse_options(options_json) {
        Ok(o) => o,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let n_outputs = params[0].n_classes.len();
    let max_nc = params[0].n_classes.iter().max().copied().unwrap_or(0);
    if params
        .iter()
        .any(|p| p.n_classes.len() != n_outputs || p.n_classes.iter().max() != Some(&max_nc))
    {
        return Ok(Outcome::Declined("trees with different outputs".into()));
    }
    let batches = read_ipc_file(input)?;
    let [batch] = batches.as_slice() else {
        return Ok(Outcome::Declined(
            "the input must be one record batch".into(),
        ));
    };
    let column = |name: String| batch.column_by_name(&name).filter(|c| c.null_count() == 0);
    let mut x = Vec::new();
    while let Some(xj) = column(format!("x{}", x.len())) {
        let Some(xj) = xj.as_primitive_opt::<Float32Type>() else {
            return Ok(Outcome::Declined(format!("x{} is not float32", x.len())));
        };
        x.push(xj.values().to_vec());
    }
    let data = match Data::new(x) {
        Ok(d) => d,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let mut y = Vec::new();
    for k in 0..n_outputs {
        let Some(yk) = column(format!("y{k}")).and_then(|c| c.as_primitive_opt::<UInt32Type>())
        else {
            return Ok(Outcome::Declined(format!(
                "the input needs a uint32 column y{k}"
            )));
        };
        y.push(yk.values().to_vec());
    }
    let mut weights = Vec::new();
    for t in 0..params.len() {
        let Some(w) = column(format!("w{t}")).and_then(|c| c.as_primitive_opt::<Float64Type>())
        else {
            return Ok(Outcome::Declined(format!(
                "the input needs a float64 column w{t}"
            )));
        };
        weights.push(w.values());
    }
    // the trees' shared ranks, before the trees: a tree waiting for them (inside the pool)
    // could otherwise run another tree's start, which would wait for them again
    data.ranks();
    let built: std::result::Result<Vec<TreeOut>, String> = params
        .par_iter()
        .zip(weights.par_iter())
        .map(|(p, w)| build_tree(&data, &y, w, p))
        .collect();
    let trees = match built {
        Ok(t) => t,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let nodes: usize = trees.iter().map(|t| t.left.len()).sum();
    let width = n_outputs * max_nc;
    let cat = |f: &dyn Fn(&TreeOut) -> &[i64]| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            trees.iter().flat_map(|t| f(t).iter().copied()),
        ))
    };
    let catf = |f: &dyn Fn(&TreeOut) -> &[f64]| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            trees.iter().flat_map(|t| f(t).iter().copied()),
        ))
    };
    let values = arrow_array::FixedSizeListArray::try_new(
        Arc::new(arrow_schema::Field::new(
            "item",
            arrow_schema::DataType::Float64,
            false,
        )),
        width as i32,
        catf(&|t| &t.values),
        None,
    )
    .expect("node_count x width values");
    let per_node = |f: &dyn Fn(usize, &TreeOut) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            trees
                .iter()
                .enumerate()
                .flat_map(|(i, t)| std::iter::repeat_n(f(i, t), t.left.len())),
        ))
    };
    let batch = RecordBatch::try_from_iter([
        ("tree", per_node(&|i, _| i as i64)),
        ("max_depth", per_node(&|_, t| t.max_depth)),
        ("left_child", cat(&|t| &t.left)),
        ("right_child", cat(&|t| &t.right)),
        ("feature", cat(&|t| &t.feature)),
        ("threshold", catf(&|t| &t.threshold)),
        ("impurity", catf(&|t| &t.impurity)),
        ("n_node_samples", cat(&|t| &t.n_node_samples)),
        (
            "weighted_n_node_samples",
            catf(&|t| &t.weighted_n_node_samples),
        ),
        (
            "missing_go_to_left",
            Arc::new(UInt8Array::from_iter_values(
                trees
                    .iter()
                    .flat_map(|t| t.missing_go_to_left.iter().copied()),
            )) as ArrayRef,
        ),
        ("values", Arc::new(values) as ArrayRef),
    ])
    .expect("columns of node_count rows");
    let bytes = write_ipc_file(&batch, out)?;
    Ok(Outcome::Ok {
        rows: data.n,
        cols: nodes,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

fn parse_options(json: &str) -> std::result::Result<Vec<Params>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("bad options: {e}"))?;
    let trees = v
        .get("trees")
        .and_then(|t| t.as_array())
        .filter(|t| !t.is_empty())
        .ok_or("trees must list the trees to build")?;
    let params = trees
        .iter()
        .map(parse_params)
        .collect::<std::result::Result<_, _>>()?;
    Ok(params)
}

fn parse_params(v: &serde_json::Value) -> std::result::Result<Params, String> {
    let int = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_i64())
            .ok_or_else(|| format!("{k} must be an integer"))
    };
    let float = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_f64())
            .ok_or_else(|| format!("{k} must be a number"))
    };
    let criterion = match v.get("criterion").and_then(|c| c.as_str()) {
        Some("gini") => Criterion::Gini,
        Some("entropy") | Some("log_loss") => Criterion::Entropy,
        other => return Err(format!("criterion {other:?} is not supported")),
    };
    let splitter = match v.get("splitter").and_then(|c| c.as_str()) {
        Some("best") => Splitter::Best,
        Some("random") => Splitter::Random,
        other => return Err(format!("splitter {other:?} is not supported")),
    };
    let seed = int("seed")?;
    if !(0..=RAND_R_MAX as i64).contains(&seed) {
        return Err("seed out of range".into());
    }
    let n_classes = v
        .get("n_classes")
        .and_then(|c| c.as_array())
        .ok_or("n_classes must be a list")?
        .iter()
        .map(|c| c.as_u64().map(|c| c as usize))
        .collect::<Option<Vec<_>>>()
        .ok_or("n_classes must hold counts")?;
    if n_classes.is_empty() {
        return Err("no output".into());
    }
    let max_features = int("max_features")?;
    if max_features < 1 {
        return Err("max_features must be positive".into());
    }
    Ok(Params {
        criterion,
        splitter,
        max_depth: int("max_depth")?,
        min_samples_split: int("min_samples_split")?,
        min_samples_leaf: int("min_samples_leaf")?,
        min_weight_leaf: float("min_weight_leaf")?,
        min_impurity_decrease: float("min_impurity_decrease")?,
        max_features: max_features as usize,
        seed: seed as u32,
        n_classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(splitter: Splitter) -> Params {
        Params {
            criterion: Criterion::Gini,
            splitter,
            max_depth: i32::MAX as i64,
            min_samples_split: 2,
            min_samples_leaf: 1,
            min_weight_leaf: 0.0,
            min_impurity_decrease: 0.0,
            max_features: 1,
            seed: 12345,
            n_classes: vec![2],
        }
    }

    #[test]
    fn rand_r_matches_sklearn_xorshift() {
        // our_rand_r from seed 1: 1 ^ 1<<13 = 8193; ^ >>17 = 8193; ^ <<5 = 8193 ^ 262176
        let mut s = 1u32;
        assert_eq!(our_rand_r(&mut s), 8193 ^ (8193 << 5));
        let mut z = 0u32; // 0 is replaced by the default seed 1
        assert_eq!(our_rand_r(&mut z), 8193 ^ (8193 << 5));
    }

    #[test]
    fn separable_data_gives_a_stump_with_the_midpoint_threshold() {
        let x = vec![vec![1.0f32, 2.0, 3.0, 10.0, 11.0, 12.0]];
        let y = vec![vec![0u32, 0, 0, 1, 1, 1]];
        let data = Data::new(x).unwrap();
        for splitter in [Splitter::Best, Splitter::Random] {
            let t = build_tree(&data, &y, &[1.0; 6], &params(splitter)).unwrap();
            assert_eq!(t.left[0], 1);
            assert_eq!(t.feature[0], 0);
            assert_eq!(t.impurity[0], 0.5);
            assert_eq!(t.n_node_samples[0], 6);
            if splitter == Splitter::Best {
                assert_eq!(t.threshold[0], 6.5);
                assert_eq!(t.n_node_samples, vec![6, 3, 3]);
                assert_eq!(t.values, vec![0.5, 0.5, 1.0, 0.0, 0.0, 1.0]);
                assert_eq!(t.max_depth, 1);
            }
        }
    }

    #[test]
    fn zero_weights_leave_rows_out_and_fractions_decline() {
        let x = vec![vec![1.0f32, 2.0, 3.0, 4.0]];
        let y = vec![vec![0u32, 1, 0, 1]];
        let data = Data::new(x).unwrap();
        let t = build_tree(&data, &y, &[2.0, 0.0, 1.0, 0.0], &params(Splitter::Best)).unwrap();
        assert_eq!(t.left.len(), 1, "one class left: a leaf");
        assert_eq!(t.weighted_n_node_samples, vec![3.0]);
        assert_eq!(t.n_node_samples, vec![2]);
        assert!(build_tree(&data, &y, &[0.5, 1.0, 1.0, 1.0], &params(Splitter::Best)).is_err());
    }

    #[test]
    fn nan_in_x_is_declined() {
        assert!(Data::new(vec![vec![f32::NAN, 1.0]]).is_err());
    }
}

#[cfg(test)]
mod bench {
    use super::*;

    /// `STRATUM_TREE_BENCH=matrix.arrow cargo test --release -p stratum-core tree_bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn tree_bench() {
        let Ok(path) = std::env::var("STRATUM_TREE_BENCH") else {
            return;
        };
        // columns x* (float32 features) and y0 (uint32 classes)
        let batches = read_ipc_file(Path::new(&path)).unwrap();
        let batch = &batches[0];
        let mut x = Vec::new();
        let mut y = Vec::new();
        for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
            if field.name().starts_with('x') {
                x.push(col.as_primitive::<Float32Type>().values().to_vec());
            } else {
                y.push(col.as_primitive::<UInt32Type>().values().to_vec());
            }
        }
        let data = Data::new(x).unwrap();
        let n = data.n;
        let m = data.x.len();
        // the ranks are shared by a forest's trees: computed once, outside the timings
        let t0 = Instant::now();
        data.ranks();
        println!("ranks: {:.1} ms", t0.elapsed().as_secs_f64() * 1000.0);
        for (splitter, max_features, min_samples_leaf, max_depth) in [
            (Splitter::Best, (m as f64).sqrt() as usize, 3, 12),
            (
                Splitter::Random,
                (m as f64 * 0.4) as usize,
                4,
                i32::MAX as i64,
            ),
            (Splitter::Best, m, 1, i32::MAX as i64),
        ] {
            let p = Params {
                criterion: Criterion::Gini,
                splitter,
                max_depth,
                min_samples_split: 2,
                min_samples_leaf,
                min_weight_leaf: 0.0,
                min_impurity_decrease: 0.0,
                max_features,
                seed: 7,
                n_classes: vec![2],
            };
            let mut seed = 3u32;
            let t0 = Instant::now();
            let mut nodes = 0;
            for _ in 0..10 {
                let mut w = vec![0.0; n];
                for _ in 0..n {
                    w[rand_int(0, n, &mut seed)] += 1.0;
                }
                nodes += build_tree(&data, &y, &w, &p).unwrap().left.len();
            }
            println!(
                "{splitter:?} max_features {max_features}: {:.1} ms per tree, {} nodes",
                t0.elapsed().as_secs_f64() * 100.0,
                nodes / 10
            );
        }
    }
}
