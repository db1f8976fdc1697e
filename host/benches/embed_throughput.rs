//! `cargo bench --bench embed_throughput`: how close `EmbedService` gets to
//! the throughput its `[[llm]]` limits allow, and what the embedding cache saves.
//!
//! An in-process OpenAI-compatible `/v1/embeddings` endpoint answers every
//! request after a fixed latency L. With `concurrency` requests of
//! `batch_size` texts in flight, no client can do better than
//! `concurrency * batch_size / L` texts/s, so the figure that matters is the
//! measured throughput as a percentage of that bound: it isolates the
//! service's own overhead (planning, hashing, task spawning, the semaphore,
//! HTTP, JSON) and stays comparable across machines, where absolute texts/s
//! would mostly measure the machine. The endpoint also records the peak
//! number of requests in flight, which must never exceed `concurrency`.
//!
//! The second run embeds the same texts twice through a RocksDB-backed
//! cache: cold (every text a miss) and warm (every text a hit, no requests).
//!
//! Environment: WAFER_BENCH_LATENCY_MS (50), WAFER_BENCH_TEXTS (30000),
//! WAFER_BENCH_CONCURRENCY (30), WAFER_BENCH_BATCH (10). Arguments are ignored.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wafer::config::Config;
use wafer::embed::EmbedService;
use wafer::store::Store;

const LLM: &str = "bench";
const DIMS: usize = 8;

fn env_or(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// What the fake endpoint saw.
#[derive(Default)]
struct Counters {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    requests: AtomicUsize,
    /// Time spent in the latency sleeps: what L really was.
    slept_us: AtomicU64,
}

#[derive(Clone)]
struct Endpoint {
    latency: Duration,
    counters: Arc<Counters>,
}

/// Decrements the in-flight count however the handler ends.
struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn embeddings(State(ep): State<Endpoint>, Json(body): Json<Value>) -> Json<Value> {
    let c = &*ep.counters;
    c.requests.fetch_add(1, Ordering::SeqCst);
    let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    c.peak.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(c);
    let t = Instant::now();
    tokio::time::sleep(ep.latency).await;
    (c.slept_us).fetch_add(t.elapsed().as_micros() as u64, Ordering::SeqCst);
    let dims = body["dimensions"].as_u64().map_or(DIMS, |d| d as usize);
    let inputs = body["input"].as_array().cloned().unwrap_or_default();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let seed = t.as_str().unwrap_or("").len() as f32;
            let v: Vec<f32> = (0..dims).map(|d| seed + d as f32 + 1.0).collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"]}))
}

/// The endpoint on 127.0.0.1:0, on a runtime of its own (so the measured
/// runtime only runs the client); returns its base URL.
fn start_endpoint(latency: Duration, counters: Arc<Counters>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let app = Router::new()
                .route("/v1/embeddings", post(embeddings))
                .with_state(Endpoint { latency, counters });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}/v1", rx.recv().expect("endpoint started"))
}

/// The `[[llm]]` as a user would write it, loaded through `Config::load`.
fn load_config(dir: &std::path::Path, base_url: &str, concurrency: usize, batch: usize) -> Config {
    let toml = format!(
        r#"
[[llm]]
name = "{LLM}"
base_url = "{base_url}"
model = "bench-embedding"
concurrency = {concurrency}
batch_size = {batch}
dimensions = {DIMS}
max_attempts = 1
timeout_secs = 120

[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "items"
entity = "item"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "text_vec", type = "ARRAY<FLOAT>", dimensions = {DIMS}, transform = {{ plugin = "llm-embedding", llm = "{LLM}", input = "text" }} }},
]
"#
    );
    let path = dir.join("wafer.toml");
    std::fs::write(&path, toml).expect("write config");
    Config::load(&path).unwrap_or_else(|e| panic!("bench config: {e}"))
}

