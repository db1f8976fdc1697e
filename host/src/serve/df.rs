//! A write's `df`: its columns, as JSON lists or a Parquet body, checked
//! against the view (lengths, columns it reads, join keys, one event time)
//! before any cell is typed, then as input records.

use super::{ApiError, bad};
use crate::ingest::{ParquetBody, Record};
use crate::registry::View;
use crate::value::Value;
use serde_json::{Map, Value as Json_};

/// Feast sends the event time under this name, whatever the view calls it.
const FEAST_EVENT_TIME: &str = "event_timestamp";
/// Feast's write time: wafer keeps none, so it is ignored (unless the view
/// has a column of that name).
const FEAST_CREATED: &str = "created";

/// Named columns of cells (JSON, or typed values).
type Columns<C> = Vec<(String, Vec<C>)>;

/// A write's columns, as they came.
pub(super) enum Df {
    Json(Map<String, Json_>),
    Parquet(ParquetBody),
}

/// The df as records, row `i` on line `i + 1`. Every column must be as
/// long as the others and mean something to the view; JSON cells are
/// typed only for the columns kept.
pub(super) fn records(view: &View, df: Df, no_transform: bool) -> Result<Vec<Record>, ApiError> {
    let (n, columns) = match df {
        Df::Parquet(body) => kept(view, body.columns(view).map_err(bad)?, no_transform)?,
        Df::Json(df) => {
            let mut lists = Vec::with_capacity(df.len());
            for (name, cells) in df {
                let Json_::Array(cells) = cells else {
                    return Err(bad(format!("df.{name} must be a list (df is columnar)")));
                };
                lists.push((name, cells));
            }
            let (n, lists) = kept(view, lists, no_transform)?;
            (n, typed(lists)?)
        }
    };
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

/// JSON cells as values.
fn typed(lists: Columns<Json_>) -> Result<Columns<Value>, ApiError> {
    (lists.into_iter())
        .map(|(name, cells)| {
            let values = (cells.iter().enumerate())
                .map(|(i, c)| Value::from_json(c).map_err(|e| bad(format!("df.{name}[{i}]: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((name, values))
        })
        .collect()
}

/// The columns the view reads, renamed as it names them (Feast's `created`
/// dropped), and their common length. Columns of different lengths, one
/// the view does not read, a missing join key or two event times are
/// errors.
fn kept<C>(
    view: &View,
    columns: Columns<C>,
    no_transform: bool,
) -> Result<(usize, Columns<C>), ApiError> {
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
