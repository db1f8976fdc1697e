//! `cargo bench`: each group pairs a wafer path with its same-run baseline,
//! so the figures that matter are ratios, stable on a noisy shared machine.
//!
//! - lookup: HTTP `/get-online-features` vs a direct `Store::get_many`.
//! - multi_get: one batched read of 100 keys vs 100 single-key reads.
//! - ingest: 256 rows of 64-dim vectors through the Wasm passthrough plugin
//!   and into RocksDB vs the same write path without Wasm (`--no-transform`).
//! - udf: the bucketize UDF in Wasm, from Rust, Python, JavaScript and C
//!   (`examples/udf/{python,js,c}/bucketize`, built here by their SDKs' build scripts
//!   where the toolchains are), and the Rust one as built for contract 0.1
//!   (`tests/fixtures/plugin-0.1`), vs the same Rust function native, at
//!   batch 1 and 1024.
//! - plugin_load: compiling each plugin vs loading it precompiled.
//!
//! `UDF_LANGS=python,js,c` (the default: all) picks which languages' UDFs
//! are built; `UDF_LANGS=none` profiles the Rust plugin alone. A run whose
//! filter picks none of a group's benchmarks builds nothing for it.
//!
//! After criterion's figures, `udf` and `ingest` print each Wasm path's time
//! over its baseline's measured in alternating millisecond slices: steadier
//! on a shared machine than two timings taken seconds apart.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use wafer::Wafer;
use wafer::embed::EmbedService;
use wafer::ingest::{Pipeline, Record};
use wafer::plugin::{Batch, Column, Limits, PluginEngine};
use wafer::store::{EntityKey, WriteMode};
use wafer::time::Micros;
use wafer::value::Value;

const ROWS: i64 = 10_000;
/// The built-in `bucketize` as built for contract 0.1, before 0.2 existed.
const FIXTURE_0_1: &str = "../tests/fixtures/plugin-0.1/bucketize.wasm";

fn records(n: i64, offset: i64) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            line: i as usize + 1,
            cells: vec![
                ("item_id".into(), Value::Int64(offset + i)),
                (
                    "v".into(),
                    Value::Vector((0..64).map(|d| (d as f32 + i as f32) / 100.0).collect()),
                ),
                ("price".into(), Value::Float64(i as f64)),
            ],
        })
        .collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    app: Wafer,
    rt: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wafer.toml"), common::passthrough_view(64)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt
        .block_on(async { Wafer::open(&dir.path().join("wafer.toml")) })
        .unwrap();
    let pipeline = Pipeline::new(&app.registry(), "vec", &app.engine(), true).unwrap();
    for chunk in 0..ROWS / 1000 {
        let t = pipeline.run(records(1000, chunk * 1000), Micros(1), None);
        app.store().write("vec", t.rows, WriteMode::Merge).unwrap();
    }
    Fixture { _dir: dir, app, rt }
}

fn lookup(c: &mut Criterion) {
    let f = fixture();
    let base = f.rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = f.app.clone();
        tokio::spawn(async move { app.serve(listener, std::future::pending()).await });
        format!("http://{addr}/get-online-features")
    });
    let client = reqwest::Client::new();
    let mut g = c.benchmark_group("lookup");
    for n in [1usize, 100] {
        let keys: Vec<i64> = (0..n as i64).map(|i| (i * 97) % ROWS).collect();
        let ekeys: Vec<EntityKey> = keys.iter().map(|k| EntityKey::Int(*k)).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("store_get_many", n), &ekeys, |b, k| {
            b.iter(|| f.app.store().get_many("vec", black_box(k)).unwrap())
        });
        let body = serde_json::to_vec(
            &serde_json::json!({"features": ["vec:v", "vec:price"], "entities": {"item_id": keys}}),
        )
        .unwrap();
        g.bench_with_input(
            BenchmarkId::new("http_get_online_features", n),
            &body,
            |b, body| {
                b.to_async(&f.rt).iter(|| async {
                    client
                        .post(&base)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

fn multi_get(c: &mut Criterion) {
    let f = fixture();
    let keys: Vec<EntityKey> = (0..100).map(|i| EntityKey::Int((i * 97) % ROWS)).collect();
    let mut g = c.benchmark_group("multi_get_100");
    g.throughput(Throughput::Elements(100));
    g.bench_function("batched", |b| {
        b.iter(|| f.app.store().get_many("vec", black_box(&keys)).unwrap())
    });
    g.bench_function("single_gets", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(
                    f.app
                        .store()
                        .get_many("vec", std::slice::from_ref(k))
                        .unwrap(),
                );
            }
        })
    });
    g.finish();
}

