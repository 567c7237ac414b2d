//! `joinIndexers(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// pandas' merge join indexers (`get_join_indexers`) of the key columns `l0..` of an Arrow IPC
/// file and `r0..` of the file in the options (see `stratum_core::join`); the indexers (`l`,
/// `r`) at `outPath`.
#[napi(js_name = "joinIndexers", ts_return_type = "Promise<string>")]
pub fn join_indexers(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::join_indexers_ipc,
        input,
        options_json,
        out_path,
    ))
}
