//! Writes in Feast's shapes: `POST /write-to-online-store` (what Feast's
//! SDK sends for `write_to_online_store` and for `push(..., to=ONLINE)`
//! against a remote online store) and `POST /push` (Feast's own server
//! endpoint, by push source). `df` is columnar. Either endpoint also takes
//! the same columns as a Parquet body (`Content-Type:
//! application/vnd.apache.parquet`), with the JSON body's other fields as
//! query parameters. Rows go through the view's transformations like
//! published rows; the answer gives each row's outcome, and one bad row
//! never fails the request. A malformed body, unknown column or mismatched
//! lengths is a 400 naming it, and nothing is stored.

use super::{ApiError, bad, parse, read_body};
use crate::ingest::{Record, RowOutcome};
use crate::registry::View;
use crate::runtime::{Wafer, WriteError, WriteOptions};
use crate::value::Value;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json_};

/// Feast sends the event time under this name, whatever the view calls it.
const FEAST_EVENT_TIME: &str = "event_timestamp";
/// Feast's write time: wafer keeps none, so it is ignored (unless the view
/// has a column of that name).
const FEAST_CREATED: &str = "created";

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct WriteRequest {
    feature_view_name: String,
    /// Columnar rows: a list per column, all of one length; join keys,
    /// `event_timestamp` (or the view's event time), fields and
    /// transformation inputs.
    #[schema(value_type = Object, example = json!({"driver_id": [1006], "conv_rate": [0.11], "event_timestamp": ["2026-11-30T12:16:33"]}))]
    df: Map<String, Json_>,
    /// `false`: the df holds transformed values already (`<field>_embedding`, else `<field>`).
    #[serde(default = "yes")]
    transform_on_write: bool,
    /// Feast's client cache hint; wafer has no registry to cache.
    #[serde(default)]
    #[allow(dead_code)]
    allow_registry_cache: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PushRequest {
    push_source_name: String,
    /// Columnar rows, as in `write-to-online-store`.
    #[schema(value_type = Object)]
    df: Map<String, Json_>,
    /// Only `"online"`: wafer keeps no offline store.
    #[serde(default = "online")]
    to: String,
    #[serde(default = "yes")]
    transform_on_write: bool,
    #[serde(default)]
    #[allow(dead_code)]
    allow_registry_cache: Option<bool>,
}

/// A Parquet body's request fields, as query parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ParquetParams {
    /// `/write-to-online-store`: the view.
    feature_view_name: Option<String>,
    /// `/push`: the push source.
    push_source_name: Option<String>,
    /// `/push`: only `online`.
    to: Option<String>,
    /// As in the JSON body (default true).
    transform_on_write: Option<bool>,
}

/// The IANA media type of Parquet.
const PARQUET: &str = "application/vnd.apache.parquet";

/// A write's columns, as they came.
enum Df {
    Json(Map<String, Json_>),
    Parquet(Bytes),
}

/// A Parquet body's fields from the query, or `None` for a JSON body.
fn parquet_params(headers: &HeaderMap, uri: &Uri) -> Result<Option<ParquetParams>, ApiError> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !kind.is_some_and(|k| k.starts_with(PARQUET)) {
        return Ok(None);
    }
    let Query(params) = Query::<ParquetParams>::try_from_uri(uri)
        .map_err(|e| bad(format!("query parameters of a Parquet body: {e}")))?;
    Ok(Some(params))
}

fn yes() -> bool {
    true
}

fn online() -> String {
    "online".into()
}

/// Per row, what became of it, and the counts.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WriteAnswer {
    pub view: String,
    pub written: usize,
    pub stale: usize,
    pub failed: usize,
    pub rows: Vec<RowOutcome>,
}

/// Rows into a view, as Feast's SDK sends `write_to_online_store` and
/// `push(..., to=ONLINE)` to a remote online store. Answered once every
/// row is durable, with one outcome per row.
#[utoipa::path(post, path = "/write-to-online-store", tag = "feast",
    request_body(content((WriteRequest = "application/json"), (Vec<u8> = "application/vnd.apache.parquet")),
        description = "JSON, or the df's columns as a Parquet file with `?feature_view_name=V`"),
    params(ParquetParams),
    responses(
        (status = 200, body = WriteAnswer, description = "Each row's outcome; a bad row fails alone"),
        (status = 400, body = super::routes::ErrorBody, description = "A malformed body, an unknown column, lists of different lengths"),
        (status = 401, body = super::routes::ErrorBody), (status = 403, body = super::routes::ErrorBody),
        (status = 404, body = super::routes::ErrorBody, description = "An unknown view"),
        (status = 413, body = super::routes::ErrorBody), (status = 429, body = super::routes::ErrorBody, description = "The view's write queue is full"),
        (status = 503, body = super::routes::ErrorBody)))]
