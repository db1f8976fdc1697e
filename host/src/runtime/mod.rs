//! `runtime`: [`Wafer`], the one object that owns a running feature store:
//! the config, the RocksDB store, the plugin engine, the embedding service,
//! each view's long-lived pipelines and its live-write queue. Everything the
//! command line, the HTTP server, the quickstart, the tests and the benches
//! do goes through it: typed lookups, live writes (pushes), file publishes,
//! dead-letter work, reloads, serving and a clean stop.
//!
//! Invariants: one process owns the store (RocksDB's lock); a reload loads
//! the new config and its plugins whole before it swaps them in, so a
//! lookup or a write sees one version or the other, never a mix; a write is
//! answered only once its rows are in the write-ahead log.

mod error;
mod generation;
mod jobs;
mod lookup;
mod metrics;
mod read;
mod reload;
mod weight;
mod writer;

pub use error::{Error, WriteError};
pub use lookup::{FeatureColumn, Features, Lookup, LookupError, Status};
pub use metrics::Metrics;
pub(crate) use metrics::route_label;
pub use reload::Reloaded;
pub use writer::WriteOptions;

use crate::config::Config;
use crate::ingest::{IngestError, Pipeline, Record, RowOutcome};
use crate::registry::Registry;
use crate::store::Store;
use crate::stream::{Board, Streams, StreamsStatus};
use generation::Generation;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use writer::{Settings, Writer};

/// A running feature store. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Wafer {
    inner: Arc<Inner>,
}

struct Inner {
    config_path: PathBuf,
    store: Arc<Store>,
    current: RwLock<Arc<Generation>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    writers: Mutex<HashMap<String, Arc<Writer>>>,
    /// Drain tasks of writers a reload replaced: a stop waits for them too.
    retired: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
    metrics: Arc<Metrics>,
    /// The running sources and sinks, while serving.
    streams: tokio::sync::Mutex<Option<Streams>>,
    board: Arc<Board>,
}

