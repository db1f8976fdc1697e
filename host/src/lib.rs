//! wafer: an edge feature store in one binary. TOML config → rows (files,
//! HTTP pushes) → Wasm transformation plugins → RocksDB online store →
//! Feast-compatible HTTP lookups, all in one running process.
//!
//! [`runtime::Wafer`] owns a running store; everything else is a layer it
//! uses: [`config`] (the file), [`registry`] (views resolved for use,
//! built-in plugins), [`plugin`] (the wasmtime component host), [`embed`]
//! (the embedding service: an HTTP API or a local model), [`store`]
//! (RocksDB), [`ingest`] (rows through a view's transformations into the
//! store), [`stream`] (Kafka-protocol sources and sinks), [`serve`] (HTTP),
//! [`offline`] (point-in-time training sets from the offline log), [`time`]
//! and [`value`] (the shared types).
//! [`cli`] is the command-line edge; [`alloc`], the allocator the binary
//! runs with.

pub mod alloc;
pub mod cli;
pub mod config;
pub mod embed;
pub mod ingest;
pub mod offline;
pub mod plugin;
pub mod registry;
pub mod runtime;
pub mod serve;
pub mod store;
pub mod stream;
pub mod time;
pub mod value;

pub use runtime::Wafer;
