//! Local model throughput: sentences per second through the embedding
//! service (planning, token counting, batching, inference) at batch 1, 10
//! and 32 on one thread, beside sentence-transformers (PyTorch CPU, one
//! thread) on the same sentences in the same run, and the process RSS with
//! the model loaded. Python's side needs `sentence-transformers` in the
//! interpreter named by `WAFER_BENCH_PYTHON` (default `python3`); without it
//! only wafer's figures are printed.
//!
//! The bench sets up threads as the `wafer` binary does: candle's
//! element-wise ops on the calling thread (`CANDLE_NUM_THREADS=1`), and the
//! model's pool of `WAFER_BENCH_THREADS` (default 1); `RAYON_NUM_THREADS`,
//! which sizes gemm's split of one product, is set to the same number.
//! `WAFER_BENCH_CONCURRENCY` (default 1) sets the calls at once, and
//! `WAFER_BENCH_RUNS` (default 3) the timed runs per figure.
//!
//!     cargo bench --bench local_embed
//!     WAFER_BENCH_THREADS=2 cargo bench --bench local_embed   # wafer on both cores

use std::path::Path;
use std::time::Instant;
use wafer::config::Config;
use wafer::embed::EmbedService;

const BATCHES: [usize; 3] = [1, 10, 32];

fn main() {
    let threads: usize = std::env::var("WAFER_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    // SAFETY: no other thread exists yet (the runtime starts below).
    unsafe {
        wafer::embed::run_candle_on_calling_threads();
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let model = rt
        .block_on(wafer::embed::local::files::pull(
            "all-MiniLM-L6-v2",
            &wafer::embed::local::files::cache_dir(),
            None,
        ))
        .expect("pull all-MiniLM-L6-v2");
    let sentences = reviews();
    let tmp = tempfile::tempdir().unwrap();
    let rss_before = rss_mb();
    let mut rss_loaded: f64 = 0.0;
    let mut rows = Vec::new();
    {
        for batch in BATCHES {
            let embed = service(tmp.path(), &model, batch, threads);
            // Load the model and warm up outside the timing.
            let _ = rt.block_on(embed.embed("m", sentences[..8].to_vec()));
            let best = (0..runs())
                .map(|_| {
                    let t = Instant::now();
                    let out = rt.block_on(embed.embed("m", sentences.clone()));
                    assert!(out.iter().all(Result::is_ok));
                    sentences.len() as f64 / t.elapsed().as_secs_f64()
                })
                .fold(0.0, f64::max);
            rows.push((threads, batch, best));
            rss_loaded = rss_loaded.max(rss_mb());
        }
    }
    let st = sentence_transformers(&model, &sentences, tmp.path(), threads);
    println!(
        "local model all-MiniLM-L6-v2, {} review sentences",
        sentences.len()
    );
    println!(
        "threads batch  wafer/s  sentence-transformers/s  ratio (both on {threads} thread(s))"
    );
    for (threads, batch, wafer) in rows {
        let st = st
            .as_ref()
            .and_then(|s| s["per_second"][batch.to_string()].as_f64());
        let (st_s, ratio) = st.map_or(("-".into(), "-".into()), |s| {
            (format!("{s:.1}"), format!("{:.2}x", wafer / s))
        });
        println!("{threads:>7} {batch:>5} {wafer:>8.1} {st_s:>24} {ratio:>6}");
    }
    println!(
        "RSS: wafer {rss_before:.0} MB before the model, {rss_loaded:.0} MB at most with it loaded and run"
    );
    match st {
        Some(s) => println!(
            "RSS: python {:.0} MB with the model loaded, {:.0} MB after the runs",
            s["rss_mb"].as_f64().unwrap_or(0.0),
            s["rss_mb_after"].as_f64().unwrap_or(0.0)
        ),
        None => println!("sentence-transformers: not run (see above)"),
    }
}

/// Timed runs per figure, best kept (`WAFER_BENCH_RUNS`, default 3): the
/// machines are shared, and the best run is the one least disturbed.
fn runs() -> usize {
    std::env::var("WAFER_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

/// A service with one local `[[llm]]` "m" and no cache, so every run computes.
fn service(dir: &Path, model: &Path, batch: usize, threads: usize) -> EmbedService {
    let cfg = dir.join(format!("b{batch}t{threads}.toml"));
    let concurrency = std::env::var("WAFER_BENCH_CONCURRENCY").unwrap_or_else(|_| "1".into());
    std::fs::write(
        &cfg,
        format!(
            "[[llm]]\nname = \"m\"\nprovider = \"local\"\nmodel = \"all-MiniLM-L6-v2\"\nmodel_dir = {model:?}\nbatch_size = {batch}\nthreads = {threads}\nconcurrency = {concurrency}\n"
        ),
    )
    .unwrap();
    let config = Config::load(&cfg).unwrap();
    EmbedService::new(&config.llms, config.base_dir(), None)
}

fn reviews() -> Vec<String> {
    include_str!("../../examples/quickstart/reviews.jsonl")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["review_text"].as_str().unwrap().to_string()
        })
        .collect()
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn sentence_transformers(
    model: &Path,
    sentences: &[String],
    tmp: &Path,
    threads: usize,
) -> Option<serde_json::Value> {
    let python = std::env::var("WAFER_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let file = tmp.join("sentences.json");
    std::fs::write(&file, serde_json::to_string(sentences).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/st_baseline.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(model)
        .arg(&file)
        .arg(threads.to_string())
        .args(BATCHES.map(|b| b.to_string()))
        .output();
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            eprintln!(
                "{python}: sentence-transformers baseline failed (pip install sentence-transformers, or set WAFER_BENCH_PYTHON): {}",
                err.lines().last().unwrap_or_default()
            );
            None
        }
        Err(e) => {
            eprintln!("cannot run {python}: {e}");
            None
        }
    }
}
