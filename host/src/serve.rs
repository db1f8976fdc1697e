//! `serve`: the HTTP feature server. `POST /get-online-features` speaks
//! Feast's request and response shapes so existing Feast clients can read
//! from wafer; `GET /health` answers liveness. Bad input is a 4xx naming the
//! problem, never a 500.

use crate::registry::{Registry, View};
use crate::store::{EntityKey, Store, StoredRow};
use crate::value::Value;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json_, json};
use std::future::Future;
use std::sync::Arc;

/// The timestamp Feast reports for join keys and missing values.
const EPOCH: &str = "1970-01-01T00:00:00Z";

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub store: Arc<Store>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/get-online-features", post(get_online_features))
        .with_state(state)
}

/// Serve until `shutdown` resolves, then finish in-flight requests.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// An error answer: `{"error": "..."}` with a 4xx status.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.0
    }
    pub fn message(&self) -> &str {
        &self.1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    features: Option<Vec<String>>,
    feature_service: Option<String>,
    entities: serde_json::Map<String, Json_>,
    #[serde(default)]
    full_feature_names: bool,
    /// Feast's on-demand context; accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    request_context: Option<Json_>,
}

/// A requested feature: the index of its view in the registry, and its name.
struct Wanted {
    view: usize,
    feature: String,
}

async fn get_online_features(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Answer>, ApiError> {
    // RocksDB reads block; keep them off the async workers.
    tokio::task::spawn_blocking(move || answer(&state, &body))
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("lookup task failed: {e}"),
            )
        })?
        .map(Json)
}

/// Answer a Feast `get-online-features` request body. Blocking.
pub fn answer(state: &AppState, body: &[u8]) -> Result<Answer, ApiError> {
    let req: Request =
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed request body: {e}")))?;
    if req.feature_service.is_some() {
        return Err(bad(
            "feature_service is not supported; list `features` as \"view:feature\"",
        ));
    }
    let features = req.features.as_deref().filter(|f| !f.is_empty());
    let features =
        features.ok_or_else(|| bad("`features` must list at least one \"view:feature\""))?;
    let wanted = resolve(&state.registry, features)?;
    let n = entity_rows(
        &req.entities,
        state.registry.config.server.max_keys_per_request,
    )?;
    lookup(state, &req, &wanted, n)
}

fn resolve(registry: &Registry, features: &[String]) -> Result<Vec<Wanted>, ApiError> {
    features
        .iter()
        .map(|f| {
            let (view, feature) = f
                .split_once(':')
                .ok_or_else(|| bad(format!("feature {f:?} must be \"view:feature\"")))?;
            let not_found = |m: String| ApiError(StatusCode::NOT_FOUND, m);
            let idx = registry.views().iter().position(|v| v.name == view);
            let idx =
                idx.ok_or_else(|| not_found(format!("unknown feature view {view:?} (in {f:?})")))?;
            if registry.views()[idx].field(feature).is_none() {
                return Err(not_found(format!(
                    "unknown feature {feature:?} in view {view:?}"
                )));
            }
            Ok(Wanted {
                view: idx,
                feature: feature.to_string(),
            })
        })
        .collect()
}

/// The number of entity rows; every join key's list must have it.
fn entity_rows(entities: &serde_json::Map<String, Json_>, max: usize) -> Result<usize, ApiError> {
    let mut n = None;
    for (k, v) in entities {
        let len = v
            .as_array()
            .ok_or_else(|| bad(format!("entities.{k} must be a list of keys")))?
            .len();
        match n {
            Some(m) if m != len => {
                return Err(bad(format!(
                    "entities.{k} has {len} keys, other join keys have {m}"
                )));
            }
            _ => n = Some(len),
        }
    }
    let n = n.ok_or_else(|| bad("`entities` is empty: give each join key a list of values"))?;
    if n > max {
        return Err(bad(format!(
            "{n} entity keys in one request; the limit is {max} (server.max_keys_per_request)"
        )));
    }
    Ok(n)
}

/// A Feast `get-online-features` answer.
#[derive(Debug, Serialize)]
pub struct Answer {
    pub metadata: Metadata,
    pub results: Vec<Column>,
}

#[derive(Debug, Serialize)]
pub struct Metadata {
    pub feature_names: Vec<String>,
}

