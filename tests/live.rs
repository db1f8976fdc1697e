//! The live store: one running wafer serves lookups while it takes pushes
//! (Feast's write API), publishes and reloads. Real RocksDB in temp dirs,
//! the real built-in plugins, real HTTP on 127.0.0.1:0, the real binary for
//! the CLI and for crashes.

use crate::util::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const DIMS: usize = 8;

/// A store with three views: `stats` (plain fields and the bucketize UDF),
/// `emb` (llm-embedding through the fake API) and `vec` (passthrough).
fn config(base_url: &str, server: &str) -> String {
    format!(
        r#"
[server]
{server}

[[llm]]
name = "fake"
base_url = "{base_url}"
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
name = "stats"
entity = "item"
event_time = "ts"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "price", type = "DOUBLE" }},
  {{ name = "title", type = "STRING" }},
  {{ name = "bucket", type = "INT64", transform = {{ plugin = "bucketize", input = "price", options = {{ boundaries = [10, 50] }} }} }},
]

[[feature_view]]
name = "emb"
entity = "item"
batch_size = 256
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "review", type = "ARRAY<FLOAT>", transform = {{ plugin = "llm-embedding", llm = "fake", input = "text" }} }},
]

[[feature_view]]
name = "vec"
entity = "item"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "v", type = "ARRAY<FLOAT>", dimensions = 3, transform = {{ plugin = "passthrough", input = "v_raw" }} }},
]

[[push_source]]
name = "stats_push"
view = "stats"
"#
    )
}

struct Live {
    dir: tempfile::TempDir,
    server: Server,
    fake: FakeEmbedder,
}

async fn live(server: &str) -> Live {
    let fake = fake_embedder(DIMS).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "key.txt", API_KEY);
    let cfg = write_config(dir.path(), &config(&fake.base_url, server));
    let server = Server::start(&cfg).await;
    Live { dir, server, fake }
}

fn write_body(view: &str, df: Value) -> Value {
    json!({"feature_view_name": view, "df": df, "allow_registry_cache": false})
}

