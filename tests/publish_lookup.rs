//! Publish → lookup end to end through the library: real RocksDB in a temp
//! dir, the real built-in Wasm plugins, real HTTP on 127.0.0.1:0, and an
//! in-process OpenAI-compatible endpoint for the embedding path.

use crate::util::*;
use serde_json::json;
use std::path::Path;
use wafer::Wafer;
use wafer::ingest::{PublishRequest, Summary};
use wafer::store::WriteMode;

const DIMS: usize = 8;

fn config(base_url: &str) -> String {
    format!(
        r#"
[store]
path = "data"

[[llm]]
name = "fake"
base_url = "{base_url}"
model = "text-embedding-v3"
api_key_file = "key.txt"
batch_size = 3
concurrency = 2
dimensions = {DIMS}
max_attempts = 3
retry_initial_ms = 20

[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "emb"
entity = "item"
event_time = "ts"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "review_text", type = "ARRAY<FLOAT>", transform = {{ plugin = "llm-embedding", llm = "fake", input = "review_text" }} }},
]

[[feature_view]]
name = "vec"
entity = "item"
event_time = "ts"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "v", type = "ARRAY<FLOAT>", dimensions = 3, transform = {{ plugin = "passthrough", input = "v_raw" }} }},
]

[[feature_view]]
name = "stats"
entity = "item"
event_time = "ts"
ttl = "1h"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "price", type = "DOUBLE" }},
  {{ name = "title", type = "STRING" }},
  {{ name = "bucket", type = "INT64", transform = {{ plugin = "bucketize", input = "price", options = {{ boundaries = [10, 50] }} }} }},
]

[[feature_service]]
name = "ranker"
features = ["stats:price", "vec"]
"#
    )
}

struct Env {
    dir: tempfile::TempDir,
    app: Wafer,
    fake: FakeEmbedder,
}

async fn env() -> Env {
    env_with_key(API_KEY).await
}

async fn env_with_key(key: &str) -> Env {
    let fake = fake_embedder(DIMS).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "key.txt", key);
    let cfg = write_config(dir.path(), &config(&fake.base_url));
    let app = Wafer::open(&cfg).unwrap();
    Env { dir, app, fake }
}

async fn publish(e: &Env, view: &str, name: &str, body: &str, mode: WriteMode) -> Summary {
    let input = write_file(e.dir.path(), name, body);
    e.app
        .publish(
            PublishRequest {
                view: view.into(),
                input,
                format: None,
                partition: None,
                mode,
                no_transform: false,
            },
            |_| {},
        )
        .await
        .unwrap()
}

fn now_rfc3339() -> String {
    wafer::time::Micros::now().rfc3339()
}

fn line(item: i64, extra: &str) -> String {
    format!("{{\"item_id\": {item}, {extra}}}\n")
}

