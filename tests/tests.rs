//! wafer's integration tests, in one binary (one link step), a module per
//! area, helpers in `util`. They run against the real library and binary:
//! RocksDB in temp dirs, the real Wasm plugins built by `host/build.rs`,
//! HTTP on 127.0.0.1:0, servers and the embedding API started by the tests.
//!
//! Two tiers. `cargo test` runs the fast tier, what every change must pass.
//! Tests that need the real local model, other languages' toolchains or
//! nested cargo builds are `#[ignore = "slow tier: ..."]`; the README's test
//! command (`.ci/run`) runs them too, with `-- --include-ignored`.

mod cli;
mod composite_keys;
mod docs;
mod embed_pipeline;
mod feast;
mod fuzz_http;
mod guards;
mod live;
mod local_model;
mod offline;
mod operations;
mod plugins;
mod polyglot;
mod publish_lookup;
mod streams;
mod types;
mod util;
