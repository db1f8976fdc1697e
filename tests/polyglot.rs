//! UDFs written in other languages than Rust (Python with componentize-py,
//! JavaScript with componentize-qjs, C with clang and wasi-libc), built
//! from source by their build scripts (which fetch the Python and JS
//! toolchains from the package registries once per machine) and loaded into
//! the real host: each gives the Rust plugin's
//! output, row for row and error for error, on the same batch.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use wafer::embed::EmbedService;
use wafer::plugin::{Batch, Limits, Plugin, PluginEngine};
use wafer::value::Value;

use crate::util::repo;

/// One engine for the file, with a compile cache that outlives the run: a
/// Python component compiles in about 25 s and loads precompiled in well
/// under one.
fn engine() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        PluginEngine::new(Arc::new(EmbedService::default()), Limits::default())
            .unwrap()
            .with_cache_dir(Some(crate::util::cache_dir("plugins")))
    })
}

/// How each language's `bucketize` is built: its SDK's build script
/// (`plugins/sdk/<lang>`), run by this interpreter, on `examples/udf/<lang>/bucketize`.
const LANGS: [(&str, &str, &str); 3] = [
    ("python", "python3", "build.py"),
    ("js", "node", "build.mjs"),
    ("c", "bash", "build.sh"),
];

/// `examples/udf/<lang>/bucketize` built by that language's build script, once per run.
fn bucketize_in(lang: &str) -> Arc<Plugin> {
    built(
        lang,
        &repo().join("examples/udf").join(lang).join("bucketize"),
    )
}

/// The app in `dir` built by `lang`'s build script, once per run.
fn built(lang: &str, dir: &std::path::Path) -> Arc<Plugin> {
    static PLUGINS: Mutex<Vec<(PathBuf, Arc<Plugin>)>> = Mutex::new(Vec::new());
    let mut plugins = PLUGINS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = plugins.iter().find(|(d, _)| d == dir) {
        return p.clone();
    }
    let (_, interpreter, script) = LANGS.iter().find(|(l, ..)| *l == lang).unwrap();
    let name = dir.file_name().unwrap().to_string_lossy();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}_{lang}.wasm"));
    let sdk = repo().join("plugins/sdk").join(lang);
    let status = Command::new(interpreter)
        .arg(sdk.join(script))
        .arg(dir)
        .arg(&out)
        // The C build writes bindings and componentizes with this wafer.
        .env("WAFER", env!("CARGO_BIN_EXE_wafer"))
        .env("WAFER_TOOL_CACHE", crate::util::cache_dir("tools"))
        .status()
        .unwrap_or_else(|e| panic!("run {interpreter}: {e}"));
    assert!(status.success(), "building the {lang} {name} failed");
    let plugin = engine()
        .load(&format!("{name}-{lang}"), &std::fs::read(&out).unwrap())
        .unwrap();
    plugins.push((dir.to_path_buf(), plugin.clone()));
    plugin
}

fn rust_bucketize() -> Arc<Plugin> {
    let wasm = wafer::registry::builtin_plugin("bucketize").unwrap();
    engine().load("bucketize", wasm).unwrap()
}

pub(crate) fn options(boundaries: &str) -> Vec<(String, String)> {
    vec![
        ("input".into(), "x".into()),
        ("output".into(), "bucket".into()),
        ("boundaries".into(), boundaries.into()),
    ]
}

/// Every kind of cell the host sends, numbers on and around the boundaries,
/// and the rows each plugin must refuse.
pub(crate) fn rows() -> Batch {
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
        // Rust's trimming (Unicode whitespace, not U+001C or U+FEFF), its
        // float grammar (no hex, `_` or bare exponent), and its `{:?}` quoting.
        Value::String("\t5\n".into()),
        Value::String("42\u{a0}".into()),
        Value::String("\u{3000}7\u{2029}".into()),
        Value::String("\u{1c}5".into()),
        Value::String("\u{feff}7".into()),
        Value::String("a\tb\\c".into()),
        Value::String("5\u{0}x".into()),
        Value::String("\u{1}\u{85}x\u{7f}".into()),
        Value::String("0x10".into()),
        Value::String("1_000".into()),
        Value::String("1e".into()),
        Value::String(".5".into()),
        Value::String("5.".into()),
        Value::String("+Infinity".into()),
        Value::String("٣".into()),
        Value::String("1\u{a0}2\u{200b}3\u{301}".into()),
        Value::Null,
        Value::Bool(true),
        Value::Vector(vec![1.0, 2.0]),
    ]);
    let rows = (cells.into_iter().enumerate())
        .map(|(i, x)| vec![Value::Int64(i as i64), x])
        .collect();
    Batch::from_rows(&["id", "x"], rows)
}

