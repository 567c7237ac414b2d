//! `scaleStats` and `minmaxStats(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// scikit-learn's `RobustScaler` statistics (per-column median and percentiles) of the float64
/// values `x` of an Arrow IPC file (`rows x cols` in C or F order, see the options in
/// `stratum_core::scale`); the result (`stat`) at `outPath`.
#[napi(js_name = "scaleStats", ts_return_type = "Promise<string>")]
pub fn scale_stats(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::scale_stats_ipc,
        input,
        options_json,
        out_path,
    ))
}

/// scikit-learn's `MinMaxScaler` statistics (per-column `np.nanmin` / `np.nanmax`) of the
/// float64 values `x` of an Arrow IPC file (`rows x cols` in C or F order, see
/// `stratum_core::scale::minmax_stats_ipc`); the result (`stat`) at `outPath`.
#[napi(js_name = "minmaxStats", ts_return_type = "Promise<string>")]
pub fn minmax_stats(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::minmax_stats_ipc,
        input,
        options_json,
        out_path,
    ))
}
