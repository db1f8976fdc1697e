//! `cargo bench --bench live`: the live store, each figure against a
//! baseline measured in the same run (the machines are shared and noisy).
//!
//! - push throughput: N rows as one-row `POST /write-to-online-store`
//!   pushes from 64 concurrent clients, through the `passthrough` plugin, vs
//!   one publish of the same N rows from a file. Goal: at least 0.5×. Beside
//!   it, the bound CPU sets: a push takes at least a bare `GET /health`'s
//!   CPU plus a published row's, with every core busy; and, when nginx is
//!   installed, what its `return 200` answers for the same pushes.
//! - freshness: pushes at a steady rate; from sending a push to a lookup
//!   that sees it, p50 and p99, beside the plain lookup's. Goal: p99 < 5 ms.
//! - lookup latency while a large publish runs vs idle, p50 and p99.
//!   Goal: p99 at most 2× idle.
//!
//! `WAFER_BENCH_ROWS` (10000), `WAFER_BENCH_CLIENTS` (64),
//! `WAFER_BENCH_PUBLISH_ROWS` (100000), `WAFER_BENCH_RATE` (500 pushes/s)
//! change the sizes. `LIVE_ONLY=push` runs the one-row pushes alone, and
//! `LIVE_ONLY=publish` the publish of the same rows, for a profiler.

mod common;
#[path = "live/floors.rs"]
mod floors;
#[path = "live/latency.rs"]
mod latency;

use common::{Conn, env, ms, percentile, post, row};
use floors::{health_floor, nginx_floor, one_key_lookups};
use latency::{freshness, lookup_under_publish};
use serde_json::json;
use std::time::{Duration, Instant};
use wafer::Wafer;

/// The view, with limits that take the whole throughput run in one go.
/// One plugin instance a field (`max_instances` must hold two, as a reload
/// runs the old and the new version side by side): the bench runs one write
/// at a time, and the default pool reserves more address space than
/// valgrind can map, while `callgrind` is how its instructions are counted.
fn config() -> String {
    let plugins = "[plugins]\nmax_instances = 2\ninstances_per_field = 1\n";
    let server = "[server]\nmax_rows_per_write = 100000\nwrite_queue_rows = 100000\n";
    format!("{plugins}\n{server}{}", common::passthrough_view(16))
}