async fn get(e: &Env, features: &[&str], ids: &[i64]) -> serde_json::Value {
    let base = start_server(&e.app).await;
    let (status, answer) = lookup(
        &base,
        &json!({"features": features, "entities": {"item_id": ids}}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn llm_embedding_round_trip_with_per_row_errors() {
    let e = env().await;
    let ts = "\"ts\": \"2025-05-09\"";
    let rows = [
        line(1, &format!("\"review_text\": \"good dog food\", {ts}")),
        line(2, &format!("\"review_text\": \"bad kettle\", {ts}")),
        line(3, &format!("\"review_text\": \"   \", {ts}")),
        line(4, &format!("\"review_text\": 42, {ts}")),
        line(5, &format!("\"review_text\": \"POISON pill\", {ts}")),
        line(6, &format!("\"review_text\": null, {ts}")),
        line(7, &format!("\"review_text\": \"fine lamp\", {ts}")),
    ]
    .concat();
    let s = publish(&e, "emb", "in.jsonl", &rows, WriteMode::Merge).await;
    assert_eq!((s.rows_read, s.written, s.failed()), (7, 4, 3), "{s}");
    let reasons: Vec<(usize, &str)> = s
        .failures
        .iter()
        .map(|f| (f.line, f.message.as_str()))
        .collect();
    assert!(reasons[0].0 == 3 && reasons[0].1.contains("empty"), "{s}");
    assert!(
        reasons[1].0 == 4 && reasons[1].1.contains("must be a string"),
        "{s}"
    );
    assert!(
        reasons[2].0 == 5 && reasons[2].1.contains("input rejected"),
        "{s}"
    );

    // Batches of at most 3, blank text never sent, the 400 bisected down to the bad input.
    let requests = e.fake.requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|r| r.len() <= 3 && r.iter().all(|t| !t.trim().is_empty())),
        "{requests:?}"
    );
    assert!(
        requests.contains(&vec!["POISON pill".to_string()]),
        "{requests:?}"
    );

    let answer = get(&e, &["emb:review_text"], &[1, 7, 6, 3, 99]).await;
    let col = column(&answer, "review_text");
    assert_eq!(
        col["statuses"],
        json!(["PRESENT", "PRESENT", "NULL_VALUE", "NOT_FOUND", "NOT_FOUND"])
    );
    let got: Vec<f32> = col["values"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got, fake_vector("good dog food", DIMS));
    let got7: Vec<f32> = col["values"][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got7, fake_vector("fine lamp", DIMS));
    assert_eq!(col["event_timestamps"][0], "2025-05-09T00:00:00Z");
    assert_eq!(
        column(&answer, "item_id")["values"],
        json!([1, 7, 6, 3, 99])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_api_key_fails_the_publish_before_any_row() {
    let e = env_with_key("").await;
    let input = write_file(e.dir.path(), "in.jsonl", &line(1, "\"review_text\": \"x\""));
    let err = e
        .app
        .publish(
            PublishRequest {
                view: "emb".into(),
                input,
                format: None,
                partition: None,
                mode: WriteMode::Merge,
                no_transform: false,
            },
            |_| {},
        )
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("view emb") && msg.contains("api_key_file") && !msg.contains(API_KEY),
        "{msg}"
    );
    assert!(e.fake.requests.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_transform_publishes_pre_extracted_vectors_without_calls() {
    let e = env().await;
    let v: Vec<f32> = (0..DIMS).map(|i| i as f32 / 10.0).collect();
    let rows = line(1, &format!("\"review_text_embedding\": {v:?}"))
        + &line(2, "\"review_text_embedding\": [1.0]");
    let input = write_file(e.dir.path(), "pre.jsonl", &rows);
    let s = e
        .app
        .publish(
            PublishRequest {
                view: "emb".into(),
                input,
                format: None,
                partition: None,
                mode: WriteMode::Merge,
                no_transform: true,
            },
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!((s.written, s.failed()), (1, 1), "{s}");
    assert!(s.failures[0].message.contains("expected 8"), "{s}");
    assert!(e.fake.requests.lock().unwrap().is_empty());
    let answer = get(&e, &["emb:review_text"], &[1]).await;
    let got: Vec<f32> = column(&answer, "review_text")["values"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got, v);
}

#[tokio::test(flavor = "multi_thread")]
async fn passthrough_checks_dims_and_finiteness_per_row() {
    let e = env().await;
    let rows = [
        line(1, "\"v_raw\": [1, 2, 3]"),
        line(2, "\"v_raw\": [1, 2]"),
        line(3, "\"v_raw\": \"[0.5, 0.25, 4]\""),
        line(4, "\"v_raw\": \"[1, NaN, 3]\""),
        "{\"item_id\": 5, \"v_raw\": [1, \"x\", 3]}\n".to_string(),
        line(6, "\"v_raw\": \"hello\""),
    ]
    .concat();
    let s = publish(&e, "vec", "v.jsonl", &rows, WriteMode::Merge).await;
    assert_eq!((s.written, s.failed()), (2, 4), "{s}");
    let msgs: Vec<String> = s
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.line, f.message))
        .collect();
    assert!(
        msgs[0].starts_with("2:") && msgs[0].contains("expected 3"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].starts_with("4:") && msgs[1].contains("not finite"),
        "{msgs:?}"
    );
    assert!(
        msgs[2].starts_with("5:") && msgs[2].contains("element 1"),
        "{msgs:?}"
    );
    assert!(
        msgs[3].starts_with("6:") && msgs[3].contains("element 0"),
        "{msgs:?}"
    );
    let answer = get(&e, &["vec:v"], &[1, 2, 3]).await;
    assert_eq!(
        column(&answer, "v")["values"],
        json!([[1.0, 2.0, 3.0], null, [0.5, 0.25, 4.0]])
    );
}

/// Publish `rows` (id, extra JSON fields) with event time `ts` into the `stats` view.
async fn publish_stats(
    e: &Env,
    file: &str,
    rows: &[(i64, &str)],
    ts: &str,
    mode: WriteMode,
) -> Summary {
    publish(e, "stats", file, &now_rows(rows, ts), mode).await
}

fn now_rows(rows: &[(i64, &str)], ts: &str) -> String {
    rows.iter()
        .map(|(id, extra)| line(*id, &format!("{extra}\"ts\": \"{ts}\"")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_publish_runs_the_udf_and_types_plain_fields() {
    let e = env().await;
    let now = now_rfc3339();
    let csv = format!(
        "item_id,price,title,ts\n1,5,cheap,{now}\n2,10,edge,{now}\n3,75.5,dear,{now}\n4,abc,bad,{now}\nx,1,bad key,{now}\n5,,no price,{now}\n"
    );
    let s = publish(&e, "stats", "s.csv", &csv, WriteMode::Merge).await;
    assert_eq!((s.rows_read, s.written, s.failed()), (6, 4, 2), "{s}");
    assert!(
        s.failures[0].message.contains("field `price`")
            && s.failures[0].message.contains("\"abc\""),
        "{s}"
    );
    assert!(s.failures[1].message.contains("item_id"), "{s}");
    let base = start_server(&e.app).await;
    let req = json!({"features": ["stats:price", "stats:bucket", "stats:title"], "entities": {"item_id": [1, 2, 3, 5]}, "full_feature_names": true});
    let (status, answer) = lookup(&base, &req).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["metadata"]["feature_names"],
        json!(["item_id", "stats__price", "stats__bucket", "stats__title"])
    );
    assert_eq!(
        column(&answer, "stats__bucket")["values"],
        json!([0, 1, 2, null])
    );
    assert_eq!(
        column(&answer, "stats__price")["values"],
        json!([5.0, 10.0, 75.5, null])
    );
    assert_eq!(
        column(&answer, "stats__price")["statuses"],
        json!(["PRESENT", "PRESENT", "PRESENT", "NULL_VALUE"])
    );
    assert_eq!(
        column(&answer, "stats__title")["values"],
        json!(["cheap", "edge", "dear", "no price"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn merge_upserts_and_overwrite_replaces() {
    let e = env().await;
    let now = now_rfc3339();
    publish_stats(
        &e,
        "a.jsonl",
        &[
            (1, "\"price\": 5, \"title\": \"a\", "),
            (2, "\"price\": 20, \"title\": \"b\", "),
        ],
        &now,
        WriteMode::Merge,
    )
    .await;
    let s = publish_stats(
        &e,
        "b.jsonl",
        &[(1, "\"price\": 60, ")],
        &now,
        WriteMode::Merge,
    )
    .await;
    assert_eq!(s.written, 1, "{s}");
    let answer = get(&e, &["stats:price", "stats:bucket", "stats:title"], &[1, 2]).await;
    assert_eq!(column(&answer, "price")["values"], json!([60.0, 20.0]));
    assert_eq!(column(&answer, "bucket")["values"], json!([2, 1]));
    assert_eq!(
        column(&answer, "title")["values"],
        json!(["a", "b"]),
        "merge keeps fields the input lacks"
    );

    let s = publish_stats(
        &e,
        "c.jsonl",
        &[(1, "\"price\": 7, ")],
        &now,
        WriteMode::Overwrite,
    )
    .await;
    assert_eq!((s.written, s.deleted), (1, 1), "{s}");
    let answer = get(&e, &["stats:price", "stats:title"], &[1, 2]).await;
    assert_eq!(column(&answer, "price")["values"], json!([7.0, null]));
    assert_eq!(
        column(&answer, "title")["statuses"],
        json!(["NULL_VALUE", "NOT_FOUND"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_with_failed_rows_deletes_nothing() {
    let e = env().await;
    let now = now_rfc3339();
    publish_stats(
        &e,
        "a.jsonl",
        &[(1, "\"price\": 5, "), (2, "\"price\": 6, ")],
        &now,
        WriteMode::Merge,
    )
    .await;
    let s = publish_stats(
        &e,
        "b.jsonl",
        &[(1, "\"price\": 8, "), (2, "\"price\": \"oops\", ")],
        &now,
        WriteMode::Overwrite,
    )
    .await;
    assert_eq!((s.written, s.deleted, s.failed()), (1, 0, 1), "{s}");
    let answer = get(&e, &["stats:price"], &[1, 2]).await;
    assert_eq!(column(&answer, "price")["values"], json!([8.0, 6.0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_event_never_overwrites_a_newer_one() {
    let e = env().await;
    let now = wafer::time::Micros::now();
    let newer = now.rfc3339();
    let older = now.minus(std::time::Duration::from_secs(600)).rfc3339();
    publish_stats(
        &e,
        "a.jsonl",
        &[(1, "\"price\": 5, ")],
        &newer,
        WriteMode::Merge,
    )
    .await;
    let s = publish_stats(
        &e,
        "b.jsonl",
        &[(1, "\"price\": 99, ")],
        &older,
        WriteMode::Merge,
    )
    .await;
    assert_eq!((s.written, s.stale), (0, 1), "{s}");
    let answer = get(&e, &["stats:price"], &[1]).await;
    assert_eq!(column(&answer, "price")["values"], json!([5.0]));
    assert_eq!(
        column(&answer, "price")["event_timestamps"][0],
        json!(newer)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ttl_marks_old_values_outside_max_age() {
    let e = env().await;
    let now = wafer::time::Micros::now();
    let old = now.minus(std::time::Duration::from_secs(7200)).rfc3339();
    let rows = now_rows(&[(1, "\"price\": 5, ")], &old)
        + &now_rows(&[(2, "\"price\": 6, ")], &now.rfc3339());
    publish(&e, "stats", "a.jsonl", &rows, WriteMode::Merge).await;
    let answer = get(&e, &["stats:price"], &[1, 2]).await;
    assert_eq!(
        column(&answer, "price")["statuses"],
        json!(["OUTSIDE_MAX_AGE", "PRESENT"])
    );
    assert_eq!(column(&answer, "price")["values"], json!([null, 6.0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_4xx_naming_the_problem() {
    let e = env().await;
    let base = start_server(&e.app).await;
    let cases = [
        (
            json!({"features": ["nope:x"], "entities": {"item_id": [1]}}),
            404,
            "nope",
        ),
        (
            json!({"features": ["stats:nope"], "entities": {"item_id": [1]}}),
            404,
            "nope",
        ),
        (
            json!({"features": ["stats"], "entities": {"item_id": [1]}}),
            400,
            "view:feature",
        ),
        (
            json!({"features": ["stats:price"], "entities": {"user_id": [1]}}),
            400,
            "item_id",
        ),
        (
            json!({"features": ["stats:price"], "entities": {"item_id": ["a"]}}),
            400,
            "integer",
        ),
        (
            json!({"features": ["stats:price"], "entities": {"item_id": [1], "x": [1, 2]}}),
            400,
            "keys",
        ),
        (
            json!({"features": [], "entities": {"item_id": [1]}}),
            400,
            "features",
        ),
        (
            json!({"feature_service": "nope", "entities": {"item_id": [1]}}),
            404,
            "nope",
        ),
        (
            json!({"features": ["stats:price"], "feature_service": "ranker", "entities": {"item_id": [1]}}),
            400,
            "not both",
        ),
        (
            json!({"features": ["stats:price", "stats:price"], "entities": {"item_id": [1]}}),
            400,
            "\"price\"",
        ),
        (
            json!({"feature_service": 3, "entities": {"item_id": [1]}}),
            400,
            "feature_service",
        ),
        // Unknown fields are ignored (newer Feast clients add some); a
        // misspelled required one is then missing, and named.
        (
            json!({"features": ["stats:price"], "entites": {"item_id": [1]}}),
            400,
            "missing field `entities`",
        ),
        (
            json!({"features": ["stats:price"], "entities": {"item_id": [1]}, "full_feature_names": "yes"}),
            400,
            "full_feature_names",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, answer) = lookup(&base, &body).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(needle),
            "{body} -> {answer}"
        );
    }
    let resp = reqwest::Client::new()
        .post(format!("{base}/get-online-features"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("malformed request body")
    );
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// What Feast 0.67's SDK sends for `get_online_features(features=service,
/// full_feature_names=True, include_feature_view_version_metadata=True)`.
#[tokio::test(flavor = "multi_thread")]
async fn a_feast_read_by_feature_service_with_version_metadata() {
    let e = env().await;
    let now = now_rfc3339();
    let rows = format!(
        "{}{}",
        line(1, &format!("\"ts\": \"{now}\", \"v_raw\": [1, 2, 3]")),
        line(2, &format!("\"ts\": \"{now}\", \"v_raw\": [4, 5, 6]"))
    );
    publish(&e, "vec", "v.jsonl", &rows, WriteMode::Merge).await;
    publish_stats(
        &e,
        "s.jsonl",
        &[(1, "\"price\": 5, ")],
        &now,
        WriteMode::Merge,
    )
    .await;
    let base = start_server(&e.app).await;
    let body = json!({
        "entities": {"item_id": [1, 2]},
        "full_feature_names": true,
        "include_feature_view_version_metadata": true,
        "feature_service": "ranker",
    });
    let (status, answer) = lookup(&base, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["metadata"],
        json!({
            "feature_names": ["item_id", "stats__price", "vec__v"],
            "feature_view_metadata": [{"name": "stats", "version": 0}, {"name": "vec", "version": 0}],
        })
    );
    assert_eq!(answer["results"][1]["values"], json!([5.0, null]));
    assert_eq!(answer["results"][2]["values"][1], json!([4.0, 5.0, 6.0]));
    // Without the flag, no version metadata (as Feast answers).
    let body = json!({"entities": {"item_id": [1]}, "feature_service": "ranker"});
    let (_, answer) = lookup(&base, &body).await;
    assert_eq!(
        answer["metadata"],
        json!({"feature_names": ["item_id", "price", "v"]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_a_restart() {
    let e = env().await;
    let now = now_rfc3339();
    publish_stats(
        &e,
        "a.jsonl",
        &[(1, "\"price\": 5, ")],
        &now,
        WriteMode::Merge,
    )
    .await;
    let cfg = e.dir.path().join("wafer.toml");
    drop(e.app);
    let app = Wafer::open(Path::new(&cfg)).unwrap();
    // The library's typed lookup, as `wafer get` makes it (a feature may
    // be asked twice here: each place gets its column).
    let keys = vec![("item_id".into(), vec![wafer::value::Value::Int64(1)])];
    let lookup = wafer::runtime::Lookup {
        features: ["stats:price", "stats:title", "stats:price"]
            .map(String::from)
            .to_vec(),
        entities: keys.clone(),
        ..Default::default()
    };
    let got = app.lookup(lookup).await.unwrap();
    let (price, title) = (&got.columns[0], &got.columns[1]);
    assert_eq!(price.values[0], wafer::value::Value::Float64(5.0));
    assert_eq!(price.statuses[0], wafer::runtime::Status::Present);
    assert_eq!(title.statuses[0], wafer::runtime::Status::NullValue);
    assert_eq!(got.columns[2].values, price.values);
    assert_eq!(
        (got.columns[2].feature.as_str(), &got.entities),
        ("price", &keys)
    );
    // More keys than a task reads itself go to a blocking thread, which
    // works even where blocking in place would panic (a LocalSet).
    let ids = (1..=12).map(wafer::value::Value::Int64).collect();
    let many = wafer::runtime::Lookup {
        features: vec!["stats:price".into()],
        entities: vec![("item_id".into(), ids)],
        ..Default::default()
    };
    let local = tokio::task::LocalSet::new();
    let got = local.run_until(app.lookup(many)).await.unwrap();
    assert_eq!(got.rows, 12);
    assert_eq!(got.columns[0].values[0], wafer::value::Value::Float64(5.0));
    assert_eq!(
        got.columns[0].statuses[11],
        wafer::runtime::Status::NotFound
    );
}

async fn publish_texts(e: &Env, texts: &[&str]) -> Summary {
    let rows: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| line(i as i64 + 1, &format!("\"review_text\": {t:?}")))
        .collect();
    publish(e, "emb", "t.jsonl", &rows, WriteMode::Merge).await
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_retried_after_the_servers_wait() {
    let e = env().await;
    e.fake.faults.lock().unwrap().push_back(Fault::Status(
        429,
        "slow down",
        vec![("retry-after-ms", "700")],
    ));
    let s = publish_texts(&e, &["a"]).await;
    assert_eq!((s.written, s.failed()), (1, 0), "{s}");
    let t = e.fake.arrivals.lock().unwrap().clone();
    assert_eq!(t.len(), 2);
    assert!(
        t[1] - t[0] >= std::time::Duration::from_millis(700),
        "retried after {:?}",
        t[1] - t[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_within_the_bound() {
    let e = env().await;
    // max_attempts is 3 in this config: two 503s then success lands the row...
    e.fake.faults.lock().unwrap().extend([
        Fault::Status(503, "busy", vec![]),
        Fault::Status(500, "oops", vec![]),
    ]);
    let s = publish_texts(&e, &["a"]).await;
    assert_eq!(
        (s.written, e.fake.requests.lock().unwrap().len()),
        (1, 3),
        "{s}"
    );
    // ...three 500s exhaust it: the row fails with the reason and the count.
    e.fake
        .faults
        .lock()
        .unwrap()
        .extend(vec![Fault::Status(500, "down", vec![]); 3]);
    let s = publish_texts(&e, &["b"]).await;
    assert_eq!((s.written, s.failed()), (0, 1), "{s}");
    assert!(
        s.failures[0].message.contains("HTTP 500")
            && s.failures[0].message.contains("after 3 attempts"),
        "{s}"
    );
    assert_eq!(e.fake.requests.lock().unwrap().len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_and_quota_errors_are_never_retried() {
    let e = env().await;
    e.fake
        .faults
        .lock()
        .unwrap()
        .push_back(Fault::Status(401, "invalid key", vec![]));
    let s = publish_texts(&e, &["a"]).await;
    assert!(
        s.failed() == 1 && s.failures[0].message.contains("unauthorized"),
        "{s}"
    );
    e.fake
        .faults
        .lock()
        .unwrap()
        .push_back(Fault::Status(429, "insufficient_quota", vec![]));
    let s = publish_texts(&e, &["b"]).await;
    assert!(
        s.failed() == 1 && s.failures[0].message.contains("insufficient_quota"),
        "{s}"
    );
    assert_eq!(
        e.fake.requests.lock().unwrap().len(),
        2,
        "one request each, no retries"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn identical_texts_are_embedded_once_and_a_republish_makes_no_calls() {
    let e = env().await;
    let s = publish_texts(&e, &["same", "same", "other", "same"]).await;
    assert_eq!(s.written, 4, "{s}");
    let mut sent: Vec<String> = e.fake.requests.lock().unwrap().concat();
    sent.sort();
    assert_eq!(sent, ["other", "same"], "each distinct text once");
    assert_eq!(
        (s.embed.cache_hits, s.embed.cache_misses, s.embed.requests),
        (0, 2, 1),
        "{s}"
    );

    // Row 1 changed to a text seen before (a cache hit); row 2 is unchanged
    // (its stored value is reused without asking the cache).
    let s = publish_texts(&e, &["other", "same"]).await;
    assert_eq!(
        (s.written, s.embed.requests, s.embed.cache_hits, s.reused),
        (2, 0, 1, 1),
        "{s}"
    );

    // The cache lives in the store: it survives a restart.
    let Env { dir, app, fake } = e;
    drop(app);
    let app = Wafer::open(&dir.path().join("wafer.toml")).unwrap();
    let input = write_file(
        dir.path(),
        "again.jsonl",
        &line(9, "\"review_text\": \"same\""),
    );
    let req = PublishRequest {
        view: "emb".into(),
        input,
        format: None,
        partition: None,
        mode: WriteMode::Merge,
        no_transform: false,
    };
    let s = app.publish(req, |_| {}).await.unwrap();
    assert_eq!((s.written, s.embed.requests), (1, 0), "{s}");
    assert_eq!(fake.requests.lock().unwrap().len(), 1);
}
