//! Parquet input, read with the Apache Arrow crates a record batch at a
//! time (memory bounded by the batch, not the file), from one file or a
//! Hive-style partitioned folder (`table/ds=20250509/part-0.parquet`): one
//! partition when asked (`ds=20250509`), else the latest, as the seed's
//! offline sync does; partition values become text columns of every row.
//! Arrow types map onto wafer's values; a type with no mapping is an error
//! naming the file, the column and the type before any row is read.

use super::input::{BadLine, InputError, Record};
use crate::time::Micros;
use crate::value::Value;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
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
    row: usize,
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
            row: 0,
        };
        input.next_file(1024)?;
        Ok(input)
    }

    /// A column whose Arrow type cannot hold the view's declared type of
    /// the field or join key of its name is an error naming file, column
    /// and both types, before any row is written.
    pub(super) fn check(&self, view: &crate::registry::View) -> Result<(), InputError> {
        let declared = (view.keys.iter().map(|k| (&k.name, k.ty)))
            .chain(view.fields.iter().map(|f| (&f.name, f.ty)));
        let declared: Vec<_> = declared.collect();
        for (file, schema) in &self.schemas {
            for field in schema.fields() {
                let Some((_, ty)) = declared.iter().find(|(n, _)| *n == field.name()) else {
                    continue;
                };
                if !fits(field.data_type(), *ty) {
                    return Err(InputError::Read {
                        path: file.clone(),
                        message: format!(
                            "column {:?} is {} in the file, which cannot hold the {} of {} in view {}",
                            field.name(),
                            field.data_type(),
                            ty.name(),
                            field.name(),
                            view.name
                        ),
                    });
                }
            }
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
    for field in builder.schema().fields() {
        if !supported(field.data_type()) {
            return Err(err(format!(
                "column {:?} has type {}, which wafer does not read (ints, floats, strings, \
                 binary, bool, timestamps, dates and lists of those)",
                field.name(),
                field.data_type()
            )));
        }
    }
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

/// Whether values of Arrow type `t` convert to field type `ty`.
fn fits(t: &DataType, ty: crate::config::FieldType) -> bool {
    use crate::config::FieldType as F;
    use DataType as D;
    let int = |t: &DataType| t.is_integer();
    let number = |t: &DataType| t.is_numeric();
    let text = |t: &DataType| matches!(t, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    match t {
        D::Null => true,
        D::Dictionary(_, v) => fits(v, ty),
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => {
            let item = f.data_type();
            match ty {
                F::Vector | F::Float64List => number(item),
                F::Int64List => int(item),
                F::StringList => text(item),
                _ => false,
            }
        }
        t => match ty {
            F::Bool => matches!(t, D::Boolean),
            F::Int32 | F::Int64 => int(t),
            F::Float32 | F::Float64 => number(t),
            F::String => text(t),
            F::Bytes => matches!(
                t,
                D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_)
            ),
            F::Timestamp => {
                int(t) || text(t) || matches!(t, D::Timestamp(..) | D::Date32 | D::Date64)
            }
            _ => false,
        },
    }
}

fn supported(t: &DataType) -> bool {
    use DataType as D;
    match t {
        D::Null | D::Boolean | D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 => {
            true
        }
        D::UInt32 | D::UInt64 | D::Float16 | D::Float32 | D::Float64 | D::Utf8 | D::LargeUtf8 => {
            true
        }
        D::Utf8View | D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => true,
        D::Timestamp(..) | D::Date32 | D::Date64 | D::Decimal128(..) => true,
        D::Dictionary(_, v) => supported(v) && !matches!(**v, D::List(_) | D::LargeList(_)),
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => {
            !matches!(
                f.data_type(),
                D::List(_) | D::LargeList(_) | D::FixedSizeList(..)
            ) && supported(f.data_type())
        }
        _ => false,
    }
}

/// A batch's rows as records (`first` rows came before it, numbered
/// through the input's files); a row with a cell that does not convert is
/// that row's error, and the others are read.
fn records(
    batch: &RecordBatch,
    first: usize,
    partition: &[(String, String)],
) -> Vec<Result<Record, BadLine>> {
    let schema = batch.schema();
    let mut rows: Vec<Result<Record, BadLine>> = (0..batch.num_rows())
        .map(|i| {
            Ok(Record {
                line: first + i + 1,
                cells: Vec::with_capacity(batch.num_columns() + partition.len()),
            })
        })
        .collect();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let cells = Cells::new(column.as_ref());
        for (i, row) in rows.iter_mut().enumerate() {
            let Ok(record) = row else { continue };
            match cells.get(i) {
                Ok(v) => record.cells.push((field.name().clone(), v)),
                Err(m) => *row = Err((record.line, format!("column {:?}: {m}", field.name()))),
            }
        }
    }
    for record in rows.iter_mut().flatten() {
        let cells = partition
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())));
        record.cells.extend(cells);
    }
    rows
}

/// One column's cells; a dictionary's keys are normalized once per column,
/// not once per cell.
enum Cells<'a> {
    Plain(&'a dyn Array),
    Dictionary {
        array: &'a dyn Array,
        keys: Vec<usize>,
        values: &'a dyn Array,
    },
}