/// What Feast 0.67's SDK sends for `write_to_online_store` (and for
/// `push(..., to=ONLINE)`): columnar, naive UTC timestamps, `created` maybe null.
#[tokio::test(flavor = "multi_thread")]
async fn feast_writes_land_per_row_and_read_back() {
    let l = live("").await;
    let df = json!({
        "item_id": [1, 2, 3],
        "price": [5.5, "not a number", 70],
        "title": ["a", "b", null],
        "event_timestamp": ["2026-11-30T12:16:33", "2026-11-30T12:16:33", "2026-11-30T12:16:34"],
        "created": [null, null, null],
    });
    let (status, answer) = l.server.write("stats", df).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["written"].as_u64(), answer["failed"].as_u64()),
        (Some(2), Some(1)),
        "{answer}"
    );
    assert_eq!(answer["rows"][0]["status"], "written");
    assert_eq!(answer["rows"][1]["status"], "failed");
    assert!(
        answer["rows"][1]["error"]
            .as_str()
            .unwrap()
            .contains("price"),
        "{answer}"
    );
    let got = l
        .server
        .lookup(&["stats:price", "stats:bucket", "stats:title"], &[1, 2, 3])
        .await;
    assert_eq!(column(&got, "price")["values"], json!([5.5, null, 70.0]));
    assert_eq!(
        column(&got, "price")["statuses"],
        json!(["PRESENT", "NOT_FOUND", "PRESENT"])
    );
    assert_eq!(column(&got, "bucket")["values"], json!([0, null, 2]));
    assert_eq!(column(&got, "title")["statuses"][2], "NULL_VALUE");
    assert_eq!(
        column(&got, "price")["event_timestamps"][0],
        "2026-11-30T12:16:33Z"
    );
    // The failed row is a dead letter naming the request it came in.
    let letters = l.server.wafer.dead_letters("stats").await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].input.as_deref(),
        Some("POST /write-to-online-store")
    );
    assert_eq!(letters[0].line, 2);

    // Feast's own /push endpoint, by push source.
    let push = json!({"push_source_name": "stats_push", "df": {"item_id": [2], "price": [20]}, "to": "online"});
    let (status, answer) = l.server.post("/push", &push).await;
    assert_eq!((status, &answer["written"]), (200, &json!(1)), "{answer}");
    assert!(
        l.server
            .wafer
            .dead_letters("stats")
            .await
            .unwrap()
            .is_empty(),
        "a landed row clears its dead letter"
    );
    // An older event for a stored key is reported stale and changes nothing.
    let old = json!({"item_id": [1], "price": [99], "event_timestamp": ["2020-01-01T00:00:00"]});
    let (_, answer) = l.server.write("stats", old).await;
    assert_eq!(answer["rows"][0]["status"], "stale", "{answer}");
    let got = l.server.lookup(&["stats:price"], &[1, 2]).await;
    assert_eq!(column(&got, "price")["values"], json!([5.5, 20.0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_writes_are_4xx_naming_the_problem_and_store_nothing() {
    let l = live("max_rows_per_write = 5").await;
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/write-to-online-store",
            json!({"feature_view_name": "nope", "df": {"item_id": [1]}}),
            404,
            "no feature view named \"nope\"",
        ),
        (
            "/write-to-online-store",
            write_body("stats", json!({"item_id": [1, 2], "price": [1]})),
            400,
            "df.price has 1 values, other columns have 2",
        ),
        (
            "/write-to-online-store",
            write_body("stats", json!({"item_id": [1], "prize": [1]})),
            400,
            "df.prize: view stats has no such column",
        ),
        (
            "/write-to-online-store",
            write_body("stats", json!({"item_id": 1})),
            400,
            "`df.item_id`: invalid type: integer `1`, expected a list (df is columnar)",
        ),
        (
            "/write-to-online-store",
            write_body("stats", json!({"item_id": [1], "price": [{"a": 1}]})),
            400,
            "df.price[0]",
        ),
        (
            "/write-to-online-store",
            write_body("stats", json!({"item_id": [1, 2, 3, 4, 5, 6]})),
            413,
            "6 rows in one write; the limit is 5",
        ),
        (
            "/write-to-online-store",
            json!({"df": {"item_id": [1]}}),
            400,
            "missing field `feature_view_name`",
        ),
        (
            "/push",
            json!({"push_source_name": "stats_push", "df": {"item_id": [1]}, "to": "offline"}),
            400,
            "wafer keeps no offline store",
        ),
        (
            "/push",
            json!({"push_source_name": "stats_push", "df": {"item_id": [1]}, "to": "sideways"}),
            400,
            "is not a push mode",
        ),
        (
            "/push",
            json!({"push_source_name": "nope", "df": {"item_id": [1]}}),
            404,
            "no push source named \"nope\"",
        ),
    ];
    for (path, body, want, says) in cases {
        let (status, answer) = l.server.post(path, &body).await;
        assert_eq!(status, want, "{path} {body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(says),
            "{path} {body}: {answer}"
        );
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/write-to-online-store", l.server.url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("malformed request body")
    );
    // A Parquet body's rows are counted from its footer, before decoding.
    let ids: Vec<i64> = (1..=6).collect();
    let body = parquet_body(vec![(
        "item_id",
        std::sync::Arc::new(arrow_array::Int64Array::from(ids)) as arrow_array::ArrayRef,
    )]);
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/write-to-online-store?feature_view_name=stats",
            l.server.url
        ))
        .header("content-type", "Application/Vnd.Apache.Parquet")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(resp.text().await.unwrap().contains("6 rows in one write"));
    // A key of the wrong type fails its row only.
    let df = json!({"item_id": [1, "two"], "price": [3, 4]});
    let (status, answer) = l.server.write("stats", df).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"][1]["kind"], "input", "{answer}");
    assert_eq!(
        l.server.wafer.store().count("stats").unwrap(),
        1,
        "only the good row of all the above"
    );
}

