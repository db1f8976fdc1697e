//! One shard's questions read back in key and time order, a bucket (a key
//! range, `questions.rs`) at a time, each sorted in memory. A bucket too
//! large for that (the first batch's keys did not foresee the spine: a
//! long spine, one sorted by key) is dealt again into finer ranges, split
//! at a sample of its own questions, in a file of their own, and so on
//! down; only one key's questions too many to hold go through an external
//! sort (`runs.rs`). Memory stays bounded by the batch either way.

use super::chunks::{Chunks, Filed};
use super::items::{FIXED, Target};
use super::join::Spill;
use super::runs::{Sortable, Sorted};
use std::ops::Range;

/// Questions sampled from a bucket to split it at.
const SAMPLE: usize = 4096;
/// Finer ranges a bucket is dealt into, at most.
const MAX_FINER: usize = 1024;
/// What a finer dealing holds in its pending chunks: this, or 4 KiB a
/// range past 256 of them (4 MiB at [`MAX_FINER`]).
const BUFFERS: usize = 1 << 20;

/// One shard's questions in key and time order.
pub(super) struct Asked<'s> {
    /// Files of buckets still to read, in key order, each with its
    /// buckets left; a bucket dealt finer pushes its file on top.
    frames: Vec<(Filed, Range<usize>)>,
    /// The bytes of a bucket sorted in memory, at most.
    limit: usize,
    spill: &'s Spill,
    /// The bucket being handed out.
    now: Sorted<Target>,
    buf: Vec<u8>,
}

impl<'s> Asked<'s> {
    pub(super) fn new(filed: Filed, limit: usize, spill: &'s Spill) -> Self {
        let buckets = filed.buckets();
        Asked {
            frames: vec![(filed, 0..buckets)],
            limit: limit.max(FIXED),
            spill,
            now: Sorted::Memory(Default::default()),
            buf: Vec::new(),
        }
    }
}

impl Iterator for Asked<'_> {
    type Item = std::io::Result<Target>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(t) = self.now.next() {
                return Some(t);
            }
            let (_, buckets) = self.frames.last_mut()?;
            let Some(b) = buckets.next() else {
                self.frames.pop();
                continue;
            };
            if let Err(e) = self.load(b) {
                self.frames.clear();
                return Some(Err(e));
            }
        }
    }
}

impl Asked<'_> {
    /// The top file's bucket `b`: sorted in memory when it fits, else
    /// dealt finer, or (one key's questions) sorted through runs.
    fn load(&mut self, b: usize) -> std::io::Result<()> {
        // The last bucket's questions go before the next one's come.
        self.now = Sorted::Memory(Default::default());
        let size = self.frames.last().expect("a frame").0.size(b);
        if size <= self.limit {
            let mut items = Vec::with_capacity(size / FIXED);
            self.each(b, |t| {
                items.push(t);
                Ok(())
            })?;
            items.sort_unstable();
            self.now = Sorted::Memory(items.into());
            return Ok(());
        }
        let (splits, count) = self.splits(b, size)?;
        if splits.is_empty() {
            // Held in memory, a question costs about what it does on disk.
            let batch = (self.limit as u128 * count as u128 / size as u128) as usize;
            return self.through_runs(b, batch);
        }
        // Each split is a sampled key above the least sampled: questions
        // fall on both sides of it, so every finer range is smaller.
        let finer = self.deal(b, &splits)?;
        self.frames.push((finer, 0..splits.len() + 1));
        Ok(())
    }

    /// Where to split the top file's bucket `b` (of `size` bytes) so each
    /// part fits in memory with room to spare: at the first question of
    /// keys taken from an even sample of it (empty: the sample shows one
    /// key); and how many questions it holds.
    fn splits(&mut self, b: usize, size: usize) -> std::io::Result<(Vec<Target>, usize)> {
        let step = (size / FIXED / SAMPLE).max(1);
        let mut sample = Vec::with_capacity(2 * SAMPLE);
        let mut i = 0;
        self.each(b, |t| {
            if i % step == 0 {
                sample.push(t);
            }
            i += 1;
            Ok(())
        })?;
        sample.sort_unstable();
        let parts = (2 * size / self.limit).clamp(2, MAX_FINER);
        let mut splits: Vec<Target> = (1..parts)
            .map(|p| sample[p * sample.len() / parts].first_of_key())
            .collect();
        splits.dedup();
        // A split at or below the smallest key parts nothing.
        let least = sample[0].first_of_key();
        splits.retain(|s| *s > least);
        Ok((splits, i))
    }

    /// The top file's bucket `b` dealt into the ranges `splits` make.
    fn deal(&mut self, b: usize, splits: &[Target]) -> std::io::Result<Filed> {
        let mut finer = Chunks::new(self.spill.dir(), splits.len() + 1, BUFFERS)?;
        self.each(b, |t| {
            let r = splits.partition_point(|s| *s <= t);
            finer.append(r, |buf| t.encode(buf))
        })?;
        finer.done()
    }

    /// The top file's bucket `b` through an external sort holding `batch`
    /// questions in memory.
    fn through_runs(&mut self, b: usize, batch: usize) -> std::io::Result<()> {
        let mut sorter = self.spill.sorter::<Target>(batch);
        self.each(b, |t| sorter.push(t))?;
        self.now = sorter.done()?;
        Ok(())
    }

    /// Every question of the top file's bucket `b`, a chunk at a time.
    fn each(
        &mut self,
        b: usize,
        mut f: impl FnMut(Target) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let filed = &mut self.frames.last_mut().expect("a frame").0;
        for c in 0.. {
            self.buf.clear();
            if !filed.read_chunk(b, c, &mut self.buf)? {
                break;
            }
            decode_all(&self.buf, &mut f)?;
        }
        Ok(())
    }
}

