//! A field's transformation, resolved: where its plugin comes from, its
//! inputs, what its instances are configured with and what its sandbox
//! grants.

use crate::config::{Config, FieldType, TransformConfig};
use std::path::PathBuf;

/// Where a plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    Builtin(String),
    File(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin(n) => f.write_str(n),
            PluginSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Transform {
    pub plugin: PluginSource,
    pub inputs: Vec<String>,
    pub llm: Option<String>,
    /// Everything the plugin's `configure` receives.
    pub config: crate::plugin::PluginConfig,
    /// What its sandbox lets it see beyond the contract.
    pub grants: crate::plugin::Grants,
    /// The other fields its call fills (`transform.fills`).
    pub fills: Vec<String>,
    /// Per input column, the type its cells are converted to before the
    /// call (`transform.input_types`), if declared.
    pub input_types: Vec<Option<FieldType>>,
}

impl Transform {
    pub(super) fn new(
        config: &Config,
        field: &str,
        dimensions: Option<usize>,
        t: &TransformConfig,
    ) -> Self {
        let name = t.plugin.get_ref();
        let plugin = if name.ends_with(".wasm") {
            PluginSource::File(config.resolve(name.as_ref()))
        } else {
            PluginSource::Builtin(name.clone())
        };
        let inputs = t.inputs(field);
        let llm = t.llm.as_ref().map(|l| l.get_ref().clone());
        let fills: Vec<String> = t.fills.iter().map(|f| f.get_ref().clone()).collect();
        let input_types = (inputs.iter())
            .map(|c| (t.input_types.get(c)).and_then(|ty| FieldType::parse(ty.get_ref())))
            .collect();
        let plugin_config = plugin_config(t, field, &inputs, &fills, llm.clone(), dimensions);
        let grants = crate::plugin::Grants {
            env: t.grants.env.clone().into_iter().collect(),
            dirs: (t.grants.dirs.iter())
                .map(|(guest, host)| (config.resolve(host.as_ref()), guest.clone()))
                .collect(),
        };
        Transform {
            plugin,
            inputs,
            llm,
            config: plugin_config,
            grants,
            fills,
            input_types,
        }
    }
}

/// What the field's plugin instances are configured with: the typed
/// options, and the same as contract 0.1's string pairs (the options'
/// text, then the standard keys an option did not already set).
fn plugin_config(
    t: &TransformConfig,
    field: &str,
    inputs: &[String],
    fills: &[String],
    llm: Option<String>,
    dimensions: Option<usize>,
) -> crate::plugin::PluginConfig {
    let mut legacy: Vec<(String, String)> = (t.options.iter())
        .map(|(k, v)| (k.clone(), option_string(v)))
        .collect();
    let mut standard = vec![("input", inputs.join(",")), ("output", field.to_string())];
    standard.extend(llm.clone().map(|l| ("llm", l)));
    standard.extend(dimensions.map(|d| ("dimensions", d.to_string())));
    for (k, v) in standard {
        if !legacy.iter().any(|(name, _)| name == k) {
            legacy.push((k.to_string(), v));
        }
    }
    crate::plugin::PluginConfig {
        inputs: inputs.to_vec(),
        outputs: std::iter::once(field.to_string())
            .chain(fills.iter().cloned())
            .collect(),
        options: (t.options.iter())
            .map(|(k, v)| (k.clone(), crate::plugin::OptionValue::from_toml(v)))
            .collect(),
        llm,
        dimensions,
        legacy,
    }
    .with_standard_options()
}

/// TOML option values reach plugins as strings; arrays become comma lists.
fn option_string(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => a.iter().map(option_string).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}
