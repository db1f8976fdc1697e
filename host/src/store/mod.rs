//! `store`: the online store — the latest row per entity key and feature view,
//! in an embedded RocksDB with one column family per view. Writes go in one
//! `WriteBatch` per batch; a read takes a batch of keys at once (`point.rs`). An older
//! event never overwrites a newer one in merge mode. Beside each view, its
//! offline log (`log.rs`) keeps every row written, by event and write time.

mod backup;
mod cells;
mod codec;
mod error;
mod key;
mod log;
mod log_upkeep;
mod overwrite;
mod point;
mod projector;
mod read_ahead;
mod side;
mod stream;
mod tuning;
mod wanted;
mod write;

pub use side::CacheKey;
use side::{DEAD_LETTER_CF, EMBED_CACHE_CF};

pub use backup::restore;
pub use cells::Cells;
pub use codec::{InputDigest, StoredRow, encode_value};
pub use error::StoreError;
pub use key::EntityKey;
use log::{LogClock, log_cf_name};
pub use log::{LogEntry, LogPolicy, LogScan};
pub use log_upkeep::Materialized;
pub use overwrite::Tracking;
pub use point::Reach;
pub use projector::{Projector, decode_projected};
pub use read_ahead::RowsRead;
pub use stream::{Alongside, OutboxEntry, SourceOffset};
use stream::{OFFSETS_CF, OUTBOX_CF};
pub use wanted::{FieldIndex, WantedRows};

use rocksdb::{BoundColumnFamily, ColumnFamilyDescriptor, DBWithThreadMode, MultiThreaded};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use tuning::Tuning;

/// Multi-threaded column family handles: a reload adds a view's column
/// family while other threads read and write the rest.
type DB = DBWithThreadMode<MultiThreaded>;

/// How a publish combines with what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Upsert by key: incoming fields replace stored ones, other stored
    /// fields stay; a row older than the stored one is skipped.
    #[default]
    Merge,
    /// The published rows replace stored rows whole; after the publish,
    /// keys it did not contain are deleted (see [`Store::retain`]).
    Overwrite,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteStats {
    pub written: u64,
    /// Rows skipped because the store already held a newer event.
    pub stale: u64,
    /// Which rows those were: positions in the batch as given.
    pub stale_rows: Vec<usize>,
}

/// `Debug` shows the path only: the database handle has nothing to print.
pub struct Store {
    db: DB,
    path: PathBuf,
    tuning: Tuning,
    /// Merge is read-modify-write; one writer at a time keeps it atomic.
    write_lock: Mutex<()>,
    /// Writes to any view's rows so far (`read_ahead.rs`).
    rows_version: AtomicU64,
    /// Per view, whether it may hold dead letters (`side.rs`).
    dead_letter_views: Mutex<HashMap<String, bool>>,
    /// Per view, keys written while an overwrite publish of it runs (and
    /// how many run): its final delete keeps them.
    tracked: Mutex<HashMap<String, (usize, HashSet<EntityKey>)>>,
    /// Its column families' names, for metrics (listing them reads the MANIFEST).
    families: Mutex<Vec<String>>,
    /// Sink -> the views whose stored rows go to its outbox.
    sinks: RwLock<HashMap<String, Vec<String>>>,
    outbox_seq: AtomicU64,
    outbox_changed: tokio::sync::Notify,
    log_policy: RwLock<LogPolicy>,
    log_clock: LogClock,
    /// The options of column families made after opening: RocksDB keeps
    /// raw pointers to their compaction filters, which these own, so they
    /// must live as long as the database.
    created: Mutex<Vec<rocksdb::Options>>,
}

fn cf_name(view: &str) -> String {
    format!("view:{view}")
}

impl Store {
    /// Open (or create) the store with a column family for each of `views`,
    /// in the default memory budget.
    pub fn open<'a>(
        path: &Path,
        views: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, StoreError> {
        Store::open_with(path, views, crate::config::DEFAULT_STORE_MEMORY_MB)
    }

