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
//! the first (a long spine, one sorted by key, a hot key): a bucket that
//! outgrows its share of a batch is dealt again into finer ranges
//! (`asked.rs`), so memory stays bounded by the batch and the order is
//! right either way. (A key-sorted spine still puts nearly every question
//! in one shard: its join then runs on one core.)

use super::asked::Asked;
use super::chunks::Chunks;
use super::items::{FIXED, Target};
use super::join::Spill;
use super::runs::Sortable;
use super::spine::Batch;
use super::{ExportError, ViewPart};
use std::ops::Range;

/// The first batch's questions per key range: 256 ranges at the default
/// batch, about 4,000 questions a range at a million spine rows.
const SAMPLE: usize = 256;
const MAX_RANGES: usize = 4096;
/// What a view's questions hold in their buckets' pending chunks.
const BUFFERS: usize = 4 << 20;

/// One view's questions, bucketed by key range, per shard.
pub(super) struct Questions {
    /// The first key of every range but the first, in order.
    splits: Vec<Target>,
    shards: Vec<Chunks>,
    /// Shards wanted (fewer if there are fewer ranges).
    cores: usize,
    /// Rows of a batch each shard's bucket may sort in memory.
    share: usize,
}

impl Questions {
    pub(super) fn new(shards: usize, batch: usize) -> Self {
        let shards = shards.max(1);
        Questions {
            splits: Vec::new(),
            shards: Vec::with_capacity(shards),
            cores: shards,
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
    /// range's first: one key's questions stay in one range), at least one
    /// a core; each shard's buckets, a shard a core (fewer for a batch of
    /// fewer questions than cores).
    fn split(&mut self, targets: &[Target], spill: &Spill) -> Result<(), ExportError> {
        let mut sorted: Vec<&Target> = targets.iter().collect();
        sorted.sort_unstable();
        let ranges = (sorted.len() / SAMPLE).max(self.cores);
        let ranges = ranges.min(sorted.len()).clamp(1, MAX_RANGES);
        self.splits = (1..ranges)
            .map(|i| sorted[i * sorted.len() / ranges].first_of_key())
            .collect();
        let n = self.cores.min(ranges);
        for s in 0..n {
            let buckets = self.ranges_of(s, n).len();
            let chunks = Chunks::new(spill.dir(), buckets, BUFFERS / n);
            self.shards.push(chunks.map_err(|e| spill.error(e))?);
        }
        Ok(())
    }

    fn ranges_of(&self, s: usize, n: usize) -> Range<usize> {
        ranges_of(s, self.splits.len() + 1, n)
    }

    /// Range `r`'s shard, and its bucket there.
    fn place(&self, r: usize) -> (usize, usize) {
        place(r, self.splits.len() + 1, self.shards.len())
    }

    /// Each shard's questions, in order (none for an empty spine).
    pub(super) fn done(self, spill: &Spill) -> Result<Vec<Asked<'_>>, ExportError> {
        let limit = self.share.saturating_mul(FIXED);
        let mut shards = Vec::with_capacity(self.shards.len());
        for chunks in self.shards {
            let filed = chunks.done().map_err(|e| spill.error(e))?;
            shards.push(Asked::new(filed, limit, spill));
        }
        Ok(shards)
    }
}

/// Shard `s`'s ranges of `ranges` dealt to `n`: as evenly as they go, in
/// order.
fn ranges_of(s: usize, ranges: usize, n: usize) -> Range<usize> {
    (s * ranges).div_ceil(n)..((s + 1) * ranges).div_ceil(n)
}

/// Range `r`'s shard of `n`, and its bucket there.
fn place(r: usize, ranges: usize, n: usize) -> (usize, usize) {
    let shard = r * n / ranges;
    (shard, r - ranges_of(shard, ranges, n).start)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shards' ranges cover every range once, in order, and each range's
    /// place is its own bucket of its shard.
    #[test]
    fn ranges_are_dealt_out_in_order() {
        for (ranges, n) in [(1, 1), (2, 2), (5, 2), (4096, 2), (7, 3), (3, 3)] {
            let covered: Vec<usize> = (0..n).flat_map(|s| ranges_of(s, ranges, n)).collect();
            assert_eq!(covered, (0..ranges).collect::<Vec<_>>(), "{ranges} / {n}");
            for r in 0..ranges {
                let (shard, bucket) = place(r, ranges, n);
                let mine = ranges_of(shard, ranges, n);
                assert_eq!(mine.start + bucket, r, "{r} of {ranges} / {n}");
                assert!(bucket < mine.len(), "{r} of {ranges} / {n}");
            }
        }
    }
}
