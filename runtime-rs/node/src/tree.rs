//! `treeFit(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// scikit-learn's depth-first builder of a classification tree (see `stratum_core::tree`):
/// the training matrix is the Arrow IPC file named by the `x` option, the sample weights (`w`)
/// are at `inPath`; the node arrays and values at `outPath`.
#[napi(js_name = "treeFit", ts_return_type = "Promise<string>")]
pub fn tree_fit(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::tree_fit_ipc,
        input,
        options_json,
        out_path,
    ))
}
