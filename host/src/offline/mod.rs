//! `offline`: training sets out of the offline log (`store::log`), point-in-time
//! correct as Feast's `get_historical_features`. For each spine row (join
//! keys, an `event_timestamp`, labels) each feature is the latest logged
//! value of its view whose event time is at or before the row's timestamp
//! and not older than the view's ttl; the last written wins a tie; nothing
//! from after the timestamp leaks. The spine is read twice, a batch at a
//! time: once to sort each view's questions, which are answered in one pass
//! over the view's log (`join`), and once to write each row beside its
//! answers. Memory is bounded by the batch, not the spine.

mod columns;
mod join;
mod runs;
mod sink;
mod spine;

pub use sink::OutFormat;

use crate::config::FieldType;
use crate::ingest::{Format, InputError};
use crate::registry::{Registry, View};
use crate::store::{FieldIndex, Store, StoreError, decode_logged};
use crate::value::Value;
use join::{Found, Spill, Target};
use runs::Sorted;
use sink::Sink;
use spine::Spine;
use std::iter::Peekable;
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
    /// Spine rows read, sorted and written at a time.
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
/// their declared types, and the index that decodes them.
struct ViewPart<'a> {
    view: &'a View,
    fields: Vec<(String, String, FieldType)>,
    wanted: FieldIndex<'a>,
}

/// Export a training set: one output row per spine row, the spine's columns
/// then each feature. Written to a temporary file beside `out`, renamed
/// over it at the end: a failed export leaves no partial file. Blocking.
pub fn export(
    store: &Store,
    registry: &Registry,
    req: &ExportRequest,
    on_batch: impl FnMut(&ExportSummary),
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
        .flat_map(|p| p.fields.iter().map(|(_, out, ty)| (out.clone(), *ty)))
        .collect();
    let mut spill = Spill::new(&req.out, req.batch_rows)?;
    let answers = answers(store, &parts, req, &mut spill)?;
    // The output is encoded on a thread of its own while the next batch is
    // read and decoded: one batch in flight.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let feature_types = &feature_types;
        let writer = scope.spawn(move || write_batches(req, format, feature_types, rx));
        let read = read_batches(&parts, req, answers, &spill, tx, on_batch);
        let written = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // A writer that failed hung up on the reader: its error comes first.
        let sink = written?;
        let (summary, empty) = read?;
        let sink = match sink {
            Some(s) => s,
            None => open_sink(req, format, &empty, feature_types)?,
        };
        sink.finish()?;
        Ok(summary)
    })
}

/// A spine batch and its feature columns, on their way to the output.
type Written = (spine::Batch, Vec<Vec<Value>>);

/// The spine read again, each batch beside the views' answers for it, sent
/// to the writer; the summary, and a batch of no rows (the header of an
/// empty spine's output). Stops early, without an error, if the writer
/// hangs up: it failed, and says why.
fn read_batches(
    parts: &[ViewPart],
    req: &ExportRequest,
    answers: Vec<Sorted<Found>>,
    spill: &Spill,
    tx: std::sync::mpsc::SyncSender<Written>,
    mut on_batch: impl FnMut(&ExportSummary),
) -> Result<(ExportSummary, spine::Batch), ExportError> {
    let mut answers: Vec<_> = answers.into_iter().map(Iterator::peekable).collect();
    let mut spine = Spine::open(req)?;
    let mut summary = ExportSummary {
        features: parts.iter().map(|p| p.fields.len()).sum(),
        ..ExportSummary::default()
    };
    while let Some(batch) = spine.next_batch()? {
        let first = spine.rows_read() - batch.rows.len() as u64;
        let features = columns(parts, &batch, first, &mut answers, spill)?;
        for col in &features {
            let missing = col.iter().filter(|v| matches!(v, Value::Null)).count() as u64;
            summary.missing += missing;
            summary.found += col.len() as u64 - missing;
        }
        if tx.send((batch, features)).is_err() {
            break;
        }
        summary.rows = spine.rows_read();
        on_batch(&summary);
    }
    Ok((summary, spine.empty_batch()))
}