impl Inner {
    fn generation(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Wafer {
    /// Open the config at `config` and its store. Builds no pipeline: a
    /// command that only reads compiles no plugin and loads no model.
    /// Needs a Tokio runtime (live writes run on it).
    pub fn open(config: &Path) -> Result<Wafer, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Task(
                "opening",
                "no Tokio runtime to run live writes on".into(),
            ));
        }
        let config = Config::load(config)?;
        let store = Arc::new(Store::open_with(
            &config.store_path(),
            config.views.iter().map(|v| v.name.get_ref().as_str()),
            *config.store.memory_mb.get_ref(),
        )?);
        let path = config.path.clone();
        let generation = Generation::new(Registry::new(config), Some(&store), None)?;
        set_ttls(&store, &generation.registry);
        store.set_log_policy(generation.registry.config.store.log_policy());
        store.seed_logs()?;
        set_sinks(&store, &generation.registry);
        let inner = Arc::new(Inner {
            config_path: path,
            store,
            current: RwLock::new(Arc::new(generation)),
            reloading: tokio::sync::Mutex::new(()),
            writers: Mutex::new(HashMap::new()),
            retired: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            metrics: Arc::new(Metrics::default()),
            streams: tokio::sync::Mutex::new(None),
            board: Arc::new(Board::default()),
        });
        trim_logs_periodically(&inner);
        let wafer = Wafer { inner };
        wafer.sync_writers();
        Ok(wafer)
    }

    /// The views and settings now in force.
    pub fn registry(&self) -> Arc<Registry> {
        self.inner.generation().registry.clone()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The config file it was opened from (and reloads).
    pub fn config_path(&self) -> &Path {
        &self.inner.config_path
    }

    /// The plugin engine of the version now in force.
    pub fn engine(&self) -> crate::plugin::PluginEngine {
        self.inner.generation().engine.clone()
    }

    /// Write `records` into `view` through its transformations, as a push
    /// does: gathered with other writes into plugin batches, answered once
    /// stored, one outcome per record in order.
    pub async fn ingest(
        &self,
        view: &str,
        records: Vec<Record>,
        options: WriteOptions,
    ) -> Result<Vec<RowOutcome>, WriteError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(WriteError::Closed);
        }
        let limit = *self.registry().config.server.max_rows_per_write.get_ref();
        if records.len() > limit {
            return Err(WriteError::TooManyRows {
                rows: records.len(),
                limit,
            });
        }
        let generation = self.inner.generation();
        let writer = self.writer(view)?;
        writer.submit(generation, records, options).await
    }

    /// `Ok` when every view of the version in force takes writes and the
    /// store is open; else why not, one reason per problem.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(vec!["the server is stopping".into()]);
        }
        let mut problems = self.inner.generation().not_ready();
        problems.extend(self.inner.board.problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The live-write queue of `view`: rows waiting now, and the most ever.
    pub fn queue_depth(&self, view: &str) -> Option<(usize, usize)> {
        let writers = self.inner.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers.get(view).map(|w| (w.queued(), w.peak()))
    }

    /// Plugin calls made for `view` since the version in force was loaded.
    pub fn plugin_calls(&self, view: &str) -> u64 {
        self.inner.generation().plugin_calls(view)
    }

    fn writer(&self, view: &str) -> Result<Arc<Writer>, WriteError> {
        let writers = self.inner.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers.get(view).cloned().ok_or_else(|| {
            // A stop empties the map: say so, not that the view is unknown.
            if self.inner.closed.load(Ordering::Acquire) {
                WriteError::Closed
            } else {
                WriteError::UnknownView(view.into())
            }
        })
    }

    /// One writer per configured view, with the settings in force: new
    /// views get one, removed views' writers drain and stop, writers whose
    /// settings changed are replaced (the old one drains its queue).
    fn sync_writers(&self) {
        let registry = self.registry();
        let s = &registry.config.server;
        let settings = Settings {
            capacity: *s.write_queue_rows.get_ref(),
            linger: Duration::from_millis(*s.write_linger_ms.get_ref()),
        };
        let mut writers = self.inner.writers.lock().unwrap_or_else(|p| p.into_inner());
        let mut retired = self.inner.retired.lock().unwrap_or_else(|p| p.into_inner());
        retired.retain(|h| !h.is_finished());
        writers.retain(|name, w| {
            let keep = registry.view(name).is_some() && w.settings == settings;
            retired.extend((!keep).then(|| w.take_worker()).flatten());
            keep
        });
        for v in registry.views() {
            writers.entry(v.name.clone()).or_insert_with(|| {
                let metrics = self.inner.metrics.clone();
                Writer::spawn(&v.name, settings, &self.inner.store, metrics)
            });
        }
    }

    /// Build every view's pipeline now (compile plugins, load models), so the
    /// first write does not wait for it; views not reached by the time it
    /// closes are left. Returns the views that cannot take transformed
    /// writes, with why; they still serve lookups.
    pub async fn warm_up(&self) -> Vec<(String, String)> {
        let generation = self.inner.generation();
        let inner = self.inner.clone();
        let go_on = move || !inner.closed.load(Ordering::Acquire);
        let failed = blocking("warm-up", move || Ok(generation.warm(go_on))).await;
        let failed = failed.unwrap_or_default();
        failed
            .into_iter()
            .map(|(v, e)| (v, e.to_string()))
            .collect()
    }

    /// Start consuming every `[[source]]` and sending every `[[sink]]` of
    /// the config in force (the server does, as it starts). A second call
    /// while they run does nothing.
    pub async fn start_streams(&self) {
        let mut streams = self.inner.streams.lock().await;
        if streams.is_none() && !self.inner.closed.load(Ordering::Acquire) {
            *streams = Some(Streams::start(self, &self.inner.board));
        }
    }

    /// Stop the sources and sinks; batches already landing land. Whether
    /// they were running.
    pub(crate) async fn stop_streams(&self) -> bool {
        let running = self.inner.streams.lock().await.take();
        let was = running.is_some();
        if let Some(s) = running {
            s.stop().await;
        }
        was
    }

    /// What each source partition and sink is doing.
    pub fn streams_status(&self) -> StreamsStatus {
        self.inner.board.status()
    }

    /// `view`'s long-lived pipeline in the version in force.
    pub(crate) fn pipeline(
        &self,
        view: &str,
        no_transform: bool,
    ) -> Result<Arc<Pipeline>, Arc<IngestError>> {
        self.inner.generation().pipeline(view, no_transform)
    }

    /// Serve HTTP on `listener` until `shutdown` resolves, then stop cleanly
    /// (see [`crate::serve::run`]).
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        crate::serve::run(self.clone(), listener, shutdown).await
    }

    /// Stop taking writes, land every write already queued, and make the
    /// store durable. Lookups keep working until the last clone is dropped.
    pub async fn close(&self) -> Result<(), Error> {
        // After a reload in progress, and before any other: no version
        // swapped in after the stop.
        let _one = self.inner.reloading.lock().await;
        self.inner.closed.store(true, Ordering::Release);
        self.stop_streams().await;
        let writers: Vec<Arc<Writer>> = {
            let mut w = self.inner.writers.lock().unwrap_or_else(|p| p.into_inner());
            w.drain().map(|(_, w)| w).collect()
        };
        let mut workers: Vec<_> = writers.iter().filter_map(|w| w.take_worker()).collect();
        workers.append(&mut self.inner.retired.lock().unwrap_or_else(|p| p.into_inner()));
        // A queue ends when its last sender is gone: these, and writes in flight.
        drop(writers);
        for worker in workers {
            let _ = worker.await;
        }
        let store = self.inner.store.clone();
        blocking("flush", move || Ok(store.flush()?)).await
    }
}

