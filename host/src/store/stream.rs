//! The store's stream tables. Each source's next offset per partition is
//! written in the same atomic write as the rows it covers: a restart, or a
//! replica restored from a backup, resumes exactly where the store stands,
//! whatever the broker delivered twice. Each sink's outbox holds the rows
//! its views stored, also written with them, until the sink's topic has
//! taken them: a crash between the store and the topic loses nothing.

use super::{EntityKey, Store, StoreError, StoredRow};
use rocksdb::WriteBatch;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

/// source name + `0x00` + partition (i32 BE) -> next offset (i64 LE).
pub(super) const OFFSETS_CF: &str = "source-offsets";

/// sink name + `0x00` + sequence (u64 BE) -> view, key and row (see
/// [`encode_entry`]).
pub(super) const OUTBOX_CF: &str = "sink-outbox";

/// A source partition's next offset, landing with the rows before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOffset {
    pub source: String,
    pub partition: i32,
    pub next: i64,
}

/// What lands in the same atomic write as a batch's rows.
#[derive(Debug, Default)]
pub struct Alongside {
    /// Dead letters of the batch's failed rows (see `ingest::deadletter`).
    pub dead: Vec<(EntityKey, Vec<u8>)>,
    pub offsets: Vec<SourceOffset>,
}

/// One stored row waiting in a sink's outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub seq: u64,
    pub view: String,
    pub key: EntityKey,
    pub row: StoredRow,
}

fn prefixed(name: &str, tail: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 1 + tail.len());
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k.extend_from_slice(tail);
    k
}

fn encode_entry(view: &str, key: &EntityKey, row: &StoredRow) -> Vec<u8> {
    let (view, key) = (view.as_bytes(), key.encode());
    let mut b = Vec::with_capacity(8 + view.len() + key.len() + 64);
    b.extend_from_slice(&(view.len() as u32).to_le_bytes());
    b.extend_from_slice(view);
    b.extend_from_slice(&(key.len() as u32).to_le_bytes());
    b.extend_from_slice(&key);
    b.extend_from_slice(&row.encode());
    b
}

fn decode_entry(seq: u64, b: &[u8]) -> Result<OutboxEntry, String> {
    let mut rest = b;
    let mut take = || -> Result<&[u8], String> {
        let (n, tail) = rest.split_at_checked(4).ok_or("truncated")?;
        let n = u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize;
        let (part, tail) = tail.split_at_checked(n).ok_or("truncated")?;
        rest = tail;
        Ok(part)
    };
    let view = String::from_utf8(take()?.to_vec()).map_err(|e| e.to_string())?;
    let key = EntityKey::decode(take()?).ok_or("bad key")?;
    let row = StoredRow::decode(rest)?;
    Ok(OutboxEntry {
        seq,
        view,
        key,
        row,
    })
}

impl Store {
    /// The next offset of each partition of `source` that has one.
    pub fn source_offsets(&self, source: &str) -> Result<BTreeMap<i32, i64>, StoreError> {
        let cf = self.cf_raw(OFFSETS_CF)?;
        let prefix = prefixed(source, &[]);
        let mode = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
        let mut out = BTreeMap::new();
        for item in self.db.iterator_cf(&cf, mode) {
            let (k, v) = item.map_err(|source| self.rocks(OFFSETS_CF, "scan", source))?;
            let Some(p) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            if let (Ok(p), Ok(v)) = (<[u8; 4]>::try_from(p), <[u8; 8]>::try_from(&*v)) {
                out.insert(i32::from_be_bytes(p), i64::from_le_bytes(v));
            }
        }
        Ok(out)
    }

    /// Replace every stored offset of `source` with `offsets` (a reset).
    pub fn set_source_offsets(
        &self,
        source: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), StoreError> {
        let cf = self.cf_raw(OFFSETS_CF)?;
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = WriteBatch::default();
        for p in self.source_offsets(source)?.keys() {
            batch.delete_cf(&cf, prefixed(source, &p.to_be_bytes()));
        }
        for (p, next) in offsets {
            batch.put_cf(&cf, prefixed(source, &p.to_be_bytes()), next.to_le_bytes());
        }
        let err = |source| self.rocks(OFFSETS_CF, "write", source);
        self.db.write(batch).map_err(err)
    }

