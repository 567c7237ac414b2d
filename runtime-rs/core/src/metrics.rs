//! scikit-learn metrics, bit for bit.
//!
//! `roc_auc`: `sklearn.metrics.roc_auc_score(y_true, y_score)` with default arguments on binary
//! labels: `confusion_matrix_at_thresholds` (scores sorted descending, one threshold per distinct
//! score), `roc_curve` (drop_intermediate, a leading (0, 0)), `auc` (the trapezoid rule, summed
//! with NumPy's pairwise summation). Every intermediate is an integer count or one correctly
//! rounded IEEE operation in the same order as NumPy, so the result is identical; the order of
//! tied scores does not matter (a threshold takes all of them).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{ArrowPrimitiveType, Float64Type, Int64Type};
use arrow_array::{Array, Float64Array, RecordBatch};
use rayon::prelude::*;

use crate::csv::Outcome;
use crate::error::Result;
use crate::ipc::{read_ipc_file, write_ipc_file};

/// NumPy's pairwise summation of a contiguous float64 array (`DOUBLE_pairwise_sum`, what
/// `np.add.reduce` runs): blocks of at most 128 summed with 8 accumulators, halves split at a
/// multiple of 8.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    crate::impute::pairwise_sum_by(a.len(), &|i| a[i])
}

/// An order-preserving integer key of a finite float, with -0.0 and 0.0 equal (as `np.diff`
/// sees them).
#[inline]
fn key(x: f64) -> u64 {
    let b = (x + 0.0).to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// ROC AUC of the samples whose label equals `pos` (the rest are negatives) against `scores`;
/// `Err` is the reason to decline (a single class, non-finite scores: scikit-learn warns or
/// raises there, so it does the work).
pub fn roc_auc(labels: &[i64], pos: i64, scores: &[f64]) -> std::result::Result<f64, String> {
    if labels.len() != scores.len() {
        return Err("y_true and y_score differ in length".into());
    }
    if scores.par_iter().any(|s| !s.is_finite()) {
        return Err("y_score holds NaN or infinity (scikit-learn raises)".into());
    }
    // the scores of each class as sorted keys: thresholds are then a merge of the two, from the
    // top, and the counts at each threshold are the same whatever the order among ties
    let (mut pk, mut nk) = (
        Vec::with_capacity(scores.len()),
        Vec::with_capacity(scores.len()),
    );
    for (l, s) in labels.iter().zip(scores) {
        if *l == pos {
            pk.push(key(*s));
        } else {
            nk.push(key(*s));
        }
    }
    if pk.is_empty() || nk.is_empty() {
        return Err("y_true holds one class (scikit-learn warns and returns NaN)".into());
    }
    rayon::join(|| pk.par_sort_unstable(), || nk.par_sort_unstable());
    // tps, fps at each distinct score, descending (confusion_matrix_at_thresholds)
    let (mut tps, mut fps): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    let (mut i, mut j, mut tp, mut fp) = (pk.len(), nk.len(), 0u64, 0u64);
    while i > 0 || j > 0 {
        let v = match (i > 0, j > 0) {
            (true, true) => pk[i - 1].max(nk[j - 1]),
            (true, false) => pk[i - 1],
            _ => nk[j - 1],
        };
        while i > 0 && pk[i - 1] == v {
            tp += 1;
            i -= 1;
        }
        while j > 0 && nk[j - 1] == v {
            fp += 1;
            j -= 1;
        }
        tps.push(tp as f64);
        fps.push(fp as f64);
    }
    // drop_intermediate: keep the ends and every corner (a non-zero second difference)
    if fps.len() > 2 {
        let corner = |x: &[f64], i: usize| (x[i + 1] - x[i]) - (x[i] - x[i - 1]) != 0.0;
        let keep: Vec<usize> = (0..fps.len())
            .filter(|&i| i == 0 || i == fps.len() - 1 || corner(&fps, i) || corner(&tps, i))
            .collect();
        fps = keep.iter().map(|&i| fps[i]).collect();
        tps = keep.iter().map(|&i| tps[i]).collect();
    }
    let (fl, tl) = (fps[fps.len() - 1], tps[tps.len() - 1]);
    let fpr: Vec<f64> = std::iter::once(0.0)
        .chain(fps.iter().map(|f| f / fl))
        .collect();
    let tpr: Vec<f64> = std::iter::once(0.0)
        .chain(tps.iter().map(|t| t / tl))
        .collect();
    // np.trapezoid(tpr, fpr): (d * (y[1:] + y[:-1])) / 2.0, then add.reduce
    let terms: Vec<f64> = (0..fpr.len() - 1)
        .map(|i| ((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i])) / 2.0)
        .collect();
    Ok(pairwise_sum(&terms))
}

