//! A batch of rows into a view: merged with the stored rows (merge mode)
//! or replacing them, in one atomic `WriteBatch` with its dead letters, its
//! source offsets, its sink outbox entries and its offline log entries.

use super::log::LogBatch;
use super::side::{DEAD_LETTER_CF, dead_letter_key};
use super::{Alongside, EntityKey, RowsRead, Store, StoreError, StoredRow, WriteMode, WriteStats};
use rocksdb::WriteBatch;
use std::collections::HashMap;

impl Store {
    /// Write a batch of rows atomically.
    pub fn write(
        &self,
        view: &str,
        rows: Vec<(EntityKey, StoredRow)>,
        mode: WriteMode,
    ) -> Result<WriteStats, StoreError> {
        self.write_with(view, rows, Alongside::default(), mode, None)
    }

    /// Write a batch of rows with its dead letters and source offsets
    /// atomically, so a crash never leaves a row both stored and
    /// dead-lettered, or neither, nor rows without the offset past them.
    /// Every key in `rows` (written or stale) has its dead letter cleared;
    /// then `also.dead` is put. Rows of a view with a sink also go to its
    /// outbox, and every row (stale ones too) to the offline log, in the
    /// same write.
    ///
    /// `read`, the stored rows of (at least) every key in `rows`, read
    /// before (by the batch's pipeline), is merged with when no row write
    /// landed since; else, or if it lacks a key, the rows are read again.
    pub fn write_with(
        &self,
        view: &str,
        rows: Vec<(EntityKey, StoredRow)>,
        also: Alongside,
        mode: WriteMode,
        read: Option<RowsRead>,
    ) -> Result<WriteStats, StoreError> {
        let cf = self.cf(view)?;
        let dl = self.cf_raw(DEAD_LETTER_CF)?;
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = WriteBatch::default();
        self.clear_dead_letters(&mut batch, view, &rows)?;
        let mut log = self.log_batch();
        let read = self.still_current(view, &rows, read);
        let (next, touched, stats) = self.combine(view, rows, mode, read, log.as_mut())?;
        for key in &touched {
            batch.put_cf(&cf, key.encode(), next[key].encode());
        }
        if let Some(log) = log {
            log.put_into(&mut batch, &self.log_cf(view)?);
        }
        if !also.dead.is_empty() {
            self.dead_letters_coming(view);
        }
        for (key, record) in &also.dead {
            batch.put_cf(&dl, dead_letter_key(view, key), record);
        }
        self.add_stream_writes(&mut batch, view, (&touched, &next), &also.offsets)?;
        let written = self.db.write(batch);
        self.rows_changed();
        written.map_err(|source| StoreError::Rocks {
            view: view.into(),
            op: "write",
            source,
        })?;
        self.note_written(view, &touched);
        if !touched.is_empty() {
            self.outbox_changed.notify_waiters();
        }
        Ok(stats)
    }

    /// The rows to store after this batch (merged with stored ones in merge
    /// mode), the sorted keys that change, and what happened; each row as
    /// it lands (merged, or as it came if stale) goes to `log`. `read`: the
    /// stored rows, when read already (they may hold keys not in `rows`).
    #[allow(clippy::type_complexity)]
    fn combine(
        &self,
        view: &str,
        rows: Vec<(EntityKey, StoredRow)>,
        mode: WriteMode,
        read: Option<impl Iterator<Item = (EntityKey, StoredRow)>>,
        mut log: Option<&mut LogBatch>,
    ) -> Result<(HashMap<EntityKey, StoredRow>, Vec<EntityKey>, WriteStats), StoreError> {
        let mut stats = WriteStats::default();
        let mut next: HashMap<EntityKey, StoredRow> = HashMap::with_capacity(rows.len());
        if mode == WriteMode::Merge {
            match read {
                Some(read) => next.extend(read),
                None => next.extend(self.stored_of(view, &rows)?),
            }
        }
        let mut touched = Vec::with_capacity(rows.len());
        for (i, (key, row)) in rows.into_iter().enumerate() {
            match (mode, next.get_mut(&key)) {
                (WriteMode::Merge, Some(old)) if old.event_time > row.event_time => {
                    stats.stale += 1;
                    stats.stale_rows.push(i);
                    if let Some(log) = log.as_deref_mut() {
                        log.row(&key, &row);
                    }
                    continue;
                }
                (WriteMode::Merge, Some(old)) => {
                    merge_into(old, row);
                    if let Some(log) = log.as_deref_mut() {
                        log.row(&key, old);
                    }
                }
                _ => {
                    let slot = next.entry(key.clone()).insert_entry(row);
                    if let Some(log) = log.as_deref_mut() {
                        log.row(&key, slot.get());
                    }
                }
            }
            stats.written += 1;
            touched.push(key);
        }
        touched.sort();
        touched.dedup();
        Ok((next, touched, stats))
    }
}

impl Store {
    /// Delete the dead letters of `rows`' keys, if `view` may have any:
    /// only those that exist, as a tombstone per written row would double
    /// the cost of every write for the rare failed row.
    fn clear_dead_letters(
        &self,
        batch: &mut WriteBatch,
        view: &str,
        rows: &[(EntityKey, StoredRow)],
    ) -> Result<(), StoreError> {
        if !self.may_have_dead_letters(view)? {
            return Ok(());
        }
        let dl = self.cf_raw(DEAD_LETTER_CF)?;
        let keys: Vec<EntityKey> = rows.iter().map(|(k, _)| k.clone()).collect();
        for (key, old) in keys.iter().zip(self.dead_letters_get(view, &keys)?) {
            if old.is_some() {
                batch.delete_cf(&dl, dead_letter_key(view, key));
            }
        }
        Ok(())
    }

    /// The stored rows of `rows`' keys, each key once.
    fn stored_of(
        &self,
        view: &str,
        rows: &[(EntityKey, StoredRow)],
    ) -> Result<Vec<(EntityKey, StoredRow)>, StoreError> {
        let mut keys: Vec<EntityKey> = rows.iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        let stored = self.get_many(view, &keys)?;
        Ok((keys.into_iter().zip(stored))
            .filter_map(|(k, row)| Some((k, row?)))
            .collect())
    }
}

/// Incoming fields replace stored ones of the same name, input digests
/// included (a replaced field keeps no stale digest); the row takes the
/// incoming (newer or equal) event time.
fn merge_into(old: &mut StoredRow, new: StoredRow) {
    old.event_time = new.event_time;
    old.inputs
        .retain(|(n, _)| !new.fields.iter().any(|(f, _)| f == n));
    old.inputs.extend(new.inputs);
    for (name, value) in new.fields {
        match old.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => old.fields.push((name, value)),
        }
    }
}
