//! The Wasm host against real components: the example UDF matches its native
//! build, misbehaving plugins fail their batch with a clear error and never
//! the host, and the plugin crates' own unit tests pass.

use std::sync::Arc;
use std::time::Duration;
use wafer::embed::EmbedService;
use wafer::plugin::{Batch, Limits, PluginEngine, PluginError};
use wafer::value::Value;

fn engine(limits: Limits) -> PluginEngine {
    PluginEngine::new(Arc::new(EmbedService::default()), limits).unwrap()
}

use crate::util::test_plugin as test_wasm;

fn chaos_wasm() -> Vec<u8> {
    test_wasm("chaos")
}

/// A pool of the chaos test plugin under `limits`.
fn chaos_pool(limits: Limits) -> wafer::plugin::InstancePool {
    engine(limits)
        .load("chaos", &chaos_wasm())
        .unwrap()
        .pool("v", vec![])
        .unwrap()
}

fn texts(col: &str, rows: &[&str]) -> Batch {
    let rows = rows.iter().map(|t| vec![Value::String(t.to_string())]);
    Batch::from_rows(&[col], rows.collect())
}

#[test]
fn bucketize_in_wasm_matches_the_native_function() {
    let e = engine(Limits::default());
    let plugin = e
        .load(
            "bucketize",
            wafer::registry::builtin_plugin("bucketize").unwrap(),
        )
        .unwrap();
    let boundaries = "-10, 0, 2.5, 100";
    let opts = vec![
        ("input".into(), "x".into()),
        ("output".into(), "b".into()),
        ("boundaries".into(), boundaries.into()),
    ];
    let pool = plugin.pool("v", opts).unwrap();
    let xs: Vec<f64> = (-200..200)
        .map(|i| f64::from(i) * 0.75)
        .chain([f64::INFINITY, f64::NEG_INFINITY, 2.5, 0.0])
        .collect();
    let out = pool.transform(numbers(&xs)).unwrap();
    let native_b = bucketize::parse_boundaries(boundaries).unwrap();
    for (x, row) in xs.iter().zip(out.into_rows()) {
        assert_eq!(
            row.unwrap(),
            vec![Value::Int64(bucketize::bucket(&native_b, *x))],
            "x = {x}"
        );
    }
}

#[test]
fn bad_options_fail_at_configure_naming_the_plugin() {
    let e = engine(Limits::default());
    let plugin = e
        .load(
            "bucketize",
            wafer::registry::builtin_plugin("bucketize").unwrap(),
        )
        .unwrap();
    let opts = vec![
        ("input".into(), "x".into()),
        ("output".into(), "b".into()),
        ("boundaries".into(), "5, 1".into()),
    ];
    let err = plugin
        .pool("my_view", opts)
        .err()
        .expect("configure must fail");
    assert!(matches!(err, PluginError::Configure { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("bucketize") && msg.contains("my_view") && msg.contains("increasing"),
        "{msg}"
    );
}

#[test]
fn a_trap_fails_the_batch_with_stderr_and_the_next_batch_works() {
    let pool = chaos_pool(Limits::default());
    let err = pool.transform(texts("input", &["ok", "trap"])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PluginError::Trap { .. }), "{msg}");
    assert!(
        msg.contains("chaos")
            && msg.contains("chaos asked to trap")
            && msg.contains("about to trap"),
        "{msg}"
    );
    let out = pool.transform(texts("input", &["fine"])).unwrap();
    assert_eq!(
        out.into_rows(),
        vec![Ok(vec![Value::String("FINE".into())])]
    );
}

#[test]
fn an_endless_loop_hits_the_deadline() {
    let pool = chaos_pool(Limits {
        call_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    // Only the deadline ends this call: an interrupt trap is the proof.
    let err = pool.transform(texts("input", &["loop"])).unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    assert!(err.to_string().contains("interrupt"), "{err}");
    assert!(pool.transform(texts("input", &["a"])).is_ok());
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    let pool = chaos_pool(Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    });
    let err = pool.transform(texts("input", &["oom"])).unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    assert!(pool.transform(texts("input", &["a"])).is_ok());
}

#[test]
fn wrong_row_count_is_bad_output() {
    let pool = chaos_pool(Limits::default());
    let err = pool.transform(texts("input", &["short", "x"])).unwrap_err();
    assert!(
        matches!(err, PluginError::BadOutput { .. })
            && err
                .to_string()
                .contains("column `out`: 0 cells for 2 input rows"),
        "{err}"
    );
}

#[test]
fn a_component_that_is_not_a_plugin_is_a_load_error() {
    let e = engine(Limits::default());
    let err = e
        .load("junk", b"\0asm not really")
        .err()
        .expect("must not load");
    assert!(
        matches!(err, PluginError::Load { .. }) && err.to_string().contains("junk"),
        "{err}"
    );
}

/// The plugin crates' own unit tests (their logic and the Rust SDK's
/// accessors and builders, compiled natively).
#[test]
#[ignore = "slow tier: a nested cargo test of the plugin crates"]
fn plugin_crates_unit_tests_pass() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/Cargo.toml");
    let target = concat!(env!("CARGO_TARGET_TMPDIR"), "/../plugins-native");
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "test",
            "--quiet",
            "--manifest-path",
            manifest,
            "--target-dir",
            target,
            "-p",
            "passthrough",
            "-p",
            "bucketize",
            "-p",
            "wafer-plugin-sdk",
        ])
        .env_remove("CARGO_TARGET_DIR")
        // CI lints the workspace through this wrapper; the plugin crates are another workspace.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "plugin unit tests failed:\n{text}");
    assert!(text.contains("test result: ok"), "{text}");
}