/// One `embed` call over `texts`: wall time and requests the endpoint received.
async fn timed(svc: &EmbedService, texts: &[String], counters: &Counters) -> (Duration, usize) {
    let before = counters.requests.load(Ordering::SeqCst);
    let texts = texts.to_vec();
    let t = Instant::now();
    let out = svc.embed(LLM, texts).await;
    let wall = t.elapsed();
    if let Some(e) = out.iter().find_map(|r| r.as_ref().err()) {
        panic!("a text failed: {e}");
    }
    assert!(out.iter().flatten().all(|v| v.len() == DIMS));
    (wall, counters.requests.load(Ordering::SeqCst) - before)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let latency_ms = env_or("WAFER_BENCH_LATENCY_MS", 50);
    let n = env_or("WAFER_BENCH_TEXTS", 30_000);
    let concurrency = env_or("WAFER_BENCH_CONCURRENCY", 30);
    let batch = env_or("WAFER_BENCH_BATCH", 10);
    let latency = Duration::from_millis(latency_ms as u64);

    let counters = Arc::new(Counters::default());
    let base_url = start_endpoint(latency, counters.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = load_config(dir.path(), &base_url, concurrency, batch);
    let texts: Vec<String> = (0..n).map(|i| format!("text {i}")).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("client runtime");

    let bound = (concurrency * batch) as f64 / latency.as_secs_f64();
    println!(
        "embed_throughput: {n} texts, L = {latency_ms} ms, concurrency = {concurrency}, \
         batch_size = {batch}, dims = {DIMS}"
    );

    // 1. Throughput against the bound, no cache.
    let svc = EmbedService::new(&config.llms, config.base_dir(), None);
    let (wall, requests) = rt.block_on(timed(&svc, &texts, &counters));
    let tput = rate(n, wall);
    let peak = counters.peak.load(Ordering::SeqCst);
    println!("\n[no cache]");
    println!("  wall time        {:>10.3} s", wall.as_secs_f64());
    println!("  throughput       {tput:>10.0} texts/s");
    println!("  bound            {bound:>10.0} texts/s  (concurrency * batch_size / L)");
    let pct = |bound: f64| 100.0 * tput / bound;
    println!("  ratio            {:>10.1} % of bound", pct(bound));
    // tokio's timer ticks in whole ms, so each sleep overshoots L a little:
    // the bound at the latency the endpoint really had is the service's own share.
    let slept_ms = counters.slept_us.load(Ordering::SeqCst) as f64 / 1e3 / requests.max(1) as f64;
    let real_bound = (concurrency * batch) as f64 / slept_ms * 1e3;
    println!(
        "  L as slept       {slept_ms:>10.2} ms  (bound {real_bound:.0} texts/s, ratio {:.1} %)",
        pct(real_bound)
    );
    println!("  peak in flight   {peak:>10} (limit {concurrency})");
    println!(
        "  requests         {requests:>10} at the endpoint, {} by stats() (expected {})",
        svc.stats().requests,
        n.div_ceil(batch)
    );

    // 2. The cache: the same texts cold, then warm.
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(store_dir.path(), std::iter::empty::<&str>()).expect("open store");
    let cached = EmbedService::new(&config.llms, config.base_dir(), Some(Arc::new(store)));
    let (cold, cold_req) = rt.block_on(timed(&cached, &texts, &counters));
    let (warm, warm_req) = rt.block_on(timed(&cached, &texts, &counters));
    let stats = cached.stats();
    println!("\n[cache]");
    println!(
        "  cold             {:>10.3} s  {:>10.0} texts/s  {cold_req:>6} requests",
        cold.as_secs_f64(),
        rate(n, cold)
    );
    println!(
        "  warm             {:>10.3} s  {:>10.0} texts/s  {warm_req:>6} requests",
        warm.as_secs_f64(),
        rate(n, warm)
    );
    let speedup = cold.as_secs_f64() / warm.as_secs_f64();
    println!("  speedup          {speedup:>10.1} x");
    let (hits, misses) = (stats.cache_hits, stats.cache_misses);
    println!("  hits / misses    {hits:>10} / {misses}");

    let peak = counters.peak.load(Ordering::SeqCst);
    let mut ok = true;
    if peak > concurrency {
        println!(
            "\n!!! LIMIT EXCEEDED: {peak} requests in flight, concurrency is {concurrency} !!!"
        );
        ok = false;
    }
    if warm_req != 0 {
        println!("\n!!! warm pass sent {warm_req} requests, expected 0 !!!");
        ok = false;
    }
    if !ok {
        std::process::exit(1);
    }
}
