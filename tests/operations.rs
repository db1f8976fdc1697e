//! What an operator watches and does: `GET /metrics` (Prometheus text whose
//! counts move with the traffic sent), `GET /ready` (unready, with the
//! reason, while a view cannot take writes), and backups taken while serving.

use crate::util::*;
use serde_json::{Value, json};
use std::collections::HashMap;

const CONFIG: &str = r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "stats"
entity = "item"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "price", type = "DOUBLE" },
  { name = "bucket", type = "INT64", transform = { plugin = "bucketize", input = "price", options = { boundaries = [10, 50] } } },
]
"#;

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
    let server = Server::start(&write_config(dir.path(), CONFIG)).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn ready_is_unready_with_the_reason_while_a_plugin_cannot_load() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "broken.wasm", "not a component");
    let broken = CONFIG.replace("plugin = \"bucketize\"", "plugin = \"broken.wasm\"");
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
    write_config(dir.path(), CONFIG);
    let (status, answer) = server.admin("/admin/reload").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(ready(&server.url).await, (200, json!({"status": "ready"})));
}

/// `wafer backup` while pushes stream in, `wafer restore` into a new
/// directory: every row acknowledged before the backup reads back the same,
/// and a row in flight is there whole or not at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_serving_restores_to_identical_lookups() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), CONFIG);
    let server = ServerProcess::start(dir.path());
    let url = server.url.clone();
    let push = |ids: std::ops::Range<i64>| {
        let prices: Vec<f64> = ids.clone().map(|i| i as f64 * 1.5).collect();
        let ids: Vec<i64> = ids.collect();
        json!({"feature_view_name": "stats", "df": {"item_id": ids, "price": prices}})
    };
    for start in (0..500).step_by(100) {
        let (status, answer) =
            post(&url, "/write-to-online-store", &push(start..start + 100)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let streaming = {
        let url = url.clone();
        tokio::spawn(async move {
            for start in (1000..3000).step_by(10) {
                post(&url, "/write-to-online-store", &push(start..start + 10)).await;
            }
        })
    };
    let backup = dir.path().join("backup");
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || wafer_cli(&d, &["backup", "backup"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    streaming.await.unwrap();

    // Restoring onto a store that exists is refused; into a new place it works.
    let out = wafer_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not empty: move it away first"),
        "{}",
        text(&out)
    );
    let restored = tempfile::tempdir().unwrap();
    write_config(restored.path(), CONFIG);
    let out = wafer_cli(restored.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let copy = Server::start(&restored.path().join("wafer.toml")).await;

    let ids: Vec<i64> = (0..500).chain(1000..3000).collect();
    let body = json!({"features": ["stats:price", "stats:bucket"], "entities": {"item_id": ids}});
    let (_, live) = post(&url, "/get-online-features", &body).await;
    let (_, back) = post(&copy.url, "/get-online-features", &body).await;
    let (live, back) = (&live["results"], &back["results"]);
    for (i, id) in ids.iter().enumerate() {
        let row = |r: &Value| (r[1]["values"][i].clone(), r[2]["values"][i].clone());
        if *id < 500 || back[1]["statuses"][i] == "PRESENT" {
            assert_eq!(row(back), row(live), "item {id}");
        } else {
            assert_eq!(back[2]["statuses"][i], "NOT_FOUND", "item {id}: half a row");
        }
    }
}
