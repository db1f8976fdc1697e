//! The offline feature log: every row a write stores, with its event time
//! and its write time, in a column family per view (`log:<view>`), put in
//! the same atomic write as the online row, so the two never disagree and a
//! crash loses neither. A row the online store skips because it holds a
//! newer event (a backfill) is logged too: it was the value at its time.
//! An overwrite publish's deletions are logged as deletions.
//!
//! Key:   the entity key, prefix-free (`EntityKey::encode_prefix_free`), then
//!        the event time and the write time (each `i64 ^ i64::MIN`, big
//!        endian: sorts like the integer), then the row's place in its write
//!        (`u32` BE). One key's entries are contiguous, oldest event first;
//!        of equal event times the last written sorts last.
//! Value: what the online store holds after this row (a backfill: the row as
//!        it came), without input digests (`codec.rs`, version 1), or empty
//!        for a deletion.

use super::{DB, EntityKey, Store, StoreError, StoredRow};
use crate::time::Micros;
use rocksdb::{DBRawIteratorWithThreadMode, WriteBatch};
use std::sync::atomic::{AtomicI64, Ordering};

/// The column family of `view`'s log.
pub(super) fn log_cf_name(view: &str) -> String {
    format!("log:{view}")
}

/// How much of the log is kept: `[store] offline_log*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPolicy {
    pub enabled: bool,
    /// Entries written longer ago go as RocksDB compacts them.
    pub retention: Option<std::time::Duration>,
    /// Past this many bytes (every view's log together), the oldest
    /// written entries go ([`Store::trim_log`]).
    pub max_bytes: Option<u64>,
}

impl Default for LogPolicy {
    fn default() -> Self {
        LogPolicy {
            enabled: true,
            retention: None,
            max_bytes: None,
        }
    }
}

/// Write times that only go forward within a process, so the last write of
/// a row wins a tie of event times even if the wall clock steps back while
/// it runs (across a restart, the wall clock is trusted).
#[derive(Debug, Default)]
pub(super) struct LogClock(AtomicI64);

impl LogClock {
    pub(super) fn tick(&self) -> Micros {
        let now = Micros::now().0;
        let prev = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(now.max(p.saturating_add(1)))
            })
            .expect("the closure always answers");
        Micros(now.max(prev.saturating_add(1)))
    }

    /// From now on, write times after `t` (a trim's cutoff: a clock that
    /// steps back must not write entries the trim would drop).
    pub(super) fn raise(&self, t: Micros) {
        self.0.fetch_max(t.0, Ordering::Relaxed);
    }
}

fn flip(t: Micros) -> [u8; 8] {
    ((t.0 ^ i64::MIN) as u64).to_be_bytes()
}

fn unflip(b: &[u8]) -> Option<Micros> {
    Some(Micros(
        (u64::from_be_bytes(b.try_into().ok()?) as i64) ^ i64::MIN,
    ))
}

