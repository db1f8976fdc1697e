//! Cross-field checks on a parsed config that serde cannot express: names
//! are unique, references resolve, each view's primary key is its entity's
//! join key, plugins exist. Each error points at the offending key's line.

use super::*;
use std::collections::HashSet;

mod fills;
mod limits;
mod llm;
mod server;
mod stream;

/// Cross-field checks that serde cannot express.
pub(super) struct Validator<'a> {
    pub path: &'a Path,
    pub src: &'a str,
    pub config: &'a Config,
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

    pub fn run(&self) -> Result<(), ConfigError> {
        let c = self.config;
        self.unique(c.llms.iter().map(|l| &l.name), "llm")?;
        self.unique(c.entities.iter().map(|e| &e.name), "entity")?;
        self.unique(c.views.iter().map(|v| &v.name), "feature_view")?;
        for llm in &c.llms {
            self.llm(llm)?;
        }
        self.plugins(&c.plugins)?;
        for e in &c.entities {
            self.entity(e)?;
        }
        for v in &c.views {
            self.view(v)?;
        }
        self.server(&c.server)?;
        self.store(&c.store)?;
        self.instances(c)?;
        self.unique(c.push_sources.iter().map(|p| &p.name), "push_source")?;
        for p in &c.push_sources {
            if c.view(p.view.get_ref()).is_none() {
                let key = format!("push_source[{}].view", p.name.get_ref());
                let m = format!("no [[feature_view]] named {:?}", p.view.get_ref());
                return self.err(p.view.span(), key, m);
            }
        }
        self.unique(
            c.feature_services.iter().map(|s| &s.name),
            "feature_service",
        )?;
        for s in &c.feature_services {
            self.feature_service(c, s)?;
        }
        self.streams(c)
    }

    fn entity(&self, e: &EntityConfig) -> Result<(), ConfigError> {
        let t = FieldType::parse(e.key_type.get_ref());
        if matches!(
            t,
            Some(FieldType::Int32 | FieldType::Int64 | FieldType::String)
        ) {
            return Ok(());
        }
        let key = format!("entity[{}].type", e.name.get_ref());
        let m = format!(
            "{:?}: an entity key is int64 (or int32) or string",
            e.key_type.get_ref()
        );
        self.err(e.key_type.span(), key, m)
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

    fn view(&self, v: &ViewConfig) -> Result<(), ConfigError> {
        let vname = v.name.get_ref();
        let key = |k: &str| format!("feature_view[{vname}].{k}");
        let entities = self.view_entities(v)?;
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
        self.primary_keys(v, &entities)?;
        for f in &v.fields {
            self.field(vname, f)?;
        }
        self.fills(v)?;
        self.input_types(v)
    }

    /// The view's entities, each declared once and with its own join key.
    fn view_entities(&self, v: &ViewConfig) -> Result<Vec<&EntityConfig>, ConfigError> {
        let key = format!("feature_view[{}].entity", v.name.get_ref());
        let names = v.entity.get_ref().names();
        if names.is_empty() {
            return self.err(v.entity.span(), key, "names no entity");
        }
        let mut entities: Vec<&EntityConfig> = Vec::with_capacity(names.len());
        for name in names {
            let Some(e) = self.config.entity(name) else {
                return self.err(
                    v.entity.span(),
                    key,
                    format!("no [[entity]] named {name:?}"),
                );
            };
            if let Some(twin) = entities.iter().find(|t| t.join_key == e.join_key) {
                let m = format!(
                    "entities {:?} and {name:?} share the join key {:?}",
                    twin.name.get_ref(),
                    e.join_key
                );
                return self.err(v.entity.span(), key, m);
            }
            entities.push(e);
        }
        Ok(entities)
    }

    /// One `primary_key = true` field per entity, named and typed as its join key.
    fn primary_keys(&self, v: &ViewConfig, entities: &[&EntityConfig]) -> Result<(), ConfigError> {
        let vname = v.name.get_ref();
        let key = |k: &str| format!("feature_view[{vname}].{k}");
        let join_keys: Vec<&str> = entities.iter().map(|e| e.join_key.as_str()).collect();
        let pks: Vec<_> = v.fields.iter().filter(|f| f.primary_key).collect();
        for pk in &pks {
            let name = pk.name.get_ref();
            let Some(entity) = entities.iter().find(|e| &e.join_key == name) else {
                let msg = format!(
                    "primary key {name:?} is not a join key of the view's entities ({join_keys:?})"
                );
                return self.err(pk.name.span(), key("fields.name"), msg);
            };
            // int32 and int64 keys are one key type, as they were when
            // int32 was a spelling of int64.
            let key_type = |t: &str| FieldType::parse(t).map(FieldType::as_key);
            if key_type(pk.field_type.get_ref()) != key_type(entity.key_type.get_ref()) {
                let msg = format!(
                    "primary key type {:?} differs from entity type {:?}",
                    pk.field_type.get_ref(),
                    entity.key_type.get_ref()
                );
                let k = key(&format!("fields[{name}].type"));
                return self.err(pk.field_type.span(), k, msg);
            }
        }
        let declared = |j: &&str| pks.iter().any(|f| f.name.get_ref() == j);
        if let Some(missing) = join_keys.iter().find(|j| !declared(j)) {
            let msg = format!(
                "needs a field {missing:?} with primary_key = true (the join key of each entity: {join_keys:?}); found {}",
                pks.len()
            );
            return self.err(v.name.span(), key("fields"), msg);
        }
        Ok(())
    }

    fn field(&self, vname: &str, f: &FieldConfig) -> Result<(), ConfigError> {
        let key = |k: &str| format!("feature_view[{vname}].fields[{}].{k}", f.name.get_ref());
        // The store's value layout gives a field name one length byte.
        let name = f.name.get_ref();
        if name.is_empty() || name.len() > 255 {
            return self.err(f.name.span(), key("name"), "must be 1 to 255 bytes long");
        }
        let Some(ty) = FieldType::parse(f.field_type.get_ref()) else {
            let msg = format!(
                "unknown type {:?} ({})",
                f.field_type.get_ref(),
                FieldType::KNOWN
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
        self.grants(t, &key)?;
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

impl Validator<'_> {
    fn grants(&self, t: &TransformConfig, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        let at = t.plugin.span();
        for name in t.grants.env.keys() {
            if name.is_empty() || name.contains(['=', '\0']) {
                let msg = format!("{name:?}: not an environment variable name");
                return self.err(at, key("transform.grants.env"), msg);
            }
        }
        for (guest, host) in &t.grants.dirs {
            // Plain, absolute and apart, so no grant shadows another.
            let plain = guest.starts_with('/')
                && guest[1..]
                    .split('/')
                    .all(|s| !s.is_empty() && s != "." && s != "..");
            let nested = t.grants.dirs.keys().any(|other| {
                other != guest
                    && other.starts_with(guest.as_str())
                    && other[guest.len()..].starts_with('/')
            });
            if !plain || nested {
                let msg = format!(
                    "{guest:?}: the path the plugin sees must be absolute and plain, like \"/data\", and not hold another grant"
                );
                return self.err(at, key("transform.grants.dirs"), msg);
            }
            let dir = self.config.resolve(Path::new(host));
            if !dir.is_dir() {
                let msg = format!("{guest:?} = {host:?}: no such directory: {}", dir.display());
                return self.err(at, key("transform.grants.dirs"), msg);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
