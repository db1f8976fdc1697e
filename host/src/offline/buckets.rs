//! A view's answers put back into spine order by their row numbers, not
//! by comparing them: the join finds them in key order, and each goes to
//! the bucket of its row's span (4,096 spine rows); the second pass
//! reads a bucket at a time and places each answer in its row's slot.
//! Rows are dense and known before the join starts, so this is a
//! counting sort: no comparisons, no heap, and no allocation per answer.
//! It replaced an external merge sort by row (sorting runs, merging them
//! through a heap, a `Vec` per answer): about a fifth of an export's CPU
//! in `perf`; the export's CPU time went down by 13–15 %.
//!
//! A bucket's answers are gathered in memory and written to one unlinked
//! file per writer in chunks (`chunks.rs`), and read back whole. Memory
//! is a chunk per bucket while writing and one bucket while reading: 4,096
//! rows' answers, up to 4,096 buckets (2²⁴ spine rows); past that a bucket
//! is 1/4,096th of the spine.

use super::chunks::{Chunks, Filed};
use std::io::ErrorKind;
use std::path::Path;

/// Rows per bucket. Small enough that a bucket's answers stay in a core's
/// cache while they are handed out in row order: they are in key order in
/// memory, so each is a random read (with a batch's worth of rows per
/// bucket, the cache misses cost as much as the merge sort this replaced).
const SPAN: u64 = 4096;
/// A bucket's answers are read back whole: past this many buckets the
/// span grows instead (so a writer's chunks stay a few KiB or more).
const MAX_BUCKETS: u64 = 4096;
/// What a writer holds in its buckets' pending chunks, all told, up to
/// 1,024 buckets (4 Mi spine rows); past that, 4 KiB a bucket (16 MiB at
/// [`MAX_BUCKETS`]).
const BUFFERS: usize = 4 << 20;
/// An answer's header: its row, its question's time, its value's length.
const HEADER: usize = 20;

/// How a spine of `rows` rows is bucketed: `span` rows a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    rows: u64,
    span: u64,
}

impl Layout {
    /// Buckets of [`SPAN`] rows, or of a batch if smaller (so a batch's
    /// memory bound holds), fewer and larger past [`MAX_BUCKETS`].
    pub(super) fn new(rows: u64, batch: usize) -> Self {
        let span = (batch.max(1) as u64).min(SPAN);
        let span = span.max(rows.div_ceil(MAX_BUCKETS));
        Layout { rows, span }
    }

    fn buckets(&self) -> usize {
        self.rows.div_ceil(self.span).max(1) as usize
    }
}

/// One writer's answers (a view's shard), bucketed by row.
pub(super) struct Writer {
    layout: Layout,
    chunks: Chunks,
    count: u64,
}

impl Writer {
    pub(super) fn new(dir: &Path, layout: Layout) -> std::io::Result<Self> {
        Ok(Writer {
            layout,
            chunks: Chunks::new(dir, layout.buckets(), BUFFERS)?,
            count: 0,
        })
    }

    /// The answer `value` for spine row `row` to a question at `at`. A
    /// row past the spine is an error.
    pub(super) fn push(&mut self, row: u64, at: i64, value: &[u8]) -> std::io::Result<()> {
        if row >= self.layout.rows {
            let rows = self.layout.rows;
            let message = format!("an answer for row {row}, past the spine's {rows} rows");
            return Err(std::io::Error::new(ErrorKind::InvalidInput, message));
        }
        let b = (row / self.layout.span) as usize;
        let len = u32::try_from(value.len()).map_err(|_| invalid("an answer over 4 GiB".into()))?;
        self.count += 1;
        self.chunks.append(b, |buf| {
            buf.extend_from_slice(&row.to_le_bytes());
            buf.extend_from_slice(&at.to_le_bytes());
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(value);
            Ok(())
        })
    }

    /// Every answer pushed, on file.
    pub(super) fn done(self) -> std::io::Result<AnswerFile> {
        Ok(AnswerFile {
            layout: self.layout,
            filed: self.chunks.done()?,
            count: self.count,
        })
    }
}

/// A writer's answers, on file.
pub(super) struct AnswerFile {
    layout: Layout,
    filed: Filed,
    count: u64,
}

/// A view's answers by row, from its writers' files: asked for rows in
/// ascending order, it reads each bucket once.
pub(super) struct Placed {
    layout: Layout,
    filed: Vec<AnswerFile>,
    /// The bucket in memory: its index, its answers' bytes, and per row of
    /// its span the offset of the row's answer plus one (0: none).
    bucket: Option<usize>,
    bytes: Vec<u8>,
    slots: Vec<usize>,
    /// Answers on file, and answers handed out.
    count: u64,
    read: u64,
}

impl Placed {
    /// The answers of a view's writers (all of one layout).
    pub(super) fn new(filed: Vec<AnswerFile>) -> Self {
        let layout = filed.first().map_or(Layout::new(0, 1), |f| f.layout);
        debug_assert!(filed.iter().all(|f| f.layout == layout));
        Placed {
            layout,
            count: filed.iter().map(|f| f.count).sum(),
            filed,
            bucket: None,
            bytes: Vec::new(),
            slots: Vec::new(),
            read: 0,
        }
    }