/// A Parquet file's bytes with these columns.
fn parquet_body(columns: Vec<(&str, arrow_array::ArrayRef)>) -> Vec<u8> {
    let batch = arrow_array::RecordBatch::try_from_iter(columns).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// The same writes with a Parquet body (what a warehouse or pandas'
/// `to_parquet` makes): the df's columns, the request's other fields as
/// query parameters. The rows go through the view's plugins like JSON rows;
/// a body that is not Parquet, a column of the wrong type or an unknown one
/// is a 400 naming it, and stores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn parquet_bodies_write_and_push_like_json() {
    use arrow_array::TimestampMicrosecondArray;
    use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let l = live("").await;
    let post = |path: &str, body: Vec<u8>| {
        let req = reqwest::Client::new()
            .post(format!("{}{path}", l.server.url))
            .header("content-type", "application/vnd.apache.parquet")
            .body(body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    // 2026-11-30T12:16:33Z.
    let at = 1_796_040_993_000_000i64;
    let rows = |ids: Vec<i64>, prices: ArrayRef| {
        let n = ids.len();
        parquet_body(vec![
            ("item_id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("price", prices),
            ("title", Arc::new(StringArray::from(vec!["t"; n]))),
            (
                "event_timestamp",
                Arc::new(TimestampMicrosecondArray::from(vec![at; n]).with_timezone("UTC")),
            ),
        ])
    };
    let prices = |p: Vec<f64>| Arc::new(Float64Array::from(p)) as ArrayRef;
    let body = rows(vec![1, 2], prices(vec![5.5, 70.0]));
    let (status, answer) = post("/write-to-online-store?feature_view_name=stats", body).await;
    assert_eq!((status, &answer["written"]), (200, &json!(2)), "{answer}");
    let got = l
        .server
        .lookup(&["stats:price", "stats:bucket"], &[1, 2])
        .await;
    assert_eq!(column(&got, "price")["values"], json!([5.5, 70.0]));
    assert_eq!(
        column(&got, "bucket")["values"],
        json!([0, 2]),
        "the plugin ran"
    );
    assert_eq!(
        column(&got, "price")["event_timestamps"][0],
        "2026-11-30T12:16:33Z"
    );
    let body = rows(vec![2], prices(vec![20.0]));
    let (status, answer) = post("/push?push_source_name=stats_push&to=online", body).await;
    assert_eq!((status, &answer["written"]), (200, &json!(1)), "{answer}");

    let bools = Arc::new(BooleanArray::from(vec![true])) as ArrayRef;
    let unknown = parquet_body(vec![
        ("item_id", Arc::new(Int64Array::from(vec![3])) as ArrayRef),
        ("colour", Arc::new(StringArray::from(vec!["red"]))),
    ]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "/write-to-online-store",
            rows(vec![3], prices(vec![1.0])),
            "needs ?feature_view_name",
        ),
        (
            "/write-to-online-store?feature_view_name=stats",
            b"PAR1 not really".to_vec(),
            "not a readable Parquet body",
        ),
        (
            "/write-to-online-store?feature_view_name=stats",
            rows(vec![3], bools),
            "\"price\" is Boolean, which cannot hold the float64",
        ),
        (
            "/write-to-online-store?feature_view_name=stats",
            unknown,
            "df.colour: view stats has no such column",
        ),
        (
            "/push?push_source_name=stats_push&to=offline",
            rows(vec![3], prices(vec![1.0])),
            "wafer keeps no offline store",
        ),
        (
            "/push?push_source_name=stats_push&transform_on_write=maybe",
            rows(vec![3], prices(vec![1.0])),
            "query parameters of a Parquet body",
        ),
    ];
    for (path, body, says) in cases {
        let (status, answer) = post(path, body).await;
        assert_eq!(status, 400, "{path}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{path}: {answer}");
    }
    let got = l.server.lookup(&["stats:price"], &[1, 2, 3]).await;
    assert_eq!(column(&got, "price")["values"], json!([5.5, 20.0, null]));
}

/// Pushed text is embedded like published text: cached, and reused when unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn pushes_into_an_embedding_view_embed_once() {
    let l = live("").await;
    let df = json!({"item_id": [1, 2, 3], "text": ["good dog food", "bad kettle", "   "]});
    let (status, answer) = l.server.write("emb", df.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"][2]["kind"], "invalid-input",
        "empty text fails its row: {answer}"
    );
    let got = l.server.lookup(&["emb:review"], &[1, 2]).await;
    let want: Vec<f32> = fake_vector("good dog food", DIMS);
    let first: Vec<f32> =
        serde_json::from_value(column(&got, "review")["values"][0].clone()).unwrap();
    assert_eq!(first, want);
    let sent = l.fake.requests.lock().unwrap().len();
    assert!(sent >= 1);
    let (status, answer) = l.server.write("emb", df).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        l.fake.requests.lock().unwrap().len(),
        sent,
        "the same rows again: no embedding request"
    );
}

