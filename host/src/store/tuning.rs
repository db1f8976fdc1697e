//! RocksDB sized for small machines. One LRU block cache of `[store]
//! memory_mb` serves every column family, and memtables are charged to it
//! (capped at half), so ten views do not mean ten times the memory; index
//! and filter blocks live in it too. Bloom filters spare point lookups of
//! absent keys a disk read. Rows older than twice their view's ttl are
//! dropped when RocksDB compacts them (files are compacted at least daily,
//! so this happens without write traffic too): expired rows read
//! `OUTSIDE_MAX_AGE` for another ttl first, so a ttl shortened by mistake or
//! a clock that jumped ahead can be undone before anything is lost. Cached
//! embeddings made longer ago than `[store] embedding_cache_ttl` go the same
//! way (without a grace: one costs a request to make again), and offline
//! log entries written longer ago than `[store] offline_log_retention`.

use super::codec::StoredRow;
use super::side::{EMBED_CACHE_CF, decode_cached};
use crate::time::Micros;
use rocksdb::{
    BlockBasedOptions, Cache, CompactionDecision, DBCompressionType, Options, WriteBufferManager,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The offline logs' block size (RocksDB's default, 4 KiB, suits point
/// lookups).
const LOG_BLOCK_BYTES: usize = 64 << 10;

/// The ttl of each view by column family name, and the embedding cache's
/// under its own; a reload may change them.
type Ttls = Arc<RwLock<HashMap<String, Duration>>>;

pub(super) struct Tuning {
    cache: Cache,
    buffers: WriteBufferManager,
    memtable_bytes: usize,
    ttls: Ttls,
    /// The offline log's retention, for every view's log.
    log_retention: Arc<RwLock<Option<Duration>>>,
    /// Log entries written before this (micros) go: the size cap's doing.
    log_cutoff: Arc<AtomicI64>,
}

impl Tuning {
    pub(super) fn new(memory_mb: usize) -> Tuning {
        let budget = memory_mb.max(8) << 20;
        let cache = Cache::new_lru_cache(budget);
        // Memtables count against the cache; flushed once they pass half of it.
        let buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            budget / 2,
            false,
            cache.clone(),
        );
        Tuning {
            cache,
            buffers,
            // RocksDB's 64 MiB default, per view, is most of an edge box.
            memtable_bytes: (budget / 8).clamp(1 << 20, 16 << 20),
            ttls: Ttls::default(),
            log_retention: Arc::default(),
            log_cutoff: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    pub(super) fn db_options(&self) -> Options {
        let mut o = Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        o.set_write_buffer_manager(&self.buffers);
        o
    }

    /// Options of the column family `cf`; a view's (`view:<name>`) drops
    /// rows past the view's ttl as it compacts.
    pub(super) fn cf_options(&self, cf: &str) -> Options {
        let mut o = Options::default();
        o.set_compression_type(DBCompressionType::Lz4);
        // Measured when exports sought once per spine row, reading the logs'
        // blocks many times over: zstd's per-block set-up was a quarter of
        // the time. Exports now read each block once, so zstd at the bottom
        // may well pay for itself again; not yet re-measured.
        if !cf.starts_with("log:") {
            o.set_bottommost_compression_type(DBCompressionType::Zstd);
        }
        o.set_write_buffer_size(self.memtable_bytes);
        o.set_max_write_buffer_number(2);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.cache);
        if cf.starts_with("log:") {
            // A log is read by scans (exports, materialize), never by a
            // point get: larger blocks cost less per entry to read, and a
            // bloom filter would only be built and cached for nothing.
            table.set_block_size(LOG_BLOCK_BYTES);
        } else {
            table.set_bloom_filter(10.0, false);
        }
        table.set_cache_index_and_filter_blocks(true);
        table.set_cache_index_and_filter_blocks_with_high_priority(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        o.set_block_based_table_factory(&table);
        let (ttls, name) = (self.ttls.clone(), cf.to_string());
        if cf.starts_with("view:") {
            o.set_compaction_filter("wafer-ttl", move |_level, _key, value: &[u8]| {
                expired(&ttls, &name, value)
            });
            o.set_periodic_compaction_seconds(24 * 3600);
        } else if cf.starts_with("log:") {
            let (retention, cutoff) = (self.log_retention.clone(), self.log_cutoff.clone());
            o.set_compaction_filter("wafer-log-retention", move |_level, key: &[u8], _value| {
                past_retention(&retention, &cutoff, key)
            });
            o.set_periodic_compaction_seconds(24 * 3600);
        } else if cf == EMBED_CACHE_CF {
            o.set_compaction_filter("wafer-cache-ttl", move |_level, _key, value: &[u8]| {
                stale_embedding(&ttls, value)
            });
            o.set_periodic_compaction_seconds(24 * 3600);
        }
        o
    }

    pub(super) fn set_ttls(&self, ttls: HashMap<String, Duration>) {
        *self.ttls.write().unwrap_or_else(|p| p.into_inner()) = ttls;
    }

    pub(super) fn raise_log_cutoff(&self, cutoff: Micros) {
        self.log_cutoff.fetch_max(cutoff.0, Ordering::Relaxed);
    }

    pub(super) fn set_log_retention(&self, retention: Option<Duration>) {
        *self
            .log_retention
            .write()
            .unwrap_or_else(|p| p.into_inner()) = retention;
    }

    /// Bytes held by the block cache, memtables included.
    pub(super) fn cache_usage(&self) -> usize {
        self.cache.get_usage()
    }
}

/// Drop a cached embedding written longer ago than the cache's ttl: it
/// costs one request to make again. Entries from before write times were
/// kept have none, and stay.
fn stale_embedding(ttls: &Ttls, value: &[u8]) -> CompactionDecision {
    let ttls = ttls.read().unwrap_or_else(|p| p.into_inner());
    let ttl = ttls.get(EMBED_CACHE_CF);
    match (ttl, decode_cached(value)) {
        (Some(ttl), Some((Some(written), _))) if written.older_than(*ttl, Micros::now()) => {
            CompactionDecision::Remove
        }
        _ => CompactionDecision::Keep,
    }
}

/// Drop an offline log entry written longer ago than the retention, or
/// before the size cap's cutoff.
fn past_retention(
    retention: &RwLock<Option<Duration>>,
    cutoff: &AtomicI64,
    key: &[u8],
) -> CompactionDecision {
    let retention = *retention.read().unwrap_or_else(|p| p.into_inner());
    let Some(written) = super::log::written_of(key) else {
        return CompactionDecision::Keep;
    };
    let aged = retention.is_some_and(|r| written.older_than(r, Micros::now()));
    if aged || written.0 < cutoff.load(Ordering::Relaxed) {
        CompactionDecision::Remove
    } else {
        CompactionDecision::Keep
    }
}

/// Drop a row whose event time is past twice its view's ttl; keep anything
/// that does not decode (it is reported on read, never lost silently).
fn expired(ttls: &Ttls, cf: &str, value: &[u8]) -> CompactionDecision {
    let ttls = ttls.read().unwrap_or_else(|p| p.into_inner());
    let (Some(ttl), Some(time)) = (ttls.get(cf), StoredRow::event_time_of(value)) else {
        return CompactionDecision::Keep;
    };
    if time.older_than(ttl.saturating_mul(2), Micros::now()) {
        CompactionDecision::Remove
    } else {
        CompactionDecision::Keep
    }
}
