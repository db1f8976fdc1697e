//! Shared test helpers: configs in temp dirs, the real server on port 0, and
//! an in-process OpenAI-compatible embeddings server (real HTTP, simulated remote).
#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wafer::cli::App;

pub const API_KEY_ENV: &str = "WAFER_TEST_EMBED_KEY";
pub const API_KEY: &str = "sk-test-123";

/// Write `body` as `wafer.toml` in `dir`.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("wafer.toml");
    std::fs::write(&p, body).unwrap();
    p
}

pub fn write_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// The deterministic vector the fake endpoint returns for `text`.
pub fn fake_vector(text: &str, dims: usize) -> Vec<f32> {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    (0..dims)
        .map(|i| (((h >> (i % 60)) & 0xff) as f32) / 255.0 + i as f32)
        .collect()
}

/// An OpenAI-compatible `/v1/embeddings` endpoint on 127.0.0.1:0. Answers in
/// reverse order (so clients must reorder by `index`), rejects a missing or
/// wrong bearer key with 401 and any input containing "POISON" with 400.
pub struct FakeEmbedder {
    pub base_url: String,
    /// The inputs of every request, in arrival order, with its arrival time.
    pub requests: Arc<Mutex<Vec<Vec<String>>>>,
    pub arrivals: Arc<Mutex<Vec<std::time::Instant>>>,
    /// Faults to answer the next requests with, one per request, before normal answers resume.
    pub faults: Arc<Mutex<std::collections::VecDeque<Fault>>>,
}

/// A scripted failure of the fake endpoint.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, an error body, and optional headers.
    Status(u16, &'static str, Vec<(&'static str, &'static str)>),
}

pub async fn fake_embedder(dims: usize) -> FakeEmbedder {
    let state = FakeState {
        requests: Arc::default(),
        arrivals: Arc::default(),
        faults: Arc::default(),
        dims,
    };
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeEmbedder {
        base_url: format!("http://{addr}/v1"),
        requests: state.requests,
        arrivals: state.arrivals,
        faults: state.faults,
    }
}

#[derive(Clone)]
struct FakeState {
    requests: Arc<Mutex<Vec<Vec<String>>>>,
    arrivals: Arc<Mutex<Vec<std::time::Instant>>>,
    faults: Arc<Mutex<std::collections::VecDeque<Fault>>>,
    dims: usize,
}

async fn embeddings(
    State(st): State<FakeState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let inputs: Vec<String> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    st.requests.lock().unwrap().push(inputs.clone());
    st.arrivals.lock().unwrap().push(std::time::Instant::now());
    let fault = st.faults.lock().unwrap().pop_front();
    if let Some(Fault::Status(code, msg, extra)) = fault {
        let mut h = HeaderMap::new();
        for (k, v) in extra {
            h.insert(k, v.parse().unwrap());
        }
        let status = StatusCode::from_u16(code).unwrap();
        return (
            status,
            h,
            Json(json!({"error": {"message": msg, "code": msg}})),
        )
            .into_response();
    }
    let dims = st.dims;
    if headers.get("authorization").and_then(|h| h.to_str().ok())
        != Some(&format!("Bearer {API_KEY}"))
    {
        let body = Json(json!({"error": {"message": "bad key"}}));
        return (StatusCode::UNAUTHORIZED, body).into_response();
    }
    if inputs.iter().any(|t| t.contains("POISON")) {
        let body = Json(json!({"error": {"message": "input rejected"}}));
        return (StatusCode::BAD_REQUEST, body).into_response();
    }
    let dims = body["dimensions"].as_u64().map_or(dims, |d| d as usize);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}))
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"]})).into_response()
}

/// The real server for `app` on 127.0.0.1:0; returns its base URL.
pub async fn start_server(app: &App) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let state = app.state();
    tokio::spawn(async move {
        wafer::serve::run(listener, state, std::future::pending())
            .await
            .unwrap()
    });
    format!("http://{addr}")
}

/// POST a lookup; returns (status, body).
pub async fn lookup(base: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/get-online-features"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// The result column for `feature` in a lookup answer.
pub fn column<'a>(answer: &'a Value, feature: &str) -> &'a Value {
    let names = answer["metadata"]["feature_names"].as_array().unwrap();
    let i = names
        .iter()
        .position(|n| n == feature)
        .unwrap_or_else(|| panic!("no {feature} in {names:?}"));
    &answer["results"][i]
}
