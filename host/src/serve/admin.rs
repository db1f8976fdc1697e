//! The admin endpoints `wafer` commands use while a server owns the store:
//! status, reload, a publish run by the server (it reads the file itself),
//! and dead letters. All but status need the token of the server's
//! discovery file, which only the store's owner can read. Long jobs answer
//! as NDJSON: a `{"progress": ..}` line per batch, then `{"summary": ..}`
//! or `{"error": ".."}`.

use super::{ApiError, bad, parse, read_body};
use crate::ingest::{PublishRequest, Summary};
use crate::runtime::{Error, Wafer};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value as Json_, json};
use std::future::Future;

/// The server's process, config, store, views and write queues (what
/// `wafer status` shows); open, as it names no data.
#[utoipa::path(get, path = "/admin/status", tag = "admin", responses((status = 200, description = "`{pid, config, store, views, write_queue_rows, queues}`")))]
pub(super) async fn status(State(wafer): State<Wafer>) -> Json<Json_> {
    let registry = wafer.registry();
    let queues: serde_json::Map<String, Json_> = registry
        .views()
        .iter()
        .filter_map(|v| {
            let (queued, peak) = wafer.queue_depth(&v.name)?;
            Some((v.name.clone(), json!({"queued": queued, "peak": peak})))
        })
        .collect();
    Json(json!({
        "pid": std::process::id(),
        "config": wafer.config_path(),
        "store": std::fs::canonicalize(wafer.store().path()).unwrap_or_default(),
        "views": registry.views().iter().map(|v| &v.name).collect::<Vec<_>>(),
        "write_queue_rows": registry.config.server.write_queue_rows.get_ref(),
        "queues": queues,
    }))
}

/// Load the config and its plugins again; the running version stays if
/// the new one fails.
#[utoipa::path(post, path = "/admin/reload", tag = "admin", responses(
    (status = 200, description = "What changed"), (status = 401, body = super::routes::ErrorBody, description = "No or a wrong admin token"),
    (status = 422, body = super::routes::ErrorBody, description = "The new version failed; the running one stays")))]
pub(super) async fn reload(State(wafer): State<Wafer>) -> Result<Json<Json_>, ApiError> {
    match wafer.reload().await {
        Ok(report) => Ok(Json(json!(report))),
        Err(e) => {
            tracing::error!("reload failed, the running version stays: {e}");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("reload failed, the running version stays: {e}"),
            ))
        }
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BackupRequest {
    /// Where on the server's machine; must not exist.
    #[schema(value_type = String)]
    dir: std::path::PathBuf,
}

/// An online backup of the store into a new directory.
#[utoipa::path(post, path = "/admin/backup", tag = "admin", request_body = BackupRequest, responses(
    (status = 200, description = "`{\"backup\": dir}`"), (status = 400, body = super::routes::ErrorBody), (status = 401, body = super::routes::ErrorBody, description = "No or a wrong admin token"),
    (status = 422, body = super::routes::ErrorBody, description = "The directory exists or cannot be written")))]
pub(super) async fn backup(
    State(wafer): State<Wafer>,
    body: Body,
) -> Result<Json<Json_>, ApiError> {
    let body = read_body(&wafer, body).await?;
    let req: BackupRequest = parse(&body)?;
    if !req.dir.is_absolute() {
        let m = format!(
            "`dir`: {} is not an absolute path (the server runs elsewhere)",
            req.dir.display()
        );
        return Err(bad(m));
    }
    match wafer.backup(&req.dir).await {
        Ok(()) => Ok(Json(json!({"backup": req.dir}))),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
    }
}

/// Publish a file on the server's machine into a view (what `wafer
/// publish` sends while a server runs): NDJSON progress lines, then the summary.
#[utoipa::path(post, path = "/admin/publish", tag = "admin",
    request_body(content = Object, description = "`{\"view\", \"input\" (an absolute path), \"format\", \"mode\": \"merge\"|\"overwrite\", \"no_transform\"}`"),
    responses(
        (status = 200, description = "`{\"progress\": ..}` lines, then `{\"summary\": ..}` or `{\"error\": ..}`", content_type = "application/x-ndjson"),
        (status = 400, body = super::routes::ErrorBody), (status = 401, body = super::routes::ErrorBody, description = "No or a wrong admin token"), (status = 404, body = super::routes::ErrorBody, description = "An unknown view")))]
pub(super) async fn publish(State(wafer): State<Wafer>, body: Body) -> Result<Response, ApiError> {
    let body = read_body(&wafer, body).await?;
    let req: PublishRequest = parse(&body)?;
    known_view(&wafer, &req.view)?;
    if !req.input.is_absolute() {
        let m = format!(
            "`input`: {} is not an absolute path (the server runs elsewhere)",
            req.input.display()
        );
        return Err(bad(m));
    }
    Ok(stream(move |progress| async move {
        wafer.publish(req, progress).await
    }))
}

/// Run a view's dead letters through its transformations again; NDJSON as for a publish.
#[utoipa::path(post, path = "/admin/deadletters/{view}/retry", tag = "admin",
    params(("view" = String, Path, description = "A feature view")),
    responses((status = 200, description = "NDJSON lines as for a publish", content_type = "application/x-ndjson"), (status = 401, body = super::routes::ErrorBody, description = "No or a wrong admin token"), (status = 404, body = super::routes::ErrorBody)))]
pub(super) async fn retry(
    State(wafer): State<Wafer>,
    Path(view): Path<String>,
) -> Result<Response, ApiError> {
    known_view(&wafer, &view)?;
    Ok(stream(move |progress| async move {
        wafer.retry_dead_letters(&view, progress).await
    }))
}

