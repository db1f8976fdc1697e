//! `ingest`: publishing rows into a feature view. Reads input in batches,
//! runs each batch through the view's transformation plugins (one call per
//! plugin per batch), checks every value against the view's schema, and
//! writes the good rows in one store write per batch. A bad row is reported
//! with its line and reason, never fails its neighbours, and (when its key is
//! readable) is kept as a dead letter in the same atomic write.

pub mod deadletter;
mod input;
mod pipeline;

pub use deadletter::DeadLetter;
pub use input::{Format, InputError, Reader, Record};
pub use pipeline::{Pipeline, Transformed};

use crate::embed::EmbedStats;
use crate::plugin::{PluginEngine, PluginError, RowErrorKind};
use crate::registry::Registry;
use crate::store::{EntityKey, Store, StoreError, WriteMode};
use crate::value::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no feature view named {0:?}")]
    UnknownView(String),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("view {view}: cannot read plugin {path}: {source}")]
    PluginFile {
        view: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("view {view}: field {field}: {message}")]
    NotReady {
        view: String,
        field: String,
        message: String,
    },
}

/// What to publish and how.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub view: String,
    pub input: PathBuf,
    pub format: Option<Format>,
    pub mode: WriteMode,
    /// Skip transformations: transformed fields are read, already computed,
    /// from the column `<field>_embedding`, or else `<field>`.
    pub no_transform: bool,
}

/// A row that was not stored, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub line: usize,
    pub key: Option<EntityKey>,
    /// The field whose value failed, when the failure was about one field.
    pub field: Option<String>,
    pub kind: FailureKind,
    pub message: String,
}

/// What kind of failure a row met; stored with its dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The row's key, event time or a plain field could not be read or typed.
    Input,
    /// A transformed value does not fit its field's type or dimensions.
    Schema,
    /// The plugin rejected the row's input (e.g. empty text, an input the API refused).
    InvalidInput,
    /// The embedding call failed for the row (after retries).
    EmbedFailed,
    /// The plugin reported another per-row error, or an answer the host rejected.
    Transform,
    /// The plugin failed the whole batch (trap, timeout, batch error).
    Plugin,
}

