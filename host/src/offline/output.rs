//! An export's second pass: the spine read again, each batch beside the
//! views' answers for it (which come in spine order), decoded per view on
//! threads of their own and sent to a writer thread that owns the output;
//! a few batches in flight, each channel holding one.

use super::buckets::Placed;
use super::columns::{Builder, Col};
use super::join::Answers;
use super::spine::{self, Spine};
use super::{ExportError, ExportRequest, ExportStage, ExportSummary, OutFormat, ViewPart};
use super::{Sink, Spill};
use crate::config::FieldType;
use crate::store::decode_projected;
use crate::value::Value;
use arrow_array::ArrayRef;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// A spine batch and its feature columns, on their way to the output.
pub(super) type Written = (Arc<spine::Batch>, Vec<Column>);

/// One view's columns for a batch, with how many of their values are null.
type ViewColumns = Result<(Vec<Column>, u64), ExportError>;

/// The spine read again, each batch beside the views' answers for it, sent
/// to the writer; the summary, and a batch of no rows (the header of an
/// empty spine's output). Each view decodes its answers on a thread of its
/// own, a batch behind the spine's read; this thread gathers their columns
/// in order. Stops early, without an error, if the writer hangs up: it
/// failed, and says why. A spine that reads differently the second time (a
/// file rewritten meanwhile, a newer partition) is an error: its rows would
/// get another row's features.
pub(super) fn read_batches(
    parts: &[ViewPart],
    req: &ExportRequest,
    (answers, asked): (Answers, u64),
    (spill, format): (&Spill, OutFormat),
    tx: SyncSender<Written>,
    mut on_batch: impl FnMut(&ExportSummary),
) -> Result<(ExportSummary, spine::Batch), ExportError> {
    let mut spine = Spine::open(req)?;
    let mut summary = ExportSummary {
        stage: ExportStage::Writing,
        features: parts.iter().map(|p| p.fields.len()).sum(),
        ..ExportSummary::default()
    };
    std::thread::scope(|scope| {
        let mut views = Vec::with_capacity(parts.len());
        for (part, placed) in parts.iter().zip(answers) {
            let (batches, rx) = sync_channel::<Arc<spine::Batch>>(1);
            let (done, columns) = sync_channel::<ViewColumns>(1);
            let arrow = format == OutFormat::Parquet;
            let worker = scope.spawn(move || decode_view(part, (placed, arrow), spill, rx, done));
            views.push((batches, columns, worker));
        }
        let mut pending: Option<Arc<spine::Batch>> = None;
        'read: loop {
            let next = spine.next_batch()?.map(Arc::new);
            for (batches, _, _) in &views {
                // A view that failed hung up: its error comes with its columns.
                let _ = next.as_ref().map(|b| batches.send(b.clone()));
            }
            if let Some(batch) = pending.take() {
                // None: a view's thread panicked, which joining it below
                // carries on.
                let outputs = views.iter().map(|v| &v.1);
                let Some(features) = gather(outputs, &batch, &mut summary)? else {
                    break 'read;
                };
                if tx.send((batch, features)).is_err() {
                    return Ok((summary, spine.empty_batch()));
                }
                summary.rows = spine.rows_read() - next.as_ref().map_or(0, |b| b.len() as u64);
                on_batch(&summary);
            }
            match next {
                Some(b) => pending = Some(b),
                None => break,
            }
        }
        let mut unread = false;
        for (batches, columns, worker) in views {
            // Both ends, so a view blocked on either stops.
            drop((batches, columns));
            unread |= worker
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
        if summary.rows != asked || unread {
            return Err(ExportError::SpineChanged(req.spine.clone()));
        }
        Ok((summary, spine.empty_batch()))
    })
}

/// Every view's columns for `batch`, in order, counted into `summary`.
fn gather<'a>(
    views: impl Iterator<Item = &'a Receiver<ViewColumns>>,
    batch: &spine::Batch,
    summary: &mut ExportSummary,
) -> Result<Option<Vec<Column>>, ExportError> {
    let mut features = Vec::with_capacity(summary.features);
    for columns in views {
        let Ok(got) = columns.recv() else {
            return Ok(None);
        };
        let (cols, missing) = got?;
        summary.missing += missing;
        summary.found += (cols.len() * batch.len()) as u64 - missing;
        features.extend(cols);
    }
    Ok(Some(features))
}

/// A view's side of the second pass: its columns for each batch, in order;
/// whether answers were left unread at the end (the spine got shorter).
fn decode_view(
    part: &ViewPart,
    (mut placed, arrow): (Placed, bool),
    spill: &Spill,
    batches: Receiver<Arc<spine::Batch>>,
    done: SyncSender<ViewColumns>,
) -> bool {
    for batch in batches {
        let cols = view_columns(part, &batch, (&mut placed, arrow), spill).map(|cols| {
            let missing = cols.iter().map(Column::nulls).sum::<usize>() as u64;
            (cols, missing)
        });
        let failed = cols.is_err();
        if done.send(cols).is_err() || failed {
            return false;
        }
    }
    placed.unread()
}

