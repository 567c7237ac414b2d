//! `readParquet(path, optionsJson, outPath): Promise<string>`.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// Decodes a Parquet file into the Arrow table pyarrow's `read_table` gives and writes it as an
/// Arrow IPC file to `outPath`. Resolves to the kernel's outcome (JSON), like `readCsv`.
#[napi(js_name = "readParquet", ts_return_type = "Promise<string>")]
pub fn read_parquet(path: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::read_parquet_to_ipc,
        path,
        options_json,
        out_path,
    ))
}
