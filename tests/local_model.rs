//! The local embedding model (`[[llm]] provider = "local"`) with the real
//! all-MiniLM-L6-v2 weights: parity with sentence-transformers, padding and
//! batch invariance, truncation at `max_seq_length`, broken model folders,
//! concurrent calls, and a publish through the `llm-embedding` plugin.

use crate::util::*;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use wafer::Wafer;
use wafer::config::Config;
use wafer::embed::{EmbedErrorKind, EmbedService, LocalModel};
use wafer::ingest::PublishRequest;
use wafer::store::WriteMode;

#[derive(serde::Deserialize)]
struct Reference {
    max_seq_length: usize,
    sentences: Vec<String>,
    vectors: Vec<Option<Vec<f32>>>,
}

/// Vectors sentence-transformers made (tests/fixtures/minilm/make_reference.py).
fn reference() -> Reference {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/minilm/reference.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const ENTITY: &str = "[[entity]]\nname = \"item\"\njoin_key = \"id\"\ntype = \"int64\"\n";

fn service(dir: &Path, extra: &str) -> EmbedService {
    let cfg = write_config(dir, &format!("{}\n{ENTITY}", minilm_llm("minilm", extra)));
    let config = Config::load(&cfg).unwrap();
    EmbedService::new(&config.llms, config.base_dir(), None)
}

/// Non-empty texts of different lengths: the fixture's and some reviews.
fn texts(n: usize) -> Vec<String> {
    let reviews = include_str!("../examples/quickstart/reviews.jsonl");
    let r = reference();
    r.sentences
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .chain(reviews.lines().map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["review_text"].as_str().unwrap().to_string()
        }))
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: the real local model"]
async fn vectors_match_sentence_transformers() {
    let r = reference();
    let dir = tempfile::tempdir().unwrap();
    let embed = service(dir.path(), "");
    let got = embed.embed("minilm", r.sentences.clone()).await;
    let mut worst = 1.0f32;
    for ((s, want), got) in r.sentences.iter().zip(&r.vectors).zip(got) {
        match (want, got) {
            (None, Err(e)) => assert_eq!(e.kind, EmbedErrorKind::InvalidInput, "{s:?}: {e}"),
            (Some(want), Ok(v)) => {
                assert_eq!(v.len(), 384);
                let c = cosine(want, &v);
                worst = worst.min(c);
                assert!(c >= 0.9999, "{s:?}: cosine {c}");
            }
            (want, got) => panic!("{s:?}: expected {:?}, got {got:?}", want.is_some()),
        }
    }
    eprintln!("worst cosine vs sentence-transformers: {worst}");
    assert_eq!(r.max_seq_length, 256);
    assert_eq!(embed.stats().truncated, 1, "the one text over 256 tokens");
}

#[test]
#[ignore = "slow tier: the real local model"]
fn padding_does_not_change_vectors() {
    let model = LocalModel::load(&minilm_dir(), 2).unwrap();
    let texts = texts(32);
    assert_eq!(texts.len(), 32);
    let batch = model.embed(&texts).unwrap();
    for (t, b) in texts.iter().zip(&batch) {
        let alone = model.embed(std::slice::from_ref(t)).unwrap().remove(0);
        let (c, d) = (cosine(&alone, b), max_abs_diff(&alone, b));
        assert!(c >= 0.99999 && d <= 1e-5, "{t:?}: cosine {c}, max diff {d}");
    }
}

#[test]
#[ignore = "slow tier: the real local model"]
fn inputs_are_cut_at_max_seq_length() {
    let model = LocalModel::load(&minilm_dir(), 1).unwrap();
    assert_eq!(model.max_seq_length(), 256);
    let long = reference().sentences.last().unwrap().clone();
    let longer = format!(
        "{long} {}",
        "rockets and kittens disagree loudly ".repeat(30)
    );
    let short = "The kettle boils fast.".to_string();
    let short_changed = format!("{short} It also leaks.");
    let v = model.embed(&[long, longer, short, short_changed]).unwrap();
    assert!(
        max_abs_diff(&v[0], &v[1]) <= 1e-6,
        "past token 256 nothing counts"
    );
    assert!(
        cosine(&v[2], &v[3]) < 0.99,
        "within the limit every word counts"
    );
}

