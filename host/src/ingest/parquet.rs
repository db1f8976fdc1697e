//! Parquet input, read with the Apache Arrow crates a record batch at a
//! time (memory bounded by the batch, not the file), from one file or a
//! Hive-style partitioned folder (`table/ds=20250509/part-0.parquet`): one
//! partition when asked (`ds=20250509`), else the latest, as the seed's
//! offline sync does; partition values become text columns of every row.
//! Arrow types map onto wafer's values; a type with no mapping is an error
//! naming the file, the column and the type before any row is read.

use super::arrow_values::{column_values, fits, from_partition, records, supported};
use super::input::{BadLine, InputError, Record};
use crate::registry::View;
use crate::value::Value;
use arrow_array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// The files of a Parquet input and the partition columns they share.
pub(super) struct ParquetInput {
    /// Every file with its schema, checked at open.
    schemas: Vec<(PathBuf, arrow_schema::SchemaRef)>,
    files: VecDeque<PathBuf>,
    partition: Vec<(String, String)>,
    current: Option<(PathBuf, ParquetRecordBatchReader)>,
    pending: VecDeque<Result<Record, BadLine>>,
    /// What [`ParquetInput::next_arrow`] read and did not hand out yet.
    held: Option<RecordBatch>,
    row: usize,
}

/// Rows of a Parquet input as Arrow arrays, its partition values as
/// columns of text: what a reader that wants columns reads instead of
/// records (an export's spine), without a value or a name per cell.
pub struct ArrowRows {
    pub file: PathBuf,
    /// The number of the batch's first row, from 1, through the input's
    /// files (as a record's `line`).
    pub first_line: usize,
    pub batch: RecordBatch,
}

impl ParquetInput {
    pub(super) fn open(path: &Path, partition: Option<&str>) -> Result<Self, InputError> {
        let read_err = |message: String| InputError::Read {
            path: path.to_path_buf(),
            message,
        };
        let (files, partition) = if path.is_dir() {
            let wanted = partition
                .map(parse_partition)
                .transpose()
                .map_err(read_err)?;
            let (dir, cells) = pick_partition(path, wanted.as_ref()).map_err(read_err)?;
            (parquet_files(&dir).map_err(read_err)?, cells)
        } else if partition.is_some() {
            return Err(read_err(
                "--partition needs a partitioned folder, not a file".into(),
            ));
        } else {
            (vec![path.to_path_buf()], Vec::new())
        };
        if files.is_empty() {
            return Err(read_err("no .parquet files in the partition".into()));
        }
        // Every file's schema is checked before any row is read.
        let schemas = (files.iter())
            .map(|f| {
                Ok((
                    f.clone(),
                    arrow_array::RecordBatchReader::schema(&open_file(f, 1)?),
                ))
            })
            .collect::<Result<_, InputError>>()?;
        let mut input = ParquetInput {
            schemas,
            files: files.into(),
            partition,
            current: None,
            pending: VecDeque::new(),
            held: None,
            row: 0,
        };
        input.next_file(1024)?;
        Ok(input)
    }

    /// A column whose Arrow type cannot hold the view's declared type of
    /// the field or join key of its name is an error naming file, column
    /// and both types, before any row is written.
    pub(super) fn check(&self, view: &crate::registry::View) -> Result<(), InputError> {
        for (file, schema) in &self.schemas {
            let kept: Vec<_> = (schema.fields().iter())
                .filter(|f| !from_partition(&self.partition, f.name()))
                .cloned()
                .collect();
            let schema = arrow_schema::Schema::new(kept);
            check_schema(&schema, view).map_err(|message| InputError::Read {
                path: file.clone(),
                message,
            })?;
        }
        Ok(())
    }

    fn next_file(&mut self, batch: usize) -> Result<(), InputError> {
        self.current = match self.files.pop_front() {
            Some(f) => Some((f.clone(), open_file(&f, batch)?)),
            None => None,
        };
        Ok(())
    }

    /// The next row, or `None` at the end.
    pub(super) fn next_record(&mut self) -> Result<Option<Result<Record, BadLine>>, InputError> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Ok(Some(r));
            }
            let Some((file, reader)) = &mut self.current else {
                return Ok(None);
            };
            match reader.next() {
                Some(Ok(batch)) => {
                    let rows = records(&batch, self.row, &self.partition);
                    self.row += batch.num_rows();
                    let name = |(line, m): BadLine| (line, format!("{}: {m}", file.display()));
                    self.pending
                        .extend(rows.into_iter().map(|r| r.map_err(name)));
                }
                Some(Err(e)) => {
                    return Err(InputError::Read {
                        path: file.clone(),
                        message: format!("corrupt Parquet: {e}"),
                    });
                }
                None => self.next_file(1024)?,
            }
        }
    }
}

