//! What the benches share: the view they publish into through the
//! `passthrough` plugin, its rows, their size knobs and how latencies
//! print, and a keep-alive HTTP client as light as `wrk`. Each bench is
//! its own crate and uses a part of this.
#![allow(dead_code)]

use std::time::Duration;

/// The allocator the `wafer` binary runs with (`src/main.rs`); each
/// bench's `main` calls `wafer::alloc::tune()` first, as the binary's
/// does.
#[global_allocator]
static ALLOCATOR: wafer::alloc::Allocator = wafer::alloc::Allocator;

/// Entity `item`, view `vec`: a `dims`-dimension vector through
/// `passthrough`, and a price.
pub fn passthrough_view(dims: usize) -> String {
    format!(
        r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "vec"
entity = "item"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "v", type = "ARRAY<FLOAT>", dimensions = {dims}, transform = {{ plugin = "passthrough" }} }},
  {{ name = "price", type = "DOUBLE" }},
]
"#
    )
}

/// `input` published whole into `wafer`'s view `vec` (of
/// [`passthrough_view`]), every row landing.
pub async fn publish_vec(wafer: &wafer::Wafer, input: std::path::PathBuf) {
    let req = wafer::ingest::PublishRequest {
        view: "vec".into(),
        input,
        format: None,
        partition: None,
        mode: wafer::store::WriteMode::Merge,
        no_transform: false,
    };
    let s = wafer.publish(req, |_| {}).await.unwrap();
    assert_eq!(s.failed(), 0, "{s}");
}

/// Row `i` of [`passthrough_view`]`(16)`, as JSON input.
pub fn row(i: usize) -> serde_json::Value {
    let v: Vec<f32> = (0..16).map(|d| (d + i) as f32 / 100.0).collect();
    serde_json::json!({"item_id": i, "v": v, "price": i as f64 / 10.0})
}

/// A size from the environment, else `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// "p50 … p99 …" of `sorted` latencies, in milliseconds.
pub fn p50_p99(sorted: &[Duration]) -> String {
    let (p50, p99) = (percentile(sorted, 0.5), percentile(sorted, 0.99));
    format!("p50 {}  p99 {}", ms(p50), ms(p99))
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// A keep-alive HTTP/1.1 connection sending ready-made requests, as `wrk`
/// does. The load generator shares the server's two cores, and reqwest's
/// per-request work (URL, header map, pool) cost about as much CPU as the
/// server's: with it the figure measured the client as much as wafer.
pub struct Conn {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    line: String,
    /// The last answer's body.
    pub body: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: &str) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream: tokio::io::BufReader::new(stream),
            line: String::new(),
            body: Vec::new(),
        }
    }

    /// Sends `request` and reads the whole answer; its status.
    pub async fn send(&mut self, request: &[u8]) -> u16 {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        self.stream.get_mut().write_all(request).await.unwrap();
        self.line.clear();
        self.stream.read_line(&mut self.line).await.unwrap();
        assert!(self.line.len() >= 12, "the server closed the connection");
        let status = self.line[9..12].parse().unwrap();
        let mut length = 0;
        loop {
            self.line.clear();
            self.stream.read_line(&mut self.line).await.unwrap();
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        self.body.resize(length, 0);
        self.stream.read_exact(&mut self.body).await.unwrap();
        status
    }
}

/// `clients` keep-alive connections to `addr`, each sent `request` once
/// and its answer checked, so that a measured run starts warm.
pub async fn connect(addr: &str, request: &[u8], clients: usize) -> Vec<Conn> {
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut c = Conn::open(addr).await;
        let status = c.send(request).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&c.body));
        conns.push(c);
    }
    conns
}

/// `request` sent `n` times in all, shared out among `conns`, each on a
/// task of its own: every request's latency, unsorted.
pub async fn send_all(conns: Vec<Conn>, request: &[u8], n: usize) -> Vec<Duration> {
    let clients = conns.len();
    let tasks: Vec<_> = (conns.into_iter().enumerate())
        .map(|(i, mut conn)| {
            let request = request.to_vec();
            // Exactly `n` in all: the figures divide by it.
            let mine = n / clients + usize::from(i < n % clients);
            tokio::spawn(async move {
                let mut took = Vec::with_capacity(mine);
                for _ in 0..mine {
                    let t = std::time::Instant::now();
                    assert_eq!(conn.send(&request).await, 200);
                    took.push(t.elapsed());
                }
                took
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    latencies
}

/// A `POST` of a JSON `body` to `path`, as bytes on the wire.
pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// nginx answering `body` with `return 200`, if installed; its address.
pub fn nginx(dir: &std::path::Path, body: &[u8]) -> Option<(Reaped, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let body = String::from_utf8_lossy(body)
        .replace('\\', "\\\\")
        .replace('\'', "\\'");
    let conf = format!(
        "daemon off; master_process off; error_log stderr crit; pid {0}/nginx.pid;\n\
         events {{}}\nhttp {{ access_log off; client_body_temp_path {0}; keepalive_requests 100000000; \
         keepalive_timeout 600s; server {{ listen 127.0.0.1:{port}; \
         location / {{ default_type application/json; return 200 '{body}'; }} }} }}\n",
        dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).ok()?;
    let child = std::process::Command::new("nginx")
        .args(["-p", &dir.display().to_string(), "-c", "nginx.conf"])
        // One process, with no pipe of ours: a killed master would leave its
        // worker serving, and holding the bench's output open.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));
    Some((Reaped(child), format!("127.0.0.1:{port}")))
}

/// A server the bench started, killed and reaped when dropped: also when
/// the bench panics, so no nginx or redis outlives a failed run.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
