//! `sklearn.metrics.log_loss(y_true, y_proba)`, bit for bit.
//!
//! scikit-learn 1.9 binarises `y_true` against its sorted labels (LabelBinarizer), widens a 1-D
//! `y_proba` to `[1 - p, p]`, clips it to `[eps, 1 - eps]`, takes `x * np.log(y)` with 0 where
//! `x == 0` (`_xlogy`), sums each row and negates, then `np.average` (pairwise sums; with
//! weights `sum(loss * w) / sum(w)`) or, with `normalize=False`, the pairwise sum. Each row
//! holds one 1 among 0s, so its sum is exactly `log(q)` of the true class's clipped
//! probability `q`: the loss per sample is `-np.log(q)`, with NumPy's own log (see
//! [`crate::numpy_log`]), and the rest is NumPy's summation order. Declined (scikit-learn
//! raises or warns, or its arithmetic differs): one class, a number of classes other than the
//! columns of `y_proba`, probabilities outside [0, 1] or NaN, rows that may not sum to 1 (the
//! warning), non-finite weights or weights summing to 0, weights with `normalize=False`
//! (`np.dot`, BLAS's order), a CPU where NumPy's log is not the AVX-512 one.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow_schema::DataType;
use rayon::prelude::*;
use serde::Deserialize;

use crate::csv::Outcome;
use crate::error::Result;
use crate::impute::pairwise_sum_by;
use crate::ipc::{input_column, kernel_input, write_ipc_file, ColumnRef};
use crate::metrics::pairwise_sum;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// columns of `y_proba` (1: a 1-D array, the positive class's probability)
    classes: usize,
    normalize: bool,
    /// columns passed by reference into store files (`bridge.column_ref`)
    #[serde(default)]
    refs: std::collections::HashMap<String, ColumnRef>,
}

/// `np.finfo(np.float64).eps`: scikit-learn clips to `[EPS, 1 - EPS]`.
const EPS: f64 = f64::EPSILON;
/// `np.isclose(row_sum, 1, rtol=sqrt(eps))` (atol 1e-8) decides the "do not sum to one"
/// warning; a row is answered only when it is within this bound by a margin far larger than
/// any difference between summation orders (a few ulps of 1), so NumPy's order never matters.
const SUM_TOLERANCE: f64 = 1e-8 + 1.4901161193847656e-8 - 1e-12;
/// Samples per parallel task (a multiple of 8: NumPy's log takes 8 lanes at a time).
const CHUNK: usize = 1 << 14;

/// The probabilities, a weight per sample, and what to return.
pub struct Problem<'a> {
    /// `y_true`'s position among its sorted labels (LabelBinarizer's column)
    pub codes: &'a [u32],
    /// number of distinct labels in `y_true`
    pub labels: usize,
    /// `y_proba` in C order, `codes.len() * cols` values
    pub proba: &'a [f64],
    /// 1: the positive class's probability (`[1 - p, p]`), else the columns of `y_proba`
    pub cols: usize,
    pub weights: Option<&'a [f64]>,
    pub normalize: bool,
}

