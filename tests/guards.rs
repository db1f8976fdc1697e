//! The server's guards: TLS, `[server.auth]`'s read and write tokens, the body
//! size limit, the concurrency limit and the request timeout. Each refusal
//! is a JSON error; the server keeps serving through all of them.

use crate::util::*;
use serde_json::{Value, json};
use std::time::Duration;

/// The `stats` view with one plain feature, `price`.
fn views() -> String {
    stats_config("  { name = \"price\", type = \"DOUBLE\" },\n")
}

/// POST `body` to `path` with `token` as bearer; (status, JSON answer).
async fn send(url: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn write_body(price: f64) -> Value {
    json!({"feature_view_name": "stats", "df": {"item_id": [1], "price": [price]}})
}

fn read_body() -> Value {
    json!({"features": ["stats:price"], "entities": {"item_id": [1]}})
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_guard_reads_and_writes_and_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    // The read token from a file (with the newline secrets files end in),
    // the write token from the environment.
    write_file(dir.path(), "read.token", "r-7f3a9c\n");
    let auth = "[server]\naccess_log = true\n\n[server.auth]\nread_token_file = \"read.token\"\nwrite_token_env = \"WAFER_TEST_WRITE_TOKEN\"\n";
    write_config(dir.path(), &format!("{auth}{}", views()));
    let env = [
        ("WAFER_TEST_WRITE_TOKEN", "w-91be42"),
        ("RUST_LOG", "trace"),
    ];
    let mut server = ServerProcess::start_with_env(dir.path(), &env);
    let url = server.url.clone();

    let writes = [
        (None, 401),
        (Some("nope"), 401),
        (Some("r-7f3a9c"), 403),
        (Some("w-91be42"), 200),
    ];
    for (token, status) in writes {
        let (got, answer) = send(&url, "/write-to-online-store", token, &write_body(2.5)).await;
        assert_eq!(got, status, "{token:?}: {answer}");
        if status != 200 {
            assert!(
                answer["error"].as_str().unwrap().contains("write token"),
                "{answer}"
            );
        }
    }
    let reads = [
        (None, 401),
        (Some("w-wrong"), 401),
        (Some("r-7f3a9c"), 200),
        (Some("w-91be42"), 200),
    ];
    for (token, status) in reads {
        let (got, answer) = send(&url, "/get-online-features", token, &read_body()).await;
        assert_eq!(got, status, "{token:?}: {answer}");
        if status == 200 {
            assert_eq!(answer["results"][1]["values"], json!([2.5]));
        }
    }
    // Neither token opens the admin routes; health stays open.
    let (got, _) = send(&url, "/admin/reload", Some("w-91be42"), &json!({})).await;
    assert_eq!(got, 401);
    assert_eq!(
        reqwest::get(format!("{url}/health"))
            .await
            .unwrap()
            .status(),
        200
    );
    // `wafer get` reads through the guarded server with the discovery token.
    let out = wafer_cli(dir.path(), &["get", "--view", "stats", "--key", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2.5"), "{}", text(&out));

    assert_eq!(server.terminate(), Some(0));
    let log = server.rest_of_log().join("\n");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log was captured: {log}"
    );
    // The access log has each request, the refused ones too.
    let access = log.lines().filter(|l| l.contains("wafer::access"));
    let refused =
        access.filter(|l| l.contains("/write-to-online-store") && l.contains("status=403"));
    assert_eq!(refused.count(), 1, "{log}");
    for secret in ["r-7f3a9c", "w-91be42"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_token_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "[server.auth]\nwrite_token_env = \"WAFER_TEST_UNSET_TOKEN\"\n";
    write_config(dir.path(), &format!("{auth}{}", views()));
    let out = wafer_command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("WAFER_TEST_UNSET_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(
            "server.auth.write_token_env: environment variable WAFER_TEST_UNSET_TOKEN is not set"
        ),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_is_a_413_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("[server]\nmax_body_mb = 1\n{}", views()),
    );
    let server = Server::start(&cfg).await;
    let prices: Vec<f64> = (0..200_000).map(f64::from).collect();
    let ids: Vec<i64> = (0..200_000).collect();
    let body = json!({"feature_view_name": "stats", "df": {"item_id": ids, "price": prices}});
    let (status, answer) = server.post("/write-to-online-store", &body).await;
    assert_eq!(status, 413, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("over 1 MiB (server.max_body_mb)"), "{error}");
    assert_eq!(
        server
            .write("stats", json!({"item_id": [1], "price": [1.0]}))
            .await
            .0,
        200
    );
}

async fn wait_ready(url: &str) {
    for _ in 0..600 {
        if reqwest::get(format!("{url}/ready")).await.unwrap().status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never ready");
}

const SLOW: &str = r#"
[server]
max_concurrent_requests = 1
request_timeout_secs = TIMEOUT

[[llm]]
name = "fake"
base_url = "BASE"
model = "m"
api_key_file = "key.txt"
dimensions = 4

[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "emb"
entity = "item"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "text", type = "ARRAY<FLOAT>", transform = { plugin = "llm-embedding", llm = "fake" } },
]
"#;

/// A server with one request slot and `timeout_secs`, over `fake`, ready.
async fn one_slot(fake: &FakeEmbedder, timeout_secs: u64) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "key.txt", API_KEY);
    let config = SLOW
        .replace("BASE", &fake.base_url)
        .replace("TIMEOUT", &timeout_secs.to_string());
    let server = Server::start(&write_config(dir.path(), &config)).await;
    wait_ready(&server.url).await;
    (server, dir)
}