pub(super) async fn write_to_online_store(
    State(wafer): State<Wafer>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<WriteAnswer>, ApiError> {
    let parquet = parquet_params(&headers, &uri)?;
    let body = read_body(&wafer, body).await?;
    let source = "POST /write-to-online-store".to_string();
    let (view, df, transform) = match parquet {
        Some(p) => {
            let view = (p.feature_view_name)
                .ok_or_else(|| bad("a Parquet body needs ?feature_view_name=V"))?;
            (
                view,
                Df::Parquet(body),
                p.transform_on_write.unwrap_or(true),
            )
        }
        None => {
            let req: WriteRequest = parse(&body)?;
            let df = Df::Json(req.df);
            (req.feature_view_name, df, req.transform_on_write)
        }
    };
    write(&wafer, &view, df, transform, source).await
}

/// Rows into the view of a `[[push_source]]`, as `feast serve`'s `/push`.
#[utoipa::path(post, path = "/push", tag = "feast",
    request_body(content((PushRequest = "application/json"), (Vec<u8> = "application/vnd.apache.parquet")),
        description = "JSON, or the df's columns as a Parquet file with `?push_source_name=S`"),
    params(ParquetParams),
    responses(
        (status = 200, body = WriteAnswer),
        (status = 400, body = super::routes::ErrorBody, description = "A malformed body, `to` other than online"),
        (status = 401, body = super::routes::ErrorBody), (status = 403, body = super::routes::ErrorBody),
        (status = 404, body = super::routes::ErrorBody, description = "An unknown push source"),
        (status = 413, body = super::routes::ErrorBody), (status = 429, body = super::routes::ErrorBody), (status = 503, body = super::routes::ErrorBody)))]
pub(super) async fn push(
    State(wafer): State<Wafer>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<WriteAnswer>, ApiError> {
    let parquet = parquet_params(&headers, &uri)?;
    let body = read_body(&wafer, body).await?;
    let (name, to, df, transform) = match parquet {
        Some(p) => {
            let name = (p.push_source_name)
                .ok_or_else(|| bad("a Parquet body needs ?push_source_name=S"))?;
            let to = p.to.unwrap_or_else(online);
            (
                name,
                to,
                Df::Parquet(body),
                p.transform_on_write.unwrap_or(true),
            )
        }
        None => {
            let req: PushRequest = parse(&body)?;
            let df = Df::Json(req.df);
            (req.push_source_name, req.to, df, req.transform_on_write)
        }
    };
    check_push_mode(&to)?;
    let registry = wafer.registry();
    let Some(source) = registry.config.push_source(&name) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no push source named {name:?} (declare it as [[push_source]] with its view)"),
        ));
    };
    let view = source.view.get_ref().clone();
    let origin = format!("POST /push ({name})");
    write(&wafer, &view, df, transform, origin).await
}

/// Feast's push modes: wafer honours `online` only.
fn check_push_mode(to: &str) -> Result<(), ApiError> {
    match to {
        "online" => Ok(()),
        "offline" | "online_and_offline" => Err(bad(format!(
            "\"to\": {to:?}: wafer keeps no offline store; push with \"to\": \"online\""
        ))),
        other => Err(bad(format!(
            "\"to\": {other:?} is not a push mode (\"online\", \"offline\", \"online_and_offline\")"
        ))),
    }
}

async fn write(
    wafer: &Wafer,
    view: &str,
    df: Df,
    transform: bool,
    source: String,
) -> Result<Json<WriteAnswer>, ApiError> {
    let registry = wafer.registry();
    let v = registry
        .view(view)
        .ok_or_else(|| ApiError::from(WriteError::UnknownView(view.into())))?;
    let no_transform = !transform;
    let limit = *registry.config.server.max_rows_per_write.get_ref();
    let small = match &df {
        // Checked before typing, which is the costly part.
        Df::Json(df) => {
            let rows = (df.values().next().and_then(Json_::as_array)).map_or(0, Vec::len);
            check_rows(rows, limit)?;
            rows * df.len() < 10_000
        }
        Df::Parquet(body) => body.len() < 64 << 10,
    };
    let records = if small {
        records(v, df, no_transform, limit)?
    } else {
        // Typing a large df is CPU work: off the async workers.
        let v = v.clone();
        tokio::task::spawn_blocking(move || records(&v, df, no_transform, limit))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??
    };
    let options = WriteOptions {
        no_transform,
        source,
    };
    let rows = wafer.ingest(view, records, options).await?;
    let count = |f: fn(&RowOutcome) -> bool| rows.iter().filter(|r| f(r)).count();
    Ok(Json(WriteAnswer {
        view: view.into(),
        written: count(|r| matches!(r, RowOutcome::Written)),
        stale: count(|r| matches!(r, RowOutcome::Stale)),
        failed: count(|r| matches!(r, RowOutcome::Failed { .. })),
        rows,
    }))
}

