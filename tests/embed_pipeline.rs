//! The production embedding path end to end: the real client against an
//! in-process OpenAI-compatible server that injects faults, the real
//! `llm-embedding` plugin, real RocksDB. Every test ends with each row either
//! stored correctly or dead-lettered with its reason, and checks the request
//! log for what the client did.

use crate::util::*;
use std::time::Duration;
use wafer::Wafer;
use wafer::ingest::{PublishRequest, Summary, deadletter};
use wafer::store::{EntityKey, WriteMode};

const DIMS: usize = 4;

struct Env {
    dir: tempfile::TempDir,
    app: Wafer,
    fake: FakeEmbedder,
}

/// A config with one `[[llm]]` (batch 3, concurrency 2, 3 attempts, 1 s
/// timeout) plus `extra` lines, and a view embedding `text`.
async fn env(extra: &str) -> Env {
    let fake = fake_embedder(DIMS).await;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "key.txt", API_KEY);
    let body = format!(
        r#"
[[llm]]
name = "fake"
base_url = "{}"
model = "m"
api_key_file = "key.txt"
batch_size = 3
concurrency = 2
dimensions = {DIMS}
max_attempts = 3
retry_initial_ms = 20
timeout_secs = 1
{extra}

[[entity]]
name = "item"
join_key = "id"
type = "int64"

[[feature_view]]
name = "emb"
entity = "item"
batch_size = 16
fields = [
  {{ name = "id", type = "INT64", primary_key = true }},
  {{ name = "vec", type = "ARRAY<FLOAT>", transform = {{ plugin = "llm-embedding", llm = "fake", input = "text" }} }},
]
"#,
        fake.base_url
    );
    let cfg = write_config(dir.path(), &body);
    let app = Wafer::open(&cfg).unwrap();
    Env { dir, app, fake }
}

fn rows<S: AsRef<str>>(texts: &[S]) -> String {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{{\"id\": {}, \"text\": {:?}}}\n", i + 1, t.as_ref()))
        .collect()
}

async fn publish<S: AsRef<str>>(e: &Env, texts: &[S]) -> Summary {
    let input = write_file(e.dir.path(), "in.jsonl", &rows(texts));
    let req = PublishRequest {
        view: "emb".into(),
        input,
        format: None,
        partition: None,
        mode: WriteMode::Merge,
        no_transform: false,
    };
    e.app.publish(req, |_| {}).await.unwrap()
}

fn requests(e: &Env) -> Vec<Vec<String>> {
    e.fake.requests.lock().unwrap().clone()
}

fn stored(e: &Env, id: i64) -> Option<Vec<f32>> {
    let row = e
        .app
        .store()
        .get_many("emb", &[EntityKey::Int(id)])
        .unwrap()
        .remove(0)?;
    match row.get("vec")? {
        wafer::value::Value::Vector(v) => Some(v.clone()),
        other => panic!("not a vector: {other:?}"),
    }
}

