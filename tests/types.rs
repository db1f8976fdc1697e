//! Feast's value types through a running server: each is written by a
//! Feast push (JSON) and by a CSV publish (text), and answered as Feast
//! answers it; a value out of its type's range fails its row by name.

use crate::util::*;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int32"

[[feature_view]]
name = "typed"
entity = "item"
fields = [
  { name = "item_id", type = "INT32", primary_key = true },
  { name = "stock", type = "INT32" },
  { name = "views", type = "INT64" },
  { name = "rate", type = "FLOAT32" },
  { name = "price", type = "FLOAT64" },
  { name = "title", type = "STRING" },
  { name = "thumb", type = "BYTES" },
  { name = "live", type = "BOOL" },
  { name = "since", type = "UNIX_TIMESTAMP" },
  { name = "tags", type = "ARRAY<STRING>" },
  { name = "clicks", type = "ARRAY<INT64>" },
  { name = "scores", type = "ARRAY<FLOAT64>" },
  { name = "emb", type = "ARRAY<FLOAT32>" },
]
"#;

const FEATURES: [&str; 12] = [
    "stock", "views", "rate", "price", "title", "thumb", "live", "since", "tags", "clicks",
    "scores", "emb",
];

/// What a lookup answers for the row both writes carry.
fn expected() -> Value {
    json!({
        "stock": 2147483647,
        "views": 9007199254740993_i64,
        "rate": 0.8999999761581421,
        "price": 0.9,
        "title": "a, \"b\"",
        "thumb": "YWJj",
        "live": true,
        "since": 1796083201,
        "tags": ["new", "sale"],
        "clicks": [9007199254740993_i64, -1],
        "scores": [0.1, "NaN", "-Infinity"],
        "emb": [0.5, -0.25],
    })
}

const CSV: &str = "item_id,stock,views,rate,price,title,thumb,live,since,tags,clicks,scores,emb\n\
2,2147483647,9007199254740993,0.9,0.9,\"a, \"\"b\"\"\",abc,true,2026-12-01T00:00:01Z,\"[\"\"new\"\",\"\"sale\"\"]\",\"[9007199254740993,-1]\",\"[0.1,\"\"NaN\"\",\"\"-Infinity\"\"]\",\"[0.5,-0.25]\"\n\
3,2147483648,1,1,1,x,,false,0,[],[],[],[1]\n\
4,1,1,1e39,1,x,,false,0,[],[],[],[1]\n\
5,1,1,1,1,x,,false,0,\"[\"\"a\"\",null]\",[],[],[1]\n";

async fn answer(server: &Server, ids: &[i64]) -> Value {
    let features: Vec<String> = FEATURES.iter().map(|f| format!("typed:{f}")).collect();
    let body = json!({"features": features, "entities": {"item_id": ids}});
    let (status, answer) = server.post("/get-online-features", &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn each_feast_type_round_trips_through_a_push_and_a_csv_publish() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), CONFIG);
    write_file(dir.path(), "rows.csv", CSV);
    let server = Server::start(&cfg).await;
    let mut df = serde_json::Map::new();
    df.insert("item_id".into(), json!([1]));
    for (name, value) in expected().as_object().unwrap() {
        // The push sends what Feast's SDK sends: 0.9 for the float32.
        // Text for bytes is its UTF-8 (answered in base64); a naive time is UTC.
        let value = match name.as_str() {
            "rate" => json!(0.9),
            "thumb" => json!("abc"),
            "since" => json!("2026-12-01T00:00:01.5"),
            _ => value.clone(),
        };
        df.insert(name.clone(), json!([value]));
    }
    let (status, body) = server.write("typed", Value::Object(df)).await;
    assert_eq!((status, &body["written"]), (200, &json!(1)), "{body}");

    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        wafer_cli(&d, &["publish", "--view", "typed", "--input", "rows.csv"])
    })
    .await
    .unwrap();
    let summary = text(&out);
    assert_eq!(out.status.code(), Some(2), "{summary}");
    for needle in [
        "key 3: field `stock`: 2147483648 is out of int32 range",
        "key 4: field `rate`: 1e39 is out of float32 range",
        "key 5: field `tags`: list element 1 is null",
    ] {
        assert!(summary.contains(needle), "{needle}: {summary}");
    }

    let got = answer(&server, &[1, 2]).await;
    let mut want = expected();
    for (i, f) in FEATURES.iter().enumerate() {
        let col = &got["results"][i + 1];
        assert_eq!(got["metadata"]["feature_names"][i + 1], *f);
        let value = want[f].take();
        assert_eq!(col["values"], json!([value, value]), "{f}: {got}");
    }
}