/// One write's log entries, in the order its rows came.
pub(super) struct LogBatch {
    written: Micros,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl LogBatch {
    pub(super) fn new(written: Micros) -> Self {
        LogBatch {
            written,
            entries: Vec::new(),
        }
    }

    /// `row` as of its event time.
    pub(super) fn row(&mut self, key: &EntityKey, row: &StoredRow) {
        let k = self.key(key, row.event_time);
        self.entries.push((k, row.encode_without_inputs()));
    }

    /// `key` deleted, as of the write.
    pub(super) fn deletion(&mut self, key: &EntityKey) {
        let k = self.key(key, self.written);
        self.entries.push((k, Vec::new()));
    }

    fn key(&self, key: &EntityKey, event: Micros) -> Vec<u8> {
        let mut k = Vec::with_capacity(40);
        key.encode_prefix_free(&mut k);
        k.extend_from_slice(&flip(event));
        k.extend_from_slice(&flip(self.written));
        let index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        k.extend_from_slice(&index.to_be_bytes());
        k
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn put_into(self, batch: &mut WriteBatch, cf: &impl rocksdb::AsColumnFamilyRef) {
        for (k, v) in self.entries {
            batch.put_cf(cf, k, v);
        }
    }
}

/// The write time of a log entry, from its key's tail (for retention).
pub(super) fn written_of(key: &[u8]) -> Option<Micros> {
    let tail = key.len().checked_sub(12)?;
    unflip(&key[tail..tail + 8])
}

/// One entry of a view's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub key: EntityKey,
    pub event_time: Micros,
    pub written: Micros,
    /// `None`: the key was deleted.
    pub row: Option<StoredRow>,
}

fn decode_entry(view: &str, k: &[u8], v: &[u8]) -> Result<LogEntry, StoreError> {
    let corrupt = |message: &str| StoreError::Corrupt {
        view: view.into(),
        key: format!("offline log entry {k:02x?}"),
        message: message.into(),
    };
    let (key, tail) = EntityKey::decode_prefix_free(k).ok_or_else(|| corrupt("bad key"))?;
    let (Some(event_time), Some(written), 4) = (
        unflip(tail.get(..8).unwrap_or(&[])),
        written_of(k),
        tail.len().saturating_sub(16),
    ) else {
        return Err(corrupt("bad times"));
    };
    let row = match v {
        [] => None,
        v => Some(StoredRow::decode(v).map_err(|m| corrupt(&m))?),
    };
    Ok(LogEntry {
        key,
        event_time,
        written,
        row,
    })
}

/// Point-in-time reads of one view's log through one iterator that walks
/// forward: asked in ascending (key, time) order, as an export's sorted
/// spine asks, the log is read once, front to back, each block decoded
/// once. A seek per question costs a block read and decompression each
/// (most of an export's time when measured); a step costs a comparison.
/// Asked out of order, it seeks back and is still right, only slower.
pub struct LogScan<'a> {
    view: String,
    iter: DBRawIteratorWithThreadMode<'a, DB>,
    /// The last question's bound: a lower one means seeking back.
    bound: Vec<u8>,
    spare: Vec<u8>,
    /// The latest entry at or before the last bound, of that question's
    /// key: its event time and value, copied because the iterator moves on
    /// (the value only: a scan copies nearly every entry of the log).
    held: Option<(Micros, Vec<u8>)>,
    started: bool,
}

/// Entries of other keys stepped over before seeking to the wanted key
/// instead: a seek costs about as much as this many steps.
const STEPS_BEFORE_SEEK: usize = 16;

impl LogScan<'_> {
    /// The logged value (`StoredRow` bytes; see [`super::Projector`]) of the
    /// key whose prefix-free encoding is `key`: its latest entry with an
    /// event time at or before `at` (the last written of equal event
    /// times), unless older than `since`. `None` for none, or a deletion.
    pub fn as_of(
        &mut self,
        key: &[u8],
        at: Micros,
        since: Option<Micros>,
    ) -> Result<Option<&[u8]>, StoreError> {
        // The last bound's buffer, reused: a scan asks millions of times.
        let mut bound = std::mem::take(&mut self.spare);
        bound.clear();
        bound.extend_from_slice(key);
        bound.extend_from_slice(&flip(at));
        bound.extend_from_slice(&[0xFF; 12]);
        if !self.started || bound < self.bound {
            self.iter.seek(key);
            self.held = None;
            self.started = true;
        }
        // What is held is of the last question's key (a bound's head).
        let same_key = self.bound.len() == bound.len() && self.bound.starts_with(key);
        if !same_key {
            self.held = None;
        }
        self.walk(key, &bound)?;
        self.spare = std::mem::replace(&mut self.bound, bound);
        let Some((event, v)) = &self.held else {
            return Ok(None);
        };
        let recent = since.is_none_or(|s| *event >= s);
        Ok((recent && !v.is_empty()).then_some(v.as_slice()))
    }

    /// Step up to `bound`, holding the last entry of `key` on the way; past
    /// a run of other keys, seek to `key`.
    fn walk(&mut self, key: &[u8], bound: &[u8]) -> Result<(), StoreError> {
        let mut others = 0;
        while let Some(k) = self.iter.key() {
            if k > bound {
                break;
            }
            // Prefix-free keys: an entry starting with `key` is of `key`.
            if k.starts_with(key) {
                let event = (k.get(key.len()..key.len() + 8)).and_then(unflip);
                let Some(event) = event else {
                    return Err(corrupt_value(
                        &self.view,
                        format!("log key {k:02x?}: no event time"),
                    ));
                };
                let held = self.held.get_or_insert_with(|| (event, Vec::new()));
                held.0 = event;
                held.1.clear();
                held.1.extend_from_slice(self.iter.value().unwrap_or(&[]));
            } else {
                others += 1;
                if others > STEPS_BEFORE_SEEK {
                    self.iter.seek(key);
                    others = 0;
                    continue;
                }
            }
            self.iter.next();
        }
        self.iter.status().map_err(|source| StoreError::Rocks {
            view: self.view.clone(),
            op: "read the offline log",
            source,
        })
    }

    /// `key`'s whole row as of `at`, for tests.
    #[cfg(test)]
    pub(crate) fn row_as_of(
        &mut self,
        key: &EntityKey,
        at: Micros,
        since: Option<Micros>,
    ) -> Result<Option<StoredRow>, StoreError> {
        let mut k = Vec::new();
        key.encode_prefix_free(&mut k);
        let view = self.view.clone();
        let v = self.as_of(&k, at, since)?;
        v.map(|v| StoredRow::decode(v).map_err(|m| corrupt_value(&view, m)))
            .transpose()
    }
}