/// The IPC face of [`roc_auc`]: an Arrow IPC file with int64 column `y` (exactly two distinct
/// labels; the larger one is the positive class, as `label_binarize` makes it) and float64
/// column `score`; the result is a one-row file with float64 column `auc`.
pub fn roc_auc_ipc(input: &Path, _options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let batches = match widen_labels(read_ipc_file(input)?, &["y"]) {
        Ok(b) => b,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let (y, s) = match two_columns::<Int64Type, Float64Type>(&batches, "y", "score") {
        Ok(c) => c,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let Some(&first) = y.first() else {
        return Ok(Outcome::Declined("no samples".into()));
    };
    let Some(other) = y.iter().copied().find(|v| *v != first) else {
        return Ok(Outcome::Declined(
            "y_true holds one class (scikit-learn warns and returns NaN)".into(),
        ));
    };
    if y.par_iter().any(|v| *v != first && *v != other) {
        return Ok(Outcome::Declined(
            "y_true holds more than two labels".into(),
        ));
    }
    // label_binarize makes the larger label the positive class
    match roc_auc(y, first.max(other), s) {
        Ok(auc) => scalar_result("auc", auc, y.len(), out, t0),
        Err(why) => Ok(Outcome::Declined(why)),
    }
}

/// The input batches with narrower integer label columns widened to int64 (the shim sends
/// labels that fit as int8: an eighth of the bytes to write and map).
fn widen_labels(
    batches: Vec<RecordBatch>,
    names: &[&str],
) -> std::result::Result<Vec<RecordBatch>, String> {
    use arrow_schema::DataType;
    batches
        .into_iter()
        .map(|b| {
            let narrow = |f: &arrow_schema::Field| {
                names.contains(&f.name().as_str())
                    && matches!(
                        f.data_type(),
                        DataType::Int8 | DataType::Int16 | DataType::Int32
                    )
            };
            if !b.schema().fields().iter().any(|f| narrow(f)) {
                return Ok(b);
            }
            let columns: Vec<(String, arrow_array::ArrayRef)> = b
                .schema()
                .fields()
                .iter()
                .zip(b.columns())
                .map(|(f, c)| {
                    let c = if narrow(f) {
                        arrow_cast::cast(c, &DataType::Int64).map_err(|e| e.to_string())?
                    } else {
                        c.clone()
                    };
                    Ok((f.name().clone(), c))
                })
                .collect::<std::result::Result<_, String>>()?;
            RecordBatch::try_from_iter(columns).map_err(|e| e.to_string())
        })
        .collect()
}

/// The two named, null-free columns of the one record batch the shim writes.
fn two_columns<'a, A: ArrowPrimitiveType, B: ArrowPrimitiveType>(
    batches: &'a [RecordBatch],
    a: &str,
    b: &str,
) -> std::result::Result<(&'a [A::Native], &'a [B::Native]), String> {
    let [batch] = batches else {
        return Err("the input must be one record batch".into());
    };
    let (Some(x), Some(y)) = (batch.column_by_name(a), batch.column_by_name(b)) else {
        return Err(format!("the input needs columns {a} and {b}"));
    };
    let (Some(x), Some(y)) = (x.as_primitive_opt::<A>(), y.as_primitive_opt::<B>()) else {
        return Err(format!(
            "{a} must be {} and {b} {}",
            A::DATA_TYPE,
            B::DATA_TYPE
        ));
    };
    if x.null_count() > 0 || y.null_count() > 0 {
        return Err("missing values".into());
    }
    Ok((x.values(), y.values()))
}

/// A one-row result file with the float64 column `name`.
fn scalar_result(name: &str, value: f64, rows: usize, out: &Path, t0: Instant) -> Result<Outcome> {
    let batch =
        RecordBatch::try_from_iter([(name, Arc::new(Float64Array::from(vec![value])) as _)])
            .expect("one column");
    let bytes = write_ipc_file(&batch, out)?;
    Ok(Outcome::Ok {
        rows,
        cols: 1,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Which of scikit-learn's binary classification scores [`binary_score`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    F1,
    Precision,
    Recall,
}

/// `f1_score` / `precision_score` / `recall_score(y_true, y_pred, pos_label=pos)` with
/// `average="binary"`: the counts of `precision_recall_fscore_support`, then its divisions in
/// its order (f1 = 2.0 * tp / (true + predicted)). `Err` declines: more than two labels, the
/// positive label absent, or a zero denominator (scikit-learn raises or warns there).
pub fn binary_score(
    y: &[i64],
    pred: &[i64],
    pos: i64,
    score: Score,
) -> std::result::Result<f64, String> {
    if y.len() != pred.len() {
        return Err("y_true and y_pred differ in length".into());
    }
    // the labels of both (np.union1d): at most two, one of them the positive label
    let mut labels: Vec<i64> = Vec::with_capacity(3);
    for v in y.iter().chain(pred) {
        if !labels.contains(v) {
            labels.push(*v);
            if labels.len() > 2 {
                return Err(
                    "more than two labels (multiclass: scikit-learn raises for average='binary')"
                        .into(),
                );
            }
        }
    }
    if !labels.contains(&pos) {
        return Err("pos_label is not among the labels (scikit-learn raises or warns)".into());
    }
    let (tp, predicted, truth) = y
        .par_iter()
        .zip(pred.par_iter())
        .map(|(a, b)| {
            (
                (*a == pos && *b == pos) as u64,
                (*b == pos) as u64,
                (*a == pos) as u64,
            )
        })
        .reduce(|| (0, 0, 0), |x, z| (x.0 + z.0, x.1 + z.1, x.2 + z.2));
    let (tp, predicted, truth) = (tp as f64, predicted as f64, truth as f64);
    let (num, den) = match score {
        Score::Precision => (tp, predicted),
        Score::Recall => (tp, truth),
        Score::F1 => ((1.0 + 1.0) * tp, 1.0 * truth + predicted),
    };
    if den == 0.0 {
        return Err("a zero denominator (scikit-learn applies zero_division and warns)".into());
    }
    Ok(num / den)
}

/// The IPC face of [`binary_score`]: int64 columns `y` and `pred`; options
/// `{"score": "f1"|"precision"|"recall", "pos_label": int}`; the result is a one-row file with
/// float64 column `value`.
pub fn binary_score_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let v: serde_json::Value = match serde_json::from_str(options_json) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::Declined(format!("bad options: {e}"))),
    };
    let score = match v.get("score").and_then(|s| s.as_str()) {
        Some("f1") => Score::F1,
        Some("precision") => Score::Precision,
        Some("recall") => Score::Recall,
        other => return Ok(Outcome::Declined(format!("unknown score {other:?}"))),
    };
    let Some(pos) = v.get("pos_label").and_then(|p| p.as_i64()) else {
        return Ok(Outcome::Declined("pos_label must be an integer".into()));
    };
    let batches = match widen_labels(read_ipc_file(input)?, &["y", "pred"]) {
        Ok(b) => b,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let (y, p) = match two_columns::<Int64Type, Int64Type>(&batches, "y", "pred") {
        Ok(c) => c,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    match binary_score(y, p, pos, score) {
        Ok(value) => scalar_result("value", value, y.len(), out, t0),
        Err(why) => Ok(Outcome::Declined(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_order() {
        // sequential below 8, 8 accumulators up to 128, halves above: values chosen so that
        // each order gives a different float
        let a: Vec<f64> = (0..300)
            .map(|i| {
                if i % 7 == 0 {
                    1e16
                } else {
                    1.0 + i as f64 * 1e-3
                }
            })
            .collect();
        let seq: f64 = a.iter().sum();
        assert_ne!(pairwise_sum(&a), seq);
        assert_eq!(pairwise_sum(&[1.0, 2.0]), 3.0);
        assert_eq!(pairwise_sum(&[]), 0.0);
    }

    #[test]
    fn auc_of_small_cases() {
        // sklearn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        assert_eq!(roc_auc(&[0, 0, 1, 1], 1, &[0.1, 0.4, 0.35, 0.8]), Ok(0.75));
        // ties count half: [0, 1] with equal scores == 0.5
        assert_eq!(roc_auc(&[0, 1], 1, &[0.3, 0.3]), Ok(0.5));
        assert_eq!(roc_auc(&[7, 3, 7], 7, &[-0.0, 0.0, 1.0]), Ok(0.75));
        assert!(roc_auc(&[1, 1], 1, &[0.1, 0.2]).is_err());
        assert!(roc_auc(&[1, 0], 1, &[f64::NAN, 0.2]).is_err());
    }

    #[test]
    fn binary_scores() {
        let y = [1, 1, 0, 0, 1];
        let p = [1, 0, 1, 0, 1];
        // tp 2, predicted 3, true 3
        assert_eq!(binary_score(&y, &p, 1, Score::Precision), Ok(2.0 / 3.0));
        assert_eq!(binary_score(&y, &p, 1, Score::Recall), Ok(2.0 / 3.0));
        assert_eq!(binary_score(&y, &p, 1, Score::F1), Ok(4.0 / 6.0));
        assert_eq!(binary_score(&y, &p, 0, Score::Precision), Ok(0.5));
        assert!(binary_score(&[0, 2, 1], &[0, 0, 1], 1, Score::F1).is_err());
        assert!(binary_score(&[0, 2], &[0, 2], 1, Score::F1).is_err());
        assert!(binary_score(&[0, 1], &[0, 0], 1, Score::Precision).is_err());
    }
}
