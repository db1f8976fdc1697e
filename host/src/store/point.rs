//! Point reads of a view's rows: a batch of keys in one read, from
//! anywhere (RocksDB's MultiGet) or from memory only, for a reader that
//! may not wait on a file (an async worker).

use super::{EntityKey, Store, StoreError, StoredRow};
use rocksdb::BoundColumnFamily;
use std::sync::Arc;

/// Where a read may look for its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The memtables, RocksDB's block cache, the OS's cache or the disk.
    Anywhere,
    /// The memtables and RocksDB's block cache only: a read that would
    /// need a file fails with [`StoreError::NotInMemory`] at once instead
    /// of waiting on it, so it may run where waiting is not allowed (an
    /// async worker).
    Memory,
}

impl Store {
    /// The stored rows for `keys`, in order, in one batched read.
    pub fn get_many(
        &self,
        view: &str,
        keys: &[EntityKey],
    ) -> Result<Vec<Option<StoredRow>>, StoreError> {
        self.multi_get(view, keys, Reach::Anywhere, |_, b| StoredRow::decode(b))
    }

    /// One read of `keys` within `reach`, each row found decoded by
    /// `decode`: batched from anywhere, key by key from memory (nothing is
    /// decoded unless every key was read).
    pub(super) fn multi_get<T>(
        &self,
        view: &str,
        keys: &[EntityKey],
        reach: Reach,
        mut decode: impl FnMut(usize, &[u8]) -> Result<T, String>,
    ) -> Result<Vec<Option<T>>, StoreError> {
        let cf = self.cf(view)?;
        let encoded: Vec<Vec<u8>> = keys.iter().map(EntityKey::encode).collect();
        let read = |source| self.read_error(view, reach, source);
        let found: Vec<Option<rocksdb::DBPinnableSlice<'_>>> = match reach {
            Reach::Anywhere => (self.db.batched_multi_get_cf(&cf, &encoded, false))
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(read)?,
            Reach::Memory => self.gets_in_memory(&cf, &encoded).map_err(read)?,
        };
        (keys.iter().zip(found).enumerate())
            .map(|(i, (key, slice))| {
                let row = slice.map(|s| decode(i, &s)).transpose();
                row.map_err(|message| StoreError::Corrupt {
                    view: view.into(),
                    key: key.to_string(),
                    message,
                })
            })
            .collect()
    }

    /// `keys` read one by one from memory, up to the first that is not all
    /// there. Key by key, as RocksDB's MultiGet reads a block from its file
    /// even when its `read_tier` says not to (`Get` honours it; the tests
    /// below hold the store to it). From the memtable, as fast as a
    /// MultiGet (`callgrind`: 5 % fewer instructions for 100 keys); from
    /// the block cache not measured, where MultiGet's batching of index and
    /// cache look-ups may be worth more.
    fn gets_in_memory(
        &self,
        cf: &Arc<BoundColumnFamily<'_>>,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<rocksdb::DBPinnableSlice<'_>>>, rocksdb::Error> {
        let mut opts = rocksdb::ReadOptions::default();
        opts.set_read_tier(rocksdb::ReadTier::BlockCache);
        (keys.iter())
            .map(|key| self.db.get_pinned_cf_opt(cf, key, &opts))
            .collect()
    }

    /// A failed read of `view`: from memory, a row that is not all there
    /// (the caller reads again where it may wait); otherwise RocksDB's
    /// error.
    fn read_error(&self, view: &str, reach: Reach, source: rocksdb::Error) -> StoreError {
        match source.kind() {
            rocksdb::ErrorKind::Incomplete if reach == Reach::Memory => {
                StoreError::NotInMemory { view: view.into() }
            }
            _ => self.rocks(view, "read", source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FieldIndex, WriteMode};
    use super::*;
    use crate::value::Value;

    /// A read that may not wait on a file refuses rows that are only in one
    /// (not an error of the store: the caller reads again where it may wait),
    /// and reads them from the memtable or once a read that could wait has
    /// brought them into RocksDB's block cache (which a flush does not
    /// fill: RocksDB's `prepopulate_block_cache` is off).
    #[test]
    fn a_read_in_memory_refuses_rows_only_in_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut wanted = FieldIndex::default();
        wanted.insert("a");
        let keys = [EntityKey::Int(1), EntityKey::Int(2)];
        let read =
            |s: &Store, reach| s.get_wanted::<Vec<Value>>("v", &keys, (&wanted, |_| true), reach);
        let s = Store::open(dir.path(), ["v"]).unwrap();
        let row = StoredRow {
            event_time: crate::time::Micros(5),
            fields: vec![("a".into(), Value::Int64(10))],
            inputs: vec![],
        };
        s.write("v", vec![(EntityKey::Int(1), row)], WriteMode::Merge)
            .unwrap();
        let found = [Value::Int64(10), Value::Null];
        assert_eq!(read(&s, Reach::Memory).unwrap().columns[0], found);
        s.flush().unwrap();
        drop(s);
        let s = Store::open(dir.path(), ["v"]).unwrap();
        match read(&s, Reach::Memory) {
            Err(StoreError::NotInMemory { view }) => assert_eq!(view, "v"),
            other => panic!("{other:?}"),
        }
        assert_eq!(read(&s, Reach::Anywhere).unwrap().columns[0], found);
        assert_eq!(read(&s, Reach::Memory).unwrap().columns[0], found);
    }
}
