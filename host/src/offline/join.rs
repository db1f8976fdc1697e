//! An export's first pass, the point-in-time join, as a sort-merge join:
//! each view's questions (a spine row's key and time) are put in key order
//! (dealt into key ranges, `questions.rs`, each range sorted in memory,
//! `asked.rs`), then answered in one forward pass over the view's log
//! ([`LogScan`]), and the answers put back into spine order by row
//! (`buckets.rs`). Everything between the passes spills to disk in
//! chunks, so memory is bounded by the batch, not the spine (but for the
//! answers' buckets past 4 Mi spine rows: `buckets.rs`).

use super::asked::Asked;
use super::buckets::{AnswerFile, Layout, Placed, Writer};
use super::questions::Questions;
use super::runs::{Sortable, Sorter};
use super::spine::{Batch, Spine};
use super::{ExportError, ExportRequest, ExportStage, ExportSummary, ViewPart, check_names};
use crate::config::FieldType;
use crate::store::{LogScan, Projector, Store};
use crate::time::Micros;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where an export spills (its questions, its answers, any runs): a hidden
/// folder beside the output, removed when dropped (an export that fails
/// leaves nothing behind; one killed leaves the empty folder, every file in
/// it being unlinked from the start).
pub(super) struct Spill {
    dir: tempfile::TempDir,
    batch_rows: usize,
}

impl Spill {
    pub(super) fn new(out: &Path, batch_rows: usize) -> Result<Self, ExportError> {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = (tempfile::Builder::new().prefix(".wafer-export-"))
            .tempdir_in(parent)
            .map_err(|e| spill_error(parent.to_path_buf(), e))?;
        Ok(Spill {
            dir,
            batch_rows: batch_rows.max(1),
        })
    }

    /// A sorter holding `batch` items in memory.
    pub(super) fn sorter<T: Sortable>(&self, batch: usize) -> Sorter<T> {
        Sorter::new(self.dir.path().to_path_buf(), batch)
    }

    /// Where spilled files go.
    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A writer of answers bucketed by row, for a spine of `rows` rows.
    fn answers(&self, rows: u64) -> Result<Writer, ExportError> {
        Writer::new(self.dir.path(), Layout::new(rows, self.batch_rows)).map_err(|e| self.error(e))
    }

    pub(super) fn error(&self, e: std::io::Error) -> ExportError {
        spill_error(self.dir.path().to_path_buf(), e)
    }
}

fn spill_error(path: PathBuf, e: std::io::Error) -> ExportError {
    ExportError::Output {
        path,
        message: format!("cannot sort through a temporary folder here: {e}"),
    }
}

/// Per view, its answers by spine row.
pub(super) type Answers = Vec<Placed>;

/// Each view's answers by spine row, and the spine's row count: the spine
/// read once, each batch's questions dealt per view side by side, then
/// every view's shards joined side by side on rayon's pool.
/// A feature named like a spine column is an error on the first batch.
pub(super) fn answers(
    store: &Store,
    parts: &[ViewPart],
    req: &ExportRequest,
    features: &[(String, FieldType)],
    spill: &Spill,
    on_batch: &mut impl FnMut(&ExportSummary),
) -> Result<(Answers, u64), ExportError> {
    use rayon::prelude::*;
    let shards = rayon::current_num_threads().max(1);
    let mut questions: Vec<Questions> = (parts.iter())
        .map(|_| Questions::new(shards, spill.batch_rows))
        .collect();
    let rows = ask(parts, &mut questions, req, features, spill, on_batch)?;
    let stage = ExportStage::Joining;
    on_batch(&ExportSummary {
        stage,
        ..ExportSummary::default()
    });
    let mut jobs = Vec::new();
    for (v, (part, q)) in parts.iter().zip(questions).enumerate() {
        for asked in q.done(spill)? {
            jobs.push((v, part, asked));
        }
    }
    let joined: Vec<(usize, AnswerFile)> = (jobs.into_par_iter())
        .map(|(v, part, asked)| {
            // Made as its job starts: files open at once stay fewer.
            let found = spill.answers(rows)?;
            let found = join_view(store, part, asked, found, spill)?;
            Ok((v, found))
        })
        .collect::<Result<_, ExportError>>()?;
    let mut filed: Vec<Vec<AnswerFile>> = parts.iter().map(|_| Vec::new()).collect();
    for (v, found) in joined {
        filed[v].push(found);
    }
    Ok((filed.into_iter().map(Placed::new).collect(), rows))
}