fn check_rows(rows: usize, limit: usize) -> Result<(), ApiError> {
    match rows > limit {
        true => Err(WriteError::TooManyRows { rows, limit }.into()),
        false => Ok(()),
    }
}

/// The df's columns, each a list of values.
fn columns(view: &View, df: Df) -> Result<Vec<(String, Vec<Value>)>, ApiError> {
    let df = match df {
        Df::Parquet(body) => return crate::ingest::parquet_columns(body, view).map_err(bad),
        Df::Json(df) => df,
    };
    let mut columns = Vec::with_capacity(df.len());
    for (name, cells) in df {
        let Json_::Array(cells) = cells else {
            return Err(bad(format!("df.{name} must be a list (df is columnar)")));
        };
        let values = (cells.iter().enumerate())
            .map(|(i, c)| Value::from_json(c).map_err(|e| bad(format!("df.{name}[{i}]: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        columns.push((name, values));
    }
    Ok(columns)
}

/// The df as records, row `i` on line `i + 1`. Every column must be as
/// long as the others and mean something to the view.
fn records(view: &View, df: Df, no_transform: bool, limit: usize) -> Result<Vec<Record>, ApiError> {
    let mut n = None;
    let mut kept = Vec::new();
    for (name, cells) in columns(view, df)? {
        match n {
            Some(m) if m != cells.len() => {
                return Err(bad(format!(
                    "df.{name} has {} values, other columns have {m}",
                    cells.len()
                )));
            }
            _ => n = Some(cells.len()),
        }
        if name == FEAST_CREATED && check_column(view, &name, no_transform).is_err() {
            continue;
        }
        check_column(view, &name, no_transform)?;
        kept.push((rename(view, name), cells));
    }
    let n = n.ok_or_else(|| bad("df has no columns"))?;
    check_rows(n, limit)?;
    check_keys_and_time(view, &kept)?;
    let mut records: Vec<Record> = (0..n)
        .map(|i| Record {
            line: i + 1,
            cells: Vec::with_capacity(kept.len()),
        })
        .collect();
    for (name, cells) in kept {
        for (record, v) in records.iter_mut().zip(cells) {
            record.cells.push((name.clone(), v));
        }
    }
    Ok(records)
}

/// Every join key present, and the event time at most once.
fn check_keys_and_time(view: &View, columns: &[(String, Vec<Value>)]) -> Result<(), ApiError> {
    let event_time = (columns.iter())
        .filter(|(c, _)| *c == view.event_time)
        .count();
    if event_time > 1 {
        return Err(bad(format!(
            "df has both `{FEAST_EVENT_TIME}` and `{}`, the view's event time: send one",
            view.event_time
        )));
    }
    if let Some(k) = (view.keys.iter()).find(|k| !columns.iter().any(|(c, _)| *c == k.name)) {
        let m = format!("df has no `{}`, a join key of view {}", k.name, view.name);
        return Err(bad(m));
    }
    Ok(())
}

/// Feast's `event_timestamp` is the view's event time column.
fn rename(view: &View, name: String) -> String {
    if name == FEAST_EVENT_TIME {
        view.event_time.clone()
    } else {
        name
    }
}

/// A column the view reads: its join key, event time, a field, a
/// transformation's input, or (pre-extracted) `<field>_embedding`.
fn check_column(view: &View, name: &str, no_transform: bool) -> Result<(), ApiError> {
    let known = view.is_join_key(name)
        || name == view.event_time
        || name == FEAST_EVENT_TIME
        || view.fields.iter().any(|f| {
            f.name == name
                || f.transform.as_ref().is_some_and(|t| {
                    t.inputs.iter().any(|i| i == name)
                        || (no_transform && name == format!("{}_embedding", f.name))
                })
        });
    if known {
        Ok(())
    } else {
        Err(bad(format!(
            "df.{name}: view {} has no such column (its join key, event time, fields and transformation inputs are: {})",
            view.name,
            columns_of(view, no_transform).join(", ")
        )))
    }
}

fn columns_of(view: &View, no_transform: bool) -> Vec<String> {
    let mut cols: Vec<String> = view.keys.iter().map(|k| k.name.clone()).collect();
    cols.push(view.event_time.clone());
    for f in &view.fields {
        cols.push(f.name.clone());
        if let Some(t) = &f.transform {
            cols.extend(t.inputs.iter().cloned());
            if no_transform {
                cols.push(format!("{}_embedding", f.name));
            }
        }
    }
    cols.dedup();
    cols
}
