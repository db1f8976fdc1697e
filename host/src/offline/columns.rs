//! An export's Parquet columns: each column's Arrow type (from a field's
//! declared type, or a spine column's first values) and its array, built
//! from a batch's values.

use crate::config::FieldType;
use crate::value::Value;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, TimestampSecondArray};
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
    let wrong = |row: usize, v: &Value| (row, format!("a {} among {col:?} values", v.type_name()));
    macro_rules! scalars {
        ($builder:expr, |$v:ident| $get:expr) => {{
            let mut b = $builder;
            for (row, $v) in values.enumerate() {
                match $v {
                    Value::Null => b.append_null(),
                    _ => b.append_value($get.ok_or_else(|| wrong(row, $v))?),
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }};
    }
    macro_rules! lists {
        ($inner:expr, |$x:ident| $get:expr) => {{
            let mut b = ListBuilder::new($inner);
            for (row, v) in values.enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Vector(xs) => {
                        for x in xs {
                            let $x = &Value::Float64(f64::from(*x));
                            b.values().append_value($get.ok_or_else(|| wrong(row, v))?);
                        }
                        b.append(true)
                    }
                    Value::List(xs) => {
                        for $x in xs {
                            b.values().append_option($get);
                        }
                        b.append(true)
                    }
                    _ => return Err(wrong(row, v)),
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }};
    }
    match col {
        Col::Bool => scalars!(BooleanBuilder::new(), |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }),
        Col::Int32 => scalars!(Int32Builder::new(), |v| int(v)
            .and_then(|i| i32::try_from(i).ok())),
        Col::Int64 => scalars!(Int64Builder::new(), |v| int(v)),
        Col::Float32 => scalars!(Float32Builder::new(), |v| float(v).map(|f| f as f32)),
        Col::Float64 => scalars!(Float64Builder::new(), |v| float(v)),
        // A spine column null in the first batch is text: anything later
        // in it is written as text rather than failing the export.
        Col::Text => scalars!(StringBuilder::new(), |v| Some(super::sink::csv_text(v))),
        Col::Binary => scalars!(BinaryBuilder::new(), |v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        }),
        Col::Seconds => {
            let mut out = Vec::new();
            for (row, v) in values.enumerate() {
                out.push(match v {
                    Value::Null => None,
                    v => Some(int(v).ok_or_else(|| wrong(row, v))?),
                });
            }
            let array = TimestampSecondArray::from(out).with_timezone("UTC");
            Ok(Arc::new(array) as ArrayRef)
        }
        Col::Time => unreachable!("the time column is built from the spine's parsed times"),
        Col::Vector => lists!(Float32Builder::new(), |x| float(x).map(|f| f as f32)),
        Col::Int64List => lists!(Int64Builder::new(), |x| int(x)),
        Col::Float64List => lists!(Float64Builder::new(), |x| float(x)),
        Col::TextList => lists!(StringBuilder::new(), |x| match x {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }),
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