/// scikit-learn's log loss of `p`, or the reason to decline.
pub fn log_loss(p: &Problem) -> std::result::Result<f64, String> {
    let n = p.codes.len();
    if p.cols == 0 || p.proba.len() != n * p.cols {
        return Err("y_proba does not have one row per sample".into());
    }
    if n == 0 {
        return Err("no samples (scikit-learn raises)".into());
    }
    if p.labels < 2 {
        return Err("y_true holds one label (scikit-learn raises)".into());
    }
    if p.labels != p.cols.max(2) {
        return Err(format!(
            "{} labels in y_true, {} columns in y_proba (scikit-learn raises)",
            p.labels, p.cols
        ));
    }
    if p.proba.par_iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err("y_proba outside [0, 1] or NaN (scikit-learn raises)".into());
    }
    if p.cols > 1
        && p.proba
            .par_chunks_exact(p.cols)
            .any(|row| (row.iter().sum::<f64>() - 1.0).abs() > SUM_TOLERANCE)
    {
        return Err("rows of y_proba may not sum to 1 (scikit-learn warns)".into());
    }
    if let Some(w) = p.weights {
        if w.len() != n {
            return Err("sample_weight has another length (scikit-learn raises)".into());
        }
        if !p.normalize {
            return Err("weights with normalize=False: np.dot's order".into());
        }
        if w.par_iter().any(|v| !v.is_finite()) {
            return Err("non-finite sample_weight (scikit-learn raises)".into());
        }
    }
    // the true class's clipped probability (1 - p below the positive class of a 1-D y_proba)
    let q = |i: usize| -> f64 {
        let c = p.codes[i] as usize;
        let v = match p.cols {
            1 if c == 1 => p.proba[i],
            1 => 1.0 - p.proba[i],
            k => p.proba[i * k + c],
        };
        v.clamp(EPS, 1.0 - EPS)
    };
    let mut loss = vec![0.0f64; n];
    let logged = loss.par_chunks_mut(CHUNK).enumerate().all(|(j, out)| {
        let start = j * CHUNK;
        let qs: Vec<f64> = (start..start + out.len()).map(q).collect();
        crate::numpy_log::log(&qs, out).is_some()
    });
    if !logged {
        return Err("NumPy's log on this CPU is not its AVX-512 one".into());
    }
    // -sum(row) is -log(q) exactly: the other terms are 0.0
    loss.par_iter_mut().for_each(|v| *v = -*v);
    match p.weights {
        None if p.normalize => Ok(pairwise_sum(&loss) / n as f64),
        None => Ok(pairwise_sum(&loss)),
        Some(w) => {
            let scale = pairwise_sum(w);
            if scale == 0.0 {
                return Err("weights sum to zero (NumPy raises)".into());
            }
            let average = pairwise_sum_by(n, &|i| loss[i] * w[i]) / scale;
            if !(scale.is_finite() && average.is_finite()) {
                // a product, a sum or the quotient overflowed: NumPy warns
                return Err("an overflow in np.average (NumPy warns)".into());
            }
            Ok(average)
        }
    }
}

/// Integer label columns narrower than int64 (the shim sends labels that fit as int8) widened.
fn widen(col: ArrayRef) -> std::result::Result<ArrayRef, String> {
    match col.data_type() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 => {
            arrow_cast::cast(&col, &DataType::Int64).map_err(|e| e.to_string())
        }
        _ => Ok(col),
    }
}

