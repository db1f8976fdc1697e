//! `config`: the TOML configuration file — what it may contain, its defaults,
//! and validation at load time. Every error names the file, the line and the
//! key. Secrets never live here: an `[[llm]]` names the environment variable
//! that holds its API key.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

mod field_type;
mod llm;
mod server;
mod stream;
mod validate;

pub use field_type::FieldType;
pub use llm::{LlmConfig, LongInput, Provider};
pub use server::{AuthConfig, ServerConfig, TlsConfig};
pub use stream::{KafkaConnection, KafkaTlsConfig, SaslConfig, SinkConfig, SourceConfig, StartAt};

/// Built-in plugins, embedded in the binary.
pub const BUILTIN_PLUGINS: &[&str] = &["llm-embedding", "passthrough", "bucketize"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; relative paths in it are relative to its directory.
    pub path: PathBuf,
    pub store: StoreConfig,
    pub server: ServerConfig,
    pub plugins: PluginsConfig,
    pub llms: Vec<LlmConfig>,
    pub entities: Vec<EntityConfig>,
    pub views: Vec<ViewConfig>,
    pub push_sources: Vec<PushSourceConfig>,
    pub feature_services: Vec<FeatureServiceConfig>,
    pub sources: Vec<SourceConfig>,
    pub sinks: Vec<SinkConfig>,
}

/// RocksDB's memory when `[store] memory_mb` is not set.
pub const DEFAULT_STORE_MEMORY_MB: usize = 128;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// RocksDB directory, relative to the config file.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// RocksDB's block cache and memtables together, for every view; the
    /// process also holds plugins, models and requests beyond it.
    #[serde(default = "default_store_memory_mb")]
    pub memory_mb: Spanned<usize>,
    /// How long a cached embedding is kept after it was made (`"90d"`;
    /// `"none"` keeps them for ever).
    #[serde(default = "default_embedding_cache_ttl")]
    pub embedding_cache_ttl: Spanned<String>,
    /// Keep every written row, by event and write time, for point-in-time
    /// training sets (`wafer export`) and `wafer materialize`.
    #[serde(default = "default_true")]
    pub offline_log: bool,
    /// How long an offline log entry is kept after it was written (`"90d"`;
    /// `"none"` keeps them for ever).
    #[serde(default = "default_offline_log_retention")]
    pub offline_log_retention: Spanned<String>,
    /// Past this size (every view's log together, in MiB), the oldest
    /// written entries go; absent means no cap.
    pub offline_log_max_mb: Option<Spanned<u64>>,
}

impl StoreConfig {
    pub fn embedding_cache_ttl(&self) -> Option<Duration> {
        parse_ttl(self.embedding_cache_ttl.get_ref()).ok().flatten()
    }

    pub fn log_policy(&self) -> crate::store::LogPolicy {
        crate::store::LogPolicy {
            enabled: self.offline_log,
            retention: parse_ttl(self.offline_log_retention.get_ref())
                .ok()
                .flatten(),
            max_bytes: (self.offline_log_max_mb.as_ref()).map(|mb| mb.get_ref() << 20),
        }
    }
}

/// The plugin sandbox and its compiled-code cache, for every plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Precompiled components, keyed by the component's hash and the engine's
    /// configuration (relative to the config file; `""` turns the cache off).
    pub cache_dir: PathBuf,
    /// Linear memory cap per plugin instance.
    pub memory_mb: Spanned<usize>,
    /// Deadline of one `transform` call, host `embed` calls included.
    pub call_timeout_secs: Spanned<u64>,
    /// Plugin instances alive at once, over all views.
    pub max_instances: Spanned<u32>,
    /// Replace an instance after this many calls: Wasm memory never shrinks.
    pub recycle_after_calls: Spanned<u64>,
    /// Instances one view field may run at once (a publish, a push batch
    /// and a retry at the same time each take one); more calls wait.
    pub instances_per_field: Spanned<usize>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            cache_dir: PathBuf::from("plugin-cache"),
            memory_mb: Spanned::new(0..0, 256),
            call_timeout_secs: Spanned::new(0..0, 300),
            max_instances: Spanned::new(0..0, 128),
            recycle_after_calls: Spanned::new(0..0, 1000),
            instances_per_field: Spanned::new(0..0, 4),
        }
    }
}

/// `[[push_source]]`: a name Feast's `POST /push` uses, and the view its rows go to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSourceConfig {
    pub name: Spanned<String>,
    pub view: Spanned<String>,
}

/// `[[feature_service]]`: a named set of features a request can ask for
/// by name (Feast's `feature_service`): `"view:feature"`, or a bare
/// `"view"` for all of its features.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureServiceConfig {
    pub name: Spanned<String>,
    pub features: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityConfig {
    pub name: Spanned<String>,
    pub join_key: String,
    #[serde(rename = "type")]
    pub key_type: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    pub name: Spanned<String>,
    /// `entity = "user"`, or `entities = ["user", "item"]` for a view keyed
    /// by several entities (the key's parts in that order).
    #[serde(alias = "entities")]
    pub entity: Spanned<EntityNames>,
    /// Maximum age of a value on read, e.g. `"30d"`; absent means forever.
    pub ttl: Option<Spanned<String>>,
    /// Input column holding the event time (RFC 3339, `YYYY-MM-DD`, or epoch
    /// seconds); rows without it get the publish time.
    #[serde(default = "default_event_time")]
    pub event_time: String,
    /// Rows per plugin call and per store write.
    #[serde(default = "default_view_batch")]
    pub batch_size: Spanned<usize>,
    #[serde(alias = "field")]
    pub fields: Vec<FieldConfig>,
}

/// The entities a view is keyed by: one name or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "an [[entity]] name or a list of them")]
pub enum EntityNames {
    One(String),
    Many(Vec<String>),
}

