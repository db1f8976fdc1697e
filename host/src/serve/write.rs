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

use super::df::{Df, JsonDf, records};
use super::{ApiError, bad, parse, read_body};
use crate::ingest::{ParquetBody, RowOutcome};
use crate::runtime::{Wafer, WriteError, WriteOptions};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct WriteRequest {
    feature_view_name: String,
    /// Columnar rows: a list per column, all of one length; join keys,
    /// `event_timestamp` (or the view's event time), fields and
    /// transformation inputs.
    #[schema(value_type = Object, example = json!({"driver_id": [1006], "conv_rate": [0.11], "event_timestamp": ["2026-11-30T12:16:33"]}))]
    df: JsonDf,
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
    df: JsonDf,
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

/// A Parquet body as a df, with the name its query gives (`param` says
/// which, for the error) and `transform_on_write` (default true, as JSON's).
fn parquet_df(
    (name, param): (Option<String>, &str),
    transform: Option<bool>,
    body: Bytes,
) -> Result<(String, Df, bool), ApiError> {
    let name = name.ok_or_else(|| bad(format!("a Parquet body needs {param}")))?;
    let df = Df::Parquet(ParquetBody::open(body).map_err(bad)?);
    Ok((name, df, transform.unwrap_or(true)))
}

/// A Parquet body's fields from the query, or `None` for a JSON body.
fn parquet_params(headers: &HeaderMap, uri: &Uri) -> Result<Option<ParquetParams>, ApiError> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // Media types are case-insensitive.
    if !kind.is_some_and(|k| k.to_ascii_lowercase().starts_with(PARQUET)) {
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
            let name = (p.feature_view_name, "?feature_view_name=V");
            parquet_df(name, p.transform_on_write, body)?
        }
        None => {
            let req: WriteRequest = parse_json(body).await?;
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
            let name = (p.push_source_name, "?push_source_name=S");
            let (name, df, transform) = parquet_df(name, p.transform_on_write, body)?;
            (name, p.to.unwrap_or_else(online), df, transform)
        }
        None => {
            let req: PushRequest = parse_json(body).await?;
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

/// A JSON body parsed (its df typed as it is read); a large one off the
/// async workers, as reading 100,000 rows takes tens of milliseconds.
async fn parse_json<T: serde::de::DeserializeOwned + Send + 'static>(
    body: Bytes,
) -> Result<T, ApiError> {
    if body.len() < LARGE_BODY {
        return parse(&body);
    }
    off_workers(move || parse(&body)).await
}

/// A body this large is parsed off the async workers.
const LARGE_BODY: usize = 256 * 1024;

/// `f` on a blocking thread: reading or typing a large df would hold an
/// async worker, and every request queued on it, for milliseconds.
async fn off_workers<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
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
    // Counted before the rows become records, which a large df does off
    // the async workers (typing a Parquet body's columns is the costly part).
    let (rows, width) = match &df {
        Df::Json(df) => df.shape(),
        Df::Parquet(body) => (body.rows(), body.width()),
    };
    check_rows(rows, limit)?;
    let records = if rows * width < 10_000 {
        records(v, df, no_transform)?
    } else {
        let v = v.clone();
        off_workers(move || records(&v, df, no_transform)).await?
    };
    let options = WriteOptions {
        no_transform,
        source,
    };
    let rows = wafer.ingest(view, records, options).await?;
    Ok(Json(answer(view, rows)))
}

fn answer(view: &str, rows: Vec<RowOutcome>) -> WriteAnswer {
    let count = |f: fn(&RowOutcome) -> bool| rows.iter().filter(|r| f(r)).count();
    WriteAnswer {
        view: view.into(),
        written: count(|r| matches!(r, RowOutcome::Written)),
        stale: count(|r| matches!(r, RowOutcome::Stale)),
        failed: count(|r| matches!(r, RowOutcome::Failed { .. })),
        rows,
    }
}

fn check_rows(rows: usize, limit: usize) -> Result<(), ApiError> {
    match rows > limit {
        true => Err(WriteError::TooManyRows { rows, limit }.into()),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write of `rows` rows whose last price is `last`.
    fn body(rows: usize, last: &str) -> Bytes {
        let ids: Vec<String> = (0..rows).map(|i| i.to_string()).collect();
        let mut prices = vec!["0.5"; rows];
        prices[rows - 1] = last;
        let (ids, prices) = (ids.join(","), prices.join(","));
        let text = format!(
            r#"{{"feature_view_name": "v", "df": {{"id": [{ids}], "price": [{prices}]}}}}"#
        );
        Bytes::from(text)
    }

    #[tokio::test]
    async fn a_large_body_is_parsed_off_the_workers_alike() {
        for rows in [10, 40_000] {
            let b = body(rows, "2.5");
            assert_eq!(b.len() >= LARGE_BODY, rows > 10, "{} bytes", b.len());
            let req: WriteRequest = parse_json(b).await.unwrap();
            assert_eq!(req.df.shape(), (rows, 2));
            let e = parse_json::<WriteRequest>(body(rows, r#"{"a": 1}"#)).await;
            let message = e.err().expect("an object is refused").message;
            let at = format!(
                "`df.price[{}]`: objects are not a supported value",
                rows - 1
            );
            assert!(message.contains(&at), "{message}");
        }
    }
}
