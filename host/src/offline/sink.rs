//! Where an export's rows go: Parquet (typed columns: the spine's as its
//! first rows have them, the time as a UTC timestamp, features as their
//! declared types), CSV or JSON Lines. Written beside the target and renamed
//! over it when complete.

use super::ExportError;
use super::columns::{Col, build};
use super::output::Column;
use super::spine::Batch;
use crate::config::FieldType;
use crate::value::Value;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use std::borrow::Cow;
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
        features: &[(String, FieldType)],
        timestamp: &str,
    ) -> Result<Sink, ExportError> {
        let err = |m: String| ExportError::Output {
            path: out.to_path_buf(),
            message: m,
        };
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
        let mut tmp = tempfile::Builder::new();
        // A temporary file is the owner's alone (0600); the training set it
        // becomes is made as any other file is, 0666 less the umask.
        #[cfg(unix)]
        tmp.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp = (tmp.prefix(".wafer-export"))
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
            OutFormat::Parquet => parquet_kind(file, first, &names, features, timestamp)
                .map_err(|e| err(e.to_string()))?,
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
        batch: &Batch,
        features: Vec<Column>,
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
            } => {
                let rb = record_batch(schema, cols, &self.names, batch, &features).map_err(err)?;
                writer.write(&rb).map_err(|e| err(e.to_string()))
            }
            Kind::Csv(w) => {
                let features = values(&features).map_err(err)?;
                for r in 0..batch.len() {
                    let row = (0..batch.columns.len()).map(|c| batch.cell(c, r));
                    let feats = features.iter().map(|c| Cow::Borrowed(&c[r]));
                    let cells = row.chain(feats).map(|v| csv_text(&v));
                    w.write_record(cells).map_err(|e| err(e.to_string()))?;
                }
                Ok(())
            }
            Kind::Jsonl(w) => {
                let features = values(&features).map_err(err)?;
                for r in 0..batch.len() {
                    let row = (0..batch.columns.len()).map(|c| batch.cell(c, r));
                    let feats = features.iter().map(|c| Cow::Borrowed(&c[r]));
                    let obj: serde_json::Map<String, serde_json::Value> = (self.names.iter())
                        .zip(row.chain(feats))
                        .map(|(n, v)| {
                            let v = serde_json::to_value(&*v).expect("values serialize");
                            (n.clone(), v)
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

pub(super) fn csv_text(v: &Value) -> String {
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

/// A Parquet writer for the spine's columns (typed from `first`, the time
/// column as a UTC timestamp) then the features (as declared).
fn parquet_kind(
    file: std::fs::File,
    first: &Batch,
    names: &[String],
    features: &[(String, FieldType)],
    timestamp: &str,
) -> Result<Kind, parquet::errors::ParquetError> {
    let spine = (first.columns.iter().enumerate()).map(|(i, c)| match c == timestamp {
        true => Col::Time,
        false => Col::of_values(first.cells[i].iter()),
    });
    let cols: Vec<Col> = spine
        .chain(features.iter().map(|(_, t)| Col::of_field(*t)))
        .collect();
    let fields: Vec<Field> = (names.iter().zip(&cols))
        .map(|(n, c)| Field::new(n, c.data_type(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    // A row group per spine batch: the writer holds one at a time.
    let mut props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(first.len().max(1024)));
    // Floats and times rarely repeat: a dictionary would be built for each
    // column chunk, only to be dropped (a tenth of an export's time).
    for (name, col) in names.iter().zip(&cols) {
        if matches!(col, Col::Float32 | Col::Float64 | Col::Time) {
            let path = parquet::schema::types::ColumnPath::new(vec![name.clone()]);
            props = props.set_column_dictionary_enabled(path, false);
        }
    }
    let props = props.build();
    let writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    Ok(Kind::Parquet {
        writer,
        schema,
        cols,
    })
}

/// The text formats' feature columns, which are values
/// (`output::decode_view` builds arrays only for Parquet).
fn values(features: &[Column]) -> Result<Vec<&[Value]>, String> {
    let values = features.iter().map(|c| match c {
        Column::Values(v) => Ok(v.as_slice()),
        Column::Array(_) => Err("a feature column came as Arrow for a text format".to_string()),
    });
    values.collect()
}

fn times(times: &[crate::time::Micros]) -> ArrayRef {
    let micros = times.iter().map(|t| t.0);
    Arc::new(arrow_array::TimestampMicrosecondArray::from_iter_values(micros).with_timezone("UTC"))
}

/// One batch as Arrow columns; a value that does not fit its column is an
/// error naming the column and the spine line.
fn record_batch(
    schema: &Arc<Schema>,
    cols: &[Col],
    names: &[String],
    batch: &Batch,
    features: &[Column],
) -> Result<RecordBatch, String> {
    let n = batch.columns.len();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
    for (i, col) in cols.iter().enumerate() {
        let array = match (i < n, col) {
            // Parsed once already, when the spine was read.
            (true, Col::Time) => Ok(times(&batch.times)),
            (true, _) => build(*col, batch.cells[i].iter()),
            (false, _) => match &features[i - n] {
                Column::Array(a) => Ok(a.clone()),
                Column::Values(v) => build(*col, v.iter()),
            },
        };
        arrays.push(array.map_err(|(row, m)| {
            let line = batch.lines.get(row).copied().unwrap_or(0);
            format!("column {:?}: {m} (spine line {line})", names[i])
        })?);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}