    /// Open (or create) the store with a column family for each of `views`;
    /// RocksDB's caches and memtables share `memory_mb`. Column families
    /// of views no longer configured are kept, untouched.
    pub fn open_with<'a>(
        path: &Path,
        views: impl IntoIterator<Item = &'a str>,
        memory_mb: usize,
    ) -> Result<Self, StoreError> {
        let tuning = Tuning::new(memory_mb);
        let opts = tuning.db_options();
        let mut names: Vec<String> = DB::list_cf(&opts, path).unwrap_or_default();
        let wanted = (views.into_iter())
            .flat_map(|v| [cf_name(v), log_cf_name(v)])
            .chain([EMBED_CACHE_CF, DEAD_LETTER_CF, OFFSETS_CF, OUTBOX_CF].map(String::from));
        for n in wanted {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let families = Mutex::new(names.clone());
        let cfs = names.into_iter().map(|n| {
            let o = tuning.cf_options(&n);
            ColumnFamilyDescriptor::new(n, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store::from_db(db, path, tuning, families))
    }

    /// Open the store at `path` to read only, beside the process that owns
    /// it (a running server) or alone: a RocksDB secondary instance that
    /// sees what was written up to now. For `wafer export`, which must not
    /// stop a server to read its log. `scratch` holds the instance's own
    /// files and must outlive it.
    pub fn open_reader(path: &Path, scratch: &Path) -> Result<Self, StoreError> {
        let tuning = Tuning::new(crate::config::DEFAULT_STORE_MEMORY_MB);
        let mut opts = tuning.db_options();
        opts.create_if_missing(false);
        // A secondary instance keeps every file it reads open.
        opts.set_max_open_files(-1);
        let err = |source| StoreError::OpenReader {
            path: path.to_path_buf(),
            source,
        };
        let names: Vec<String> = DB::list_cf(&opts, path).map_err(err)?;
        let families = Mutex::new(names.clone());
        let db = DB::open_cf_as_secondary(&opts, path, scratch, names).map_err(err)?;
        Ok(Store::from_db(db, path, tuning, families))
    }

    fn from_db(db: DB, path: &Path, tuning: Tuning, families: Mutex<Vec<String>>) -> Self {
        let outbox_seq = AtomicU64::new(Store::next_outbox_seq(&db));
        Store {
            db,
            path: path.to_path_buf(),
            tuning,
            write_lock: Mutex::new(()),
            rows_version: AtomicU64::new(0),
            dead_letter_views: Mutex::new(HashMap::new()),
            tracked: Mutex::new(HashMap::new()),
            families,
            sinks: RwLock::new(HashMap::new()),
            outbox_seq,
            outbox_changed: tokio::sync::Notify::new(),
            log_policy: RwLock::new(LogPolicy::default()),
            log_clock: LogClock::default(),
            created: Mutex::new(Vec::new()),
        }
    }

    /// Each view's ttl (rows older than twice it are dropped as RocksDB
    /// compacts) and the embedding cache's (entries written longer ago are).
    pub fn set_ttls<'a>(
        &self,
        views: impl IntoIterator<Item = (&'a str, std::time::Duration)>,
        cache: Option<std::time::Duration>,
    ) {
        let mut ttls: HashMap<String, std::time::Duration> =
            views.into_iter().map(|(v, t)| (cf_name(v), t)).collect();
        ttls.extend(cache.map(|t| (EMBED_CACHE_CF.to_string(), t)));
        self.tuning.set_ttls(ttls);
    }

    /// Compact the embedding cache now (stale entries go).
    pub fn compact_cache(&self) -> Result<(), StoreError> {
        self.compact_family(&self.cf_raw(EMBED_CACHE_CF)?);
        Ok(())
    }

    /// Compact `view`'s column family now (expired rows go). RocksDB does
    /// this on its own as data grows, and daily; for tests and tools.
    pub fn compact(&self, view: &str) -> Result<(), StoreError> {
        self.compact_family(&self.cf(view)?);
        Ok(())
    }

    fn compact_family(&self, cf: &Arc<BoundColumnFamily<'_>>) {
        self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
    }

    /// Bytes in the shared block cache, memtables included.
    pub fn cache_usage(&self) -> usize {
        self.tuning.cache_usage()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Per column family (`view:<name>`, the embedding cache, the dead
    /// letters): RocksDB's estimate of its live data on disk and the size
    /// of its memtables, in bytes. For metrics: estimates kept in memory.
    pub fn sizes(&self) -> Vec<(String, u64, u64)> {
        let mut names = self
            .families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        names.retain(|n| n != "default");
        names
            .into_iter()
            .filter_map(|name| {
                let cf = self.db.cf_handle(&name)?;
                let int = |p: &str| {
                    self.db
                        .property_int_value_cf(&cf, p)
                        .ok()
                        .flatten()
                        .unwrap_or(0)
                };
                let disk = int("rocksdb.estimate-live-data-size");
                let memory = int("rocksdb.cur-size-all-mem-tables");
                Some((name, disk, memory))
            })
            .collect()
    }

    /// Add column families for `views` that the store lacks (a reload's new
    /// views); existing ones are untouched.
    pub fn ensure_views<'a>(
        &self,
        views: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), StoreError> {
        for view in views {
            for name in [cf_name(view), log_cf_name(view)] {
                if self.db.cf_handle(&name).is_some() {
                    continue;
                }
                let options = self.tuning.cf_options(&name);
                (self.db.create_cf(&name, &options)).map_err(|source| StoreError::Rocks {
                    view: view.into(),
                    op: "create column family",
                    source,
                })?;
                (self.created.lock().unwrap_or_else(|p| p.into_inner())).push(options);
                (self.families.lock().unwrap_or_else(|p| p.into_inner())).push(name);
            }
        }
        Ok(())
    }

    /// Sync the write-ahead log, so every acknowledged write is on disk
    /// even if the machine loses power, then write the memtables to files
    /// (for a clean stop; writes are in the log from the moment they
    /// return, which a process crash never loses). Without the second step
    /// every later open replays the log: a restart, and each reader an
    /// export or a `get` opens (about 0.2 s each after a 3M-row publish).
    pub fn flush(&self) -> Result<(), StoreError> {
        let err = |op| {
            move |source| StoreError::Rocks {
                view: "(all)".into(),
                op,
                source,
            }
        };
        self.db
            .flush_wal(true)
            .map_err(err("sync the write-ahead log"))?;
        let mut names = (self.families.lock().unwrap_or_else(|p| p.into_inner())).clone();
        // A store made by this process lists no `default`, which RocksDB
        // opens anyway and the log seeding's markers are written to.
        if !names.iter().any(|n| n == "default") {
            names.push("default".into());
        }
        let cfs: Vec<_> = names.iter().filter_map(|n| self.db.cf_handle(n)).collect();
        let cfs: Vec<_> = cfs.iter().collect();
        (self
            .db
            .flush_cfs_opt(&cfs, &rocksdb::FlushOptions::default()))
        .map_err(err("write the memtables to files"))
    }

    fn cf(&self, view: &str) -> Result<Arc<BoundColumnFamily<'_>>, StoreError> {
        self.cf_raw(&cf_name(view))
            .map_err(|_| StoreError::UnknownView { view: view.into() })
    }

    fn cf_raw(&self, name: &str) -> Result<Arc<BoundColumnFamily<'_>>, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::UnknownView { view: name.into() })
    }

    /// Number of rows in `view` (a scan; for tools and tests, not the hot path).
    pub fn count(&self, view: &str) -> Result<u64, StoreError> {
        let cf = self.cf(view)?;
        let mut n = 0;
        for item in self.db.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
            item.map_err(|source| StoreError::Rocks {
                view: view.into(),
                op: "scan",
                source,
            })?;
            n += 1;
        }
        Ok(n)
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
