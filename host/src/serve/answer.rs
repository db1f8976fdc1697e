//! Feast's `get-online-features` answer, written straight into one buffer
//! (through serde, building and serializing a copy of every cell was most
//! of a large answer's time): statuses as fixed bytes, numbers as
//! serde_json writes them, each view's event times formatted once and
//! shared by its columns. The structs here are its documented shape
//! (`GET /openapi.json`); a test reads what [`encode`] writes back into
//! them.

use super::{ApiError, bad};
use crate::runtime::{Features, Status};
use crate::time::Micros;
use crate::value::Value;
use serde::Deserialize;
use std::sync::Arc;

/// A Feast `get-online-features` answer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the document's shape: read by utoipa and the test only
pub(super) struct Answer {
    pub metadata: Metadata,
    pub results: Vec<Column>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the document's shape: read by utoipa and the test only
pub(super) struct Metadata {
    pub feature_names: Vec<String>,
    /// With `include_feature_view_version_metadata`.
    pub feature_view_metadata: Option<Vec<ViewVersion>>,
}

/// A view the answer read from, and its version, as Feast reports them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the document's shape: read by utoipa and the test only
pub(super) struct ViewVersion {
    pub name: String,
    pub version: u32,
}

/// One column of the answer: a value, a status and an event time per entity row.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the document's shape: read by utoipa and the test only
pub(super) struct Column {
    /// Keys echoed, or values as Feast answers them (bytes in base64,
    /// NaN and infinities by name, lists as arrays).
    pub values: Vec<serde_json::Value>,
    pub statuses: Vec<Status>,
    /// RFC 3339; the epoch for join keys and rows not found.
    pub event_timestamps: Vec<String>,
}

/// What the request asked of the answer's shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Flags {
    pub full_feature_names: bool,
    pub view_versions: bool,
}

