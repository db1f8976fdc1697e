//! `cargo bench --bench offline`: the offline side, each figure beside a
//! baseline measured in the same run (the machines are shared and noisy).
//! Every run is the release `wafer` binary (or DuckDB) in its own process,
//! so its peak RSS is its own.
//!
//! - publish: the same rows from one Parquet file and from JSON Lines,
//!   rows/s and peak RSS of each.
//! - export: a spine against 3 views × 10 features through `wafer export`,
//!   beside DuckDB's `ASOF LEFT JOIN` over the same logged rows as Parquet
//!   (DuckDB from PyPI, into the bench's cache). Goal: at least DuckDB's
//!   rows/s with less memory.
//!
//! `WAFER_BENCH_ROWS` (1000000, the publish), `WAFER_BENCH_LOGGED`
//! (10000000, over the 3 views), `WAFER_BENCH_SPINE` (1000000),
//! `WAFER_BENCH_KEYS` (100000) change the sizes. Data is made once under
//! `target/bench-offline` and kept.

mod common;

use arrow_array::TimestampMicrosecondArray;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use common::env;
use parquet::arrow::ArrowWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VIEWS: usize = 3;
const FEATURES: usize = 10;
/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600_000_000;

fn main() {
    wafer::alloc::tune();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-offline");
    std::fs::create_dir_all(&root).unwrap();
    publish(&root);
    export(&root);
}

/// A finished child's wall time and peak RSS (wait4's, its own).
fn measure(mut command: Command) -> (Duration, u64) {
    let started = Instant::now();
    // Reaped by wait4 below, which also reports its peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = command.spawn().unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: the pid is our child's; status and usage are ours to write.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed"
    );
    (started.elapsed(), usage.ru_maxrss as u64 * 1024)
}

fn wafer(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wafer"));
    c.current_dir(dir).env("RUST_LOG", "warn").args(args);
    c
}

fn report(what: &str, rows: usize, (took, rss): (Duration, u64)) -> f64 {
    let per_s = rows as f64 / took.as_secs_f64();
    println!(
        "{what:<34} {:>9.0} rows/s  {:>7.1} s  peak RSS {:>6} MiB",
        per_s,
        took.as_secs_f64(),
        rss >> 20
    );
    per_s
}

fn write_parquet(path: &Path, batches: impl Iterator<Item = RecordBatch>) {
    let mut batches = batches.peekable();
    let schema = batches.peek().unwrap().schema();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    for b in batches {
        w.write(&b).unwrap();
    }
    w.close().unwrap();
}

fn config(dir: &Path, views: &str) {
    let body =
        format!("[[entity]]\nname = \"item\"\njoin_key = \"item_id\"\ntype = \"int64\"\n{views}");
    std::fs::write(dir.join("wafer.toml"), body).unwrap();
}

/// Rows `range` of the publish data: a key, a name, two numbers, a time.
fn publish_batch(range: std::ops::Range<usize>) -> RecordBatch {
    let ids: Vec<i64> = range.clone().map(|i| i as i64).collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("item_id", Arc::new(Int64Array::from(ids.clone()))),
        (
            "name",
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("item number {i}")),
            )),
        ),
        (
            "price",
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| *i as f64 * 0.25),
            )),
        ),
        (
            "stock",
            Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i % 97))),
        ),
        (
            "ts",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(ids.iter().map(|i| START + i))
                    .with_timezone("UTC"),
            ),
        ),
    ];
    RecordBatch::try_from_iter(cols).unwrap()
}

