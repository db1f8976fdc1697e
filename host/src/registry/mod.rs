//! `registry`: the feature views of a loaded config, resolved for use — each
//! view's entity key, its typed fields and their transformations — plus the
//! built-in plugins embedded in the binary. Lookups and publishes ask the
//! registry, never the raw config.

use crate::config::{Config, FieldType, ViewConfig};
use crate::store::EntityKey;
use crate::value::Value;
use std::time::Duration;

mod transform;
pub use transform::{PluginSource, Transform};

/// Built-in plugin components, built by `build.rs` from `plugins/`.
pub fn builtin_plugin(name: &str) -> Option<&'static [u8]> {
    Some(match name {
        "llm-embedding" => include_bytes!(concat!(env!("OUT_DIR"), "/llm_embedding.wasm")),
        "passthrough" => include_bytes!(concat!(env!("OUT_DIR"), "/passthrough.wasm")),
        "bucketize" => include_bytes!(concat!(env!("OUT_DIR"), "/bucketize.wasm")),
        _ => return None,
    })
}

#[derive(Debug, Clone)]
pub struct Registry {
    pub config: Config,
    views: Vec<View>,
    /// Each `[[feature_service]]`'s features, expanded once: a lookup by
    /// service asks for them, and expanding allocates a name per feature.
    services: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct View {
    pub name: String,
    /// The entity key's parts, in the order of the view's `entities`: one
    /// for most views, two or more for e.g. user × item features.
    pub keys: Vec<JoinKey>,
    pub ttl: Option<Duration>,
    pub event_time: String,
    pub batch_size: usize,
    /// Every field but the primary key, in config order.
    pub fields: Vec<Field>,
}

/// One entity of a view's key: its name, join key column and type
/// (int64 or string).
#[derive(Debug, Clone)]
pub struct JoinKey {
    pub entity: String,
    pub name: String,
    pub ty: FieldType,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub dimensions: Option<usize>,
    pub transform: Option<Transform>,
}

impl Registry {
    pub fn new(config: Config) -> Self {
        let views: Vec<View> = config.views.iter().map(|v| View::new(&config, v)).collect();
        let services = (config.feature_services.iter())
            .map(|s| (s.name.get_ref().clone(), expand_service(&views, s)))
            .collect();
        Self {
            config,
            views,
            services,
        }
    }

    pub fn views(&self) -> &[View] {
        &self.views
    }

    pub fn view(&self, name: &str) -> Option<&View> {
        self.views.iter().find(|v| v.name == name)
    }

    /// This registry with `view`'s transformed field `field` (or its only
    /// transformed field) running the plugin file `plugin` instead: for
    /// trying a new build of a UDF on real rows.
    pub fn with_plugin(
        mut self,
        view: &str,
        field: Option<&str>,
        plugin: std::path::PathBuf,
    ) -> Result<Self, String> {
        let v = self
            .views
            .iter_mut()
            .find(|v| v.name == view)
            .ok_or_else(|| format!("no feature view named {view:?}"))?;
        let mut candidates = v
            .fields
            .iter_mut()
            .filter(|f| f.transform.is_some() && field.is_none_or(|n| f.name == n));
        let target = match (candidates.next(), candidates.next()) {
            (Some(f), None) => f,
            (None, _) => {
                return Err(format!(
                    "view {view} has no transformed field {}",
                    field.unwrap_or("")
                ));
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "view {view} has several transformed fields: name one with --field"
                ));
            }
        };
        target.transform.as_mut().expect("filtered").plugin = PluginSource::File(plugin);
        Ok(self)
    }

    /// A `[[feature_service]]`'s features as `view:feature`, a bare view
    /// standing for all of its features in config order.
    pub fn feature_service(&self, name: &str) -> Option<&[String]> {
        let (_, features) = self.services.iter().find(|(n, _)| n == name)?;
        Some(features)
    }

    pub fn llm(&self, name: &str) -> Option<&crate::config::LlmConfig> {
        self.config.llms.iter().find(|l| l.name.get_ref() == name)
    }
}

