//! `POST /get-online-features`: Feast's request, parsed in one pass into a
//! typed [`Lookup`] (join keys typed as they are read), and the runtime's
//! answer written as Feast's by `answer.rs`.

use super::answer::{self, Answer};
use super::lists::{Lists, NamedLists};
use super::{ApiError, parse, read_body};
use crate::runtime::{Lookup, Wafer};
use crate::value::Value;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value as Json_;

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
    entities: Entities,
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

/// `entities`: each join key's keys, in the request's order, typed as
/// they are read.
type Entities = NamedLists<JoinKeys>;

struct JoinKeys;

impl Lists for JoinKeys {
    type Item = Key;
    const OBJECT: &'static str = "an object of join keys, each with a list of keys";
    const LIST: &'static str = "a list of keys";

    fn twice(name: &str) -> String {
        format!("join key {name:?} given twice")
    }
}

/// One key: a number or a string, as `Value::from_json` would type it (an
/// integer beyond `i64` is a float, which no join key takes).
struct Key(Value);

impl From<Key> for Value {
    fn from(k: Key) -> Value {
        k.0
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key (a number or a string)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        Ok(Key(Value::Int64(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        Ok(Key(
            i64::try_from(v).map_or(Value::Float64(v as f64), Value::Int64)
        ))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
        Ok(Key(Value::Float64(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(Key(Value::String(v)))
    }
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
) -> Result<Response, ApiError> {
    let body = read_body(&wafer, body).await?;
    let req: Request = parse(&body)?;
    let flags = answer::Flags {
        full_feature_names: req.full_feature_names,
        view_versions: req.include_feature_view_version_metadata,
    };
    let lookup = Lookup {
        features: req.features.unwrap_or_default(),
        feature_service: req.feature_service,
        entities: req.entities.0,
    };
    let features: answer::Features = wafer.lookup_in_task(lookup).await?;
    let json = answer::encode(&features, flags)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entities(json: &str) -> Result<Vec<(String, Vec<Value>)>, String> {
        let body = format!(r#"{{"features": ["v:f"], "entities": {json}}}"#);
        let req: Result<Request, ApiError> = parse(body.as_bytes());
        req.map(|r| r.entities.0)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn keys_are_typed_as_they_are_read_in_the_requests_order() {
        let got = entities(r#"{"z": [7, "u1", 18446744073709551615], "a": []}"#).unwrap();
        let keys = vec![
            Value::Int64(7),
            Value::String("u1".into()),
            Value::Float64(u64::MAX as f64),
        ];
        assert_eq!(got, [("z".into(), keys), ("a".into(), vec![])]);
    }

    #[test]
    fn what_is_not_a_key_is_refused_where_it_is() {
        for (json, says) in [
            (
                r#"{"id": [1, true]}"#,
                "`entities.id[1]`: invalid type: boolean `true`, expected a key (a number or a string)",
            ),
            (
                r#"{"id": [[1]]}"#,
                "`entities.id[0]`: invalid type: sequence",
            ),
            (
                r#"{"id": 7}"#,
                "`entities.id`: invalid type: integer `7`, expected a list of keys",
            ),
            (r#"{"id": [1], "id": [2]}"#, r#"join key "id" given twice"#),
            (
                "[1]",
                "`entities`: invalid type: sequence, expected an object of join keys",
            ),
        ] {
            let e = entities(json).unwrap_err();
            assert!(e.contains(says), "{json}: {e}");
        }
    }
}