fn bucketize_pool(e: &PluginEngine) -> wafer::plugin::InstancePool {
    let wasm = wafer::registry::builtin_plugin("bucketize").unwrap();
    let opts = [("input", "x"), ("output", "b"), ("boundaries", "0, 10")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
    e.load("bucketize", wasm).unwrap().pool("v", opts).unwrap()
}

fn numbers(xs: &[f64]) -> Batch {
    Batch::from_rows(
        &["x"],
        xs.iter().map(|x| vec![Value::Float64(*x)]).collect(),
    )
}

#[test]
fn instances_are_recycled_after_n_calls() {
    let pool = bucketize_pool(&engine(Limits {
        recycle_after_calls: 2,
        ..Limits::default()
    }));
    for _ in 0..5 {
        let out = pool.transform(numbers(&[5.0])).unwrap();
        assert_eq!(out.into_rows(), vec![Ok(vec![Value::Int64(1)])]);
    }
    // Calls 1-2 on the first instance, 3-4 on a second, 5 on a third.
    assert_eq!(pool.instances_created(), 3);
}

#[test]
fn an_error_about_a_row_the_batch_lacks_is_bad_output() {
    let pool = chaos_pool(Limits::default());
    let err = pool.transform(texts("input", &["a", "stray"])).unwrap_err();
    assert!(
        matches!(err, PluginError::BadOutput { .. })
            && err.to_string().contains("an error for row 7 of 2"),
        "{err}"
    );
    assert!(pool.transform(texts("input", &["a"])).is_ok());
}

/// The built-in `bucketize` as built for contract 0.1 (row-major), before
/// 0.2 existed: it still loads, says which contract it speaks, and answers
/// every row of the cross-language batch as the 0.2 built-in does.
#[test]
fn a_plugin_built_for_contract_0_1_loads_and_answers_as_the_0_2_built_in() {
    use wafer::plugin::Contract;
    let e = engine(Limits::default());
    let old = std::fs::read(crate::util::repo().join("tests/fixtures/plugin-0.1/bucketize.wasm"));
    let old = e.load("bucketize-0.1", &old.unwrap()).unwrap();
    let new = e.load(
        "bucketize",
        wafer::registry::builtin_plugin("bucketize").unwrap(),
    );
    let new = new.unwrap();
    assert_eq!(
        (old.contract(), new.contract()),
        (Contract::V0_1, Contract::V0_2)
    );
    let run = |p: &Arc<wafer::plugin::Plugin>| {
        let pool = p
            .pool("v", crate::polyglot::options("-10, 0, 2.5, 100"))
            .unwrap();
        pool.transform(crate::polyglot::rows()).unwrap().into_rows()
    };
    let (want, got) = (run(&new), run(&old));
    assert_eq!(want.iter().filter(|r| r.is_err()).count(), 17);
    assert_eq!(got, want);
    // Typed columns (the built-in's fast path), with a null and a NaN.
    let nums =
        |cells: Vec<Value>| Batch::from_rows(&["x"], cells.into_iter().map(|c| vec![c]).collect());
    let floats = [1.5, f64::NAN, 100.0].map(Value::Float64);
    let ints = [Value::Int64(5), Value::Null, Value::Int64(-20)];
    for batch in [nums(floats.to_vec()), nums(ints.to_vec())] {
        let run = |p: &Arc<wafer::plugin::Plugin>| {
            let pool = p.pool("v", crate::polyglot::options("-10, 0, 2.5, 100"));
            pool.unwrap().transform(batch.clone()).unwrap().into_rows()
        };
        assert_eq!(run(&old), run(&new), "{batch:?}");
    }
    let fixture = crate::util::repo().join("tests/fixtures/plugin-0.1/bucketize.wasm");
    let report = e.check(&std::fs::read(fixture).unwrap());
    assert_eq!(report.unwrap().fits, Ok(Contract::V0_1));
}

const FILLS_CONFIG: &str = r#"
[[entity]]
name = "item"
join_key = "id"
type = "int64"

[[feature_view]]
name = "v"
entity = "item"
fields = [
  { name = "id", type = "INT64", primary_key = true },
  { name = "chars", type = "INT64", transform = { plugin = "stats.wasm", input = "title", fills = ["words", "loud"] } },
  { name = "words", type = "INT64" },
  { name = "loud", type = "STRING" },
]
"#;

/// A view whose `chars` transformation (plugin file `wasm`) also fills
/// `words` and `loud`, opened in `dir`.
fn fills_view(dir: &std::path::Path, wasm: &[u8]) -> (tokio::runtime::Runtime, wafer::Wafer) {
    stats_view(dir, wasm, FILLS_CONFIG)
}

/// `config`, whose plugin is the file `stats.wasm` holding `wasm`, opened in `dir`.
fn stats_view(
    dir: &std::path::Path,
    wasm: &[u8],
    config: &str,
) -> (tokio::runtime::Runtime, wafer::Wafer) {
    std::fs::write(dir.join("stats.wasm"), wasm).unwrap();
    std::fs::write(dir.join("wafer.toml"), config).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(async { wafer::Wafer::open(&dir.join("wafer.toml")) });
    (rt, app.unwrap())
}

fn titled(id: i64, title: Value) -> wafer::ingest::Record {
    wafer::ingest::Record {
        line: id as usize,
        cells: vec![("id".into(), Value::Int64(id)), ("title".into(), title)],
    }
}

/// A plugin that fills three fields (`transform.fills`) runs once per batch
/// for all of them; null stays null in each, and a row it refuses fails
/// whole, naming the field whose transformation it is. Publishing the same
/// rows again reuses all three values, with no call.
#[test]
fn one_call_fills_several_fields_and_reuses_them_all() {
    use wafer::ingest::Pipeline;
    let dir = tempfile::tempdir().unwrap();
    let (rt, app) = fills_view(dir.path(), &test_wasm("textstats"));
    let _in_runtime = rt.enter();
    let pipeline = Pipeline::new(&app.registry(), "v", &app.engine(), false).unwrap();
    let records = || {
        vec![
            titled(1, Value::String("two words".into())),
            titled(2, Value::Null),
            titled(3, Value::Int64(7)),
        ]
    };
    let t = pipeline.run(records(), wafer::time::Micros(1), Some(app.store()));
    assert_eq!(pipeline.plugin_calls(), 1);
    let fields = |t: &wafer::ingest::Transformed, k: usize| {
        let mut f = t.rows[k].1.fields.clone();
        f.sort_by(|a, b| a.0.cmp(&b.0));
        f
    };
    let want = [
        ("chars", Value::Int64(9)),
        ("loud", Value::String("TWO WORDS".into())),
        ("words", Value::Int64(2)),
    ]
    .map(|(n, v)| (n.to_string(), v));
    assert_eq!(fields(&t, 0), want.to_vec());
    assert!(
        fields(&t, 1).iter().all(|(_, v)| *v == Value::Null),
        "{:?}",
        fields(&t, 1)
    );
    let (failure, _) = &t.failures[0];
    assert_eq!(failure.field.as_deref(), Some("chars"));
    assert!(
        failure.message.contains("expected text, got int64"),
        "{}",
        failure.message
    );
    let rows = t.rows.clone();
    app.store()
        .write("v", rows, wafer::store::WriteMode::Merge)
        .unwrap();
    let again = pipeline.run(
        records()[..1].to_vec(),
        wafer::time::Micros(2),
        Some(app.store()),
    );
    assert_eq!((again.reused, pipeline.plugin_calls()), (1, 1));
    assert_eq!(fields(&again, 0), want.to_vec());
}

/// `transform.input_types` converts an input's cells on the host before the
/// call (CSV text parsed once): `textstats`, which wants text, sees "42" as
/// an int64, while "abc", which does not convert, goes as it came.
#[test]
fn declared_input_types_convert_cells_before_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let config = FILLS_CONFIG.replace(
        r#"fills = ["words", "loud"] }"#,
        r#"fills = ["words", "loud"], input_types = { title = "INT64" } }"#,
    );
    assert_ne!(config, FILLS_CONFIG);
    let (rt, app) = stats_view(dir.path(), &test_wasm("textstats"), &config);
    let _in_runtime = rt.enter();
    let pipeline = wafer::ingest::Pipeline::new(&app.registry(), "v", &app.engine(), false);
    let records = vec![
        titled(1, Value::String("42".into())),
        titled(2, Value::String("abc".into())),
    ];
    let t = pipeline.unwrap().run(records, wafer::time::Micros(1), None);
    assert!(
        t.failures[0].0.message.contains("expected text, got int64"),
        "{:?}",
        t.failures
    );
    let loud = t.rows[0].1.fields.iter().find(|(n, _)| n == "loud");
    assert_eq!(loud.map(|(_, v)| v), Some(&Value::String("ABC".into())));
}