fn ingest(c: &mut Criterion) {
    let f = fixture();
    let _rt = f.rt.enter();
    let (registry, engine) = (f.app.registry(), f.app.engine());
    let with_wasm = Pipeline::new(&registry, "vec", &engine, false).unwrap();
    let without = Pipeline::new(&registry, "vec", &engine, true).unwrap();
    let batch = records(256, 0);
    let mut g = c.benchmark_group("ingest_256_rows");
    g.throughput(Throughput::Elements(256));
    // `unchanged`: the rows are already stored with the same inputs, so the
    // incremental path reuses every value instead of calling the plugin.
    let store = Some(&**f.app.store());
    let publish = |p: &Pipeline, reuse| {
        let t = p.run(batch.clone(), Micros(2), reuse);
        assert!(t.failures.is_empty());
        (f.app.store())
            .write("vec", t.rows, WriteMode::Overwrite)
            .unwrap()
    };
    for (name, p, reuse) in [
        ("wasm_passthrough", &with_wasm, None),
        ("native_no_transform", &without, None),
        ("wasm_passthrough_unchanged", &with_wasm, store),
    ] {
        g.bench_function(name, |b| b.iter(|| publish(p, reuse)));
    }
    g.finish();
    if !listing() && picks(["ingest_256_rows/wasm_passthrough".into()]) {
        let ratio = alternating(|| publish(&with_wasm, None), || publish(&without, None));
        println!(
            "ingest_256_rows/wasm_passthrough against native_no_transform, alternating: {ratio:.2}x"
        );
        // The transformation alone: the store write, most of a publish and
        // the same on both sides, left out.
        let run = |p: &Pipeline| p.run(batch.clone(), Micros(2), None);
        let ratio = alternating(|| run(&with_wasm), || run(&without));
        println!(
            "ingest_256_rows: the transformation alone (Pipeline::run), Wasm against none, alternating: {ratio:.2}x"
        );
    }
}

/// `examples/udf/<lang>/bucketize` (`python`, `js` or `c`) as a component, built once
/// per run by its build script; `None` (said on stderr) where it cannot be.
fn bucketize_in(lang: &'static str) -> Option<&'static [u8]> {
    type Built = Option<&'static [u8]>;
    static BUILT: Mutex<Vec<(&str, Built)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if let Some((_, wasm)) = built.iter().find(|(l, _)| *l == lang) {
        return *wasm;
    }
    // `UDF_LANGS=c` (or `none`) builds only those: profiling the Rust
    // plugin alone needs no minute of CPython compiling beside it.
    if std::env::var("UDF_LANGS").is_ok_and(|l| !l.split(',').any(|l| l == lang)) {
        built.push((lang, None));
        return None;
    }
    let (interpreter, script) = match lang {
        "js" => ("node", "build.mjs"),
        "c" => ("bash", "build.sh"),
        _ => ("python3", "build.py"),
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::env::temp_dir().join(format!("wafer-bench-{lang}-{}.wasm", std::process::id()));
    let ok = Command::new(interpreter)
        .arg(repo.join("plugins/sdk").join(lang).join(script))
        .arg(repo.join("examples/udf").join(lang).join("bucketize"))
        .arg(&out)
        // The C build writes bindings and componentizes with this wafer.
        .env("WAFER", env!("CARGO_BIN_EXE_wafer"))
        .status()
        .is_ok_and(|s| s.success());
    let wasm = ok.then(|| std::fs::read(&out).ok()).flatten();
    let _ = std::fs::remove_file(&out);
    if wasm.is_none() {
        eprintln!("the {lang} bucketize did not build: its figures are left out");
    }
    // Built once per run and kept for its rest.
    let wasm: Option<&'static [u8]> = wasm.map(|w| &*Vec::leak(w));
    built.push((lang, wasm));
    wasm
}

/// `udf_bucketize`'s plugins, by benchmark id.
const UDF_IDS: [&str; 5] = [
    "wasm",
    "wasm-contract-0.1",
    "python-wasm",
    "js-wasm",
    "c-wasm",
];

/// The component benchmarked as `id`; `None` where its toolchain is missing.
fn udf_component<'a>(id: &str, contract_0_1: &'a [u8]) -> Option<&'a [u8]> {
    match id {
        "wasm" => wafer::registry::builtin_plugin("bucketize"),
        "wasm-contract-0.1" => Some(contract_0_1),
        "python-wasm" => bucketize_in("python"),
        "js-wasm" => bucketize_in("js"),
        _ => bucketize_in("c"),
    }
}

