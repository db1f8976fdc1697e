//! Typed lookups: features by `view:feature`, entities by join key, one
//! store read of the keys per view, and per value its status and event time as
//! Feast reports them. The HTTP server and `wafer get` are thin adapters
//! over [`Lookup`] and [`Features`].

use super::generation::Generation;
use crate::config::FieldType;
use crate::registry::{JoinKey, View};
use crate::store::{Cells, EntityKey, FieldIndex, Reach, Store, StoreError, WantedRows};
use crate::time::Micros;
use crate::value::Value;
use std::sync::Arc;

/// What to read: features as `view:feature` or a feature service's, and
/// entity keys by join key (each list holds one key per entity row, all
/// lists the same length).
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    pub features: Vec<String>,
    /// A `[[feature_service]]` by name, instead of `features`.
    pub feature_service: Option<String>,
    pub entities: Vec<(String, Vec<Value>)>,
}

/// The answer: the entity rows asked for (each join key's keys, as the
/// request gave them), then one column per requested feature, in request
/// order. Values are [`Value`]s, or whatever [`Cells`] the caller reads
/// them into (the server: its answer's text).
#[derive(Debug, Clone)]
pub struct Features<C = Vec<Value>> {
    pub rows: usize,
    pub entities: Vec<(String, Vec<Value>)>,
    pub columns: Vec<FeatureColumn<C>>,
}

#[derive(Debug, Clone)]
pub struct FeatureColumn<C = Vec<Value>> {
    pub view: String,
    pub feature: String,
    /// One per entity row; null where the status is not `Present`.
    pub values: C,
    pub statuses: Vec<Status>,
    /// The stored row's event time; the epoch when there is none. One
    /// list for every column of a view (it is the row's, not the value's).
    pub event_times: Arc<[Micros]>,
}

/// A value's status, as Feast names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Present,
    /// No row for the key.
    NotFound,
    /// A row without a value for the feature.
    NullValue,
    /// Older than the view's `ttl` (the value is withheld).
    OutsideMaxAge,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("`features` must list at least one \"view:feature\" (or give a `feature_service`)")]
    NoFeatures,
    #[error("give `features` or `feature_service`, not both")]
    FeaturesAndService,
    #[error("no feature service named {0:?} (declare it as [[feature_service]])")]
    UnknownFeatureService(String),
    #[error("feature {0:?} must be \"view:feature\"")]
    BadFeature(String),
    #[error("unknown feature view {view:?} (in {feature:?})")]
    UnknownView { view: String, feature: String },
    #[error("unknown feature {feature:?} in view {view:?}")]
    UnknownFeature { view: String, feature: String },
    #[error("`entities` is empty: give each join key a list of values")]
    NoEntities,
    #[error("entities.{key} has {len} keys, other join keys have {expected}")]
    LengthMismatch {
        key: String,
        len: usize,
        expected: usize,
    },
    #[error("{n} entity keys in one request; the limit is {max} (server.max_keys_per_request)")]
    TooManyKeys { n: usize, max: usize },
    #[error("entities has no `{join_key}`, a join key of view {view}")]
    MissingJoinKey { view: String, join_key: String },
    #[error("entities.{key} is not a join key of the views asked for ({join_keys})")]
    ExtraKey { key: String, join_keys: String },
    #[error("entities.{join_key}[{index}]: {message}")]
    BadKey {
        join_key: String,
        index: usize,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the lookup task failed: {0}")]
    Task(String),
}

/// A requested feature: its view and name.
struct Wanted<'a> {
    view: &'a View,
    feature: &'a str,
}

/// Answer `req` from `store`, within `reach`, as `generation` defines the
/// views: the number of entity rows and the feature columns. Blocking,
/// unless `reach` is memory.
pub(super) fn lookup<C: Cells>(
    generation: &Generation,
    (store, reach): (&Store, Reach),
    req: &Lookup,
) -> Result<(usize, Vec<FeatureColumn<C>>), LookupError> {
    let registry = &generation.registry;
    let features = match &req.feature_service {
        None => &req.features[..],
        Some(_) if !req.features.is_empty() => return Err(LookupError::FeaturesAndService),
        Some(name) => (registry.feature_service(name))
            .ok_or_else(|| LookupError::UnknownFeatureService(name.clone()))?,
    };
    let wanted = resolve(registry.views(), features)?;
    let rows = entity_rows(req, registry.config.server.max_keys_per_request)?;
    no_extra_keys(&wanted, &req.entities)?;
    let mut columns: Vec<Option<FeatureColumn<C>>> = vec![None; wanted.len()];
    // The clock only matters to views with a ttl.
    let now = (wanted.iter().any(|w| w.view.ttl.is_some())).then(Micros::now);
    for i in 0..wanted.len() {
        if columns[i].is_none() {
            read_view((store, reach), req, &wanted, i, now, &mut columns)?;
        }
    }
    let columns = columns
        .into_iter()
        .map(|c| c.expect("every view read"))
        .collect();
    Ok((rows, columns))
}

