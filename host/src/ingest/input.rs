//! Input rows from files: JSON Lines (one object per line), CSV (a header
//! row, then one row per line) and Parquet (`parquet.rs`: a file or a
//! partitioned folder). Rows come in batches; a row that cannot be read is
//! reported with its line (a Parquet file's row) number and never stops the
//! file.

use crate::value::{JsonObject, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open input {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error(
        "{path}: unknown input format (use .jsonl, .ndjson, .csv, .parquet or a partitioned folder, or --format)"
    )]
    UnknownFormat { path: PathBuf },
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Csv,
    Parquet,
}

impl Format {
    pub fn detect(path: &Path) -> Result<Self, InputError> {
        if path.is_dir() {
            return Ok(Format::Parquet);
        }
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(InputError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// One input row: its line number (1-based) and its cells by column name.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub line: usize,
    pub cells: Vec<(String, Value)>,
}

impl Record {
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.cells.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }
}

/// A row that could not be read.
pub type BadLine = (usize, String);

/// Streams a file as batches of records.
pub struct Reader {
    path: PathBuf,
    inner: Inner,
}

enum Inner {
    Jsonl {
        lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
        line: usize,
    },
    Csv {
        reader: csv::Reader<std::fs::File>,
        header: Vec<String>,
    },
    Parquet(Box<super::parquet::ParquetInput>),
}

impl Reader {
    pub fn open(path: &Path, format: Option<Format>) -> Result<Self, InputError> {
        Reader::open_partition(path, format, None)
    }

    /// Open `path`; of a partitioned Parquet folder, `partition`
    /// (`ds=20250509`), or the latest without it.
    pub fn open_partition(
        path: &Path,
        format: Option<Format>,
        partition: Option<&str>,
    ) -> Result<Self, InputError> {
        let format = match format {
            Some(f) => f,
            None => Format::detect(path)?,
        };
        let read_err = |message: String| InputError::Read {
            path: path.to_path_buf(),
            message,
        };
        let open = || {
            std::fs::File::open(path).map_err(|source| InputError::Open {
                path: path.to_path_buf(),
                source,
            })
        };
        let inner = match format {
            Format::Parquet => Inner::Parquet(Box::new(super::parquet::ParquetInput::open(
                path, partition,
            )?)),
            _ if partition.is_some() => {
                return Err(read_err(
                    "--partition is for a partitioned Parquet folder".into(),
                ));
            }
            Format::Jsonl => Inner::Jsonl {
                lines: std::io::BufReader::new(open()?).lines(),
                line: 0,
            },
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .flexible(true)
                    .from_reader(open()?);
                let header = reader
                    .headers()
                    .map_err(|e| read_err(format!("CSV header: {e}")))?
                    .iter()
                    .map(|h| h.trim().to_string())
                    .collect();
                Inner::Csv { reader, header }
            }
        };
        Ok(Reader {
            path: path.to_path_buf(),
            inner,
        })
    }

    /// For a Parquet input, that its columns' types can hold the types
    /// `view` declares for them (text and JSON carry no types to check).
    pub fn check_types(&self, view: &crate::registry::View) -> Result<(), InputError> {
        match &self.inner {
            Inner::Parquet(input) => input.check(view),
            _ => Ok(()),
        }
    }

    /// Whether the input is Parquet, read a column at a time by
    /// [`Reader::next_arrow`] if the caller likes.
    pub fn is_parquet(&self) -> bool {
        matches!(self.inner, Inner::Parquet(_))
    }

    /// Up to `n` rows of a Parquet input as Arrow arrays; `None` at the
    /// end. Another format is an error (read it with [`Reader::next_batch`]).
    pub fn next_arrow(&mut self, n: usize) -> Result<Option<super::ArrowRows>, InputError> {
        match &mut self.inner {
            Inner::Parquet(input) => input.next_arrow(n),
            _ => Err(InputError::Read {
                path: self.path.clone(),
                message: "read as Arrow, but not a Parquet input".into(),
            }),
        }
    }