impl EntityNames {
    pub fn names(&self) -> &[String] {
        match self {
            EntityNames::One(n) => std::slice::from_ref(n),
            EntityNames::Many(ns) => ns,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub field_type: Spanned<String>,
    #[serde(default)]
    pub primary_key: bool,
    /// Vector length, checked on every write.
    pub dimensions: Option<usize>,
    pub transform: Option<TransformConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// A built-in plugin name or a path to a `.wasm` component.
    pub plugin: Spanned<String>,
    pub llm: Option<Spanned<String>>,
    /// Input column(s); defaults to the field's name.
    pub input: Option<Inputs>,
    /// Passed to the plugin's `configure` as strings.
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
    /// What the plugin may see beyond the contract: nothing unless granted.
    #[serde(default)]
    pub grants: GrantsConfig,
    /// Other fields of the view the same call fills (the plugin answers a
    /// column for each), so a plugin producing several fields runs once.
    #[serde(default)]
    pub fills: Vec<Spanned<String>>,
    /// Types (as field types) the host converts input columns' cells to
    /// before the call, so CSV text is parsed once, on the host; a cell that
    /// does not convert goes as it came.
    #[serde(default)]
    pub input_types: BTreeMap<String, Spanned<String>>,
}

/// `transform.grants`: environment variables, by name and value, and host
/// directories the plugin may read (never write), by the absolute path it
/// sees each at: `dirs = { "/data" = "lookup-tables" }`, host paths relative
/// to the config's folder.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsConfig {
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub dirs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Inputs {
    One(String),
    Many(Vec<String>),
}

impl TransformConfig {
    /// The input columns, defaulting to the field's own name.
    pub fn inputs(&self, field: &str) -> Vec<String> {
        match &self.input {
            None => vec![field.to_string()],
            Some(Inputs::One(s)) => vec![s.clone()],
            Some(Inputs::Many(v)) => v.clone(),
        }
    }
}

impl ViewConfig {
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
            .as_ref()
            .and_then(|t| parse_ttl(t.get_ref()).ok().flatten())
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &src)
    }

    /// Parse and validate `src` as if read from `path`.
    pub fn parse(path: &Path, src: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(src).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(src, s.start));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let config = Config {
            path: path.to_path_buf(),
            store: raw.store,
            server: raw.server,
            plugins: raw.plugins,
            llms: raw.llm,
            entities: raw.entity,
            views: raw.feature_view,
            push_sources: raw.push_source,
            feature_services: raw.feature_service,
            sources: raw.source,
            sinks: raw.sink,
        };
        validate::Validator {
            path,
            src,
            config: &config,
        }
        .run()?;
        Ok(config)
    }

    pub fn base_dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir().join(p)
        }
    }

    pub fn store_path(&self) -> PathBuf {
        self.resolve(&self.store.path)
    }

    /// Where precompiled plugins are kept; `None` when the cache is off.
    pub fn plugin_cache_dir(&self) -> Option<PathBuf> {
        let d = &self.plugins.cache_dir;
        (!d.as_os_str().is_empty()).then(|| self.resolve(d))
    }

    pub fn view(&self, name: &str) -> Option<&ViewConfig> {
        self.views.iter().find(|v| v.name.get_ref() == name)
    }

    pub fn entity(&self, name: &str) -> Option<&EntityConfig> {
        self.entities.iter().find(|e| e.name.get_ref() == name)
    }

    pub fn llm(&self, name: &str) -> Option<&LlmConfig> {
        self.llms.iter().find(|l| l.name.get_ref() == name)
    }

    pub fn push_source(&self, name: &str) -> Option<&PushSourceConfig> {
        self.push_sources.iter().find(|p| p.name.get_ref() == name)
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name.get_ref() == name)
    }

    pub fn feature_service(&self, name: &str) -> Option<&FeatureServiceConfig> {
        self.feature_services
            .iter()
            .find(|s| s.name.get_ref() == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_store")]
    store: StoreConfig,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    plugins: PluginsConfig,
    #[serde(default)]
    llm: Vec<LlmConfig>,
    #[serde(default)]
    entity: Vec<EntityConfig>,
    #[serde(default)]
    feature_view: Vec<ViewConfig>,
    #[serde(default)]
    push_source: Vec<PushSourceConfig>,
    #[serde(default)]
    feature_service: Vec<FeatureServiceConfig>,
    #[serde(default)]
    source: Vec<SourceConfig>,
    #[serde(default)]
    sink: Vec<SinkConfig>,
}

/// `"0"` or `"none"` mean no expiry; otherwise a humantime duration (`30d`, `12h`).
pub fn parse_ttl(s: &str) -> Result<Option<Duration>, String> {
    match s.trim() {
        "0" | "none" | "" => Ok(None),
        t => humantime::parse_duration(t)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

fn default_store_path() -> PathBuf {
    PathBuf::from("data")
}
fn default_store_memory_mb() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_STORE_MEMORY_MB)
}
fn default_embedding_cache_ttl() -> Spanned<String> {
    Spanned::new(0..0, "90d".into())
}
fn default_offline_log_retention() -> Spanned<String> {
    Spanned::new(0..0, "90d".into())
}
fn default_true() -> bool {
    true
}
fn default_store() -> StoreConfig {
    StoreConfig {
        path: default_store_path(),
        memory_mb: default_store_memory_mb(),
        embedding_cache_ttl: default_embedding_cache_ttl(),
        offline_log: true,
        offline_log_retention: default_offline_log_retention(),
        offline_log_max_mb: None,
    }
}
fn default_event_time() -> String {
    "event_time".into()
}
fn default_view_batch() -> Spanned<usize> {
    Spanned::new(0..0, 256)
}
