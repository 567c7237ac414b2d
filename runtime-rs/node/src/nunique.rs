//! `nunique(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// pandas' `nunique` of the columns `c0..` of an Arrow IPC file (see `stratum_core::nunique`);
/// per column the distinct values (`distinct`, int64) and whether one is missing (`missing`,
/// uint8) at `outPath`.
#[napi(js_name = "nunique", ts_return_type = "Promise<string>")]
pub fn nunique(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::nunique_ipc,
        input,
        options_json,
        out_path,
    ))
}
