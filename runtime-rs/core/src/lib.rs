//! stratum's native kernels, independent of any binding.

pub mod csv;
pub mod dedup;
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
pub mod metrics;
pub mod parquet;
pub mod parse;
pub mod scale;
pub mod sort;
pub mod text;
pub mod tokenize;
pub mod tree;

pub use csv::{read_csv_to_ipc, Outcome};
pub use dedup::duplicated_ipc;
pub use encode::{encode_fit_ipc, encode_transform_ipc};
pub use error::Error;
pub use groupby::groupby_agg_ipc;
pub use hash::hash_file;
pub use impute::impute_stats_ipc;
pub use join::join_indexers_ipc;
pub use labels::label_codes_ipc;
pub use metrics::{binary_score_ipc, roc_auc_ipc};
pub use parquet::read_parquet_to_ipc;
pub use scale::scale_stats_ipc;
pub use sort::sort_indexer_ipc;
pub use text::{count_vocab_ipc, hash_features_ipc};
pub use tree::tree_fit_ipc;