/// A thousand one-row pushes at once are gathered into plugin batches: they
/// cost about what one thousand-row push costs.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_one_row_pushes_share_plugin_calls_and_embedding_requests() {
    let l = live("").await;
    let texts: Vec<String> = (0..1000).map(|i| format!("review number {i}")).collect();
    let df = json!({"item_id": (0..1000).collect::<Vec<_>>(), "text": texts});
    let calls_before = l.server.wafer.plugin_calls("emb");
    let (status, _) = l.server.write("emb", df).await;
    assert_eq!(status, 200);
    let whole_calls = l.server.wafer.plugin_calls("emb") - calls_before;
    let whole_requests = l.fake.requests.lock().unwrap().len();

    let calls_before = l.server.wafer.plugin_calls("emb");
    let client = reqwest::Client::new();
    let pushes = (1000..2000).map(|i| {
        let (client, url) = (
            client.clone(),
            format!("{}/write-to-online-store", l.server.url),
        );
        let body = write_body(
            "emb",
            json!({"item_id": [i], "text": [format!("review number {i}")]}),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    for p in futures_util::future::join_all(pushes).await {
        assert_eq!(p.unwrap(), 200);
    }
    let one_by_one_calls = l.server.wafer.plugin_calls("emb") - calls_before;
    let one_by_one_requests = l.fake.requests.lock().unwrap().len() - whole_requests;
    assert_eq!(l.server.wafer.store().count("emb").unwrap(), 2000);
    // 1,000 rows in batches of 256: 4 calls and 100 requests of 10 texts.
    assert!(
        one_by_one_calls <= 2 * whole_calls + 4 && one_by_one_requests <= whole_requests * 3 / 2,
        "one 1000-row push: {whole_calls} plugin calls, {whole_requests} embedding requests; \
         1000 one-row pushes: {one_by_one_calls} calls, {one_by_one_requests} requests"
    );
}

/// A slow embedding API: pushes beyond the queue's bound get 429 with
/// Retry-After, and the queue never holds more than its bound.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_api_fills_the_queue_and_pushes_get_429() {
    let l = live("write_queue_rows = 20\nmax_rows_per_write = 5").await;
    *l.fake.latency.lock().unwrap() = Duration::from_millis(400);
    let client = reqwest::Client::new();
    let pushes = (0..40).map(|i| {
        let (client, url) = (
            client.clone(),
            format!("{}/write-to-online-store", l.server.url),
        );
        let ids: Vec<i64> = (i * 5..i * 5 + 5).collect();
        let texts: Vec<String> = ids.iter().map(|k| format!("slow text {k}")).collect();
        let body = write_body("emb", json!({"item_id": ids, "text": texts}));
        tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|h| h.to_str().unwrap().to_string());
            (r.status().as_u16(), retry)
        })
    });
    let answers: Vec<(u16, Option<String>)> = futures_util::future::join_all(pushes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert!(
        !refused.is_empty(),
        "40 pushes of 5 rows into a queue of 20: some are refused"
    );
    assert!(
        refused.iter().all(|(_, r)| r.as_deref() == Some("1")),
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 429),
        "{answers:?}"
    );
    let accepted = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(
        l.server.wafer.store().count("emb").unwrap() as usize,
        accepted * 5
    );
    let (queued, peak) = l.server.wafer.queue_depth("emb").unwrap();
    assert_eq!(queued, 0);
    assert!((5..=20).contains(&peak), "peak queue {peak} rows, bound 20");
}