    /// Row `row`'s answer: its question's time and its value; `None` for a
    /// row without one. Rows asked in ascending order read each bucket
    /// once; asked out of order, a bucket is read again.
    pub(super) fn get(&mut self, row: u64) -> std::io::Result<Option<(i64, &[u8])>> {
        if row >= self.layout.rows {
            return Ok(None);
        }
        let b = (row / self.layout.span) as usize;
        if self.bucket != Some(b) {
            self.load(b)?;
        }
        let i = (row - b as u64 * self.layout.span) as usize;
        let Some(start) = self.slots[i].checked_sub(1) else {
            return Ok(None);
        };
        self.read += 1;
        let (at, len) = header(&self.bytes[start..]);
        let value = &self.bytes[start + HEADER..start + HEADER + len];
        Ok(Some((at, value)))
    }

    /// Bucket `b` in memory, each answer in its row's slot.
    fn load(&mut self, b: usize) -> std::io::Result<()> {
        self.bucket = None;
        self.bytes.clear();
        for answers in &mut self.filed {
            answers.filed.read(b, &mut self.bytes)?;
        }
        let base = b as u64 * self.layout.span;
        self.slots.clear();
        self.slots.resize(self.layout.span as usize, 0);
        let mut pos = 0;
        while pos < self.bytes.len() {
            let Some(head) = self.bytes.get(pos..pos + HEADER) else {
                return Err(invalid("an answer cut inside its header".into()));
            };
            let row = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
            let (_, len) = header(head);
            let slot = row.checked_sub(base).filter(|i| *i < self.layout.span);
            let (Some(slot), true) = (slot, pos + HEADER + len <= self.bytes.len()) else {
                return Err(invalid(format!("answer for row {row} in bucket {b}")));
            };
            // One answer per row and view: a second is a bug, caught by
            // the count of answers read at the end.
            self.slots[slot as usize] = pos + 1;
            pos += HEADER + len;
        }
        self.bucket = Some(b);
        Ok(())
    }

    /// Whether answers were never asked for (the spine got shorter, or a
    /// row had two answers).
    pub(super) fn unread(&self) -> bool {
        self.read != self.count
    }
}

/// An answer's time and value length, off its header.
fn header(b: &[u8]) -> (i64, usize) {
    let at = i64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(b[16..20].try_into().expect("4 bytes"));
    (at, len as usize)
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(
        ErrorKind::InvalidData,
        format!("spilled answers are damaged: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filed(dir: &Path, layout: Layout, answers: &[(u64, i64, Vec<u8>)]) -> AnswerFile {
        let mut w = Writer::new(dir, layout).unwrap();
        w.chunks.set_chunk(64); // many chunks per bucket
        for (row, at, v) in answers {
            w.push(*row, *at, v).unwrap();
        }
        w.done().unwrap()
    }

    /// Answers pushed in any order, by several writers, come back by row,
    /// rows without one as none, across buckets and chunks.
    #[test]
    fn answers_come_back_by_row() {
        let dir = tempfile::tempdir().unwrap();
        let rows = 1000;
        let layout = Layout::new(rows, 7);
        let mut want = vec![None; rows as usize];
        let mut writers: [Vec<(u64, i64, Vec<u8>)>; 2] = Default::default();
        for i in 0..rows {
            let row = (i * 7919) % rows;
            if row % 5 == 3 {
                continue;
            }
            let value = vec![row as u8; (row % 9) as usize];
            want[row as usize] = Some((-(row as i64), value.clone()));
            writers[(row % 2) as usize].push((row, -(row as i64), value));
        }
        let filed = writers
            .iter()
            .map(|w| filed(dir.path(), layout, w))
            .collect();
        let mut placed = Placed::new(filed);
        for row in 0..rows {
            let got = placed.get(row).unwrap().map(|(at, v)| (at, v.to_vec()));
            assert_eq!(got, want[row as usize], "row {row}");
        }
        assert!(!placed.unread());
    }

    /// Answers never asked for are reported, and so is a second answer
    /// for a row; a row past the spine is an error, not a lost answer.
    #[test]
    fn unread_answers_and_rows_past_the_spine_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(10, 4);
        let answers = [(2, 0, b"x".to_vec()), (9, 0, b"y".to_vec())];
        let mut placed = Placed::new(vec![filed(dir.path(), layout, &answers)]);
        assert_eq!(placed.get(2).unwrap(), Some((0, &b"x"[..])));
        assert!(placed.unread());
        let twice = [(3, 0, b"x".to_vec()), (3, 0, b"y".to_vec())];
        let mut placed = Placed::new(vec![filed(dir.path(), layout, &twice)]);
        assert!(placed.get(3).unwrap().is_some());
        assert!(placed.unread(), "a second answer for row 3");
        let mut w = Writer::new(dir.path(), layout).unwrap();
        let past = w.push(10, 0, b"");
        assert_eq!(past.unwrap_err().kind(), ErrorKind::InvalidInput);
    }

    /// Past [`MAX_BUCKETS`] spans grow; every row has a bucket.
    #[test]
    fn layouts_cover_every_row() {
        for (rows, batch) in [(0, 1), (1, 1), (10, 3), (1 << 40, 65536), (12345, 100000)] {
            let l = Layout::new(rows, batch);
            assert!(l.span * l.buckets() as u64 >= rows, "{rows} {batch}");
            assert!(l.buckets() as u64 <= MAX_BUCKETS);
            let small = (batch as u64).min(SPAN);
            assert!(
                l.span == small || l.buckets() as u64 == MAX_BUCKETS,
                "{rows} {batch}"
            );
        }
    }
}
