//! `cargo bench -p wafer --bench streams`: a Kafka-protocol source against
//! baselines measured in the same run, on tansu and noida-db brokers started
//! here (the same PyPI wheels the stream tests use).
//!
//! - throughput: N rows through `passthrough` from a topic of P partitions
//!   (produced beforehand in 500-record batches) vs one publish of the same
//!   rows from a file, each into a fresh store with its plugins compiled.
//!   Goal: at least 0.7×.
//! - latency: records produced one at a time at a steady rate into a view
//!   without embedding; from the produce call to the first lookup that
//!   finds the row, p50 and p99, beside the broker's produce round trip
//!   (the floor). Goal: p99 < 50 ms at 1,000 records/s.
//!
//! `WAFER_BENCH_ROWS` (100000), `WAFER_BENCH_PARTITIONS` (4),
//! `WAFER_BENCH_RATE` (1000 records/s) and `WAFER_BENCH_SECONDS` (10)
//! change the sizes.

// The broker harness is the tests' own, so both start brokers one way.
mod common;
#[allow(dead_code)]
#[path = "../../tests/util/kafka.rs"]
mod kafka;
#[path = "../../tests/util/pip.rs"]
mod pip;

use common::{env, p50_p99, row};
use kafka::{Broker, Kind};
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wafer::Wafer;
use wafer::runtime::Lookup;
use wafer::value::Value;

/// Where the broker harness keeps the wheels: the tests' cache, so one
/// install serves both.
fn cache_dir(what: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cache")
        .join(what)
}

/// A fresh store for `config`, plugins compiled before anything is timed.
async fn open(dir: &Path, config: &str) -> Wafer {
    let path = dir.join("wafer.toml");
    std::fs::write(&path, config).unwrap();
    let wafer = Wafer::open(&path).unwrap();
    assert!(wafer.warm_up().await.is_empty());
    wafer
}

/// The passthrough view fed by `topic`; `extra` adds source settings.
fn source(broker: &Broker, topic: &str, extra: &str) -> String {
    format!(
        "{}\n[[source]]\nname = \"bench\"\nbrokers = [\"{}\"]\ntopic = \"{topic}\"\nview = \"vec\"\n{extra}\n",
        common::passthrough_view(16),
        broker.address()
    )
}

/// Whether every partition's stored offset has reached `ends`.
fn caught_up(wafer: &Wafer, ends: &[i64]) -> bool {
    let status = wafer.streams_status();
    let Some(s) = status.sources.first() else {
        return false;
    };
    let at: BTreeMap<i32, i64> = s
        .partitions
        .iter()
        .filter_map(|p| Some((p.partition, p.offset?)))
        .collect();
    ends.iter()
        .enumerate()
        .all(|(p, end)| at.get(&(p as i32)) == Some(end))
}

async fn throughput(broker: &Broker, n: usize, partitions: usize) {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String)> = (0..n)
        .map(|i| (i.to_string(), row(i).to_string()))
        .collect();
    let file = dir.path().join("rows.jsonl");
    let body: String = rows.iter().map(|(_, r)| format!("{r}\n")).collect();
    std::fs::write(&file, body).unwrap();
    let published = publish_time(file).await;
    let consumed = consume_time(broker, &rows, partitions).await;
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("throughput, {n} rows through passthrough:");
    println!(
        "  publish from a file (baseline)          {:>10.0} rows/s",
        rate(published)
    );
    println!(
        "  from a topic of {partitions} partitions             {:>10.0} rows/s  {:.2}×   (goal ≥ 0.7×)",
        rate(consumed),
        published.as_secs_f64() / consumed.as_secs_f64()
    );
}

/// The baseline: `file` published into a new store.
async fn publish_time(file: PathBuf) -> Duration {
    let d = tempfile::tempdir().unwrap();
    let wafer = open(d.path(), &common::passthrough_view(16)).await;
    let started = Instant::now();
    common::publish_vec(&wafer, file).await;
    let took = started.elapsed();
    wafer.close().await.unwrap();
    took
}