/// A publish of thousands of rows through the CLI while a client looks up:
/// every lookup is answered, every row lands, the CLI prints its summary.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_publishes_through_a_running_server_while_it_serves() {
    let l = live("").await;
    let rows: String = (0..5000)
        .map(|i| format!("{{\"item_id\": {i}, \"price\": {i}.5, \"ts\": \"2025-05-09\"}}\n"))
        .collect();
    write_file(l.dir.path(), "rows.jsonl", &rows);
    let url = l.server.url.clone();
    let reader = tokio::spawn(async move {
        let mut answered = 0;
        while answered < 200 {
            // Two keys and 20, both within what a request's task may read
            // itself (when the rows are in memory), and 9,000, past it: that
            // lookup blocks its worker in place while the publish lands.
            let ids: Vec<i64> = match answered % 3 {
                0 => vec![1, 4999],
                1 => (4980..5000).collect(),
                _ => (0..9000).map(|i| i % 5000).collect(),
            };
            let body = json!({"features": ["stats:price"], "entities": {"item_id": ids}});
            let (status, answer) = lookup(&url, &body).await;
            assert_eq!(status, 200, "{answer}");
            // results[0] echoes the keys; [1] is what was read for them.
            let price = &answer["results"][1];
            let values = price["values"].as_array().unwrap();
            assert_eq!(values.len(), ids.len(), "{answer}");
            for ((id, v), s) in ids
                .iter()
                .zip(values)
                .zip(price["statuses"].as_array().unwrap())
            {
                match s.as_str() {
                    Some("PRESENT") => assert_eq!(v.as_f64(), Some(*id as f64 + 0.5), "{answer}"),
                    Some("NOT_FOUND") => {}
                    other => panic!("{other:?}: {answer}"),
                }
            }
            answered += 1;
        }
        answered
    });
    let dir = l.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        wafer_cli(
            &dir,
            &["publish", "--view", "stats", "--input", "rows.jsonl"],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("written       5000"), "{}", text(&out));
    assert_eq!(reader.await.unwrap(), 200);
    assert_eq!(l.server.wafer.store().count("stats").unwrap(), 5000);

    // get, deadletter list and reload work while the server owns the store.
    let dir = l.dir.path().to_path_buf();
    let (got, letters, reload) = tokio::task::spawn_blocking(move || {
        (
            wafer_cli(&dir, &["get", "--view", "stats", "--key", "4999"]),
            wafer_cli(&dir, &["deadletter", "list", "--view", "stats"]),
            wafer_cli(&dir, &["reload"]),
        )
    })
    .await
    .unwrap();
    assert!(got.status.success(), "{}", text(&got));
    let got: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(got["price"]["value"], 4999.5);
    assert!(
        text(&letters).contains("0 dead letter(s) in view stats"),
        "{}",
        text(&letters)
    );
    assert!(
        reload.status.success() && text(&reload).contains("\"views\""),
        "{}",
        text(&reload)
    );
}

/// Reload while a client keeps looking up: a new view appears, a rebuilt
/// plugin file is swapped in, a broken config leaves the old version
/// serving, and no lookup ever fails.
#[tokio::test(flavor = "multi_thread")]
async fn reload_swaps_config_and_plugins_without_a_failed_lookup() {
    let dir = tempfile::tempdir().unwrap();
    // The field reads column `input`: `chaos` echoes it upper-cased (7 -> 7.0),
    // `bucketize` buckets it (7 -> 0.0): the stored value tells which ran.
    write_wasm(dir.path(), "udf.wasm", &test_plugin("chaos"));
    let view = |name: &str| {
        format!(
            "[[feature_view]]\nname = \"{name}\"\nentity = \"item\"\nfields = [\n  {{ name = \"id\", type = \"INT64\", primary_key = true }},\n  {{ name = \"out\", type = \"DOUBLE\", transform = {{ plugin = \"udf.wasm\", input = \"input\", options = {{ boundaries = \"10\" }} }} }},\n]\n"
        )
    };
    let entity = "[[entity]]\nname = \"item\"\njoin_key = \"id\"\ntype = \"int64\"\n\n";
    let cfg = write_config(dir.path(), &format!("{entity}{}", view("a")));
    let server = Server::start(&cfg).await;
    let push = |view: &'static str, id: i64| {
        let body = write_body(view, json!({"id": [id], "input": ["7"]}));
        let url = format!("{}/write-to-online-store", server.url);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(push("a", 1).await.0, 200);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looker = {
        let (url, stop) = (server.url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 50 {
                let body = json!({"features": ["a:out"], "entities": {"id": [1]}});
                let (status, answer) = lookup(&url, &body).await;
                assert_eq!(status, 200, "lookup {n}: {answer}");
                n += 1;
            }
            n
        })
    };
    // The admin endpoints need the discovery file's token.
    let (status, _) = server.post("/admin/reload", &json!({})).await;
    assert_eq!(status, 401);
    // A broken config: refused, the old version keeps serving and writing.
    write_config(dir.path(), &format!("{entity}{}fields = 3\n", view("a")));
    let (status, answer) = server.admin("/admin/reload").await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("the running version stays"),
        "{answer}"
    );
    // A broken plugin build: refused the same way.
    write_config(dir.path(), &format!("{entity}{}{}", view("a"), view("b")));
    write_wasm(dir.path(), "udf.wasm", b"not a component");
    let (status, answer) = server.admin("/admin/reload").await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("udf.wasm"),
        "{answer}"
    );
    assert_eq!(push("a", 2).await.1["rows"][0]["status"], "written");
    assert_eq!(push("b", 1).await.0, 404, "view b is not loaded");
    // The fixed build: a new view, and the field now runs bucketize.
    write_wasm(
        dir.path(),
        "udf.wasm",
        wafer::registry::builtin_plugin("bucketize").unwrap(),
    );
    let (status, answer) = server.admin("/admin/reload").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["added"], json!(["b"]));
    assert_eq!(push("a", 3).await.0, 200);
    assert_eq!(push("b", 1).await.0, 200);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(looker.await.unwrap() >= 50);
    let got = server.lookup_of(&["a:out"], "id", &[1, 2, 3]).await;
    assert_eq!(column(&got, "out")["values"], json!([7.0, 7.0, 0.0]));
    let got = server.lookup_of(&["b:out"], "id", &[1]).await;
    assert_eq!(column(&got, "out")["values"], json!([0.0]));
}