    /// Record where `source`'s `partition` starts, unless an offset is
    /// stored already; the offset in force. A source that starts at the
    /// topic's end keeps that place across restarts, so records produced
    /// while the server was down are not skipped by a second "latest".
    pub fn start_source_offset(
        &self,
        source: &str,
        partition: i32,
        next: i64,
    ) -> Result<i64, StoreError> {
        let cf = self.cf_raw(OFFSETS_CF)?;
        let key = prefixed(source, &partition.to_be_bytes());
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let stored = self.db.get_cf(&cf, &key);
        let stored = stored.map_err(|source| self.rocks(OFFSETS_CF, "read", source))?;
        if let Some(v) = stored.and_then(|v| <[u8; 8]>::try_from(&*v).ok()) {
            return Ok(i64::from_le_bytes(v));
        }
        let put = self.db.put_cf(&cf, &key, next.to_le_bytes());
        put.map_err(|source| self.rocks(OFFSETS_CF, "write", source))?;
        Ok(next)
    }

    /// Which sinks' outboxes take the rows of which views: sink -> views.
    pub fn set_sinks(&self, sinks: HashMap<String, Vec<String>>) {
        *self.sinks.write().unwrap_or_else(|p| p.into_inner()) = sinks;
    }

    /// Put `alongside`'s offsets, and the outbox entries of the rows in
    /// `next` keyed by `touched`, into `batch`.
    pub(super) fn add_stream_writes(
        &self,
        batch: &mut WriteBatch,
        view: &str,
        rows: (&[EntityKey], &HashMap<EntityKey, StoredRow>),
        offsets: &[SourceOffset],
    ) -> Result<(), StoreError> {
        if !offsets.is_empty() {
            let cf = self.cf_raw(OFFSETS_CF)?;
            for o in offsets {
                let key = prefixed(&o.source, &o.partition.to_be_bytes());
                batch.put_cf(&cf, key, o.next.to_le_bytes());
            }
        }
        let sinks = self.sinks.read().unwrap_or_else(|p| p.into_inner());
        let (touched, next) = rows;
        for (sink, views) in sinks.iter() {
            if !views.iter().any(|v| v == view) || touched.is_empty() {
                continue;
            }
            let cf = self.cf_raw(OUTBOX_CF)?;
            for key in touched {
                let seq = self.outbox_seq.fetch_add(1, Ordering::Relaxed);
                let entry = encode_entry(view, key, &next[key]);
                batch.put_cf(&cf, prefixed(sink, &seq.to_be_bytes()), entry);
            }
        }
        Ok(())
    }

    /// Wakes a sink when its outbox may have grown.
    pub fn outbox_changed(&self) -> &tokio::sync::Notify {
        &self.outbox_changed
    }

    /// Up to `max` of the oldest entries of `sink`'s outbox, in order. An
    /// entry that does not decode is an error naming it: skipping it would
    /// lose a row for the replicas.
    pub fn outbox(&self, sink: &str, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let cf = self.cf_raw(OUTBOX_CF)?;
        let prefix = prefixed(sink, &[]);
        let mode = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(&cf, mode).take(max) {
            let (k, v) = item.map_err(|source| self.rocks(OUTBOX_CF, "scan", source))?;
            let Some(seq) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let seq = <[u8; 8]>::try_from(seq).map(u64::from_be_bytes).ok();
            let entry = seq
                .ok_or("bad key".to_string())
                .and_then(|s| decode_entry(s, &v));
            out.push(entry.map_err(|message| StoreError::Corrupt {
                view: format!("{OUTBOX_CF} of sink {sink}"),
                key: format!("{seq:?}"),
                message,
            })?);
        }
        Ok(out)
    }

