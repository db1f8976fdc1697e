//! An export's Parquet columns: each column's Arrow type (from a field's
//! declared type, or a spine column's first values) and its array, built a
//! value at a time by a [`Builder`].

use crate::config::FieldType;
use crate::value::Value;
use arrow_array::ArrayRef;
use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder, TimestampSecondBuilder,
};
use arrow_schema::{DataType, Field, TimeUnit};
use std::sync::Arc;

/// A column's type in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    Bool,
    Int32,
    Int64,
    Float32,
    Float64,
    Text,
    Binary,
    /// The spine's timestamp column: microseconds, UTC.
    Time,
    /// A `timestamp` field: epoch seconds.
    Seconds,
    Vector,
    Int64List,
    Float64List,
    TextList,
}

impl Col {
    pub(super) fn of_field(ty: FieldType) -> Col {
        match ty {
            FieldType::Bool => Col::Bool,
            FieldType::Int32 => Col::Int32,
            FieldType::Int64 => Col::Int64,
            FieldType::Float32 => Col::Float32,
            FieldType::Float64 => Col::Float64,
            FieldType::String => Col::Text,
            FieldType::Bytes => Col::Binary,
            FieldType::Timestamp => Col::Seconds,
            FieldType::Vector => Col::Vector,
            FieldType::Int64List => Col::Int64List,
            FieldType::Float64List => Col::Float64List,
            FieldType::StringList => Col::TextList,
        }
    }

    /// A spine column's type, from its first value that is not null.
    pub(super) fn of_values<'a>(mut values: impl Iterator<Item = &'a Value>) -> Col {
        match values.find(|v| !matches!(v, Value::Null)) {
            Some(Value::Bool(_)) => Col::Bool,
            Some(Value::Int64(_)) => Col::Int64,
            Some(Value::Float64(_)) => Col::Float64,
            Some(Value::Bytes(_)) => Col::Binary,
            Some(Value::Vector(_)) => Col::Vector,
            Some(Value::List(items)) => match items.first() {
                Some(Value::Int64(_)) => Col::Int64List,
                Some(Value::Float64(_)) => Col::Float64List,
                _ => Col::TextList,
            },
            _ => Col::Text,
        }
    }

    pub(super) fn data_type(self) -> DataType {
        let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
        match self {
            Col::Bool => DataType::Boolean,
            Col::Int32 => DataType::Int32,
            Col::Int64 => DataType::Int64,
            Col::Float32 => DataType::Float32,
            Col::Float64 => DataType::Float64,
            Col::Text => DataType::Utf8,
            Col::Binary => DataType::Binary,
            Col::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Col::Seconds => DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            Col::Vector => list(DataType::Float32),
            Col::Int64List => list(DataType::Int64),
            Col::Float64List => list(DataType::Float64),
            Col::TextList => list(DataType::Utf8),
        }
    }
}

/// One column's array; a value that does not fit the column's type is an
/// error naming its row in the batch.
pub(super) fn build<'a>(
    col: Col,
    values: impl Iterator<Item = &'a Value>,
) -> Result<ArrayRef, (usize, String)> {
    let mut b = Builder::new(col, 0);
    for (row, v) in values.enumerate() {
        b.append(v).map_err(|m| (row, m))?;
    }
    Ok(b.finish())
}

/// `$body` on whichever typed builder `$builder` holds: `append_nulls`
/// is no method of `ArrayBuilder`, so a trait object would not do.
macro_rules! each {
    ($builder:expr, $b:ident => $body:expr) => {
        match $builder {
            Builder::Bool($b) => $body,
            Builder::Int32($b) => $body,
            Builder::Int64($b) => $body,
            Builder::Float32($b) => $body,
            Builder::Float64($b) => $body,
            Builder::Text($b) => $body,
            Builder::Binary($b) => $body,
            Builder::Time($b) => $body,
            Builder::Seconds($b) => $body,
            Builder::Vector($b) => $body,
            Builder::Int64List($b) => $body,
            Builder::Float64List($b) => $body,
            Builder::TextList($b) => $body,
        }
    };
}

