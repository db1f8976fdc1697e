//! UDFs written in other languages than Rust, built from source with their
//! own toolchains (fetched from the package registries once per machine) and
//! loaded into the real host: each gives the Rust plugin's output, row for
//! row and error for error, on the same batch.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use wafer::embed::EmbedService;
use wafer::plugin::{Batch, Limits, Plugin, PluginEngine};
use wafer::value::Value;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// One engine for the file, with a compile cache that outlives the run: a
/// Python component compiles in about 25 s and loads precompiled in well
/// under one.
fn engine() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        PluginEngine::new(Arc::new(EmbedService::default()), Limits::default())
            .unwrap()
            .with_cache_dir(Some(
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("polyglot-cache"),
            ))
    })
}

/// `plugins/python/<app>` built by `plugins/python/build.py`, once per run.
fn python_bucketize() -> Arc<Plugin> {
    static PLUGIN: OnceLock<Arc<Plugin>> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bucketize_py.wasm");
            let status = Command::new("python3")
                .arg(repo().join("plugins/python/build.py"))
                .arg(repo().join("plugins/python/bucketize"))
                .arg(&out)
                .status()
                .expect("run python3");
            assert!(status.success(), "building the Python UDF failed");
            engine()
                .load("bucketize-py", &std::fs::read(&out).unwrap())
                .unwrap()
        })
        .clone()
}

fn rust_bucketize() -> Arc<Plugin> {
    let wasm = wafer::registry::builtin_plugin("bucketize").unwrap();
    engine().load("bucketize", wasm).unwrap()
}

fn options(boundaries: &str) -> Vec<(String, String)> {
    vec![
        ("input".into(), "x".into()),
        ("output".into(), "bucket".into()),
        ("boundaries".into(), boundaries.into()),
    ]
}

/// Every kind of cell the host sends, numbers on and around the boundaries,
/// and the rows each plugin must refuse.
fn rows() -> Batch {
    let mut cells: Vec<Value> = (-200..=200)
        .map(|i| Value::Float64(f64::from(i) * 0.75))
        .collect();
    cells.extend([
        Value::Int64(-10),
        Value::Int64(0),
        Value::Int64(100),
        Value::Int64(i64::MAX),
        Value::Float64(2.5),
        Value::Float64(f64::INFINITY),
        Value::Float64(f64::NEG_INFINITY),
        Value::Float64(f64::NAN),
        Value::String(" 42 ".into()),
        Value::String("1e2".into()),
        Value::String("-inf".into()),
        Value::String("NaN".into()),
        Value::String("abc".into()),
        Value::String("   ".into()),
        Value::String("price: \"12\"".into()),
        Value::Null,
        Value::Bool(true),
        Value::Vector(vec![1.0, 2.0]),
    ]);
    Batch {
        columns: vec!["id".into(), "x".into()],
        rows: cells
            .into_iter()
            .enumerate()
            .map(|(i, x)| vec![Value::Int64(i as i64), x])
            .collect(),
    }
}

#[test]
fn python_bucketize_gives_the_rust_plugins_output_row_for_row() {
    let boundaries = "-10, 0, 2.5, 100";
    let batch = rows();
    let want = rust_bucketize()
        .pool("v", options(boundaries))
        .unwrap()
        .transform(batch.clone())
        .unwrap();
    let got = python_bucketize()
        .pool("v", options(boundaries))
        .unwrap()
        .transform(batch.clone())
        .unwrap();
    assert_eq!(got.columns, want.columns);
    assert_eq!(got.rows.len(), batch.rows.len());
    let mut errors = 0;
    for ((row, g), w) in batch.rows.iter().zip(&got.rows).zip(&want.rows) {
        assert_eq!(g, w, "x = {:?}", row[1]);
        errors += usize::from(w.is_err());
    }
    // NaN twice, "abc", blank, quoted text, bool and vector are refused.
    assert_eq!(errors, 7, "{:?}", want.rows);
}

#[test]
fn python_bucketize_refuses_what_the_rust_plugin_refuses_with_the_same_words() {
    for bad in ["5, 1", "1, x", "1, inf"] {
        let why = |plugin: Arc<Plugin>| {
            let err = plugin.pool("v", options(bad)).err().expect("must refuse");
            let msg = err.to_string();
            let (_, why) = msg
                .split_once("configure failed: ")
                .expect("a configure error");
            why.to_string()
        };
        assert_eq!(
            why(python_bucketize()),
            why(rust_bucketize()),
            "boundaries {bad:?}"
        );
    }
    let batch = Batch {
        columns: vec!["y".into()],
        rows: vec![vec![Value::Int64(1)]],
    };
    let err = |plugin: Arc<Plugin>| {
        plugin
            .pool("v", options("1"))
            .unwrap()
            .transform(batch.clone())
            .unwrap_err()
            .to_string()
    };
    for msg in [err(python_bucketize()), err(rust_bucketize())] {
        assert!(
            msg.contains("input column `x` not in batch (columns: y)"),
            "{msg}"
        );
    }
}
