//! Streams: Kafka-protocol topics consumed into views while serving, and a
//! feature topic feeding edge replicas. Real brokers (tansu and noida-db,
//! started here), the real server in process or as a child for `kill -9`,
//! the in-process OpenAI-compatible embedding API. Test data is produced
//! in multi-record batches.

use crate::util::kafka::{BOTH, Broker, Kind};
use crate::util::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const DIMS: usize = 8;

/// `reviews`: a text embedded through the fake API, a score; `extra` adds
/// sources and sinks.
fn config(embed_url: &str, extra: &str) -> String {
    format!(
        r#"
[[llm]]
name = "fake"
base_url = "{embed_url}"
model = "text-embedding-v3"
api_key_file = "key.txt"
batch_size = 10
concurrency = 4
dimensions = {DIMS}

[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "reviews"
entity = "item"
batch_size = 50
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "score", type = "DOUBLE" }},
  {{ name = "blob", type = "BYTES" }},
  {{ name = "review", type = "ARRAY<FLOAT>", transform = {{ plugin = "llm-embedding", llm = "fake", input = "text" }} }},
]

[[push_source]]
name = "reviews_push"
view = "reviews"
{extra}
"#
    )
}

fn source(broker: &Broker, topic: &str, extra: &str) -> String {
    format!(
        "[[source]]\nname = \"{topic}\"\nbrokers = [\"{}\"]\ntopic = \"{topic}\"\nview = \"reviews\"\n{extra}\n",
        broker.address()
    )
}

fn setup(dir: &Path, embed_url: &str, extra: &str) -> std::path::PathBuf {
    write_file(dir, "key.txt", API_KEY);
    write_config(dir, &config(embed_url, extra))
}

