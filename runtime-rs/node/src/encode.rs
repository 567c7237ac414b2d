//! `encodeFit(...)` and `encodeTransform(...)` (inPath, optionsJson, outPath): Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// scikit-learn's encoders' fit (`categories="auto"`) on the string columns of an Arrow IPC
/// file: the sorted categories of each column (`feature`, `category`) at `outPath`.
#[napi(js_name = "encodeFit", ts_return_type = "Promise<string>")]
pub fn encode_fit(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::encode_fit_ipc,
        input,
        options_json,
        out_path,
    ))
}

/// scikit-learn's encoders' transform: each value's category index (`codes`) and whether it is
/// known (`valid`), rows x columns in C order, at `outPath`.
#[napi(js_name = "encodeTransform", ts_return_type = "Promise<string>")]
pub fn encode_transform(
    input: String,
    options_json: String,
    out_path: String,
) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::encode_transform_ipc,
        input,
        options_json,
        out_path,
    ))
}
