//! [`Wafer`]'s lookups: where a read runs. A few keys read on the calling
//! task, and so does a server's lookup of a bounded number of values, when
//! their rows are in memory; the rest read in place on a server's worker,
//! or on a blocking thread for any other caller. What a lookup reads is `lookup.rs`'s.

use super::Wafer;
use super::generation::Generation;
use super::lookup::{self, FeatureColumn, Features, Lookup, LookupError};
use crate::registry::Registry;
use crate::store::{Reach, StoreError};
use std::sync::Arc;

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
        self.read_in(&self.inner.generation(), req, Reach::Anywhere)
    }

    fn read_in(
        &self,
        generation: &Generation,
        req: &Lookup,
        reach: Reach,
    ) -> Result<(usize, Vec<FeatureColumn>), LookupError> {
        let (rows, columns) = lookup::lookup(generation, (&self.inner.store, reach), req)?;
        (self.inner.metrics).lookup(rows, columns.len());
        Ok((rows, columns))
    }

    /// Read features. A lookup of a few keys runs on the calling task when
    /// its rows are in memory (the memtables, RocksDB's block cache): a few
    /// microseconds, less than the two thread hand-offs of a blocking task,
    /// which cost a one-key lookup over HTTP most of its time (benches/
    /// serving.rs). Larger lookups, and those whose rows are in files, go
    /// to a blocking thread.
    pub async fn lookup(&self, req: Lookup) -> Result<Features, LookupError> {
        self.lookup_on(req, 0, Large::BlockingThread).await
    }

    /// [`Wafer::lookup`] for a task the server spawned on its runtime: a
    /// lookup of up to [`INLINE_CELLS`] values reads right there,
    /// and its answer is encoded where it was read. Handing it to another
    /// thread cost more than the read: `block_in_place` wakes a thread to
    /// take over the worker (on this 2-core VM, the core the client runs
    /// on), and a 100 × 50 lookup over one connection read in place had
    /// p99 15–30 % lower, over 8 and 64 connections 10–25 % more lookups a
    /// second and p99 a fifth of `block_in_place`'s (docs/benchmarks.md).
    /// What such a lookup holds its worker for is bounded like a small
    /// lookup's: a few hundred microseconds, as it reads only rows in
    /// memory (one whose rows are not all there reads again as a larger
    /// one), and the worker's other tasks can be stolen meanwhile. Larger
    /// lookups block in place (Tokio hands the worker's other tasks to
    /// another thread first). `block_in_place`
    /// panics inside a `LocalSet` or a current-thread runtime's
    /// `block_on`, which a spawned task never is; on a current-thread
    /// runtime a blocking thread reads. A read stuck in RocksDB past
    /// `request_timeout_secs` holds its request (and its place under
    /// `max_concurrent_requests`) until it ends, where with a blocking
    /// thread the timeout answered 503 first while the read went on.
    pub(crate) async fn lookup_in_task(&self, req: Lookup) -> Result<Features, LookupError> {
        let large = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => Large::InPlace,
            _ => Large::BlockingThread,
        };
        self.lookup_on(req, INLINE_CELLS, large).await
    }

    async fn lookup_on(
        &self,
        req: Lookup,
        inline_cells: usize,
        large: Large,
    ) -> Result<Features, LookupError> {
        let generation = self.inner.generation();
        let inline = small(&req) || cells(&generation.registry, &req) <= inline_cells;
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
    async fn read_away(
        &self,
        generation: Arc<Generation>,
        req: Lookup,
        large: Large,
    ) -> Result<(Lookup, Read), LookupError> {
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
type Read = Result<(usize, Vec<FeatureColumn>), LookupError>;

/// Where a lookup of more than a few keys reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Large {
    BlockingThread,
    InPlace,
}

/// The most keys (× views) a lookup may read on the async worker that asked.
const INLINE_LOOKUP_KEYS: usize = 8;

/// Whether `req` reads at most [`INLINE_LOOKUP_KEYS`] keys (its entity
/// rows times its views), so it may run on the async worker that asked.
/// A feature service counts as many views (it is not resolved here). Stops
/// at the first view past the limit: a body may list any number of
/// features, and this runs before anything is checked.
fn small(req: &Lookup) -> bool {
    let rows = req.entities.first().map_or(0, |(_, k)| k.len());
    if req.feature_service.is_some() {
        return false;
    }
    let mut views: Vec<&str> = Vec::new();
    for f in &req.features {
        let view = f.split(':').next().unwrap_or_default();
        if !views.contains(&view) {
            views.push(view);
            if rows.saturating_mul(views.len()) > INLINE_LOOKUP_KEYS {
                return false;
            }
        }
    }
    true
}

/// The most values (entity rows × features) a server's lookup reads on
/// the worker that took its request: about 0.3 ms of reading and encoding
/// on the development machine, where a 100 × 50 lookup takes 0.2
/// ([`Wafer::lookup_in_task`] says why in place).
const INLINE_CELLS: usize = 8_192;

/// How many values `req` asks for: its entity rows times its features, a
/// feature service's as the registry expands them (none when there is no
/// such service: the lookup fails at once).
fn cells(registry: &Registry, req: &Lookup) -> usize {
    let rows = req.entities.first().map_or(0, |(_, k)| k.len());
    let features = match &req.feature_service {
        None => req.features.len(),
        Some(name) => registry.feature_service(name).map_or(0, |f| f.len()),
    };
    rows.saturating_mul(features)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn a_lookup_of_few_keys_runs_where_it_is_asked() {
        let lookup = |features: &[&str], keys: usize, service: Option<&str>| Lookup {
            features: features.iter().map(|f| f.to_string()).collect(),
            feature_service: service.map(String::from),
            entities: vec![("id".into(), vec![Value::Int64(1); keys])],
        };
        // 4 keys × 2 views is 8 reads; a third view or a ninth key is more.
        assert!(small(&lookup(&["a:x", "b:y", "a:z"], 4, None)));
        assert!(!small(&lookup(&["a:x", "b:y", "c:z"], 4, None)));
        assert!(!small(&lookup(&["a:x"], 9, None)));
        assert!(!small(&lookup(&[], 1, Some("s"))));
    }

    /// Values asked for: rows × features, a service's as it expands (a
    /// bare view is each of its fields, a feature named twice is once);
    /// an unknown service none.
    #[test]
    fn a_lookup_counts_the_values_it_asks_for() {
        let toml = r#"
[[entity]]
name = "item"
join_key = "id"
type = "int64"

[[feature_view]]
name = "a"
entity = "item"
fields = [
  { name = "id", type = "INT64", primary_key = true },
  { name = "x", type = "DOUBLE" },
  { name = "y", type = "DOUBLE" },
]

[[feature_service]]
name = "s"
features = ["a", "a:x", "b:z"]

[[feature_view]]
name = "b"
entity = "item"
fields = [
  { name = "id", type = "INT64", primary_key = true },
  { name = "z", type = "DOUBLE" },
]
"#;
        let config = crate::config::Config::parse(std::path::Path::new("w.toml"), toml).unwrap();
        let registry = Registry::new(config);
        let lookup = |features: &[&str], keys: usize, service: Option<&str>| Lookup {
            features: features.iter().map(|f| f.to_string()).collect(),
            feature_service: service.map(String::from),
            entities: vec![("id".into(), vec![Value::Int64(1); keys])],
        };
        assert_eq!(cells(&registry, &lookup(&["a:x", "a:y"], 100, None)), 200);
        assert_eq!(cells(&registry, &lookup(&[], 100, Some("s"))), 300);
        assert_eq!(cells(&registry, &lookup(&[], 100, Some("t"))), 0);
    }
}
