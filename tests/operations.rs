//! What an operator watches and does: `GET /metrics` (Prometheus text whose
//! counts move with the traffic sent), `GET /ready` (unready, with the
//! reason, while a view cannot take writes), and backups taken while serving.

use crate::util::*;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The `stats` view: `price`, and `bucket` computed from it by a plugin.
fn config() -> String {
    stats_config(
        r#"  { name = "price", type = "DOUBLE" },
  { name = "bucket", type = "INT64", transform = { plugin = "bucketize", input = "price", options = { boundaries = [10, 50] } } },
"#,
    )
}

/// Every sample of a scrape, by series (`name{labels}` as written).
async fn scrape(url: &str) -> HashMap<String, f64> {
    let resp = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a value: {line:?}"));
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "{series} twice"
        );
    }
    samples
}

fn sample(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| {
        let mut known: Vec<_> = samples.keys().collect();
        known.sort();
        panic!("no {series} in {known:#?}")
    })
}

async fn ready(url: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{url}/ready")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// `/ready` once the plugins are no longer loading.
async fn settled(url: &str) -> (u16, Value) {
    for _ in 0..600 {
        let (status, answer) = ready(url).await;
        if !answer.to_string().contains("loading") {
            return (status, answer);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("plugins still loading after 30 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_the_traffic_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), &config())).await;
    assert_eq!(settled(&server.url).await.0, 200);
    let df = json!({"item_id": [1, 2, 3], "price": [5.0, 20.0, 70.0]});
    assert_eq!(server.write("stats", df).await.0, 200);
    for _ in 0..2 {
        server
            .lookup(&["stats:price", "stats:bucket"], &[1, 2])
            .await;
    }
    let (status, _) = server.post("/get-online-features", &json!({})).await;
    assert_eq!(status, 400);
    // Made-up methods and paths make no series of their own.
    let client = reqwest::Client::new();
    for method in ["XYZ1", "XYZ2"] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = client
            .request(m, format!("{}/health", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
    }
    for path in ["/nope", "/nope/again"] {
        let resp = client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
    }

    let m = scrape(&server.url).await;
    let lookups = "wafer_http_requests_total{endpoint=\"/get-online-features\",method=\"POST\",status=\"200\"}";
    assert_eq!(sample(&m, lookups), 2.0);
    let refused = lookups.replace("\"200\"", "\"400\"");
    assert_eq!(sample(&m, &refused), 1.0);
    assert_eq!(sample(&m, "wafer_lookup_keys_count"), 2.0);
    assert_eq!(sample(&m, "wafer_lookup_keys_sum"), 4.0);
    assert_eq!(sample(&m, "wafer_lookup_features_sum"), 4.0);
    let rows = "wafer_rows_total{view=\"stats\",source=\"POST /write-to-online-store\",outcome=\"written\"}";
    assert_eq!(sample(&m, rows), 3.0);
    let calls = "wafer_plugin_calls_total{view=\"stats\",plugin=\"bucketize\"}";
    assert!(sample(&m, calls) >= 1.0);
    assert_eq!(
        sample(
            &m,
            "wafer_plugin_traps_total{view=\"stats\",plugin=\"bucketize\"}"
        ),
        0.0
    );
    assert_eq!(sample(&m, "wafer_write_queue_rows{view=\"stats\"}"), 0.0);
    assert!(sample(&m, "wafer_write_queue_peak_rows{view=\"stats\"}") >= 3.0);
    let memtable = "wafer_store_memtable_bytes{column_family=\"view:stats\"}";
    assert!(sample(&m, memtable) > 0.0);
    assert!(sample(&m, "wafer_process_resident_memory_bytes") > 0.0);
    assert_eq!(sample(&m, "wafer_ready"), 1.0);
    let odd = "wafer_http_requests_total{endpoint=\"/health\",method=\"other\",status=\"405\"}";
    assert_eq!(sample(&m, odd), 2.0);
    let lost = "wafer_http_requests_total{endpoint=\"unmatched\",method=\"GET\",status=\"404\"}";
    assert_eq!(sample(&m, lost), 2.0);
    let latency = "wafer_http_request_duration_seconds_count{endpoint=\"/get-online-features\",method=\"POST\"}";
    assert_eq!(sample(&m, latency), 3.0);

    // The next scrape has moved by what was sent in between, and counted
    // the first scrape.
    server.lookup(&["stats:price"], &[1, 2, 3]).await;
    let m = scrape(&server.url).await;
    assert_eq!(sample(&m, lookups), 3.0);
    assert_eq!(sample(&m, "wafer_lookup_keys_sum"), 7.0);
    let scrapes = "wafer_http_requests_total{endpoint=\"/metrics\",method=\"GET\",status=\"200\"}";
    assert_eq!(sample(&m, scrapes), 1.0);
}

/// A lookup reads on its request's task only rows in memory: rows only in
/// a file (the memtable flushed, none read since: a flush does not fill
/// RocksDB's block cache, whose `prepopulate_block_cache` is off) are read
/// again where the lookup may wait on the disk, and counted; read once,
/// they are in the block cache and the next lookup of them stays where it
/// is. The library's lookup does the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_of_rows_only_in_files_reads_them_where_it_may_wait() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), &config())).await;
    let df = json!({"item_id": [1, 2, 3], "price": [5.0, 20.0, 70.0]});
    assert_eq!(server.write("stats", df).await.0, 200);
    let from_files = "wafer_lookups_from_files_total";
    let price = |answer: &Value| column(answer, "price")["values"].clone();
    let answer = server.lookup(&["stats:price"], &[3, 1]).await;
    assert_eq!(price(&answer), json!([70.0, 5.0]));
    assert_eq!(sample(&scrape(&server.url).await, from_files), 0.0);

    server.wafer.store().flush().unwrap();
    for (keys, counted) in [(&[3, 1, 4][..], 1.0), (&[3, 1][..], 1.0)] {
        let answer = server.lookup(&["stats:price"], keys).await;
        assert_eq!(price(&answer).as_array().unwrap()[..2], [70.0, 5.0]);
        assert_eq!(sample(&scrape(&server.url).await, from_files), counted);
    }

    let df = json!({"item_id": [5], "price": [9.0]});
    assert_eq!(server.write("stats", df).await.0, 200);
    server.wafer.store().flush().unwrap();
    let five = wafer::runtime::Lookup {
        features: vec!["stats:price".into()],
        entities: vec![("item_id".into(), vec![wafer::value::Value::Int64(5)])],
        ..Default::default()
    };
    let got = server.wafer.lookup(five).await.unwrap();
    assert_eq!(got.columns[0].values, [wafer::value::Value::Float64(9.0)]);
    assert_eq!(sample(&scrape(&server.url).await, from_files), 2.0);
    let answer = server.lookup(&["stats:price"], &[5]).await;
    assert_eq!(price(&answer), json!([9.0]));
    assert_eq!(sample(&scrape(&server.url).await, from_files), 2.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_is_unready_with_the_reason_while_a_plugin_cannot_load() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "broken.wasm", "not a component");
    let broken = config().replace("plugin = \"bucketize\"", "plugin = \"broken.wasm\"");
    let cfg = write_config(dir.path(), &broken);
    let server = Server::start(&cfg).await;
    let (status, answer) = settled(&server.url).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["status"], "unready");
    let reason = answer["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("view stats: "), "{reason}");
    assert!(reason.contains("broken.wasm"), "{reason}");
    // Alive, and serving lookups, all the while.
    let health = reqwest::get(format!("{}/health", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.lookup(&["stats:price"], &[1]).await;
    let m = scrape(&server.url).await;
    assert_eq!(sample(&m, "wafer_ready"), 0.0);

    // Mended on disk and reloaded: ready.
    write_config(dir.path(), &config());
    let (status, answer) = server.admin("/admin/reload").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(ready(&server.url).await, (200, json!({"status": "ready"})));
}

fn push(ids: std::ops::Range<i64>) -> Value {
    let prices: Vec<f64> = ids.clone().map(|i| i as f64 * 1.5).collect();
    let ids: Vec<i64> = ids.collect();
    json!({"feature_view_name": "stats", "df": {"item_id": ids, "price": prices}})
}

/// Ten-row pushes from item 1000 on until `done`; the task answers the
/// first item not pushed, and `started` is told after ten pushes.
fn stream_pushes(
    url: String,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    started: tokio::sync::oneshot::Sender<()>,
) -> tokio::task::JoinHandle<i64> {
    tokio::spawn(async move {
        let (mut started, mut start) = (Some(started), 1000);
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            let (status, answer) =
                post(&url, "/write-to-online-store", &push(start..start + 10)).await;
            assert_eq!(status, 200, "{answer}");
            start += 10;
            if start >= 1100 {
                started.take().map(|s| s.send(()));
            }
        }
        start
    })
}

/// `ids` read the same from both servers, except rows the backup has not:
/// those are absent whole, never half there.
async fn assert_restored(live: &str, copy: &str, ids: &[i64]) {
    for ids in ids.chunks(1000) {
        let body =
            json!({"features": ["stats:price", "stats:bucket"], "entities": {"item_id": ids}});
        let (_, l) = post(live, "/get-online-features", &body).await;
        let (_, b) = post(copy, "/get-online-features", &body).await;
        let (l, b) = (&l["results"], &b["results"]);
        for (i, id) in ids.iter().enumerate() {
            let row = |r: &Value| (r[1]["values"][i].clone(), r[2]["values"][i].clone());
            if *id < 500 || b[1]["statuses"][i] == "PRESENT" {
                assert_eq!(row(b), row(l), "item {id}");
            } else {
                assert_eq!(b[2]["statuses"][i], "NOT_FOUND", "item {id}: half a row");
            }
        }
    }
}

/// `wafer backup` while pushes stream in, `wafer restore` into a new
/// directory: every row acknowledged before the backup reads back the same,
/// and a row in flight is there whole or not at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_serving_restores_to_identical_lookups() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &config());
    let server = ServerProcess::start(dir.path());
    let url = server.url.clone();
    for start in (0..500).step_by(100) {
        let (status, answer) =
            post(&url, "/write-to-online-store", &push(start..start + 100)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started, streaming) = tokio::sync::oneshot::channel();
    let stream = stream_pushes(url.clone(), done.clone(), started);
    streaming.await.unwrap();
    let backup = dir.path().join("backup");
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || wafer_cli(&d, &["backup", "backup"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    done.store(true, std::sync::atomic::Ordering::Release);
    let streamed = stream.await.unwrap();

    // Restoring onto a store that exists is refused; into a new place it works.
    let out = wafer_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not empty: move it away first"),
        "{}",
        text(&out)
    );
    let restored = tempfile::tempdir().unwrap();
    write_config(restored.path(), &config());
    let out = wafer_cli(restored.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let copy = Server::start(&restored.path().join("wafer.toml")).await;
    let ids: Vec<i64> = (0..500).chain(1000..streamed).collect();
    assert_restored(&url, &copy.url, &ids).await;
}

/// `/openapi.json` lists every route, and each route it lists is served:
/// asked with its method, none answers the router's bare 404 or a 405.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), &config())).await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "/admin/backup",
            "/admin/deadletters/{view}",
            "/admin/deadletters/{view}/purge",
            "/admin/deadletters/{view}/retry",
            "/admin/materialize/{view}",
            "/admin/publish",
            "/admin/reload",
            "/admin/sources",
            "/admin/sources/{name}/reset",
            "/admin/status",
            "/get-online-features",
            "/health",
            "/metrics",
            "/openapi.json",
            "/push",
            "/ready",
            "/write-to-online-store",
        ]
    );
    let read = &paths["/get-online-features"]["post"];
    let body = &read["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(body, "#/components/schemas/ReadRequest", "{read}");
    let client = reqwest::Client::new();
    for (path, methods) in paths {
        let url = format!(
            "{}{}",
            server.url,
            path.replace("{view}", "stats").replace("{name}", "none")
        );
        for method in methods.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = client.request(method.clone(), &url).send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            // A handler's 404 names what it did not find; the router's is empty.
            assert!(
                status != 405 && (status != 404 || text.contains("error")),
                "{method} {url}: {status} {text}"
            );
        }
    }
}
