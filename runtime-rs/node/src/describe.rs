//! `describe(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// pandas' `describe()` numbers of the int64 / float64 columns `c0..` of an Arrow IPC file
/// (see `stratum_core::describe`); one row per column at `outPath`.
#[napi(js_name = "describe", ts_return_type = "Promise<string>")]
pub fn describe(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::describe_ipc,
        input,
        options_json,
        out_path,
    ))
}
