//! `POST /get-online-features`: Feast's request, parsed into a typed
//! [`Lookup`]; the runtime's [`Features`], written as Feast's answer (join
//! keys first, echoed as the request gave them; then one column per
//! feature with values, statuses and event times).

use super::{ApiError, bad, parse, read_body};
use crate::runtime::{Features, Lookup, Status, Wafer};
use crate::time::Micros;
use crate::value::Value;
use axum::extract::State;
use axum::{Json, body::Body};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;
use serde_json::value::RawValue;
use std::sync::Arc;

/// What Feast clients send. Fields wafer has no use for are ignored (newer
/// clients add some); a known field of the wrong type is still a 400.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ReadRequest)]
pub(super) struct Request {
    /// `"view:feature"`s; or give `feature_service`.
    features: Option<Vec<String>>,
    /// A `[[feature_service]]` by name, instead of `features`.
    feature_service: Option<String>,
    /// A list of keys per join key, all of one length: one entity row per
    /// position (several join keys make composite keys).
    #[schema(value_type = Object, example = json!({"item_id": [901, 902]}))]
    entities: serde_json::Map<String, Json_>,
    #[serde(default)]
    full_feature_names: bool,
    /// Sent by Feast 0.67 on every read: `true` asks for each view's
    /// version (wafer's views are unversioned: Feast's 0).
    #[serde(default)]
    include_feature_view_version_metadata: bool,
    /// Feast's on-demand context; accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    request_context: Option<Json_>,
}

/// A Feast `get-online-features` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Answer {
    pub metadata: Metadata,
    pub results: Vec<Column>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Metadata {
    pub feature_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_view_metadata: Option<Vec<ViewVersion>>,
}

/// A view the answer read from, and its version, as Feast reports them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ViewVersion {
    pub name: String,
    pub version: u32,
}

/// One column of the answer: a value, a status and an event time per entity row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Column {
    /// Keys echoed, or values as Feast answers them (bytes in base64,
    /// NaN and infinities by name, lists as arrays).
    #[schema(value_type = Vec<serde_json::Value>)]
    pub values: Vec<Cell>,
    pub statuses: Vec<Status>,
    /// The rows' event times, RFC 3339: one JSON list, written once per
    /// view and shared by its columns (escaping 50 columns' copies of the
    /// same times was a tenth of a large lookup's time).
    #[schema(value_type = Vec<String>)]
    pub event_timestamps: Arc<RawValue>,
}

/// A join key echoed as the request gave it, or a stored value.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Key(Json_),
    Value(Value),
}

/// Features for entity keys, as Feast's SDK and `feast serve` clients ask.
#[utoipa::path(post, path = "/get-online-features", tag = "feast", request_body = Request,
    responses(
        (status = 200, body = Answer, description = "Join-key columns first, then one per feature"),
        (status = 400, body = super::routes::ErrorBody, description = "A malformed body, a missing or unknown join key, a key of the wrong type"),
        (status = 401, body = super::routes::ErrorBody), (status = 403, body = super::routes::ErrorBody),
        (status = 404, body = super::routes::ErrorBody, description = "An unknown view, feature or feature service"),
        (status = 413, body = super::routes::ErrorBody), (status = 503, body = super::routes::ErrorBody)))]
pub(super) async fn get_online_features(
    State(wafer): State<Wafer>,
    body: Body,
) -> Result<Json<Answer>, ApiError> {
    let body = read_body(&wafer, body).await?;
    let mut req: Request = parse(&body)?;
    // The answer needs the entities and flags, not these: moved, not copied.
    let lookup = Lookup {
        features: req.features.take().unwrap_or_default(),
        feature_service: req.feature_service.take(),
        entities: entities(&req.entities)?,
    };
    let features = wafer.lookup(lookup).await?;
    Ok(Json(answer(&req, features)?))
}

/// Join keys as typed values: numbers and strings only.
fn entities(
    entities: &serde_json::Map<String, Json_>,
) -> Result<Vec<(String, Vec<Value>)>, ApiError> {
    entities
        .iter()
        .map(|(k, v)| {
            let list = v
                .as_array()
                .ok_or_else(|| bad(format!("entities.{k} must be a list of keys")))?;
            let keys = list
                .iter()
                .enumerate()
                .map(|(i, j)| match j {
                    Json_::Number(_) | Json_::String(_) => Value::from_json(j).map_err(bad),
                    other => Err(bad(format!("entities.{k}[{i}] = {other} is not a key"))),
                })
                .collect::<Result<_, _>>()?;
            Ok((k.clone(), keys))
        })
        .collect()
}

/// Feast's answer; a 400 when two columns would share a name, as Feast
/// refuses such a read (the client keys columns by name).
fn answer(req: &Request, features: Features) -> Result<Answer, ApiError> {
    let (mut feature_names, mut results) = key_columns(req, features.rows);
    let mut seen: std::collections::HashSet<String> = feature_names.iter().cloned().collect();
    let mut views: Vec<ViewVersion> = Vec::new();
    // A view's columns share their rows' times: each is formatted once.
    let mut times: Vec<Formatted> = Vec::new();
    for col in features.columns {
        if !views.iter().any(|v| v.name == col.view) {
            let name = col.view.clone();
            views.push(ViewVersion { name, version: 0 });
        }
        let name = if req.full_feature_names {
            format!("{}__{}", col.view, col.feature)
        } else {
            col.feature
        };
        if !seen.insert(name.clone()) {
            let hint = if req.full_feature_names {
                ""
            } else {
                ", or set full_feature_names"
            };
            let m = format!(
                "two columns of the answer would be named {name:?}: ask for each feature once{hint}"
            );
            return Err(bad(m));
        }
        feature_names.push(name);
        results.push(Column {
            values: col.values.into_iter().map(Cell::Value).collect(),
            statuses: col.statuses,
            event_timestamps: formatted(&mut times, &col.event_times),
        });
    }
    let feature_view_metadata = req.include_feature_view_version_metadata.then_some(views);
    let metadata = Metadata {
        feature_names,
        feature_view_metadata,
    };
    Ok(Answer { metadata, results })
}

/// A view's event times, and their JSON.
type Formatted = (Arc<[Micros]>, Arc<RawValue>);

fn formatted(done: &mut Vec<Formatted>, times: &Arc<[Micros]>) -> Arc<RawValue> {
    if let Some((_, json)) = done.iter().find(|(t, _)| Arc::ptr_eq(t, times)) {
        return json.clone();
    }
    let json = time_list(times.iter().map(|t| t.rfc3339()));
    done.push((times.clone(), json.clone()));
    json
}

fn time_list(times: impl Iterator<Item = String>) -> Arc<RawValue> {
    let text = serde_json::to_string(&times.collect::<Vec<_>>()).expect("strings serialize");
    RawValue::from_string(text).expect("a JSON list").into()
}

/// The join-key columns, first as Feast puts them: the keys echoed as the
/// request gave them, present, at the epoch.
fn key_columns(req: &Request, n: usize) -> (Vec<String>, Vec<Column>) {
    let epochs = time_list(std::iter::repeat_n(Micros::EPOCH.rfc3339(), n));
    req.entities
        .iter()
        .map(|(k, v)| {
            let keys = v.as_array().into_iter().flatten();
            let column = Column {
                values: keys.cloned().map(Cell::Key).collect(),
                statuses: vec![Status::Present; n],
                event_timestamps: epochs.clone(),
            };
            (k.clone(), column)
        })
        .unzip()
}