#[test]
#[ignore = "slow tier: the real local model"]
fn a_broken_model_folder_names_the_file() {
    let good = minilm_dir();
    let cases: [(&str, &str, Option<&[u8]>); 4] = [
        ("tokenizer.json", "tokenizer.json is missing", None),
        (
            "model.safetensors",
            "model.safetensors",
            Some(b"\x08\0\0\0\0\0\0\0{}garbage"),
        ),
        ("config.json", "config.json", Some(b"{ not json")),
        (
            "modules.json",
            "module sentence_transformers.models.Dense is not supported",
            Some(br#"[{"type": "sentence_transformers.models.Transformer"}, {"type": "sentence_transformers.models.Dense"}]"#),
        ),
    ];
    for (file, want, content) in cases {
        let dir = broken_copy(&good, file, content);
        let e = LocalModel::load(dir.path(), 1).unwrap_err().to_string();
        assert!(e.contains(want), "{file}: {e}");
    }
}

/// A folder like `good` (files linked, not copied) where `file` is replaced
/// by `content`, or missing.
fn broken_copy(good: &Path, file: &str, content: Option<&[u8]>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "sentence_bert_config.json",
        "modules.json",
        "1_Pooling/config.json",
    ] {
        let dst = dir.path().join(f);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        match (f == file, content) {
            (true, None) => {}
            (true, Some(bytes)) => std::fs::write(&dst, bytes).unwrap(),
            (false, _) => std::os::unix::fs::symlink(good.join(f), &dst).unwrap(),
        }
    }
    dir
}

const VIEWS: &str = r#"
[[feature_view]]
name = "emb"
entity = "item"
fields = [
  { name = "id", type = "INT64", primary_key = true },
  { name = "vec", type = "ARRAY<FLOAT>", dimensions = 384, transform = { plugin = "llm-embedding", llm = "minilm", input = "text" } },
]

[[feature_view]]
name = "plain"
entity = "item"
fields = [
  { name = "id", type = "INT64", primary_key = true },
  { name = "text", type = "STRING" },
]
"#;

fn open_app(dir: &Path, llm: &str, rows: &[String]) -> Wafer {
    let cfg = write_config(dir, &format!("{llm}\n{ENTITY}\n{VIEWS}"));
    let body: String = rows
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": i + 1, "text": t}).to_string() + "\n")
        .collect();
    write_file(dir, "rows.jsonl", &body);
    Wafer::open(&cfg).unwrap()
}