/// Records for items `ids`: (key, JSON).
fn reviews(ids: impl Iterator<Item = i64>) -> Vec<(String, String)> {
    ids.map(|i| {
        let v = json!({"item_id": i, "text": format!("review {i}"), "score": i as f64 / 2.0});
        (i.to_string(), v.to_string())
    })
    .collect()
}

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Wait until every partition of every source has stored `records` in
/// all and its lag is 0; the status at that point.
async fn caught_up(url: &str, records: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (total, lagging, status) = progress(url).await;
        if !lagging && total >= records {
            return status;
        }
        assert!(Instant::now() < deadline, "never caught up: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first source's records stored in all, whether any partition lags
/// (or none is known yet), and the whole status.
async fn progress(url: &str) -> (u64, bool, Value) {
    let (_, status) = get(&format!("{url}/admin/sources")).await;
    let parts = status["sources"][0]["partitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = parts
        .iter()
        .map(|p| p["records"].as_u64().unwrap_or(0))
        .sum();
    let lagging = parts.is_empty() || parts.iter().any(|p| p["lag"] != json!(0));
    (total, lagging, status)
}

/// The review vectors of `ids` in `url`'s answer.
async fn vectors(url: &str, ids: &[i64]) -> Vec<Value> {
    let (status, answer) = lookup(
        url,
        &json!({"features": ["reviews:review", "reviews:score"], "entities": {"item_id": ids}}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    column(&answer, "review")["values"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: Kafka-protocol brokers from PyPI"]
async fn a_topic_flows_into_an_embedding_view_and_bad_records_become_dead_letters() {
    for kind in BOTH {
        topic_into_view(kind).await;
    }
}

async fn topic_into_view(kind: Kind) {
    let broker = Broker::start(kind).await;
    broker.create_topic("reviews", 3).await;
    // Per partition: 150 good records, with bad ones among them.
    let mut good = Vec::new();
    for p in 0..3i64 {
        let ids: Vec<i64> = (0..150).map(|i| p * 1000 + i).collect();
        let mut records = reviews(ids.iter().copied());
        records.insert(10, ("x".into(), "not json {".into()));
        records.insert(
            20,
            (
                format!("{}", p * 1000 + 900),
                json!({"item_id": "nine", "text": "t"}).to_string(),
            ),
        );
        records.insert(
            30,
            (
                format!("{}", p * 1000 + 901),
                json!({"item_id": p * 1000 + 901, "text": "t", "score": "high"}).to_string(),
            ),
        );
        records.insert(
            40,
            (
                format!("{}", p * 1000 + 902),
                json!({"item_id": p * 1000 + 902, "text": "POISON"}).to_string(),
            ),
        );
        broker.produce("reviews", p as i32, &records, 40).await;
        good.extend(ids);
    }
    let fake = fake_embedder(DIMS).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &fake.base_url, &source(&broker, "reviews", ""));
    let server = Server::start(&cfg).await;
    let status = caught_up(&server.url, 3 * 154).await;
    let got = vectors(&server.url, &good).await;
    for (id, v) in good.iter().zip(&got) {
        let got: Vec<f32> = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            got,
            fake_vector(&format!("review {id}"), DIMS),
            "{kind:?}: item {id}"
        );
    }
    for p in status["sources"][0]["partitions"].as_array().unwrap() {
        assert_eq!(p["offset"], json!(154), "{kind:?}: {p}");
        assert_eq!(p["high_watermark"], json!(154), "{kind:?}: {p}");
    }
    let letters = server.wafer.dead_letters("reviews").await.unwrap();
    assert_eq!(
        letters.len(),
        12,
        "{kind:?}: four per partition: {letters:#?}"
    );
    for p in 0..3 {
        let input = Some(format!("kafka reviews/{p}"));
        let mut lines: Vec<usize> = letters
            .iter()
            .filter(|l| l.input == input)
            .map(|l| l.line)
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            vec![10, 20, 30, 40],
            "{kind:?}: dead letters at their offsets"
        );
    }
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let written =
        r#"wafer_rows_total{view="reviews",source="source reviews",outcome="written"} 450"#;
    assert!(metrics.contains(written), "{kind:?}: {metrics}");
    for p in 0..3 {
        let lag = format!(
            r#"wafer_source_lag_records{{source="reviews",topic="reviews",partition="{p}"}} 0"#
        );
        assert!(metrics.contains(&lag), "{kind:?}: {metrics}");
    }
    let (ready, why) = get(&format!("{}/ready", server.url)).await;
    assert_eq!(ready, 200, "{why}");

    // Reprocess from the start through the running server: the same rows,
    // no new embedding request (every input is unchanged).
    let asked = fake.requests.lock().unwrap().len();
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let shown = wafer_cli(&d, &["sources"]);
        let reset = wafer_cli(&d, &["source", "reset", "reviews", "--to", "earliest"]);
        (shown, reset)
    })
    .await
    .unwrap();
    assert!(
        out.0.status.success() && text(&out.0).contains("partition 2  offset 154"),
        "{}",
        text(&out.0)
    );
    assert!(out.1.status.success(), "{}", text(&out.1));
    assert!(
        text(&out.1).contains("partition 0: next offset 0"),
        "{}",
        text(&out.1)
    );
    caught_up(&server.url, 3 * 154).await;
    assert_eq!(vectors(&server.url, &good).await, got, "{kind:?}");
    // Only the rows that failed (the API refused them) are tried again.
    let again: Vec<String> = fake.requests.lock().unwrap()[asked..].concat();
    assert!(
        again.iter().all(|t| t == "POISON"),
        "{kind:?}: re-embedded {again:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: Kafka-protocol brokers from PyPI"]
async fn start_at_latest_keeps_its_place_and_reset_goes_to_a_time_or_the_end() {
    for kind in BOTH {
        start_and_reset(kind).await;
    }
}

async fn start_and_reset(kind: Kind) {
    let broker = Broker::start(kind).await;
    broker.create_topic("reviews", 1).await;
    broker.produce("reviews", 0, &reviews(0..100), 25).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let middle = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(Duration::from_millis(50)).await;
    broker.produce("reviews", 0, &reviews(100..150), 25).await;
    let fake = fake_embedder(DIMS).await;
    let dir = tempfile::tempdir().unwrap();
    let latest = source(&broker, "reviews", "start = \"latest\"");
    let cfg = setup(dir.path(), &fake.base_url, &latest);
    let server = Server::start(&cfg).await;
    at_offset(&server.url, 150).await;

    // Records produced while the server is down are taken when it is back:
    // "latest" was where it started, not where it starts each time.
    drop(server);
    broker.produce("reviews", 0, &reviews(150..160), 5).await;
    let server = loop {
        match wafer::Wafer::open(&cfg) {
            Ok(w) => break Server::serve(w).await,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    at_offset(&server.url, 160).await;
    assert_eq!(present(&server.url).await, (150..160).collect::<Vec<_>>());

    let d = dir.path().to_path_buf();
    let reset = move |to: String| {
        let d = d.clone();
        tokio::task::spawn_blocking(move || {
            let out = wafer_cli(&d, &["source", "reset", "reviews", "--to", &to]);
            assert!(out.status.success(), "{}", text(&out));
            text(&out)
        })
    };
    let out = reset("latest".into()).await.unwrap();
    assert!(
        out.contains("partition 0: next offset 160"),
        "{kind:?}: {out}"
    );
    if kind == Kind::Tansu {
        // tansu answers ListOffsets by time with 0 whatever the time (a
        // gap in the test broker; Kafka, Redpanda and DataHub keep a time
        // index): a reset to a time is tested on noida-db.
        return;
    }
    let out = reset(middle).await.unwrap();
    assert!(
        out.contains("partition 0: next offset 100"),
        "{kind:?}: {out}"
    );
    at_offset(&server.url, 160).await;
    assert_eq!(present(&server.url).await, (100..160).collect::<Vec<_>>());
    let soon = chrono::Utc::now() + chrono::Duration::hours(1);
    let out = reset(soon.to_rfc3339()).await.unwrap();
    assert!(
        out.contains("partition 0: next offset 160"),
        "{kind:?}: {out}"
    );
}

/// Wait until partition 0 of the first source has stored up to `offset`.
async fn at_offset(url: &str, offset: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, s) = get(&format!("{url}/admin/sources")).await;
        let p = &s["sources"][0]["partitions"][0];
        if p["offset"] == json!(offset) && p["lag"] == json!(0) {
            return;
        }
        assert!(Instant::now() < deadline, "never at {offset}: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The items of 0..200 with a stored review.
async fn present(url: &str) -> Vec<i64> {
    let ids: Vec<i64> = (0..200).collect();
    let got = vectors(url, &ids).await;
    ids.into_iter()
        .zip(got)
        .filter(|(_, v)| !v.is_null())
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: Kafka-protocol brokers from PyPI"]
async fn kill_9_mid_stream_then_a_restart_resumes_exactly_where_the_store_stands() {
    let broker = Broker::start(Kind::Tansu).await;
    broker.create_topic("reviews", 2).await;
    let ids: Vec<i64> = (0..1200).collect();
    for p in 0..2 {
        let part = ids.iter().copied().filter(|i| i % 2 == p);
        broker
            .produce("reviews", p as i32, &reviews(part), 100)
            .await;
    }
    let fake = fake_embedder(DIMS).await;
    *fake.latency.lock().unwrap() = Duration::from_millis(15);
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &fake.base_url, &source(&broker, "reviews", ""));
    let mut server = ServerProcess::start(dir.path());
    // Die mid-stream: some batches stored, some in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (total, _, s) = progress(&server.url).await;
        if total >= 300 {
            assert!(total < 1200, "the stream ended before the kill: {s}");
            break;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill_9();
    let asked_before = fake.requests.lock().unwrap().len();
    let stored: Vec<i64> = {
        let wafer = wafer::Wafer::open(&cfg).unwrap();
        let keys: Vec<_> = ids
            .iter()
            .map(|i| wafer::store::EntityKey::Int(*i))
            .collect();
        let rows = wafer.store().get_many("reviews", &keys).unwrap();
        ids.iter()
            .zip(rows)
            .filter(|(_, r)| r.is_some())
            .map(|(i, _)| *i)
            .collect()
    };
    assert!(
        !stored.is_empty() && stored.len() < 1200,
        "{} stored at the kill",
        stored.len()
    );

    let server = ServerProcess::start(dir.path());
    caught_up(&server.url, 1200 - stored.len() as u64).await;
    let got = vectors(&server.url, &ids).await;
    for (id, v) in ids.iter().zip(&got) {
        let got: Vec<f32> = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(got, fake_vector(&format!("review {id}"), DIMS), "item {id}");
    }
    let after: Vec<String> = fake.requests.lock().unwrap()[asked_before..].concat();
    let again: Vec<&i64> = stored
        .iter()
        .filter(|i| after.contains(&format!("review {i}")))
        .collect();
    assert!(
        again.is_empty(),
        "rows stored before the kill were embedded again: {again:?}"
    );
    let (_, s) = get(&format!("{}/admin/sources", server.url)).await;
    for p in s["sources"][0]["partitions"].as_array().unwrap() {
        assert_eq!(p["offset"], json!(600), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: Kafka-protocol brokers from PyPI"]
async fn a_broker_down_mid_stream_degrades_the_source_and_its_return_resumes_it() {
    let mut broker = Broker::start_behind_proxy().await;
    broker.create_topic("reviews", 1).await;
    broker.produce("reviews", 0, &reviews(0..100), 25).await;
    let fake = fake_embedder(DIMS).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &fake.base_url, &source(&broker, "reviews", ""));
    let server = Server::start(&cfg).await;
    caught_up(&server.url, 100).await;

    broker.cut();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, why) = get(&format!("{}/ready", server.url)).await;
        if status == 503 {
            let reasons = why["reasons"].to_string();
            assert!(reasons.contains("source reviews"), "{why}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/ready never said the source is degraded"
        );
        // Lookups are served meanwhile.
        assert_eq!(vectors(&server.url, &[0, 99]).await.len(), 2);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker.mend().await;
    broker.produce("reviews", 0, &reviews(100..200), 25).await;
    caught_up(&server.url, 200).await;
    let got = vectors(&server.url, &(0..200).collect::<Vec<_>>()).await;
    assert!(got.iter().all(|v| v.is_array()), "every record stored");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{}/ready", server.url)).await.0 != 200 {
        assert!(Instant::now() < deadline, "/ready stayed degraded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: Kafka-protocol brokers from PyPI"]
async fn a_feature_topic_feeds_two_replicas_that_never_call_the_embedding_api() {
    let broker = Broker::start(Kind::Tansu).await;
    broker.create_topic("features", 2).await;
    let fake = fake_embedder(DIMS).await;
    let producer_dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "[[sink]]\nname = \"features\"\nbrokers = [\"{}\"]\ntopic = \"features\"\nviews = [\"reviews\"]\n",
        broker.address()
    );
    let producer = Server::start(&setup(producer_dir.path(), &fake.base_url, &sink)).await;
    // The replicas' API is another fake: any request to it is a failure.
    let replica_api = fake_embedder(DIMS).await;
    let replica_source = source(&broker, "features", "transform = false");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let configs: Vec<_> = dirs
        .iter()
        .map(|d| setup(d.path(), &replica_api.base_url, &replica_source))
        .collect();
    let first = Server::start(&configs[0]).await;
    let mut second = Some(Server::start(&configs[1]).await);

    let push = |ids: std::ops::Range<i64>, text: &'static str| {
        let ids: Vec<i64> = ids.collect();
        let texts: Vec<String> = ids.iter().map(|i| format!("{text} {i}")).collect();
        // NaN and bytes cross the topic as lookups answer them, and back.
        let scores: Vec<Value> = (ids.iter())
            .map(|i| {
                if i % 50 == 7 {
                    json!("NaN")
                } else {
                    json!(*i as f64)
                }
            })
            .collect();
        let blobs: Vec<String> = ids.iter().map(|i| format!("\u{0}\u{ff}{i}")).collect();
        let df = json!({"item_id": ids, "text": texts, "score": scores, "blob": blobs});
        json!({"push_source_name": "reviews_push", "df": df})
    };
    let (status, answer) = producer.post("/push", &push(0..300, "review")).await;
    assert_eq!(status, 200, "{answer}");
    let ids: Vec<i64> = (0..400).collect();
    converge(
        &producer.url,
        &[&first.url, &second.as_ref().unwrap().url],
        &ids,
        300,
    )
    .await;

    let one = json!({"features": ["reviews:score", "reviews:blob"], "entities": {"item_id": [7]}});
    let (_, seven) = lookup(&first.url, &one).await;
    assert_eq!(seven["results"][1]["values"], json!(["NaN"]), "{seven}");
    assert_eq!(
        seven["results"][2]["values"],
        json!(["AMO/Nw=="]),
        "{seven}"
    );

    // The second replica stops; the producer goes on; it comes back.
    drop(second.take());
    let (status, _) = producer.post("/push", &push(200..400, "newer")).await;
    assert_eq!(status, 200);
    let second = loop {
        match wafer::Wafer::open(&configs[1]) {
            Ok(w) => break Server::serve(w).await,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    converge(&producer.url, &[&first.url, &second.url], &ids, 400).await;

    // A new replica starts from another's backup, offsets and all, and
    // tails the topic from there.
    let d = dirs[0].path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || wafer_cli(&d, &["backup", "backup"]));
    let out = out.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let (status, _) = producer.post("/push", &push(350..450, "latest")).await;
    assert_eq!(status, 200);
    let new = tempfile::tempdir().unwrap();
    let config = setup(new.path(), &replica_api.base_url, &replica_source);
    let backup = dirs[0].path().join("backup");
    let out = wafer_cli(new.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let restored = wafer::Wafer::open(&config).unwrap();
    let offsets = restored.store().source_offsets("features").unwrap();
    assert_eq!(offsets.values().sum::<i64>(), 500, "{offsets:?}");
    let third = Server::serve(restored).await;
    let ids: Vec<i64> = (0..450).collect();
    converge(&producer.url, &[&first.url, &third.url], &ids, 450).await;
    assert!(
        replica_api.requests.lock().unwrap().is_empty(),
        "a replica called the embedding API"
    );
    // The replicas can read a batch before the sink counts it as sent.
    let sent = r#"wafer_sink_rows_total{sink="features",topic="features"} 600"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = reqwest::get(format!("{}/metrics", producer.url));
        let metrics = metrics.await.unwrap().text().await.unwrap();
        if metrics.contains(sent) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sinks = get(&format!("{}/admin/sources", producer.url)).await.1;
    assert_eq!(sinks["sinks"][0]["last_error"], Value::Null, "{sinks}");
}

/// Wait until each replica answers for `ids` exactly as the producer does,
/// with `present` of them found.
async fn converge(producer: &str, replicas: &[&str], ids: &[i64], present: usize) {
    let body = json!({
        "features": ["reviews:review", "reviews:score", "reviews:blob"],
        "entities": {"item_id": ids},
        "full_feature_names": true,
    });
    let (_, want) = lookup(producer, &body).await;
    let found = want["results"][1]["statuses"].as_array().unwrap();
    assert_eq!(
        found.iter().filter(|s| *s == "PRESENT").count(),
        present,
        "{want}"
    );
    for replica in replicas {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, got) = lookup(replica, &body).await;
            if got["results"] == want["results"] {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica {replica} never converged: {got}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
