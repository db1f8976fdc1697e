//! A view keyed by two entities (user × item, the recommender's bread and
//! butter) through every path a key takes: a file publish, a Feast push,
//! lookups, `wafer get`, dead letters and `wafer views`, against a running
//! server with real RocksDB.

use crate::util::*;
use serde_json::{Value, json};

/// Appended to [`USER_ITEM_ENTITIES`].
const VIEWS: &str = r#"
[[feature_view]]
name = "user_item"
entities = ["user", "item"]
fields = [
  { name = "user_id", type = "STRING", primary_key = true },
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "clicks", type = "INT64" },
]

[[feature_view]]
name = "items"
entity = "item"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "price", type = "DOUBLE" },
]
"#;

fn config() -> String {
    format!("{USER_ITEM_ENTITIES}{VIEWS}")
}

/// Rows sharing a user or an item are distinct entities; one bad value is
/// a dead letter under its pair.
const ROWS: &str = "user_id,item_id,clicks\n\
u1,7,3\n\
u1,8,4\n\
u2,7,5\n\
u2,9,many\n";

async fn lookup(server: &Server, features: &[&str], entities: Value) -> (u16, Value) {
    let body = json!({"features": features, "entities": entities});
    server.post("/get-online-features", &body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_item_view_round_trips_through_publish_push_lookup_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &config());
    write_file(dir.path(), "rows.csv", ROWS);
    let server = Server::start(&cfg).await;
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let args = ["publish", "--view", "user_item", "--input", "rows.csv"];
        wafer_cli(&d, &args)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "one row failed: {}", text(&out));
    let (status, answer) = server
        .write(
            "user_item",
            json!({"user_id": ["u3", "u1"], "item_id": [7, 8], "clicks": [11, 12]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    let (status, answer) = lookup(
        &server,
        &["user_item:clicks", "items:price"],
        json!({"user_id": ["u1", "u1", "u2", "u3", "u2", "u9"], "item_id": [7, 8, 7, 7, 9, 7]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // Join keys first (in the order of the request's JSON object, which a
    // client must not rely on: Feast's clients map columns by name).
    let names = &answer["metadata"]["feature_names"];
    assert_eq!(
        (&names[2], &names[3]),
        (&json!("clicks"), &json!("price")),
        "{names}"
    );
    assert_eq!(
        column(&answer, "clicks")["values"],
        json!([3, 12, 5, 11, null, null])
    );
    let statuses = &column(&answer, "clicks")["statuses"];
    assert_eq!(statuses[4], "NOT_FOUND", "the failed row was not stored");
    assert_eq!(column(&answer, "price")["statuses"][0], "NOT_FOUND");

    let d = dir.path().to_path_buf();
    let (get, letters, views, bad) = tokio::task::spawn_blocking(move || {
        let get = [
            "get",
            "--view",
            "user_item",
            "--key",
            "item_id=7,user_id=u2",
        ];
        let letters = ["deadletter", "list", "--view", "user_item"];
        let bad = ["get", "--view", "user_item", "--key", "user_id=u2"];
        let run = |args: &[&str]| wafer_cli(&d, args);
        (run(&get), run(&letters), run(&["views"]), run(&bad))
    })
    .await
    .unwrap();
    let got: Value =
        serde_json::from_slice(&get.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&get)));
    assert_eq!(
        (
            &got["user_id"]["value"],
            &got["item_id"]["value"],
            &got["clicks"]["value"]
        ),
        (&json!("u2"), &json!(7), &json!(5)),
        "{got}"
    );
    let letters = text(&letters);
    assert!(
        letters.contains(r#"key {"item_id":9,"user_id":"u2"}"#) && letters.contains("field clicks"),
        "{letters}"
    );
    assert!(
        text(&views).contains("user_item  (entity user × item, key user_id string × item_id int64")
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad).contains("--key has no \"item_id\", a join key of view user_item"),
        "{}",
        text(&bad)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_names_the_join_key_it_misses_or_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), &config())).await;
    for (entities, needle) in [
        (
            json!({"user_id": ["u1"]}),
            "entities has no `item_id`, a join key of view user_item",
        ),
        (
            json!({"user_id": ["u1"], "item_id": [7], "shop_id": [1]}),
            "entities.shop_id is not a join key of the views asked for (user_id, item_id)",
        ),
        (
            json!({"user_id": ["u1"], "item_id": ["7"]}),
            "entities.item_id[0]: \"7\" must be an integer",
        ),
        (
            json!({"user_id": ["u1", "u2"], "item_id": [7]}),
            "entities.user_id has 2 keys, other join keys have 1",
        ),
    ] {
        let (status, answer) = lookup(&server, &["user_item:clicks"], entities.clone()).await;
        assert_eq!(status, 400, "{entities}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{entities}: {error}");
    }
    let (status, answer) = server
        .write("user_item", json!({"user_id": ["u1"], "clicks": [1]}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"], "df has no `item_id`, a join key of view user_item",
        "{answer}"
    );
}
