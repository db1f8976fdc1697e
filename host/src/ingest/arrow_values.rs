//! Arrow values into wafer's: which Arrow types are read and which field
//! types they can fill, and a record batch's rows as input records.

use super::input::{BadLine, Record};
use crate::time::Micros;
use crate::value::Value;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

/// Whether values of Arrow type `t` convert to field type `ty`.
pub(super) fn fits(t: &DataType, ty: crate::config::FieldType) -> bool {
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

pub(super) fn supported(t: &DataType) -> bool {
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

/// Whether column `name` is a partition's (`ds=20250508/`): a file's own
/// column of that name gives way to the partition's value, everywhere a
/// partitioned input is read (records, whole batches, the schema check).
pub(super) fn from_partition(partition: &[(String, String)], name: &str) -> bool {
    partition.iter().any(|(k, _)| k == name)
}

/// A batch's rows as records (`first` rows came before it, numbered
/// through the input's files); a row with a cell that does not convert is
/// that row's error, and the others are read.
pub(super) fn records(
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
        if from_partition(partition, field.name()) {
            continue;
        }
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

/// Every cell of `array`, appended to `into`; the first that does not
/// convert is an error with its index.
pub fn column_values(array: &dyn Array, into: &mut Vec<Value>) -> Result<(), (usize, String)> {
    let cells = Cells::new(array);
    into.reserve(array.len());
    for i in 0..array.len() {
        into.push(cells.get(i).map_err(|m| (i, m))?);
    }
    Ok(())
}

/// Every cell of a timestamp `array` as a time, without the text a
/// record's cell would carry (a null is an error, as `Micros::parse` has
/// it); `None` for another type.
pub fn timestamps(array: &dyn Array) -> Option<Result<Vec<Micros>, (usize, String)>> {
    let DataType::Timestamp(unit, _) = array.data_type() else {
        return None;
    };
    let cells = (0..array.len()).map(|i| match array.is_null(i) {
        true => Err((i, "expected a time, got null".to_string())),
        false => timestamp(array, *unit, i).map_err(|m| (i, m)),
    });
    Some(cells.collect())
}

/// One column's cells; a dictionary's keys are normalized once per column,
/// not once per cell.
enum Cells<'a> {
    Plain(&'a dyn Array),
    Nulls,
    Dictionary {
        array: &'a dyn Array,
        keys: Vec<usize>,
        values: &'a dyn Array,
    },
}

impl<'a> Cells<'a> {
    fn new(array: &'a dyn Array) -> Self {
        match array.data_type() {
            // A dictionary of no values (every cell null: pandas writes
            // these) has no keys to normalize.
            DataType::Dictionary(..) if array.as_any_dictionary().values().is_empty() => {
                Cells::Nulls
            }
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
            Cells::Nulls => Ok(Value::Null),
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