fn udf(c: &mut Criterion) {
    // Building the UDFs takes minutes (CPython's component): not for a run filtered elsewhere.
    let ids = (UDF_IDS.into_iter().chain(["native"]))
        .flat_map(|id| [1, 1024].map(|n| format!("udf_bucketize/{id}/{n}")));
    if !picks(ids) {
        return;
    }
    let engine = PluginEngine::new(Arc::new(EmbedService::default()), Limits::default()).unwrap();
    let boundaries = "10, 25, 50, 100, 250, 1000";
    let opts = vec![
        ("input".into(), "x".into()),
        ("output".into(), "b".into()),
        ("boundaries".into(), boundaries.into()),
    ];
    let rust_0_1 = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE_0_1)).unwrap();
    let pools: Vec<_> = (UDF_IDS.into_iter())
        .filter_map(|id| {
            let plugin = engine.load(id, udf_component(id, &rust_0_1)?).unwrap();
            Some((id, plugin.pool("bench", opts.clone()).unwrap()))
        })
        .collect();
    let native_b = bucketize::parse_boundaries(boundaries).unwrap();
    let mut g = c.benchmark_group("udf_bucketize");
    for n in [1usize, 1024] {
        let cells = udf_cells(n);
        g.throughput(Throughput::Elements(n as u64));
        for (id, pool) in &pools {
            g.bench_with_input(BenchmarkId::new(*id, n), &cells, |b, cells| {
                b.iter(|| in_wasm(pool, cells))
            });
        }
        g.bench_with_input(BenchmarkId::new("native", n), &cells, |b, cells| {
            b.iter(|| native(&native_b, cells))
        });
    }
    g.finish();
    udf_alternating(&pools, &native_b);
}

fn udf_cells(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| Value::Float64((i * 7 % 1500) as f64))
        .collect()
}

/// Each plugin's 1024-row time over native's, measured alternately.
fn udf_alternating(pools: &[(&str, wafer::plugin::InstancePool)], boundaries: &[f64]) {
    let cells = udf_cells(1024);
    for (id, pool) in pools {
        if !listing() && picks([format!("udf_bucketize/{id}/1024")]) {
            let ratio = alternating(|| in_wasm(pool, &cells), || native(boundaries, &cells));
            println!("udf_bucketize/{id}/1024 against native, alternating: {ratio:.2}x");
        }
    }
}

/// Each side does what the pipeline does around a plugin: typed cells in
/// (read in place, typed into a column once), typed cells out. Both read
/// the cells from the same slice.
fn in_wasm(pool: &wafer::plugin::InstancePool, cells: &[Value]) -> Vec<Value> {
    let batch = Batch {
        rows: cells.len(),
        columns: vec![Column::from_cells("x", cells.iter())],
    };
    let mut out = pool.transform(batch).unwrap();
    out.columns.swap_remove(0).into_values()
}

/// What the plugin does with a float64 column, natively: the same kernel
/// and NaN check (the bench's cells have none), then values.
fn native(boundaries: &[f64], cells: &[Value]) -> Vec<Value> {
    let xs: Vec<f64> = (cells.iter())
        .map(|v| match v {
            Value::Float64(x) => *x,
            _ => f64::NAN,
        })
        .collect();
    assert!(!bucketize::any_nan(&xs), "the bench's cells are numbers");
    (bucketize::bucket_column(boundaries, &xs).into_iter())
        .map(Value::Int64)
        .collect()
}

/// Whether criterion was asked only to list the benchmarks (`--list`):
/// then nothing is measured, the alternating ratios included.
fn listing() -> bool {
    std::env::args().any(|a| a == "--list")
}

