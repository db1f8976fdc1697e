//! Metrics: what the runtime counts as it works, and their Prometheus text
//! for `GET /metrics`. What the rest of the code counts anyway (plugin
//! calls, embedding requests, queue depths, store sizes) is read when
//! scraped, not counted twice. One registry per [`Wafer`]: two stores in one
//! process (the tests do this) never mix their counts.

use super::Wafer;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;
/// An HTTP route: its endpoint and method. Every label is `'static` (see
/// [`route_label`]) or a number: counting a request allocates nothing.
type Route = [(&'static str, &'static str); 2];
type Answered = (Route, [(&'static str, u16); 1]);

/// The counts the runtime keeps as it works.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<Answered, Counter>,
    http_seconds: Family<Route, Histogram, fn() -> Histogram>,
    lookup_keys: Histogram,
    lookup_features: Histogram,
    lookups_from_files: Counter,
    rows: Family<Labels, Counter>,
}

fn latency() -> Histogram {
    // 50 µs .. 6.5 s: a cached lookup to a slow publish request.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wafer");
        let http_requests = Family::<Answered, Counter>::default();
        let http_seconds = Family::new_with_constructor(latency as fn() -> Histogram);
        let lookup_keys = Histogram::new(exponential_buckets(1.0, 4.0, 8));
        let lookup_features = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let lookups_from_files = Counter::default();
        let rows = Family::<Labels, Counter>::default();
        let help = "HTTP requests answered, by endpoint, method and status";
        registry.register("http_requests", help, http_requests.clone());
        let help = "Time to answer an HTTP request, by endpoint and method";
        registry.register_with_unit(
            "http_request_duration",
            help,
            Unit::Seconds,
            http_seconds.clone(),
        );
        let help = "Entity keys per lookup";
        registry.register("lookup_keys", help, lookup_keys.clone());
        let help = "Features per lookup";
        registry.register("lookup_features", help, lookup_features.clone());
        let help = "Lookups begun on the request's task whose rows were not all in memory, read again on another thread";
        registry.register("lookups_from_files", help, lookups_from_files.clone());
        let help = "Rows taken, by view, source and outcome (written, stale, failed)";
        registry.register("rows", help, rows.clone());
        Metrics {
            registry,
            http_requests,
            http_seconds,
            lookup_keys,
            lookup_features,
            lookups_from_files,
            rows,
        }
    }
}

impl Metrics {
    /// An answered request; `endpoint` is the route's pattern (a
    /// [`route_label`]), so that paths with a view in them do not make a
    /// series each.
    pub fn http(&self, endpoint: &'static str, method: &'static str, status: u16, took: Duration) {
        let route = [("endpoint", endpoint), ("method", method)];
        (self.http_seconds.get_or_create(&route)).observe(took.as_secs_f64());
        let answered = (route, [("status", status)]);
        self.http_requests.get_or_create(&answered).inc();
    }

    pub(super) fn lookup(&self, keys: usize, features: usize) {
        self.lookup_keys.observe(keys as f64);
        self.lookup_features.observe(features as f64);
    }

    /// A lookup read on a worker found its rows not all in memory.
    pub(super) fn lookup_from_files(&self) {
        self.lookups_from_files.inc();
    }

    /// Rows of `view` from `source` (`publish`, `POST /push (S)`, ...).
    pub(crate) fn rows(&self, view: &str, source: &str, written: u64, stale: u64, failed: u64) {
        for (outcome, n) in [("written", written), ("stale", stale), ("failed", failed)] {
            let labels = vec![
                ("view", view.to_string()),
                ("source", source.to_string()),
                ("outcome", outcome.to_string()),
            ];
            self.rows.get_or_create(&labels).inc_by(n);
        }
    }
}

impl Wafer {
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Every metric, in Prometheus' text format (OpenMetrics 1.0).
    pub fn metrics_text(&self) -> String {
        let snapshot = self.snapshot();
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut text, &self.inner.metrics.registry);
        let _ = encode_registry(&mut text, &snapshot);
        let _ = encode_eof(&mut text);
        text
    }

    /// What the runtime's parts report now, as a registry of its own.
    fn snapshot(&self) -> Registry {
        let mut r = Registry::with_prefix("wafer");
        let generation = self.inner.generation();
        let ready = Gauge::<i64>::default();
        ready.set(i64::from(self.readiness().is_ok()));
        r.register(
            "ready",
            "1 when every view takes writes (GET /ready)",
            ready,
        );
        let (queued, peak) = (gauges(), gauges());
        let (calls, traps, plugin_secs) = (counters(), counters(), float_counters());
        for v in generation.registry.views() {
            let view = || vec![("view", v.name.clone())];
            if let Some((rows, most)) = self.queue_depth(&v.name) {
                queued.get_or_create(&view()).set(rows as i64);
                peak.get_or_create(&view()).set(most as i64);
            }
            for (plugin, s) in generation.plugin_stats(&v.name) {
                let l = vec![("view", v.name.clone()), ("plugin", plugin)];
                calls.get_or_create(&l).inc_by(s.calls);
                traps.get_or_create(&l).inc_by(s.traps);
                plugin_secs.get_or_create(&l).inc_by(s.busy.as_secs_f64());
            }
        }
        let help = "Rows accepted by live writes and not yet stored, by view";
        r.register("write_queue_rows", help, queued);
        let help = "The most rows a view's write queue has held";
        r.register("write_queue_peak_rows", help, peak);
        let help = "Plugin transform calls, by view and plugin, since the config in force loaded";
        r.register("plugin_calls", help, calls);
        r.register("plugin_traps", "Plugin calls that trapped", traps);
        let help = "Time inside plugin transform calls";
        r.register_with_unit("plugin_call", help, Unit::Seconds, plugin_secs);
        self.embed_metrics(&mut r, &generation);
        self.store_metrics(&mut r);
        self.stream_metrics(&mut r);
        r
    }

    /// Each source partition's place in its topic, and each sink's rows.
    fn stream_metrics(&self, r: &mut Registry) {
        let status = self.streams_status();
        let (lag, offset, end) = (gauges(), gauges(), gauges());
        for s in &status.sources {
            for p in &s.partitions {
                let labels = vec![
                    ("source", s.name.clone()),
                    ("topic", s.topic.clone()),
                    ("partition", p.partition.to_string()),
                ];
                for (family, v) in [(&lag, p.lag), (&offset, p.offset), (&end, p.high_watermark)] {
                    if let Some(v) = v {
                        family.get_or_create(&labels).set(v);
                    }
                }
            }
        }
        let help = "Records in a source partition not yet in the store";
        r.register("source_lag_records", help, lag);
        let help = "A source partition's next offset to store";
        r.register("source_offset", help, offset);
        let help = "A source partition's end, as its broker last said";
        r.register("source_high_watermark", help, end);
        let sent = counters();
        for k in &status.sinks {
            let labels = vec![("sink", k.name.clone()), ("topic", k.topic.clone())];
            sent.get_or_create(&labels).inc_by(k.rows);
        }
        r.register("sink_rows", "Rows a sink wrote to its topic", sent);
    }

    fn embed_metrics(&self, r: &mut Registry, generation: &super::generation::Generation) {
        let (requests, retries, secs) = (counters(), counters(), float_counters());
        for l in generation.embed().llm_stats() {
            let labels = vec![("llm", l.name)];
            requests.get_or_create(&labels).inc_by(l.requests);
            retries.get_or_create(&labels).inc_by(l.retries);
            secs.get_or_create(&labels).inc_by(l.busy.as_secs_f64());
        }
        let help = "Embedding requests (local model: batches), retries included, by llm";
        r.register("embedding_requests", help, requests);
        r.register(
            "embedding_retries",
            "Embedding requests that repeated a failed one",
            retries,
        );
        let help = "Time in embedding requests (local model: inference)";
        r.register_with_unit("embedding_request", help, Unit::Seconds, secs);
        let stats = generation.embed().stats();
        let cache = counters();
        cache
            .get_or_create(&vec![("result", "hit".into())])
            .inc_by(stats.cache_hits);
        cache
            .get_or_create(&vec![("result", "miss".into())])
            .inc_by(stats.cache_misses);
        r.register(
            "embedding_cache_lookups",
            "Texts looked up in the embedding cache",
            cache,
        );
    }

    fn store_metrics(&self, r: &mut Registry) {
        let (disk, memory) = (gauges(), gauges());
        for (cf, on_disk, in_memory) in self.inner.store.sizes() {
            let labels = vec![("column_family", cf)];
            disk.get_or_create(&labels).set(on_disk as i64);
            memory.get_or_create(&labels).set(in_memory as i64);
        }
        let help = "RocksDB's estimate of live data on disk, by column family";
        r.register_with_unit("store_live_data", help, Unit::Bytes, disk);
        let help = "RocksDB memtables, by column family";
        r.register_with_unit("store_memtable", help, Unit::Bytes, memory);
        let cache = Gauge::<i64>::default();
        cache.set(self.inner.store.cache_usage() as i64);
        let help = "RocksDB's shared block cache, memtables included ([store] memory_mb)";
        r.register_with_unit("store_block_cache", help, Unit::Bytes, cache);
        if let Some(rss) = resident_bytes() {
            let g = Gauge::<i64>::default();
            g.set(rss as i64);
            let help = "The process's resident memory";
            r.register_with_unit("process_resident_memory", help, Unit::Bytes, g);
        }
    }
}

/// A route's pattern (axum's `MatchedPath`, never a request's own path) as
/// a `'static` label. Each pattern is kept once, for good: a router has a
/// fixed handful, so this is bounded; a per-request `String` was not free.
pub(crate) fn route_label(pattern: &str) -> &'static str {
    static SEEN: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());
    let find = |seen: &[&'static str]| seen.iter().copied().find(|s| *s == pattern);
    if let Some(s) = find(&SEEN.read().unwrap_or_else(|p| p.into_inner())) {
        return s;
    }
    let mut seen = SEEN.write().unwrap_or_else(|p| p.into_inner());
    find(&seen).unwrap_or_else(|| {
        let kept: &'static str = Box::leak(pattern.to_owned().into_boxed_str());
        seen.push(kept);
        kept
    })
}

fn gauges() -> Family<Labels, Gauge> {
    Family::default()
}

fn counters() -> Family<Labels, Counter> {
    Family::default()
}

fn float_counters() -> Family<Labels, Counter<f64, std::sync::atomic::AtomicU64>> {
    Family::default()
}

/// `VmRSS` from `/proc/self/status`; none off Linux.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
