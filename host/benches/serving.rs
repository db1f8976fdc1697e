//! The lookup hot path, measured in one run against its floors (issue 12):
//! (a) a 1-entity × 3-feature lookup in process, (b) the same over HTTP,
//! (c) the HTTP floors: a trivial handler served by `axum::serve` answering
//! the same bytes, the same after reading the request's body (which any
//! POST handler must, and which costs hyper and Tokio a wake-up that
//! wafer's own accept loop absorbs: `host/src/serve/conn.rs`), and
//! nginx's `return 200` when nginx is installed,
//! (d) `redis-benchmark -t get` against Debian's `redis-server`, when
//! installed (`apt-get install redis-server nginx`), and a 100 × 50 lookup
//! beside the axum floor answering its bytes.
//! Over one keep-alive connection and over 64; the client is as light as
//! `wrk` and shares the machine with the server, as wrk would.
//!
//! `cargo bench -p wafer --bench serving`; sizes: `SERVING_N` (requests per
//! figure, default 20000); `SERVING_ONLY=large` (or `small`, `inprocess`)
//! runs the 100 × 50 (or 1 × 3 over HTTP, 1 × 3 in process) lookup alone,
//! `SERVING_N` times over `SERVING_CONNS` connections (default 1), for a
//! profiler.

#[path = "common/mod.rs"]
mod common;

use common::{Conn, Reaped, connect, env, nginx, percentile, post, send_all};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wafer::Wafer;
use wafer::runtime::Lookup;
use wafer::value::Value;

const FEATURES: usize = 50;
const ROWS: usize = 10_000;

/// The store the lookups read. One plugin instance at most (there are no
/// plugins): the default pool reserves more address space than valgrind
/// can map, and `callgrind` is how this bench's instructions are counted.
fn config() -> String {
    let fields: String = (0..FEATURES)
        .map(|f| format!("  {{ name = \"f{f}\", type = \"DOUBLE\" }},\n"))
        .collect();
    format!(
        "[plugins]\nmax_instances = 1\n\n[server]\nmax_concurrent_requests = 4096\n\n[[entity]]\nname = \"item\"\njoin_key = \"item_id\"\ntype = \"int64\"\n\n\
         [[feature_view]]\nname = \"feat\"\nentity = \"item\"\nfields = [\n  {{ name = \"item_id\", type = \"INT64\", primary_key = true }},\n{fields}]\n"
    )
}

async fn open(dir: &std::path::Path) -> Wafer {
    std::fs::write(dir.join("wafer.toml"), config()).unwrap();
    let rows: String = (0..ROWS)
        .map(|i| {
            let mut row = serde_json::json!({"item_id": i});
            for f in 0..FEATURES {
                row[format!("f{f}")] = serde_json::json!((i * 31 + f) as f64 / 7.0);
            }
            format!("{row}\n")
        })
        .collect();
    std::fs::write(dir.join("rows.jsonl"), rows).unwrap();
    let wafer = Wafer::open(&dir.join("wafer.toml")).unwrap();
    let req = wafer::ingest::PublishRequest {
        view: "feat".into(),
        input: dir.join("rows.jsonl"),
        format: None,
        partition: None,
        mode: wafer::store::WriteMode::Merge,
        no_transform: false,
    };
    assert_eq!(wafer.publish(req, |_| {}).await.unwrap().failed(), 0);
    wafer
}

/// A lookup of `features` features for `keys` keys, as an HTTP request.
fn lookup_request(keys: usize, features: usize) -> Vec<u8> {
    let features: Vec<String> = (0..features).map(|f| format!("feat:f{f}")).collect();
    let ids: Vec<usize> = (0..keys).map(|k| (k * 97) % ROWS).collect();
    let body = serde_json::json!({"features": features, "entities": {"item_id": ids}});
    post("/get-online-features", body.to_string().as_bytes())
}

/// Serve `app` on 127.0.0.1:0; its address.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// What `clients` keep-alive connections measure sending `request` `n`
/// times in all: requests per second and every request's latency.
struct Run {
    per_sec: f64,
    latencies: Vec<Duration>,
}

impl Run {
    fn p(&self, q: f64) -> String {
        format!(
            "{:.0} µs",
            percentile(&self.latencies, q).as_secs_f64() * 1e6
        )
    }
}

async fn run(addr: &str, request: &[u8], n: usize, clients: usize) -> Run {
    let conns = connect(addr, request, clients).await;
    let started = Instant::now();
    let mut latencies = send_all(conns, request, n).await;
    let per_sec = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    Run { per_sec, latencies }
}

