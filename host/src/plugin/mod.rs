//! `plugin`: the wasmtime component host. Compiles transformation plugins
//! once, pre-instantiates them (`InstancePre`), keeps a pool of configured
//! instances per view field, and runs `transform` under a memory limit and an
//! epoch deadline. A trap fails that batch with the plugin's captured stderr;
//! the trapped instance is thrown away and a fresh one takes its place.

use crate::embed::EmbedService;
use crate::value::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod cache;
mod host_impl;
mod inspect;

pub use cache::Loaded;
pub use inspect::Report;

mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "transformer" });
}

use bindings::wafer::transform::types as wit;
use bindings::{Transformer, TransformerPre};

const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Captured stdout+stderr per instance. A full pipe fails the guest's writes,
/// so an instance is retired once half of it is used.
const STDERR_CAPTURE: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {plugin}: cannot load: {message}")]
    Load { plugin: String, message: String },
    #[error("plugin {plugin} (view {view}): configure failed: {message}")]
    Configure {
        plugin: String,
        view: String,
        message: String,
    },
    #[error("plugin {plugin} (view {view}): trapped: {message}{stderr}")]
    Trap {
        plugin: String,
        view: String,
        message: String,
        stderr: String,
    },
    #[error("plugin {plugin} (view {view}): failed the batch: {message}")]
    Batch {
        plugin: String,
        view: String,
        message: String,
    },
    #[error("plugin {plugin} (view {view}): bad output: {message}")]
    BadOutput {
        plugin: String,
        view: String,
        message: String,
    },
}

/// Sandbox limits applied to every plugin instance.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: usize,
    pub call_timeout: Duration,
    pub max_instances: u32,
    /// An instance is replaced after this many `transform` calls.
    pub recycle_after_calls: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&crate::config::PluginsConfig::default())
    }
}

impl From<&crate::config::PluginsConfig> for Limits {
    fn from(c: &crate::config::PluginsConfig) -> Self {
        Limits {
            memory_bytes: c.memory_mb.get_ref() << 20,
            call_timeout: Duration::from_secs(*c.call_timeout_secs.get_ref()),
            max_instances: *c.max_instances.get_ref(),
            recycle_after_calls: *c.recycle_after_calls.get_ref(),
        }
    }
}

/// A batch handed to a plugin: `rows[i][j]` is column `columns[j]` of row `i`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// A plugin's answer: one entry per input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub columns: Vec<String>,
    pub rows: Vec<Result<Vec<Value>, RowError>>,
}

/// Why a plugin could not transform one row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct RowError {
    pub kind: RowErrorKind,
    pub message: String,
}

/// The WIT `row-error-kind`, plus `bad-output` for a row the host rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowErrorKind {
    InvalidInput,
    EmbedFailed,
    Other,
    BadOutput,
}

impl std::fmt::Display for RowErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RowErrorKind::InvalidInput => "invalid input",
            RowErrorKind::EmbedFailed => "embedding failed",
            RowErrorKind::Other => "failed",
            RowErrorKind::BadOutput => "bad output",
        })
    }
}

/// Shared compilation and linking state. Cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    linker: Arc<Linker<PluginState>>,
    embed: Arc<EmbedService>,
    limits: Limits,
    cache_dir: Option<std::path::PathBuf>,
}