fn publish(root: &Path) {
    let n = env("WAFER_BENCH_ROWS", 1_000_000);
    let data = root.join(format!("publish-{n}"));
    if !data.join("rows.jsonl").exists() {
        std::fs::create_dir_all(&data).unwrap();
        let chunks = (0..n)
            .step_by(65536)
            .map(|s| publish_batch(s..(s + 65536).min(n)));
        write_parquet(&data.join("rows.parquet"), chunks);
        let mut jsonl = String::new();
        for i in 0..n {
            let ts = wafer::time::Micros(START + i as i64).rfc3339();
            let row = serde_json::json!({"item_id": i, "name": format!("item number {i}"), "price": i as f64 * 0.25, "stock": i % 97, "ts": ts});
            jsonl.push_str(&format!("{row}\n"));
        }
        std::fs::write(data.join("rows.tmp"), jsonl).unwrap();
        std::fs::rename(data.join("rows.tmp"), data.join("rows.jsonl")).unwrap();
    }
    println!("publish of {n} rows (item_id, name, price, stock, ts), one process each:");
    let view = "[[feature_view]]\nname = \"items\"\nentity = \"item\"\nevent_time = \"ts\"\nbatch_size = 4096\nfields = [\n  { name = \"item_id\", type = \"INT64\", primary_key = true },\n  { name = \"name\", type = \"STRING\" },\n  { name = \"price\", type = \"DOUBLE\" },\n  { name = \"stock\", type = \"INT64\" },\n]\n";
    let mut rates = Vec::new();
    for (input, store) in [
        ("rows.jsonl", ""),
        ("rows.parquet", ""),
        ("rows.parquet", "[store]\noffline_log = false\n"),
    ] {
        let dir = tempfile::tempdir_in(root).unwrap();
        config(dir.path(), &format!("{store}{view}"));
        let file = data.join(input);
        let args = [
            "publish",
            "--view",
            "items",
            "--input",
            file.to_str().unwrap(),
        ];
        let what = format!(
            "  {input}{}",
            if store.is_empty() {
                ""
            } else {
                ", offline log off"
            }
        );
        rates.push(report(&what, n, measure(wafer(dir.path(), &args))));
    }
    println!(
        "  Parquet / JSON Lines: {:.2}x the rows/s",
        rates[1] / rates[0]
    );
    println!(
        "  the offline log's cost: {:.2}x the rows/s without it\n",
        rates[1] / rates[2]
    );
}

/// Logged rows `range` of one view: `keys` keys, each written again every
/// hour of event time, all ten features each time.
fn view_batch(range: std::ops::Range<usize>, keys: usize, view: usize) -> RecordBatch {
    let ids: Vec<i64> = range.clone().map(|i| (i % keys) as i64).collect();
    let ts = range
        .clone()
        .map(|i| START + (i / keys) as i64 * 3_600_000_000 + view as i64);
    let mut cols: Vec<(String, ArrayRef)> = vec![
        ("item_id".into(), Arc::new(Int64Array::from(ids))),
        (
            "ts".into(),
            Arc::new(TimestampMicrosecondArray::from_iter_values(ts).with_timezone("UTC")),
        ),
    ];
    for f in 0..FEATURES {
        let values = range.clone().map(|i| (i * (f + 1)) as f64 * 0.5);
        cols.push((
            format!("f{f}"),
            Arc::new(Float64Array::from_iter_values(values)),
        ));
    }
    RecordBatch::try_from_iter(cols).unwrap()
}

/// The spine: random keys at random times within the logged hours.
fn spine_batch(range: std::ops::Range<usize>, keys: usize, hours: i64) -> RecordBatch {
    let mut rng = fastrand::Rng::with_seed(range.start as u64);
    let n = range.len();
    let ids: Vec<i64> = (0..n).map(|_| rng.i64(0..keys as i64)).collect();
    let ts: Vec<i64> = (0..n)
        .map(|_| START + rng.i64(0..hours * 3_600_000_000))
        .collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("item_id", Arc::new(Int64Array::from(ids))),
        (
            "event_timestamp",
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        ),
        (
            "label",
            Arc::new(Int64Array::from_iter_values(range.map(|i| (i % 2) as i64))),
        ),
    ];
    RecordBatch::try_from_iter(cols).unwrap()
}

fn view_config() -> String {
    let mut s = String::new();
    for v in 0..VIEWS {
        s.push_str(&format!("[[feature_view]]\nname = \"v{v}\"\nentity = \"item\"\nevent_time = \"ts\"\nbatch_size = 4096\nfields = [\n  {{ name = \"item_id\", type = \"INT64\", primary_key = true }},\n"));
        for f in 0..FEATURES {
            s.push_str(&format!("  {{ name = \"f{f}\", type = \"DOUBLE\" }},\n"));
        }
        s.push_str("]\n");
    }
    s
}

