//! Feast's own Python SDK (0.67, from PyPI) against a running wafer: its
//! `remote` online store writes, pushes and reads through wafer's HTTP API;
//! Prometheus' own parser reads the counts in `/metrics`.

use crate::util::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const CONFIG: &str = r#"
# Reads and writes need a token; Feast sends the write token (which also
# reads) as its `kubernetes` auth's user_token.
[server.auth]
read_token_file = "read.token"
write_token_file = "write.token"

[[entity]]
name = "driver"
join_key = "driver_id"
type = "int64"

[[feature_view]]
name = "driver_stats"
entity = "driver"
event_time = "event_timestamp"
fields = [
  { name = "driver_id", type = "INT64", primary_key = true },
  { name = "conv_rate", type = "FLOAT32" },
  { name = "trips", type = "INT64" },
  { name = "city", type = "STRING" },
]

[[feature_view]]
name = "driver_stats_push"
entity = "driver"
fields = [
  { name = "driver_id", type = "INT64", primary_key = true },
  { name = "conv_rate", type = "FLOAT32" },
  { name = "trips", type = "INT64" },
  { name = "city", type = "STRING" },
]

[[entity]]
name = "city"
join_key = "city_id"
type = "string"

[[feature_view]]
name = "driver_city"
entities = ["driver", "city"]
fields = [
  { name = "driver_id", type = "INT64", primary_key = true },
  { name = "city_id", type = "STRING", primary_key = true },
  { name = "trips_in_city", type = "INT64" },
  { name = "hours", type = "ARRAY<INT64>" },
]

# The same service as the SDK's `FeatureService`: Feast sends only its name.
[[feature_service]]
name = "driver_svc"
features = ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats_push"]
"#;

/// `feast==0.67.0` and its dependencies, installed once under `target/`.
fn feast_site() -> PathBuf {
    let site = cache_dir("feast-0.67.0");
    crate::util::pip::install(&site, &["feast==0.67.0"], &["feast"]);
    site
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: Feast's Python SDK from PyPI"]
async fn feasts_sdk_writes_pushes_and_reads_through_wafer() {
    let site = tokio::task::spawn_blocking(feast_site).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "read.token", "feast-r-0a7e");
    write_file(dir.path(), "write.token", "feast-w-5c1d");
    let server = Server::start(&write_config(dir.path(), CONFIG)).await;
    let script = repo().join("tests/feast/sdk_roundtrip.py");
    let (url, repo_dir) = (server.url.clone(), dir.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(url)
            .arg(repo_dir)
            .arg("feast-w-5c1d")
            .env("PYTHONPATH", site)
            .env("FEAST_USAGE", "False")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let got: Value = serde_json::from_slice(
        out.stdout
            .rsplit(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let (service, versions) = (got["service"].clone(), got["versions"].clone());
    let by_pair = serde_json::json!({
        "driver_id": [1001, 1002, 1002, 1001],
        "city_id": ["OS", "HZ", "OS", "HZ"],
        "trips_in_city": [2, 8, null, 5],
        "hours": [[12], [23], null, [7, 8]],
    });
    assert_eq!(got["by_pair"], by_pair, "{got}");
    assert_eq!(got["rows"]["driver_city written"], 3.0, "{got}");
    // The SDK's write and push, as /metrics counts them.
    assert_eq!(got["rows"]["driver_stats written"], 2.0, "{got}");
    assert_eq!(got["rows"]["driver_stats_push written"], 1.0, "{got}");
    assert_eq!(got["rows"]["driver_stats failed"], 0.0, "{got}");
    let got = got["features"].clone();
    assert_eq!(
        got["driver_id"],
        serde_json::json!([1001, 1002, 1003, 9999]),
        "{got}"
    );
    assert_eq!(
        got["driver_stats__conv_rate"],
        serde_json::json!([0.5, 0.25, null, null]),
        "{got}"
    );
    assert_eq!(
        got["driver_stats__trips"],
        serde_json::json!([7, 3, null, null]),
        "{got}"
    );
    assert_eq!(
        got["driver_stats__city"],
        serde_json::json!(["Hangzhou", "Oslo", null, null]),
        "{got}"
    );
    assert_eq!(
        got["driver_stats_push__conv_rate"],
        serde_json::json!([null, null, 0.75, null]),
        "{got}"
    );
    // By service: two of driver_stats' features, all of the pushed view's.
    let expect = serde_json::json!({
        "driver_id": [1001, 1003],
        "driver_stats__conv_rate": [0.5, null],
        "driver_stats__trips": [7, null],
        "driver_stats_push__conv_rate": [null, 0.75],
        "driver_stats_push__trips": [null, 9],
        "driver_stats_push__city": [null, "Lima"],
    });
    assert_eq!(service, expect);
    assert_eq!(
        versions,
        serde_json::json!([
            {"name": "driver_stats", "version": 0},
            {"name": "driver_stats_push", "version": 0}
        ])
    );
}