impl View {
    fn new(config: &Config, v: &ViewConfig) -> Self {
        let keys = (v.entity.get_ref().names().iter())
            .map(|name| {
                let e = config.entity(name).expect("validated: entity exists");
                JoinKey {
                    entity: name.clone(),
                    name: e.join_key.clone(),
                    ty: (FieldType::parse(e.key_type.get_ref()).expect("validated: key type"))
                        .as_key(),
                }
            })
            .collect();
        let fields = v
            .fields
            .iter()
            .filter(|f| !f.primary_key)
            .map(|f| {
                let ty = FieldType::parse(f.field_type.get_ref()).expect("validated: field type");
                let llm_dims = f
                    .transform
                    .as_ref()
                    .and_then(|t| t.llm.as_ref())
                    .and_then(|l| config.llm(l.get_ref()))
                    .and_then(|l| l.dimensions.as_ref())
                    .map(|d| *d.get_ref());
                let dimensions = f.dimensions.or(llm_dims);
                let transform = f
                    .transform
                    .as_ref()
                    .map(|t| Transform::new(config, f.name.get_ref(), dimensions, t));
                Field {
                    name: f.name.get_ref().clone(),
                    ty,
                    dimensions,
                    transform,
                }
            })
            .collect();
        View {
            name: v.name.get_ref().clone(),
            keys,
            ttl: v.ttl(),
            event_time: v.event_time.clone(),
            batch_size: *v.batch_size.get_ref(),
            fields,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether `column` is one of the view's join keys.
    pub fn is_join_key(&self, column: &str) -> bool {
        self.keys.iter().any(|k| k.name == column)
    }

    /// The view's only join key, unless it is keyed by several entities.
    pub fn single_key(&self) -> Option<&JoinKey> {
        match self.keys.as_slice() {
            [k] => Some(k),
            _ => None,
        }
    }

    /// The entity key from a row's join-key columns, each coerced to its type.
    pub fn key_of<'a>(
        &self,
        column: impl Fn(&str) -> Option<&'a Value>,
    ) -> Result<EntityKey, String> {
        let mut parts = (self.keys.iter())
            .map(|k| k.parse(column(&k.name).unwrap_or(&Value::Null)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match parts.len() {
            1 => parts.pop().expect("one part"),
            _ => EntityKey::Composite(parts),
        })
    }

    /// The key as join-key columns, the way a row or a push spells it.
    pub fn key_cells(&self, key: &EntityKey) -> Vec<(String, Value)> {
        let part = |k: &EntityKey| match k {
            EntityKey::Int(i) => Value::Int64(*i),
            EntityKey::Str(s) => Value::String(s.clone()),
            nested => Value::String(nested.to_string()),
        };
        self.key_parts(key)
            .map(|(name, p)| (name.to_string(), part(p)))
            .collect()
    }

    /// The key as JSON: the plain value for one join key, an object of
    /// join keys for several.
    pub fn key_json(&self, key: &EntityKey) -> serde_json::Value {
        let part = |k: &EntityKey| match k {
            EntityKey::Int(i) => serde_json::Value::from(*i),
            EntityKey::Str(s) => s.as_str().into(),
            nested => nested.to_string().into(),
        };
        match key {
            EntityKey::Composite(_) if self.keys.len() > 1 => serde_json::Value::Object(
                (self.key_parts(key))
                    .map(|(name, p)| (name.to_string(), part(p)))
                    .collect(),
            ),
            _ => part(key),
        }
    }

    /// Each join key with its part of `key`. A key of another shape (a
    /// dead letter kept under its input's offset) is the first key's.
    fn key_parts<'a>(
        &'a self,
        key: &'a EntityKey,
    ) -> impl Iterator<Item = (&'a str, &'a EntityKey)> + 'a {
        let parts = match key {
            EntityKey::Composite(parts) if parts.len() == self.keys.len() => parts.as_slice(),
            _ => std::slice::from_ref(key),
        };
        self.keys.iter().map(|k| k.name.as_str()).zip(parts)
    }
}

impl JoinKey {
    /// A key part of this join key's type, coerced as input data is.
    fn parse(&self, v: &Value) -> Result<EntityKey, String> {
        let typed = (v.clone().coerce(self.ty)).map_err(|e| format!("`{}`: {e}", self.name))?;
        match (self.ty, typed) {
            (FieldType::Int64, Value::Int64(i)) => Ok(EntityKey::Int(i)),
            (FieldType::String, Value::String(s)) => Ok(EntityKey::Str(s)),
            (_, Value::Null) => Err(format!("`{}` is null", self.name)),
            (t, other) => Err(format!(
                "`{}` must be {}, got {}",
                self.name,
                t.name(),
                other.type_name()
            )),
        }
    }
}

impl Field {
    /// Check a value (from input data or a plugin) against the field's declared
    /// type and dimensions, converting losslessly where needed.
    pub fn check(&self, v: Value) -> Result<Value, String> {
        let v = v
            .coerce(self.ty)
            .map_err(|e| format!("field `{}`: {e}", self.name))?;
        if let Value::Vector(x) = &v {
            if let Some(d) = self.dimensions
                && x.len() != d
            {
                return Err(format!(
                    "field `{}`: vector has {} dimensions, expected {d}",
                    self.name,
                    x.len()
                ));
            }
            if let Some(i) = x.iter().position(|f| !f.is_finite()) {
                return Err(format!(
                    "field `{}`: vector element {i} is not finite",
                    self.name
                ));
            }
        }
        Ok(v)
    }
}

/// A config with a view keyed by two entities (`ui`: user × item) and
/// one keyed by one (`items`), for the unit tests of every layer.
#[cfg(test)]
pub(crate) const USER_ITEM_CONFIG: &str = r#"
[[entity]]
name = "user"
join_key = "user_id"
type = "string"

[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "ui"
entities = ["user", "item"]
fields = [
  { name = "user_id", type = "STRING", primary_key = true },
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "clicks", type = "INT64" },
  { name = "thumb", type = "BYTES" },
]

[[feature_view]]
name = "items"
entity = "item"
fields = [{ name = "item_id", type = "INT64", primary_key = true }]
"#;

#[cfg(test)]
mod tests;

/// `service`'s features as `view:feature`: a bare view stands for each of
/// its fields, and a feature named twice is named once
/// (`["v:price", "v"]`).
fn expand_service(views: &[View], service: &crate::config::FeatureServiceConfig) -> Vec<String> {
    let mut features: Vec<String> = Vec::new();
    for entry in &service.features {
        let entry = entry.get_ref();
        let view = (!entry.contains(':'))
            .then(|| views.iter().find(|v| v.name == *entry))
            .flatten();
        let expanded = match view {
            Some(v) => (v.fields.iter())
                .map(|f| format!("{}:{}", v.name, f.name))
                .collect(),
            None => vec![entry.clone()],
        };
        for f in expanded {
            if !features.contains(&f) {
                features.push(f);
            }
        }
    }
    features
}
