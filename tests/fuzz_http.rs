//! The HTTP endpoints under random and mutated bodies: valid Feast requests
//! with a node replaced by a random value, bytes flipped, cut short, or
//! junk. No answer may be a 5xx, no request may take the server down, and
//! what was stored before still reads back. Seeded: a failure names the
//! seed and the body, so it can be replayed.

use crate::util::*;
use serde_json::{Value, json};

/// The `stats` view with a field of each kind (plain, text, plugin-made
/// scalar, vector), a push source and a feature service over it.
fn config() -> String {
    let fields = r#"  { name = "price", type = "DOUBLE" },
  { name = "title", type = "STRING" },
  { name = "bucket", type = "INT64", transform = { plugin = "bucketize", input = "price", options = { boundaries = [10, 50] } } },
  { name = "v", type = "ARRAY<FLOAT>", dimensions = 3, transform = { plugin = "passthrough", input = "v_raw" } },
"#;
    let rest = r#"
[[push_source]]
name = "stats_push"
view = "stats"

[[feature_service]]
name = "all"
features = ["stats"]
"#;
    format!("{}{rest}", stats_config(fields))
}

/// Valid requests, one or more per endpoint, to mutate.
fn seeds() -> Vec<(&'static str, Value)> {
    let df = json!({
        "item_id": [1, 2], "price": [5.0, 60.0], "title": ["a", "b"],
        "v_raw": [[1, 2, 3], [4, 5, 6]], "event_timestamp": ["2026-11-30T12:16:33", null],
    });
    vec![
        (
            "/get-online-features",
            json!({"features": ["stats:price", "stats:v"], "entities": {"item_id": [1, 2, 3]},
                   "full_feature_names": true, "include_feature_view_version_metadata": true}),
        ),
        (
            "/get-online-features",
            json!({"feature_service": "all", "entities": {"item_id": [1]}}),
        ),
        (
            "/write-to-online-store",
            json!({"feature_view_name": "stats", "df": df.clone(), "allow_registry_cache": false}),
        ),
        (
            "/push",
            json!({"push_source_name": "stats_push", "df": df, "to": "online"}),
        ),
    ]
}

fn random_value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    match rng.u8(0..12) {
        0 => Value::Null,
        1 => json!(rng.bool()),
        2 => json!(rng.i64(..)),
        3 => json!(rng.f64() * 1e300 * if rng.bool() { -1.0 } else { 1.0 }),
        4 => json!(u64::MAX),
        5 => json!(""),
        6 => json!("NaN"),
        7 => json!("é\u{0}\u{202e}".repeat(rng.usize(1..50))),
        8 => json!("2026-13-45T99:99:99"),
        9 if depth < 4 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        10 if depth < 4 => {
            let keys = ["item_id", "price", "df", "features", "entities", "x", ""];
            let pairs = (0..rng.usize(0..4)).map(|_| {
                (
                    keys[rng.usize(..keys.len())].to_string(),
                    random_value(rng, depth + 1),
                )
            });
            Value::Object(pairs.collect())
        }
        _ => json!(rng.i64(-3..3)),
    }
}

/// `v` with one node (chosen at random, at any depth) replaced.
fn mutate(rng: &mut fastrand::Rng, v: &mut Value) {
    let n = match v {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    };
    if n == 0 || rng.u8(0..4) == 0 {
        *v = random_value(rng, 0);
        return;
    }
    let k = rng.usize(..n);
    match v {
        Value::Array(a) => mutate(rng, &mut a[k]),
        Value::Object(o) => mutate(rng, o.values_mut().nth(k).expect("k < len")),
        _ => unreachable!("n > 0 only for arrays and objects"),
    }
}

fn body(rng: &mut fastrand::Rng, seed: &Value) -> Vec<u8> {
    let mut v = seed.clone();
    match rng.u8(0..10) {
        0 => (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect(),
        1 => {
            let mut b = serde_json::to_vec(&v).unwrap();
            b.truncate(rng.usize(..b.len()));
            b
        }
        2 => {
            let mut b = serde_json::to_vec(&v).unwrap();
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..b.len());
                b[i] = rng.u8(..);
            }
            b
        }
        _ => {
            for _ in 0..rng.usize(1..3) {
                mutate(rng, &mut v);
            }
            serde_json::to_vec(&v).unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mutated_bodies_never_get_a_5xx_nor_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), &config())).await;
    let seeds = seeds();
    assert_eq!(server.post(seeds[2].0, &seeds[2].1).await.0, 200);
    // A row no mutation reaches (their keys are small or random): it must
    // read back unchanged at the end.
    let sentinel = json!({"item_id": [987_654_321], "price": [42.5], "title": ["kept"]});
    assert_eq!(server.write("stats", sentinel).await.0, 200);
    let client = reqwest::Client::new();
    // WAFER_FUZZ_SEED replays a failure, or tries other bodies.
    let seed = std::env::var("WAFER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261130);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..1500 {
        let (path, valid) = &seeds[rng.usize(..seeds.len())];
        let body = body(&mut rng, valid);
        let resp = client
            .post(format!("{}{path}", server.url))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed {seed}, body {i} to {path}: {e}"));
        let status = resp.status().as_u16();
        let answer = resp.text().await.unwrap();
        assert!(
            status < 500,
            "seed {seed}, body {i} to {path}: {status} {answer}\nbody: {}",
            String::from_utf8_lossy(&body)
        );
        if status >= 400 {
            let error: Value = serde_json::from_str(&answer).expect("errors are JSON");
            assert!(error["error"].is_string(), "{answer}");
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    // Most mutations are refused, and some still pass: both sides exercised.
    assert!(statuses.get(&400).is_some_and(|n| *n > 300), "{statuses:?}");
    assert!(statuses.get(&200).is_some_and(|n| *n > 50), "{statuses:?}");
    let answer = server
        .lookup(&["stats:price", "stats:title"], &[987_654_321])
        .await;
    assert_eq!(answer["results"][1]["values"], json!([42.5]), "{answer}");
    assert_eq!(answer["results"][2]["values"], json!(["kept"]), "{answer}");
}
