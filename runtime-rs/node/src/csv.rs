//! `readCsv(path, optionsJson, outPath): Promise<string>`, run on the libuv thread pool.

use std::path::PathBuf;

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::to_napi;

pub struct ReadCsv {
    path: PathBuf,
    options_json: String,
    out_path: PathBuf,
}

impl Task for ReadCsv {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        stratum_core::read_csv_to_ipc(&self.path, &self.options_json, &self.out_path)
            .map(|o| o.to_json())
            .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}

/// Parses a CSV file as `pandas.read_csv` would and writes an Arrow IPC file to `outPath`.
/// Resolves to `{"status":"ok",...}` or `{"status":"declined","reason":...}` (JSON).
#[napi(js_name = "readCsv", ts_return_type = "Promise<string>")]
pub fn read_csv(path: String, options_json: String, out_path: String) -> AsyncTask<ReadCsv> {
    AsyncTask::new(ReadCsv {
        path: path.into(),
        options_json,
        out_path: out_path.into(),
    })
}
