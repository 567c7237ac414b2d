//! `treeFit(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// scikit-learn's depth-first builder of classification trees (see `stratum_core::tree`): the
/// training matrix, classes and each tree's weights are at `inPath`, the trees' node arrays
/// and values go to `outPath`.
#[napi(js_name = "treeFit", ts_return_type = "Promise<string>")]
pub fn tree_fit(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::tree_fit_ipc,
        input,
        options_json,
        out_path,
    ))
}