    /// A Parquet input's columns, every file's and the partition's, in the
    /// order they first appear (none for another format).
    pub fn arrow_columns(&self) -> Vec<String> {
        match &self.inner {
            Inner::Parquet(input) => input.column_names(),
            _ => Vec::new(),
        }
    }

    /// Up to `n` rows; an empty batch (and no bad lines) means the end.
    pub fn next_batch(&mut self, n: usize) -> Result<(Vec<Record>, Vec<BadLine>), InputError> {
        let mut good = Vec::with_capacity(n);
        let mut bad = Vec::new();
        while good.len() + bad.len() < n {
            match self.next_record()? {
                None => break,
                Some(Ok(r)) => good.push(r),
                Some(Err(b)) => bad.push(b),
            }
        }
        Ok((good, bad))
    }

    fn next_record(&mut self) -> Result<Option<Result<Record, BadLine>>, InputError> {
        let read_err = |message: String| InputError::Read {
            path: self.path.clone(),
            message,
        };
        match &mut self.inner {
            Inner::Jsonl { lines, line } => loop {
                let Some(text) = lines.next() else {
                    return Ok(None);
                };
                *line += 1;
                let text = text.map_err(|e| read_err(format!("line {line}: {e}")))?;
                if text.trim().is_empty() {
                    continue;
                }
                return Ok(Some(parse_json_line(*line, &text)));
            },
            Inner::Csv { reader, header } => {
                let mut rec = csv::StringRecord::new();
                match reader.read_record(&mut rec) {
                    Ok(false) => Ok(None),
                    Ok(true) => {
                        let line = rec.position().map_or(0, |p| p.line() as usize);
                        Ok(Some(csv_record(line, header, &rec)))
                    }
                    // A malformed row (bad UTF-8 and the like) is that row's error.
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line() as usize);
                        Ok(Some(Err((line, format!("CSV: {e}")))))
                    }
                }
            }
            Inner::Parquet(input) => input.next_record(),
        }
    }
}

/// A JSON line as a record.
fn parse_json_line(line: usize, text: &str) -> Result<Record, BadLine> {
    match JsonObject::parse(text.as_bytes()) {
        Ok(JsonObject(cells)) => Ok(Record { line, cells }),
        Err(message) => Err((line, message)),
    }
}

fn csv_record(line: usize, header: &[String], rec: &csv::StringRecord) -> Result<Record, BadLine> {
    if rec.len() != header.len() {
        return Err((
            line,
            format!("{} cells for {} header columns", rec.len(), header.len()),
        ));
    }
    // CSV has no types: cells stay text (empty is null) and are converted to
    // the declared field type, or parsed by the plugin that reads them.
    let cells = header
        .iter()
        .zip(rec.iter())
        .map(|(h, c)| {
            (
                h.clone(),
                if c.is_empty() {
                    Value::Null
                } else {
                    Value::String(c.to_string())
                },
            )
        })
        .collect();
    Ok(Record { line, cells })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(ext: &str, body: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
        f.write_all(body.as_bytes()).unwrap();
        f
    }

    #[test]
    fn jsonl_bad_lines_are_reported_with_numbers() {
        let f = file(".jsonl", "{\"a\": 1}\n\nnot json\n[1]\n{\"a\": 2}\n");
        let mut r = Reader::open(f.path(), None).unwrap();
        let (good, bad) = r.next_batch(10).unwrap();
        assert_eq!(good.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 5]);
        assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![3, 4]);
        assert!(r.next_batch(10).unwrap().0.is_empty());
    }

    #[test]
    fn csv_cells_are_text_and_ragged_rows_fail() {
        let f = file(".csv", "id,text\n1,hello\n2\n3,\n");
        let mut r = Reader::open(f.path(), None).unwrap();
        let (good, bad) = r.next_batch(10).unwrap();
        assert_eq!(good[0].get("text"), Some(&Value::String("hello".into())));
        assert_eq!(good[1].get("text"), Some(&Value::Null));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 3);
    }

    #[test]
    fn unknown_extension_is_an_error() {
        let f = file(".txt", "");
        assert!(matches!(
            Reader::open(f.path(), None),
            Err(InputError::UnknownFormat { .. })
        ));
    }
}