/// The writer's side: the output opened on the first batch; `None` if
/// there was none.
pub(super) fn write_batches(
    req: &ExportRequest,
    format: OutFormat,
    features: &[(String, FieldType)],
    rx: std::sync::mpsc::Receiver<Written>,
) -> Result<Option<Sink>, ExportError> {
    let mut sink = None;
    for (batch, columns) in rx {
        if sink.is_none() {
            let out = (&req.out, &req.timestamp_column);
            sink = Some(Sink::create(out.0, format, &batch, features, out.1)?);
        }
        sink.as_mut()
            .expect("opened above")
            .write(&batch, columns)?;
    }
    Ok(sink)
}

/// One view's feature columns for `batch`'s rows, from its answers.
fn view_columns(
    part: &ViewPart,
    batch: &spine::Batch,
    (placed, arrow): (&mut Placed, bool),
    spill: &Spill,
) -> Result<Vec<Column>, ExportError> {
    let n = batch.len();
    // Filled in row order: a grid made of nulls first and written over
    // cost a third of this pass.
    let mut cols: Vec<Filling> = (part.fields.iter())
        .map(|(_, ty)| match arrow {
            true => Filling::Array(Builder::new(Col::of_field(*ty), n)),
            false => Filling::Values(Vec::with_capacity(n)),
        })
        .collect();
    let mut row = vec![None; cols.len()];
    for i in 0..n {
        let answer = placed.get(batch.first + i as u64);
        let Some((at, value)) = answer.map_err(|e| spill.error(e))? else {
            continue;
        };
        if batch.times.get(i).map(|t| t.0) != Some(at) {
            return Err(ExportError::SpineChanged(batch.path.clone()));
        }
        decode_projected(&part.view.name, value, &mut row)?;
        for (c, (col, v)) in cols.iter_mut().zip(&mut row).enumerate() {
            // Rows without an answer (missing keys, past the ttl) are null.
            col.pad(i);
            col.push(v.take())
                .map_err(|m| wrong_type(part, c, batch, i, m))?;
        }
    }
    Ok(cols.into_iter().map(|c| c.done(n)).collect())
}

/// A logged value that does not fit its feature's declared type (the
/// view's config changed since it was written).
fn wrong_type(part: &ViewPart, c: usize, batch: &spine::Batch, i: usize, m: String) -> ExportError {
    ExportError::FeatureType {
        view: part.view.name.clone(),
        feature: part.fields[c].0.clone(),
        path: batch.path.clone(),
        line: batch.lines.get(i).copied().unwrap_or(0),
        message: m,
    }
}

/// A feature column on its way to the output: an Arrow array for Parquet,
/// values for the text formats (which write each cell as text).
pub(super) enum Column {
    Array(ArrayRef),
    Values(Vec<Value>),
}

impl Column {
    fn nulls(&self) -> usize {
        match self {
            Column::Array(a) => a.null_count(),
            Column::Values(v) => v.iter().filter(|v| matches!(v, Value::Null)).count(),
        }
    }
}

/// A [`Column`] being filled in row order.
enum Filling {
    Array(Builder),
    Values(Vec<Value>),
}

impl Filling {
    /// Nulls up to row `i`.
    fn pad(&mut self, i: usize) {
        // One answer per row and view, in row order (the sort's): a second
        // would shift every later row's features.
        debug_assert!(self.len() <= i, "two answers for one row");
        match self {
            // Most rows have an answer: nothing to pad, and a builder's
            // append of no nulls still costs (2 % of an export).
            Filling::Array(b) if b.len() < i => b.append_nulls(i - b.len()),
            Filling::Values(v) if v.len() < i => v.resize(i, Value::Null),
            _ => {}
        }
    }

    fn len(&self) -> usize {
        match self {
            Filling::Array(b) => b.len(),
            Filling::Values(v) => v.len(),
        }
    }

    fn push(&mut self, v: Option<Value>) -> Result<(), String> {
        let v = v.unwrap_or(Value::Null);
        match self {
            Filling::Array(b) => b.append(&v),
            Filling::Values(col) => {
                col.push(v);
                Ok(())
            }
        }
    }

    /// The column of `n` rows.
    fn done(mut self, n: usize) -> Column {
        self.pad(n);
        match self {
            Filling::Array(mut b) => Column::Array(b.finish()),
            Filling::Values(v) => Column::Values(v),
        }
    }
}
