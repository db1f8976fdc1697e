//! The real `wafer` binary: bad config, publish and get across processes
//! (restart), exit codes, `views`, and the quickstart end to end.

use crate::util::*;
use std::path::Path;
use std::process::Command;

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
    let out = wafer_cli(dir.path(), &["views"]);
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
    let out = wafer_cli(
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

    let out = wafer_cli(dir.path(), &["get", "--view", "stats", "--key", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["price"]["value"], 42.0);
    assert_eq!(got["bucket"]["value"], 1);
    assert_eq!(got["item_id"]["value"], 1);

    let out = wafer_cli(dir.path(), &["get", "--view", "nope", "--key", "1"]);
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
    let out = wafer_cli(dir.path(), &["views"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("stats  (entity item, key item_id int64, ttl none)"),
        "{s}"
    );
    assert!(s.contains("bucket int64  <- bucketize(price)"), "{s}");
}

#[test]
#[ignore = "slow tier: the real local model"]
fn quickstart_embeds_locally_serves_and_answers_without_a_key() {
    minilm_dir(); // pulled once into the test model cache, as the quickstart would
    let dir = tempfile::tempdir().unwrap();
    let out = wafer_command(dir.path())
        .args(["quickstart", "--once", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path().join("qs"))
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
    assert_eq!(s.matches("written       300").count(), 4, "{s}");
    assert!(!s.contains("failed        1"), "{s}");
    // The headline view was embedded by the local model, for real.
    let local = s
        .split("published view item_fea_embedding_debug_v1")
        .nth(1)
        .unwrap_or_default();
    assert!(local.contains("cache 0 hits / 300 misses"), "{s}");
    assert!(
        s.contains("...384 values"),
        "the lookup shows 384-d vectors: {s}"
    );
}

/// SIGKILL mid-publish, then publish again: every row reported written is
/// there, the rerun finishes the job, and rows stored before the kill are
/// not embedded again.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_publish_resumes_without_losing_or_re_embedding_rows() {
    let fake = fake_embedder(4).await;
    *fake.latency.lock().unwrap() = std::time::Duration::from_millis(80);
    let dir = tempfile::tempdir().unwrap();
    let cfg = CONFIG.replace(
        "[[entity]]",
        &format!(
            "[[llm]]\nname = \"fake\"\nbase_url = \"{}\"\nmodel = \"m\"\napi_key_file = \"key.txt\"\nbatch_size = 10\nconcurrency = 1\n\n[[entity]]",
            fake.base_url
        ),
    ) + "\n[[feature_view]]\nname = \"emb\"\nentity = \"item\"\nbatch_size = 10\nfields = [\n  { name = \"item_id\", type = \"INT64\", primary_key = true },\n  { name = \"vec\", type = \"ARRAY<FLOAT>\", transform = { plugin = \"llm-embedding\", llm = \"fake\", input = \"text\" } },\n]\n";
    std::fs::write(dir.path().join("wafer.toml"), cfg).unwrap();
    std::fs::write(dir.path().join("key.txt"), API_KEY).unwrap();
    let rows: String = (1..=100)
        .map(|i| format!("{{\"item_id\": {i}, \"text\": \"review {i}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("rows.jsonl"), rows).unwrap();

    let mut child = wafer_command(dir.path())
        .args(["publish", "--view", "emb", "--input", "rows.jsonl"])
        .env("RUST_LOG", "wafer=debug")
        .env_remove("WAFER_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill right after the first batch is reported written, however slow the machine.
    let stderr = child.stderr.take().unwrap();
    let (first, first_seen) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut reported = 0u64;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let written = line.split("written=").nth(1);
            if let Some(n) = written.and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
            {
                reported = reported.max(n);
                first.send(()).ok();
            }
        }
        reported
    });
    first_seen
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the publish reported a written batch");
    child.kill().unwrap(); // SIGKILL: no handler, no flush
    child.wait().unwrap();
    let reported = reader.join().unwrap();
    let sent_before = fake.requests.lock().unwrap().len();

    let app = wafer::Wafer::open(&dir.path().join("wafer.toml")).unwrap();
    let stored_before = app.store().count("emb").unwrap();
    assert!(
        reported > 0 && stored_before >= reported && stored_before < 100,
        "reported {reported}, stored {stored_before}: killed mid-publish, nothing reported lost"
    );
    let keys: Vec<wafer::store::EntityKey> = (1..=100).map(wafer::store::EntityKey::Int).collect();
    let before = app.store().get_many("emb", &keys).unwrap();

    let s = app
        .publish(
            wafer::ingest::PublishRequest {
                view: "emb".into(),
                input: dir.path().join("rows.jsonl"),
                format: None,
                partition: None,
                mode: wafer::store::WriteMode::Merge,
                no_transform: false,
            },
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!((s.written, s.failed()), (100, 0), "{s}");
    assert_eq!(app.store().count("emb").unwrap(), 100);
    let resent: Vec<String> = fake.requests.lock().unwrap()[sent_before..].concat();
    for (i, row) in before.iter().enumerate() {
        if row.is_some() {
            let text = format!("review {}", i + 1);
            assert!(
                !resent.contains(&text),
                "{text} was stored before the kill and embedded again"
            );
        }
    }
    assert!(
        resent.len() as u64 <= 100 - stored_before,
        "{} texts re-sent for {} missing rows",
        resent.len(),
        100 - stored_before
    );
}

#[test]
fn transform_dry_runs_rows_without_touching_the_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wafer.toml"), CONFIG).unwrap();
    let rows = "{\"item_id\": 1, \"price\": 12.5}\n{\"item_id\": 2, \"price\": \"abc\"}\n";
    std::fs::write(dir.path().join("rows.jsonl"), rows).unwrap();
    let out = wafer_cli(
        dir.path(),
        &["transform", "--view", "stats", "--input", "rows.jsonl"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["key"], 1);
    assert_eq!(lines[0]["fields"]["bucket"], 1);
    assert_eq!(
        (lines[1]["key"].clone(), lines[1]["kind"].clone()),
        (2.into(), "input".into())
    );
    assert!(
        !dir.path().join("data").exists(),
        "the store was not opened"
    );
}

#[test]
fn plugin_check_says_why_a_component_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let built = env!("WAFER_TEST_PLUGINS");
    let out = wafer_cli(
        dir.path(),
        &["plugin", "check", &format!("{built}/bucketize.wasm")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("fits world wafer:transform/transformer"),
        "{}",
        text(&out)
    );
    let out = wafer_cli(
        dir.path(),
        &["plugin", "check", &format!("{built}/misfit.wasm")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("does NOT fit") && text(&out).contains("test:misfit/clock"),
        "{}",
        text(&out)
    );
}

/// The skeleton `plugin new` writes builds offline into a component that
/// fits the contract and runs in a dry run — the UDF author's whole loop.
#[test]
#[ignore = "slow tier: builds a plugin with its language's toolchain"]
fn a_new_rust_plugin_builds_checks_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = wafer_cli(dir.path(), &["plugin", "new", "shout-it", "--lang", "rust"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let project = dir.path().join("shout-it");
    // A nested cargo of our own: the outer test's cargo variables are not for it.
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for var in [
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
    ] {
        cargo.env_remove(var);
    }
    let built = cargo
        .current_dir(&project)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    let wasm = project.join("target/wasm32-wasip2/release/shout_it.wasm");
    let out = wafer_cli(dir.path(), &["plugin", "check", wasm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_shouts(dir.path(), &wasm);
}

/// The Python skeleton: its plain-Python tests pass, it builds with the
/// pinned componentize-py, and the component runs in a dry run.
#[test]
#[ignore = "slow tier: builds a plugin with its language's toolchain"]
fn a_new_python_plugin_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = wafer_cli(
        dir.path(),
        &["plugin", "new", "loud-py", "--lang", "python"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let project = dir.path().join("loud-py");
    let python = |args: &[&str]| {
        let out = Command::new("python3")
            .current_dir(&project)
            .env("WAFER_TOOL_CACHE", cache_dir("tools"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "python3 {args:?}: {}", text(&out));
        text(&out)
    };
    assert!(python(&["-m", "unittest"]).contains("Ran 3 tests"));
    python(&["build.py", ".", "loud_py.wasm"]);
    assert_shouts(dir.path(), &project.join("loud_py.wasm"));
}

/// The JavaScript skeleton: its `node --test` tests pass, it builds with the
/// pinned componentize-qjs, and the component runs in a dry run.
#[test]
#[ignore = "slow tier: builds a plugin with its language's toolchain"]
fn a_new_js_plugin_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = wafer_cli(dir.path(), &["plugin", "new", "loud-js", "--lang", "js"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let project = dir.path().join("loud-js");
    let node = |args: &[&str]| {
        let out = Command::new("node")
            .current_dir(&project)
            .env("WAFER_TOOL_CACHE", cache_dir("tools"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "node {args:?}: {}", text(&out));
        text(&out)
    };
    // TAP: the default reporter changed with Node 23.
    assert!(node(&["--test", "--test-reporter=tap"]).contains("# pass 3"));
    node(&["build.mjs", ".", "loud_js.wasm"]);
    assert_shouts(dir.path(), &project.join("loud_js.wasm"));
}

/// The C skeleton: its native test passes, `build.sh` builds it with clang
/// and this wafer, and the component runs in a dry run.
#[test]
#[ignore = "slow tier: builds a plugin with its language's toolchain"]
fn a_new_c_plugin_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = wafer_cli(dir.path(), &["plugin", "new", "loud-c", "--lang", "c"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let project = dir.path().join("loud-c");
    let run = |cmd: &str, args: &[&str]| {
        let out = Command::new(cmd)
            .current_dir(&project)
            .args(args)
            .env("WAFER", env!("CARGO_BIN_EXE_wafer"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd} {args:?}: {}", text(&out));
        text(&out)
    };
    run("cc", &["test_shout.c", "shout.c", "-o", "test_shout"]);
    assert!(run("./test_shout", &[]).contains("2 tests passed"));
    run("./build.sh", &[]);
    assert_shouts(dir.path(), &project.join("loud_c.wasm"));
}

/// A dry run of `wasm` — a skeleton's shouting UDF — on one row.
fn assert_shouts(dir: &Path, wasm: &Path) {
    let config = "[[entity]]\nname = \"item\"\njoin_key = \"id\"\ntype = \"int64\"\n\n[[feature_view]]\nname = \"loud\"\nentity = \"item\"\nfields = [\n  { name = \"id\", type = \"INT64\", primary_key = true },\n  { name = \"title\", type = \"STRING\", transform = { plugin = \"bucketize\", input = \"text\", options = { boundaries = \"1\" } } },\n]\n";
    std::fs::write(dir.join("wafer.toml"), config).unwrap();
    std::fs::write(
        dir.join("rows.jsonl"),
        "{\"id\": 1, \"text\": \"quiet dog\"}\n",
    )
    .unwrap();
    let wasm = wasm.to_str().unwrap();
    let args = [
        "transform",
        "--view",
        "loud",
        "--input",
        "rows.jsonl",
        "--plugin",
        wasm,
    ];
    let out = wafer_cli(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["fields"]["title"], "QUIET DOG");
}

#[test]
fn a_usage_error_is_exit_1_not_the_partial_failure_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = wafer_cli(
        dir.path(),
        &[
            "publish", "--view", "v", "--input", "x.jsonl", "--mode", "replace",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(wafer_cli(dir.path(), &["--help"]).status.code(), Some(0));
}

#[test]
#[ignore = "slow tier: the real local model"]
fn model_pull_copies_and_verifies_a_local_folder() {
    let cache = tempfile::tempdir().unwrap();
    let from = minilm_dir();
    let pull = |from: &Path| {
        Command::new(env!("CARGO_BIN_EXE_wafer"))
            .args(["model", "pull", "all-MiniLM-L6-v2", "--dir"])
            .arg(cache.path())
            .arg("--from")
            .arg(from)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = pull(&from);
    assert!(out.status.success(), "{}", text(&out));
    let dir = cache.path().join("all-MiniLM-L6-v2");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        dir.to_str().unwrap()
    );
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "1_Pooling/config.json",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // Present and verified: nothing is fetched, whatever --from says.
    let out = pull(Path::new("/nonexistent"));
    assert!(out.status.success(), "{}", text(&out));

    // --from is the only source tried: an incomplete folder fails, naming what is missing.
    let partial = tempfile::tempdir().unwrap();
    std::fs::copy(from.join("config.json"), partial.path().join("config.json")).unwrap();
    let other_cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wafer"))
        .args(["model", "pull", "all-MiniLM-L6-v2", "--dir"])
        .arg(other_cache.path())
        .arg("--from")
        .arg(partial.path())
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let e = text(&out);
    assert!(
        e.contains("model.safetensors is missing") && !e.contains("PyPI"),
        "{e}"
    );
    assert!(!other_cache.path().join("all-MiniLM-L6-v2").exists());

    let out = wafer_cli(cache.path(), &["model", "pull", "no-such-model"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("wafer can pull: all-MiniLM-L6-v2"),
        "{}",
        text(&out)
    );
}

/// `transform --watch`: a config change reruns with the new options, a
/// plugin build that does not load is reported while the previous version
/// keeps running (an input change reruns it), and SIGHUP reloads.
#[test]
fn transform_watch_reloads_and_keeps_the_previous_version_on_failure() {
    use std::io::BufRead;
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    // Written whole and renamed into place, as an editor or a build saves:
    // the watcher must never see half a file here.
    let put = |name: &str, bytes: &[u8]| {
        let tmp = dir.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, dir.path().join(name)).unwrap();
    };
    let bucketize = wafer::registry::builtin_plugin("bucketize").unwrap();
    put("udf.wasm", bucketize);
    let config = |boundaries: &str| {
        let body = format!(
            "[[entity]]\nname = \"item\"\njoin_key = \"id\"\ntype = \"int64\"\n\n[[feature_view]]\nname = \"v\"\nentity = \"item\"\nfields = [\n  {{ name = \"id\", type = \"INT64\", primary_key = true }},\n  {{ name = \"b\", type = \"INT64\", transform = {{ plugin = \"udf.wasm\", input = \"x\", options = {{ boundaries = \"{boundaries}\" }} }} }},\n]\n"
        );
        put("wafer.toml", body.as_bytes());
    };
    config("10");
    put(
        "rows.jsonl",
        b"{\"id\": 1, \"x\": 5}\n{\"id\": 2, \"x\": 50}\n",
    );
    let child = wafer_command(dir.path())
        .args([
            "transform",
            "--view",
            "v",
            "--input",
            "rows.jsonl",
            "--watch",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    // Lines from both streams, tagged, in one channel.
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.0.stdout.take().unwrap();
    let stderr = child.0.stderr.take().unwrap();
    for (tag, stream) in [
        ("out", Box::new(stdout) as Box<dyn std::io::Read + Send>),
        ("err", Box::new(stderr)),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(format!("{tag} {line}"));
            }
        });
    }
    // The buckets of the next complete run, in row order, or the stderr line wanted.
    // stdout and stderr are two pipes: a run's rows may arrive before or
    // after its stderr line. Rows seen while waiting for a stderr line wait
    // here for `next_run`.
    let early = std::cell::RefCell::new(std::collections::VecDeque::<String>::new());
    let next_run = |n: usize| -> Vec<i64> {
        let mut got = Vec::new();
        while got.len() < n {
            let queued = early.borrow_mut().pop_front();
            let line = queued.unwrap_or_else(|| {
                rx.recv_timeout(std::time::Duration::from_secs(120))
                    .expect("a dry-run line")
            });
            if let Some(json) = line.strip_prefix("out ") {
                let row: serde_json::Value = serde_json::from_str(json).unwrap();
                got.push(row["fields"]["b"].as_i64().unwrap());
            }
        }
        got
    };
    let stderr_line = |wanted: &str| loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("a stderr line");
        if line.starts_with("err ") && line.contains(wanted) {
            return line;
        }
        if line.starts_with("out ") {
            early.borrow_mut().push_back(line);
        }
    };
    assert_eq!(next_run(2), [0, 1]);
    config("100");
    assert_eq!(next_run(2), [0, 0]);
    put("udf.wasm", b"not a component");
    let why = stderr_line("reload failed");
    assert!(
        why.contains("the previous version stays") && why.contains("udf.wasm"),
        "{why}"
    );
    put(
        "rows.jsonl",
        b"{\"id\": 1, \"x\": 5}\n{\"id\": 2, \"x\": 50}\n{\"id\": 3, \"x\": 500}\n",
    );
    assert_eq!(
        next_run(3),
        [0, 0, 1],
        "the input changed: the previous version reruns"
    );
    put("udf.wasm", bucketize);
    assert_eq!(next_run(3), [0, 0, 1]);
    let hup = Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    // Runs: 1 start, 2 config, (broken build: none), 3 input, 4 fixed build, 5 SIGHUP.
    stderr_line("wafer: run 5");
    assert_eq!(next_run(3), [0, 0, 1]);
    // A run that fails (the input is gone) is reported, and the watch goes on.
    std::fs::remove_file(dir.path().join("rows.jsonl")).unwrap();
    stderr_line("wafer: run 6 failed");
    put("rows.jsonl", b"{\"id\": 4, \"x\": 500}\n");
    assert_eq!(next_run(1), [1]);
}
