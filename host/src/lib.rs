//! wafer: an edge feature store in one binary. TOML config → batch of input
//! rows → Wasm transformation plugins → RocksDB online store → Feast-compatible
//! HTTP lookup.
//!
//! One module per concern: [`config`] (the file), [`registry`] (views resolved
//! for use, built-in plugins), [`plugin`] (the wasmtime component host),
//! [`embed`] (the host's embedding service, HTTP or a local model),
//! [`model`] (local model files and `wafer model pull`), [`store`] (RocksDB),
//! [`ingest`] (publishing files), [`serve`] (HTTP). [`cli`] and
//! [`quickstart`] are the command-line edge.

pub mod cli;
pub mod config;
pub mod embed;
pub mod ingest;
pub mod model;
pub mod plugin;
pub mod quickstart;
pub mod registry;
pub mod serve;
pub mod store;
pub mod value;