/// The writer's side: the output opened on the first batch; `None` if
/// there was none.
fn write_batches(
    req: &ExportRequest,
    format: OutFormat,
    features: &[(String, FieldType)],
    rx: std::sync::mpsc::Receiver<Written>,
) -> Result<Option<Sink>, ExportError> {
    let mut sink = None;
    for (batch, columns) in rx {
        if sink.is_none() {
            sink = Some(open_sink(req, format, &batch, features)?);
        }
        sink.as_mut().expect("opened above").write(batch, columns)?;
    }
    Ok(sink)
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
        part.fields.push((field.to_string(), out, declared.ty));
    }
    Ok(parts)
}

/// Each view's answers, in spine order: the spine read once, each view's
/// questions sorted, then the views joined side by side on rayon's pool.
fn answers(
    store: &Store,
    parts: &[ViewPart],
    req: &ExportRequest,
    spill: &mut Spill,
) -> Result<Vec<Sorted<Found>>, ExportError> {
    use rayon::prelude::*;
    let mut targets = Vec::with_capacity(parts.len());
    let mut found = Vec::with_capacity(parts.len());
    for _ in parts {
        targets.push(spill.sorter::<Target>()?);
        found.push(spill.sorter::<Found>()?);
    }
    let mut spine = Spine::open(req)?;
    while let Some(batch) = spine.next_batch()? {
        let first = spine.rows_read() - batch.rows.len() as u64;
        let spill = &*spill;
        (parts.par_iter().zip(targets.par_iter_mut()))
            .try_for_each(|(part, sorter)| push_targets(part, &batch, first, sorter, spill))?;
    }
    let spill = &*spill;
    let jobs: Vec<_> = parts.iter().zip(targets).zip(found).collect();
    jobs.into_par_iter()
        .map(|((part, targets), found)| {
            let targets = targets.done().map_err(|e| spill.error(e))?;
            let view = &part.view;
            join::join_view(store, &view.name, view.ttl, targets, found, spill)
        })
        .collect()
}

/// A spine batch's questions to one view.
fn push_targets(
    part: &ViewPart,
    batch: &spine::Batch,
    first: u64,
    sorter: &mut runs::Sorter<Target>,
    spill: &Spill,
) -> Result<(), ExportError> {
    for (i, k) in batch.keys(part.view)?.iter().enumerate() {
        let mut key = Vec::with_capacity(16);
        k.encode_prefix_free(&mut key);
        let (at, row) = (batch.times[i].0, first + i as u64);
        (sorter.push(Target { key, at, row })).map_err(|e| spill.error(e))?;
    }
    Ok(())
}

/// Each feature's column for the spine batch of rows `first..`, from the
/// views' answers (which come in spine order), the views side by side.
fn columns(
    parts: &[ViewPart],
    batch: &spine::Batch,
    first: u64,
    answers: &mut [Peekable<Sorted<Found>>],
    spill: &Spill,
) -> Result<Vec<Vec<Value>>, ExportError> {
    use rayon::prelude::*;
    let rows = first..first + batch.rows.len() as u64;
    let per_view: Vec<Vec<Vec<Value>>> = (parts.par_iter())
        .zip(answers.par_iter_mut())
        .map(|(part, answers)| view_columns(part, rows.clone(), answers, spill))
        .collect::<Result<_, _>>()?;
    Ok(per_view.into_iter().flatten().collect())
}

/// One view's feature columns for the spine rows `rows`.
fn view_columns(
    part: &ViewPart,
    rows: std::ops::Range<u64>,
    answers: &mut Peekable<Sorted<Found>>,
    spill: &Spill,
) -> Result<Vec<Vec<Value>>, ExportError> {
    let (n, w) = ((rows.end - rows.start) as usize, part.fields.len());
    let mut values: Vec<Option<Value>> = vec![None; n * w];
    loop {
        match answers.peek() {
            Some(Ok(f)) if f.row < rows.end => {}
            Some(Err(_)) => {
                let e = answers.next().and_then(Result::err).expect("peeked");
                return Err(spill.error(e));
            }
            _ => break,
        }
        let f = answers.next().and_then(Result::ok).expect("peeked");
        let i = (f.row - rows.start) as usize;
        let into = &mut values[i * w..(i + 1) * w];
        decode_logged(&part.view.name, &f.value, &part.wanted, into)?;
    }
    let mut cols = vec![Vec::with_capacity(n); w];
    for (i, v) in values.into_iter().enumerate() {
        cols[i % w].push(v.unwrap_or(Value::Null));
    }
    Ok(cols)
}
