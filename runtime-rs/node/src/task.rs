//! The one async task shape every file-to-file kernel uses: `(input, optionsJson, output)` in,
//! the kernel's outcome as JSON out, computed on the libuv thread pool.

use std::path::{Path, PathBuf};

use napi::{Env, Task};

use crate::error::to_napi;

pub type KernelFn = fn(&Path, &str, &Path) -> stratum_core::error::Result<stratum_core::Outcome>;

pub struct KernelTask {
    kernel: KernelFn,
    input: PathBuf,
    options_json: String,
    out_path: PathBuf,
}

impl KernelTask {
    pub fn new(kernel: KernelFn, input: String, options_json: String, out_path: String) -> Self {
        KernelTask {
            kernel,
            input: input.into(),
            options_json,
            out_path: out_path.into(),
        }
    }
}

impl Task for KernelTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        crate::memory::retain();
        (self.kernel)(&self.input, &self.options_json, &self.out_path)
            .map(|o| o.to_json())
            .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}
