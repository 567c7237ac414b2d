//! `sortIndexer(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// pandas' sort indexer of the keys `k0..` of an Arrow IPC file (see `stratum_core::sort`); the
/// order (`idx`, int64) at `outPath`.
#[napi(js_name = "sortIndexer", ts_return_type = "Promise<string>")]
pub fn sort_indexer(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::sort_indexer_ipc,
        input,
        options_json,
        out_path,
    ))
}