/// `rows` produced round-robin over `partitions`, then consumed into a
/// new store: the time from starting the source to its last offset.
async fn consume_time(broker: &Broker, rows: &[(String, String)], partitions: usize) -> Duration {
    broker.create_topic("rows", partitions as i32).await;
    let mut ends = Vec::new();
    for p in 0..partitions {
        let mine: Vec<_> = rows.iter().skip(p).step_by(partitions).cloned().collect();
        broker.produce("rows", p as i32, &mine, 500).await;
        ends.push(mine.len() as i64);
    }
    let d = tempfile::tempdir().unwrap();
    let wafer = open(d.path(), &source(broker, "rows", "")).await;
    let started = Instant::now();
    wafer.start_streams().await;
    let deadline = started + Duration::from_secs(600);
    while !caught_up(&wafer, &ends) {
        assert!(
            Instant::now() < deadline,
            "never caught up: {:?}",
            wafer.streams_status()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = started.elapsed();
    wafer.close().await.unwrap();
    took
}

/// When each record was produced and when a lookup first found its row.
#[derive(Default)]
struct Clock {
    sent: Vec<Option<Instant>>,
    seen: Vec<Option<Duration>>,
    acked: Vec<Duration>,
    done: bool,
}

/// How long the watcher waits, once every record is produced, for the last
/// of them to become readable.
const WATCH_GRACE: Duration = Duration::from_secs(60);

/// Look up every produced but unseen row, again and again, on a thread of
/// its own (an in-process lookup is microseconds: the figure is the
/// stream's, not the watcher's).
fn watch(wafer: Wafer, clock: Arc<Mutex<Clock>>, first: i64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut done_at = None;
        loop {
            let (pending, done): (Vec<usize>, bool) = {
                let c = clock.lock().unwrap();
                let pending = (0..c.sent.len())
                    .filter(|k| c.sent[*k].is_some() && c.seen[*k].is_none())
                    .collect();
                (pending, c.done)
            };
            if pending.is_empty() && done {
                return;
            }
            if done {
                let since = *done_at.get_or_insert_with(Instant::now);
                assert!(
                    since.elapsed() < WATCH_GRACE,
                    "{} rows never became readable",
                    pending.len()
                );
            }
            if !pending.is_empty() {
                let ids = pending.iter().map(|k| Value::Int64(first + *k as i64));
                let req = Lookup {
                    features: vec!["vec:price".into()],
                    feature_service: None,
                    entities: vec![("item_id".into(), ids.collect())],
                };
                let found = wafer.lookup_blocking(&req).unwrap();
                let now = Instant::now();
                let mut c = clock.lock().unwrap();
                for (k, s) in pending.iter().zip(&found.columns[0].statuses) {
                    if *s == wafer::runtime::Status::Present {
                        c.seen[*k] = Some(now - c.sent[*k].unwrap());
                    }
                }
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    })
}

async fn latency(broker: &Broker, rate: usize, seconds: usize, wait_ms: Option<u64>) {
    let n = rate * seconds;
    let first = 10_000_000;
    let topic = format!("steady-{}", wait_ms.unwrap_or(0));
    broker.create_topic(&topic, 1).await;
    let d = tempfile::tempdir().unwrap();
    let wait = wait_ms.map_or(String::new(), |w| format!("fetch_max_wait_ms = {w}"));
    let wafer = open(d.path(), &source(broker, &topic, &wait)).await;
    wafer.start_streams().await;
    let clock = Arc::new(Mutex::new(Clock {
        sent: vec![None; n],
        seen: vec![None; n],
        ..Clock::default()
    }));
    let watcher = watch(wafer.clone(), clock.clone(), first);
    produce_steadily(broker, &topic, rate, first, &clock).await;
    clock.lock().unwrap().done = true;
    tokio::task::spawn_blocking(move || watcher.join().unwrap())
        .await
        .unwrap();
    wafer.close().await.unwrap();

    let mut c = std::mem::take(&mut *clock.lock().unwrap());
    let mut seen: Vec<Duration> = c.seen.iter().map(|s| s.unwrap()).collect();
    seen.sort();
    c.acked.sort();
    let wait = wait_ms.map_or("default".into(), |w| format!("{w} ms"));
    println!(
        "produce → readable on {:?} at {rate} records/s, {n} records, one per produce, fetch_max_wait_ms {wait}:",
        broker.kind
    );
    println!("  produce round trip (floor)  {}", p50_p99(&c.acked));
    println!(
        "  produce → lookup finds it   {}   (goal p99 < 50 ms)",
        p50_p99(&seen)
    );
}

/// One record per produce at `rate` a second, each send and ack timed on
/// `clock`, until its `sent` slots are filled.
async fn produce_steadily(
    broker: &Broker,
    topic: &str,
    rate: usize,
    first: i64,
    clock: &Arc<Mutex<Clock>>,
) {
    let client = broker.client().await;
    let pc = client.partition_client(topic, 0, UnknownTopicHandling::Retry);
    let pc = Arc::new(pc.await.unwrap());
    let n = clock.lock().unwrap().sent.len();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut producing = tokio::task::JoinSet::new();
    for k in 0..n {
        tick.tick().await;
        let record = Record {
            key: Some((first + k as i64).to_string().into_bytes()),
            value: Some(row(first as usize + k).to_string().into_bytes()),
            headers: BTreeMap::new(),
            timestamp: chrono::Utc::now(),
        };
        let (pc, clock) = (pc.clone(), clock.clone());
        producing.spawn(async move {
            let started = Instant::now();
            clock.lock().unwrap().sent[k] = Some(started);
            pc.produce(vec![record], Compression::NoCompression)
                .await
                .unwrap();
            clock.lock().unwrap().acked.push(started.elapsed());
        });
    }
    producing.join_all().await;
}

fn main() {
    wafer::alloc::tune();
    // `cargo bench` passes `--bench`; this binary takes no other arguments.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tansu = Broker::start(Kind::Tansu).await;
        throughput(
            &tansu,
            env("WAFER_BENCH_ROWS", 100_000),
            env("WAFER_BENCH_PARTITIONS", 4),
        )
        .await;
        let noida = Broker::start(Kind::Noida).await;
        let (rate, seconds) = (
            env("WAFER_BENCH_RATE", 1000),
            env("WAFER_BENCH_SECONDS", 10),
        );
        for broker in [&tansu, &noida] {
            for wait in [None, Some(20)] {
                latency(broker, rate, seconds, wait).await;
            }
        }
    });
}
