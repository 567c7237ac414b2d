//! `countVocab(inPath, optionsJson, outPath): Promise<string>`, run on the libuv thread pool.

use std::path::PathBuf;

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::to_napi;

pub struct CountVocab {
    input: PathBuf,
    options_json: String,
    out_path: PathBuf,
}

impl Task for CountVocab {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        stratum_core::count_vocab_ipc(&self.input, &self.options_json, &self.out_path)
            .map(|o| o.to_json())
            .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}

/// Tokenises and counts the documents of an Arrow IPC file as scikit-learn's
/// `CountVectorizer._count_vocab` would; writes the CSR counts and vocabulary to `outPath`.
/// Resolves to `{"status":"ok",...}` or `{"status":"declined","reason":...}` (JSON).
#[napi(js_name = "countVocab", ts_return_type = "Promise<string>")]
pub fn count_vocab(input: String, options_json: String, out_path: String) -> AsyncTask<CountVocab> {
    AsyncTask::new(CountVocab {
        input: input.into(),
        options_json,
        out_path: out_path.into(),
    })
}

pub struct HashFeatures {
    input: PathBuf,
    options_json: String,
    out_path: PathBuf,
}

impl Task for HashFeatures {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        stratum_core::hash_features_ipc(&self.input, &self.options_json, &self.out_path)
            .map(|o| o.to_json())
            .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}

/// Tokenises and hashes the documents of an Arrow IPC file as scikit-learn's
/// `HashingVectorizer.transform` would (before `sum_duplicates`); writes indptr, indices and
/// values to `outPath`. Resolves to `{"status":"ok",...}` or `{"status":"declined",...}` (JSON).
#[napi(js_name = "hashFeatures", ts_return_type = "Promise<string>")]
pub fn hash_features(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<HashFeatures> {
    AsyncTask::new(HashFeatures {
        input: input.into(),
        options_json,
        out_path: out_path.into(),
    })
}
