//! The store's side tables, beside the views: the embedding cache (vectors
//! by a hash of what produced them) and dead letters (rows that failed for
//! good, per view and key). Both are plain column families; what a dead
//! letter holds is `ingest`'s business, the store keeps its bytes.

use super::{EntityKey, Store, StoreError};
use crate::time::Micros;
use rocksdb::WriteBatch;

/// Embedding cache: SHA-256 of (endpoint, model, dimensions, text) ->
/// `CACHE_TAG`, the write time (i64 LE micros), the f32 LE vector. Entries
/// written before the time was kept are the bare vector (a length that is a
/// multiple of 4, where the tagged form's is not); they are read alike.
pub(super) const EMBED_CACHE_CF: &str = "embed-cache";

const CACHE_TAG: u8 = 0xCE;

/// A cache entry's vector and, unless it predates them, its write time.
pub(super) fn decode_cached(b: &[u8]) -> Option<(Option<Micros>, &[u8])> {
    match b.len() % 4 {
        0 if !b.is_empty() => Some((None, b)),
        1 if b.len() > 9 && b[0] == CACHE_TAG => {
            let time = i64::from_le_bytes(b[1..9].try_into().ok()?);
            Some((Some(Micros(time)), &b[9..]))
        }
        // Any other length is a corrupt entry: a miss.
        _ => None,
    }
}

/// The key of one embedding in the cache.
pub type CacheKey = [u8; 32];

/// Rows that failed for good, per view and key: `view` + `0x00` + encoded key
/// -> an opaque record owned by `ingest` (what failed, why, and the input row).
pub(super) const DEAD_LETTER_CF: &str = "dead-letters";

pub(super) fn dead_letter_key(view: &str, key: &EntityKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(view.len() + 10);
    k.extend_from_slice(view.as_bytes());
    k.push(0);
    k.extend_from_slice(&key.encode());
    k
}

/// A dead letter as scanned: its key (the view's prefix, then the encoded
/// entity key), and the letter.
type DeadLetter = (Box<[u8]>, Box<[u8]>);

/// What every dead letter key of `view` starts with.
fn dead_letter_prefix(view: &str) -> Vec<u8> {
    let mut k = dead_letter_key(view, &EntityKey::Str(String::new()));
    k.truncate(view.len() + 1);
    k
}

impl Store {
    /// Every dead letter of `view`, in key order.
    pub fn dead_letters(&self, view: &str) -> Result<Vec<(EntityKey, Vec<u8>)>, StoreError> {
        let (mut out, prefix) = (Vec::new(), dead_letter_prefix(view).len());
        for item in self.scan_dead_letters(view)? {
            let (key, letter) = item?;
            if let Some(key) = EntityKey::decode(&key[prefix..]) {
                out.push((key, letter.into_vec()));
            }
        }
        Ok(out)
    }

    /// Whether `view` may hold dead letters; `false` only when it holds
    /// none. Most views never have one, and reading each written row's
    /// dead letter to clear it was 6 % of landing a batch of pushes
    /// and 8 % of a publish's (callgrind). Found out with one seek the first time a view is
    /// asked about, then kept up to date by [`Store::dead_letters_coming`];
    /// removing dead letters leaves it `true`, which costs only the reads.
    pub(super) fn may_have_dead_letters(&self, view: &str) -> Result<bool, StoreError> {
        let mut views = (self.dead_letter_views.lock()).unwrap_or_else(|p| p.into_inner());
        if let Some(may) = views.get(view) {
            return Ok(*may);
        }
        let any = self.scan_dead_letters(view)?.next().transpose()?.is_some();
        views.insert(view.into(), any);
        Ok(any)
    }

    /// `view`'s dead letters, in key order.
    fn scan_dead_letters<'a>(
        &'a self,
        view: &'a str,
    ) -> Result<impl Iterator<Item = Result<DeadLetter, StoreError>> + 'a, StoreError> {
        let dl = self.cf_raw(DEAD_LETTER_CF)?;
        let prefix = dead_letter_prefix(view);
        let mode = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
        let items = self
            .db
            .iterator_cf(&dl, mode)
            .map_while(move |item| match item {
                Err(e) => Some(Err(self.rocks(view, "scan dead letters", e))),
                Ok((k, v)) => k.starts_with(&prefix).then_some(Ok((k, v))),
            });
        Ok(items)
    }

    /// `view` is about to get dead letters: called before they are written.
    pub(super) fn dead_letters_coming(&self, view: &str) {
        let mut views = (self.dead_letter_views.lock()).unwrap_or_else(|p| p.into_inner());
        views.insert(view.into(), true);
    }

    /// The dead letters of `keys` in `view`, in order, in one batched read.
    pub fn dead_letters_get(
        &self,
        view: &str,
        keys: &[EntityKey],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let dl = self.cf_raw(DEAD_LETTER_CF)?;
        let encoded: Vec<Vec<u8>> = keys.iter().map(|k| dead_letter_key(view, k)).collect();
        self.db
            .batched_multi_get_cf(&dl, &encoded, false)
            .into_iter()
            .map(|r| {
                r.map(|v| v.map(|s| s.to_vec()))
                    .map_err(|source| StoreError::Rocks {
                        view: view.into(),
                        op: "read dead letters",
                        source,
                    })
            })
            .collect()
    }

    /// Drop the dead letters of `keys` in `view` (given up on, or fixed elsewhere).
    pub fn dead_letters_remove(&self, view: &str, keys: &[EntityKey]) -> Result<(), StoreError> {
        let dl = self.cf_raw(DEAD_LETTER_CF)?;
        let mut batch = WriteBatch::default();
        for k in keys {
            batch.delete_cf(&dl, dead_letter_key(view, k));
        }
        self.db.write(batch).map_err(|source| StoreError::Rocks {
            view: view.into(),
            op: "delete dead letters",
            source,
        })
    }

    /// Cached embeddings for `keys`, in order, in one batched read.
    pub fn cache_get(&self, keys: &[CacheKey]) -> Result<Vec<Option<Vec<f32>>>, StoreError> {
        let cf = self.cf_raw(EMBED_CACHE_CF)?;
        let err = |source| StoreError::Rocks {
            view: EMBED_CACHE_CF.into(),
            op: "read",
            source,
        };
        self.db
            .batched_multi_get_cf(&cf, keys, false)
            .into_iter()
            .map(|r| {
                let v = r.map_err(err)?;
                Ok(v.as_deref().and_then(decode_cached).map(|(_, b)| {
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                        .collect()
                }))
            })
            .collect()
    }

    /// Add embeddings to the cache in one write.
    pub fn cache_put(&self, items: &[(CacheKey, &[f32])]) -> Result<(), StoreError> {
        self.cache_put_at(items, Micros::now())
    }

    /// Add embeddings to the cache as written at `time`.
    pub(super) fn cache_put_at(
        &self,
        items: &[(CacheKey, &[f32])],
        time: Micros,
    ) -> Result<(), StoreError> {
        let cf = self.cf_raw(EMBED_CACHE_CF)?;
        let mut batch = WriteBatch::default();
        for (k, v) in items {
            let mut bytes = Vec::with_capacity(9 + 4 * v.len());
            bytes.push(CACHE_TAG);
            bytes.extend_from_slice(&time.0.to_le_bytes());
            bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
            batch.put_cf(&cf, k, bytes);
        }
        self.db.write(batch).map_err(|source| StoreError::Rocks {
            view: EMBED_CACHE_CF.into(),
            op: "write",
            source,
        })
    }
}