/// Feast's answer to a lookup; a 400 when two columns would share a name,
/// as Feast refuses such a read (the client keys columns by name).
pub(super) fn encode(features: Features, flags: Flags) -> Result<Vec<u8>, ApiError> {
    let names = column_names(&features, flags)?;
    // Per cell, a float's text and a status are about 30 bytes, and its
    // event time (formatted once per view, but written in every column)
    // about 27: the buffer is sized once, as growing it copies a large
    // answer again (callgrind: a 300 KB answer, sized at 200 KB, grew
    // once per request, at times for a tenth of its encoding).
    let cells = names.len() * features.rows;
    let mut out = Vec::with_capacity(256 + names.len() * 64 + cells * 60);
    metadata(&mut out, &features, &names, flags);
    out.extend_from_slice(br#","results":["#);
    let epochs = times_json(std::iter::repeat_n(Micros::EPOCH, features.rows));
    let present = Present::new(features.rows);
    for (i, (_, keys)) in features.entities.iter().enumerate() {
        comma(&mut out, i);
        column(&mut out, keys, &present.statuses, &present, &epochs);
    }
    // A view's columns share their rows' times (one list): formatted once.
    let mut times: Vec<(&Arc<[Micros]>, Vec<u8>)> = Vec::new();
    for (i, col) in features.columns.iter().enumerate() {
        comma(&mut out, features.entities.len() + i);
        let shared = times
            .iter()
            .position(|(t, _)| Arc::ptr_eq(t, &col.event_times));
        let at = shared.unwrap_or_else(|| {
            let json = times_json(col.event_times.iter().copied());
            times.push((&col.event_times, json));
            times.len() - 1
        });
        column(&mut out, &col.values, &col.statuses, &present, &times[at].1);
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// The answer's opening and its `metadata`: the column names and, when
/// asked, each view read and its version.
fn metadata(out: &mut Vec<u8>, features: &Features, names: &[String], flags: Flags) {
    out.extend_from_slice(br#"{"metadata":{"feature_names":["#);
    for (i, name) in names.iter().enumerate() {
        comma(out, i);
        string(out, name);
    }
    out.push(b']');
    if flags.view_versions {
        out.extend_from_slice(br#","feature_view_metadata":["#);
        let mut views: Vec<&str> = Vec::new();
        for col in &features.columns {
            if !views.contains(&col.view.as_str()) {
                comma(out, views.len());
                views.push(&col.view);
                out.extend_from_slice(br#"{"name":"#);
                string(out, &col.view);
                out.extend_from_slice(br#","version":0}"#);
            }
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// The join keys' names, then each feature's (`view__feature` with
/// `full_feature_names`); a 400 when two are the same.
fn column_names(features: &Features, flags: Flags) -> Result<Vec<String>, ApiError> {
    let keys = features.entities.iter().map(|(k, _)| k.clone());
    let columns = features
        .columns
        .iter()
        .map(|c| match flags.full_feature_names {
            true => format!("{}__{}", c.view, c.feature),
            false => c.feature.clone(),
        });
    let names: Vec<String> = keys.chain(columns).collect();
    if let Some(name) = first_repeated(&names) {
        let hint = match flags.full_feature_names {
            true => "",
            false => ", or set full_feature_names",
        };
        return Err(bad(format!(
            "two columns of the answer would be named {name:?}: ask for each feature once{hint}"
        )));
    }
    Ok(names)
}

/// The first name given twice. A few names are compared pairwise: cheaper
/// than hashing them, which was about a quarter of encoding a 1 × 3
/// answer (perf).
fn first_repeated(names: &[String]) -> Option<&String> {
    if names.len() <= 16 {
        return (names.iter().enumerate()).find_map(|(i, n)| names[..i].contains(n).then_some(n));
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    names.iter().find(|n| !seen.insert(n.as_str()))
}

/// A column whose every value is present, the usual case, as its
/// statuses' text: copied whole, not written status by status (a 100 × 50
/// answer's 5,000 statuses were as many small copies).
struct Present {
    statuses: Vec<Status>,
    json: Vec<u8>,
}

impl Present {
    fn new(rows: usize) -> Present {
        let mut json = Vec::with_capacity(rows * 10);
        for i in 0..rows {
            comma(&mut json, i);
            json.extend_from_slice(status(Status::Present));
        }
        Present {
            statuses: vec![Status::Present; rows],
            json,
        }
    }
}

fn column(
    out: &mut Vec<u8>,
    values: &[Value],
    statuses: &[Status],
    present: &Present,
    times: &[u8],
) {
    out.extend_from_slice(br#"{"values":["#);
    let (mut ints, mut floats) = (itoa::Buffer::new(), zmij::Buffer::new());
    for (i, v) in values.iter().enumerate() {
        comma(out, i);
        // Numbers as serde_json writes them, without its writer's calls
        // per piece (most of a large answer); the rest through Value's own
        // serialization, which `wafer get` prints too.
        match v {
            Value::Int64(n) => out.extend_from_slice(ints.format(*n).as_bytes()),
            Value::Float64(f) if f.is_finite() => {
                out.extend_from_slice(floats.format_finite(*f).as_bytes())
            }
            v => serde_json::to_writer(&mut *out, v).expect("a value serializes to a Vec"),
        }
    }
    out.extend_from_slice(br#"],"statuses":["#);
    if *statuses == present.statuses[..] {
        out.extend_from_slice(&present.json);
    } else {
        for (i, s) in statuses.iter().enumerate() {
            comma(out, i);
            out.extend_from_slice(status(*s));
        }
    }
    out.extend_from_slice(br#"],"event_timestamps":"#);
    out.extend_from_slice(times);
    out.push(b'}');
}

fn status(s: Status) -> &'static [u8] {
    match s {
        Status::Present => br#""PRESENT""#,
        Status::NotFound => br#""NOT_FOUND""#,
        Status::NullValue => br#""NULL_VALUE""#,
        Status::OutsideMaxAge => br#""OUTSIDE_MAX_AGE""#,
    }
}

/// A JSON list of RFC 3339 times (their text needs no escaping).
fn times_json(times: impl Iterator<Item = Micros>) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, t) in times.enumerate() {
        comma(&mut out, i);
        out.push(b'"');
        out.extend_from_slice(t.rfc3339().as_bytes());
        out.push(b'"');
    }
    out.push(b']');
    out
}

fn string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("a string serializes to a Vec");
}

fn comma(out: &mut Vec<u8>, i: usize) {
    if i > 0 {
        out.push(b',');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::FeatureColumn;

    fn features() -> Features {
        let times: Arc<[Micros]> = vec![Micros(1_500_000), Micros::EPOCH].into();
        let col = |feature: &str, values: Vec<Value>, statuses: Vec<Status>| FeatureColumn {
            view: "v\"iew".into(),
            feature: feature.into(),
            values,
            statuses,
            event_times: times.clone(),
        };
        Features {
            rows: 2,
            entities: vec![("id".into(), vec![Value::Int64(7), Value::Int64(8)])],
            columns: vec![
                col(
                    "f",
                    vec![Value::Float64(f64::NAN), Value::Null],
                    vec![Status::Present, Status::NotFound],
                ),
                col(
                    "b",
                    vec![Value::Bytes(vec![1, 2]), Value::List(vec![Value::Int64(1)])],
                    vec![Status::Present, Status::OutsideMaxAge],
                ),
            ],
        }
    }

    #[test]
    fn the_answer_has_its_documented_shape() {
        let flags = Flags {
            full_feature_names: true,
            view_versions: true,
        };
        let json = encode(features(), flags).unwrap();
        let answer: Answer = serde_json::from_slice(&json).unwrap();
        let names = &answer.metadata.feature_names;
        assert_eq!(names, &["id", "v\"iew__f", "v\"iew__b"]);
        let views = answer.metadata.feature_view_metadata.unwrap();
        assert_eq!((views.len(), views[0].name.as_str()), (1, "v\"iew"));
        let [keys, f, b] = &answer.results[..] else {
            panic!("three columns")
        };
        assert_eq!(keys.values, [7, 8]);
        assert_eq!(keys.statuses, [Status::Present; 2]);
        assert_eq!(keys.event_timestamps, ["1970-01-01T00:00:00Z"; 2]);
        assert_eq!(
            f.values,
            [serde_json::json!("NaN"), serde_json::Value::Null]
        );
        assert_eq!(f.statuses, [Status::Present, Status::NotFound]);
        assert_eq!(f.event_timestamps[0], "1970-01-01T00:00:01.500Z");
        assert_eq!(
            b.values,
            [serde_json::json!("AQI="), serde_json::json!([1])]
        );
        assert_eq!(b.statuses[1], Status::OutsideMaxAge);
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        let values = [0.1, 1e300, -2.5e-8, 3.0, f64::INFINITY, -0.0]
            .map(Value::Float64)
            .into_iter()
            .chain([i64::MIN, 0, 42].map(Value::Int64))
            .collect::<Vec<_>>();
        let mut out = Vec::new();
        let statuses = vec![Status::Present; values.len()];
        column(
            &mut out,
            &values,
            &statuses,
            &Present::new(values.len()),
            b"[]",
        );
        let expected = serde_json::to_string(&values).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(&format!("{{\"values\":{expected},")),
            "{text}"
        );
    }

    #[test]
    fn two_columns_of_one_name_are_refused() {
        let mut twice = features();
        twice.columns[1].feature = "f".into();
        let flags = Flags {
            full_feature_names: false,
            view_versions: false,
        };
        let names = |n: usize, twice: &str| {
            let mut v: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
            v.push(twice.into());
            v
        };
        for n in [3, 40] {
            assert_eq!(
                first_repeated(&names(n, "f1")).map(String::as_str),
                Some("f1")
            );
            assert_eq!(first_repeated(&names(n, "g")), None);
        }
        let e = encode(twice, flags).unwrap_err();
        assert!(
            e.message().contains("set full_feature_names"),
            "{}",
            e.message()
        );
        let json = encode(features(), flags).unwrap();
        let answer: Answer = serde_json::from_slice(&json).unwrap();
        assert!(answer.metadata.feature_view_metadata.is_none());
    }
}