/// The first pass: the spine read on this thread, each view's questions
/// dealt on a thread of its own, one batch in flight to each. Threads,
/// not a rayon join per batch: three views on two cores left one idle a
/// third of the time, and the spine's read waited for the slowest view.
fn ask(
    parts: &[ViewPart],
    questions: &mut [Questions],
    req: &ExportRequest,
    features: &[(String, FieldType)],
    spill: &Spill,
    on_batch: &mut impl FnMut(&ExportSummary),
) -> Result<u64, ExportError> {
    let mut spine = Spine::open(req)?;
    std::thread::scope(|scope| {
        let mut views = Vec::with_capacity(parts.len());
        for (part, q) in parts.iter().zip(questions) {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Batch>>(1);
            let worker = scope.spawn(move || rx.iter().try_for_each(|b| q.push(part, &b, spill)));
            views.push((tx, worker));
        }
        let read = (|| {
            while let Some(batch) = spine.next_batch()? {
                if batch.first == 0 {
                    check_names(&batch.columns, features)?;
                }
                let batch = Arc::new(batch);
                // A view that hung up failed: its error is taken below.
                if views.iter().any(|(tx, _)| tx.send(batch.clone()).is_err()) {
                    break;
                }
                let rows = spine.rows_read();
                on_batch(&ExportSummary {
                    rows,
                    ..ExportSummary::default()
                });
            }
            Ok(spine.rows_read())
        })();
        for (tx, worker) in views {
            drop(tx);
            worker
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        }
        read
    })
}

/// Answer one view's questions, in key and time order, in one pass over
/// its log; the answers (rows with a value: not missing, not past the
/// ttl, not deleted), cut down to the wanted fields, go to their rows'
/// buckets.
fn join_view(
    store: &Store,
    part: &ViewPart,
    targets: Asked,
    mut found: Writer,
    spill: &Spill,
) -> Result<AnswerFile, ExportError> {
    let view = &part.view;
    let mut scan: LogScan = store.log_scan(&view.name)?;
    let mut projector = Projector::default();
    let (mut key, mut value) = (Vec::with_capacity(32), Vec::new());
    for t in targets {
        let t = t.map_err(|e| spill.error(e))?;
        let at = Micros(t.at);
        let since = view.ttl.map(|ttl| at.minus(ttl));
        t.key_into(&mut key);
        if let Some(row) = scan.as_of(&key, at, since)? {
            value.clear();
            projector.project(&view.name, row, &part.wanted, &mut value)?;
            found
                .push(t.row, t.at, &value)
                .map_err(|e| spill.error(e))?;
        }
    }
    found.done().map_err(|e| spill.error(e))
}

#[cfg(test)]
mod tests {
    use super::super::items::Target;
    use super::*;

    #[test]
    fn sorts_spill_to_runs_and_merge_back() {
        let out = tempfile::tempdir().unwrap();
        for batch in [1, 2, 3, 100] {
            let spill = Spill::new(&out.path().join("x.parquet"), 1).unwrap();
            let mut sorter = spill.sorter::<Target>(batch);
            let rows: Vec<u64> = vec![5, 3, 9, 1, 7, 2, 8, 0, 6, 4];
            for &row in &rows {
                let key = vec![(row % 3) as u8; 1 + (row % 2) as usize];
                sorter.push(Target::new(&key, -(row as i64), row)).unwrap();
            }
            let got: Vec<Target> = sorter.done().unwrap().map(Result::unwrap).collect();
            let mut want: Vec<Target> = (rows.iter())
                .map(|&row| {
                    let key = vec![(row % 3) as u8; 1 + (row % 2) as usize];
                    Target::new(&key, -(row as i64), row)
                })
                .collect();
            want.sort();
            assert_eq!(got, want, "batch {batch}");
        }
    }
}
