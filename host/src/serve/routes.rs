//! The routes and their OpenAPI document, built from one list: each handler
//! carries its `#[utoipa::path]` and is mounted through `routes!`, so
//! `GET /openapi.json` lists exactly what the router serves. Also the
//! operational endpoints: health, readiness, metrics and the document.

use super::auth::{Access, Guard};
use super::gate::{Gate, Limits, gate};
use super::hot::{App, Hot};
use super::{ApiError, Tracker, admin, read, track, write};
use crate::runtime::Wafer;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde_json::json;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wafer",
        description = "An edge feature store that speaks Feast's HTTP API: reads, writes and pushes in Feast's shapes, plus health, readiness, metrics and the admin endpoints the `wafer` CLI uses while a server owns the store."
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "feast", description = "Feast's online API: what Feast's SDK and `feast serve` clients send"),
        (name = "operations", description = "Health, readiness, metrics and this document; never behind a token"),
        (name = "admin", description = "What `wafer` commands call on a running server; the admin token of its discovery file"),
    )
)]
struct ApiDoc;

/// Every error answer: a 4xx or 5xx with what went wrong and where.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct ErrorBody {
    /// e.g. `entities.item_id[0]: "7" must be an integer (`item_id` is int64 in view items)`.
    error: String,
}

/// The routes, over `wafer`: reads and writes behind `guard`'s tokens (if
/// any) and the server's limits, in one gate; the admin routes but `/admin/status`
/// behind the admin token; health, readiness, metrics and the OpenAPI
/// document open. Feast's reads and writes by the hot lane, through the
/// same gates (`hot.rs`).
pub(super) fn app(wafer: Wafer, guard: Guard) -> App {
    let server = wafer.registry().config.server.clone();
    let limits = Limits::new(&server);
    let gate = |needs| Gate {
        guard: guard.needs(needs),
        limits: Some(limits.clone()),
    };
    let hot = Hot {
        tracker: Tracker {
            wafer: wafer.clone(),
            access_log: server.access_log,
        },
        reads: gate(Access::Read),
        writes: gate(Access::Write),
    };
    let router = router(wafer, &guard, &hot);
    App::new(router, hot)
}

/// The router, its data routes behind `hot`'s gates.
fn router(wafer: Wafer, guard: &Guard, hot: &Hot) -> Router {
    let (admin, admin_doc) = OpenApiRouter::new()
        .routes(routes!(admin::reload))
        .routes(routes!(admin::publish))
        .routes(routes!(admin::backup))
        .routes(routes!(admin::dead_letters))
        .routes(routes!(admin::retry))
        .routes(routes!(admin::purge))
        .routes(routes!(admin::materialize))
        .routes(routes!(admin::reset_source))
        .route_layer(from_fn_with_state(
            Gate {
                guard: guard.needs(Access::Admin),
                limits: None,
            },
            gate,
        ))
        .split_for_parts();
    let (reads, reads_doc) = OpenApiRouter::new()
        .routes(routes!(read::get_online_features))
        .route_layer(from_fn_with_state(hot.reads.clone(), gate))
        .split_for_parts();
    let (writes, writes_doc) = OpenApiRouter::new()
        .routes(routes!(write::write_to_online_store))
        .routes(routes!(write::push))
        .route_layer(from_fn_with_state(hot.writes.clone(), gate))
        .split_for_parts();
    let data = reads.merge(writes);
    let (open, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .routes(routes!(admin::status))
        .routes(routes!(admin::sources))
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    for part in [reads_doc, writes_doc, admin_doc] {
        doc.merge(part);
    }
    let document = Arc::new(
        doc.to_pretty_json()
            .expect("the OpenAPI document serializes"),
    );
    open.merge(data)
        .merge(admin)
        // The hot lane (`hot.rs`) answers Feast's reads and writes past these
        // layers: one meant for them goes there too.
        .layer(Extension(document))
        // A layer, not a route layer: unmatched paths (404s) are counted too.
        .layer(from_fn_with_state(hot.tracker.clone(), track))
        // Bodies are read with the limit in force (`server.max_body_mb`), which a reload may change.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(wafer)
}

/// The process is up and answering.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when every view takes writes; 503 with the reasons when not (a
/// plugin that failed to load, a model still loading, a stop under way).
#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, description = "`{\"status\": \"ready\"}`"),
    (status = 503, description = "`{\"status\": \"unready\", \"reasons\": [\"...\"]}`")))]
async fn ready(State(wafer): State<Wafer>) -> Response {
    match wafer.readiness() {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unready", "reasons": reasons})),
        )
            .into_response(),
    }
}

/// Prometheus' text format (OpenMetrics 1.0, which Prometheus scrapes).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Requests, rows, embedding calls, plugins, queues, store and streams", content_type = "application/openmetrics-text")))]
async fn metrics(State(wafer): State<Wafer>) -> Response {
    // Store sizes read RocksDB's properties: off the async workers.
    let text = tokio::task::spawn_blocking(move || wafer.metrics_text()).await;
    match text {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// This document: every route the server has, with its bodies and answers.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")))]
async fn openapi(Extension(document): Extension<Arc<String>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.as_str().to_owned(),
    )
        .into_response()
}
