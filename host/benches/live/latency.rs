//! The live bench's latencies: how soon a push is readable, and lookups
//! while a large publish runs, each against lookups alone.

use super::{Bench, Took, ms, percentile, publish, rows_file};
use crate::common::p50_p99;
use std::time::{Duration, Instant};

/// Send, acknowledge, then look up: how long until a push is readable.
pub async fn freshness(b: &Bench, rate: usize, n: usize) {
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    let (mut fresh, mut plain) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut tick = tokio::time::interval(every);
    for k in 0..n {
        tick.tick().await;
        let id = 1_000_000 + k;
        let started = Instant::now();
        b.push(id).await;
        let mut tries = 0;
        while !b.lookup(id).await {
            tries += 1;
            assert!(tries < 1000, "push {id} never became visible");
        }
        fresh.push(started.elapsed());
        let started = Instant::now();
        b.lookup(id).await;
        plain.push(started.elapsed());
    }
    fresh.sort();
    plain.sort();
    println!("freshness at {rate} pushes/s, {n} pushes (push sent → lookup sees it):");
    println!("  {}   (goal p99 < 5 ms)", p50_p99(&fresh));
    println!("  a lookup alone, {}", p50_p99(&plain));
}

async fn lookups(
    b: &Bench,
    n: usize,
    stop: Option<&tokio::task::JoinHandle<Took>>,
) -> Vec<Duration> {
    let mut took = Vec::with_capacity(n.min(100_000));
    for k in 0..n {
        if stop.is_some_and(|s| s.is_finished()) {
            break;
        }
        let started = Instant::now();
        b.lookup(k * 7 % 1000).await;
        took.push(started.elapsed());
    }
    took.sort();
    took
}

/// Lookup latency idle, then while a large publish runs.
pub async fn lookup_under_publish(b: &Bench, rows: usize) {
    let n = 2000;
    lookups(b, n, None).await; // warm: connections, caches
    let idle = lookups(b, n, None).await;
    let file = rows_file(&b.dir, "big.jsonl", 2_000_000..2_000_000 + rows);
    let w = b.wafer.clone();
    let publish = tokio::spawn(async move { publish(&w, file).await });
    let busy = lookups(b, usize::MAX / 2, Some(&publish)).await;
    let took = publish.await.unwrap();
    println!(
        "lookups while a {rows}-row publish runs ({:.1} s, {} lookups) vs idle ({n} lookups):",
        took.wall.as_secs_f64(),
        busy.len()
    );
    for p in [0.5, 0.99] {
        let (i, w) = (percentile(&idle, p), percentile(&busy, p));
        println!(
            "  p{:<3} idle {}  during publish {}  ratio {:.2}×",
            (p * 100.0) as u32,
            ms(i),
            ms(w),
            w.as_secs_f64() / i.as_secs_f64()
        );
    }
    println!("  (goal: p99 ratio ≤ 2×)");
}