/// A 0.1 plugin answers one field: asking it to fill more is refused at
/// set-up, naming the field and why.
#[test]
fn fills_need_a_plugin_built_for_contract_0_2() {
    let dir = tempfile::tempdir().unwrap();
    let old = std::fs::read(crate::util::repo().join("tests/fixtures/plugin-0.1/bucketize.wasm"));
    let (rt, app) = fills_view(dir.path(), &old.unwrap());
    let _in_runtime = rt.enter();
    let err = wafer::ingest::Pipeline::new(&app.registry(), "v", &app.engine(), false);
    let msg = err.err().expect("refused").to_string();
    assert!(
        msg.contains("field `chars`") && msg.contains("contract 0.2"),
        "{msg}"
    );
}

#[test]
fn compiled_plugins_are_cached_on_disk_and_a_bad_entry_is_recompiled() {
    use wafer::plugin::Loaded;
    let dir = tempfile::tempdir().unwrap();
    let cached = || engine(Limits::default()).with_cache_dir(Some(dir.path().to_path_buf()));
    let wasm = wafer::registry::builtin_plugin("bucketize").unwrap();
    assert_eq!(cached().load("b", wasm).unwrap().loaded(), Loaded::Compiled);
    let again = cached();
    assert_eq!(again.load("b", wasm).unwrap().loaded(), Loaded::Cached);
    let out = bucketize_pool(&again)
        .transform(numbers(&[-1.0, 99.0]))
        .unwrap();
    assert_eq!(
        out.into_rows(),
        vec![Ok(vec![Value::Int64(0)]), Ok(vec![Value::Int64(2)])]
    );
    // A corrupt entry is compiled afresh, never trusted.
    for f in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(f.unwrap().path(), b"not code").unwrap();
    }
    let p = cached().load("b", wasm).unwrap();
    assert_eq!(p.loaded(), Loaded::Compiled);
}

