//! Text kernels: `countVocab` and `hashFeatures` (inPath, optionsJson, outPath): Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// Tokenises and counts the documents of an Arrow IPC file as scikit-learn's
/// `CountVectorizer._count_vocab` would; writes the CSR counts and vocabulary to `outPath`.
/// Resolves to `{"status":"ok",...}` or `{"status":"declined","reason":...}` (JSON).
#[napi(js_name = "countVocab", ts_return_type = "Promise<string>")]
pub fn count_vocab(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::count_vocab_ipc,
        input,
        options_json,
        out_path,
    ))
}

/// Tokenises and hashes the documents of an Arrow IPC file as scikit-learn's
/// `HashingVectorizer.transform` would (before `sum_duplicates`); writes indptr, indices and
/// values to `outPath`. Resolves to `{"status":"ok",...}` or `{"status":"declined",...}` (JSON).
#[napi(js_name = "hashFeatures", ts_return_type = "Promise<string>")]
pub fn hash_features(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::hash_features_ipc,
        input,
        options_json,
        out_path,
    ))
}
