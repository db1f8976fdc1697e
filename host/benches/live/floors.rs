//! The live bench's floors: what the same clients get from requests that
//! cost the server nothing (`GET /health`, nginx's `return 200`) and from
//! one-key lookups, beside the pushes.

use super::{Bench, Clock, Took, common, push_body};
use crate::common::post;

/// The time `clients` clients take for `n` requests that do nothing: what
/// HTTP itself costs on this machine, client included.
pub async fn health_floor(b: &Bench, n: usize, clients: usize) -> Took {
    let request = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n".to_vec();
    repeat(b.addr(), &request, n, clients).await
}

/// nginx's `return 200` with a push's answer, for the same one-row pushes
/// from `clients` clients, when nginx is installed: what a server that
/// does nothing but HTTP answers here, against the publish's `rows_per_sec`.
pub async fn nginx_floor(b: &Bench, n: usize, clients: usize, rows_per_sec: f64) {
    let request = post("/write-to-online-store", &push_body(3 * n..3 * n + 1));
    let mut probe = b.connect().await;
    assert_eq!(probe.send(&request).await, 200);
    let Some((_nginx, addr)) = common::nginx(&b.dir, &probe.body) else {
        return println!("  (nginx: not installed; apt-get install nginx)");
    };
    let floor = repeat(&addr, &request, n, clients).await;
    println!(
        "  ({n} of these pushes to nginx's return 200 from {clients} clients: {:>8.0} requests/s, {:.2}× the publish: what HTTP alone answers here)",
        floor.rate(n),
        floor.rate(n) / rows_per_sec
    );
}

/// The time `clients` clients take for `n` one-key lookups of one feature:
/// a POST with a JSON body through the read path, beside the write path.
pub async fn one_key_lookups(b: &Bench, n: usize, clients: usize) -> Took {
    let body = br#"{"features": ["vec:price"], "entities": {"item_id": [7]}}"#;
    repeat(b.addr(), &post("/get-online-features", body), n, clients).await
}

/// The time `clients` clients take to send `request` `n` times in all to
/// `addr`, once connected.
async fn repeat(addr: &str, request: &[u8], n: usize, clients: usize) -> Took {
    let conns = common::connect(addr, request, clients).await;
    let clock = Clock::start();
    common::send_all(conns, request, n).await;
    clock.stop()
}
