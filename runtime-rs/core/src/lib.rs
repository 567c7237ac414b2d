//! stratum's native kernels, independent of any binding.

pub mod csv;
pub mod dedup;
pub mod describe;
pub mod encode;
pub mod error;
pub mod file;
pub mod groupby;
pub mod hash;
pub mod impute;
pub mod infer;
pub mod ipc;
pub mod join;
pub mod labels;
pub mod logloss;
pub mod metrics;
pub mod numpy_log;
pub mod nunique;
pub mod parquet;
pub mod parse;
pub mod scale;
pub mod sort;
pub mod text;
pub mod tokenize;
pub mod tree;
pub mod valuecounts;

pub use csv::{read_csv_to_ipc, Outcome};
pub use dedup::duplicated_ipc;
pub use describe::describe_ipc;
pub use encode::{encode_fit_ipc, encode_transform_ipc};
pub use error::Error;
pub use groupby::groupby_agg_ipc;
pub use hash::hash_file;
pub use impute::impute_stats_ipc;
pub use ipc::fill_spares;
pub use join::join_indexers_ipc;
pub use labels::label_codes_ipc;
pub use logloss::log_loss_ipc;
pub use metrics::{binary_score_ipc, roc_auc_ipc};
pub use nunique::nunique_ipc;
pub use parquet::read_parquet_to_ipc;
pub use scale::{minmax_stats_ipc, scale_stats_ipc};
pub use sort::sort_indexer_ipc;
pub use text::{count_vocab_ipc, hash_features_ipc};
pub use tree::tree_fit_ipc;
pub use valuecounts::value_counts_ipc;

/// A xorshift64 stream of pseudo-random numbers from `seed` (not 0), for tests.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
