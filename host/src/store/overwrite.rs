//! The end of an overwrite publish: delete the keys the input did not hold
//! — but never a key another writer (a push, another publish) stored while
//! the publish ran, which would lose an acknowledged write.

use super::side::{DEAD_LETTER_CF, dead_letter_key};
use super::{EntityKey, Store, StoreError};
use rocksdb::WriteBatch;
use std::collections::HashSet;

/// While alive, the store remembers which keys of a view are written.
pub struct Tracking<'a> {
    store: &'a Store,
    view: String,
}

impl Drop for Tracking<'_> {
    fn drop(&mut self) {
        let mut tracked = self.store.tracked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((active, _)) = tracked.get_mut(&self.view) {
            *active -= 1;
            if *active == 0 {
                tracked.remove(&self.view);
            }
        }
    }
}

impl Store {
    /// Remember the keys of `view` written from now on, until the returned
    /// guard is dropped; [`Store::retain`] keeps them.
    pub fn track_writes(&self, view: &str) -> Tracking<'_> {
        let mut tracked = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        tracked.entry(view.to_string()).or_default().0 += 1;
        Tracking {
            store: self,
            view: view.to_string(),
        }
    }

    /// Called under the write lock, after a write of `keys` landed.
    pub(super) fn note_written(&self, view: &str, keys: &[EntityKey]) {
        let mut tracked = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, written)) = tracked.get_mut(view) {
            written.extend(keys.iter().cloned());
        }
    }

    /// Delete every key of `view` not in `keep` and not written since a
    /// [`Store::track_writes`] still alive (the end of an overwrite publish).
    /// Returns how many were deleted.
    pub fn retain(&self, view: &str, keep: &HashSet<EntityKey>) -> Result<u64, StoreError> {
        let cf = self.cf(view)?;
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let since: HashSet<EntityKey> = {
            let tracked = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
            tracked
                .get(view)
                .map(|(_, k)| k.clone())
                .unwrap_or_default()
        };
        let keep = |key: &EntityKey| keep.contains(key) || since.contains(key);
        let mut batch = WriteBatch::default();
        let mut log = self.log_batch();
        let mut deleted = 0;
        for item in self.db.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
            let (k, _) = item.map_err(|source| StoreError::Rocks {
                view: view.into(),
                op: "scan",
                source,
            })?;
            let key = EntityKey::decode(&k);
            if key.as_ref().is_none_or(|key| !keep(key)) {
                batch.delete_cf(&cf, k);
                deleted += 1;
                if let (Some(log), Some(key)) = (log.as_mut(), &key) {
                    log.deletion(key);
                }
            }
        }
        if let Some(log) = log {
            log.put_into(&mut batch, &self.log_cf(view)?);
        }
        let dl = self.cf_raw(DEAD_LETTER_CF)?;
        for (key, _) in self.dead_letters(view)? {
            if !keep(&key) {
                batch.delete_cf(&dl, dead_letter_key(view, &key));
            }
        }
        self.db.write(batch).map_err(|source| StoreError::Rocks {
            view: view.into(),
            op: "delete",
            source,
        })?;
        self.rows_changed();
        Ok(deleted)
    }
}
