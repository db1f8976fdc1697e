//! `config`: the TOML configuration file — what it may contain, its defaults,
//! and validation at load time. Every error names the file, the line and the
//! key. Secrets never live here: an `[[llm]]` names the environment variable
//! that holds its API key.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

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
    pub llms: Vec<LlmConfig>,
    pub entities: Vec<EntityConfig>,
    pub views: Vec<ViewConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// RocksDB directory, relative to the config file.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Largest number of entity keys one lookup request may ask for.
    #[serde(default = "default_max_keys")]
    pub max_keys_per_request: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub name: Spanned<String>,
    /// OpenAI-compatible base URL, e.g. `https://dashscope-intl.aliyuncs.com/compatible-mode/v1`.
    pub base_url: Spanned<String>,
    pub model: String,
    /// Environment variable holding the API key (sent as a bearer token).
    pub api_key_env: Option<String>,
    /// Or a file holding it (relative to the config file), e.g. a mounted secret.
    pub api_key_file: Option<PathBuf>,
    #[serde(default = "default_concurrency")]
    pub concurrency: Spanned<usize>,
    #[serde(default = "default_batch_size")]
    pub batch_size: Spanned<usize>,
    #[serde(default = "default_max_input_tokens")]
    pub max_input_tokens: usize,
    /// Output dimensions; sent to the API and checked on every vector.
    pub dimensions: Option<Spanned<usize>>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
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
    pub entity: Spanned<String>,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Inputs {
    One(String),
    Many(Vec<String>),
}

/// The type of a stored feature value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int64,
    Float64,
    String,
    Bytes,
    Vector,
}

impl FieldType {
    /// Accepts the PAI / MaxCompute spellings too (`BIGINT`, `DOUBLE`, `ARRAY<FLOAT>`).
    pub fn parse(s: &str) -> Option<Self> {
        let t: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match t.as_str() {
            "bool" | "boolean" => Self::Bool,
            "int64" | "bigint" | "int" | "int32" | "integer" => Self::Int64,
            "float64" | "double" | "float" | "float32" => Self::Float64,
            "string" | "text" => Self::String,
            "bytes" | "binary" => Self::Bytes,
            "array<float>" | "array<double>" | "vector" | "embedding" => Self::Vector,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int64 => "int64",
            Self::Float64 => "float64",
            Self::String => "string",
            Self::Bytes => "bytes",
            Self::Vector => "array<float>",
        }
    }
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

