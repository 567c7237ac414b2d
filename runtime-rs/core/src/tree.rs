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
//! per call (a forest's trees are built in one call and share them), and a node's values
//! of a feature are counted per rank when the feature has few distinct values for the node's
//! size (binary and small-integer columns: one pass) or sorted as integer keys otherwise. The
//! order of samples *within* tied values then differs from scikit-learn's, which is harmless
//! only because the sums involved are exact: class weights are integers (no weight, or
//! bootstrap counts) whose sums are integers below 2^53, the same whatever the order.
//! Non-integer weights, regression criteria (float sums of `y`, order-dependent), missing
//! values, monotonic constraints and `max_leaf_nodes` (best-first builder) are declined by the
//! caller, and checked again here where they reach the kernel.
//!
//! Measured (customers fixture, 20k x 46, gini, in `cargo test`): a bootstrap tree with
//! max_features 6 and depth 12 in ~10 ms (scikit-learn ~20 ms), an extra tree in ~17 ms (~38).

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
    /// every feature's dense ranks, computed on first use by a best splitter
    ranks: OnceLock<Vec<Ranks>>,
}

/// A feature's distinct values in ascending order and each row's index among them (-0.0 and
/// 0.0 are one value, as they tie in scikit-learn's sort; which sign stands for it never
/// changes a threshold: a threshold is computed in float64 from halves, and half a nonzero
/// float32 is never zero).
struct Ranks {
    values: Vec<f32>,
    rank: Vec<u32>,
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
            self.x
                .par_iter()
                .map(|col| {
                    let mut idx: Vec<u32> = (0..self.n as u32).collect();
                    idx.sort_unstable_by(|&a, &b| {
                        col[a as usize]
                            .partial_cmp(&col[b as usize])
                            .expect("finite")
                    });
                    let mut values: Vec<f32> = Vec::new();
                    let mut rank = vec![0u32; self.n];
                    for &i in &idx {
                        let v = col[i as usize];
                        if values.last() != Some(&v) {
                            values.push(v);
                        }
                        rank[i as usize] = (values.len() - 1) as u32;
                    }
                    Ranks { values, rank }
                })
                .collect()
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
    fn impurity(&self, crit: Criterion, sums: &[f64], wn: f64) -> f64 {
        let n_outputs = self.n_classes.len();
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
                gini / n_outputs as f64
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
                entropy / n_outputs as f64
            }
        }
    }
}

#[derive(Clone)]
struct Split {
    feature: usize,
    pos: usize,
    threshold: f64,
    missing_go_to_left: bool,
    impurity_left: f64,
    impurity_right: f64,
    improvement: f64,
}

/// The best candidate of a node so far, and its left weight (its left sums are in
/// `Builder::best_left`).
struct Best {
    split: Option<Split>,
    proxy: f64,
    wl: f64,
}

struct StackRecord {
    start: usize,
    end: usize,
    depth: i64,
    parent: i64,
    is_left: bool,
    impurity: f64,
    n_constant_features: usize,
}