/// A push of item 7 in the background; its (status, answer).
fn push_7(url: &str) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = url.to_string();
    tokio::spawn(async move {
        let body = json!({"feature_view_name": "emb", "df": {"item_id": [7], "text": ["slow"]}});
        send(&url, "/write-to-online-store", None, &body).await
    })
}

fn lookup_7() -> Value {
    json!({"features": ["emb:text"], "entities": {"item_id": [7]}})
}

/// One write holds the only slot (its embedding request is held): the next
/// request is shed at once, health still answers, and once the write is let
/// go everything answers again.
#[tokio::test(flavor = "multi_thread")]
async fn over_the_concurrency_limit_requests_are_shed_and_the_server_keeps_serving() {
    let fake = fake_embedder(4).await;
    let (server, _dir) = one_slot(&fake, 300).await;
    let held = fake.gate.write().await;
    let slow = push_7(&server.url);
    fake.arrived.notified().await;
    let (status, answer) = server.post("/get-online-features", &lookup_7()).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("max_concurrent_requests"),
        "{answer}"
    );
    let health = reqwest::get(format!("{}/health", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(held);
    assert_eq!(slow.await.unwrap().0, 200);
    let (status, answer) = server.post("/get-online-features", &lookup_7()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][1]["statuses"][0], "PRESENT");
}

/// A write held past `request_timeout_secs` is answered 503, and its row
/// still lands once the embedding API answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_its_timeout_is_a_503_and_its_write_still_lands() {
    let fake = fake_embedder(4).await;
    let (server, _dir) = one_slot(&fake, 1).await;
    let held = fake.gate.write().await;
    let (status, answer) = push_7(&server.url).await.unwrap();
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("request_timeout_secs"),
        "{answer}"
    );
    drop(held);
    // A generous bound: only a write that never lands fails it.
    for _ in 0..3000 {
        let (status, answer) = server.post("/get-online-features", &lookup_7()).await;
        assert_eq!(status, 200, "{answer}");
        if answer["results"][1]["statuses"][0] == "PRESENT" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the timed-out write never landed");
}

/// A self-signed certificate for 127.0.0.1 and localhost, made with openssl.
fn self_signed(dir: &std::path::Path) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        // A server's certificate, not a CA's (rustls refuses a CA as the server).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_https_and_commands_go_through_it() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path());
    let tls = "[server.tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\n";
    write_config(dir.path(), &format!("{tls}{}", views()));
    let mut server = ServerProcess::start(dir.path());
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let cert = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap();
    let resp = https
        .post(format!("{}/write-to-online-store", server.url))
        .json(&write_body(4.5))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Plain HTTP to the TLS port gets no answer.
    let plain = server.url.replace("https://", "http://");
    let answer = reqwest::Client::new()
        .post(format!("{plain}/get-online-features"))
        .json(&read_body())
        .send()
        .await;
    assert!(answer.is_err(), "{answer:?}");
    // `wafer get` finds the server by its discovery file and reads over TLS.
    let out = wafer_cli(dir.path(), &["get", "--view", "stats", "--key", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4.5"), "{}", text(&out));
    assert_eq!(server.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_certificate_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "cert.pem", "not a certificate");
    write_file(dir.path(), "key.pem", "");
    let tls = "[server.tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\n";
    write_config(dir.path(), &format!("{tls}{}", views()));
    let out = wafer_command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("server.tls.cert_file: cannot read"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("cert.pem"), "{}", text(&out));
}
