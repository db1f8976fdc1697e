//! A spill file of buckets: items appended to any of a fixed number of
//! buckets are gathered in memory and written in chunks to one unlinked
//! file, and read back a bucket at a time. What a bucket holds (answers by
//! row, questions by key range) is the caller's; a chunk always ends
//! between items, so a bucket can be read a chunk at a time too.

use std::fs::File;
use std::io::Write;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const MIN_CHUNK: usize = 4 << 10;
const MAX_CHUNK: usize = 1 << 20;

pub(super) struct Chunks {
    file: File,
    len: u64,
    pending: Vec<Vec<u8>>,
    /// Per bucket, its chunks in the file: offset and length.
    chunks: Vec<Vec<(u64, usize)>>,
    chunk: usize,
}

impl Chunks {
    /// `buckets` buckets in an unlinked file in `dir` (it lives as long as
    /// its handle, so none outlives the export, however it stops), holding
    /// about `budget` bytes in memory all told.
    pub(super) fn new(dir: &Path, buckets: usize, budget: usize) -> std::io::Result<Self> {
        let buckets = buckets.max(1);
        Ok(Chunks {
            file: tempfile::tempfile_in(dir)?,
            len: 0,
            pending: vec![Vec::new(); buckets],
            chunks: vec![Vec::new(); buckets],
            chunk: (budget / buckets).clamp(MIN_CHUNK, MAX_CHUNK),
        })
    }

    /// Append an item to bucket `b` (an index below the count given).
    pub(super) fn append(
        &mut self,
        b: usize,
        item: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let buf = &mut self.pending[b];
        if buf.capacity() == 0 {
            // Not doubled past the chunk as it fills: the budget holds.
            buf.reserve_exact(self.chunk + 64);
        }
        item(buf)?;
        if buf.len() >= self.chunk {
            self.write_chunk(b)?;
        }
        Ok(())
    }

    fn write_chunk(&mut self, b: usize) -> std::io::Result<()> {
        let buf = &mut self.pending[b];
        self.file.write_all(buf)?;
        self.chunks[b].push((self.len, buf.len()));
        self.len += buf.len() as u64;
        buf.clear();
        Ok(())
    }

    /// Every item appended, on file.
    pub(super) fn done(mut self) -> std::io::Result<Filed> {
        for b in 0..self.pending.len() {
            if !self.pending[b].is_empty() {
                self.write_chunk(b)?;
            }
            self.pending[b] = Vec::new();
        }
        Ok(Filed {
            file: self.file,
            chunks: self.chunks,
        })
    }

    #[cfg(test)]
    pub(super) fn set_chunk(&mut self, bytes: usize) {
        self.chunk = bytes;
    }
}

/// Buckets on file.
pub(super) struct Filed {
    file: File,
    chunks: Vec<Vec<(u64, usize)>>,
}

impl Filed {
    pub(super) fn buckets(&self) -> usize {
        self.chunks.len()
    }

    /// Bucket `b`'s bytes.
    pub(super) fn size(&self, b: usize) -> usize {
        self.chunks[b].iter().map(|c| c.1).sum()
    }

    /// Bucket `b`'s `c`th chunk, appended to `into`; false past its last.
    pub(super) fn read_chunk(
        &mut self,
        b: usize,
        c: usize,
        into: &mut Vec<u8>,
    ) -> std::io::Result<bool> {
        let Some(&(offset, len)) = self.chunks[b].get(c) else {
            return Ok(false);
        };
        let start = into.len();
        into.resize(start + len, 0);
        read_at(&mut self.file, offset, &mut into[start..])?;
        Ok(true)
    }

    /// Bucket `b`'s bytes, appended to `into`.
    pub(super) fn read(&mut self, b: usize, into: &mut Vec<u8>) -> std::io::Result<()> {
        let mut c = 0;
        while self.read_chunk(b, c, into)? {
            c += 1;
        }
        Ok(())
    }
}

/// `buf.len()` bytes at `offset`: one system call where the platform has
/// positioned reads (a bucket is read a chunk at a time, so a seek and a
/// read each was twice the calls).
#[cfg(unix)]
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each bucket reads back what was appended to it, in order, in
    /// whole chunks.
    #[test]
    fn buckets_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut chunks = Chunks::new(dir.path(), 3, 0).unwrap();
        chunks.set_chunk(5);
        let mut want = vec![Vec::new(); 3];
        for i in 0..100u8 {
            let b = (i as usize * 7) % 3;
            let item = |buf: &mut Vec<u8>| {
                buf.extend([i, i]);
                Ok(())
            };
            chunks.append(b, item).unwrap();
            want[b].extend([i, i]);
        }
        let mut filed = chunks.done().unwrap();
        for (b, want) in want.iter().enumerate() {
            let mut got = Vec::new();
            filed.read(b, &mut got).unwrap();
            assert_eq!(&got, want, "bucket {b}");
            assert_eq!(filed.size(b), want.len());
            let mut first = Vec::new();
            assert!(filed.read_chunk(b, 0, &mut first).unwrap());
            assert_eq!(first.len() % 2, 0, "a chunk ends between items");
        }
    }
}