impl From<RowErrorKind> for FailureKind {
    fn from(k: RowErrorKind) -> Self {
        match k {
            RowErrorKind::InvalidInput => FailureKind::InvalidInput,
            RowErrorKind::EmbedFailed => FailureKind::EmbedFailed,
            RowErrorKind::Other | RowErrorKind::BadOutput => FailureKind::Transform,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub view: String,
    pub rows_read: u64,
    pub written: u64,
    pub stale: u64,
    pub deleted: u64,
    pub failures: Vec<Failure>,
    /// Failed rows kept as dead letters (those with a readable key).
    pub dead_lettered: u64,
    /// Transformed values reused because their inputs had not changed.
    pub reused: u64,
    pub plugin_time: Duration,
    pub store_time: Duration,
    pub total_time: Duration,
    /// Embedding work during the publish (process-wide counters' deltas).
    pub embed: EmbedStats,
    pub notes: Vec<String>,
}

impl Summary {
    pub fn failed(&self) -> u64 {
        self.failures.len() as u64
    }

    /// Fold in the summary of another run over the same view.
    fn add(&mut self, o: Summary) {
        self.rows_read += o.rows_read;
        self.written += o.written;
        self.stale += o.stale;
        self.deleted += o.deleted;
        self.failures.extend(o.failures);
        self.failures.sort_by_key(|f| f.line);
        self.dead_lettered += o.dead_lettered;
        self.reused += o.reused;
        self.plugin_time += o.plugin_time;
        self.store_time += o.store_time;
        self.embed = EmbedStats {
            requests: self.embed.requests + o.embed.requests,
            retries: self.embed.retries + o.embed.retries,
            cache_hits: self.embed.cache_hits + o.embed.cache_hits,
            cache_misses: self.embed.cache_misses + o.embed.cache_misses,
            truncated: self.embed.truncated + o.embed.truncated,
            chunked: self.embed.chunked + o.embed.chunked,
        };
        self.notes.extend(o.notes);
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "published view {}", self.view)?;
        writeln!(f, "  rows read     {}", self.rows_read)?;
        writeln!(f, "  written       {}", self.written)?;
        writeln!(
            f,
            "  stale skipped {} (the store held a newer event)",
            self.stale
        )?;
        if self.deleted > 0 {
            writeln!(
                f,
                "  deleted       {} (overwrite: keys not in the input)",
                self.deleted
            )?;
        }
        if self.reused > 0 {
            writeln!(
                f,
                "  unchanged     {} transformed values reused (inputs as last published)",
                self.reused
            )?;
        }
        writeln!(f, "  failed        {}", self.failed())?;
        for fl in self.failures.iter().take(20) {
            let key = fl
                .key
                .as_ref()
                .map(|k| format!(" key {k}"))
                .unwrap_or_default();
            writeln!(f, "    line {}{key}: {}", fl.line, fl.message)?;
        }
        if self.failures.len() > 20 {
            writeln!(f, "    ... and {} more", self.failures.len() - 20)?;
        }
        if self.dead_lettered > 0 {
            writeln!(
                f,
                "  dead-lettered {} (see `wafer deadletter list --view {}`)",
                self.dead_lettered, self.view
            )?;
        }
        let e = &self.embed;
        if e.requests + e.cache_hits + e.cache_misses > 0 {
            writeln!(
                f,
                "  embeddings    {} requests ({} retries), cache {} hits / {} misses",
                e.requests, e.retries, e.cache_hits, e.cache_misses
            )?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "  time          {:.1} ms (plugins {:.1} ms, store {:.1} ms)",
            ms(self.total_time),
            ms(self.plugin_time),
            ms(self.store_time)
        )
    }
}

/// Event times: RFC 3339, `YYYY-MM-DD` or `YYYYMMDD` (a partition date, as
/// the seed's `ds`), or integer epoch seconds.
pub fn parse_event_time(v: &Value) -> Result<i64, String> {
    use chrono::{DateTime, NaiveDate};
    let midnight = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_micros()
    };
    match v {
        Value::Int64(s) => s
            .checked_mul(1_000_000)
            .ok_or_else(|| format!("{s} is out of range")),
        Value::String(s) => {
            let t = s.trim();
            DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp_micros())
                .or_else(|_| NaiveDate::parse_from_str(t, "%Y-%m-%d").map(midnight))
                .or_else(|_| NaiveDate::parse_from_str(t, "%Y%m%d").map(midnight))
                .or_else(|_| {
                    t.parse::<i64>()
                        .map_err(|_| ())
                        .and_then(|s| s.checked_mul(1_000_000).ok_or(()))
                })
                .map_err(|_| {
                    format!("{s:?} is not RFC 3339, YYYY-MM-DD, YYYYMMDD or epoch seconds")
                })
        }
        other => Err(format!("expected a time, got {}", other.type_name())),
    }
}

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Publish a file into a view. Blocking: run it on a blocking thread.
/// `on_batch` sees the running summary after every batch (for progress).
pub fn publish(
    registry: &Registry,
    store: &Store,
    engine: &PluginEngine,
    req: &PublishRequest,
    on_batch: &mut dyn FnMut(&Summary),
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let pipeline = Pipeline::new(registry, &req.view, engine, req.no_transform)?;
    let mut reader = Reader::open(&req.input, req.format)?;
    let source = req.input.display().to_string();
    let mut run = Run::new(&pipeline, store, engine, req.mode, Some(source));
    loop {
        let (records, bad) = reader.next_batch(pipeline.view().batch_size)?;
        if records.is_empty() && bad.is_empty() {
            break;
        }
        run.batch(records, bad)?;
        on_batch(&run.summary);
    }
    if req.mode == WriteMode::Overwrite {
        finish_overwrite(store, &req.view, &run.seen, &mut run.summary)?;
    }
    run.finish(started)
}

/// One publish in progress: batches in, rows and dead letters written, summary kept.
struct Run<'a> {
    pipeline: &'a Pipeline,
    store: &'a Store,
    engine: &'a PluginEngine,
    mode: WriteMode,
    /// The input, named in new dead letters.
    source: Option<String>,
    now: i64,
    embed_before: EmbedStats,
    seen: HashSet<EntityKey>,
    summary: Summary,
}