/// The store with every view's rows logged, made once.
fn logged_store(root: &Path, logged: usize, keys: usize) -> PathBuf {
    let dir = root.join(format!("export-{logged}-{keys}"));
    let done = dir.join("published");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    config(&dir, &view_config());
    let per_view = logged / VIEWS;
    for v in 0..VIEWS {
        let folder = dir.join(format!("v{v}"));
        std::fs::create_dir_all(&folder).unwrap();
        for (part, start) in (0..per_view).step_by(1 << 20).enumerate() {
            let end = (start + (1 << 20)).min(per_view);
            let chunks = (start..end)
                .step_by(65536)
                .map(|s| view_batch(s..(s + 65536).min(end), keys, v));
            write_parquet(&folder.join(format!("part-{part:03}.parquet")), chunks);
        }
        let args = [
            "publish",
            "--view",
            &format!("v{v}"),
            "--input",
            folder.to_str().unwrap(),
        ];
        report(
            &format!("  (set-up) publish v{v}"),
            per_view,
            measure(wafer(&dir, &args)),
        );
    }
    std::fs::write(done, "").unwrap();
    dir
}

/// DuckDB from PyPI, into the bench's cache; its `PYTHONPATH`.
fn duckdb(root: &Path) -> PathBuf {
    let site = root.join("duckdb-site");
    if !site.join("duckdb").exists() {
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--target"])
            .arg(&site)
            .arg("duckdb")
            .status()
            .unwrap();
        assert!(ok.success(), "pip install duckdb");
    }
    site
}

fn export(root: &Path) {
    let (logged, spine_rows, keys) = (
        env("WAFER_BENCH_LOGGED", 10_000_000),
        env("WAFER_BENCH_SPINE", 1_000_000),
        env("WAFER_BENCH_KEYS", 100_000),
    );
    println!(
        "export of {spine_rows} spine rows, {VIEWS} views x {FEATURES} features, {logged} logged rows over {keys} keys:"
    );
    let dir = logged_store(root, logged, keys);
    let hours = (logged / VIEWS / keys).max(1) as i64;
    let spine = dir.join(format!("spine-{spine_rows}.parquet"));
    if !spine.exists() {
        let chunks = (0..spine_rows)
            .step_by(65536)
            .map(|s| spine_batch(s..(s + 65536).min(spine_rows), keys, hours));
        write_parquet(&spine, chunks);
    }
    let features: Vec<String> = (0..VIEWS)
        .flat_map(|v| (0..FEATURES).map(move |f| format!("v{v}:f{f}")))
        .collect();
    let out = dir.join("train.parquet");
    let args = [
        "export",
        "--spine",
        spine.to_str().unwrap(),
        "--features",
        &features.join(","),
        "--out",
        out.to_str().unwrap(),
        "--full-feature-names",
    ];
    let ours = report("  wafer export", spine_rows, measure(wafer(&dir, &args)));

    let site = duckdb(root);
    let mut select = String::from("s.*");
    let mut joins = String::new();
    for v in 0..VIEWS {
        for f in 0..FEATURES {
            select.push_str(&format!(", v{v}.f{f} AS v{v}__f{f}"));
        }
        joins.push_str(&format!(" ASOF LEFT JOIN read_parquet('{}/v{v}/*.parquet') v{v} ON s.item_id = v{v}.item_id AND s.event_timestamp >= v{v}.ts", dir.display()));
    }
    let sql = format!(
        "COPY (SELECT {select} FROM read_parquet('{}') s{joins}) TO '{}' (FORMAT parquet)",
        spine.display(),
        dir.join("duck.parquet").display()
    );
    let mut py = Command::new("python3");
    py.env("PYTHONPATH", &site)
        .args(["-c", &format!("import duckdb; duckdb.sql({sql:?})")]);
    let theirs = report("  DuckDB ASOF LEFT JOIN", spine_rows, measure(py));
    println!("  wafer / DuckDB: {:.2}x the rows/s", ours / theirs);
}