/// A view whose API key is missing answers writes with a 503 naming why and
/// still serves lookups; once the key is there, a reload brings it up.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_brings_up_a_view_whose_key_was_missing() {
    let fake = fake_embedder(DIMS).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &config(&fake.base_url, ""));
    let server = Server::start(&cfg).await;
    let df = json!({"item_id": [1], "text": ["late key"]});
    let (status, answer) = server.write("emb", df.clone()).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("key.txt"),
        "{answer}"
    );
    assert_eq!(
        server
            .write("stats", json!({"item_id": [1], "price": [3]}))
            .await
            .0,
        200
    );
    write_file(dir.path(), "key.txt", API_KEY);
    let (status, answer) = server.admin("/admin/reload").await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.write("emb", df).await;
    assert_eq!((status, &answer["written"]), (200, &json!(1)), "{answer}");
}

/// `kill -9` in the middle of a stream of pushes: every acknowledged row is
/// there after a restart. SIGHUP reloads; SIGTERM stops cleanly with exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_pushes_survive_kill_9_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "key.txt", API_KEY);
    let cfg = write_config(dir.path(), &config("http://127.0.0.1:9/v1", ""));
    let mut server = ServerProcess::start(dir.path());
    // Eight clients push one row at a time; the server dies under them,
    // with requests in flight.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (ack, mut acks) = tokio::sync::mpsc::unbounded_channel();
    let clients: Vec<_> = (0..8i64)
        .map(|c| {
            let (url, acked) = (
                format!("{}/write-to-online-store", server.url),
                acked.clone(),
            );
            let ack = ack.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in (0..).map(|n| n * 8 + c) {
                    let body = write_body("stats", json!({"item_id": [i], "price": [i]}));
                    match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status() == 200 => {
                            acked.lock().unwrap().push(i);
                            let _ = ack.send(());
                        }
                        Ok(r) => panic!("push {i}: {}", r.status()),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    for _ in 0..400 {
        acks.recv().await.unwrap();
    }
    server.kill_9();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 400, "{} pushes acknowledged", acked.len());
    let wafer = wafer::Wafer::open(&cfg).unwrap();
    let keys: Vec<wafer::store::EntityKey> = acked
        .iter()
        .map(|i| wafer::store::EntityKey::Int(*i))
        .collect();
    let rows = wafer.store().get_many("stats", &keys).unwrap();
    let lost: Vec<i64> = acked
        .iter()
        .zip(&rows)
        .filter(|(_, r)| r.is_none())
        .map(|(i, _)| *i)
        .collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    drop(wafer);

    let mut server = ServerProcess::start(dir.path());
    let body = write_body("stats", json!({"item_id": [-1], "price": [1]}));
    let r = reqwest::Client::new()
        .post(format!("{}/write-to-online-store", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.signal("HUP");
    server.wait_for("config reloaded");
    assert_eq!(server.terminate(), Some(0), "SIGTERM: a clean stop, exit 0");
    assert!(
        !dir.path().join("data/wafer-server.json").exists(),
        "the discovery file is withdrawn"
    );
    let wafer = wafer::Wafer::open(&cfg).unwrap();
    assert!(
        wafer
            .store()
            .get_many("stats", &[wafer::store::EntityKey::Int(-1)])
            .unwrap()[0]
            .is_some()
    );
}

fn write_wasm(dir: &Path, name: &str, bytes: &[u8]) {
    // Renamed into place, as a build or an editor saves.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}