/// A column's array, built a value at a time: an export's features go
/// straight from the logged bytes' values into it, with no column of
/// [`Value`]s between (which held most of an export's memory).
pub(super) enum Builder {
    Bool(BooleanBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Text(StringBuilder),
    Binary(BinaryBuilder),
    Time(TimestampMicrosecondBuilder),
    Seconds(TimestampSecondBuilder),
    Vector(ListBuilder<Float32Builder>),
    Int64List(ListBuilder<Int64Builder>),
    Float64List(ListBuilder<Float64Builder>),
    TextList(ListBuilder<StringBuilder>),
}

impl Builder {
    pub(super) fn new(col: Col, rows: usize) -> Self {
        let list = |t: DataType| Arc::new(Field::new("item", t, true));
        match col {
            Col::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            Col::Int32 => Builder::Int32(Int32Builder::with_capacity(rows)),
            Col::Int64 => Builder::Int64(Int64Builder::with_capacity(rows)),
            Col::Float32 => Builder::Float32(Float32Builder::with_capacity(rows)),
            Col::Float64 => Builder::Float64(Float64Builder::with_capacity(rows)),
            Col::Text => Builder::Text(StringBuilder::with_capacity(rows, rows * 8)),
            Col::Binary => Builder::Binary(BinaryBuilder::with_capacity(rows, rows * 8)),
            Col::Time => Builder::Time(
                TimestampMicrosecondBuilder::with_capacity(rows).with_data_type(col.data_type()),
            ),
            Col::Seconds => Builder::Seconds(
                TimestampSecondBuilder::with_capacity(rows).with_data_type(col.data_type()),
            ),
            Col::Vector => Builder::Vector(
                ListBuilder::with_capacity(Float32Builder::new(), rows)
                    .with_field(list(DataType::Float32)),
            ),
            Col::Int64List => Builder::Int64List(
                ListBuilder::with_capacity(Int64Builder::new(), rows)
                    .with_field(list(DataType::Int64)),
            ),
            Col::Float64List => Builder::Float64List(
                ListBuilder::with_capacity(Float64Builder::new(), rows)
                    .with_field(list(DataType::Float64)),
            ),
            Col::TextList => Builder::TextList(
                ListBuilder::with_capacity(StringBuilder::new(), rows)
                    .with_field(list(DataType::Utf8)),
            ),
        }
    }

    /// `v`, or null; a value that does not fit the column is an error.
    pub(super) fn append(&mut self, v: &Value) -> Result<(), String> {
        if matches!(v, Value::Null) {
            self.append_nulls(1);
            return Ok(());
        }
        let col = self.col();
        let wrong = || format!("a {} among {col:?} values", v.type_name());
        let fits = match self {
            Builder::Bool(b) => bool_of(v).map(|x| b.append_value(x)),
            Builder::Int32(b) => {
                (int(v).and_then(|i| i32::try_from(i).ok())).map(|x| b.append_value(x))
            }
            Builder::Int64(b) => int(v).map(|x| b.append_value(x)),
            Builder::Time(b) => int(v).map(|x| b.append_value(x)),
            Builder::Seconds(b) => int(v).map(|x| b.append_value(x)),
            Builder::Float32(b) => float(v).map(|x| b.append_value(x as f32)),
            Builder::Float64(b) => float(v).map(|x| b.append_value(x)),
            // A spine column null in the first batch is text: anything later
            // in it is written as text rather than failing the export.
            Builder::Text(b) => Some(super::sink::csv_text(v)).map(|t| b.append_value(t)),
            Builder::Binary(b) => bytes(v).map(|x| b.append_value(x)),
            Builder::Vector(b) => list(b, v, |x| float(x).map(|f| f as f32), Some),
            Builder::Int64List(b) => list(b, v, int, |_| None),
            Builder::Float64List(b) => list(b, v, float, |f| Some(f64::from(f))),
            Builder::TextList(b) => list(
                b,
                v,
                |x| match x {
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                },
                |_| None,
            ),
        };
        fits.ok_or_else(wrong)
    }

    pub(super) fn append_nulls(&mut self, n: usize) {
        each!(self, b => b.append_nulls(n))
    }

    /// The array, and the builder emptied for the next.
    pub(super) fn finish(&mut self) -> ArrayRef {
        each!(self, b => ArrayBuilder::finish(b))
    }

    pub(super) fn len(&self) -> usize {
        each!(self, b => b.len())
    }

