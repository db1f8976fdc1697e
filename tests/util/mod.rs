//! Shared test helpers: configs in temp dirs, the real server in process on
//! port 0 or as a child process, the `wafer` binary, fixture paths from
//! `build.rs`, caches under `target/` (runs are hermetic), and an
//! in-process OpenAI-compatible embeddings server.
#![allow(dead_code)]

mod fake_embedder;
pub mod kafka;
pub mod pip;
mod server;

pub use fake_embedder::*;
pub use server::*;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A config with the `item` entity (int64 join key `item_id`) and the view
/// `stats` keyed by it: `fields` are its fields after the key, one per line.
pub fn stats_config(fields: &str) -> String {
    format!(
        r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "stats"
entity = "item"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
{fields}]
"#
    )
}

/// The entities of a view keyed by user × item (a string and an int64
/// join key), for the configs of tests that need one.
pub const USER_ITEM_ENTITIES: &str = r#"
[[entity]]
name = "user"
join_key = "user_id"
type = "string"

[[entity]]
name = "item"
join_key = "item_id"
type = "int64"
"#;

/// Write `body` as `wafer.toml` in `dir`.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    write_file(dir, "wafer.toml", body)
}

pub fn write_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// The repository's root.
pub fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Where tests keep what outlives one test: fetched tools, the model,
/// compiled plugins. Under `target/`, so a run never touches `~/.cache`.
pub fn cache_dir(what: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cache")
        .join(what)
}

/// A test plugin (`plugins/testing`) that `build.rs` built but did not embed.
pub fn test_plugin(name: &str) -> Vec<u8> {
    let p = Path::new(env!("WAFER_TEST_PLUGINS")).join(format!("{name}.wasm"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `wafer` binary, run in `dir` with the test caches and quiet logs.
pub fn wafer_command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wafer"));
    c.current_dir(dir)
        .env("RUST_LOG", "warn")
        .env("WAFER_MODEL_CACHE", cache_dir("models"))
        .env("WAFER_TOOL_CACHE", cache_dir("tools"))
        .env_remove("WAFER_CONFIG");
    c
}

/// Run `wafer ARGS` in `dir` to its end.
pub fn wafer_cli(dir: &Path, args: &[&str]) -> Output {
    wafer_command(dir).args(args).output().unwrap()
}

/// A finished command's stdout and stderr, for assertions and their messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The result column for `feature` in a lookup answer.
pub fn column<'a>(answer: &'a Value, feature: &str) -> &'a Value {
    let names = answer["metadata"]["feature_names"].as_array().unwrap();
    let i = names
        .iter()
        .position(|n| n == feature)
        .unwrap_or_else(|| panic!("no {feature} in {names:?}"));
    &answer["results"][i]
}

/// The all-MiniLM-L6-v2 folder in the test model cache, pulled on first use
/// (later runs find it verified and reuse it).
pub fn minilm_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(wafer::embed::local::files::pull(
                "all-MiniLM-L6-v2",
                &cache_dir("models"),
                None,
            ))
            .expect("pull all-MiniLM-L6-v2 for the local-model tests")
        })
        .join()
        .unwrap()
    })
    .clone()
}

/// An `[[llm]]` block for the local model in `minilm_dir()`.
pub fn minilm_llm(name: &str, extra: &str) -> String {
    format!(
        "[[llm]]\nname = \"{name}\"\nprovider = \"local\"\nmodel = \"all-MiniLM-L6-v2\"\nmodel_dir = {:?}\n{extra}\n",
        minilm_dir()
    )
}
