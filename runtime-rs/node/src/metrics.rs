//! `rocAuc(...)`, `binaryScore(...)`, `labelCodes(...)` and `logLoss(...)` (inPath, optionsJson, outPath): Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// scikit-learn's `roc_auc_score` on the labels (`y`, int64) and scores (`score`, float64) of an
/// Arrow IPC file; the result (`auc`) is a one-row Arrow IPC file at `outPath`.
#[napi(js_name = "rocAuc", ts_return_type = "Promise<string>")]
pub fn roc_auc(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::roc_auc_ipc,
        input,
        options_json,
        out_path,
    ))
}

/// scikit-learn's binary `f1_score` / `precision_score` / `recall_score` on the labels (`y`) and
/// predictions (`pred`, int64) of an Arrow IPC file; the result (`value`) at `outPath`.
#[napi(js_name = "binaryScore", ts_return_type = "Promise<string>")]
pub fn binary_score(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::binary_score_ipc,
        input,
        options_json,
        out_path,
    ))
}

/// The sorted distinct labels of the label columns `y` and `p` (int64 or strings) of an Arrow IPC
/// file, and every sample's position among them: the same columns as dictionary arrays at
/// `outPath` (scikit-learn's classification metrics, see `stratum_core::labels`).
#[napi(js_name = "labelCodes", ts_return_type = "Promise<string>")]
pub fn label_codes(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::label_codes_ipc,
        input,
        options_json,
        out_path,
    ))
}

/// scikit-learn's `log_loss` on the labels (`y`), probabilities (`p`) and optional weights (`w`)
/// of an Arrow IPC file; the result (`loss`) at `outPath` (see `stratum_core::logloss`).
#[napi(js_name = "logLoss", ts_return_type = "Promise<string>")]
pub fn log_loss(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::log_loss_ipc,
        input,
        options_json,
        out_path,
    ))
}
