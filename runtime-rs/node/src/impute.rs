//! `imputeStats(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// scikit-learn's `SimpleImputer` statistics (mean, median, most_frequent) of the float64
/// values `x` of an Arrow IPC file (`rows x cols` in C or F order, see the options in
/// `stratum_core::impute`); the result (`stat`, one per column) at `outPath`.
#[napi(js_name = "imputeStats", ts_return_type = "Promise<string>")]
pub fn impute_stats(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::impute_stats_ipc,
        input,
        options_json,
        out_path,
    ))
}
