//! Upkeep of the offline log (`log.rs`): seeding the log of a view stored
//! before the log existed, trimming the logs to their size cap, and
//! rebuilding a view's online rows from its log (`wafer materialize`).

use super::log::{LogBatch, written_of};
use super::{EntityKey, Store, StoreError, StoredRow};
use crate::time::Micros;
use rocksdb::WriteBatch;

/// What [`Store::materialize`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Materialized {
    pub view: String,
    pub as_of: Micros,
    /// Keys given their row as of the time.
    pub restored: u64,
    /// Keys deleted: a deletion was logged by then, or every entry of the
    /// key is later.
    pub deleted: u64,
}

/// Rows per RocksDB write while a view is rebuilt or its log seeded.
const BATCH: usize = 4096;

/// Entries are dropped for size a whole hour of write times at a time.
const TRIM_BUCKET_MICROS: i64 = 3_600_000_000;

/// In the default column family: a view whose online rows are in its log.
fn seeded_marker(view: &str) -> Vec<u8> {
    format!("offline-log-seeded:{view}").into_bytes()
}

impl Store {
    /// Rebuild `view`'s online rows from its log as of `at`: a key whose
    /// latest entry at or before `at` is a row gets that row; one whose
    /// latest is a deletion, or whose entries are all later, is deleted; a
    /// key the log has nothing of (dropped by retention, or written while
    /// the log was off) is left as it is. The log stays as it is. Rows come
    /// back without input digests, so the next publish computes their
    /// transformed fields again. Writes wait meanwhile; a crash part way
    /// leaves a mix that running it again mends.
    pub fn materialize(&self, view: &str, at: Micros) -> Result<Materialized, StoreError> {
        // Retention and the size cap go by write time, which says nothing
        // of the event times a materialize asks for: there is no time to
        // refuse, only the caveat documented above.
        if !self.log_policy().enabled {
            return Err(StoreError::LogOff { view: view.into() });
        }
        let cf = self.cf(view)?;
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut done = Materialized {
            view: view.into(),
            as_of: at,
            ..Materialized::default()
        };
        let mut batch = WriteBatch::default();
        // The key being read, and its latest entry at or before `at` (none:
        // every entry so far is later).
        let mut current: Option<(EntityKey, Option<Option<StoredRow>>)> = None;
        let mut land =
            |batch: &mut WriteBatch, (key, latest): (EntityKey, Option<Option<StoredRow>>)| {
                match latest.flatten() {
                    Some(row) => {
                        batch.put_cf(&cf, key.encode(), row.encode());
                        done.restored += 1;
                    }
                    None => {
                        batch.delete_cf(&cf, key.encode());
                        done.deleted += 1;
                    }
                }
            };
        for entry in self.log_entries(view)? {
            let entry = entry?;
            if current.as_ref().is_none_or(|(k, _)| *k != entry.key) {
                if let Some(finished) = current.take() {
                    land(&mut batch, finished);
                }
                if batch.len() >= BATCH {
                    self.write_batch(view, std::mem::take(&mut batch))?;
                }
                current = Some((entry.key.clone(), None));
            }
            if entry.event_time <= at {
                current.as_mut().expect("set above").1 = Some(entry.row);
            }
        }
        if let Some(finished) = current.take() {
            land(&mut batch, finished);
        }
        self.write_batch(view, batch)?;
        Ok(done)
    }

    /// Every write here may change a view's rows (a materialize does).
    fn write_batch(&self, view: &str, batch: WriteBatch) -> Result<(), StoreError> {
        let written = self.db.write(batch);
        self.rows_changed();
        written.map_err(|source| self.rocks(view, "write", source))
    }

    /// With the log on, log the online rows of every view whose log has not
    /// got them yet (a store written before the log existed, or while it
    /// was off). Each view's rows are logged at their event times with a
    /// marker in the last write: a crash part way seeds again, and a row
    /// logged twice is the same row at the same time.
    pub fn seed_logs(&self) -> Result<(), StoreError> {
        let families = self
            .families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let views = families.iter().filter_map(|n| n.strip_prefix("view:"));
        if !self.log_policy().enabled {
            // What is written from now on is not logged: seed again when
            // the log is back on.
            let mut batch = WriteBatch::default();
            views.for_each(|view| batch.delete(seeded_marker(view)));
            return self.write_batch("(all)", batch);
        }
        for view in views {
            let seeded = self.db.get(seeded_marker(view));
            let seeded = seeded.map_err(|source| self.rocks(view, "read", source))?;
            if seeded.is_none() && self.log_cf(view).is_ok() {
                self.seed_log(view)?;
            }
        }
        Ok(())
    }