/// One read of `wanted[first]`'s view, of only the features asked
/// of it, into their places in `columns`.
fn read_view<C: Cells>(
    (store, reach): (&Store, Reach),
    req: &Lookup,
    wanted: &[Wanted],
    first: usize,
    now: Option<Micros>,
    columns: &mut [Option<FeatureColumn<C>>],
) -> Result<(), LookupError> {
    let view = wanted[first].view;
    let mine: Vec<usize> = (first..wanted.len())
        .filter(|j| wanted[*j].view.name == view.name)
        .collect();
    let mut index = FieldIndex::default();
    let places: Vec<usize> = mine
        .iter()
        .map(|j| index.insert(wanted[*j].feature))
        .collect();
    let keys = keys_for(view, &req.entities)?;
    // A row older than the view's ttl answers no value: none is decoded.
    let fresh = |t: Micros| !is_stale(view, t, now);
    let found = store.get_wanted(&view.name, &keys, (&index, fresh), reach)?;
    let mut built: Vec<Option<FeatureColumn<C>>> =
        (view_columns(view, &index, found, now).into_iter().map(Some)).collect();
    // Each column moves to its place; only a feature asked for twice is copied.
    let mut uses = vec![0usize; built.len()];
    for at in &places {
        uses[*at] += 1;
    }
    for (j, at) in mine.iter().zip(&places) {
        uses[*at] -= 1;
        columns[*j] = if uses[*at] == 0 {
            built[*at].take()
        } else {
            built[*at].clone()
        };
    }
    Ok(())
}

fn resolve<'a>(views: &'a [View], features: &'a [String]) -> Result<Vec<Wanted<'a>>, LookupError> {
    if features.is_empty() {
        return Err(LookupError::NoFeatures);
    }
    features
        .iter()
        .map(|f| {
            let (view, feature) = f
                .split_once(':')
                .ok_or_else(|| LookupError::BadFeature(f.clone()))?;
            let v =
                views
                    .iter()
                    .find(|v| v.name == view)
                    .ok_or_else(|| LookupError::UnknownView {
                        view: view.into(),
                        feature: f.clone(),
                    })?;
            if v.field(feature).is_none() {
                return Err(LookupError::UnknownFeature {
                    view: view.into(),
                    feature: feature.into(),
                });
            }
            Ok(Wanted { view: v, feature })
        })
        .collect()
}

/// The number of entity rows; every join key's list must have it.
fn entity_rows(req: &Lookup, max: usize) -> Result<usize, LookupError> {
    let mut n = None;
    for (key, values) in &req.entities {
        match n {
            Some(expected) if expected != values.len() => {
                return Err(LookupError::LengthMismatch {
                    key: key.clone(),
                    len: values.len(),
                    expected,
                });
            }
            _ => n = Some(values.len()),
        }
    }
    let n = n.ok_or(LookupError::NoEntities)?;
    if n > max {
        return Err(LookupError::TooManyKeys { n, max });
    }
    Ok(n)
}

/// A join key no asked-for view has is a typo or a wrong view: an answer
/// that silently ignored it would look right and be wrong.
fn no_extra_keys(wanted: &[Wanted], entities: &[(String, Vec<Value>)]) -> Result<(), LookupError> {
    let known = |k: &str| wanted.iter().any(|w| w.view.is_join_key(k));
    let Some((extra, _)) = entities.iter().find(|(k, _)| !known(k)) else {
        return Ok(());
    };
    let mut join_keys: Vec<&str> = Vec::new();
    for k in wanted.iter().flat_map(|w| &w.view.keys) {
        if !join_keys.contains(&k.name.as_str()) {
            join_keys.push(&k.name);
        }
    }
    Err(LookupError::ExtraKey {
        key: extra.clone(),
        join_keys: join_keys.join(", "),
    })
}