impl ParquetInput {
    /// Every file's columns, in the order they first appear, then the
    /// partition's: what a reader of whole batches lays out once.
    pub(super) fn column_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let fields = (self.schemas.iter()).flat_map(|(_, s)| s.fields().iter().map(|f| f.name()));
        for name in fields.chain(self.partition.iter().map(|(k, _)| k)) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Up to `n` rows, or `None` at the end. Not to be mixed with
    /// [`ParquetInput::next_record`] on one input.
    pub(super) fn next_arrow(&mut self, n: usize) -> Result<Option<ArrowRows>, InputError> {
        let n = n.max(1);
        loop {
            let Some((file, reader)) = &mut self.current else {
                return Ok(None);
            };
            let batch = match self.held.take() {
                Some(b) => b,
                None => match reader.next() {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => {
                        return Err(InputError::Read {
                            path: file.clone(),
                            message: format!("corrupt Parquet: {e}"),
                        });
                    }
                    None => {
                        self.next_file(1024)?;
                        continue;
                    }
                },
            };
            if batch.num_rows() > n {
                self.held = Some(batch.slice(n, batch.num_rows() - n));
            }
            let batch = batch.slice(0, batch.num_rows().min(n));
            let batch =
                with_partition(batch, &self.partition).map_err(|message| InputError::Read {
                    path: file.clone(),
                    message,
                })?;
            let first_line = self.row + 1;
            self.row += batch.num_rows();
            let file = file.clone();
            return Ok(Some(ArrowRows {
                file,
                first_line,
                batch,
            }));
        }
    }
}

/// `batch` with a text column per partition value.
fn with_partition(
    batch: RecordBatch,
    partition: &[(String, String)],
) -> Result<RecordBatch, String> {
    if partition.is_empty() {
        return Ok(batch);
    }
    let schema = batch.schema();
    let kept = (schema.fields().iter().zip(batch.columns()))
        .filter(|(f, _)| !from_partition(partition, f.name()));
    let (mut fields, mut columns): (Vec<arrow_schema::FieldRef>, Vec<_>) =
        kept.map(|(f, c)| (f.clone(), c.clone())).unzip();
    for (name, value) in partition {
        let cells = std::iter::repeat_n(Some(value.as_str()), batch.num_rows());
        columns.push(std::sync::Arc::new(arrow_array::StringArray::from_iter(
            cells,
        )));
        fields.push(std::sync::Arc::new(arrow_schema::Field::new(
            name,
            arrow_schema::DataType::Utf8,
            false,
        )));
    }
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(fields));
    RecordBatch::try_new(schema, columns).map_err(|e| format!("partition columns: {e}"))
}

/// Whether every column of `schema` can hold the view's declared type of
/// the field or join key of its name (other columns are not checked here).
fn check_schema(schema: &arrow_schema::Schema, view: &View) -> Result<(), String> {
    let declared = (view.keys.iter().map(|k| (&k.name, k.ty)))
        .chain(view.fields.iter().map(|f| (&f.name, f.ty)));
    let declared: Vec<_> = declared.collect();
    for field in schema.fields() {
        let Some((_, ty)) = declared.iter().find(|(n, _)| *n == field.name()) else {
            continue;
        };
        if !fits(field.data_type(), *ty) {
            return Err(format!(
                "column {:?} is {}, which cannot hold the {} of {} in view {}",
                field.name(),
                field.data_type(),
                ty.name(),
                field.name(),
                view.name
            ));
        }
    }
    Ok(())
}

/// Whether wafer reads every column of `schema`.
fn check_supported(schema: &arrow_schema::Schema) -> Result<(), String> {
    match schema.fields().iter().find(|f| !supported(f.data_type())) {
        None => Ok(()),
        Some(field) => Err(format!(
            "column {:?} has type {}, which wafer does not read (ints, floats, strings, \
             binary, bool, timestamps, dates and lists of those)",
            field.name(),
            field.data_type()
        )),
    }
}

