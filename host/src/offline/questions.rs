//! An export's questions to one view (a spine row's key, time and row),
//! put in key and time order by a sample sort: the first batch's
//! questions, sorted, split the keys into ranges (one per [`SAMPLE`] of
//! them, at most [`MAX_RANGES`]);
//! each question goes to its range's bucket (`chunks.rs`), and the join
//! reads a bucket at a time and sorts it in memory. It replaced an
//! external merge sort (sorted runs merged through a heap, 15 % of an
//! export's CPU): a bucket of a few thousand questions sorts in a core's
//! cache and needs no merge. Buckets of a few hundred cost as much again
//! in system calls for their small chunks.
//!
//! The ranges are dealt out to a shard per core, each joined against its
//! part of the log on its own. Later batches may spread differently from
//! the first (a spine sorted by key, a hot key): a bucket that outgrows
//! its share of a batch is sorted externally instead (`runs.rs`), so
//! memory stays bounded by the batch and the order is right either way.

use super::chunks::{Chunks, Filed};
use super::items::Target;
use super::join::Spill;
use super::runs::{Sortable, Sorted};
use super::spine::Batch;
use super::{ExportError, ViewPart};
use std::ops::Range;

/// The first batch's questions per key range: 256 ranges at the default
/// batch, about 4,000 questions a range at a million spine rows.
const SAMPLE: usize = 256;
const MAX_RANGES: usize = 4096;
/// What a view's questions hold in their buckets' pending chunks.
const BUFFERS: usize = 4 << 20;
/// A question's bytes without its key's tail (`Target::encode`).
const FIXED: usize = 48;

/// One view's questions, bucketed by key range, per shard.
pub(super) struct Questions {
    /// The first key of every range but the first, in order.
    splits: Vec<Target>,
    shards: Vec<Chunks>,
    /// Rows of a batch each shard's bucket may sort in memory.
    share: usize,
}

impl Questions {
    pub(super) fn new(shards: usize, batch: usize) -> Self {
        let shards = shards.max(1);
        Questions {
            splits: Vec::new(),
            shards: Vec::with_capacity(shards),
            share: (batch / shards).max(1),
        }
    }

    /// A spine batch's questions to this view.
    pub(super) fn push(
        &mut self,
        part: &ViewPart,
        batch: &Batch,
        spill: &Spill,
    ) -> Result<(), ExportError> {
        let keys = batch.keys(part.view)?;
        let mut key = Vec::with_capacity(32);
        let targets = keys.iter().enumerate().map(|(i, k)| {
            key.clear();
            k.encode_prefix_free(&mut key);
            Target::new(&key, batch.times[i].0, batch.first + i as u64)
        });
        let targets: Vec<Target> = targets.collect();
        if self.shards.is_empty() {
            self.split(&targets, spill)?;
        }
        for target in targets {
            let range = self.splits.partition_point(|s| *s <= target);
            let (shard, bucket) = self.place(range);
            let add = |buf: &mut Vec<u8>| target.encode(buf);
            (self.shards[shard].append(bucket, add)).map_err(|e| spill.error(e))?;
        }
        Ok(())
    }

    /// The ranges, from the first batch's questions (one's key at least a
    /// range's first: one key's questions stay in one range), and each
    /// shard's buckets.
    fn split(&mut self, targets: &[Target], spill: &Spill) -> Result<(), ExportError> {
        let mut sorted: Vec<&Target> = targets.iter().collect();
        sorted.sort_unstable();
        let ranges = (sorted.len() / SAMPLE).clamp(1, MAX_RANGES);
        self.splits = (1..ranges)
            .map(|i| sorted[i * sorted.len() / ranges].first_of_key())
            .collect();
        let n = self.shards.capacity();
        for s in 0..n {
            let buckets = self.ranges_of(s, n).len();
            let chunks = Chunks::new(spill.dir(), buckets, BUFFERS / n);
            self.shards.push(chunks.map_err(|e| spill.error(e))?);
        }
        Ok(())
    }

    /// Shard `s`'s ranges of `n`: ranges spread as evenly as they go.
    fn ranges_of(&self, s: usize, n: usize) -> Range<usize> {
        let ranges = self.splits.len() + 1;
        (s * ranges).div_ceil(n)..((s + 1) * ranges).div_ceil(n)
    }

    /// Range `r`'s shard, and its bucket there.
    fn place(&self, r: usize) -> (usize, usize) {
        let n = self.shards.len();
        let shard = r * n / (self.splits.len() + 1);
        (shard, r - self.ranges_of(shard, n).start)
    }

