//! A batch's stored rows, read once before its write takes the store's
//! lock and used twice: by the pipeline (is a transformed value's input
//! unchanged?) and by the merge, when no write to any view's rows landed
//! in between. A merge that reread them under the lock read the same keys
//! a second time (callgrind: 13 % of landing a batch of one-row pushes,
//! and 6.2 k of a published row's 32.1 k instructions).

use super::{EntityKey, Store, StoreError, StoredRow};
use std::sync::atomic::Ordering;

/// Stored rows of a view's keys, as read at one moment.
#[derive(Debug)]
pub struct RowsRead {
    view: String,
    /// The store's count of row writes before the read.
    version: u64,
    keys: Vec<EntityKey>,
    rows: Vec<Option<StoredRow>>,
}

impl RowsRead {
    /// The row of each key, in the order asked.
    pub fn rows(&self) -> &[Option<StoredRow>] {
        &self.rows
    }
}

impl Store {
    /// The stored rows of `keys` in `view`, in one batched read, marked
    /// so a write can tell whether they are still the latest.
    pub fn read_rows(&self, view: &str, keys: Vec<EntityKey>) -> Result<RowsRead, StoreError> {
        // Loaded before reading: a write landing during the read bumps it
        // after its rows are in, so the read is then seen as stale, never
        // the other way round.
        let version = self.rows_version.load(Ordering::Acquire);
        let rows = self.get_many(view, &keys)?;
        Ok(RowsRead {
            view: view.into(),
            version,
            keys,
            rows,
        })
    }

    /// Count a write to some view's rows. Called after the write, holding
    /// the write lock, by everything that changes a view's rows (a count
    /// more than needed, e.g. for a failed write, only costs a read).
    pub(super) fn rows_changed(&self) {
        self.rows_version.fetch_add(1, Ordering::Release);
    }

    /// `read`'s rows by key, when it is of `view`, holds every key of
    /// `rows` (in their order, as a pipeline reads them: others may come
    /// between) and no write to any view's rows landed since it was made
    /// (the caller holds the write lock, so none can land meanwhile);
    /// `None` when they must be read again.
    pub(super) fn still_current(
        &self,
        view: &str,
        rows: &[(EntityKey, StoredRow)],
        read: Option<RowsRead>,
    ) -> Option<impl Iterator<Item = (EntityKey, StoredRow)> + use<>> {
        let read = read.filter(|r| r.view == view)?;
        if read.version != self.rows_version.load(Ordering::Acquire) {
            return None;
        }
        let mut read_keys = read.keys.iter();
        if !(rows.iter()).all(|(key, _)| read_keys.any(|k| k == key)) {
            return None;
        }
        let rows = read.keys.into_iter().zip(read.rows);
        Some(rows.filter_map(|(k, row)| Some((k, row?))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Alongside, WriteMode};
    use crate::time::Micros;
    use crate::value::Value;

    fn row(ts: i64, field: &str, v: i64) -> StoredRow {
        StoredRow {
            event_time: Micros(ts),
            fields: vec![(field.into(), Value::Int64(v))],
            inputs: vec![],
        }
    }

    fn merge(s: &Store, view: &str, new: StoredRow, read: Option<RowsRead>) {
        let rows = vec![(EntityKey::Int(1), new)];
        let also = Alongside::default();
        s.write_with(view, rows, also, WriteMode::Merge, read)
            .unwrap();
    }

    fn fields(s: &Store) -> Vec<(String, Value)> {
        let got = s.get_many("v", &[EntityKey::Int(1)]).unwrap();
        got[0].clone().unwrap().fields
    }

    #[test]
    fn a_current_read_is_merged_with_and_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), ["v"]).unwrap();
        merge(&s, "v", row(1, "a", 1), None);
        // What the merge starts from shows which rows it used: these, as
        // nothing was written since the read (only a test makes them up).
        let mut read = s.read_rows("v", vec![EntityKey::Int(1)]).unwrap();
        read.rows[0] = Some(row(1, "made_up", 7));
        merge(&s, "v", row(2, "b", 2), Some(read));
        let names: Vec<String> = fields(&s).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["made_up", "b"]);
    }

    #[test]
    fn a_read_older_than_a_write_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), ["v", "u"]).unwrap();
        merge(&s, "v", row(1, "a", 1), None);
        let read = s.read_rows("v", vec![EntityKey::Int(1)]).unwrap();
        merge(&s, "v", row(2, "b", 2), None);
        merge(&s, "v", row(3, "c", 3), Some(read));
        let names: Vec<String> = fields(&s).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b", "c"], "the write of b is kept");
        // A current read of another view's rows is not taken for this view's.
        let other_view = s.read_rows("u", vec![EntityKey::Int(1)]).unwrap();
        merge(&s, "v", row(4, "d", 4), Some(other_view));
        assert_eq!(fields(&s).len(), 4);
    }

    fn names(s: &Store, key: i64) -> Vec<String> {
        let got = s.get_many("v", &[EntityKey::Int(key)]).unwrap();
        let row = got[0].clone().unwrap_or_else(|| row(0, "none", 0));
        row.fields.into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn a_read_without_a_written_key_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), ["v"]).unwrap();
        let (one, two) = (EntityKey::Int(1), EntityKey::Int(2));
        let rows = vec![(two.clone(), row(1, "a", 1))];
        s.write_with("v", rows, Alongside::default(), WriteMode::Merge, None)
            .unwrap();
        let read = s.read_rows("v", vec![one.clone()]).unwrap();
        let rows = vec![(one, row(2, "b", 2)), (two, row(2, "c", 2))];
        s.write_with(
            "v",
            rows,
            Alongside::default(),
            WriteMode::Merge,
            Some(read),
        )
        .unwrap();
        assert_eq!(names(&s, 2), ["a", "c"], "key 2 merged with its stored row");
    }

    #[test]
    fn a_read_older_than_a_delete_or_a_materialize_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), ["v"]).unwrap();
        merge(&s, "v", row(1, "a", 1), None);
        let read = s.read_rows("v", vec![EntityKey::Int(1)]).unwrap();
        // An overwrite publish's final delete drops the key.
        s.retain("v", &Default::default()).unwrap();
        merge(&s, "v", row(2, "b", 2), Some(read));
        assert_eq!(names(&s, 1), ["b"], "the deleted row does not come back");
        merge(&s, "v", row(3, "c", 3), None);
        let read = s.read_rows("v", vec![EntityKey::Int(1)]).unwrap();
        // Back to how the row stood at 2, from the offline log.
        s.materialize("v", Micros(2)).unwrap();
        merge(&s, "v", row(4, "d", 4), Some(read));
        assert_eq!(
            names(&s, 1),
            ["b", "d"],
            "c, undone by the materialize, stays undone"
        );
    }
}
