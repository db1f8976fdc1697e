//! Dead letters: rows that failed for good, kept in the store per view and
//! key with what failed, why, how often, and the input row itself, so that
//! `wafer deadletter retry` can run them again once the cause is fixed. A
//! later successful write of the key clears its dead letter atomically.

use super::publish::Run;
use super::{Failure, FailureKind, IngestError, Pipeline, Record, Summary};
use crate::plugin::PluginEngine;
use crate::registry::{Registry, View};
use crate::store::{EntityKey, Store, WriteMode};
use crate::time::Micros;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
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
    /// The input row, column by column, with the event time it was published
    /// with (so a retry never makes it look newer than it is).
    pub record: serde_json::Map<String, serde_json::Value>,
    /// It was published with `--no-transform` (a retry reads it the same way).
    #[serde(default)]
    pub no_transform: bool,
    /// The columns of `record` that held bytes (a `[[sink]]`'s record
    /// carries them), kept in base64: a retry reads them back as bytes,
    /// where other text for a bytes field means its UTF-8.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base64: Vec<String>,
}

impl DeadLetter {
    fn record(&self) -> Record {
        let cells = self
            .record
            .iter()
            // Stored from a Value, so it reads back; a hand-edited cell is null.
            .map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(t) if self.base64.contains(k) => {
                        crate::value::base64_bytes(t).map(Value::Bytes)
                    }
                    v => Value::from_json(v),
                };
                (k.clone(), value.unwrap_or(Value::Null))
            })
            .collect();
        Record {
            line: self.line,
            cells,
        }
    }
}

/// Dead letters for the keyed failures of one batch (`at`: each failure's
/// position in the batch): the last failure per key, and none for a key
/// that also landed in the batch (a later row superseded it). Attempts count
/// on from any earlier dead letter of the key.
pub(super) fn entries(
    store: &Store,
    pipeline: &Pipeline,
    failures: &[(Failure, Option<Record>)],
    at: &[usize],
    written: &HashSet<&EntityKey>,
    input: Option<&str>,
    now: Micros,
) -> Result<Vec<(EntityKey, Vec<u8>)>, IngestError> {
    let view = pipeline.view();
    let mut last: HashMap<&EntityKey, (usize, &Failure, &Record)> = HashMap::new();
    for ((f, r), at) in failures.iter().zip(at) {
        if let (Some(key), Some(record)) = (&f.key, r)
            && !written.contains(key)
            && last.get(key).is_none_or(|(before, ..)| before < at)
        {
            last.insert(key, (*at, f, record));
        }
    }
    let keys: Vec<EntityKey> = last.keys().map(|k| (*k).clone()).collect();
    let earlier = store.dead_letters_get(&view.name, &keys)?;
    let now = now.rfc3339();
    Ok(keys
        .into_iter()
        .zip(earlier)
        .map(|(key, old)| {
            let (_, f, record) = last[&key];
            let old: Option<DeadLetter> = old.and_then(|b| serde_json::from_slice(&b).ok());
            let mut cells = crate::value::cells_to_json(&record.cells);
            // A row without an event time was published as of `now`: keep that.
            if cells.get(&view.event_time).is_none_or(|v| v.is_null()) {
                cells.insert(view.event_time.clone(), now.clone().into());
            }
            let letter = DeadLetter {
                view: view.name.clone(),
                key: view.key_json(&key),
                field: f.field.clone(),
                kind: f.kind,
                message: f.message.clone(),
                attempts: old.as_ref().map_or(1, |o| o.attempts + 1),
                first_failed: old.as_ref().map_or(now.clone(), |o| o.first_failed.clone()),
                last_failed: now.clone(),
                input: old.and_then(|o| o.input).or(input.map(String::from)),
                line: record.line,
                record: cells,
                no_transform: pipeline.no_transform(),
                base64: (record.cells.iter())
                    .filter(|(_, v)| matches!(v, Value::Bytes(_)))
                    .map(|(k, _)| k.clone())
                    .collect(),
            };
            let bytes = serde_json::to_vec(&letter).expect("dead letters serialize");
            (key, bytes)
        })
        .collect())
}