    fn col(&self) -> Col {
        match self {
            Builder::Bool(_) => Col::Bool,
            Builder::Int32(_) => Col::Int32,
            Builder::Int64(_) => Col::Int64,
            Builder::Float32(_) => Col::Float32,
            Builder::Float64(_) => Col::Float64,
            Builder::Text(_) => Col::Text,
            Builder::Binary(_) => Col::Binary,
            Builder::Time(_) => Col::Time,
            Builder::Seconds(_) => Col::Seconds,
            Builder::Vector(_) => Col::Vector,
            Builder::Int64List(_) => Col::Int64List,
            Builder::Float64List(_) => Col::Float64List,
            Builder::TextList(_) => Col::TextList,
        }
    }
}

/// A value into a list column. A list's items go through `item`, and one
/// that does not fit becomes a null item; a vector's floats go through
/// `float`, and one that does not fit makes the whole value not fit (as
/// does a value that is neither a list nor a vector).
fn list<'v, B, T>(
    b: &mut ListBuilder<B>,
    v: &'v Value,
    item: impl Fn(&'v Value) -> Option<T>,
    float: impl Fn(f32) -> Option<T>,
) -> Option<()>
where
    B: ArrayBuilder + Extend<Option<T>>,
{
    match v {
        Value::Vector(xs) => {
            for x in xs {
                b.values().extend([Some(float(*x)?)]);
            }
        }
        Value::List(xs) => b.values().extend(xs.iter().map(&item)),
        _ => return None,
    }
    b.append(true);
    Some(())
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int64(i) => Some(*i),
        _ => None,
    }
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Float64(f) => Some(*f),
        Value::Int64(i) => Some(*i as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Int64Type, TimestampSecondType};

    #[test]
    fn every_type_builds_its_arrow_column_with_nulls() {
        let cases = [
            (Col::Bool, Value::Bool(true)),
            (Col::Int32, Value::Int64(7)),
            (Col::Int64, Value::Int64(-7)),
            (Col::Float32, Value::Float64(0.5)),
            (Col::Float64, Value::Int64(2)),
            (Col::Text, Value::Int64(3)),
            (Col::Binary, Value::Bytes(vec![1, 2])),
            (Col::Time, Value::Int64(1_000_000)),
            (Col::Seconds, Value::Int64(1)),
            (Col::Vector, Value::Vector(vec![1.0, 2.0])),
            (
                Col::Int64List,
                Value::List(vec![Value::Int64(1), Value::Null]),
            ),
            (Col::Float64List, Value::Vector(vec![0.25])),
            (Col::TextList, Value::List(vec![Value::String("a".into())])),
        ];
        for (col, v) in cases {
            let array = build(col, [&Value::Null, &v, &Value::Null].into_iter()).unwrap();
            assert_eq!(array.data_type(), &col.data_type(), "{col:?}");
            assert_eq!((array.len(), array.null_count()), (3, 2), "{col:?}");
            assert!(array.is_valid(1), "{col:?}");
        }
        let seconds = build(Col::Seconds, [Value::Int64(9)].iter()).unwrap();
        assert_eq!(seconds.as_primitive::<TimestampSecondType>().value(0), 9);
        let vector = build(Col::Vector, [Value::Vector(vec![1.5, 2.5])].iter()).unwrap();
        let items = vector.as_list::<i32>().value(0);
        assert_eq!(items.as_primitive::<Float32Type>().values(), &[1.5, 2.5]);
        let list = build(Col::Int64List, [Value::List(vec![Value::Int64(4)])].iter()).unwrap();
        let items = list.as_list::<i32>().value(0);
        assert_eq!(items.as_primitive::<Int64Type>().values(), &[4]);
        let text = build(Col::Text, [Value::Bool(false)].iter()).unwrap();
        assert_eq!(text.as_string::<i32>().value(0), "false");
    }

    #[test]
    fn a_value_of_another_type_is_an_error_naming_its_row() {
        let values = [Value::Float64(1.0), Value::String("x".into())];
        let (row, message) = build(Col::Float64, values.iter()).unwrap_err();
        assert_eq!(row, 1);
        assert!(
            message.contains("string") && message.contains("Float64"),
            "{message}"
        );
        let too_big = [Value::Int64(i64::MAX)];
        assert_eq!(build(Col::Int32, too_big.iter()).unwrap_err().0, 0);
        let vector_as_ints = [Value::Vector(vec![1.0])];
        assert!(build(Col::Int64List, vector_as_ints.iter()).is_err());
    }
}