/// The view's keys from the request, typed exactly: an int64 key must be an
/// integer, not text that looks like one. Several join keys make one
/// composite key per entity row.
fn keys_for(view: &View, entities: &[(String, Vec<Value>)]) -> Result<Vec<EntityKey>, LookupError> {
    let mut columns = Vec::with_capacity(view.keys.len());
    for k in &view.keys {
        let (_, list) = (entities.iter().find(|(name, _)| *name == k.name)).ok_or_else(|| {
            LookupError::MissingJoinKey {
                view: view.name.clone(),
                join_key: k.name.clone(),
            }
        })?;
        let parts = list
            .iter()
            .enumerate()
            .map(|(i, v)| key_part(view, k, i, v));
        columns.push(parts.collect::<Result<Vec<_>, _>>()?);
    }
    if columns.len() == 1 {
        return Ok(columns.pop().expect("one join key"));
    }
    let rows = columns.first().map_or(0, Vec::len);
    let mut columns: Vec<_> = columns.into_iter().map(Vec::into_iter).collect();
    Ok((0..rows)
        .map(|_| EntityKey::Composite(columns.iter_mut().filter_map(Iterator::next).collect()))
        .collect())
}

fn key_part(view: &View, key: &JoinKey, index: usize, v: &Value) -> Result<EntityKey, LookupError> {
    let (want, got) = match (key.ty, v) {
        (FieldType::Int64, Value::Int64(k)) => return Ok(EntityKey::Int(*k)),
        (FieldType::String, Value::String(k)) => return Ok(EntityKey::Str(k.clone())),
        (FieldType::Int64, other) => ("an integer", other),
        (_, other) => ("a string", other),
    };
    Err(LookupError::BadKey {
        join_key: key.name.clone(),
        index,
        message: format!(
            "{} must be {want} (`{}` is {} in view {})",
            show(got),
            key.name,
            key.ty.name(),
            view.name
        ),
    })
}

fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| v.type_name().into())
}

/// Whether a row of `view` written at `t` is past its ttl (`now` is set
/// whenever a view asked for has one).
fn is_stale(view: &View, t: Micros, now: Option<Micros>) -> bool {
    matches!((view.ttl, now), (Some(ttl), Some(now)) if t.older_than(ttl, now))
}

/// The columns of one view's `index`ed features (in index order): values,
/// statuses and the rows' event times, from its rows as read (a stale
/// row's values were not decoded: they are null). The read's columns are
/// the answer's.
fn view_columns<C: Cells>(
    view: &View,
    index: &FieldIndex,
    rows: WantedRows<C>,
    now: Option<Micros>,
) -> Vec<FeatureColumn<C>> {
    let times: Arc<[Micros]> = (rows.times.iter())
        .map(|t| t.unwrap_or(Micros::EPOCH))
        .collect();
    // Each row's status, its values' unless null: worked out once for
    // the view, not once per column (for 50 columns, 3.5 % of a 100 × 50
    // lookup's instructions).
    let of_rows: Vec<Status> = (rows.times.iter())
        .map(|time| match time {
            None => Status::NotFound,
            Some(t) if is_stale(view, *t, now) => Status::OutsideMaxAge,
            Some(_) => Status::Present,
        })
        .collect();
    (index.names().iter().zip(rows.columns))
        .map(|(feature, values)| FeatureColumn {
            view: view.name.clone(),
            feature: feature.to_string(),
            statuses: statuses(&values, &of_rows),
            values,
            event_times: times.clone(),
        })
        .collect()
}

/// Each value's status: its row's (`of_rows`), but `NullValue` for a
/// null in a row that answers values (a row not found or too old answers
/// none: its values are null too).
fn statuses(values: &impl Cells, of_rows: &[Status]) -> Vec<Status> {
    debug_assert_eq!(values.len(), of_rows.len());
    let mut statuses = of_rows.to_vec();
    for i in values.nulls() {
        if statuses[i] == Status::Present {
            statuses[i] = Status::NullValue;
        }
    }
    statuses
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row not found or too old answers no value; a found row answers
    /// its value, or null.
    #[test]
    fn each_value_has_its_rows_status_or_its_own() {
        let values = vec![Value::Null, Value::Null, Value::Null, Value::Int64(4)];
        let of_rows = [
            Status::NotFound,
            Status::OutsideMaxAge,
            Status::Present,
            Status::Present,
        ];
        let got = statuses(&values, &of_rows);
        let want = [
            Status::NotFound,
            Status::OutsideMaxAge,
            Status::NullValue,
            Status::Present,
        ];
        assert_eq!(got, want);
    }
}