/// The IPC face of [`log_loss`]: label column `y` (int8/16/32/64 or strings, numbered by
/// [`crate::labels::label_codes`]), `p` (`y_proba`: float64, or fixed-size lists of `classes`
/// float64 for a 2-D array), optional float64 `w`; options `{"classes": k, "normalize":
/// bool}`. The result is a one-row file with float64 column `loss`.
pub fn log_loss_ipc(input: &Path, options_json: &str, out: &Path) -> Result<Outcome> {
    let t0 = Instant::now();
    let (opts, batch): (Options, _) = match kernel_input(input, options_json)? {
        Ok(i) => i,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let column = |name: &str| match input_column(&batch, &opts.refs, name) {
        Ok(Some(c)) if c.null_count() == 0 => Ok(Some(c)),
        Ok(Some(_)) => Err(format!("missing values in {name}")),
        Ok(None) => Ok(None),
        Err(why) => Err(why),
    };
    // float64 columns without nulls, kept as arrays (their values are borrowed, not copied)
    let floats = |c: ArrayRef| match c.as_primitive_opt::<Float64Type>() {
        Some(a) if a.null_count() == 0 => Ok(a.clone()),
        Some(_) => Err("missing values".to_string()),
        None => Err(format!("a float64 column was {}", c.data_type())),
    };
    let prepared = (|| {
        let y = widen(column("y")?.ok_or("no column y")?)?;
        let p = column("p")?.ok_or("no column p")?;
        // (n, k) probabilities come as fixed-size lists of k, a 1-D array as float64
        let proba = match p.as_fixed_size_list_opt() {
            Some(rows) if rows.value_length() as usize == opts.classes => floats(
                rows.values()
                    .slice(rows.offset() * opts.classes, rows.len() * opts.classes),
            )?,
            Some(_) => return Err("rows of another width than classes".into()),
            None => floats(p)?,
        };
        let weights = column("w")?.map(floats).transpose()?;
        let (labels, mut codes) = crate::labels::label_codes(&[y])?;
        Ok::<_, String>((labels.len(), codes.remove(0), proba, weights))
    })();
    let (labels, codes, proba, weights) = match prepared {
        Ok(p) => p,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let problem = Problem {
        codes: &codes,
        labels,
        proba: proba.values(),
        cols: opts.classes,
        weights: weights.as_ref().map(|w| w.values().as_ref()),
        normalize: opts.normalize,
    };
    let loss = match log_loss(&problem) {
        Ok(v) => v,
        Err(why) => return Ok(Outcome::Declined(why)),
    };
    let batch =
        RecordBatch::try_from_iter([("loss", Arc::new(Float64Array::from(vec![loss])) as _)])
            .expect("one column");
    let bytes = write_ipc_file(&batch, out)?;
    Ok(Outcome::Ok {
        rows: codes.len(),
        cols: 1,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem<'a>(codes: &'a [u32], proba: &'a [f64], cols: usize) -> Problem<'a> {
        Problem {
            codes,
            labels: cols.max(2),
            proba,
            cols,
            weights: None,
            normalize: true,
        }
    }

    #[test]
    fn small_cases_match_sklearn() {
        if !crate::numpy_log::available() {
            return;
        }
        // sklearn: log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2],
        // [.35, .65]]) == 0.21616187468057912 (ham = 0, spam = 1)
        let proba = [0.1, 0.9, 0.9, 0.1, 0.8, 0.2, 0.35, 0.65];
        assert_eq!(
            log_loss(&problem(&[1, 0, 0, 1], &proba, 2)),
            Ok(0.21616187468057912)
        );
        // the same through a 1-D y_proba (1 - p for the negative class)
        let p1 = [0.9, 0.1, 0.2, 0.65];
        let one_d = log_loss(&problem(&[1, 0, 0, 1], &p1, 1)).unwrap();
        assert_eq!(one_d, 0.21616187468057912);
        // clipped at eps and 1 - eps: log_loss([0, 1], [1.0, 0.0]) == 36.04365338911715
        assert_eq!(
            log_loss(&problem(&[0, 1], &[1.0, 0.0], 1)),
            Ok(36.04365338911715)
        );
        let mut sum = problem(&[0, 1], &[1.0, 0.0], 1);
        sum.normalize = false;
        assert_eq!(log_loss(&sum), Ok(72.0873067782343));
        // weights: sum(loss * w) / sum(w); sklearn gives 0.26461570321660716
        let mut weighted = problem(&[1, 0, 0, 1], &proba, 2);
        weighted.weights = Some(&[1.0, 2.0, 0.5, 3.0]);
        assert_eq!(log_loss(&weighted), Ok(0.26461570321660716));
    }

    #[test]
    fn declines_what_sklearn_raises_or_warns_about() {
        let ok = [0.2, 0.8, 0.5, 0.5];
        assert!(log_loss(&problem(&[0, 1], &[0.2, 0.8, 0.5, 0.6], 2)).is_err()); // sum 1.1
        assert!(log_loss(&problem(&[0, 1], &[0.2, 1.5], 1)).is_err());
        assert!(log_loss(&problem(&[0, 1], &[f64::NAN, 0.5], 1)).is_err());
        assert!(log_loss(&problem(&[0, 1], &ok, 3)).is_err()); // rows
        let mut one = problem(&[0, 0], &ok, 2);
        one.labels = 1;
        assert!(log_loss(&one).is_err());
        let mut three = problem(&[0, 2], &ok, 2);
        three.labels = 3;
        assert!(log_loss(&three).is_err());
        let mut zero = problem(&[0, 1], &ok, 2);
        zero.weights = Some(&[1.0, -1.0]);
        assert!(log_loss(&zero).is_err());
        let mut huge = problem(&[0, 1], &ok, 2);
        huge.weights = Some(&[f64::MAX, 1.0]);
        assert!(log_loss(&huge).is_err());
        let mut dot = problem(&[0, 1], &ok, 2);
        dot.weights = Some(&[1.0, 2.0]);
        dot.normalize = false;
        assert!(log_loss(&dot).is_err());
    }
}
