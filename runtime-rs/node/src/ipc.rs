//! Content identity of source files and IPC buffers: `hashFile(path): Promise<string>`.

use std::path::PathBuf;

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::to_napi;

pub struct HashFile {
    path: PathBuf,
}

impl Task for HashFile {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        stratum_core::hash_file(&self.path).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}

/// Hex XXH3-128 tree hash of the whole file (4 MiB blocks hashed in parallel).
#[napi(js_name = "hashFile", ts_return_type = "Promise<string>")]
pub fn hash_file(path: String) -> AsyncTask<HashFile> {
    AsyncTask::new(HashFile { path: path.into() })
}