fn in_process(wafer: &Wafer, n: usize, keys: usize, features: usize) -> f64 {
    let req = Lookup {
        features: (0..features).map(|f| format!("feat:f{f}")).collect(),
        feature_service: None,
        entities: vec![(
            "item_id".into(),
            (0..keys)
                .map(|k| Value::Int64(((k * 97) % ROWS) as i64))
                .collect(),
        )],
    };
    let started = Instant::now();
    for _ in 0..n {
        wafer.lookup_blocking(&req).unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// `redis-benchmark -t get` with `clients` connections against a
/// `redis-server` of its own, if both are installed: GETs per second.
fn redis_get(n: usize, clients: usize) -> Option<f64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let _server = Reaped(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .ok()?,
    );
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-t",
            "get",
            "-q",
            "-n",
            &n.to_string(),
        ])
        .args(["-c", &clients.to_string()])
        .output();
    let text = String::from_utf8(out.ok()?.stdout).ok()?;
    // "GET: 91743.12 requests per second, p50=0.343 msec"
    let line = text
        .rsplit('\r')
        .find(|l| l.contains("requests per second"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn row(what: &str, r: &Run, goal: &str) {
    println!(
        "  {what:<34} {:>9.0} req/s  p50 {:>7}  p99 {:>7}  {goal}",
        r.per_sec,
        r.p(0.5),
        r.p(0.99)
    );
}

async fn bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let wafer = open(dir.path()).await;
    let addr = serve_wafer(&wafer).await;
    let one = lookup_request(1, 3);
    let mut probe = Conn::open(&addr).await;
    assert_eq!(probe.send(&one).await, 200);
    let answer = probe.body.clone();
    if profile(&wafer, &addr, &one, n).await {
        return;
    }
    let mut floors = vec![
        ("axum, same bytes", floor(&answer, false).await),
        ("axum reading the body", floor(&answer, true).await),
    ];
    let nginx = nginx(dir.path(), &answer);
    if let Some((_, a)) = &nginx {
        floors.push(("nginx return 200", a.clone()));
    }
    let per_sec = tokio::task::block_in_place(|| in_process(&wafer, n, 1, 3));
    let big_per_sec = tokio::task::block_in_place(|| in_process(&wafer, n / 10, 100, FEATURES));
    println!("serving, {ROWS} rows of {FEATURES} float64 features, {n} requests per figure:");
    println!("  (a) 1 × 3 in process                {per_sec:>9.0} lookups/s");
    println!("  (a) 100 × 50 in process             {big_per_sec:>9.0} lookups/s");
    for clients in [1, 64] {
        over(clients, &floors, &addr, &one, n).await;
    }
    large(&addr, n / 10).await;
}

/// The 100 × 50 lookup over one connection, beside the floor answering its
/// bytes: how much of its latency is moving a 300 KB answer at all.
async fn large(addr: &str, n: usize) {
    let request = lookup_request(100, FEATURES);
    let mut probe = Conn::open(addr).await;
    assert_eq!(probe.send(&request).await, 200);
    let floor_addr = floor(&probe.body, false).await;
    let floor = run(&floor_addr, &request, n, 1).await;
    let big = run(addr, &request, n, 1).await;
    println!(
        " 100 × 50, 1 connection, a {} KB answer:",
        probe.body.len() / 1000
    );
    row("(c) floor: axum, same bytes", &floor, "");
    row("100 × 50 over HTTP", &big, "(goal p99 ≤ 0.6 ms)");
    let p99 = |r: &Run| percentile(&r.latencies, 0.99).as_secs_f64();
    println!("        p99 = {:.2}× the floor's", p99(&big) / p99(&floor));
}

/// The 1 × 3 lookup over `clients` connections, each floor beside it, and
/// redis' GET.
async fn over(clients: usize, floors: &[(&str, String)], addr: &str, one: &[u8], n: usize) {
    println!(" {clients} connection(s):");
    let mut measured = Vec::new();
    for (name, floor_addr) in floors {
        let floor = run(floor_addr, one, n, clients).await;
        row(&format!("(c) floor: {name}"), &floor, "");
        measured.push((*name, floor));
    }
    let http = run(addr, one, n, clients).await;
    let goal = match clients {
        1 => "(goal ≥ 0.9× a floor)",
        _ => "(goal ≥ 0.6× a floor, p99 ≤ 2 ms)",
    };
    row("(b) 1 × 3 over HTTP", &http, goal);
    for (name, floor) in &measured {
        println!("        = {:.2}× {name}", http.per_sec / floor.per_sec);
    }
    let goal = if clients == 64 {
        "  (goal ≥ 0.75×)"
    } else {
        ""
    };
    match tokio::task::block_in_place(|| redis_get(n, clients)) {
        Some(r) => println!(
            "  (d) redis-benchmark -t get          {r:>9.0} req/s   wafer 1 × 3 = {:.2}× redis{goal}",
            http.per_sec / r
        ),
        None => println!("  (d) redis-benchmark: not installed (apt-get install redis-server)"),
    }
}

/// For a profiler, with `SERVING_ONLY`: one lookup alone, without the
/// floors beside it in the profile. Whether it ran.
async fn profile(wafer: &Wafer, addr: &str, one: &[u8], n: usize) -> bool {
    let conns = env("SERVING_CONNS", 1);
    match std::env::var("SERVING_ONLY").as_deref() {
        Ok("large") => {
            let big = run(addr, &lookup_request(100, FEATURES), n, conns).await;
            row(&format!("100 × 50 over HTTP, {conns} conn(s)"), &big, "");
        }
        Ok("small") => {
            let small = run(addr, one, n, conns).await;
            row(&format!("1 × 3 over HTTP, {conns} conn(s)"), &small, "");
        }
        Ok("inprocess") => {
            let per_sec = tokio::task::block_in_place(|| in_process(wafer, n, 1, 3));
            println!("  (a) 1 × 3 in process                {per_sec:>9.0} lookups/s");
        }
        _ => return false,
    }
    true
}

/// A trivial handler answering `answer`'s bytes; with `read_body`, after
/// reading the request's body, as any handler of a POST must (hyper hands
/// the body over through a channel: the connection's task wakes itself,
/// which on a multi-threaded runtime wakes a second worker).
async fn floor(answer: &[u8], read_body: bool) -> String {
    let bytes = axum::body::Bytes::from(answer.to_vec());
    let handler = move |body: axum::body::Body| {
        let bytes = bytes.clone();
        async move {
            if read_body {
                let got = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                assert!(!got.is_empty());
            }
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                bytes,
            )
        }
    };
    serve(axum::Router::new().route("/get-online-features", axum::routing::post(handler))).await
}

async fn serve_wafer(wafer: &Wafer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let w = wafer.clone();
    tokio::spawn(async move { w.serve(listener, std::future::pending()).await });
    addr
}

fn main() {
    wafer::alloc::tune();
    let n = env("SERVING_N", 20_000);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench(n));
}
