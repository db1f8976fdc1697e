//! Dead letters: rows that failed for good, kept in the store per view and
//! key with what failed, why, how often, and the input row itself, so that
//! `wafer deadletter retry` can run them again once the cause is fixed. A
//! later successful write of the key clears its dead letter atomically.

use super::{Failure, FailureKind, IngestError, Record, Run, Summary};
use crate::plugin::PluginEngine;
use crate::registry::{Registry, View};
use crate::store::{EntityKey, Store, WriteMode};
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One dead-lettered row, as stored (JSON) and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub view: String,
    pub key: serde_json::Value,
    /// The field whose value failed, when the failure was about one field.
    pub field: Option<String>,
    pub kind: FailureKind,
    pub message: String,
    /// How many publishes or retries this row has failed in.
    pub attempts: u32,
    pub first_failed: String,
    pub last_failed: String,
    /// Where the row came from: input file and line.
    pub input: Option<String>,
    pub line: usize,
    /// The input row, column by column.
    pub record: serde_json::Map<String, serde_json::Value>,
}

impl DeadLetter {
    fn record(&self) -> Record {
        let cells = self
            .record
            .iter()
            // Stored from a Value, so it reads back; a hand-edited cell is null.
            .map(|(k, v)| (k.clone(), Value::from_json(v).unwrap_or(Value::Null)))
            .collect();
        Record {
            line: self.line,
            cells,
        }
    }
}

/// Dead letters for the keyed failures of one batch, attempts counted on from
/// any earlier dead letter of the same key.
pub(super) fn entries(
    store: &Store,
    view: &str,
    failures: &[(Failure, Option<Record>)],
    input: Option<&str>,
    now_micros: i64,
) -> Result<Vec<(EntityKey, Vec<u8>)>, IngestError> {
    let keyed: Vec<(&Failure, &EntityKey, &Record)> = failures
        .iter()
        .filter_map(|(f, r)| Some((f, f.key.as_ref()?, r.as_ref()?)))
        .collect();
    let keys: Vec<EntityKey> = keyed.iter().map(|(_, k, _)| (*k).clone()).collect();
    let earlier = store.dead_letters_get(view, &keys)?;
    let now = crate::serve::timestamp(now_micros);
    Ok(keyed
        .into_iter()
        .zip(earlier)
        .map(|((f, key, record), old)| {
            let old: Option<DeadLetter> = old.and_then(|b| serde_json::from_slice(&b).ok());
            let letter = DeadLetter {
                view: view.into(),
                key: View::key_json(key),
                field: f.field.clone(),
                kind: f.kind,
                message: f.message.clone(),
                attempts: old.as_ref().map_or(1, |o| o.attempts + 1),
                first_failed: old.as_ref().map_or(now.clone(), |o| o.first_failed.clone()),
                last_failed: now.clone(),
                input: old.and_then(|o| o.input).or(input.map(String::from)),
                line: record.line,
                record: record
                    .cells
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            serde_json::to_value(v).expect("values serialize"),
                        )
                    })
                    .collect(),
            };
            let bytes = serde_json::to_vec(&letter).expect("dead letters serialize");
            (key.clone(), bytes)
        })
        .collect())
}

/// The dead letters of `view`; an entry that does not parse is reported as such.
pub fn list(
    store: &Store,
    registry: &Registry,
    view: &str,
) -> Result<Vec<DeadLetter>, IngestError> {
    registry
        .view(view)
        .ok_or_else(|| IngestError::UnknownView(view.into()))?;
    Ok(store
        .dead_letters(view)?
        .into_iter()
        .map(|(key, bytes)| {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| DeadLetter {
                view: view.into(),
                key: View::key_json(&key),
                field: None,
                kind: FailureKind::Input,
                message: format!("unreadable dead letter: {e}"),
                attempts: 0,
                first_failed: String::new(),
                last_failed: String::new(),
                input: None,
                line: 0,
                record: Default::default(),
            })
        })
        .collect())
}

/// Run every dead letter of `view` through its transformations again (merge
/// mode, original event times). Rows that now succeed are stored and leave the
/// dead letters; rows that fail again stay, with one more attempt counted.
pub fn retry(
    registry: &Registry,
    store: &Store,
    engine: &PluginEngine,
    view: &str,
    on_batch: &mut dyn FnMut(&Summary),
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let letters = list(store, registry, view)?;
    let pipeline = super::Pipeline::new(registry, view, engine, false)?;
    let mut run = Run::new(&pipeline, store, engine, WriteMode::Merge, None);
    for chunk in letters.chunks(pipeline.view().batch_size.max(1)) {
        run.batch(chunk.iter().map(DeadLetter::record).collect(), Vec::new())?;
        on_batch(&run.summary);
    }
    run.finish(started)
}

/// Give up on every dead letter of `view`. Returns how many were dropped.
pub fn purge(store: &Store, registry: &Registry, view: &str) -> Result<u64, IngestError> {
    let v = registry
        .view(view)
        .ok_or_else(|| IngestError::UnknownView(view.into()))?;
    let keys: Vec<EntityKey> = store
        .dead_letters(&v.name)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    store.dead_letters_remove(view, &keys)?;
    Ok(keys.len() as u64)
}
