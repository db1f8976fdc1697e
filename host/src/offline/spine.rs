//! The spine of an export, read a batch at a time: its columns are a
//! Parquet spine's files' or, for CSV and JSON Lines, fixed by the first
//! batch; each row's timestamp is parsed once, and a view's keys
//! come from its join-key columns. A row that cannot be read, a timestamp
//! that is not one or a missing join key stops the export naming the line:
//! a training set with holes the user did not ask for is worse than none.

use super::{ExportError, ExportRequest};
use crate::ingest::{ArrowRows, Reader, Record};
use crate::registry::View;
use crate::store::EntityKey;
use crate::time::Micros;
use crate::value::Value;
use std::borrow::Cow;
use std::path::PathBuf;

pub(super) struct Spine {
    path: PathBuf,
    reader: Reader,
    timestamp: String,
    batch_rows: usize,
    columns: Option<Vec<String>>,
    rows_read: u64,
}

/// Spine rows in file order, their cells a column at a time in the spine's
/// column order.
pub(super) struct Batch {
    pub path: PathBuf,
    /// The place in the spine of the batch's first row (from 0).
    pub first: u64,
    pub columns: Vec<String>,
    pub lines: Vec<usize>,
    /// Per column, its cells (one per row), but for the time column of a
    /// Parquet spine read as timestamps: no cells, `times` are its values
    /// (see [`Batch::cell`]).
    pub cells: Vec<Vec<Value>>,
    pub times: Vec<Micros>,
}

impl Spine {
    pub(super) fn open(req: &ExportRequest) -> Result<Self, ExportError> {
        Ok(Spine {
            path: req.spine.clone(),
            reader: Reader::open(&req.spine, req.spine_format)?,
            timestamp: req.timestamp_column.clone(),
            batch_rows: req.batch_rows.max(1),
            columns: None,
            rows_read: 0,
        })
    }

    pub(super) fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// The next rows, or `None` at the end. Parquet is read a column at a
    /// time; JSON Lines and CSV as records, turned into columns.
    pub(super) fn next_batch(&mut self) -> Result<Option<Batch>, ExportError> {
        let batch = match self.reader.is_parquet() {
            true => self.next_arrow()?,
            false => self.next_records()?,
        };
        if let Some(b) = &batch {
            self.rows_read += b.len() as u64;
        }
        Ok(batch)
    }

    fn next_records(&mut self) -> Result<Option<Batch>, ExportError> {
        let (records, bad) = self.reader.next_batch(self.batch_rows)?;
        if let Some((line, message)) = bad.into_iter().next() {
            return Err(self.error(line, message));
        }
        if records.is_empty() {
            return Ok(None);
        }
        let columns = (self.columns.get_or_insert_with(|| first_columns(&records))).clone();
        let mut batch = self.empty_batch();
        batch.cells = vec![Vec::with_capacity(records.len()); columns.len()];
        batch.columns = columns;
        for record in records {
            batch.lines.push(record.line);
            let n = batch.lines.len();
            for (name, v) in record.cells {
                let column = &mut batch.cells[self.column(&batch.columns, &name, record.line)?];
                match column.len() == n {
                    // A CSV header that names a column twice: the last wins.
                    true => *column.last_mut().expect("n > 0") = v,
                    false => column.push(v),
                }
            }
            // A column this row lacks is null.
            let n = batch.lines.len();
            (batch.cells.iter_mut().filter(|c| c.len() < n)).for_each(|c| c.push(Value::Null));
        }
        let at = self.time_column(&batch.columns, batch.lines[0])?;
        batch.times = Vec::with_capacity(batch.lines.len());
        for (cell, &line) in batch.cells[at].iter().zip(&batch.lines) {
            batch.times.push(self.time(line, cell)?);
        }
        Ok(Some(batch))
    }

    /// Parquet's record batches gathered into one spine batch. Its columns
    /// are those of every file of the input, in order (a file without one
    /// has nulls), not only the first batch's.
    fn next_arrow(&mut self) -> Result<Option<Batch>, ExportError> {
        if self.columns.is_none() {
            self.columns = Some(self.reader.arrow_columns());
        }
        let mut batch: Option<Batch> = None;
        while batch.as_ref().map_or(0, Batch::len) < self.batch_rows {
            let want = self.batch_rows - batch.as_ref().map_or(0, Batch::len);
            let Some(rows) = self.reader.next_arrow(want)? else {
                break;
            };
            let batch = batch.get_or_insert_with(|| self.empty_batch());
            self.append_arrow(batch, rows)?;
        }
        Ok(batch)
    }

