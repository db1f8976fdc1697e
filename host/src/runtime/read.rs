//! [`Wafer`]'s lookups: where a read runs. A lookup within its caller's
//! limits (`weight.rs`) whose rows are in memory reads on the task that
//! asked; the rest read where they may wait on the disk: in place on a
//! server's worker, or on a blocking thread for any other caller. What a
//! lookup reads is `lookup.rs`'s.

use super::Wafer;
use super::generation::Generation;
use super::lookup::{self, FeatureColumn, Features, Lookup, LookupError};
use super::weight::{self, Limits};
use crate::store::{Cells, Reach, StoreError};
use std::sync::Arc;

impl Wafer {
    /// Read features. Blocking (one RocksDB read of the keys per view).
    pub fn lookup_blocking(&self, req: &Lookup) -> Result<Features, LookupError> {
        let generation = self.inner.generation();
        let (rows, columns) = self.read_in(&generation, req, Reach::Anywhere)?;
        let entities = req.entities.clone();
        Ok(Features {
            rows,
            entities,
            columns,
        })
    }

    fn read_in<C: Cells>(&self, generation: &Generation, req: &Lookup, reach: Reach) -> Read<C> {
        let (rows, columns) = lookup::lookup(generation, (&self.inner.store, reach), req)?;
        (self.inner.metrics).lookup(rows, columns.len());
        Ok((rows, columns))
    }

    /// Read features. A lookup of a few keys ([`weight::ANY_CALLER`]) whose
    /// rows are in memory (the memtables, RocksDB's block cache) runs on
    /// the calling task; larger ones, and those whose rows are not all in
    /// memory, go to a blocking thread.
    pub async fn lookup(&self, req: Lookup) -> Result<Features, LookupError> {
        self.lookup_on(req, weight::ANY_CALLER, Large::BlockingThread)
            .await
    }

    /// [`Wafer::lookup`] for a task the server spawned on its runtime:
    /// within [`weight::SERVER_TASK`] a lookup reads right there, and its
    /// answer is encoded where it was read. Handing it to another thread
    /// cost more than the read (`block_in_place` wakes a thread to take
    /// over the worker; docs/benchmarks.md has the figures). What such a
    /// lookup holds its worker for is bounded like a small one's: it reads
    /// only rows in memory (one whose rows are not all there reads again
    /// as a larger one), and other workers may take the worker's queued
    /// tasks meanwhile (not the one Tokio keeps in its LIFO slot, and only
    /// a worker with nothing of its own to do). Larger lookups block in
    /// place (Tokio hands the worker's other tasks to another thread
    /// first). `block_in_place` panics inside a `LocalSet` or a
    /// current-thread runtime's `block_on`, which a spawned task never is;
    /// on a current-thread runtime a blocking thread reads. A read stuck in
    /// RocksDB past `request_timeout_secs` holds its request (and its place
    /// under `max_concurrent_requests`) until it ends, where with a
    /// blocking thread the timeout answered 503 first while the read went
    /// on.
    pub(crate) async fn lookup_in_task<C: Cells>(
        &self,
        req: Lookup,
    ) -> Result<Features<C>, LookupError> {
        let large = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => Large::InPlace,
            _ => Large::BlockingThread,
        };
        self.lookup_on(req, weight::SERVER_TASK, large).await
    }

    async fn lookup_on<C: Cells>(
        &self,
        req: Lookup,
        limits: Limits,
        large: Large,
    ) -> Result<Features<C>, LookupError> {
        let generation = self.inner.generation();
        let inline = weight::fits(&generation.registry, &req, limits);
        // Read here only rows that are in memory: one in a file would hold
        // the worker on the disk, so that lookup reads again where it may.
        let here = inline.then(|| self.read_in(&generation, &req, Reach::Memory));
        let (req, read) = match here {
            Some(Err(LookupError::Store(StoreError::NotInMemory { .. }))) => {
                self.inner.metrics.lookup_from_files();
                self.read_away(generation, req, large).await?
            }
            None => self.read_away(generation, req, large).await?,
            Some(read) => (req, read),
        };
        let (rows, columns) = read?;
        Ok(Features {
            rows,
            entities: req.entities,
            columns,
        })
    }

    /// `req` read where it may wait on the disk: in place, or on a
    /// blocking thread. The request back, and what was read.
    async fn read_away<C: Cells>(
        &self,
        generation: Arc<Generation>,
        req: Lookup,
        large: Large,
    ) -> Result<(Lookup, Read<C>), LookupError> {
        if large == Large::InPlace {
            let read =
                tokio::task::block_in_place(|| self.read_in(&generation, &req, Reach::Anywhere));
            return Ok((req, read));
        }
        let wafer = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let read = wafer.read_in(&generation, &req, Reach::Anywhere);
            (req, read)
        });
        task.await.map_err(|e| LookupError::Task(e.to_string()))
    }
}

/// A read's entity rows and feature columns.
type Read<C> = Result<(usize, Vec<FeatureColumn<C>>), LookupError>;

/// Where a lookup reads that may wait on the disk: one past its caller's
/// limits, or whose rows were not all in memory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Large {
    BlockingThread,
    InPlace,
}