/// `view`'s transformations as `registry` defines them, with no store: no
/// embedding cache, no reuse of stored values. What `wafer transform` runs,
/// so it works while a server owns the store. Blocking.
pub fn detached_pipeline(registry: Registry, view: &str) -> Result<Arc<Pipeline>, Error> {
    let generation = Generation::new(registry, None, None)?;
    generation
        .pipeline(view, false)
        .map_err(|e| view_error(view, e))
}

/// How often the offline log is held to `[store] offline_log_max_mb`.
const LOG_TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// From now on and every [`LOG_TRIM_EVERY`] while the runtime lives, trim
/// the offline log to its size cap (a no-op without one).
fn trim_logs_periodically(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(LOG_TRIM_EVERY);
        loop {
            every.tick().await;
            // Without a cap nothing holds the store: a process that closes
            // and opens it again must find it free.
            let store = match weak.upgrade() {
                Some(inner) if inner.closed.load(Ordering::Acquire) => return,
                Some(inner) if inner.store.log_capped() => inner.store.clone(),
                Some(_) => continue,
                None => return,
            };
            match tokio::task::spawn_blocking(move || store.trim_log()).await {
                Ok(Ok(Some(cutoff))) => {
                    tracing::info!(
                        "offline log over its size cap: entries written before {cutoff} dropped"
                    )
                }
                Ok(Err(e)) => tracing::warn!("trimming the offline log failed: {e}"),
                _ => {}
            }
        }
    });
}

/// Which views' rows each `[[sink]]`'s outbox takes.
fn set_sinks(store: &Store, registry: &Registry) {
    let sinks = registry.config.sinks.iter().map(|s| {
        let views = s.views.iter().map(|v| v.get_ref().clone()).collect();
        (s.name.get_ref().clone(), views)
    });
    store.set_sinks(sinks.collect());
}

/// The views' and the embedding cache's ttls, for the store to drop what
/// expired as it compacts.
fn set_ttls(store: &Store, registry: &Registry) {
    let ttls = registry.views().iter();
    let cache = registry.config.store.embedding_cache_ttl();
    store.set_ttls(ttls.filter_map(|v| Some((v.name.as_str(), v.ttl?))), cache);
}

fn view_error(view: &str, e: Arc<IngestError>) -> Error {
    Error::View(view.to_string(), e)
}

/// Run `f` on a blocking thread (RocksDB, plugins and model loads block).
async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(what, e.to_string()))?
}
