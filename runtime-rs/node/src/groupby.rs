//! `groupbyAgg(inPath, optionsJson, outPath)`: Promise<string>.

use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::task::KernelTask;

/// pandas' groupby aggregations on one key column: the sorted keys (`key`) and one column per
/// aggregation (`a0..`) at `outPath`.
#[napi(js_name = "groupbyAgg", ts_return_type = "Promise<string>")]
pub fn groupby_agg(input: String, options_json: String, out_path: String) -> AsyncTask<KernelTask> {
    AsyncTask::new(KernelTask::new(
        stratum_core::groupby_agg_ipc,
        input,
        options_json,
        out_path,
    ))
}