/// Every question in `bytes` (whole ones: a chunk ends between them).
fn decode_all(
    mut bytes: &[u8],
    mut each: impl FnMut(Target) -> std::io::Result<()>,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let t = Target::decode(&mut bytes).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "spilled questions are damaged: a chunk ends inside a question",
            ),
            _ => e,
        })?;
        each(t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Questions in buckets of key ranges, each pushed out of order.
    fn filed(spill: &Spill, buckets: &[Vec<Target>]) -> Filed {
        let mut chunks = Chunks::new(spill.dir(), buckets.len(), 0).unwrap();
        chunks.set_chunk(200); // several chunks a bucket
        for (b, items) in buckets.iter().enumerate() {
            for t in items.iter().rev() {
                chunks.append(b, |buf| t.encode(buf)).unwrap();
            }
        }
        chunks.done().unwrap()
    }

    /// A shard's questions come out in order whether its buckets sort in
    /// memory, are dealt finer (once or again), or hold one key's
    /// questions too many for memory; long keys included.
    #[test]
    fn questions_come_out_in_order_however_large_a_bucket() {
        let out = tempfile::tempdir().unwrap();
        let spill = Spill::new(&out.path().join("x.parquet"), 4).unwrap();
        let key = |b: u8, k: u64| {
            let mut key = vec![b; 1 + (k % 3) as usize * 20];
            key.extend(k.to_be_bytes());
            key
        };
        let mut buckets: Vec<Vec<Target>> = vec![Vec::new(); 3];
        for i in 0..3000u64 {
            let b = (i % 3) as usize;
            // Bucket 1 holds a single key: only runs can sort it.
            let k = if b == 1 { 7 } else { i * 7919 % 1000 };
            buckets[b].push(Target::new(&key(b as u8, k), -((i % 11) as i64), i));
        }
        let mut want: Vec<Target> = buckets.concat();
        want.sort();
        for limit in [usize::MAX, 20 * FIXED, 3 * FIXED] {
            let asked = Asked::new(filed(&spill, &buckets), limit, &spill);
            let got: Vec<Target> = asked.map(Result::unwrap).collect();
            assert_eq!(got.len(), want.len(), "limit {limit}");
            assert!(got == want, "limit {limit}: out of order");
        }
    }

    /// A bucket large enough to be sampled, not read whole, of one hot key
    /// and a few others the sample may miss: still in order, by dealing
    /// or by runs.
    #[test]
    fn a_sampled_bucket_of_a_hot_key_comes_out_in_order() {
        let out = tempfile::tempdir().unwrap();
        let spill = Spill::new(&out.path().join("x.parquet"), 4).unwrap();
        let mut bucket = Vec::new();
        for i in 0..10_000u64 {
            let key: &[u8] = if i % 2500 == 1 { b"cold" } else { b"hot" };
            bucket.push(Target::new(key, (i % 13) as i64, i));
        }
        let mut want = bucket.clone();
        want.sort();
        for limit in [100 * FIXED, 10 * FIXED] {
            let asked = Asked::new(filed(&spill, std::slice::from_ref(&bucket)), limit, &spill);
            let got: Vec<Target> = asked.map(Result::unwrap).collect();
            assert!(got == want, "limit {limit}: out of order");
        }
    }
}