/// A view's dead letters: key, field, kind, attempts, when, why and the input row.
#[utoipa::path(get, path = "/admin/deadletters/{view}", tag = "admin",
    params(("view" = String, Path, description = "A feature view")),
    responses((status = 200, description = "A list of dead letters"), (status = 401, body = super::routes::ErrorBody, description = "No or a wrong admin token"), (status = 404, body = super::routes::ErrorBody)))]
pub(super) async fn dead_letters(
    State(wafer): State<Wafer>,
    Path(view): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    known_view(&wafer, &view)?;
    let letters = wafer.dead_letters(&view).await.map_err(internal)?;
    Ok(Json(json!(letters)))
}

/// Give up on a view's dead letters.
#[utoipa::path(post, path = "/admin/deadletters/{view}/purge", tag = "admin",
    params(("view" = String, Path, description = "A feature view")),
    responses((status = 200, description = "`{\"view\", \"dropped\"}`"), (status = 401, body = super::routes::ErrorBody, description = "No or a wrong admin token"), (status = 404, body = super::routes::ErrorBody)))]
pub(super) async fn purge(
    State(wafer): State<Wafer>,
    Path(view): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    known_view(&wafer, &view)?;
    let dropped = wafer.purge_dead_letters(&view).await.map_err(internal)?;
    Ok(Json(json!({"view": view, "dropped": dropped})))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterializeRequest {
    as_of: Json_,
}

/// Rebuild a view's online rows from its offline log as of a time.
#[utoipa::path(post, path = "/admin/materialize/{view}", tag = "admin",
    params(("view" = String, Path, description = "A feature view")),
    request_body(content = String, description = "`{\"as_of\": time}`: RFC 3339, an ISO 8601 date and time (UTC), YYYY-MM-DD or epoch seconds"),
    responses((status = 200, description = "`{\"view\", \"as_of\", \"restored\", \"deleted\"}`"), (status = 400, body = super::routes::ErrorBody),
        (status = 401, body = super::routes::ErrorBody, description = "No or a wrong admin token"), (status = 404, body = super::routes::ErrorBody)))]
pub(super) async fn materialize(
    State(wafer): State<Wafer>,
    Path(view): Path<String>,
    body: Body,
) -> Result<Json<Json_>, ApiError> {
    known_view(&wafer, &view)?;
    let body = read_body(&wafer, body).await?;
    let req: MaterializeRequest = parse(&body)?;
    let as_of =
        crate::value::Value::from_json(&req.as_of).map_err(|m| bad(format!("`as_of`: {m}")))?;
    let at = crate::time::Micros::parse(&as_of).map_err(|m| bad(format!("`as_of`: {m}")))?;
    let done = wafer.materialize(&view, at).await.map_err(internal)?;
    Ok(Json(json!(done)))
}

fn known_view(wafer: &Wafer, view: &str) -> Result<(), ApiError> {
    match wafer.registry().view(view) {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no feature view named {view:?}"),
        )),
    }
}

fn internal(e: Error) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Run `job` in the background and answer with its NDJSON lines as they come.
fn stream<F, Fut>(job: F) -> Response
where
    F: FnOnce(Box<dyn FnMut(&Summary) + Send>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Summary, Error>> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let progress_tx = tx.clone();
    let progress = Box::new(move |s: &Summary| {
        let _ = progress_tx.send(line(&json!({"progress": s.progress()})));
    });
    // The job runs to its end even if the client goes away: its batches are
    // stored either way, and the summary is in the log.
    tokio::spawn(async move {
        let last = match job(progress).await {
            Ok(summary) => json!({"summary": summary}),
            Err(e) => json!({"error": e.to_string()}),
        };
        let _ = tx.send(line(&last));
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        let next = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(next), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(body))
        .expect("a valid response")
}

fn line(v: &Json_) -> Bytes {
    let mut b = serde_json::to_vec(v).expect("JSON serializes");
    b.push(b'\n');
    Bytes::from(b)
}

/// Every source partition's offset, high watermark, lag, throughput and
/// last error, and every sink's; open, as `wafer sources` reads it.
#[utoipa::path(get, path = "/admin/sources", tag = "admin",
    responses((status = 200, body = crate::stream::StreamsStatus)))]
pub(super) async fn sources(State(wafer): State<Wafer>) -> Json<crate::stream::StreamsStatus> {
    Json(wafer.streams_status())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetRequest {
    /// `earliest`, `latest`, an offset or an RFC 3339 time.
    to: String,
}

/// Move a `[[source]]`'s stored offsets; its partitions go on from there.
#[utoipa::path(post, path = "/admin/sources/{name}/reset", tag = "admin", request_body = ResetRequest,
    params(("name" = String, Path, description = "A [[source]]")),
    responses((status = 200, description = "`{\"source\", \"offsets\"}`"), (status = 400, body = super::routes::ErrorBody), (status = 401, body = super::routes::ErrorBody, description = "No or a wrong admin token"),
        (status = 404, body = super::routes::ErrorBody), (status = 502, body = super::routes::ErrorBody, description = "The brokers could not be asked")))]
pub(super) async fn reset_source(
    State(wafer): State<Wafer>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Json_>, ApiError> {
    let body = read_body(&wafer, body).await?;
    let req: ResetRequest = parse(&body)?;
    let to = crate::config::StartAt::parse(&req.to).map_err(|e| bad(format!("`to`: {e}")))?;
    if wafer.registry().config.source(&name).is_none() {
        let m = format!("no [[source]] named {name:?}");
        return Err(ApiError::new(StatusCode::NOT_FOUND, m));
    }
    let offsets = wafer
        .reset_source(&name, to)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok(Json(json!({"source": name, "offsets": offsets})))
}
