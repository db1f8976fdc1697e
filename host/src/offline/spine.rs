//! The spine of an export, read a batch at a time: its columns are fixed by
//! the first batch, each row's timestamp is parsed once, and a view's keys
//! come from its join-key columns. A row that cannot be read, a timestamp
//! that is not one or a missing join key stops the export naming the line:
//! a training set with holes the user did not ask for is worse than none.

use super::{ExportError, ExportRequest};
use crate::ingest::{Reader, Record};
use crate::registry::View;
use crate::store::EntityKey;
use crate::time::Micros;
use crate::value::Value;
use std::path::PathBuf;

pub(super) struct Spine {
    path: PathBuf,
    reader: Reader,
    timestamp: String,
    batch_rows: usize,
    columns: Option<Vec<String>>,
    rows_read: u64,
}

/// Spine rows in file order, with their cells in the spine's column order.
pub(super) struct Batch {
    pub path: PathBuf,
    /// The place in the spine of the batch's first row (from 0).
    pub first: u64,
    pub columns: Vec<String>,
    pub lines: Vec<usize>,
    pub rows: Vec<Vec<Value>>,
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

    /// The next rows, or `None` at the end.
    pub(super) fn next_batch(&mut self) -> Result<Option<Batch>, ExportError> {
        let (records, bad) = self.reader.next_batch(self.batch_rows)?;
        if let Some((line, message)) = bad.into_iter().next() {
            return Err(self.error(line, message));
        }
        if records.is_empty() {
            return Ok(None);
        }
        let columns = self.columns.get_or_insert_with(|| first_columns(&records));
        let columns = columns.clone();
        if !columns.contains(&self.timestamp) {
            let m = format!("no {:?} column (the time of each row)", self.timestamp);
            return Err(self.error(records[0].line, m));
        }
        let mut batch = self.empty_batch();
        batch.columns = columns;
        for record in records {
            let (line, row) = (record.line, self.cells(&batch.columns, record)?);
            let at = batch.columns.iter().position(|c| *c == self.timestamp);
            let time = at.map(|i| &row[i]).unwrap_or(&Value::Null);
            let time = Micros::parse(time)
                .map_err(|m| self.error(line, format!("column {:?}: {m}", self.timestamp)))?;
            batch.lines.push(line);
            batch.rows.push(row);
            batch.times.push(time);
        }
        self.rows_read += batch.rows.len() as u64;
        Ok(Some(batch))
    }

    /// A batch of no rows with the spine's columns (the header of an export
    /// of an empty spine).
    pub(super) fn empty_batch(&self) -> Batch {
        Batch {
            path: self.path.clone(),
            first: self.rows_read,
            columns: self.columns.clone().unwrap_or_default(),
            lines: Vec::new(),
            rows: Vec::new(),
            times: Vec::new(),
        }
    }

    /// The record's cells in column order; a column the first batch lacked
    /// is an error, one it had and this row lacks is null.
    fn cells(&self, columns: &[String], record: Record) -> Result<Vec<Value>, ExportError> {
        let mut row = vec![Value::Null; columns.len()];
        for (name, v) in record.cells {
            let Some(i) = columns.iter().position(|c| *c == name) else {
                let m = format!(
                    "column {name:?} is not among the spine's columns, which its first rows fix ({})",
                    columns.join(", ")
                );
                return Err(self.error(record.line, m));
            };
            row[i] = v;
        }
        Ok(row)
    }

    fn error(&self, line: usize, message: String) -> ExportError {
        ExportError::Spine {
            path: self.path.clone(),
            line,
            message,
        }
    }
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
    /// `view`'s entity key of each row, from its join-key columns.
    pub(super) fn keys(&self, view: &View) -> Result<Vec<EntityKey>, ExportError> {
        let at: Vec<Option<usize>> = (view.keys.iter())
            .map(|k| self.columns.iter().position(|c| *c == k.name))
            .collect();
        (self.rows.iter().zip(&self.lines))
            .map(|(row, &line)| {
                let column = |name: &str| {
                    let i = view.keys.iter().position(|k| k.name == name)?;
                    at[i].map(|c| &row[c])
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
