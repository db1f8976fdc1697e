//! `offline`: training sets out of the offline log (`store::log`), point-in-time
//! correct as Feast's `get_historical_features`. For each spine row (join
//! keys, an `event_timestamp`, labels) each feature is the latest logged
//! value of its view whose event time is at or before the row's timestamp
//! and not older than the view's ttl; the last written wins a tie; nothing
//! from after the timestamp leaks. The spine is read, looked up and written
//! a batch at a time, so memory is bounded by the batch, not the spine.

mod columns;
mod sink;
mod spine;

pub use sink::OutFormat;

use crate::config::FieldType;
use crate::ingest::{Format, InputError};
use crate::registry::{Registry, View};
use crate::store::{FieldIndex, Store, StoreError};
use crate::value::Value;
use sink::Sink;
use spine::Spine;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Features(String),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("spine {path}, line {line}: {message}")]
    Spine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {message}")]
    Output { path: PathBuf, message: String },
}

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Join keys, [`ExportRequest::timestamp_column`] and any labels.
    pub spine: PathBuf,
    pub spine_format: Option<Format>,
    /// `view:feature`, as Feast names them.
    pub features: Vec<String>,
    pub out: PathBuf,
    /// [default: from `out`'s extension]
    pub format: Option<OutFormat>,
    /// Name feature columns `view__feature` (else `feature`).
    pub full_feature_names: bool,
    pub timestamp_column: String,
    /// Spine rows read, looked up and written at a time.
    pub batch_rows: usize,
}

/// What an export did (also its progress, batch by batch).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    pub rows: u64,
    pub features: usize,
    /// Feature cells with a value, and without one (no row by then, older
    /// than the ttl, or deleted).
    pub found: u64,
    pub missing: u64,
}

/// One view's part of an export: its features, their output names and
/// their declared types.
struct ViewPart<'a> {
    view: &'a View,
    fields: Vec<(String, String, FieldType)>,
}

/// Export a training set: one output row per spine row, the spine's columns
/// then each feature. Written to a temporary file beside `out`, renamed
/// over it at the end: a failed export leaves no partial file. Blocking.
pub fn export(
    store: &Store,
    registry: &Registry,
    req: &ExportRequest,
    mut on_batch: impl FnMut(&ExportSummary),
) -> Result<ExportSummary, ExportError> {
    let parts = resolve(registry, &req.features, req.full_feature_names)?;
    let format = match req.format {
        Some(f) => f,
        None => OutFormat::detect(&req.out).ok_or_else(|| ExportError::Output {
            path: req.out.clone(),
            message: "unknown output format (use .parquet, .csv or .jsonl, or --format)".into(),
        })?,
    };
    let mut spine = Spine::open(req)?;
    let feature_types: Vec<(String, FieldType)> = (parts.iter())
        .flat_map(|p| p.fields.iter().map(|(_, out, ty)| (out.clone(), *ty)))
        .collect();
    let mut sink: Option<Sink> = None;
    let mut summary = ExportSummary {
        features: feature_types.len(),
        ..ExportSummary::default()
    };
    while let Some(batch) = spine.next_batch()? {
        let features = lookup(store, &parts, &batch)?;
        for col in &features {
            let missing = col.iter().filter(|v| matches!(v, Value::Null)).count() as u64;
            summary.missing += missing;
            summary.found += col.len() as u64 - missing;
        }
        if sink.is_none() {
            sink = Some(open_sink(req, format, &batch, &feature_types)?);
        }
        let sink = sink.as_mut().expect("created above");
        sink.write(batch, features)?;
        summary.rows = spine.rows_read();
        on_batch(&summary);
    }
    let sink = match sink {
        Some(s) => s,
        None => open_sink(req, format, &spine.empty_batch(), &feature_types)?,
    };
    sink.finish()?;
    Ok(summary)
}

/// The output, typed from the first batch; a feature named like one of
/// the spine's columns is an error.
fn open_sink(
    req: &ExportRequest,
    format: OutFormat,
    first: &spine::Batch,
    features: &[(String, FieldType)],
) -> Result<Sink, ExportError> {
    if let Some((name, _)) = features.iter().find(|(n, _)| first.columns.contains(n)) {
        return Err(ExportError::Features(format!(
            "feature column {name:?} would repeat the spine's column of that name (rename it, or use --full-feature-names)"
        )));
    }
    Sink::create(&req.out, format, first, features, &req.timestamp_column)
}

/// The features grouped by view, in the order asked, with their output
/// names; an unknown view or feature, or two features that would share an
/// output name, is an error.
fn resolve<'a>(
    registry: &'a Registry,
    features: &[String],
    full: bool,
) -> Result<Vec<ViewPart<'a>>, ExportError> {
    let bad = |m: String| ExportError::Features(m);
    if features.is_empty() {
        return Err(bad(
            "no features to export (--features or --feature-service)".into(),
        ));
    }
    let mut parts: Vec<ViewPart> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for f in features {
        let (view, field) = (f.split_once(':'))
            .ok_or_else(|| bad(format!("feature {f:?}: expected view:feature")))?;
        let v =
            (registry.view(view)).ok_or_else(|| bad(format!("feature {f:?}: no view {view:?}")))?;
        let Some(ty) = v.field(field).map(|f| f.ty) else {
            return Err(bad(format!(
                "feature {f:?}: view {view:?} has no field {field:?}"
            )));
        };
        let out = if full {
            format!("{view}__{field}")
        } else {
            field.to_string()
        };
        if names.contains(&out) {
            return Err(bad(format!(
                "two features would both be named {out:?} (use --full-feature-names)"
            )));
        }
        names.push(out.clone());
        match parts.iter_mut().find(|p| p.view.name == view) {
            Some(p) => p.fields.push((field.to_string(), out, ty)),
            None => parts.push(ViewPart {
                view: v,
                fields: vec![(field.to_string(), out, ty)],
            }),
        }
    }
    Ok(parts)
}

/// Each feature's column for one spine batch, the views looked up side by
/// side on rayon's pool (each through its own iterator).
fn lookup(
    store: &Store,
    parts: &[ViewPart],
    batch: &spine::Batch,
) -> Result<Vec<Vec<Value>>, ExportError> {
    use rayon::prelude::*;
    let per_view: Vec<Vec<Vec<Value>>> = parts
        .par_iter()
        .map(|part| lookup_view(store, part, batch))
        .collect::<Result<_, _>>()?;
    Ok(per_view.into_iter().flatten().collect())
}

/// One view's feature columns: the rows looked up in key and time order,
/// so its log is read front to back.
fn lookup_view(
    store: &Store,
    part: &ViewPart,
    batch: &spine::Batch,
) -> Result<Vec<Vec<Value>>, ExportError> {
    let times = &batch.times;
    let keys = batch.keys(part.view)?;
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then(times[a].cmp(&times[b])));
    let mut wanted = FieldIndex::default();
    for (field, ..) in &part.fields {
        wanted.insert(field);
    }
    // Row after row, as the log decodes them; columns at the end.
    let w = wanted.len();
    let mut values: Vec<Option<Value>> = vec![None; keys.len() * w];
    let mut reader = store.log_reader(&part.view.name)?;
    for i in order {
        let since = part.view.ttl.map(|ttl| times[i].minus(ttl));
        let into = &mut values[i * w..(i + 1) * w];
        reader.as_of_wanted(&keys[i], times[i], since, &wanted, into)?;
    }
    let mut cols = vec![Vec::with_capacity(keys.len()); w];
    for (i, v) in values.into_iter().enumerate() {
        cols[i % w].push(v.unwrap_or(Value::Null));
    }
    Ok(cols)
}