fn rows_file(
    dir: &std::path::Path,
    name: &str,
    range: std::ops::Range<usize>,
) -> std::path::PathBuf {
    let body: String = range.map(|i| format!("{}\n", row(i))).collect();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

struct Bench {
    dir: std::path::PathBuf,
    wafer: Wafer,
    url: String,
    client: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Last, so that it is removed after the store is closed: removed while
    /// RocksDB still wrote in it (a publish's flush), it was left behind.
    _dir: tempfile::TempDir,
}

async fn bench() -> Bench {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("wafer.toml"), config()).unwrap();
    let wafer = Wafer::open(&dir.join("wafer.toml")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let w = wafer.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving =
        tokio::spawn(async move { w.serve(listener, async move { _ = stopped.await }).await });
    Bench {
        dir,
        wafer,
        url,
        client: reqwest::Client::new(),
        stop,
        serving,
        _dir: tmp,
    }
}

/// `input` published into the view, timed.
async fn publish(wafer: &Wafer, input: std::path::PathBuf) -> Took {
    let clock = Clock::start();
    common::publish_vec(wafer, input).await;
    clock.stop()
}

impl Bench {
    /// Stops the server, which closes the store on its way out; the
    /// folder goes once the last handle on the store is dropped.
    async fn finish(self) {
        _ = self.stop.send(());
        self.serving.await.unwrap().unwrap();
    }

    async fn push(&self, i: usize) {
        self.push_body(push_body(i..i + 1)).await;
    }

    async fn push_body(&self, body: Vec<u8>) {
        let url = format!("{}/write-to-online-store", self.url);
        let resp = self.client.post(url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }

    async fn connect(&self) -> Conn {
        Conn::open(self.addr()).await
    }

    fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// One lookup of `id`; whether it was found.
    async fn lookup(&self, id: usize) -> bool {
        let body = json!({"features": ["vec:price"], "entities": {"item_id": [id]}});
        let resp = self
            .client
            .post(format!("{}/get-online-features", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let answer: serde_json::Value = resp.json().await.unwrap();
        answer["results"][1]["statuses"][0] == "PRESENT"
    }
}

/// Rows `ids` as Feast's write.
fn push_body(ids: std::ops::Range<usize>) -> Vec<u8> {
    let rows: Vec<serde_json::Value> = ids.map(row).collect();
    let col = |c: &str| rows.iter().map(|r| r[c].clone()).collect::<Vec<_>>();
    let df = json!({"item_id": col("item_id"), "v": col("v"), "price": col("price")});
    serde_json::to_vec(&json!({"feature_view_name": "vec", "df": df})).unwrap()
}

/// Pushes from `clients` concurrent clients vs one publish of the same
/// rows: one row per push, then 100. Beside them, the bound: a push costs
/// at least the CPU of a bare request plus that of a published row.
async fn push_throughput(b: &Bench, n: usize, clients: usize) {
    let file = rows_file(&b.dir, "throughput.jsonl", 0..n);
    let published = publish(&b.wafer, file).await;
    let (rate, cpu) = (|t: Took| t.rate(n), |t: Took| t.cpu_each(n));
    println!("push throughput, {n} rows through passthrough:");
    println!(
        "  publish from a file (baseline)    {:>10.0} rows/s      ({:.1} µs of CPU a row)",
        rate(published),
        cpu(published)
    );
    let floor = health_floor(b, n, clients).await;
    println!(
        "  ({n} GET /health from {clients} clients: {:>8.0} requests/s, {:.1} µs of CPU each: the HTTP floor here)",
        rate(floor),
        cpu(floor)
    );
    nginx_floor(b, n, clients, rate(published)).await;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
    let bound = cores * 1e6 / (cpu(floor) + cpu(published));
    println!(
        "  (the bound, {cores} cores busy with a bare request and a published row each push: {bound:.0} rows/s, {:.2}× the publish)",
        bound / rate(published)
    );
    let reads = one_key_lookups(b, n, clients).await;
    println!(
        "  ({n} one-key lookups from {clients} clients: {:>8.0} requests/s, {:.1} µs of CPU each: a POST beside the pushes)",
        rate(reads),
        cpu(reads)
    );
    push_rows(b, (n, clients), published, bound).await;
}

/// One-row pushes, then 100-row pushes, of `n` new rows each, beside the
/// publish and the bound.
async fn push_rows(b: &Bench, (n, clients): (usize, usize), published: Took, bound: f64) {
    for (k, offset) in [(1, n), (100, 2 * n)] {
        let pushed = pushes(b, offset..offset + n, k, clients).await;
        let ratio = published.wall.as_secs_f64() / pushed.wall.as_secs_f64();
        let besides = match k {
            1 => format!(
                "   (goal ≥ 0.5×; {:.2} of the bound, {:.1} µs of CPU a push)",
                pushed.rate(n) / bound,
                pushed.cpu_each(n)
            ),
            _ => String::new(),
        };
        println!(
            "  {k:>3}-row pushes, {clients} clients      {:>10.0} rows/s  {ratio:.2}×{besides}",
            pushed.rate(n)
        );
    }
}

/// The wall time and the process's CPU time (every thread, RocksDB's
/// background work included, in whichever run it falls) of a run.
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

impl Took {
    /// Rows or requests a second, for `n` of them.
    fn rate(self, n: usize) -> f64 {
        n as f64 / self.wall.as_secs_f64()
    }

    /// Microseconds of CPU each of `n` took. Clients included, as `wrk` on
    /// the same machine would be: the bound is what the machine's cores can
    /// do, whoever spends them.
    fn cpu_each(self, n: usize) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / n as f64
    }
}

/// Started: the wall clock, and the CPU time used so far.
struct Clock(Instant, Duration);

impl Clock {
    fn start() -> Clock {
        Clock(Instant::now(), cpu_time())
    }

    fn stop(self) -> Took {
        Took {
            wall: self.0.elapsed(),
            cpu: cpu_time().saturating_sub(self.1),
        }
    }
}

/// The CPU time this process has used, in microseconds' resolution.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut u), 0, "getrusage");
        u
    };
    let t = |v: libc::timeval| Duration::new(v.tv_sec as u64, v.tv_usec as u32 * 1000);
    t(u.ru_utime) + t(u.ru_stime)
}

/// The time `clients` clients take to push `ids`, `k` rows a push, each
/// sending its next push when the last is answered.
async fn pushes(b: &Bench, ids: std::ops::Range<usize>, k: usize, clients: usize) -> Took {
    // The clients send ready-made requests: the figure is the server's.
    let starts: Vec<usize> = ids.clone().step_by(k).collect();
    let per = starts.len().div_ceil(clients);
    let bodies: Vec<Vec<Vec<u8>>> = starts
        .chunks(per)
        .map(|c| {
            c.iter()
                .map(|s| {
                    post(
                        "/write-to-online-store",
                        &push_body(*s..(s + k).min(ids.end)),
                    )
                })
                .collect()
        })
        .collect();
    let mut conns = Vec::with_capacity(bodies.len());
    for _ in 0..bodies.len() {
        conns.push(b.connect().await);
    }
    let clock = Clock::start();
    let tasks: Vec<_> = bodies
        .into_iter()
        .zip(conns)
        .map(|(bodies, mut conn)| {
            tokio::spawn(async move {
                for request in bodies {
                    assert_eq!(conn.send(&request).await, 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    clock.stop()
}

fn main() {
    wafer::alloc::tune();
    // `cargo bench` passes `--bench`; this binary takes no other arguments.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = bench().await;
        // Plugins compiled and pipelines built before anything is timed.
        assert!(b.wafer.warm_up().await.is_empty());
        let (n, clients) = (
            env("WAFER_BENCH_ROWS", 10_000),
            env("WAFER_BENCH_CLIENTS", 64),
        );
        match std::env::var("LIVE_ONLY").as_deref() {
            Ok("push") => {
                let took = pushes(&b, 0..n, 1, clients).await;
                let rate = took.rate(n);
                println!("1-row pushes, {clients} clients: {rate:.0} rows/s");
            }
            Ok("publish") => {
                let took = publish(&b.wafer, rows_file(&b.dir, "publish.jsonl", 0..n)).await;
                println!("publish from a file: {:.0} rows/s", took.rate(n));
            }
            _ => {
                push_throughput(&b, n, clients).await;
                freshness(&b, env("WAFER_BENCH_RATE", 500), 2000).await;
                lookup_under_publish(&b, env("WAFER_BENCH_PUBLISH_ROWS", 100_000)).await;
            }
        }
        b.finish().await;
    });
}