impl PluginEngine {
    pub fn new(embed: Arc<EmbedService>, limits: Limits) -> Result<Self, PluginError> {
        let load_err = |e: wasmtime::Error| PluginError::Load {
            plugin: "(engine)".into(),
            message: format!("{e:#}"),
        };
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(limits.max_instances)
            .total_core_instances(limits.max_instances * 4)
            .total_memories(limits.max_instances * 2)
            .total_tables(limits.max_instances * 4)
            .max_memory_size(limits.memory_bytes);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(load_err)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(load_err)?;
        Transformer::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(load_err)?;
        spawn_epoch_ticker(engine.weak());
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            embed,
            limits,
            cache_dir: None,
        })
    }

    /// Keep compiled plugins in `dir` (see `cache`); `None`: compile on every start.
    pub fn with_cache_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// The embedding service's counters (requests, cache hits and misses).
    pub fn embed_stats(&self) -> crate::embed::EmbedStats {
        self.embed.stats()
    }

    /// `Err(reason)` when the `[[llm]]` a plugin would call cannot be used.
    pub fn embed_ready(&self, llm: &str) -> Result<(), String> {
        self.embed.ready(llm)
    }

    /// For a local model: the hash of what decides its vectors.
    pub fn embed_fingerprint(&self, llm: &str) -> Option<[u8; 32]> {
        self.embed.fingerprint(llm)
    }

    /// Compile (or load precompiled) and link a component; unknown imports
    /// are an error here, not at call time.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Arc<Plugin>, PluginError> {
        let err = |e: wasmtime::Error| PluginError::Load {
            plugin: name.into(),
            message: format!("{e:#}"),
        };
        let started = std::time::Instant::now();
        let (component, loaded) =
            cache::load(&self.engine, self.cache_dir.as_deref(), bytes).map_err(err)?;
        tracing::debug!(plugin = name, ?loaded, took = ?started.elapsed(), "plugin loaded");
        let pre = self.linker.instantiate_pre(&component).map_err(err)?;
        let pre = TransformerPre::new(pre).map_err(err)?;
        Ok(Arc::new(Plugin {
            name: name.into(),
            pre,
            engine: self.clone(),
            loaded,
        }))
    }
}

/// Increments the epoch so that deadlines set in ticks fire. Stops when the
/// engine is dropped.
fn spawn_epoch_ticker(engine: wasmtime::EngineWeak) {
    std::thread::Builder::new()
        .name("wafer-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn epoch thread");
}

/// A compiled, linked plugin.
pub struct Plugin {
    name: String,
    pre: TransformerPre<PluginState>,
    engine: PluginEngine,
    loaded: Loaded,
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it was compiled now or loaded precompiled.
    pub fn loaded(&self) -> Loaded {
        self.loaded
    }

    /// A pool of instances configured with `options`, for one view field.
    pub fn pool(
        self: &Arc<Self>,
        view: &str,
        options: Vec<(String, String)>,
    ) -> Result<InstancePool, PluginError> {
        self.pool_with(view, options, Grants::default())
    }

    /// A pool whose instances also see what `grants` gives them.
    pub fn pool_with(
        self: &Arc<Self>,
        view: &str,
        options: Vec<(String, String)>,
        grants: Grants,
    ) -> Result<InstancePool, PluginError> {
        let pool = InstancePool {
            plugin: self.clone(),
            view: view.into(),
            options,
            grants,
            idle: Mutex::new(Vec::new()),
            created: Default::default(),
        };
        // Configure one instance now so bad options fail at start-up, not mid-publish.
        let first = pool.instantiate()?;
        pool.idle.lock().unwrap().push(first);
        Ok(pool)
    }
}

pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    stderr: MemoryOutputPipe,
    plugin: String,
    view: String,
    embed: Arc<EmbedService>,
    runtime: Option<tokio::runtime::Handle>,
    /// When the current call must end. The epoch deadline cannot interrupt a
    /// host call, so `embed` stops waiting for the API at this instant.
    deadline: std::time::Instant,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct Instance {
    store: Store<PluginState>,
    bindings: Transformer,
    calls: u64,
}

/// Configured instances of one plugin for one view field.
/// What a plugin may see beyond the contract, when a view's config grants
/// it: environment variables, and host directories, read-only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub env: Vec<(String, String)>,
    /// (host directory, the path the plugin sees it at).
    pub dirs: Vec<(std::path::PathBuf, String)>,
}

pub struct InstancePool {
    plugin: Arc<Plugin>,
    view: String,
    options: Vec<(String, String)>,
    grants: Grants,
    idle: Mutex<Vec<Instance>>,
    created: std::sync::atomic::AtomicU64,
}

impl InstancePool {
    pub fn plugin_name(&self) -> &str {
        &self.plugin.name
    }