struct Builder<'a> {
    data: &'a Data,
    y: &'a [Vec<u32>],
    p: &'a Params,
    shape: Shape,
    w: &'a [f64],
    weighted_n_samples: f64,
    seed: u32,
    features: Vec<usize>,
    constant_features: Vec<usize>,
    /// the node's samples, split between the children at each split (like sklearn's `samples`)
    samples: Vec<u32>,
    goes_left: Vec<bool>,
    scratch: Vec<u32>,
    /// best splitter: the node's values of a feature as runs of one value in ascending order
    /// (its rank, row count and class sums), from counts per rank or from sorted keys
    counts: Vec<u32>,
    count_sums: Vec<f64>,
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
    fn node_sums(&mut self, start: usize, end: usize) -> f64 {
        self.total.iter_mut().for_each(|s| *s = 0.0);
        let mut wn = 0.0;
        for &s in &self.samples[start..end] {
            let s = s as usize;
            let w = self.w[s];
            for (k, yk) in self.y.iter().enumerate() {
                self.total[k * self.shape.max_nc + yk[s] as usize] += w;
            }
            wn += w;
        }
        wn
    }

    #[inline]
    fn add_left(&mut self, s: usize) -> f64 {
        let w = self.w[s];
        for (k, yk) in self.y.iter().enumerate() {
            self.left[k * self.shape.max_nc + yk[s] as usize] += w;
        }
        w
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

    /// A candidate split (position, rows left and right) with `self.left` holding its left
    /// sums: sklearn's checks (min_samples_leaf, then min_weight_leaf) and its strict `>`
    /// against the best proxy improvement so far.
    fn consider(
        &mut self,
        best: &mut Best,
        feature: usize,
        (pos, n_left, n_right): (usize, usize, usize),
        threshold: f64,
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
            best.wl = wl;
            self.best_left.copy_from_slice(&self.left);
            best.split = Some(Split {
                feature,
                pos,
                threshold,
                missing_go_to_left: n_left > n_right,
                impurity_left: f64::INFINITY,
                impurity_right: f64::INFINITY,
                improvement: f64::NEG_INFINITY,
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
            wl: 0.0,
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
            let col = &data.x[feature];
            // the node's smallest and largest value (best: from its runs of equal values)
            let (first, last) = match self.p.splitter {
                Splitter::Best => {
                    self.runs_of(feature, start, end);
                    let values = &data.ranks()[feature].values;
                    let runs = self.run_rank.len();
                    (
                        values[self.run_rank[0] as usize],
                        values[self.run_rank[runs - 1] as usize],
                    )
                }
                Splitter::Random => min_max(col, &self.samples[start..end]),
            };
            if last <= first + FEATURE_THRESHOLD {
                self.features.swap(f_j, n_total_constants);
                n_found_constants += 1;
                n_total_constants += 1;
                continue;
            }
            f_i -= 1;
            self.features.swap(f_i, f_j);
            self.left.iter_mut().for_each(|s| *s = 0.0);
            match self.p.splitter {
                Splitter::Best => {
                    // every boundary between two runs whose values differ by more than the
                    // threshold, in ascending order
                    let values = &data.ranks()[feature].values;
                    let width = self.total.len();
                    let mut wl = 0.0;
                    let mut n_left = 0usize;
                    let mut prev = first;
                    for j in 0..self.run_rank.len() {
                        let v = values[self.run_rank[j] as usize];
                        if j > 0 && v > prev + FEATURE_THRESHOLD {
                            let threshold = prev as f64 / 2.0 + v as f64 / 2.0;
                            let at = (start + n_left, n_left, end - start - n_left);
                            self.consider(&mut best, feature, at, threshold, wl, wn);
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
                    let mut wl = 0.0;
                    let mut n_left = 0usize;
                    for idx in start..end {
                        let s = self.samples[idx] as usize;
                        if col[s] as f64 <= threshold {
                            n_left += 1;
                            wl += self.add_left(s);
                        }
                    }
                    let at = (start + n_left, n_left, end - start - n_left);
                    self.consider(&mut best, feature, at, threshold, wl, wn);
                }
            }
        }

        // sklearn's invariant: the known constants keep their order for siblings and children
        self.features[..n_known_constants]
            .copy_from_slice(&self.constant_features[..n_known_constants]);
        let (dst, src) = (
            n_known_constants..n_known_constants + n_found_constants,
            n_known_constants..n_known_constants + n_found_constants,
        );
        let found: Vec<usize> = self.features[src].to_vec();
        self.constant_features[dst].copy_from_slice(&found);
        *n_constant_features = n_total_constants;

        let best_wl = best.wl;
        let mut split = best.split?;
        if split.pos >= end {
            return Some(split);
        }
        self.partition(start, end, &split);
        let wr = wn - best_wl;
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

    /// The node's values of `feature` as runs of equal values in ascending order: counted per
    /// rank when the feature has few distinct values for the node's size, else sorted.
    fn runs_of(&mut self, feature: usize, start: usize, end: usize) {
        let data = self.data;
        let ranks = &data.ranks()[feature];
        let width = self.total.len();
        let max_nc = self.shape.max_nc;
        let d = ranks.values.len();
        self.run_rank.clear();
        self.run_count.clear();
        self.run_sums.clear();
        if d <= 2 * (end - start) {
            self.counts[..d].iter_mut().for_each(|c| *c = 0);
            self.count_sums[..d * width]
                .iter_mut()
                .for_each(|c| *c = 0.0);
            for &s in &self.samples[start..end] {
                let s = s as usize;
                let r = ranks.rank[s] as usize;
                self.counts[r] += 1;
                let w = self.w[s];
                for (k, yk) in self.y.iter().enumerate() {
                    self.count_sums[r * width + k * max_nc + yk[s] as usize] += w;
                }
            }
            for r in 0..d {
                if self.counts[r] > 0 {
                    self.run_rank.push(r as u32);
                    self.run_count.push(self.counts[r]);
                    self.run_sums
                        .extend_from_slice(&self.count_sums[r * width..(r + 1) * width]);
                }
            }
        } else {
            self.keys.clear();
            self.keys.extend(
                self.samples[start..end]
                    .iter()
                    .map(|&s| ((ranks.rank[s as usize] as u64) << 32) | s as u64),
            );
            self.keys.sort_unstable();
            for &key in &self.keys {
                let (r, s) = ((key >> 32) as u32, (key & 0xFFFF_FFFF) as usize);
                if self.run_rank.last() != Some(&r) {
                    self.run_rank.push(r);
                    self.run_count.push(0);
                    self.run_sums.extend(std::iter::repeat_n(0.0, width));
                }
                let j = self.run_rank.len() - 1;
                self.run_count[j] += 1;
                let w = self.w[s];
                for (k, yk) in self.y.iter().enumerate() {
                    self.run_sums[j * width + k * max_nc + yk[s] as usize] += w;
                }
            }
        }
    }

    /// Splits samples[start..end] stably into those going left (`x <= threshold`) and the
    /// others.
    fn partition(&mut self, start: usize, end: usize, split: &Split) {
        let data = self.data;
        let col = &data.x[split.feature];
        for &s in &self.samples[start..end] {
            self.goes_left[s as usize] = col[s as usize] as f64 <= split.threshold;
        }
        stable_split(
            &mut self.samples[start..end],
            &self.goes_left,
            &mut self.scratch,
        );
    }
}

/// `find_min_max` of sklearn's partitioner: the first value, then `<` min, else `>` max.
fn min_max(col: &[f32], samples: &[u32]) -> (f32, f32) {
    let mut min = col[samples[0] as usize];
    let mut max = min;
    for &s in &samples[1..] {
        let v = col[s as usize];
        if v < min {
            min = v;
        } else if v > max {
            max = v;
        }
    }
    (min, max)
}

fn stable_split(list: &mut [u32], goes_left: &[bool], scratch: &mut Vec<u32>) {
    scratch.clear();
    let mut l = 0;
    for i in 0..list.len() {
        let s = list[i];
        if goes_left[s as usize] {
            list[l] = s;
            l += 1;
        } else {
            scratch.push(s);
        }
    }
    list[l..].copy_from_slice(scratch);
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
    let distinct = match p.splitter {
        Splitter::Best => data
            .ranks()
            .iter()
            .map(|r| r.values.len())
            .max()
            .unwrap_or(0),
        Splitter::Random => 0,
    };
    let max_nc = *p.n_classes.iter().max().expect("one output");
    let width = p.n_classes.len() * max_nc;
    let mut b = Builder {
        data,
        y,
        p,
        shape: Shape {
            n_classes: p.n_classes.clone(),
            max_nc,
        },
        w,
        weighted_n_samples,
        seed: p.seed,
        features: (0..m).collect(),
        constant_features: vec![0; m],
        samples,
        goes_left: vec![false; n],
        scratch: Vec::with_capacity(n_s),
        counts: vec![0; distinct],
        count_sums: vec![0.0; distinct * width],
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
        n_constant_features: 0,
    }];
    let mut first = true;
    while let Some(rec) = stack.pop() {
        let (start, end) = (rec.start, rec.end);
        let n_node = (end - start) as i64;
        let wn = b.node_sums(start, end);
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
                n_constant_features,
            });
            stack.push(StackRecord {
                start,
                end: s.pos,
                depth: rec.depth + 1,
                parent: node_id,
                is_left: true,
                impurity: s.impurity_left,
                n_constant_features,
            });
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

#[cfg(test)]
mod digest_tmp {
    use super::*;
    use std::hash::{DefaultHasher, Hasher};

    fn digest(t: &TreeOut) -> u64 {
        let mut h = DefaultHasher::new();
        for v in [&t.left, &t.right, &t.feature, &t.n_node_samples] {
            h.write_usize(v.len());
            v.iter().for_each(|&x| h.write_i64(x));
        }
        for v in [&t.threshold, &t.impurity, &t.weighted_n_node_samples, &t.values] {
            h.write_usize(v.len());
            v.iter().for_each(|&x| h.write_u64(x.to_bits()));
        }
        h.write(&t.missing_go_to_left);
        h.write_i64(t.max_depth);
        h.finish()
    }

    #[test]
    #[ignore]
    fn tree_digest_tmp() {
        let path = std::env::var("STRATUM_TREE_BENCH").unwrap();
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
        // a second, 3-class output derived from a many-valued feature
        let y1: Vec<u32> = x[7].iter().map(|&v| (v as i64).rem_euclid(3) as u32).collect();
        for rows in [200_000usize, 20_000, 3_000] {
            let xs: Vec<Vec<f32>> = x.iter().map(|c| c[..rows].to_vec()).collect();
            let data = Data::new(xs).unwrap();
            let n = data.n;
            let m = data.x.len();
            let y0 = vec![y[0][..rows].to_vec()];
            let y2 = vec![y[0][..rows].to_vec(), y1[..rows].to_vec()];
            let mut line = Vec::new();
            for (splitter, max_features, msl, max_depth, crit, mwl, multi, boot) in [
                (Splitter::Best, 6, 3, 12, Criterion::Gini, 0.0, false, true),
                (Splitter::Random, 18, 4, i32::MAX as i64, Criterion::Gini, 0.0, false, true),
                (Splitter::Best, m, 1, i32::MAX as i64, Criterion::Gini, 0.0, false, true),
                (Splitter::Best, 6, 1, 20, Criterion::Entropy, 0.0, false, false),
                (Splitter::Random, 10, 1, 20, Criterion::Entropy, 5.0, false, true),
                (Splitter::Best, 10, 2, 15, Criterion::Gini, 7.0, true, true),
                (Splitter::Random, 10, 2, 15, Criterion::Entropy, 0.0, true, false),
            ] {
                if rows == 200_000 && max_features == m {
                    // one full tree only
                }
                let p = Params {
                    criterion: crit,
                    splitter,
                    max_depth,
                    min_samples_split: 2,
                    min_samples_leaf: msl,
                    min_weight_leaf: mwl,
                    min_impurity_decrease: 0.0,
                    max_features,
                    seed: 7,
                    n_classes: if multi { vec![2, 3] } else { vec![2] },
                };
                let mut seed = 3u32;
                let reps = if rows == 200_000 { 2 } else { 3 };
                for _ in 0..reps {
                    let mut w = vec![0.0; n];
                    if boot {
                        for _ in 0..n {
                            w[rand_int(0, n, &mut seed)] += 1.0;
                        }
                    } else {
                        w.iter_mut().for_each(|x| *x = 1.0);
                    }
                    let t = build_tree(&data, if multi { &y2 } else { &y0 }, &w, &p).unwrap();
                    line.push(format!("{}:{:016x}", t.left.len(), digest(&t)));
                }
            }
            println!("DIGEST rows {rows}: {}", line.join(" "));
        }
    }
}