#[test]
fn check_reports_the_contract_or_exactly_why_not() {
    let e = engine(Limits::default());
    let ok = e
        .check(wafer::registry::builtin_plugin("bucketize").unwrap())
        .unwrap();
    assert!(ok.fits.is_ok(), "{ok}");
    assert!(
        ok.imports
            .iter()
            .any(|i| i == "wafer:transform/types@0.2.0"),
        "{ok}"
    );
    assert!(ok.exports.iter().any(|x| x == "transform"), "{ok}");

    let bad = e.check(&test_wasm("misfit")).unwrap();
    let why = bad.fits.as_ref().unwrap_err();
    assert!(why.contains("test:misfit/clock"), "{bad}");
    // Loading it is refused the same way, before any call.
    let err = e
        .load("misfit", &test_wasm("misfit"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("test:misfit/clock"), "{err}");
    assert!(e.check(b"\0asm not really").is_err());
}

/// A C plugin (tests/fixtures/c-grants) that reports what its sandbox lets
/// it see: nothing by default; with grants, the environment variable and a
/// read-only directory, and still no way to write there.
#[test]
#[ignore = "slow tier: builds a C fixture with clang"]
fn the_sandbox_grants_environment_and_read_only_directories_only_when_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = grants_plugin(tmp.path());
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("word.txt"), "wasm").unwrap();
    let plugin = engine(Limits::default())
        .load("grants", &std::fs::read(&wasm).unwrap())
        .unwrap();
    let seen = |grants: wafer::plugin::Grants| {
        let pool = plugin
            .pool_with("v", vec![("output".into(), "o".into())], grants)
            .unwrap();
        let out = pool.transform(texts("x", &["a"])).unwrap();
        out.into_rows()[0].clone().unwrap()[0].clone()
    };
    assert_eq!(
        seen(Default::default()),
        Value::String("no-env:no-file:ro".into())
    );
    let grants = wafer::plugin::Grants {
        env: vec![("GREETING".into(), "hi".into())],
        dirs: vec![(data.clone(), "/data".into())],
    };
    assert_eq!(seen(grants), Value::String("hi:wasm:ro".into()));
    assert!(
        !data.join("out.txt").exists(),
        "a granted directory is read-only"
    );
}

