//! Where an export's rows go: Parquet (typed columns: the spine's as its
//! first rows have them, the time as a UTC timestamp, features as their
//! declared types), CSV or JSON Lines. Written beside the target and renamed
//! over it when complete.

use super::ExportError;
use super::spine::Batch;
use crate::config::FieldType;
use crate::time::Micros;
use crate::value::Value;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray, TimestampSecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    Parquet,
    Csv,
    Jsonl,
}

impl OutFormat {
    pub fn detect(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Some(OutFormat::Parquet),
            "csv" => Some(OutFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(OutFormat::Jsonl),
            _ => None,
        }
    }
}

/// A column's type in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
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
    fn of_field(ty: FieldType) -> Col {
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
    fn of_values<'a>(mut values: impl Iterator<Item = &'a Value>) -> Col {
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

    fn data_type(self) -> DataType {
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

pub(super) struct Sink {
    out: PathBuf,
    tmp: tempfile::NamedTempFile,
    kind: Kind,
    names: Vec<String>,
}

enum Kind {
    Parquet {
        writer: parquet::arrow::ArrowWriter<std::fs::File>,
        schema: Arc<Schema>,
        cols: Vec<Col>,
        /// The spine's timestamp column, written from the parsed times.
        time_at: Option<usize>,
    },
    Csv(csv::Writer<std::io::BufWriter<std::fs::File>>),
    Jsonl(std::io::BufWriter<std::fs::File>),
}

impl Sink {
    /// A sink for the spine's columns (typed from `first`) then the features.
    pub(super) fn create(
        out: &Path,
        format: super::OutFormat,
        first: &Batch,
        features: &[(String, Option<FieldType>)],
        timestamp: &str,
    ) -> Result<Sink, ExportError> {
        let err = |m: String| ExportError::Output {
            path: out.to_path_buf(),
            message: m,
        };
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
        let tmp = tempfile::Builder::new()
            .prefix(".wafer-export")
            .tempfile_in(dir.unwrap_or(Path::new(".")))
            .map_err(|e| err(e.to_string()))?;
        let file = tmp.reopen().map_err(|e| err(e.to_string()))?;
        let mut names = first.columns.clone();
        names.extend(features.iter().map(|(n, _)| n.clone()));
        let kind = match format {
            OutFormat::Csv => {
                let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
                w.write_record(&names).map_err(|e| err(e.to_string()))?;
                Kind::Csv(w)
            }
            OutFormat::Jsonl => Kind::Jsonl(std::io::BufWriter::new(file)),
            OutFormat::Parquet => {
                let time_at = first.columns.iter().position(|c| c == timestamp);
                let spine = (0..first.columns.len()).map(|i| match time_at == Some(i) {
                    true => Col::Time,
                    false => Col::of_values(first.rows.iter().map(|r| &r[i])),
                });
                let feats = features
                    .iter()
                    .map(|(_, t)| t.map_or(Col::Text, Col::of_field));
                let cols: Vec<Col> = spine.chain(feats).collect();
                let fields: Vec<Field> = (names.iter().zip(&cols))
                    .map(|(n, c)| Field::new(n, c.data_type(), true))
                    .collect();
                let schema = Arc::new(Schema::new(fields));
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                let writer =
                    parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props))
                        .map_err(|e| err(e.to_string()))?;
                Kind::Parquet {
                    writer,
                    schema,
                    cols,
                    time_at,
                }
            }
        };
        Ok(Sink {
            out: out.to_path_buf(),
            tmp,
            kind,
            names,
        })
    }

    /// One batch: its spine rows and each feature's column.
    pub(super) fn write(
        &mut self,
        batch: Batch,
        features: Vec<Vec<Value>>,
    ) -> Result<(), ExportError> {
        let out = self.out.clone();
        let err = |m: String| ExportError::Output {
            path: out.clone(),
            message: m,
        };
        match &mut self.kind {
            Kind::Parquet {
                writer,
                schema,
                cols,
                time_at,
            } => {
                let n = batch.columns.len();
                let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
                for (i, col) in cols.iter().enumerate() {
                    let array = match (i < n, *time_at == Some(i)) {
                        (true, true) => times(&batch.times),
                        (true, false) => build(*col, batch.rows.iter().map(|r| &r[i])),
                        (false, _) => build(*col, features[i - n].iter()),
                    };
                    arrays.push(array.map_err(|m| {
                        let at = |row: usize| batch.lines.get(row).copied().unwrap_or(0);
                        err(format!(
                            "column {:?}: {} (spine line {})",
                            self.names[i],
                            m.1,
                            at(m.0)
                        ))
                    })?);
                }
                let rb =
                    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| err(e.to_string()))?;
                writer.write(&rb).map_err(|e| err(e.to_string()))
            }
            Kind::Csv(w) => {
                for (r, row) in batch.rows.iter().enumerate() {
                    let feats = features.iter().map(|c| &c[r]);
                    let cells = row.iter().chain(feats).map(csv_text);
                    w.write_record(cells).map_err(|e| err(e.to_string()))?;
                }
                Ok(())
            }
            Kind::Jsonl(w) => {
                for (r, row) in batch.rows.iter().enumerate() {
                    let feats = features.iter().map(|c| &c[r]);
                    let obj: serde_json::Map<String, serde_json::Value> = (self.names.iter())
                        .zip(row.iter().chain(feats))
                        .map(|(n, v)| {
                            (
                                n.clone(),
                                serde_json::to_value(v).expect("values serialize"),
                            )
                        })
                        .collect();
                    serde_json::to_writer(&mut *w, &obj).map_err(|e| err(e.to_string()))?;
                    w.write_all(b"\n").map_err(|e| err(e.to_string()))?;
                }
                Ok(())
            }
        }
    }

    /// Finish the file and put it in place.
    pub(super) fn finish(self) -> Result<(), ExportError> {
        let err = |m: String| ExportError::Output {
            path: self.out.clone(),
            message: m,
        };
        match self.kind {
            Kind::Parquet { writer, .. } => {
                writer.close().map(drop).map_err(|e| err(e.to_string()))?
            }
            Kind::Csv(w) => w
                .into_inner()
                .map_err(|e| err(e.to_string()))?
                .flush()
                .map_err(|e| err(e.to_string()))?,
            Kind::Jsonl(mut w) => w.flush().map_err(|e| err(e.to_string()))?,
        }
        self.tmp
            .persist(&self.out)
            .map_err(|e| err(e.to_string()))?;
        Ok(())
    }
}

fn csv_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Int64(i) => i.to_string(),
        other => match serde_json::to_value(other).expect("values serialize") {
            serde_json::Value::String(s) => s,
            json => json.to_string(),
        },
    }
}

fn times(times: &[Micros]) -> Result<ArrayRef, (usize, String)> {
    let array = TimestampMicrosecondArray::from_iter_values(times.iter().map(|t| t.0));
    Ok(Arc::new(array.with_timezone("UTC")))
}

/// One column's array; a value that does not fit the column's type is an
/// error naming its row in the batch.
fn build<'a>(
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
        Col::Text => scalars!(StringBuilder::new(), |v| Some(csv_text(v))),
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
        Col::Time => {
            let mut out = Vec::new();
            for (row, v) in values.enumerate() {
                out.push(match v {
                    Value::Null => None,
                    v => Some(Micros::parse(v).map_err(|m| (row, m))?.0),
                });
            }
            let array = TimestampMicrosecondArray::from(out).with_timezone("UTC");
            Ok(Arc::new(array) as ArrayRef)
        }
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