    /// One record batch's rows, appended.
    fn append_arrow(&self, batch: &mut Batch, rows: ArrowRows) -> Result<(), ExportError> {
        let file = rows.file.display();
        let bad = |i: usize, name: &str, m: String| {
            self.error(rows.first_line + i, format!("{file}: column {name:?}: {m}"))
        };
        let at = self.time_column(&batch.columns, rows.first_line)?;
        let (start, n) = (batch.len(), rows.batch.num_rows());
        batch.lines.extend(rows.first_line..rows.first_line + n);
        let schema = rows.batch.schema();
        let mut timed = false;
        for (field, array) in schema.fields().iter().zip(rows.batch.columns()) {
            let c = self.column(&batch.columns, field.name(), rows.first_line)?;
            if batch.cells[c].len() > start || (c == at && timed) {
                return Err(bad(0, field.name(), "a second column of this name".into()));
            }
            let array = array.as_ref();
            let added = match c == at {
                true => append_times(batch, at, array, start),
                false => crate::ingest::column_values(array, &mut batch.cells[c]),
            };
            added.map_err(|(i, m)| bad(i, field.name(), m))?;
            timed |= c == at;
        }
        if !timed {
            let m = format!(
                "{file}: no {:?} column (the time of each row)",
                self.timestamp
            );
            return Err(self.error(rows.first_line, m));
        }
        for (c, cells) in batch.cells.iter_mut().enumerate() {
            if c != at {
                cells.resize(start + n, Value::Null);
            }
        }
        Ok(())
    }

    /// Where the time column is among the spine's columns.
    fn time_column(&self, columns: &[String], line: usize) -> Result<usize, ExportError> {
        (columns.iter().position(|c| *c == self.timestamp)).ok_or_else(|| {
            let m = format!("no {:?} column (the time of each row)", self.timestamp);
            self.error(line, m)
        })
    }

    fn time(&self, line: usize, cell: &Value) -> Result<Micros, ExportError> {
        Micros::parse(cell)
            .map_err(|m| self.error(line, format!("column {:?}: {m}", self.timestamp)))
    }

    /// A batch of no rows with the spine's columns (the header of an export
    /// of an empty spine).
    pub(super) fn empty_batch(&self) -> Batch {
        let columns = self.columns.clone().unwrap_or_default();
        Batch {
            path: self.path.clone(),
            first: self.rows_read,
            cells: vec![Vec::new(); columns.len()],
            columns,
            lines: Vec::new(),
            times: Vec::new(),
        }
    }

    /// The place of column `name` among the spine's columns (a Parquet
    /// spine's are all its files', so only CSV and JSON Lines miss).
    fn column(&self, columns: &[String], name: &str, line: usize) -> Result<usize, ExportError> {
        columns.iter().position(|c| c == name).ok_or_else(|| {
            let m = format!(
                "column {name:?} is not among the spine's columns, which its first rows fix ({})",
                columns.join(", ")
            );
            self.error(line, m)
        })
    }

    fn error(&self, line: usize, message: String) -> ExportError {
        ExportError::Spine {
            path: self.path.clone(),
            line,
            message,
        }
    }
}

/// A chunk's time column, its rows from `start`: a timestamp column
/// straight into `times` (no cells: see [`Batch::cell`]); another (text,
/// epoch seconds, dates) parsed, its cells kept as they came, and then
/// every row's, so the column stays aligned.
fn append_times(
    batch: &mut Batch,
    at: usize,
    array: &dyn arrow_array::Array,
    start: usize,
) -> Result<(), (usize, String)> {
    let typed = crate::ingest::timestamps(array);
    let text = typed.is_none();
    let cells = &mut batch.cells[at];
    if let Some(times) = typed {
        batch.times.extend(times?);
        if cells.is_empty() {
            return Ok(());
        }
    }
    // Rows read as timestamps, as a record's cell has them.
    let texts = batch.times[cells.len()..]
        .iter()
        .map(|t| Value::String(t.rfc3339()));
    cells.extend(texts);
    if text {
        crate::ingest::column_values(array, cells)?;
        for (i, cell) in cells[start..].iter().enumerate() {
            batch.times.push(Micros::parse(cell).map_err(|m| (i, m))?);
        }
    }
    Ok(())
}

/// The columns of the first batch, in the order they first appear.
fn first_columns(records: &[Record]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for r in records {
        for (name, _) in &r.cells {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    columns
}

impl Batch {
    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    /// Row `r`'s cell of column `c`.
    pub(super) fn cell(&self, c: usize, r: usize) -> Cow<'_, Value> {
        match self.cells[c].get(r) {
            Some(v) => Cow::Borrowed(v),
            // A time column read as timestamps, as a record's cell has it.
            None => Cow::Owned(Value::String(self.times[r].rfc3339())),
        }
    }

    /// `view`'s entity key of each row, from its join-key columns.
    pub(super) fn keys(&self, view: &View) -> Result<Vec<EntityKey>, ExportError> {
        // A time column read as timestamps has no cells: a join key that is
        // also the time (rare) gets them made.
        let cols: Vec<Option<Cow<'_, [Value]>>> = (view.keys.iter())
            .map(|k| {
                let c = self.columns.iter().position(|c| *c == k.name)?;
                Some(match self.cells[c].len() == self.len() {
                    true => Cow::Borrowed(&self.cells[c][..]),
                    false => (0..self.len())
                        .map(|r| self.cell(c, r).into_owned())
                        .collect(),
                })
            })
            .collect();
        (self.lines.iter().enumerate())
            .map(|(r, &line)| {
                let column = |name: &str| {
                    let i = view.keys.iter().position(|k| k.name == name)?;
                    cols[i].as_ref().map(|c| &c[r])
                };
                view.key_of(column).map_err(|m| ExportError::Spine {
                    path: self.path.clone(),
                    line,
                    message: format!("view {:?}: {m}", view.name),
                })
            })
            .collect()
    }
}