/// Whether criterion's filter (its positional argument: a regex, or the
/// whole id under `--exact`) picks any of `ids`; with no filter, all.
fn picks(ids: impl IntoIterator<Item = String>) -> bool {
    const FLAGS: &[&str] = &[
        "--bench",
        "--test",
        "--list",
        "--noplot",
        "--verbose",
        "--quiet",
        "--quick",
        "--discard-baseline",
        "--ignored",
        "--include-ignored",
        "--nocapture",
        "--show-output",
        "-n",
        "-v",
    ];
    let (mut filters, mut exact) = (Vec::new(), false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--exact" {
            exact = true;
        } else if !a.starts_with('-') {
            filters.push(a);
        } else if !a.contains('=') && !FLAGS.contains(&a.as_str()) {
            args.next(); // the option's value
        }
    }
    let Some(filter) = filters.last() else {
        return true;
    };
    // A filter that is no regex: criterion says so; let it.
    let Ok(re) = regex::Regex::new(filter) else {
        return true;
    };
    ids.into_iter().any(|id| {
        if exact {
            id == *filter
        } else {
            re.is_match(&id)
        }
    })
}

/// `a`'s time over `b`'s, measured in alternating slices of about a
/// millisecond each: a neighbour's burst on a shared machine slows both
/// sides of one pair alike, so the median of 301 pairs' ratios is steadier
/// than two timings taken seconds apart.
fn alternating<A, B>(mut a: impl FnMut() -> A, mut b: impl FnMut() -> B) -> f64 {
    // Sized after a warm-up: a pool's first call builds an instance, and a
    // slice sized by it held one call, timed cold after the other side's.
    let per_slice = |f: &mut dyn FnMut()| {
        let warm = std::time::Instant::now();
        while warm.elapsed().as_millis() < 50 {
            f();
        }
        let started = std::time::Instant::now();
        f();
        (1_000_000 / started.elapsed().as_nanos().max(1)).clamp(1, 10_000) as u32
    };
    let (na, nb) = (per_slice(&mut || drop(a())), per_slice(&mut || drop(b())));
    let time = |n: u32, f: &mut dyn FnMut()| {
        let started = std::time::Instant::now();
        (0..n).for_each(|_| f());
        started.elapsed().as_secs_f64() / f64::from(n)
    };
    let mut ratios: Vec<f64> = (0..301)
        .map(|_| {
            let ta = time(na, &mut || drop(black_box(a())));
            ta / time(nb, &mut || drop(black_box(b())))
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// Loading a plugin: compiling the component vs loading it precompiled from
/// the on-disk cache (both followed by linking and pre-instantiation).
fn plugin_load(c: &mut Criterion) {
    // (benchmark name, the built-in's name or the UDF language to build).
    let plugins = [
        ("bucketize", "bucketize"),
        ("llm-embedding", "llm-embedding"),
        ("bucketize-py", "python"),
        ("bucketize-js", "js"),
        ("bucketize-c", "c"),
    ];
    let ids = (["compile", "precompiled"].iter())
        .flat_map(|how| plugins.map(|(name, _)| format!("plugin_load/{how}/{name}")));
    if !picks(ids) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cold = PluginEngine::new(Arc::new(EmbedService::default()), Limits::default()).unwrap();
    let cached = cold.clone().with_cache_dir(Some(dir.path().to_path_buf()));
    let mut g = c.benchmark_group("plugin_load");
    // A Python component takes seconds to compile: the fewest samples criterion allows.
    g.sample_size(10);
    for (name, from) in plugins {
        let wasm = wafer::registry::builtin_plugin(from).or_else(|| match from {
            "python" | "js" | "c" => bucketize_in(from),
            _ => None,
        });
        let Some(wasm) = wasm else { continue };
        cached.load(name, wasm).unwrap(); // fill the cache
        g.bench_function(BenchmarkId::new("compile", name), |b| {
            b.iter(|| cold.load(name, wasm).unwrap())
        });
        g.bench_function(BenchmarkId::new("precompiled", name), |b| {
            b.iter(|| cached.load(name, wasm).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, lookup, multi_get, ingest, udf, plugin_load);

/// `criterion_main!`'s, with the allocator tuned first as the binary's is.
fn main() {
    wafer::alloc::tune();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