/// tests/fixtures/c-grants built into `dir`/grants.wasm.
fn grants_plugin(dir: &std::path::Path) -> std::path::PathBuf {
    let wasm = dir.join("grants.wasm");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = std::process::Command::new("bash")
        .arg(repo.join("plugins/sdk/c/build.sh"))
        .arg(repo.join("tests/fixtures/c-grants"))
        .arg(&wasm)
        .env("WAFER", env!("CARGO_BIN_EXE_wafer"))
        .status()
        .unwrap();
    assert!(built.success(), "building the C test plugin failed");
    wasm
}

/// Grants from the config, through the real binary: the plugin reads the
/// granted folder, a republish reuses the value, and editing the granted
/// file recomputes it.
#[test]
#[ignore = "slow tier: builds a C fixture with clang"]
fn config_grants_reach_the_plugin_and_an_edited_granted_file_recomputes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    grants_plugin(dir);
    std::fs::create_dir(dir.join("tables")).unwrap();
    std::fs::write(dir.join("tables/word.txt"), "one").unwrap();
    std::fs::write(dir.join("rows.jsonl"), "{\"id\": 1, \"x\": \"a\"}\n").unwrap();
    std::fs::write(
        dir.join("wafer.toml"),
        "[store]\npath = \"store\"\n\n[[entity]]\nname = \"item\"\njoin_key = \"id\"\ntype = \"int64\"\n\n[[feature_view]]\nname = \"v\"\nentity = \"item\"\nfields = [\n  { name = \"id\", type = \"INT64\", primary_key = true },\n  { name = \"g\", type = \"STRING\", transform = { plugin = \"grants.wasm\", input = \"x\", grants = { env = { GREETING = \"hi\" }, dirs = { \"/data\" = \"tables\" } } } },\n]\n",
    )
    .unwrap();
    let wafer = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wafer"))
            .current_dir(dir)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "wafer {args:?}: {text}");
        text
    };
    let publish = ["publish", "--view", "v", "--input", "rows.jsonl"];
    let get = ["get", "--view", "v", "--key", "1"];
    wafer(&publish);
    assert!(wafer(&get).contains("hi:one:ro"), "{}", wafer(&get));
    assert!(wafer(&publish).contains("1 transformed values reused"));
    std::fs::write(dir.join("tables/word.txt"), "three").unwrap();
    let again = wafer(&publish);
    assert!(!again.contains("values reused"), "{again}");
    assert!(wafer(&get).contains("hi:three:ro"), "{}", wafer(&get));
}