    pub fn primary_key(&self) -> Option<&FieldConfig> {
        self.fields.iter().find(|f| f.primary_key)
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
            llms: raw.llm,
            entities: raw.entity,
            views: raw.feature_view,
        };
        Validator {
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

    pub fn view(&self, name: &str) -> Option<&ViewConfig> {
        self.views.iter().find(|v| v.name.get_ref() == name)
    }

    pub fn entity(&self, name: &str) -> Option<&EntityConfig> {
        self.entities.iter().find(|e| e.name.get_ref() == name)
    }

    pub fn llm(&self, name: &str) -> Option<&LlmConfig> {
        self.llms.iter().find(|l| l.name.get_ref() == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_store")]
    store: StoreConfig,
    #[serde(default = "default_server")]
    server: ServerConfig,
    #[serde(default)]
    llm: Vec<LlmConfig>,
    #[serde(default)]
    entity: Vec<EntityConfig>,
    #[serde(default)]
    feature_view: Vec<ViewConfig>,
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

fn line_col(src: &str, offset: usize) -> (usize, usize) {
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
fn default_store() -> StoreConfig {
    StoreConfig {
        path: default_store_path(),
    }
}
fn default_listen() -> SocketAddr {
    // Feast's feature server port.
    SocketAddr::from(([127, 0, 0, 1], 6566))
}
fn default_max_keys() -> usize {
    10_000
}
fn default_server() -> ServerConfig {
    ServerConfig {
        listen: default_listen(),
        max_keys_per_request: default_max_keys(),
    }
}
fn default_concurrency() -> Spanned<usize> {
    Spanned::new(0..0, 4)
}
fn default_batch_size() -> Spanned<usize> {
    Spanned::new(0..0, 10)
}
fn default_max_input_tokens() -> usize {
    8192
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_event_time() -> String {
    "event_time".into()
}
fn default_view_batch() -> Spanned<usize> {
    Spanned::new(0..0, 256)
}

/// Cross-field checks that serde cannot express.
struct Validator<'a> {
    path: &'a Path,
    src: &'a str,
    config: &'a Config,
}

impl Validator<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: String,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: line_col(self.src, span.start).0,
            key,
            message: message.into(),
        })
    }

    fn run(&self) -> Result<(), ConfigError> {
        let c = self.config;
        self.unique(c.llms.iter().map(|l| &l.name), "llm")?;
        self.unique(c.entities.iter().map(|e| &e.name), "entity")?;
        self.unique(c.views.iter().map(|v| &v.name), "feature_view")?;
        for llm in &c.llms {
            self.llm(llm)?;
        }
        for e in &c.entities {
            let t = FieldType::parse(e.key_type.get_ref());
            if !matches!(t, Some(FieldType::Int64 | FieldType::String)) {
                let key = format!("entity[{}].type", e.name.get_ref());
                return self.err(
                    e.key_type.span(),
                    key,
                    format!(
                        "{:?}: an entity key is int64 or string",
                        e.key_type.get_ref()
                    ),
                );
            }
        }
        for v in &c.views {
            self.view(v)?;
        }
        Ok(())
    }

    fn unique<'s>(
        &self,
        names: impl Iterator<Item = &'s Spanned<String>>,
        what: &str,
    ) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for n in names {
            if !seen.insert(n.get_ref()) {
                return self.err(
                    n.span(),
                    format!("{what}.name"),
                    format!("duplicate {what} name {:?}", n.get_ref()),
                );
            }
        }
        Ok(())
    }

    fn llm(&self, llm: &LlmConfig) -> Result<(), ConfigError> {
        let key = |k: &str| format!("llm[{}].{k}", llm.name.get_ref());
        if reqwest::Url::parse(llm.base_url.get_ref()).is_err() {
            return self.err(
                llm.base_url.span(),
                key("base_url"),
                format!("{:?} is not a URL", llm.base_url.get_ref()),
            );
        }
        if llm.api_key_env.is_some() && llm.api_key_file.is_some() {
            return self.err(
                llm.name.span(),
                key("api_key_file"),
                "set api_key_env or api_key_file, not both",
            );
        }
        if *llm.batch_size.get_ref() == 0 {
            return self.err(
                llm.batch_size.span(),
                key("batch_size"),
                "must be at least 1",
            );
        }
        if *llm.concurrency.get_ref() == 0 {
            return self.err(
                llm.concurrency.span(),
                key("concurrency"),
                "must be at least 1",
            );
        }
        if let Some(d) = &llm.dimensions
            && *d.get_ref() == 0
        {
            return self.err(d.span(), key("dimensions"), "must be at least 1");
        }
        Ok(())
    }

    fn view(&self, v: &ViewConfig) -> Result<(), ConfigError> {
        let vname = v.name.get_ref();
        let key = |k: &str| format!("feature_view[{vname}].{k}");
        let Some(entity) = self.config.entity(v.entity.get_ref()) else {
            return self.err(
                v.entity.span(),
                key("entity"),
                format!("no [[entity]] named {:?}", v.entity.get_ref()),
            );
        };
        if let Some(ttl) = &v.ttl
            && let Err(e) = parse_ttl(ttl.get_ref())
        {
            return self.err(
                ttl.span(),
                key("ttl"),
                format!(
                    "{:?}: {e} (use e.g. \"30d\", \"12h\" or \"0\")",
                    ttl.get_ref()
                ),
            );
        }
        if *v.batch_size.get_ref() == 0 {
            return self.err(v.batch_size.span(), key("batch_size"), "must be at least 1");
        }
        self.unique(
            v.fields.iter().map(|f| &f.name),
            &format!("feature_view[{vname}].fields"),
        )?;
        let pks: Vec<_> = v.fields.iter().filter(|f| f.primary_key).collect();
        if pks.len() != 1 {
            let msg = format!(
                "needs exactly one field with primary_key = true, named {:?} (the entity's join key); found {}",
                entity.join_key,
                pks.len()
            );
            return self.err(v.name.span(), key("fields"), msg);
        }
        let pk = pks[0];
        if pk.name.get_ref() != &entity.join_key {
            let msg = format!(
                "primary key must be the entity's join key {:?}",
                entity.join_key
            );
            return self.err(pk.name.span(), key("fields.name"), msg);
        }
        if FieldType::parse(pk.field_type.get_ref()) != FieldType::parse(entity.key_type.get_ref())
        {
            let msg = format!(
                "primary key type {:?} differs from entity type {:?}",
                pk.field_type.get_ref(),
                entity.key_type.get_ref()
            );
            return self.err(
                pk.field_type.span(),
                key(&format!("fields[{}].type", pk.name.get_ref())),
                msg,
            );
        }
        for f in &v.fields {
            self.field(vname, f)?;
        }
        Ok(())
    }

    fn field(&self, vname: &str, f: &FieldConfig) -> Result<(), ConfigError> {
        let key = |k: &str| format!("feature_view[{vname}].fields[{}].{k}", f.name.get_ref());
        let Some(ty) = FieldType::parse(f.field_type.get_ref()) else {
            let msg = format!(
                "unknown type {:?} (bool, int64, float64, string, bytes, array<float>)",
                f.field_type.get_ref()
            );
            return self.err(f.field_type.span(), key("type"), msg);
        };
        let Some(t) = &f.transform else { return Ok(()) };
        if f.primary_key {
            return self.err(
                t.plugin.span(),
                key("transform"),
                "the primary key cannot be transformed",
            );
        }
        let plugin = t.plugin.get_ref();
        if plugin.ends_with(".wasm") {
            let p = self.config.resolve(Path::new(plugin));
            if !p.is_file() {
                return self.err(
                    t.plugin.span(),
                    key("transform.plugin"),
                    format!("no such file: {}", p.display()),
                );
            }
        } else if !BUILTIN_PLUGINS.contains(&plugin.as_str()) {
            let msg = format!(
                "{plugin:?} is neither a built-in ({}) nor a path to a .wasm file",
                BUILTIN_PLUGINS.join(", ")
            );
            return self.err(t.plugin.span(), key("transform.plugin"), msg);
        }
        if matches!(plugin.as_str(), "llm-embedding" | "passthrough") && ty != FieldType::Vector {
            return self.err(
                f.field_type.span(),
                key("type"),
                format!("plugin {plugin} produces array<float>"),
            );
        }
        match (&t.llm, plugin.as_str()) {
            (Some(llm), _) if self.config.llm(llm.get_ref()).is_none() => self.err(
                llm.span(),
                key("transform.llm"),
                format!("no [[llm]] named {:?}", llm.get_ref()),
            ),
            (None, "llm-embedding") => self.err(
                t.plugin.span(),
                key("transform.llm"),
                "llm-embedding needs `llm`, the name of an [[llm]]",
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("wafer.toml"), src)
    }

    const BASE: &str = r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "v"
entity = "item"
ttl = "30d"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "price", type = "DOUBLE" },
]
"#;

    #[test]
    fn defaults_apply() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.store.path, PathBuf::from("data"));
        assert_eq!(c.server.listen.port(), 6566);
        let v = c.view("v").unwrap();
        assert_eq!(v.ttl(), Some(Duration::from_secs(30 * 86400)));
        assert_eq!(*v.batch_size.get_ref(), 256);
    }

    #[test]
    fn unknown_entity_names_line_and_key() {
        let src = BASE.replace("entity = \"item\"", "entity = \"user\"");
        let e = parse(&src).unwrap_err().to_string();
        assert!(
            e.starts_with("wafer.toml:9: `feature_view[v].entity`"),
            "{e}"
        );
        assert!(e.contains("\"user\""), "{e}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = parse("[store]\npath = \n").unwrap_err().to_string();
        assert!(e.starts_with("wafer.toml:2:"), "{e}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let e = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("wafer.toml:3:") && e.contains("lisen"), "{e}");
    }

    #[test]
    fn bad_type_and_missing_llm() {
        let e = parse(&BASE.replace("DOUBLE", "DECIMAL"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fields[price].type") && e.contains("DECIMAL"),
            "{e}"
        );
        let src = BASE.replace(
            "{ name = \"price\", type = \"DOUBLE\" }",
            "{ name = \"e\", type = \"ARRAY<FLOAT>\", transform = { plugin = \"llm-embedding\", llm = \"nope\" } }",
        );
        let e = parse(&src).unwrap_err().to_string();
        assert!(e.contains("transform.llm") && e.contains("\"nope\""), "{e}");
    }

    #[test]
    fn primary_key_must_match_entity() {
        let e = parse(&BASE.replace("primary_key = true", "primary_key = false"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one field with primary_key"), "{e}");
    }

    #[test]
    fn field_types_accept_pai_spellings() {
        assert_eq!(FieldType::parse("ARRAY<FLOAT>"), Some(FieldType::Vector));
        assert_eq!(FieldType::parse("array < float >"), Some(FieldType::Vector));
        assert_eq!(FieldType::parse("BIGINT"), Some(FieldType::Int64));
        assert_eq!(FieldType::parse("decimal"), None);
    }
}
