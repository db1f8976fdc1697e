//! `ingest`: publishing rows into a feature view. Reads input in batches,
//! runs each batch through the view's transformation plugins (one call per
//! plugin per batch), checks every value against the view's schema, and
//! writes the good rows in one store write per batch. A bad row is reported
//! with its line and reason and never fails its neighbours.

mod input;
mod pipeline;

pub use input::{Format, InputError, Reader, Record};
pub use pipeline::{Pipeline, Transformed};

use crate::embed::EmbedStats;
use crate::plugin::{PluginEngine, PluginError};
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
    pub key: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub view: String,
    pub rows_read: u64,
    pub written: u64,
    pub stale: u64,
    pub deleted: u64,
    pub failures: Vec<Failure>,
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
        let e = &self.embed;
        if e.requests + e.cache_hits + e.cache_misses > 0 {
            writeln!(
                f,
                "  embeddings    {} API requests, cache {} hits / {} misses",
                e.requests, e.cache_hits, e.cache_misses
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
pub fn publish(
    registry: &Registry,
    store: &Store,
    engine: &PluginEngine,
    req: &PublishRequest,
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let embed_before = engine.embed_stats();
    let pipeline = Pipeline::new(registry, &req.view, engine, req.no_transform)?;
    let mut reader = Reader::open(&req.input, req.format)?;
    let mut summary = Summary {
        view: req.view.clone(),
        ..Summary::default()
    };
    let mut seen: HashSet<EntityKey> = HashSet::new();
    let now = now_micros();
    loop {
        let (records, bad) = reader.next_batch(pipeline.view().batch_size)?;
        if records.is_empty() && bad.is_empty() {
            break;
        }
        summary.rows_read += (records.len() + bad.len()) as u64;
        summary
            .failures
            .extend(bad.into_iter().map(|(line, message)| Failure {
                line,
                key: None,
                message,
            }));
        let t = pipeline.run(records, now);
        summary.plugin_time += t.plugin_time;
        summary.failures.extend(t.failures);
        if req.mode == WriteMode::Overwrite {
            seen.extend(t.keys);
        }
        let write_started = Instant::now();
        let stats = store.write(&req.view, t.rows, req.mode)?;
        summary.store_time += write_started.elapsed();
        summary.written += stats.written;
        summary.stale += stats.stale;
    }
    if req.mode == WriteMode::Overwrite {
        finish_overwrite(store, &req.view, &seen, &mut summary)?;
    }
    summary.failures.sort_by_key(|f| f.line);
    let after = engine.embed_stats();
    summary.embed = EmbedStats {
        requests: after.requests - embed_before.requests,
        cache_hits: after.cache_hits - embed_before.cache_hits,
        cache_misses: after.cache_misses - embed_before.cache_misses,
    };
    summary.total_time = started.elapsed();
    Ok(summary)
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