    fn seed_log(&self, view: &str) -> Result<(), StoreError> {
        let (cf, log_cf) = (self.cf(view)?, self.log_cf(view)?);
        tracing::info!(
            view,
            "logging the view's stored rows in its offline log (once)"
        );
        // Writes wait: a row they change is logged once, after its old self.
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut log = LogBatch::new(self.log_clock.tick());
        for item in self.db.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
            let (k, v) = item.map_err(|source| self.rocks(view, "scan", source))?;
            // A row that does not decode stays online, where a read reports it.
            let (Some(key), Ok(row)) = (EntityKey::decode(&k), StoredRow::decode(&v)) else {
                continue;
            };
            log.row(&key, &row);
            if log.len() >= BATCH {
                let full = std::mem::replace(&mut log, LogBatch::new(self.log_clock.tick()));
                let mut batch = WriteBatch::default();
                full.put_into(&mut batch, &log_cf);
                self.write_batch(view, batch)?;
            }
        }
        let mut batch = WriteBatch::default();
        log.put_into(&mut batch, &log_cf);
        batch.put(seeded_marker(view), []);
        self.write_batch(view, batch)
    }

    /// Drop the oldest written entries of every view's log, whole hours of
    /// write time at a time (never past now), until the logs fit
    /// `max_bytes` (RocksDB's estimate of their size); returns the write
    /// time before which entries went, if any had to. A scan of the logs,
    /// for a background task: cheap when they fit.
    pub fn trim_log(&self) -> Result<Option<Micros>, StoreError> {
        let started = Micros::now();
        let policy = self.log_policy();
        let logs: Vec<(String, u64)> = (self.sizes().into_iter())
            .filter(|(name, ..)| name.starts_with("log:"))
            .map(|(name, disk, memory)| (name, disk + memory))
            .collect();
        let total: u64 = logs.iter().map(|(_, b)| b).sum();
        let Some(max) = policy.max_bytes.filter(|max| total > *max) else {
            return Ok(None);
        };
        let hours = self.log_bytes_by_hour(&logs)?;
        // The share of the raw bytes to drop is the share of the estimate
        // over the cap.
        let raw: u64 = hours.values().sum();
        let to_drop = (raw as f64 * (total - max) as f64 / total as f64).ceil() as u64;
        let (mut dropped, mut cutoff) = (0, None);
        for (hour, bytes) in &hours {
            if dropped >= to_drop {
                break;
            }
            dropped += bytes;
            // Entries written after the trim began are never its to drop.
            cutoff = Some(Micros(((hour + 1) * TRIM_BUCKET_MICROS).min(started.0)));
        }
        let Some(cutoff) = cutoff else {
            return Ok(None);
        };
        self.log_clock.raise(cutoff);
        self.tuning.raise_log_cutoff(cutoff);
        for (name, _) in &logs {
            self.compact_family(&self.cf_raw(name)?);
        }
        Ok(Some(cutoff))
    }

    /// Bytes of key and value per hour of write time, oldest first.
    fn log_bytes_by_hour(
        &self,
        logs: &[(String, u64)],
    ) -> Result<std::collections::BTreeMap<i64, u64>, StoreError> {
        let mut hours = std::collections::BTreeMap::<i64, u64>::new();
        for (name, _) in logs {
            let cf = self.cf_raw(name)?;
            for item in self.db.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
                let (k, v) = item.map_err(|source| self.rocks(name, "scan", source))?;
                let hour = written_of(&k).map_or(0, |w| w.0.div_euclid(TRIM_BUCKET_MICROS));
                *hours.entry(hour).or_default() += (k.len() + v.len()) as u64;
            }
        }
        Ok(hours)
    }
}