/// One column of the answer: a value, a status and an event time per entity row.
#[derive(Debug, Serialize)]
pub struct Column {
    pub values: Vec<Cell>,
    pub statuses: Vec<&'static str>,
    pub event_timestamps: Vec<String>,
}

/// A join key echoed as the request gave it, or a stored value.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Key(Json_),
    Value(Value),
}

fn lookup(
    state: &AppState,
    req: &Request,
    wanted: &[Wanted],
    n: usize,
) -> Result<Answer, ApiError> {
    let views = state.registry.views();
    let mut feature_names: Vec<String> = Vec::new();
    let mut results: Vec<Column> = Vec::new();
    // Join-key columns first, in request order, as Feast does.
    for (k, v) in &req.entities {
        feature_names.push(k.clone());
        let values = v
            .as_array()
            .map(|a| a.iter().cloned().map(Cell::Key).collect())
            .unwrap_or_default();
        results.push(Column {
            values,
            statuses: vec!["PRESENT"; n],
            event_timestamps: vec![EPOCH.to_string(); n],
        });
    }
    // One batched read per view.
    let mut fetched: Vec<(usize, Vec<Option<StoredRow>>)> = Vec::new();
    for w in wanted {
        if fetched.iter().any(|(v, _)| *v == w.view) {
            continue;
        }
        let view = &views[w.view];
        let keys = keys_for(view, &req.entities)?;
        let rows = state
            .store
            .get_many(&view.name, &keys)
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        fetched.push((w.view, rows));
    }
    let now = crate::ingest::now_micros();
    for w in wanted {
        let view = &views[w.view];
        let rows = &fetched
            .iter()
            .find(|(v, _)| *v == w.view)
            .expect("fetched above")
            .1;
        feature_names.push(if req.full_feature_names {
            format!("{}__{}", view.name, w.feature)
        } else {
            w.feature.clone()
        });
        results.push(column(view, &w.feature, rows, now));
    }
    Ok(Answer {
        metadata: Metadata { feature_names },
        results,
    })
}

fn keys_for(
    view: &View,
    entities: &serde_json::Map<String, Json_>,
) -> Result<Vec<EntityKey>, ApiError> {
    let list = entities
        .get(&view.join_key)
        .and_then(Json_::as_array)
        .ok_or_else(|| {
            bad(format!(
                "entities has no `{}`, the join key of view {}",
                view.join_key, view.name
            ))
        })?;
    list.iter()
        .enumerate()
        .map(|(i, j)| {
            let v = match j {
                Json_::Number(_) | Json_::String(_) => Value::from_json(j).map_err(bad)?,
                other => {
                    return Err(bad(format!(
                        "entities.{}[{i}] = {other} is not a key",
                        view.join_key
                    )));
                }
            };
            if view.key_type == crate::config::FieldType::Int64 && !matches!(v, Value::Int64(_)) {
                return Err(bad(format!(
                    "entities.{}[{i}] = {j} must be an integer",
                    view.join_key
                )));
            }
            view.key(&v)
                .map_err(|e| bad(format!("entities.{}[{i}]: {e}", view.join_key)))
        })
        .collect()
}

/// One feature column: values, statuses and event times per entity row.
fn column(view: &View, feature: &str, rows: &[Option<StoredRow>], now_micros: i64) -> Column {
    let max_age = view.ttl.map(|t| t.as_micros() as i64);
    let mut col = Column {
        values: Vec::with_capacity(rows.len()),
        statuses: Vec::new(),
        event_timestamps: Vec::new(),
    };
    for row in rows {
        let (value, status, ts) = match row {
            None => (Value::Null, "NOT_FOUND", EPOCH.to_string()),
            Some(r) => {
                let ts = timestamp(r.event_micros);
                match r.get(feature) {
                    _ if max_age.is_some_and(|m| now_micros.saturating_sub(r.event_micros) > m) => {
                        (Value::Null, "OUTSIDE_MAX_AGE", ts)
                    }
                    None | Some(Value::Null) => (Value::Null, "NULL_VALUE", ts),
                    Some(v) => (v.clone(), "PRESENT", ts),
                }
            }
        };
        col.values.push(Cell::Value(value));
        col.statuses.push(status);
        col.event_timestamps.push(ts);
    }
    col
}

pub fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || EPOCH.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}
