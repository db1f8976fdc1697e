//! The real `wafer` binary: bad config, publish and get across processes
//! (restart), exit codes, `views`, and the quickstart end to end.

use std::path::Path;
use std::process::{Command, Output};

fn wafer(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wafer"))
        .current_dir(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("WAFER_CONFIG")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const CONFIG: &str = r#"[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "stats"
entity = "item"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "price", type = "DOUBLE" },
  { name = "bucket", type = "INT64", transform = { plugin = "bucketize", input = "price", options = { boundaries = "10, 50" } } },
]
"#;

#[test]
fn bad_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wafer.toml"),
        CONFIG.replace("entity = \"item\"", "entity = \"user\""),
    )
    .unwrap();
    let out = wafer(dir.path(), &["views"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wafer.toml:8: `feature_view[stats].entity`: no [[entity]] named \"user\""),
        "{err}"
    );
}

#[test]
fn publish_then_get_in_a_new_process() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wafer.toml"), CONFIG).unwrap();
    std::fs::write(
        dir.path().join("rows.jsonl"),
        "{\"item_id\": 1, \"price\": 42}\n{\"item_id\": 2, \"price\": \"x\"}\n",
    )
    .unwrap();
    let out = wafer(
        dir.path(),
        &["publish", "--view", "stats", "--input", "rows.jsonl"],
    );
    // Exit 2: the publish ran, but a row failed.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let summary = text(&out);
    assert!(
        summary.contains("written       1") && summary.contains("line 2 key 2: field `price`"),
        "{summary}"
    );

    let out = wafer(dir.path(), &["get", "--view", "stats", "--key", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["price"]["value"], 42.0);
    assert_eq!(got["bucket"]["value"], 1);
    assert_eq!(got["item_id"]["value"], 1);

    let out = wafer(dir.path(), &["get", "--view", "nope", "--key", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no feature view named \"nope\""),
        "{}",
        text(&out)
    );
}

#[test]
fn views_lists_fields_and_transforms() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wafer.toml"), CONFIG).unwrap();
    let out = wafer(dir.path(), &["views"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("stats  (entity item, key item_id int64, ttl none)"),
        "{s}"
    );
    assert!(s.contains("bucket int64  <- bucketize(price)"), "{s}");
}

#[test]
fn quickstart_publishes_serves_and_answers_offline() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wafer"))
        .args(["quickstart", "--once", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path().join("qs"))
        .env("RUST_LOG", "warn")
        .env_remove("DASHSCOPE_API_KEY")
        .output()
        .unwrap();
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(
        s.contains("DASHSCOPE_API_KEY"),
        "must say why the LLM is skipped: {s}"
    );
    assert!(s.contains("curl -s http://127.0.0.1:"), "{s}");
    assert!(
        s.contains("\"PRESENT\"") && s.contains("\"NOT_FOUND\""),
        "{s}"
    );
    assert_eq!(s.matches("written       300").count(), 3, "{s}");
}
