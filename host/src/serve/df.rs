//! A write's `df`: its columns, as JSON lists (read straight from the
//! body's text into input values) or a Parquet body, checked against the
//! view (lengths, columns it reads, join keys, one event time), then as
//! input records.

use super::lists::{Columns, Lists, NamedLists};
use super::{ApiError, bad};
use crate::ingest::{ParquetBody, Record};
use crate::registry::View;
use crate::value::JsonInput;

/// Feast sends the event time under this name, whatever the view calls it.
const FEAST_EVENT_TIME: &str = "event_timestamp";
/// Feast's write time: wafer keeps none, so it is ignored (unless the view
/// has a column of that name).
const FEAST_CREATED: &str = "created";

/// A write's columns, as they came.
pub(super) enum Df {
    Json(JsonDf),
    Parquet(ParquetBody),
}

/// A JSON `df`: its columns' cells read straight from the body's text as
/// input values, in the body's column order.
pub(super) type JsonDf = NamedLists<DfColumns>;

#[derive(Debug)]
pub(super) struct DfColumns;

impl Lists for DfColumns {
    type Item = JsonInput;
    const OBJECT: &'static str = "an object of columns, each a list (df is columnar)";
    const LIST: &'static str = "a list (df is columnar)";

    fn twice(name: &str) -> String {
        format!("df has two columns named {name:?}")
    }
}

/// The df as records, row `i` on line `i + 1`. Every column must be as
/// long as the others and mean something to the view.
pub(super) fn records(view: &View, df: Df, no_transform: bool) -> Result<Vec<Record>, ApiError> {
    let columns = match df {
        Df::Parquet(body) => body.columns(view).map_err(bad)?,
        Df::Json(df) => df.0,
    };
    let (n, columns) = kept(view, columns, no_transform)?;
    let mut records: Vec<Record> = (0..n)
        .map(|i| Record {
            line: i + 1,
            cells: Vec::with_capacity(columns.len()),
        })
        .collect();
    for (name, cells) in columns {
        for (record, v) in records.iter_mut().zip(cells) {
            record.cells.push((name.clone(), v));
        }
    }
    Ok(records)
}

/// The columns the view reads, renamed as it names them (Feast's `created`
/// dropped), and their common length. Columns of different lengths, one
/// the view does not read, a missing join key or two event times are
/// errors.
fn kept(view: &View, columns: Columns, no_transform: bool) -> Result<(usize, Columns), ApiError> {
    let mut n = None;
    let mut kept = Vec::with_capacity(columns.len());
    for (name, cells) in columns {
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
    check_keys_and_time(view, kept.iter().map(|(c, _)| c.as_str()))?;
    Ok((n, kept))
}

/// Every join key present, and the event time at most once.
fn check_keys_and_time<'a>(
    view: &View,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Result<(), ApiError> {
    if names.clone().filter(|c| *c == view.event_time).count() > 1 {
        return Err(bad(format!(
            "df has both `{FEAST_EVENT_TIME}` and `{}`, the view's event time: send one",
            view.event_time
        )));
    }
    if let Some(k) = (view.keys.iter()).find(|k| !names.clone().any(|c| c == k.name)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn df(text: &str) -> Result<JsonDf, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_json_df_is_read_in_its_columns_order_as_input_values() {
        let read = df(r#"{"z": [1, 2.5], "a": [["x"], null]}"#).unwrap();
        assert_eq!(read.shape(), (2, 2));
        let [(z, zs), (a, as_)] = &read.0[..] else {
            panic!("two columns")
        };
        assert_eq!((z.as_str(), a.as_str()), ("z", "a"));
        assert_eq!(zs, &[Value::Int64(1), Value::Float64(2.5)]);
        let list = Value::List(vec![Value::String("x".into())]);
        assert_eq!(as_, &[list, Value::Null]);
        assert_eq!(df("{}").unwrap().shape(), (0, 0));
    }

    #[test]
    fn a_json_df_that_is_not_columns_of_values_is_refused() {
        let e = df(r#"{"a": [1], "a": [2]}"#).unwrap_err();
        assert!(e.contains(r#"df has two columns named "a""#), "{e}");
        let e = df(r#"{"a": 1}"#).unwrap_err();
        assert!(e.contains("expected a list (df is columnar)"), "{e}");
        let e = df(r#"[[1]]"#).unwrap_err();
        assert!(e.contains("expected an object of columns"), "{e}");
        let e = df(r#"{"a": [{"b": 1}]}"#).unwrap_err();
        assert!(e.contains("objects are not a supported value"), "{e}");
    }
}