    /// Instances made so far (the first, replacements after traps, recycling).
    pub fn instances_created(&self) -> u64 {
        self.created.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn instantiate(&self) -> Result<Instance, PluginError> {
        self.created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = &self.plugin;
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        // No preopens, environment, network or inherited stdio unless the
        // view grants them: the sandbox gives nothing the contract does not need.
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stderr.clone()).stderr(stderr.clone());
        for (k, v) in &self.grants.env {
            wasi.env(k, v);
        }
        for (host, guest) in &self.grants.dirs {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|e| PluginError::Configure {
                    plugin: p.name.clone(),
                    view: self.view.clone(),
                    message: format!("granted directory {}: {e}", host.display()),
                })?;
        }
        let wasi = wasi.build();
        let state = PluginState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(p.engine.limits.memory_bytes)
                .build(),
            stderr,
            plugin: p.name.clone(),
            view: self.view.clone(),
            embed: p.engine.embed.clone(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            deadline: std::time::Instant::now(),
        };
        let mut store = Store::new(&p.engine.engine, state);
        store.limiter(|s| &mut s.limits);
        self.arm_deadline(&mut store);
        let bindings = p
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.trap(&store, e))?;
        match bindings.call_configure(&mut store, &self.options) {
            Ok(Ok(())) => Ok(Instance {
                store,
                bindings,
                calls: 0,
            }),
            Ok(Err(message)) => Err(PluginError::Configure {
                plugin: p.name.clone(),
                view: self.view.clone(),
                message,
            }),
            Err(e) => Err(self.trap(&store, e)),
        }
    }

    fn arm_deadline(&self, store: &mut Store<PluginState>) {
        let timeout = self.plugin.engine.limits.call_timeout;
        let ticks = timeout.as_millis() / EPOCH_TICK.as_millis();
        store.set_epoch_deadline(ticks.max(1) as u64);
        store.data_mut().deadline = std::time::Instant::now() + timeout;
    }

    fn trap(&self, store: &Store<PluginState>, e: wasmtime::Error) -> PluginError {
        let captured = store.data().stderr.contents();
        let tail = String::from_utf8_lossy(&captured[captured.len().saturating_sub(2048)..]);
        let stderr = if tail.trim().is_empty() {
            String::new()
        } else {
            format!("\nplugin stderr:\n{}", tail.trim_end())
        };
        PluginError::Trap {
            plugin: self.plugin.name.clone(),
            view: self.view.clone(),
            message: format!("{e:#}"),
            stderr,
        }
    }

    /// Run one batch. The instance is returned to the pool unless it trapped.
    pub fn transform(&self, batch: Batch) -> Result<Output, PluginError> {
        let n = batch.rows.len();
        let mut inst = match self.idle.lock().unwrap().pop() {
            Some(i) => i,
            None => self.instantiate()?,
        };
        self.arm_deadline(&mut inst.store);
        let answer = inst
            .bindings
            .call_transform(&mut inst.store, &host_impl::to_wit_batch(batch));
        let out = match answer {
            Err(e) => return Err(self.trap(&inst.store, e)),
            Ok(Err(message)) => Err(PluginError::Batch {
                plugin: self.plugin.name.clone(),
                view: self.view.clone(),
                message,
            }),
            Ok(Ok(out)) => self.check_output(out, n),
        };
        inst.calls += 1;
        // Wasm memory never shrinks and the stderr pipe fills: retire old instances.
        let limits = &self.plugin.engine.limits;
        if inst.calls < limits.recycle_after_calls
            && inst.store.data().stderr.contents().len() < STDERR_CAPTURE / 2
        {
            self.idle.lock().unwrap().push(inst);
        }
        out
    }

    fn check_output(&self, out: wit::Output, n: usize) -> Result<Output, PluginError> {
        if out.rows.len() != n {
            let message = format!("{} rows for {n} input rows", out.rows.len());
            return Err(PluginError::BadOutput {
                plugin: self.plugin.name.clone(),
                view: self.view.clone(),
                message,
            });
        }
        let width = out.columns.len();
        let rows = out
            .rows
            .into_iter()
            .map(|r| match r {
                Ok(cells) if cells.len() == width => {
                    Ok(cells.into_iter().map(host_impl::from_wit).collect())
                }
                Ok(cells) => Err(RowError {
                    kind: RowErrorKind::BadOutput,
                    message: format!("plugin returned {} values for {width} columns", cells.len()),
                }),
                Err(e) => Err(RowError {
                    kind: match e.kind {
                        wit::RowErrorKind::InvalidInput => RowErrorKind::InvalidInput,
                        wit::RowErrorKind::EmbedFailed => RowErrorKind::EmbedFailed,
                        wit::RowErrorKind::Other => RowErrorKind::Other,
                    },
                    message: e.message,
                }),
            })
            .collect();
        Ok(Output {
            columns: out.columns,
            rows,
        })
    }
}
