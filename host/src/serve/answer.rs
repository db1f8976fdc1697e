//! Feast's `get-online-features` answer, written straight into one buffer
//! (through serde, building and serializing a copy of every cell was most
//! of a large answer's time): the values' text as the lookup wrote it
//! (`cells.rs`), statuses as fixed bytes, each view's event times
//! formatted once and shared by its columns. The structs here are its
//! documented shape (`GET /openapi.json`); a test reads what [`encode`]
//! writes back into them.

use super::cells::{JsonCells, write_value};
use super::{ApiError, bad};
use crate::runtime::Status;
use crate::time::Micros;
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

/// A lookup as the server reads it: each feature's values as text.
pub(super) type Features = crate::runtime::Features<JsonCells>;

/// What the request asked of the answer's shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Flags {
    pub full_feature_names: bool,
    pub view_versions: bool,
}

/// Feast's answer to a lookup; a 400 when two columns would share a name,
/// as Feast refuses such a read (the client keys columns by name).
pub(super) fn encode(features: &Features, flags: Flags) -> Result<Vec<u8>, ApiError> {
    let names = column_names(features, flags)?;
    let epochs = times_json(std::iter::repeat_n(Micros::EPOCH, features.rows));
    let (times, of_column) = view_times(features);
    let time_bytes = epochs.len() * features.entities.len()
        + of_column.iter().map(|at| times[*at].len()).sum::<usize>();
    let mut out = Vec::with_capacity(capacity(features, names.len(), time_bytes));
    metadata(&mut out, features, &names, flags);
    out.extend_from_slice(br#","results":["#);
    let present = Present::new(features.rows);
    for (i, (_, keys)) in features.entities.iter().enumerate() {
        comma(&mut out, i);
        let values = |out: &mut Vec<u8>| {
            for (i, key) in keys.iter().enumerate() {
                comma(out, i);
                write_value(out, key);
            }
        };
        column(&mut out, (keys.len(), values), None, &present, &epochs);
    }
    for (i, (col, at)) in features.columns.iter().zip(of_column).enumerate() {
        comma(&mut out, features.entities.len() + i);
        let statuses = Some(&col.statuses[..]);
        let values = |out: &mut Vec<u8>| out.extend_from_slice(col.values.text());
        column(
            &mut out,
            (col.statuses.len(), values),
            statuses,
            &present,
            &times[at],
        );
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// The answer's size, or a little more: growing it copies a large answer
/// again (callgrind: a 300 KB answer, sized at 200 KB, grew once a
/// request, at times for a tenth of its encoding). The event times
/// (`time_bytes`, every column writing its view's list) and the values'
/// text exactly; per cell a status (at most 18 bytes with its comma), and
/// a key's text (most under 24).
fn capacity(features: &Features, names: usize, time_bytes: usize) -> usize {
    let text: usize = features.columns.iter().map(|c| c.values.text().len()).sum();
    let keys = features.entities.len() * features.rows * 24;
    256 + names * 64 + time_bytes + text + names * features.rows * 18 + keys
}

/// Each view's event times as a JSON list, formatted once (a view's
/// columns share their rows' times), and which list each column writes.
fn view_times(features: &Features) -> (Vec<Vec<u8>>, Vec<usize>) {
    let (mut lists, mut json): (Vec<&Arc<[Micros]>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    let of_column = (features.columns.iter())
        .map(|col| {
            let shared = lists.iter().position(|t| Arc::ptr_eq(t, &col.event_times));
            shared.unwrap_or_else(|| {
                lists.push(&col.event_times);
                json.push(times_json(col.event_times.iter().copied()));
                json.len() - 1
            })
        })
        .collect();
    (json, of_column)
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

/// The statuses of a column whose every value is present, the usual
/// case, as one piece of text, copied whole rather than status by status
/// (a 100 × 50 answer's 5,000 statuses were as many small copies). Made
/// only for answers of more than a few rows.
struct Present {
    rows: usize,
    json: Option<Vec<u8>>,
}

impl Present {
    const MIN_ROWS: usize = 8;

    fn new(rows: usize) -> Present {
        let json = (rows >= Self::MIN_ROWS).then(|| {
            let mut json = Vec::with_capacity(rows * 10);
            for i in 0..rows {
                comma(&mut json, i);
                json.extend_from_slice(status(Status::Present));
            }
            json
        });
        Present { rows, json }
    }
}

/// A column of the answer: its number of rows and what writes its values;
/// `statuses` none for a join key's (each present).
fn column(
    out: &mut Vec<u8>,
    (rows, values): (usize, impl FnOnce(&mut Vec<u8>)),
    statuses: Option<&[Status]>,
    present: &Present,
    times: &[u8],
) {
    out.extend_from_slice(br#"{"values":["#);
    values(out);
    out.extend_from_slice(br#"],"statuses":["#);
    write_statuses(out, rows, statuses, present);
    out.extend_from_slice(br#"],"event_timestamps":"#);
    out.extend_from_slice(times);
    out.push(b'}');
}

fn write_statuses(out: &mut Vec<u8>, rows: usize, statuses: Option<&[Status]>, present: &Present) {
    // Scanned only where the whole text exists: a small answer skips it.
    let whole = (present.json.as_ref()).filter(|_| {
        rows == present.rows && statuses.is_none_or(|s| s.iter().all(|s| *s == Status::Present))
    });
    if let Some(json) = whole {
        return out.extend_from_slice(json);
    }
    for i in 0..statuses.map_or(rows, <[Status]>::len) {
        comma(out, i);
        out.extend_from_slice(status(statuses.map_or(Status::Present, |s| s[i])));
    }
}

fn status(s: Status) -> &'static [u8] {
    match s {
        Status::Present => br#""PRESENT""#,
        Status::NotFound => br#""NOT_FOUND""#,
        Status::NullValue => br#""NULL_VALUE""#,
        Status::OutsideMaxAge => br#""OUTSIDE_MAX_AGE""#,
    }
}

/// A JSON list of RFC 3339 times (their text needs no escaping). A time
/// the same as the one before (rows published or pushed together) is
/// copied, not formatted again: chrono took 1,200 instructions a time.
fn times_json(times: impl Iterator<Item = Micros>) -> Vec<u8> {
    let mut out = vec![b'['];
    let mut last: Option<(Micros, std::ops::Range<usize>)> = None;
    for (i, t) in times.enumerate() {
        comma(&mut out, i);
        let start = out.len();
        match &last {
            Some((same, text)) if *same == t => out.extend_from_within(text.clone()),
            _ => {
                out.push(b'"');
                out.extend_from_slice(t.rfc3339().as_bytes());
                out.push(b'"');
            }
        }
        last = Some((t, start..out.len()));
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
    use crate::store::Cells;
    use crate::value::Value;

    /// `values` as a lookup writes them.
    fn cells(values: Vec<Value>) -> JsonCells {
        let mut cells = JsonCells::with_capacity(values.len());
        values.into_iter().for_each(|v| cells.push_value(v));
        cells
    }

    fn features() -> Features {
        let times: Arc<[Micros]> = vec![Micros(1_500_000), Micros::EPOCH].into();
        let col = |feature: &str, values: Vec<Value>, statuses: Vec<Status>| FeatureColumn {
            view: "v\"iew".into(),
            feature: feature.into(),
            values: cells(values),
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
        let json = encode(&features(), flags).unwrap();
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
        let times = ["1970-01-01T00:00:01.500Z", "1970-01-01T00:00:00Z"];
        assert_eq!(f.event_timestamps, times);
        assert_eq!(
            b.values,
            [serde_json::json!("AQI="), serde_json::json!([1])]
        );
        assert_eq!(b.statuses[1], Status::OutsideMaxAge);
    }

    /// A long column's statuses are written whole when all are present,
    /// one by one otherwise.
    #[test]
    fn statuses_of_long_columns_are_each_columns_own() {
        let rows = 3 * Present::MIN_ROWS;
        let times: Arc<[Micros]> = vec![Micros(1_234_567); rows].into();
        let col = |feature: &str, statuses: Vec<Status>| FeatureColumn {
            view: "v".into(),
            feature: feature.into(),
            values: cells((0..rows).map(|i| Value::Float64(i as f64 / 7.0)).collect()),
            statuses,
            event_times: times.clone(),
        };
        let mut some = vec![Status::Present; rows];
        some[rows - 1] = Status::NotFound;
        let features = Features {
            rows,
            entities: vec![("id".into(), (0..rows as i64).map(Value::Int64).collect())],
            columns: vec![
                col("all", vec![Status::Present; rows]),
                col("some", some.clone()),
            ],
        };
        let flags = Flags {
            full_feature_names: false,
            view_versions: false,
        };
        let json = encode(&features, flags).unwrap();
        let answer: Answer = serde_json::from_slice(&json).unwrap();
        let [keys, all, got] = &answer.results[..] else {
            panic!("three columns")
        };
        assert_eq!(keys.statuses, vec![Status::Present; rows]);
        assert_eq!(all.statuses, vec![Status::Present; rows]);
        assert_eq!(got.statuses, some);
        // One time for every row: formatted once, copied to each.
        let time = "1970-01-01T00:00:01.234567Z";
        assert_eq!(got.event_timestamps, vec![time; rows]);
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
        let e = encode(&twice, flags).unwrap_err();
        assert!(
            e.message().contains("set full_feature_names"),
            "{}",
            e.message()
        );
        let json = encode(&features(), flags).unwrap();
        let answer: Answer = serde_json::from_slice(&json).unwrap();
        assert!(answer.metadata.feature_view_metadata.is_none());
    }
}