async fn dead(e: &Env) -> Vec<deadletter::DeadLetter> {
    e.app.dead_letters("emb").await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn republishing_unchanged_rows_makes_no_calls_and_a_changed_row_one() {
    let e = env("").await;
    let texts = ["a", "b", "c", "d", "e"];
    let s = publish(&e, &texts).await;
    assert_eq!((s.written, s.embed.requests), (5, 2), "{s}");
    // Same file again: every value reused, not even a cache lookup.
    let s = publish(&e, &texts).await;
    assert_eq!(
        (s.written, s.reused, s.embed.requests, s.embed.cache_hits),
        (5, 5, 0, 0),
        "{s}"
    );
    let s = publish(&e, &["a", "b", "changed", "d", "e"]).await;
    assert_eq!((s.reused, s.embed.requests), (4, 1), "{s}");
    assert_eq!(requests(&e).last().unwrap(), &["changed"]);
    assert_eq!(stored(&e, 3).unwrap(), fake_vector("changed", DIMS));
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_rows_are_dead_lettered_and_a_retry_lands_them() {
    let e = env("").await;
    // Three 503s exhaust the one request's attempts: rows 1-3 fail for now.
    e.fake
        .faults
        .lock()
        .unwrap()
        .extend(vec![Fault::Status(503, "busy", vec![]); 3]);
    let s = publish(&e, &["one", "two", "three"]).await;
    assert_eq!((s.written, s.failed(), s.dead_lettered), (0, 3, 3), "{s}");
    assert!(s.to_string().contains("dead-lettered 3"), "{s}");
    // A row the API rejects for good, next to a good one.
    let more = "{\"id\": 4, \"text\": \"POISON\"}\n{\"id\": 5, \"text\": \"five\"}\n";
    let req = PublishRequest {
        view: "emb".into(),
        input: write_file(e.dir.path(), "more.jsonl", more),
        format: None,
        partition: None,
        mode: WriteMode::Merge,
        no_transform: false,
    };
    let s = e.app.publish(req, |_| {}).await.unwrap();
    assert_eq!((s.written, s.dead_lettered), (1, 1), "{s}");
    let d = dead(&e).await;
    assert_eq!(d.len(), 4);
    assert_eq!(
        (d[0].key.clone(), d[0].field.as_deref()),
        (serde_json::json!(1), Some("vec"))
    );
    let kind = |l: &deadletter::DeadLetter| serde_json::to_value(l.kind).unwrap();
    assert_eq!(kind(&d[0]), "embed-failed");
    assert!(
        d[0].message.contains("HTTP 503") && d[0].message.contains("after 3 attempts"),
        "{d:?}"
    );
    assert_eq!(kind(&d[3]), "invalid-input");
    assert_eq!(
        (d[3].attempts, d[3].record["text"].clone()),
        (1, serde_json::json!("POISON"))
    );

    // The endpoint is healthy again: the retry stores 1-3; the poisoned row stays.
    let s = e.app.retry_dead_letters("emb", |_| {}).await.unwrap();
    assert_eq!((s.rows_read, s.written, s.failed()), (4, 3, 1), "{s}");
    let d = dead(&e).await;
    assert_eq!((d.len(), d[0].attempts), (1, 2), "{d:?}");
    assert_eq!(stored(&e, 2).unwrap(), fake_vector("two", DIMS));
    // Fixing the row at the source and publishing clears its dead letter.
    publish(&e, &["one", "two", "three", "four", "five"]).await;
    assert!(dead(&e).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_are_retried_and_bad_answers_never_stored() {
    let e = env("").await;
    // Each fault hits the one request of a publish of three texts. Transient
    // ones are retried; a well-formed but wrong answer is not: its rows wait
    // as dead letters (a bad vector only its own row), keeping their old values.
    let cases: Vec<(Fault, Option<(&str, u64)>)> = vec![
        (Fault::Hang(Duration::from_millis(1500)), None),
        (Fault::Truncated, None),
        (Fault::NaN, None),
        (Fault::WrongCount, Some(("2 embeddings for 3 inputs", 3))),
        (Fault::Dims(7), Some(("7 dimensions, expected 4", 3))),
        (Fault::Overflow, Some(("non-finite", 1))),
    ];
    for (n, (fault, fatal)) in cases.into_iter().enumerate() {
        let before = requests(&e).len();
        e.fake.faults.lock().unwrap().push_back(fault.clone());
        let texts: Vec<String> = (0..3).map(|i| format!("case {n} text {i}")).collect();
        let s = publish(&e, &texts).await;
        let sent = requests(&e).len() - before;
        let Some((reason, dead_rows)) = fatal else {
            assert_eq!((s.written, s.failed(), sent), (3, 0, 2), "{fault:?}: {s}");
            assert_eq!(s.embed.retries, 1, "{fault:?}");
            assert_eq!(stored(&e, 2).unwrap(), fake_vector(&texts[1], DIMS));
            continue;
        };
        assert_eq!(
            (s.written, s.dead_lettered, sent),
            (3 - dead_rows, dead_rows, 1),
            "{fault:?}: {s}"
        );
        let letters = dead(&e).await;
        assert!(
            letters.iter().all(|d| d.message.contains(reason)),
            "{fault:?}: {letters:?}"
        );
        for d in letters {
            let id = d.key.as_i64().unwrap();
            let old = format!("case 2 text {}", id - 1);
            assert_eq!(
                stored(&e, id),
                Some(fake_vector(&old, DIMS)),
                "{fault:?}: old value kept"
            );
        }
        e.app.purge_dead_letters("emb").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_is_never_exceeded() {
    let e = env("").await;
    *e.fake.latency.lock().unwrap() = Duration::from_millis(30);
    let texts: Vec<String> = (0..60).map(|i| format!("t{i}")).collect();
    let s = publish(&e, &texts).await;
    assert_eq!(s.written, 60, "{s}");
    assert_eq!(
        e.fake
            .peak_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert!(requests(&e).iter().all(|r| r.len() <= 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn long_inputs_follow_the_policy() {
    // 40 distinct words of 4 ASCII chars: 160 chars, 54 estimated tokens.
    let long: String = (0..40).map(|i| format!("w{i:02} ")).collect();
    // truncate (the default): the request holds the first 20 tokens only.
    let e = env("max_input_tokens = 20").await;
    let s = publish(&e, &[&long]).await;
    assert_eq!((s.written, s.embed.truncated), (1, 1), "{s}");
    assert_eq!(requests(&e)[0][0], long[..60]);
    // error: dead-lettered with the counts, no call.
    let e = env("max_input_tokens = 20\nlong_input = \"error\"").await;
    let s = publish(&e, &[&long, "short"]).await;
    assert_eq!((s.written, s.dead_lettered), (1, 1), "{s}");
    assert!(
        dead(&e).await[0]
            .message
            .contains("54 tokens, over max_input_tokens 20"),
        "{:?}",
        dead(&e).await
    );
    assert_eq!(requests(&e), vec![vec!["short".to_string()]]);
    // chunk: pieces of at most 20 tokens, the stored vector their unit-length weighted mean.
    let e = env("max_input_tokens = 20\nlong_input = \"chunk\"").await;
    let s = publish(&e, &[&long]).await;
    assert_eq!((s.written, s.embed.chunked), (1, 1), "{s}");
    let pieces: Vec<String> = requests(&e).concat();
    assert_eq!((pieces.len(), pieces.concat()), (3, long.clone()));
    let v = stored(&e, 1).unwrap();
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{v:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_respect_the_token_budget() {
    let e = env("max_batch_tokens = 10\nmax_input_tokens = 10").await;
    // 12 ASCII chars = 4 tokens each: two fit in a request of 10, not three.
    let texts: Vec<String> = (0..6).map(|i| format!("text number{i}")).collect();
    let s = publish(&e, &texts).await;
    assert_eq!(s.written, 6, "{s}");
    assert!(
        requests(&e).iter().all(|r| r.len() == 2),
        "{:?}",
        requests(&e)
    );
}

/// A hung API cannot hold a plugin call past its deadline: epoch interruption
/// cannot stop a blocked host call, so `embed` itself gives up in time.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_api_ends_at_the_transform_deadline() {
    use wafer::plugin::{Batch, Limits, PluginEngine};
    let e = env("").await;
    e.fake
        .faults
        .lock()
        .unwrap()
        .extend(vec![Fault::Hang(Duration::from_secs(5)); 3]);
    let config = wafer::config::Config::load(&e.dir.path().join("wafer.toml")).unwrap();
    let embed = wafer::embed::EmbedService::new(&config.llms, e.dir.path(), None);
    let limits = Limits {
        call_timeout: Duration::from_millis(700),
        ..Limits::default()
    };
    let engine = PluginEngine::new(std::sync::Arc::new(embed), limits).unwrap();
    let wasm = wafer::registry::builtin_plugin("llm-embedding").unwrap();
    let answer = tokio::task::spawn_blocking(move || {
        let opts = [("input", "t"), ("output", "v"), ("llm", "fake")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec();
        let pool = engine
            .load("llm-embedding", wasm)
            .unwrap()
            .pool("emb", opts)
            .unwrap();
        let slow = wafer::value::Value::String("slow".into());
        let batch = Batch::from_rows(&["t"], vec![vec![slow]]);
        pool.transform(batch)
    })
    .await
    .unwrap();
    // Had the deadline not cut the wait, the API would have answered after
    // its hang and the row would hold a vector.
    let row = answer.unwrap().into_rows().remove(0).unwrap_err();
    assert!(
        row.message.contains("deadline passed while embedding"),
        "{row:?}"
    );
}

/// What a stored value depends on is its inputs and the llm's settings, not
/// where they sit in the file: an edited comment keeps every value; a new
/// model recomputes every row.
#[tokio::test(flavor = "multi_thread")]
async fn only_a_real_config_change_recomputes_stored_values() {
    let e = env("").await;
    let texts = ["a", "b"];
    publish(&e, &texts).await;
    let cfg = e.dir.path().join("wafer.toml");
    let body = std::fs::read_to_string(&cfg).unwrap();
    let Env { dir, app, fake } = e;
    drop(app);
    std::fs::write(&cfg, format!("# edited\n\n{body}")).unwrap();
    let e = Env {
        app: Wafer::open(&cfg).unwrap(),
        dir,
        fake,
    };
    let s = publish(&e, &texts).await;
    assert_eq!((s.reused, s.embed.requests), (2, 0), "{s}");
    let Env { dir, app, fake } = e;
    drop(app);
    std::fs::write(&cfg, body.replace("model = \"m\"", "model = \"m2\"")).unwrap();
    let e = Env {
        app: Wafer::open(&cfg).unwrap(),
        dir,
        fake,
    };
    let s = publish(&e, &texts).await;
    assert_eq!((s.reused, s.embed.requests), (0, 1), "{s}");
}

/// A word-level tokenizer.json: every word or punctuation run is one token.
const WORD_TOKENIZER: &str = r#"{"version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": null, "decoder": null,
  "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}}"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_exact_tokenizer_counts_and_cuts_on_token_boundaries() {
    let words: Vec<String> = (0..30).map(|i| format!("w{i:02}")).collect();
    let long = words.join(" ");
    // Missing file: publishing says which llm and which file, before any row.
    let e = env("max_input_tokens = 20\ntokenizer = \"tok.json\"").await;
    let input = write_file(e.dir.path(), "in.jsonl", &rows(&[&long]));
    let req = PublishRequest {
        view: "emb".into(),
        input,
        format: None,
        partition: None,
        mode: WriteMode::Merge,
        no_transform: false,
    };
    let err = e.app.publish(req, |_| {}).await.unwrap_err().to_string();
    assert!(err.contains("tok.json") && err.contains("fake"), "{err}");
    // With the file: 30 tokens, truncated after the 20th word (the estimate would say 40).
    write_file(e.dir.path(), "tok.json", WORD_TOKENIZER);
    let Env { dir, app, fake } = e;
    drop(app); // one process, one store handle
    let e = Env {
        app: Wafer::open(&dir.path().join("wafer.toml")).unwrap(),
        dir,
        fake,
    };
    let s = publish(&e, &[&long]).await;
    assert_eq!((s.written, s.embed.truncated), (1, 1), "{s}");
    assert_eq!(requests(&e)[0][0], words[..20].join(" "));
}

fn publish_file(e: &Env, body: &str, no_transform: bool) -> PublishRequest {
    PublishRequest {
        view: "emb".into(),
        input: write_file(e.dir.path(), "rows.jsonl", body),
        format: None,
        partition: None,
        mode: WriteMode::Merge,
        no_transform,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_keep_the_last_word_per_key_and_absent_inputs_keep_values() {
    let e = env("").await;
    publish(&e, &["kept"]).await;
    let rows = concat!(
        "{\"id\": 1, \"other\": 5}\n",        // no `text`: vec untouched
        "{\"id\": 2, \"text\": \"\"}\n",      // fails...
        "{\"id\": 2, \"text\": \"fixed\"}\n", // ...then lands: no dead letter
        "{\"id\": 3, \"text\": \"x\", \"event_time\": \"soon\"}\n", // bad time, key readable
    );
    let s = e
        .app
        .publish(publish_file(&e, rows, false), |_| {})
        .await
        .unwrap();
    assert_eq!((s.written, s.failed(), s.dead_lettered), (2, 2, 1), "{s}");
    assert_eq!(stored(&e, 1).unwrap(), fake_vector("kept", DIMS));
    let d = dead(&e).await;
    assert_eq!(
        (d.len(), d[0].key.clone()),
        (1, serde_json::json!(3)),
        "{d:?}"
    );
    assert_eq!(serde_json::to_value(d[0].kind).unwrap(), "input");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_reads_pre_extracted_rows_as_published() {
    let e = env("").await;
    // Pre-extracted vectors of the wrong length fail the schema check...
    let bad = "{\"id\": 1, \"vec_embedding\": [1, 2, 3, 4, 5]}\n";
    let s = e
        .app
        .publish(publish_file(&e, bad, true), |_| {})
        .await
        .unwrap();
    assert_eq!(s.dead_lettered, 1, "{s}");
    assert!(dead(&e).await[0].no_transform);
    // ...and a retry reads `vec_embedding` again, never embedding the absent `text`.
    let s = e.app.retry_dead_letters("emb", |_| {}).await.unwrap();
    assert_eq!((s.written, s.failed(), s.embed.requests), (0, 1, 0), "{s}");
    assert_eq!(dead(&e).await[0].attempts, 2);
    assert!(stored(&e, 1).is_none());
}