    /// Each shard's questions, in order (none for an empty spine).
    pub(super) fn done(self, spill: &Spill) -> Result<Vec<Asked<'_>>, ExportError> {
        let limit = self.share.saturating_mul(FIXED);
        let mut shards = Vec::with_capacity(self.shards.len());
        for chunks in self.shards {
            shards.push(Asked {
                buckets: 0..chunks.buckets(),
                filed: chunks.done().map_err(|e| spill.error(e))?,
                limit,
                spill,
                now: Source::Memory(Vec::new().into_iter()),
                buf: Vec::new(),
            });
        }
        Ok(shards)
    }
}

/// One shard's questions in key and time order, a bucket at a time.
pub(super) struct Asked<'s> {
    filed: Filed,
    buckets: Range<usize>,
    /// The bytes of a bucket sorted in memory, at most.
    limit: usize,
    spill: &'s Spill,
    now: Source,
    buf: Vec<u8>,
}

enum Source {
    Memory(std::vec::IntoIter<Target>),
    Runs(Sorted<Target>),
}

impl Iterator for Asked<'_> {
    type Item = std::io::Result<Target>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match &mut self.now {
                Source::Memory(items) => {
                    if let Some(t) = items.next() {
                        return Some(Ok(t));
                    }
                }
                Source::Runs(sorted) => {
                    if let Some(t) = sorted.next() {
                        return Some(t);
                    }
                }
            }
            let b = self.buckets.next()?;
            if let Err(e) = self.load(b) {
                return Some(Err(e));
            }
        }
    }
}

impl Asked<'_> {
    /// Bucket `b`, sorted: in memory when it fits its share of a batch,
    /// else a chunk at a time through an external sort.
    fn load(&mut self, b: usize) -> std::io::Result<()> {
        if self.filed.size(b) <= self.limit {
            self.buf.clear();
            self.filed.read(b, &mut self.buf)?;
            let mut items = Vec::with_capacity(self.buf.len() / FIXED);
            decode_all(&self.buf, |t| {
                items.push(t);
                Ok(())
            })?;
            items.sort_unstable();
            self.now = Source::Memory(items.into_iter());
            return Ok(());
        }
        let mut sorter = self.spill.sorter::<Target>(self.limit / FIXED)?;
        let mut c = 0;
        loop {
            self.buf.clear();
            if !self.filed.read_chunk(b, c, &mut self.buf)? {
                break;
            }
            c += 1;
            decode_all(&self.buf, |t| sorter.push(t))?;
        }
        self.now = Source::Runs(sorter.done()?);
        Ok(())
    }
}

/// Every question in `bytes` (whole ones: a chunk ends between them).
fn decode_all(
    mut bytes: &[u8],
    mut each: impl FnMut(Target) -> std::io::Result<()>,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        each(Target::decode(&mut bytes)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard's questions come out in order, whether its buckets sort in
    /// memory or, past their limit, through runs on disk.
    #[test]
    fn buckets_sort_in_memory_or_through_runs() {
        let out = tempfile::tempdir().unwrap();
        let spill = Spill::new(&out.path().join("x.parquet"), 4).unwrap();
        let mut want = Vec::new();
        for limit in [usize::MAX, FIXED, 3 * FIXED] {
            let mut chunks = Chunks::new(spill.dir(), 3, 0).unwrap();
            want.clear();
            for i in 0..60u64 {
                // Bucket b holds keys [b]: ranges in key order.
                let b = (i * 7 % 3) as usize;
                let t = Target::new(&[b as u8, (i % 5) as u8], -(i as i64 % 4), i);
                want.push(t.clone());
                chunks.append(b, |buf| t.encode(buf)).unwrap();
            }
            want.sort();
            let asked = Asked {
                buckets: 0..3,
                filed: chunks.done().unwrap(),
                limit,
                spill: &spill,
                now: Source::Memory(Vec::new().into_iter()),
                buf: Vec::new(),
            };
            let got: Vec<Target> = asked.map(Result::unwrap).collect();
            assert_eq!(got, want, "limit {limit}");
        }
    }

    /// Shards' ranges cover every range once, in order, and a range's
    /// place is inside its shard.
    #[test]
    fn ranges_are_dealt_out_in_order() {
        for (ranges, n) in [(1, 1), (1, 2), (2, 2), (5, 2), (4096, 2), (7, 3)] {
            let mut q = Questions::new(n, 100);
            q.splits = vec![Target::new(b"k", 0, 0); ranges - 1];
            q.shards = Vec::with_capacity(n);
            let covered: Vec<usize> = (0..n).flat_map(|s| q.ranges_of(s, n)).collect();
            assert_eq!(covered, (0..ranges).collect::<Vec<_>>(), "{ranges} / {n}");
            for r in 0..ranges {
                let shard = r * n / ranges;
                let range = q.ranges_of(shard, n);
                assert!(range.contains(&r), "{r} of {ranges} / {n}");
            }
        }
    }
}