    /// Entries of `sink`'s outbox up to `through` went to its topic.
    pub fn outbox_remove(&self, sink: &str, through: u64) -> Result<(), StoreError> {
        let cf = self.cf_raw(OUTBOX_CF)?;
        let (from, to) = (
            prefixed(sink, &[0; 8]),
            prefixed(sink, &(through + 1).to_be_bytes()),
        );
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(&cf, from, to);
        let err = |source| self.rocks(OUTBOX_CF, "delete", source);
        self.db.write(batch).map_err(err)
    }

    /// The sequence the next outbox entry gets: past every stored one.
    pub(super) fn next_outbox_seq(db: &super::DB) -> u64 {
        let Some(cf) = db.cf_handle(OUTBOX_CF) else {
            return 0;
        };
        let tail = |k: &[u8]| {
            let t = k.get(k.len().saturating_sub(8)..)?;
            Some(u64::from_be_bytes(t.try_into().ok()?))
        };
        let keys = db.iterator_cf(&cf, rocksdb::IteratorMode::Start);
        keys.filter_map(|i| i.ok().and_then(|(k, _)| tail(&k)))
            .max()
            .map_or(0, |m| m + 1)
    }

    pub(super) fn rocks(&self, cf: &str, op: &'static str, source: rocksdb::Error) -> StoreError {
        StoreError::Rocks {
            view: cf.into(),
            op,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriteMode;
    use crate::time::Micros;
    use crate::value::Value;

    fn row(t: i64) -> StoredRow {
        StoredRow {
            event_time: Micros(t),
            fields: vec![("x".into(), Value::Int64(t))],
            inputs: vec![],
        }
    }

    #[test]
    fn offsets_land_with_rows_and_a_reset_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), ["v"]).unwrap();
        let at = |p, next| SourceOffset {
            source: "s".into(),
            partition: p,
            next,
        };
        let also = Alongside {
            dead: vec![],
            offsets: vec![at(0, 10), at(3, 7)],
        };
        let rows = vec![(EntityKey::Int(1), row(1))];
        s.write_with("v", rows, also, WriteMode::Merge, None)
            .unwrap();
        assert_eq!(
            s.source_offsets("s").unwrap(),
            BTreeMap::from([(0, 10), (3, 7)])
        );
        assert!(s.source_offsets("s2").unwrap().is_empty());
        s.set_source_offsets("s", &BTreeMap::from([(1, 5)]))
            .unwrap();
        assert_eq!(s.source_offsets("s").unwrap(), BTreeMap::from([(1, 5)]));
    }

    #[test]
    fn the_outbox_keeps_merged_rows_in_order_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path(), ["v", "w"]).unwrap();
            s.set_sinks(HashMap::from([("k".into(), vec!["v".into()])]));
            let (a, b) = (EntityKey::Int(1), EntityKey::Str("b".into()));
            s.write(
                "v",
                vec![(a.clone(), row(1)), (b, row(2))],
                WriteMode::Merge,
            )
            .unwrap();
            s.write("w", vec![(a, row(3))], WriteMode::Merge).unwrap();
            let e = s.outbox("k", 10).unwrap();
            assert_eq!(e.len(), 2);
            assert_eq!((e[0].view.as_str(), &e[0].row), ("v", &row(1)));
            s.outbox_remove("k", e[0].seq).unwrap();
            assert_eq!(s.outbox("k", 10).unwrap().len(), 1);
        }
        let s = Store::open(dir.path(), ["v", "w"]).unwrap();
        s.set_sinks(HashMap::from([("k".into(), vec!["v".into()])]));
        s.write("v", vec![(EntityKey::Int(9), row(9))], WriteMode::Merge)
            .unwrap();
        let e = s.outbox("k", 10).unwrap();
        assert_eq!(e.len(), 2);
        assert!(e[0].seq < e[1].seq, "a reopen continues the sequence");
        assert_eq!(e[1].key, EntityKey::Int(9));
    }
}
