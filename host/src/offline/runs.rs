//! An external sort: items gathered a batch at a time, each full batch
//! sorted and written to a run file, the runs merged back through a heap.
//! Hand-rolled because the crate that does this (`extsort` 0.5) loses every
//! spilled item when the last push happens to fill a run, and a training
//! set with silently missing features is the worst failure an export has.
//!
//! A run's file is unlinked from the start: it lives as long as its
//! handle, so no run outlives the export, however it stops. Runs merge
//! in tiers: [`FAN_IN`] runs of one tier become one run of the next, so an
//! item is rewritten once per tier (log₁₆ of the runs), not once per merge,
//! and a sorter holds at most `FAN_IN` open files per tier.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// An item that can be written to a run and read back.
pub(super) trait Sortable: Ord + Sized + Send {
    fn encode<W: Write>(&self, w: &mut W) -> std::io::Result<()>;
    /// The next item (the run's end is found before calling it).
    fn decode<R: Read>(r: &mut R) -> std::io::Result<Self>;
}

/// Runs of a tier merged into one of the next. An export sorts through
/// runs only one key's questions too many for memory (`asked.rs`), one
/// such key at a time per shard; its open runs count against the process's
/// file limit (often 1,024) beside RocksDB's and the export's own files
/// (two per view and shard, and one more per range being dealt finer):
/// 16 keeps a billion questions of one key to three tiers and a few dozen
/// files.
const FAN_IN: usize = 16;

pub(super) struct Sorter<T> {
    dir: PathBuf,
    batch: usize,
    buffer: Vec<T>,
    /// Each run with its tier, oldest first (so tiers never rise).
    runs: Vec<(usize, File)>,
}

impl<T: Sortable> Sorter<T> {
    /// Runs go in `dir`, which the caller owns (and removes).
    pub(super) fn new(dir: PathBuf, batch: usize) -> Self {
        Sorter {
            dir,
            batch: batch.max(1),
            buffer: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, item: T) -> std::io::Result<()> {
        self.buffer.push(item);
        if self.buffer.len() >= self.batch {
            self.spill()?;
        }
        Ok(())
    }

    /// The buffer, sorted, as a run; runs of a full tier merged into one of
    /// the next.
    fn spill(&mut self) -> std::io::Result<()> {
        self.spill_buffer()?;
        loop {
            let tier = self.runs.last().map_or(0, |r| r.0);
            let same = self.runs.iter().rev().take_while(|r| r.0 == tier).count();
            if same < FAN_IN {
                return Ok(());
            }
            let runs = self.runs.split_off(self.runs.len() - same);
            let merged = merge(runs.into_iter().map(|r| r.1).collect())?;
            let run = self.write_run(merged)?;
            self.runs.push((tier + 1, run));
        }
    }

    fn spill_buffer(&mut self) -> std::io::Result<()> {
        self.buffer.sort_unstable();
        let items = std::mem::take(&mut self.buffer);
        let run = self.write_run(items.into_iter().map(Ok))?;
        self.runs.push((0, run));
        Ok(())
    }

    /// A run of `items`, in the order given, unlinked and rewound.
    fn write_run(
        &mut self,
        items: impl Iterator<Item = std::io::Result<T>>,
    ) -> std::io::Result<File> {
        let file = tempfile::tempfile_in(&self.dir)?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        for item in items {
            item?.encode(&mut w)?;
        }
        let mut file = w.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }

    /// Every item pushed, in order.
    pub(super) fn done(mut self) -> std::io::Result<Sorted<T>> {
        if self.runs.is_empty() {
            self.buffer.sort_unstable();
            return Ok(Sorted::Memory(self.buffer.into()));
        }
        // The last run joins the final merge as it is: merging a full tier
        // first would rewrite every item only to read it back once.
        if !self.buffer.is_empty() {
            self.spill_buffer()?;
        }
        merge(self.runs.into_iter().map(|r| r.1).collect())
    }
}

/// The runs' items, merged in order.
fn merge<T: Sortable>(runs: Vec<File>) -> std::io::Result<Sorted<T>> {
    let mut readers: Vec<_> = (runs.into_iter())
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .collect();
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(item) = next(r)? {
            heap.push(Reverse(Head(item, i)));
        }
    }
    Ok(Sorted::Runs { readers, heap })
}

/// A run's next item, ordered by the item (then the run, which never
/// decides between different items: equal items are interchangeable).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Head<T>(T, usize);

/// A run's next item, or `None` at its end. Only an end between items is
/// the end: a run cut inside an item is an error, not fewer items.
fn next<T: Sortable>(r: &mut BufReader<File>) -> std::io::Result<Option<T>> {
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    match T::decode(r) {
        Ok(item) => Ok(Some(item)),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(std::io::Error::new(
            ErrorKind::InvalidData,
            "a sorted run ends inside an item",
        )),
        Err(e) => Err(e),
    }
}

/// A sorter's items in order: from memory when they never spilled, else
/// merged from its runs.
pub(super) enum Sorted<T> {
    Memory(VecDeque<T>),
    Runs {
        readers: Vec<BufReader<File>>,
        heap: BinaryHeap<Reverse<Head<T>>>,
    },
}

impl<T: Sortable> Iterator for Sorted<T> {
    type Item = std::io::Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Sorted::Memory(items) => items.pop_front().map(Ok),
            Sorted::Runs { readers, heap } => {
                let Reverse(Head(item, run)) = heap.pop()?;
                match next(&mut readers[run]) {
                    Ok(Some(following)) => heap.push(Reverse(Head(following, run))),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                Some(Ok(item))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct N(u32);

    impl Sortable for N {
        fn encode<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
            w.write_all(&self.0.to_le_bytes())
        }
        fn decode<R: Read>(r: &mut R) -> std::io::Result<Self> {
            let mut b = [0; 4];
            r.read_exact(&mut b)?;
            Ok(N(u32::from_le_bytes(b)))
        }
    }

    /// A run cut inside an item is an error, not a shorter run.
    #[test]
    fn a_run_cut_inside_an_item_is_an_error() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[1, 0, 0, 0, 2, 0]).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let mut r = BufReader::new(file);
        assert_eq!(next::<N>(&mut r).unwrap(), Some(N(1)));
        let e = next::<N>(&mut r).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    }

    /// Every item comes back, in order, whether or not the last push
    /// filled a run (the case `extsort` loses).
    #[test]
    fn every_item_comes_back_in_order_across_runs() {
        // 1000 items in runs of 1 or 3 pass the fan-in: runs of runs.
        for n in [0, 1, 2, 3, 4, 5, 9, 10, 11, 100, 1000] {
            for batch in [1, 2, 3, 5, 10, 1000] {
                let dir = tempfile::tempdir().unwrap();
                let mut sorter = Sorter::new(dir.path().to_path_buf(), batch);
                let mut want: Vec<u32> = (0..n).map(|i| (i * 7919) % 101).collect();
                for &v in &want {
                    sorter.push(N(v)).unwrap();
                }
                let got: Vec<u32> = (sorter.done().unwrap()).map(|r| r.unwrap().0).collect();
                want.sort();
                assert_eq!(got, want, "{n} items, runs of {batch}");
            }
        }
    }
}
