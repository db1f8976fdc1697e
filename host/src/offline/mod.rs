//! `offline`: training sets out of the offline log (`store::log`), point-in-time
//! correct as Feast's `get_historical_features`. For each spine row (join
//! keys, an `event_timestamp`, labels) each feature is the latest logged
//! value of its view whose event time is at or before the row's timestamp
//! and not older than the view's ttl; the last written wins a tie; nothing
//! from after the timestamp leaks. The spine is read twice, a batch at a
//! time: once to deal each view's questions into key ranges, which are
//! sorted a range at a time and answered in one pass over the view's log
//! (`join`), and once to write each row beside its answers. Memory is
//! bounded by the batch, not the spine, up to 4 Mi spine rows; past them,
//! the answers' buckets grow slowly with it (`buckets`).

mod asked;
mod buckets;
mod chunks;
mod columns;
mod items;
mod join;
mod output;
mod questions;
mod runs;
mod sink;
mod spine;

pub use sink::OutFormat;

use crate::config::FieldType;
use crate::ingest::{Format, InputError};
use crate::registry::{Registry, View};
use crate::store::{FieldIndex, Store, StoreError};
use join::Spill;
use sink::Sink;
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
    /// A logged value that does not fit its feature's declared type: the
    /// view's config changed since it was written.
    #[error(
        "view {view:?}, feature {feature:?}: {message}, for spine {path} line {line} (logged before its declared type changed?)"
    )]
    FeatureType {
        view: String,
        feature: String,
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "spine {0} changed while it was exported (it is read twice): export from a copy that stays put"
    )]
    SpineChanged(PathBuf),
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
    /// Spine rows read, sorted and written at a time.
    pub batch_rows: usize,
}

/// What an export did (also its progress, batch by batch).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    /// Where a progress report stands (not part of the final summary).
    #[serde(skip)]
    pub stage: ExportStage,
    /// Rows written; while sorting, spine rows sorted.
    pub rows: u64,
    pub features: usize,
    /// Feature cells with a value, and without one (no row by then, older
    /// than the ttl, or deleted).
    pub found: u64,
    pub missing: u64,
}

/// An export's three passes, for its progress line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ExportStage {
    /// Reading the spine, sorting each view's questions.
    #[default]
    Sorting,
    /// Reading each view's log once.
    Joining,
    /// Reading the spine again, writing each row with its features.
    Writing,
}

/// One view's part of an export: its features, their output names and
/// their declared types, and the index that decodes them.
struct ViewPart<'a> {
    view: &'a View,
    /// Output names and declared types, in `wanted`'s order.
    fields: Vec<(String, FieldType)>,
    wanted: FieldIndex<'a>,
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
    let feature_types: Vec<(String, FieldType)> = (parts.iter())
        .flat_map(|p| p.fields.iter().cloned())
        .collect();
    let spill = Spill::new(&req.out, req.batch_rows)?;
    let answers = join::answers(store, &parts, req, &feature_types, &spill, &mut on_batch)?;
    // The output is encoded on a thread of its own while the next batch is
    // read and decoded: one batch in flight.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let feature_types = &feature_types;
        let writer = scope.spawn(move || output::write_batches(req, format, feature_types, rx));
        let read = output::read_batches(&parts, req, answers, (&spill, format), tx, on_batch);
        let written = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // A writer that failed hung up on the reader: its error comes first.
        let sink = written?;
        let (summary, empty) = read?;
        let sink = match sink {
            Some(s) => s,
            None => {
                let (out, time) = (&req.out, &req.timestamp_column);
                Sink::create(out, format, &empty, feature_types, time)?
            }
        };
        sink.finish()?;
        Ok(summary)
    })
}

/// A feature named like one of the spine's columns is an error.
fn check_names(spine: &[String], features: &[(String, FieldType)]) -> Result<(), ExportError> {
    match features.iter().find(|(n, _)| spine.contains(n)) {
        None => Ok(()),
        Some((name, _)) => Err(ExportError::Features(format!(
            "feature column {name:?} would repeat the spine's column of that name (rename it, or use --full-feature-names)"
        ))),
    }
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
        let Some(declared) = v.field(field) else {
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
        let part = match parts.iter().position(|p| p.view.name == view) {
            Some(i) => &mut parts[i],
            None => {
                parts.push(ViewPart {
                    view: v,
                    fields: Vec::new(),
                    wanted: FieldIndex::default(),
                });
                parts.last_mut().expect("pushed")
            }
        };
        part.wanted.insert(&declared.name);
        part.fields.push((out, declared.ty));
    }
    Ok(parts)
}