fn request(dir: &Path, view: &str) -> PublishRequest {
    PublishRequest {
        view: view.into(),
        input: dir.join("rows.jsonl"),
        format: None,
        partition: None,
        mode: WriteMode::Merge,
        no_transform: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: the real local model"]
async fn a_broken_model_fails_its_view_only_and_the_server_still_serves() {
    let bad = broken_copy(&minilm_dir(), "model.safetensors", Some(b"not a model"));
    let dir = tempfile::tempdir().unwrap();
    let llm = format!(
        "[[llm]]\nname = \"minilm\"\nprovider = \"local\"\nmodel = \"all-MiniLM-L6-v2\"\nmodel_dir = {:?}\n",
        bad.path()
    );
    let app = open_app(dir.path(), &llm, &texts(3));
    let e = app
        .publish(request(dir.path(), "emb"), |_| {})
        .await
        .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("minilm") && e.contains("model.safetensors"),
        "{e}"
    );
    let s = app
        .publish(request(dir.path(), "plain"), |_| {})
        .await
        .unwrap();
    assert_eq!((s.written, s.failed()), (3, 0), "{s}");
    let base = start_server(&app).await;
    let (status, answer) = lookup(
        &base,
        &json!({"features": ["plain:text"], "entities": {"id": [1]}}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(column(&answer, "text")["statuses"][0], "PRESENT");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: the real local model"]
async fn concurrent_calls_get_the_same_vectors_as_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let embed = Arc::new(service(dir.path(), "concurrency = 2\nbatch_size = 4"));
    let texts = texts(24);
    let calls: Vec<Vec<String>> = texts.chunks(3).map(<[String]>::to_vec).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, call) in calls.iter().cloned().enumerate() {
        let embed = embed.clone();
        tasks.spawn(async move { (i, embed.embed("minilm", call).await) });
    }
    let model = LocalModel::load(&minilm_dir(), 1).unwrap();
    while let Some(joined) = tasks.join_next().await {
        let (i, got) = joined.unwrap();
        for (t, v) in calls[i].iter().zip(got) {
            let want = model.embed(std::slice::from_ref(t)).unwrap().remove(0);
            let c = cosine(&want, &v.unwrap());
            assert!(c >= 0.99999, "{t:?}: cosine {c}");
        }
    }
    assert_eq!(embed.stats().cache_misses, 24);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: the real local model"]
async fn publish_embeds_with_the_local_model_and_reuses_on_republish() {
    let dir = tempfile::tempdir().unwrap();
    let rows = texts(40);
    let app = open_app(dir.path(), &minilm_llm("minilm", "dimensions = 384"), &rows);
    let s = app
        .publish(request(dir.path(), "emb"), |_| {})
        .await
        .unwrap();
    assert_eq!((s.written, s.failed()), (40, 0), "{s}");
    let base = start_server(&app).await;
    let (status, answer) = lookup(
        &base,
        &json!({"features": ["emb:vec"], "entities": {"id": [7]}}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let stored: Vec<f32> =
        serde_json::from_value(column(&answer, "vec")["values"][0].clone()).unwrap();
    let model = LocalModel::load(&minilm_dir(), 1).unwrap();
    let want = model.embed(&rows[6..7]).unwrap().remove(0);
    assert!(cosine(&want, &stored) >= 0.99999);

    let before = app.engine().embed_stats();
    let s = app
        .publish(request(dir.path(), "emb"), |_| {})
        .await
        .unwrap();
    assert_eq!(s.reused, 40, "{s}");
    assert_eq!(app.engine().embed_stats().since(&before).requests, 0);
}

#[test]
fn a_config_mixing_providers_keys_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[llm]]\nname = \"l\"\nprovider = \"local\"\nmodel = \"m\"\nbase_url = \"http://x/v1\"\n",
            "`llm[l].base_url`: is for provider = \"openai\" only",
        ),
        (
            "[[llm]]\nname = \"o\"\nmodel = \"m\"\n",
            "`llm[o].base_url`: is required",
        ),
        (
            "[[llm]]\nname = \"o\"\nbase_url = \"http://x/v1\"\nmodel = \"m\"\nthreads = 2\n",
            "`llm[o].threads`: is for provider = \"local\" only",
        ),
        (
            "[[llm]]\nname = \"l\"\nprovider = \"local\"\nmodel = \"m\"\nthreads = 0\n",
            "`llm[l].threads`: must be at least 1",
        ),
    ];
    for (llm, want) in cases {
        let cfg = write_config(dir.path(), &format!("{llm}\n{ENTITY}"));
        let e = Config::load(&cfg).unwrap_err().to_string();
        assert!(e.contains(want), "{llm}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: the real local model"]
async fn a_lower_max_input_tokens_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let embed = service(dir.path(), "max_input_tokens = 16");
    let head = "the quick brown fox jumps over the lazy dog near the quiet river bank at dawn";
    let texts = vec![
        format!("{head} and then it rains all afternoon"),
        format!("{head} while rockets launch from a distant island"),
    ];
    let v: Vec<Vec<f32>> = embed
        .embed("minilm", texts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        max_abs_diff(&v[0], &v[1]) <= 1e-6,
        "only the first 16 tokens count"
    );
    assert_eq!(embed.stats().truncated, 2);
}

/// Feast's write into a view embedded by the local model: readable at once,
/// the same vector as a direct call, and the same rows again make no request.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: the real local model"]
async fn pushes_are_embedded_by_the_local_model_once() {
    let dir = tempfile::tempdir().unwrap();
    let rows = texts(12);
    let app = open_app(dir.path(), &minilm_llm("minilm", "dimensions = 384"), &rows);
    let server = Server::serve(app.clone()).await;
    let df = json!({"id": (1..=12).collect::<Vec<_>>(), "text": rows});
    let (status, answer) = server.write("emb", df.clone()).await;
    assert_eq!((status, &answer["written"]), (200, &json!(12)), "{answer}");
    let got = server.lookup_of(&["emb:vec"], "id", &[3]).await;
    let stored: Vec<f32> =
        serde_json::from_value(column(&got, "vec")["values"][0].clone()).unwrap();
    let model = LocalModel::load(&minilm_dir(), 1).unwrap();
    let want = model.embed(&rows[2..3]).unwrap().remove(0);
    assert!(cosine(&want, &stored) >= 0.99999);
    let before = app.engine().embed_stats();
    let (status, _) = server.write("emb", df).await;
    assert_eq!(status, 200);
    let again = app.engine().embed_stats().since(&before);
    assert_eq!(
        (again.requests, again.cache_hits),
        (0, 0),
        "values reused, not even a cache read"
    );
}
