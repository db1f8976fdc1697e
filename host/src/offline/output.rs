//! An export's second pass: the spine read again, each batch beside the
//! views' answers for it (which come in spine order), decoded and sent to a
//! writer thread that owns the output, one batch in flight.

use super::join::{Answers, Found};
use super::runs::Sorted;
use super::spine::{self, Spine};
use super::{ExportError, ExportRequest, ExportStage, ExportSummary, OutFormat, ViewPart};
use super::{Sink, Spill};
use crate::config::FieldType;
use crate::store::decode_logged;
use crate::value::Value;
use std::iter::Peekable;
use std::ops::Range;

/// A spine batch and its feature columns, on their way to the output.
pub(super) type Written = (spine::Batch, Vec<Vec<Value>>);

/// The spine read again, each batch beside the views' answers for it, sent
/// to the writer; the summary, and a batch of no rows (the header of an
/// empty spine's output). Stops early, without an error, if the writer
/// hangs up: it failed, and says why. A spine that reads differently the
/// second time (a file rewritten meanwhile, a newer partition) is an
/// error: its rows would get another row's features.
pub(super) fn read_batches(
    parts: &[ViewPart],
    req: &ExportRequest,
    (answers, sorted): (Answers, u64),
    spill: &Spill,
    tx: std::sync::mpsc::SyncSender<Written>,
    mut on_batch: impl FnMut(&ExportSummary),
) -> Result<(ExportSummary, spine::Batch), ExportError> {
    let mut answers: Vec<Vec<_>> = (answers.into_iter())
        .map(|shards| shards.into_iter().map(Iterator::peekable).collect())
        .collect();
    let mut spine = Spine::open(req)?;
    let mut summary = ExportSummary {
        stage: ExportStage::Writing,
        features: parts.iter().map(|p| p.fields.len()).sum(),
        ..ExportSummary::default()
    };
    while let Some(batch) = spine.next_batch()? {
        let features = columns(parts, &batch, &mut answers, spill)?;
        for col in &features {
            let missing = col.iter().filter(|v| matches!(v, Value::Null)).count() as u64;
            summary.missing += missing;
            summary.found += col.len() as u64 - missing;
        }
        if tx.send((batch, features)).is_err() {
            return Ok((summary, spine.empty_batch()));
        }
        summary.rows = spine.rows_read();
        on_batch(&summary);
    }
    let unread = (answers.iter_mut().flatten()).any(|a| a.peek().is_some());
    if summary.rows != sorted || unread {
        return Err(ExportError::SpineChanged(req.spine.clone()));
    }
    Ok((summary, spine.empty_batch()))
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
        sink.as_mut().expect("opened above").write(batch, columns)?;
    }
    Ok(sink)
}

/// Each feature's column for a spine batch, the views side by side.
fn columns(
    parts: &[ViewPart],
    batch: &spine::Batch,
    answers: &mut [Vec<Peekable<Sorted<Found>>>],
    spill: &Spill,
) -> Result<Vec<Vec<Value>>, ExportError> {
    use rayon::prelude::*;
    let rows = batch.first..batch.first + batch.rows.len() as u64;
    let per_view: Vec<Vec<Vec<Value>>> = (parts.par_iter())
        .zip(answers.par_iter_mut())
        .map(|(part, answers)| view_columns(part, rows.clone(), batch, answers, spill))
        .collect::<Result<_, _>>()?;
    Ok(per_view.into_iter().flatten().collect())
}

/// One view's feature columns for the spine rows `rows` (`batch`), from
/// its shards' answers.
fn view_columns(
    part: &ViewPart,
    rows: Range<u64>,
    batch: &spine::Batch,
    shards: &mut [Peekable<Sorted<Found>>],
    spill: &Spill,
) -> Result<Vec<Vec<Value>>, ExportError> {
    let (n, w) = ((rows.end - rows.start) as usize, part.fields.len());
    let mut values: Vec<Option<Value>> = vec![None; n * w];
    for answers in shards {
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
            if batch.times.get(i).map(|t| t.0) != Some(f.at) {
                return Err(ExportError::SpineChanged(batch.path.clone()));
            }
            let into = &mut values[i * w..(i + 1) * w];
            decode_logged(&part.view.name, &f.value, &part.wanted, into)?;
        }
    }
    let mut cols = vec![Vec::with_capacity(n); w];
    for (i, v) in values.into_iter().enumerate() {
        cols[i % w].push(v.unwrap_or(Value::Null));
    }
    Ok(cols)
}
