//! `valueCounts(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// pandas' `value_count` of the column `c0` of an Arrow IPC file (see
/// `stratum_core::valuecounts`): every distinct value's first row (`row`, int64) and count
/// (`count`, int64), in the order of first appearance, at `outPath`.
#[napi(js_name = "valueCounts", ts_return_type = "Promise<string>")]
pub fn value_counts(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::value_counts_ipc,
        input,
        options_json,
        out_path,
    ))
}
