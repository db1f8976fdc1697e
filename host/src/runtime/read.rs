//! [`Wafer`]'s lookups: where a read runs. A few keys read on the calling
//! task; more read in place on a server's worker, or on a blocking thread
//! for any other caller. What a lookup reads is `lookup.rs`'s.

use super::Wafer;
use super::lookup::{self, FeatureColumn, Features, Lookup, LookupError};

impl Wafer {
    /// Read features. Blocking (one batched RocksDB read per view).
    pub fn lookup_blocking(&self, req: &Lookup) -> Result<Features, LookupError> {
        let (rows, columns) = self.read(req)?;
        let entities = req.entities.clone();
        Ok(Features {
            rows,
            entities,
            columns,
        })
    }

    fn read(&self, req: &Lookup) -> Result<(usize, Vec<FeatureColumn>), LookupError> {
        let (rows, columns) = lookup::lookup(&self.inner.generation(), &self.inner.store, req)?;
        (self.inner.metrics).lookup(rows, columns.len());
        Ok((rows, columns))
    }

    /// Read features. A lookup of a few keys runs on the calling task: its
    /// one batched read of a few keys is a few microseconds from RocksDB's
    /// block cache, less than the two thread hand-offs of a blocking task,
    /// which cost a one-key lookup over HTTP most of its time (benches/
    /// serving.rs). Larger lookups go to a blocking thread.
    pub async fn lookup(&self, req: Lookup) -> Result<Features, LookupError> {
        self.lookup_on(req, Large::BlockingThread).await
    }

    /// [`Wafer::lookup`] for a task the server spawned on its runtime:
    /// there a larger lookup blocks in place (Tokio hands the worker's
    /// other tasks to another thread first), so the answer is encoded where
    /// it was read, without the wake-up of a blocking task's return (a
    /// 100 × 50 lookup's p99 over one connection fell by about 7 %, median
    /// of nine pairs of runs). Not for any caller: `block_in_place` panics
    /// inside a `LocalSet` or a current-thread runtime's `block_on`, which
    /// a spawned task never is; on a current-thread runtime a blocking
    /// thread still reads. A read stuck in RocksDB past
    /// `request_timeout_secs` now holds its request (and its place under
    /// `max_concurrent_requests`) until it ends, where with a blocking
    /// thread the timeout answered 503 first while the read went on.
    pub(crate) async fn lookup_in_task(&self, req: Lookup) -> Result<Features, LookupError> {
        let large = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => Large::InPlace,
            _ => Large::BlockingThread,
        };
        self.lookup_on(req, large).await
    }

    async fn lookup_on(&self, req: Lookup, large: Large) -> Result<Features, LookupError> {
        let (req, read) = if lookup::small(&req) {
            let read = self.read(&req);
            (req, read)
        } else if large == Large::InPlace {
            let read = tokio::task::block_in_place(|| self.read(&req));
            (req, read)
        } else {
            let wafer = self.clone();
            let task = tokio::task::spawn_blocking(move || {
                let read = wafer.read(&req);
                (req, read)
            });
            task.await.map_err(|e| LookupError::Task(e.to_string()))?
        };
        let (rows, columns) = read?;
        Ok(Features {
            rows,
            entities: req.entities,
            columns,
        })
    }
}

/// Where a lookup of more than a few keys reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Large {
    BlockingThread,
    InPlace,
}
