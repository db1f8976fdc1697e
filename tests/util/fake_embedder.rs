//! An in-process OpenAI-compatible embeddings server on 127.0.0.1:0: real
//! HTTP, a simulated remote, with scripted faults and latency.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const API_KEY_ENV: &str = "WAFER_TEST_EMBED_KEY";
pub const API_KEY: &str = "sk-test-123";

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
    /// How long every request takes before it is answered (the API's latency).
    pub latency: Arc<Mutex<std::time::Duration>>,
    /// The most requests that were ever in flight at once.
    pub peak_in_flight: Arc<AtomicUsize>,
    /// Requests are answered only while nobody holds this for writing: a
    /// test that takes it holds every request until it lets go.
    pub gate: Arc<tokio::sync::RwLock<()>>,
    /// Told of each request as it arrives.
    pub arrived: Arc<tokio::sync::Notify>,
}

/// A scripted failure of the fake endpoint.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, an error body, and optional headers.
    Status(u16, &'static str, Vec<(&'static str, &'static str)>),
    /// Take this long before answering normally (past the client's timeout).
    Hang(std::time::Duration),
    /// A 200 whose JSON body is cut short.
    Truncated,
    /// One embedding fewer than inputs.
    WrongCount,
    /// Vectors of this many dimensions, whatever was asked.
    Dims(usize),
    /// A bare `NaN` in the first vector, as Python's `json.dumps` writes it
    /// (not JSON: the body does not parse).
    NaN,
    /// A value beyond f32 in the first vector (parses as infinity).
    Overflow,
}

pub async fn fake_embedder(dims: usize) -> FakeEmbedder {
    let state = FakeState {
        requests: Arc::default(),
        arrivals: Arc::default(),
        faults: Arc::default(),
        latency: Arc::default(),
        in_flight: Arc::default(),
        peak_in_flight: Arc::default(),
        gate: Arc::default(),
        arrived: Arc::default(),
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
        latency: state.latency,
        peak_in_flight: state.peak_in_flight,
        gate: state.gate,
        arrived: state.arrived,
    }
}

#[derive(Clone)]
struct FakeState {
    requests: Arc<Mutex<Vec<Vec<String>>>>,
    arrivals: Arc<Mutex<Vec<std::time::Instant>>>,
    faults: Arc<Mutex<std::collections::VecDeque<Fault>>>,
    latency: Arc<Mutex<std::time::Duration>>,
    in_flight: Arc<AtomicUsize>,
    peak_in_flight: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::RwLock<()>>,
    arrived: Arc<tokio::sync::Notify>,
    dims: usize,
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(st: &FakeState) -> Self {
        let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        st.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(st.in_flight.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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
    st.arrived.notify_one();
    let _counted = InFlight::new(&st);
    drop(st.gate.read().await);
    let fault = st.faults.lock().unwrap().pop_front();
    let latency = *st.latency.lock().unwrap();
    tokio::time::sleep(match &fault {
        Some(Fault::Hang(d)) => *d,
        _ => latency,
    })
    .await;
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
    let dims = match fault {
        Some(Fault::Dims(d)) => d,
        _ => body["dimensions"].as_u64().map_or(dims, |d| d as usize),
    };
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}))
        .collect();
    match fault {
        Some(Fault::WrongCount) => {
            data.pop();
        }
        Some(Fault::NaN) => data[0]["embedding"][0] = json!(123456.5),
        Some(Fault::Overflow) => data[0]["embedding"][0] = json!(1e300),
        _ => {}
    }
    let answer = json!({"object": "list", "data": data, "model": body["model"]});
    let raw = |text: String| {
        let h = [("content-type", "application/json")];
        (StatusCode::OK, h, text).into_response()
    };
    match fault {
        Some(Fault::Truncated) => {
            let text = answer.to_string();
            return raw(text[..text.len() / 2].to_string());
        }
        Some(Fault::NaN) => return raw(answer.to_string().replace("123456.5", "NaN")),
        _ => {}
    }
    Json(answer).into_response()
}