impl<'a> Cells<'a> {
    fn new(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Dictionary(..) => {
                let dict = array.as_any_dictionary();
                Cells::Dictionary {
                    array,
                    keys: dict.normalized_keys(),
                    values: dict.values().as_ref(),
                }
            }
            _ => Cells::Plain(array),
        }
    }

    fn get(&self, i: usize) -> Result<Value, String> {
        match self {
            Cells::Plain(a) => cell(*a, i),
            Cells::Dictionary { array, .. } if array.is_null(i) => Ok(Value::Null),
            Cells::Dictionary { keys, values, .. } => cell(*values, keys[i]),
        }
    }
}

/// One cell as a wafer value.
fn cell(a: &dyn Array, i: usize) -> Result<Value, String> {
    use DataType as D;
    if a.is_null(i) {
        return Ok(Value::Null);
    }
    let int = |v: i64| Ok(Value::Int64(v));
    Ok(match a.data_type() {
        D::Null => Value::Null,
        D::Boolean => Value::Bool(a.as_boolean().value(i)),
        D::Int8 => return int(a.as_primitive::<Int8Type>().value(i).into()),
        D::Int16 => return int(a.as_primitive::<Int16Type>().value(i).into()),
        D::Int32 => return int(a.as_primitive::<Int32Type>().value(i).into()),
        D::Int64 => return int(a.as_primitive::<Int64Type>().value(i)),
        D::UInt8 => return int(a.as_primitive::<UInt8Type>().value(i).into()),
        D::UInt16 => return int(a.as_primitive::<UInt16Type>().value(i).into()),
        D::UInt32 => return int(a.as_primitive::<UInt32Type>().value(i).into()),
        D::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().value(i);
            return i64::try_from(v)
                .map(Value::Int64)
                .map_err(|_| format!("{v} is past int64"));
        }
        D::Float16 => Value::Float64(a.as_primitive::<Float16Type>().value(i).to_f64()),
        D::Float32 => Value::Float64(a.as_primitive::<Float32Type>().value(i).into()),
        D::Float64 => Value::Float64(a.as_primitive::<Float64Type>().value(i)),
        D::Decimal128(_, scale) => {
            let v = a.as_primitive::<Decimal128Type>().value(i);
            Value::Float64(v as f64 / 10f64.powi(i32::from(*scale)))
        }
        D::Utf8 => Value::String(a.as_string::<i32>().value(i).to_string()),
        D::LargeUtf8 => Value::String(a.as_string::<i64>().value(i).to_string()),
        D::Utf8View => Value::String(a.as_string_view().value(i).to_string()),
        D::Binary => Value::Bytes(a.as_binary::<i32>().value(i).to_vec()),
        D::LargeBinary => Value::Bytes(a.as_binary::<i64>().value(i).to_vec()),
        D::BinaryView => Value::Bytes(a.as_binary_view().value(i).to_vec()),
        D::FixedSizeBinary(_) => Value::Bytes(a.as_fixed_size_binary().value(i).to_vec()),
        D::Timestamp(unit, _) => Value::String(timestamp(a, *unit, i)?.rfc3339()),
        D::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(i);
            let date = chrono::NaiveDate::from_epoch_days(days)
                .ok_or_else(|| format!("date {days} (days since 1970) is out of range"))?;
            Value::String(date.format("%Y-%m-%d").to_string())
        }
        D::Date64 => {
            let ms = a.as_primitive::<Date64Type>().value(i);
            let micros = (ms.checked_mul(1000))
                .filter(|m| chrono::DateTime::from_timestamp_micros(*m).is_some())
                .ok_or_else(|| format!("date {ms} (ms since 1970) is out of range"))?;
            Value::String(Micros(micros).rfc3339())
        }
        // A dictionary inside a list: small, so normalized per cell.
        D::Dictionary(..) => return Cells::new(a).get(i),
        D::List(_) => list(&a.as_list::<i32>().value(i))?,
        D::LargeList(_) => list(&a.as_list::<i64>().value(i))?,
        D::FixedSizeList(..) => list(&a.as_fixed_size_list().value(i))?,
        other => return Err(format!("type {other} is not read")),
    })
}

fn timestamp(a: &dyn Array, unit: TimeUnit, i: usize) -> Result<Micros, String> {
    let (v, per_micro) = match unit {
        TimeUnit::Second => (a.as_primitive::<TimestampSecondType>().value(i), -1_000_000),
        TimeUnit::Millisecond => (a.as_primitive::<TimestampMillisecondType>().value(i), -1000),
        TimeUnit::Microsecond => (a.as_primitive::<TimestampMicrosecondType>().value(i), 1),
        TimeUnit::Nanosecond => (a.as_primitive::<TimestampNanosecondType>().value(i), 1000),
    };
    let micros = match per_micro {
        p if p < 0 => v.checked_mul(-p),
        p => Some(v.div_euclid(p)),
    };
    (micros.filter(|m| chrono::DateTime::from_timestamp_micros(*m).is_some()))
        .map(Micros)
        .ok_or_else(|| format!("timestamp {v} is out of range"))
}

/// A list cell: float32 lists are vectors (embeddings), others lists.
fn list(items: &dyn Array) -> Result<Value, String> {
    if let DataType::Float32 = items.data_type()
        && items.null_count() == 0
    {
        return Ok(Value::Vector(
            items.as_primitive::<Float32Type>().values().to_vec(),
        ));
    }
    (0..items.len())
        .map(|i| cell(items, i))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::List)
}