/// The dead letters of `view`; an entry that does not parse is reported as such.
pub fn list(
    store: &Store,
    registry: &Registry,
    view: &str,
) -> Result<Vec<DeadLetter>, IngestError> {
    let v = registry
        .view(view)
        .ok_or_else(|| IngestError::UnknownView(view.into()))?;
    Ok(store
        .dead_letters(view)?
        .into_iter()
        .map(|(key, bytes)| {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| DeadLetter {
                view: view.into(),
                key: v.key_json(&key),
                field: None,
                kind: FailureKind::Input,
                message: format!("unreadable dead letter: {e}"),
                attempts: 0,
                first_failed: String::new(),
                last_failed: String::new(),
                input: None,
                line: 0,
                record: Default::default(),
                no_transform: false,
                base64: Vec::new(),
            })
        })
        .collect())
}

/// Run every dead letter of `view` through its transformations again (merge
/// mode, the event times they were published with; pre-extracted rows read
/// as pre-extracted). Rows that now succeed are stored and leave the dead
/// letters; rows that fail again stay, with one more attempt counted.
pub fn retry(
    registry: &Registry,
    store: &Store,
    engine: &PluginEngine,
    view: &str,
    pipeline: &dyn Fn(bool) -> Result<Arc<Pipeline>, Arc<IngestError>>,
    on_batch: &mut dyn FnMut(&Summary),
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let letters = list(store, registry, view)?;
    let mut total = Summary {
        view: view.to_string(),
        ..Summary::default()
    };
    for no_transform in [false, true] {
        let group: Vec<&DeadLetter> = letters
            .iter()
            .filter(|d| d.no_transform == no_transform)
            .collect();
        if group.is_empty() {
            continue;
        }
        let pipeline = pipeline(no_transform).map_err(IngestError::Pipeline)?;
        let mut run = Run::new(&pipeline, store, engine, WriteMode::Merge, None);
        for chunk in group.chunks(pipeline.view().batch_size.max(1)) {
            run.batch(chunk.iter().map(|d| d.record()).collect(), Vec::new())?;
            on_batch(&run.summary);
        }
        total.add(run.finish(started));
    }
    total.total_time = started.elapsed();
    Ok(total)
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

/// The dead letter of a record that could not be read at all (a stream
/// record that is not a JSON object, say), keyed by `key`: its raw text
/// is kept under `_raw`, for a person to look at.
pub fn unreadable(
    view: &View,
    key: EntityKey,
    input: &str,
    line: usize,
    raw: &[u8],
    message: String,
    now: Micros,
) -> (EntityKey, Vec<u8>) {
    let now = now.rfc3339();
    let mut record = serde_json::Map::new();
    record.insert("_raw".into(), String::from_utf8_lossy(raw).into());
    let letter = DeadLetter {
        view: view.name.clone(),
        key: view.key_json(&key),
        field: None,
        kind: FailureKind::Input,
        message,
        attempts: 1,
        first_failed: now.clone(),
        last_failed: now,
        input: Some(input.into()),
        line,
        record,
        no_transform: false,
        base64: Vec::new(),
    };
    let bytes = serde_json::to_vec(&letter).expect("dead letters serialize");
    (key, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_reads_bytes_back_as_bytes_and_other_text_as_text() {
        let json = r#"{"view": "v", "key": 1, "field": "thumb", "kind": "input",
            "message": "m", "attempts": 1, "first_failed": "", "last_failed": "",
            "input": null, "line": 3, "record": {"sunk": "AKv/", "typed": "AKv/"},
            "base64": ["sunk"]}"#;
        let letter: DeadLetter = serde_json::from_str(json).unwrap();
        let record = letter.record();
        assert_eq!(record.get("sunk"), Some(&Value::Bytes(vec![0, 171, 255])));
        assert_eq!(record.get("typed"), Some(&Value::String("AKv/".into())));
        // Letters written before the field read as they always did.
        let mut old: serde_json::Value = serde_json::from_str(json).unwrap();
        old.as_object_mut().unwrap().remove("base64");
        let old: DeadLetter = serde_json::from_value(old).unwrap();
        assert_eq!(
            old.record().get("sunk"),
            Some(&Value::String("AKv/".into()))
        );
    }
}
