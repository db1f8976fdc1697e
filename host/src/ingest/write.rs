//! One batch of records into the store: transformed by a view's pipeline,
//! then its good rows and its dead letters written in one atomic RocksDB
//! write. Publishes, dead-letter retries and live writes (pushes) all land
//! rows through here, so they share one meaning of "stored".

use super::{Failure, Pipeline, RowOutcome, deadletter};
use crate::ingest::{IngestError, Record};
use crate::store::{Alongside, EntityKey, Store, WriteMode};
use crate::time::Micros;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// What one batch did, row by row and in sum.
#[derive(Debug, Default)]
pub struct Written {
    /// Each record's outcome, in input order.
    pub outcomes: Vec<RowOutcome>,
    /// The rows that failed, with their keys when readable.
    pub failures: Vec<Failure>,
    /// Keys of every row with a readable key, stored or not (an overwrite
    /// publish keeps these).
    pub keys: Vec<EntityKey>,
    pub written: u64,
    pub stale: u64,
    pub reused: u64,
    pub dead_lettered: u64,
    pub plugin_time: Duration,
    pub store_time: Duration,
}

/// How a batch lands, and what lands with it.
#[derive(Debug, Default)]
pub struct WriteSpec<'a> {
    pub mode: WriteMode,
    /// Named in the dead letters of failed rows (a file, `POST /push (S)`,
    /// `kafka topic/partition`).
    pub source: Option<&'a str>,
    /// The write time: rows without an event time take it.
    pub now: Micros,
    /// Written in the same atomic write: more dead letters (a stream's
    /// unreadable records), source offsets.
    pub also: Alongside,
}

/// Transform `records` with `pipeline` and store the result: good rows, the
/// dead letters of failed rows with a readable key (naming the source) and
/// whatever `spec.also` holds in one write, so a crash keeps all or none.
/// Blocking. Returns after the write is in RocksDB's write-ahead log.
pub fn write_records(
    pipeline: &Pipeline,
    store: &Store,
    records: Vec<Record>,
    spec: WriteSpec<'_>,
) -> Result<Written, IngestError> {
    let (n, now, mut also) = (records.len(), spec.now, spec.also);
    let t = pipeline.run(records, now, Some(store));
    let started = Instant::now();
    let landed: HashSet<&EntityKey> = t.rows.iter().map(|(k, _)| k).collect();
    let (failures, at) = (&t.failures, &t.failures_at);
    let dead = deadletter::entries(store, pipeline, failures, at, &landed, spec.source, now)?;
    let dead_lettered = (dead.len() + also.dead.len()) as u64;
    also.dead.splice(0..0, dead);
    let view = &pipeline.view().name;
    let stats = store.write_with(view, t.rows, also, spec.mode, t.stored)?;
    let store_time = started.elapsed();
    let failures: Vec<Failure> = t.failures.into_iter().map(|(f, _)| f).collect();
    let mut outcomes = vec![RowOutcome::Written; n];
    for i in stats.stale_rows {
        outcomes[t.rows_at[i]] = RowOutcome::Stale;
    }
    for (f, at) in failures.iter().zip(t.failures_at) {
        outcomes[at] = RowOutcome::from(f);
    }
    Ok(Written {
        outcomes,
        failures,
        keys: t.keys,
        written: stats.written,
        stale: stats.stale,
        reused: t.reused,
        dead_lettered,
        plugin_time: t.plugin_time,
        store_time,
    })
}
