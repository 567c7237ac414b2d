//! `readCsv(path, optionsJson, outPath): Promise<string>`.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// Parses a CSV file as `pandas.read_csv` would and writes an Arrow IPC file to `outPath`.
/// Resolves to `{"status":"ok",...}` or `{"status":"declined","reason":...}` (JSON).
#[napi(js_name = "readCsv", ts_return_type = "Promise<string>")]
pub fn read_csv(path: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::read_csv_to_ipc,
        path,
        options_json,
        out_path,
    ))
}