/// A Parquet body (an HTTP write), already in memory (bounded by the
/// server's body limit). Opening it reads only its footer, so the rows can
/// be counted against a limit before any is decoded.
pub struct ParquetBody(ParquetRecordBatchReaderBuilder<Bytes>);

impl ParquetBody {
    /// A body that is not Parquet is an error.
    pub fn open(body: Bytes) -> Result<Self, String> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(body)
            .map_err(|e| format!("not a readable Parquet body: {e}"))?;
        Ok(ParquetBody(builder))
    }

    pub fn rows(&self) -> usize {
        usize::try_from(self.0.metadata().file_metadata().num_rows()).unwrap_or(usize::MAX)
    }

    pub fn width(&self) -> usize {
        self.0.schema().fields().len()
    }

    /// The columns in the file's order, each a list of every row's value:
    /// what a JSON `df` holds. A column wafer does not read or of a type
    /// that cannot hold its field's, or a cell that does not convert, is an
    /// error naming it.
    pub fn columns(self, view: &View) -> Result<Vec<(String, Vec<Value>)>, String> {
        let schema = self.0.schema().clone();
        check_supported(&schema)?;
        check_schema(&schema, view)?;
        let reader = (self.0.build()).map_err(|e| format!("corrupt Parquet: {e}"))?;
        let mut columns: Vec<(String, Vec<Value>)> = (schema.fields().iter())
            .map(|f| (f.name().clone(), Vec::new()))
            .collect();
        for batch in reader {
            let batch = batch.map_err(|e| format!("corrupt Parquet: {e}"))?;
            for ((name, values), array) in columns.iter_mut().zip(batch.columns()) {
                let first = values.len();
                column_values(array.as_ref(), values)
                    .map_err(|(i, m)| format!("column {name:?}, row {}: {m}", first + i + 1))?;
            }
        }
        Ok(columns)
    }
}

fn open_file(path: &Path, batch: usize) -> Result<ParquetRecordBatchReader, InputError> {
    let err = |message: String| InputError::Read {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|source| InputError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(format!("not a readable Parquet file: {e}")))?;
    check_supported(builder.schema()).map_err(err)?;
    builder
        .with_batch_size(batch)
        .build()
        .map_err(|e| err(format!("not a readable Parquet file: {e}")))
}

fn parse_partition(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!(
            "--partition {s:?}: expected column=value, e.g. ds=20250509"
        )),
    }
}

/// The folder of the partition asked for, or of the latest (the greatest
/// value, compared as numbers when all are), level by level for nested
/// partitions; with the partition columns it sets.
fn pick_partition(
    root: &Path,
    wanted: Option<&(String, String)>,
) -> Result<(PathBuf, Vec<(String, String)>), String> {
    let (mut dir, mut cells) = (root.to_path_buf(), Vec::new());
    loop {
        let mut parts: Vec<(String, String, PathBuf)> = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let (Some((k, v)), true) = (name.split_once('='), entry.path().is_dir()) {
                parts.push((k.to_string(), v.to_string(), entry.path()));
            }
        }
        let Some(column) = parts.first().map(|p| p.0.clone()) else {
            if let Some((k, v)) = wanted.filter(|(k, _)| !cells.iter().any(|(c, _)| c == k)) {
                return Err(format!("no partition {k}={v} under {}", root.display()));
            }
            return Ok((dir, cells));
        };
        let chosen = match wanted.filter(|(k, _)| *k == column) {
            Some((k, v)) => parts
                .into_iter()
                .find(|p| p.1 == *v)
                .ok_or_else(|| format!("no partition {k}={v} under {}", dir.display()))?,
            None => latest(parts),
        };
        cells.push((chosen.0, chosen.1));
        dir = chosen.2;
    }
}

fn latest(mut parts: Vec<(String, String, PathBuf)>) -> (String, String, PathBuf) {
    let numeric = parts.iter().all(|p| p.1.parse::<i64>().is_ok());
    parts.sort_by(|a, b| match numeric {
        true => a.1.parse::<i64>().ok().cmp(&b.1.parse::<i64>().ok()),
        false => a.1.cmp(&b.1),
    });
    parts.pop().expect("at least one partition")
}

fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = (entries.flatten().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            // Spark and Hive leave `_SUCCESS` and `.crc` files beside the data.
            !name.starts_with('_') && !name.starts_with('.')
        })
        .collect();
    files.sort();
    Ok(files)
}