#[test]
#[ignore = "slow tier: Python, JavaScript and C toolchains"]
fn bucketize_in_python_js_and_c_gives_the_rust_plugins_output_row_for_row() {
    let boundaries = "-10, 0, 2.5, 100";
    let batch = rows();
    let want = rust_bucketize()
        .pool("v", options(boundaries))
        .unwrap()
        .transform(batch.clone())
        .unwrap()
        .into_rows();
    // NaN twice, "abc", blank, quoted text, bool and vector are refused, and
    // of the text Rust's rules refuse: U+001C, U+FEFF, a tab inside, NUL,
    // controls, hex, `_`, a bare exponent, an Arabic-Indic digit and
    // characters Rust quotes as `\u{..}` (or, a combining mark, prints).
    let errors = want.iter().filter(|r| r.is_err()).count();
    assert_eq!(errors, 17, "{want:?}");
    for (lang, ..) in LANGS {
        let got = bucketize_in(lang)
            .pool("v", options(boundaries))
            .unwrap()
            .transform(batch.clone())
            .unwrap()
            .into_rows();
        assert_eq!(got.len(), batch.rows, "{lang}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{lang}: x = {:?}", batch.columns[1].value(i));
        }
    }
    // Typed columns (float64 with a NaN and a null, int64 with a null), which
    // each SDK reads off its list rather than cell by cell.
    let floats = [-12.5, f64::NAN, 0.0, 2.5, 1e300].map(Value::Float64);
    let ints = [
        Value::Int64(-10),
        Value::Null,
        Value::Int64(100),
        Value::Int64(i64::MAX),
    ];
    // And a long one, past the kernels' blocks of 32 rows (a NaN and a null
    // inside a block, a tail after the last), with few and with many
    // (past 32: a search per value) boundaries.
    let long = (0..77).map(|i| match i {
        5 | 40 => Value::Float64(f64::NAN),
        10 => Value::Null,
        i => Value::Float64(f64::from(i * 37 % 230) - 20.0),
    });
    let many: Vec<String> = (0..40).map(|k| (k * 5).to_string()).collect();
    let many = many.join(", ");
    for (cells, boundaries) in [
        (
            floats.iter().cloned().chain([Value::Null]).collect(),
            boundaries,
        ),
        (ints.to_vec(), boundaries),
        (long.clone().collect(), boundaries),
        (long.collect::<Vec<_>>(), many.as_str()),
    ] {
        let batch = Batch::from_rows(&["x"], cells.into_iter().map(|c| vec![c]).collect());
        let run = |p: Arc<Plugin>| {
            let pool = p.pool("v", options(boundaries)).unwrap();
            pool.transform(batch.clone()).unwrap().into_rows()
        };
        let want = run(rust_bucketize());
        for (lang, ..) in LANGS {
            assert_eq!(run(bucketize_in(lang)), want, "{lang}: {batch:?}");
        }
    }
}

#[test]
#[ignore = "slow tier: Python, JavaScript and C toolchains"]
fn python_js_and_c_refuse_what_the_rust_plugin_refuses_with_the_same_words() {
    let why = |plugin: Arc<Plugin>, boundaries: &str| {
        let err = plugin
            .pool("v", options(boundaries))
            .err()
            .expect("must refuse");
        let msg = err.to_string();
        let (_, why) = msg
            .split_once("configure failed: ")
            .expect("a configure error");
        why.to_string()
    };
    let batch = Batch::from_rows(&["y"], vec![vec![Value::Int64(1)]]);
    let batch_error = |plugin: Arc<Plugin>| {
        plugin
            .pool("v", options("1"))
            .unwrap()
            .transform(batch.clone())
            .unwrap_err()
            .to_string()
    };
    for (lang, ..) in LANGS {
        for bad in ["5, 1", "1, x", "1, inf", ""] {
            let (got, want) = (why(bucketize_in(lang), bad), why(rust_bucketize(), bad));
            assert_eq!(got, want, "{lang}: boundaries {bad:?}");
        }
        for plugin in [bucketize_in(lang), rust_bucketize()] {
            let msg = batch_error(plugin);
            assert!(
                msg.contains("input column `x` not in batch (columns: y)"),
                "{lang}: {msg}"
            );
        }
    }
}

/// A Python or JavaScript row function filling two fields answers a dict
/// (an object) per row: each field gets its column, typed, from one call.
#[test]
#[ignore = "slow tier: Python and JavaScript toolchains"]
fn python_and_js_row_functions_fill_several_fields_in_one_call() {
    let config = wafer::plugin::PluginConfig {
        inputs: vec!["title".into()],
        outputs: vec!["chars".into(), "loud".into()],
        ..Default::default()
    };
    let titles = [Value::String("ab c".into()), Value::Null, Value::Int64(3)];
    let batch = Batch::from_rows(&["title"], titles.into_iter().map(|t| vec![t]).collect());
    for lang in ["python", "js"] {
        let plugin = built(lang, &repo().join(format!("tests/fixtures/fills-{lang}")));
        let out = plugin
            .pool("v", config.clone())
            .unwrap()
            .transform(batch.clone())
            .unwrap();
        let names: Vec<&str> = out.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["chars", "loud"], "{lang}");
        assert!(
            matches!(out.columns[0].data, wafer::plugin::ColumnData::Int64(_)),
            "{lang}"
        );
        let rows = out.into_rows();
        assert_eq!(
            rows[0],
            Ok(vec![Value::Int64(4), Value::String("AB C".into())]),
            "{lang}"
        );
        assert_eq!(rows[1], Ok(vec![Value::Null, Value::Null]), "{lang}");
        assert!(
            rows[2]
                .as_ref()
                .is_err_and(|e| e.message == "expected text"),
            "{lang}"
        );
    }
}
