//! `duplicated(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// pandas' `DataFrame.duplicated` of the columns `c0..` of an Arrow IPC file (see
/// `stratum_core::dedup`); the mask (`dup`, uint8) at `outPath`.
#[napi(js_name = "duplicated", ts_return_type = "Promise<string>")]
pub fn duplicated(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::duplicated_ipc,
        input,
        options_json,
        out_path,
    ))
}
