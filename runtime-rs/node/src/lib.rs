//! Thin napi-rs binding over `stratum-core`.

// the napi macros register the exports only outside `cfg(test)`
#![cfg_attr(test, allow(dead_code))]

mod csv;
mod dedup;
mod describe;
mod encode;
mod error;
mod groupby;
mod impute;
mod ipc;
mod join;
mod memory;
mod metrics;
mod nunique;
mod parquet;
mod scale;
mod sort;
mod task;
mod text;
mod tree;
mod valuecounts;

use napi_derive::napi;

#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