/// A logged value that does not decode.
pub(super) fn corrupt_value(view: &str, message: String) -> StoreError {
    StoreError::Corrupt {
        view: view.into(),
        key: "an offline log entry".into(),
        message,
    }
}

impl Store {
    /// A point-in-time reader of `view`'s log. It reads ahead and leaves
    /// the block cache alone: a scan reads each block once, and would only
    /// push out the blocks lookups want.
    pub fn log_scan(&self, view: &str) -> Result<LogScan<'_>, StoreError> {
        let cf = self.log_cf(view)?;
        let mut opts = rocksdb::ReadOptions::default();
        opts.fill_cache(false);
        opts.set_readahead_size(2 << 20);
        Ok(LogScan {
            view: view.into(),
            iter: self.db.raw_iterator_cf_opt(&cf, opts),
            bound: Vec::new(),
            spare: Vec::new(),
            held: None,
            started: false,
        })
    }

    /// Every entry of `view`'s log, in key order and, per key, in event
    /// then write order.
    pub fn log_entries(
        &self,
        view: &str,
    ) -> Result<impl Iterator<Item = Result<LogEntry, StoreError>> + '_, StoreError> {
        let cf = self.log_cf(view)?;
        let view = view.to_string();
        let iter = self.db.iterator_cf(&cf, rocksdb::IteratorMode::Start);
        Ok(iter.map(move |item| {
            let (k, v) = item.map_err(|source| StoreError::Rocks {
                view: view.clone(),
                op: "scan the offline log",
                source,
            })?;
            decode_entry(&view, &k, &v)
        }))
    }

    pub(super) fn log_cf(
        &self,
        view: &str,
    ) -> Result<std::sync::Arc<rocksdb::BoundColumnFamily<'_>>, StoreError> {
        self.cf_raw(&log_cf_name(view))
            .map_err(|_| StoreError::UnknownView { view: view.into() })
    }

    /// A new batch of log entries, or none when the log is off.
    pub(super) fn log_batch(&self) -> Option<LogBatch> {
        (self.log_policy().enabled).then(|| LogBatch::new(self.log_clock.tick()))
    }

    /// Whether the logs have a size cap to hold them to.
    pub fn log_capped(&self) -> bool {
        let policy = self.log_policy();
        policy.enabled && policy.max_bytes.is_some()
    }

    pub fn log_policy(&self) -> LogPolicy {
        *self.log_policy.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_log_policy(&self, policy: LogPolicy) {
        *self.log_policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
        self.tuning.set_log_retention(policy.retention);
    }
}
