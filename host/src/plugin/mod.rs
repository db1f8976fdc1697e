//! `plugin`: the wasmtime component host. Compiles transformation plugins
//! once, pre-instantiates them (`InstancePre`), keeps a pool of configured
//! instances per view field ([`pool`]), and runs `transform` under a memory
//! limit and an epoch deadline. A trap fails that batch with the plugin's
//! captured stderr; the trapped instance is thrown away and a fresh one
//! takes its place.

use crate::embed::EmbedService;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, StoreLimits};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod cache;
mod column;
mod host_impl;
mod inspect;
mod options;
mod pool;
mod v1;
mod v2;

pub use cache::Loaded;
pub use column::{Batch, Column, ColumnData, Output};
pub use inspect::Report;
pub use options::{OptionValue, PluginConfig};
pub use pool::{Grants, InstancePool, PoolStats};

/// What a call answered: the output, or why there is none.
type Answer = Result<Output, Refused>;

/// Why a call that returned gave no output.
enum Refused {
    /// The plugin failed the batch (its `batch-error`, or 0.1's error text).
    Batch { kind: RowErrorKind, message: String },
    /// The answer does not fit the batch.
    BadOutput(String),
}

/// The contract a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `wafer:transform@0.1.0`: row-major batches.
    V0_1,
    /// `wafer:transform@0.2.0`: columnar batches.
    V0_2,
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Contract::V0_1 => "wafer:transform/transformer@0.1.0",
            Contract::V0_2 => "wafer:transform/transformer@0.2.0",
        })
    }
}

/// A component linked for its contract.
enum Pre {
    V1(v1::TransformerPre<PluginState>),
    V2(v2::TransformerPre<PluginState>),
}

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
    #[error("plugin {plugin} (view {view}): failed the batch{}: {message}", batch_kind(*kind))]
    Batch {
        plugin: String,
        view: String,
        kind: RowErrorKind,
        message: String,
    },
    #[error("plugin {plugin} (view {view}): bad output: {message}")]
    BadOutput {
        plugin: String,
        view: String,
        message: String,
    },
    #[error(
        "plugin {plugin} (view {view}): all {instances} instances stayed busy for {waited:?} (plugins.instances_per_field)"
    )]
    Busy {
        plugin: String,
        view: String,
        instances: usize,
        waited: Duration,
    },
}

/// How a batch error's kind reads: only a kind the plugin chose is shown.
fn batch_kind(kind: RowErrorKind) -> String {
    match kind {
        RowErrorKind::Other => String::new(),
        kind => format!(" ({kind})"),
    }
}

/// Sandbox limits applied to every plugin instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: usize,
    pub call_timeout: Duration,
    pub max_instances: u32,
    /// An instance is replaced after this many `transform` calls.
    pub recycle_after_calls: u64,
    /// Instances one view field may run at once; more calls wait.
    pub instances_per_pool: usize,
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
            instances_per_pool: *c.instances_per_field.get_ref(),
        }
    }
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
            .profiler(profiler())
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(load_err)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(load_err)?;
        v1::add_to_linker(&mut linker).map_err(load_err)?;
        v2::add_to_linker(&mut linker).map_err(load_err)?;
        spawn_epoch_ticker(engine.weak());
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            embed,
            limits,
            cache_dir: None,
        })
    }

    /// The same engine, whose plugins embed through `embed` (a reload's new
    /// `[[llm]]`s) — compiled code and the instance allocator are shared.
    pub fn with_embed(&self, embed: Arc<EmbedService>) -> Self {
        PluginEngine {
            embed,
            ..self.clone()
        }
    }

    /// The sandbox limits it was made with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Where compiled plugins are kept, if anywhere.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache_dir.as_deref()
    }

    /// Keep compiled plugins in `dir` (see `cache`); `None`: compile on every start.
    pub fn with_cache_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        // The folders above the cache are made now, while the config's
        // own folder exists; a compile makes only the cache folder itself
        // (`cache.rs` says why).
        if let Some(parent) = dir.as_deref().and_then(std::path::Path::parent)
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            tracing::warn!("plugins will not be cached in {}: {e}", parent.display());
        }
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
        let pre = self.link(&component).map_err(|message| PluginError::Load {
            plugin: name.into(),
            message,
        })?;
        Ok(Arc::new(Plugin {
            name: name.into(),
            pre,
            engine: self.clone(),
            loaded,
        }))
    }
}

impl PluginEngine {
    /// Link `component` for the contract it exports: 0.2 first, then 0.1;
    /// when it fits neither, the reason names both.
    fn link(&self, component: &wasmtime::component::Component) -> Result<Pre, String> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| format!("{e:#}"))?;
        let v2 = match v2::TransformerPre::new(pre.clone()) {
            Ok(p) => return Ok(Pre::V2(p)),
            Err(e) => e,
        };
        v1::TransformerPre::new(pre).map(Pre::V1).map_err(|v1| {
            format!(
                "it fits neither {}: {v2:#}; nor {}: {v1:#}",
                Contract::V0_2,
                Contract::V0_1
            )
        })
    }
}

/// `WAFER_PLUGIN_PERFMAP=1` writes `/tmp/perf-PID.map`, so `perf report`
/// names the plugins' compiled functions (otherwise they are bare addresses).
fn profiler() -> wasmtime::ProfilingStrategy {
    match std::env::var_os("WAFER_PLUGIN_PERFMAP") {
        Some(v) if v == "1" => wasmtime::ProfilingStrategy::PerfMap,
        _ => wasmtime::ProfilingStrategy::None,
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
    pre: Pre,
    engine: PluginEngine,
    loaded: Loaded,
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The contract it implements.
    pub fn contract(&self) -> Contract {
        match self.pre {
            Pre::V1(_) => Contract::V0_1,
            Pre::V2(_) => Contract::V0_2,
        }
    }

    /// Whether it was compiled now or loaded precompiled.
    pub fn loaded(&self) -> Loaded {
        self.loaded
    }

    /// A pool of instances configured with `config`, for one view field.
    pub fn pool(
        self: &Arc<Self>,
        view: &str,
        config: impl Into<PluginConfig>,
    ) -> Result<InstancePool, PluginError> {
        self.pool_with(view, config.into(), Grants::default())
    }

    /// A pool whose instances also see what `grants` gives them.
    pub fn pool_with(
        self: &Arc<Self>,
        view: &str,
        config: impl Into<PluginConfig>,
        grants: Grants,
    ) -> Result<InstancePool, PluginError> {
        InstancePool::new(self.clone(), view, config.into(), grants)
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