impl<'a> Run<'a> {
    fn new(
        pipeline: &'a Pipeline,
        store: &'a Store,
        engine: &'a PluginEngine,
        mode: WriteMode,
        source: Option<String>,
    ) -> Self {
        Run {
            pipeline,
            store,
            engine,
            mode,
            source,
            now: now_micros(),
            embed_before: engine.embed_stats(),
            seen: HashSet::new(),
            summary: Summary {
                view: pipeline.view().name.clone(),
                ..Summary::default()
            },
        }
    }

    /// Transform one batch and write its rows and dead letters in one atomic write.
    fn batch(&mut self, records: Vec<Record>, bad: Vec<input::BadLine>) -> Result<(), IngestError> {
        let view = &self.pipeline.view().name;
        let s = &mut self.summary;
        s.rows_read += (records.len() + bad.len()) as u64;
        s.failures
            .extend(bad.into_iter().map(|(line, message)| Failure {
                line,
                key: None,
                field: None,
                kind: FailureKind::Input,
                message,
            }));
        let t = self.pipeline.run(records, self.now, Some(self.store));
        s.plugin_time += t.plugin_time;
        s.reused += t.reused;
        if self.mode == WriteMode::Overwrite {
            self.seen.extend(t.keys);
        }
        let write_started = Instant::now();
        let written: HashSet<&EntityKey> = t.rows.iter().map(|(k, _)| k).collect();
        let dead = deadletter::entries(
            self.store,
            self.pipeline,
            &t.failures,
            &written,
            self.source.as_deref(),
            self.now,
        )?;
        s.dead_lettered += dead.len() as u64;
        let stats = self.store.write_batch(view, t.rows, dead, self.mode)?;
        s.store_time += write_started.elapsed();
        s.written += stats.written;
        s.stale += stats.stale;
        s.failures.extend(t.failures.into_iter().map(|(f, _)| f));
        s.embed = self.engine.embed_stats().since(&self.embed_before);
        // Durable from here: the write returned after RocksDB's write-ahead log.
        tracing::debug!(view = %view, rows_read = s.rows_read, written = s.written, "batch written");
        Ok(())
    }

    fn finish(mut self, started: Instant) -> Result<Summary, IngestError> {
        self.summary.failures.sort_by_key(|f| f.line);
        self.summary.embed = self.engine.embed_stats().since(&self.embed_before);
        self.summary.total_time = started.elapsed();
        Ok(self.summary)
    }
}

/// Drop the keys the input did not contain — but only after a clean publish:
/// deleting on a partial one would lose rows whose replacement failed.
fn finish_overwrite(
    store: &Store,
    view: &str,
    seen: &HashSet<EntityKey>,
    summary: &mut Summary,
) -> Result<(), IngestError> {
    if !summary.failures.is_empty() {
        summary.notes.push(
            "overwrite: rows failed, so keys missing from the input were kept; fix and re-run"
                .into(),
        );
    } else if summary.rows_read == 0 {
        summary
            .notes
            .push("overwrite: the input is empty, nothing was deleted".into());
    } else {
        let started = Instant::now();
        summary.deleted = store.retain(view, seen)?;
        summary.store_time += started.elapsed();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_formats() {
        let day = 1_746_748_800_000_000; // 2025-05-09T00:00:00Z
        assert_eq!(
            parse_event_time(&Value::String("2025-05-09T00:00:00Z".into())),
            Ok(day)
        );
        assert_eq!(
            parse_event_time(&Value::String("2025-05-09".into())),
            Ok(day)
        );
        assert_eq!(parse_event_time(&Value::String("20250509".into())), Ok(day));
        assert_eq!(parse_event_time(&Value::Int64(1_746_748_800)), Ok(day));
        assert!(
            parse_event_time(&Value::String("yesterday".into()))
                .unwrap_err()
                .contains("yesterday")
        );
        assert!(parse_event_time(&Value::Bool(true)).is_err());
    }
}
