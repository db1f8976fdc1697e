//! Cross-field checks on a parsed config that serde cannot express: names
//! are unique, references resolve, each view's primary key is its entity's
//! join key, plugins exist. Each error points at the offending key's line.

use super::*;
use std::collections::HashSet;

mod fills;
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
            let t = FieldType::parse(e.key_type.get_ref());
            if !matches!(
                t,
                Some(FieldType::Int32 | FieldType::Int64 | FieldType::String)
            ) {
                let key = format!("entity[{}].type", e.name.get_ref());
                return self.err(
                    e.key_type.span(),
                    key,
                    format!(
                        "{:?}: an entity key is int64 (or int32) or string",
                        e.key_type.get_ref()
                    ),
                );
            }
        }
        for v in &c.views {
            self.view(v)?;
        }
        self.server(&c.server)?;
        for (ttl, key) in [
            (&c.store.embedding_cache_ttl, "store.embedding_cache_ttl"),
            (
                &c.store.offline_log_retention,
                "store.offline_log_retention",
            ),
        ] {
            if let Err(e) = parse_ttl(ttl.get_ref()) {
                let m = format!("{:?}: {e} (e.g. \"90d\", or \"none\")", ttl.get_ref());
                return self.err(ttl.span(), key.into(), m);
            }
        }
        if let Some(mb) = c
            .store
            .offline_log_max_mb
            .as_ref()
            .filter(|mb| !(1..=1 << 30).contains(mb.get_ref()))
        {
            let m = "must be at least 1 and at most 1073741824 (MiB); leave it out for no cap";
            return self.err(mb.span(), "store.offline_log_max_mb".into(), m);
        }
        let memory = &c.store.memory_mb;
        if !(8..=1 << 20).contains(memory.get_ref()) {
            let m = "must be at least 8 and at most 1048576 (MiB)";
            return self.err(memory.span(), "store.memory_mb".into(), m);
        }
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

    /// Every transformed field may run `instances_per_field` instances, and
    /// a reload runs the old and the new version side by side: the engine's
    /// `max_instances` must hold both, or a busy pool would fail to grow.
    fn instances(&self, c: &Config) -> Result<(), ConfigError> {
        let fields = c.views.iter().flat_map(|v| &v.fields);
        let transformed = fields.filter(|f| f.transform.is_some()).count();
        let p = &c.plugins;
        let (per_field, max) = (*p.instances_per_field.get_ref(), *p.max_instances.get_ref());
        let needed = transformed * per_field * 2;
        if needed > max as usize {
            let m = format!(
                "{max} cannot hold {transformed} transformed fields × instances_per_field {per_field} × 2 \
                 (a reload runs the old and the new version side by side): raise it to {needed} or lower instances_per_field"
            );
            let at = match p.max_instances.span() {
                span if span.is_empty() => p.instances_per_field.span(),
                span => span,
            };
            return self.err(at, "plugins.max_instances".into(), m);
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

    fn plugins(&self, p: &PluginsConfig) -> Result<(), ConfigError> {
        let at_least_one = [
            (
                p.memory_mb.span(),
                *p.memory_mb.get_ref() as u64,
                "memory_mb",
            ),
            (
                p.call_timeout_secs.span(),
                *p.call_timeout_secs.get_ref(),
                "call_timeout_secs",
            ),
            (
                p.max_instances.span(),
                u64::from(*p.max_instances.get_ref()),
                "max_instances",
            ),
            (
                p.recycle_after_calls.span(),
                *p.recycle_after_calls.get_ref(),
                "recycle_after_calls",
            ),
            (
                p.instances_per_field.span(),
                *p.instances_per_field.get_ref() as u64,
                "instances_per_field",
            ),
        ];
        for (span, value, name) in at_least_one {
            if value == 0 {
                return self.err(span, format!("plugins.{name}"), "must be at least 1");
            }
        }
        // Bounds that keep the engine's arithmetic (bytes, ticks, pool sizes) in range.
        let at_most = [
            (
                p.memory_mb.span(),
                *p.memory_mb.get_ref() as u64,
                65_536,
                "memory_mb",
            ),
            (
                p.call_timeout_secs.span(),
                *p.call_timeout_secs.get_ref(),
                86_400,
                "call_timeout_secs",
            ),
            (
                p.max_instances.span(),
                u64::from(*p.max_instances.get_ref()),
                10_000,
                "max_instances",
            ),
        ];
        for (span, value, max, name) in at_most {
            if value > max {
                return self.err(
                    span,
                    format!("plugins.{name}"),
                    format!("must be at most {max}"),
                );
            }
        }
        Ok(())
    }

    fn llm(&self, llm: &LlmConfig) -> Result<(), ConfigError> {
        let key = |k: &str| format!("llm[{}].{k}", llm.name.get_ref());
        self.llm_provider(llm)?;
        if llm.api_key_env.is_some() && llm.api_key_file.is_some() {
            return self.err(
                llm.name.span(),
                key("api_key_file"),
                "set api_key_env or api_key_file, not both",
            );
        }
        let counts = [
            ("batch_size", llm.batch_size.as_ref()),
            ("concurrency", llm.concurrency.as_ref()),
            ("dimensions", llm.dimensions.as_ref()),
            ("max_input_tokens", llm.max_input_tokens.as_ref()),
            ("threads", llm.threads.as_ref()),
        ];
        for (name, v) in counts {
            if let Some(v) = v.filter(|v| *v.get_ref() == 0) {
                return self.err(v.span(), key(name), "must be at least 1");
            }
        }
        // Threads and permits are real resources: a typo must not ask for millions.
        let caps = [
            ("threads", llm.threads.as_ref(), 1024),
            ("concurrency", llm.concurrency.as_ref(), 10_000),
        ];
        for (name, v, cap) in caps {
            if let Some(v) = v.filter(|v| *v.get_ref() > cap) {
                return self.err(v.span(), key(name), format!("must be at most {cap}"));
            }
        }
        if let Some(r) = llm
            .requests_per_minute
            .as_ref()
            .filter(|r| *r.get_ref() == 0)
        {
            return self.err(r.span(), key("requests_per_minute"), "must be at least 1");
        }
        // A budget below one full input could never send that input.
        let max_input = llm.max_input_tokens().unwrap_or(1);
        let budgets = [
            (
                "max_batch_tokens",
                llm.max_batch_tokens
                    .as_ref()
                    .map(|b| (b.span(), *b.get_ref())),
            ),
            (
                "tokens_per_minute",
                llm.tokens_per_minute
                    .as_ref()
                    .map(|b| (b.span(), *b.get_ref() as usize)),
            ),
        ];
        for (name, budget) in budgets {
            if let Some((span, b)) = budget.filter(|(_, b)| *b < max_input) {
                let m = format!("must be at least max_input_tokens ({max_input}), got {b}");
                return self.err(span, key(name), m);
            }
        }
        Ok(())
    }

    /// Keys that belong to the other provider are mistakes, not no-ops.
    fn llm_provider(&self, llm: &LlmConfig) -> Result<(), ConfigError> {
        let key = |k: &str| format!("llm[{}].{k}", llm.name.get_ref());
        let (foreign, owner): (&[(&str, bool)], &str) = match llm.provider {
            Provider::OpenAi => (
                &[
                    ("model_dir", llm.model_dir.is_some()),
                    ("threads", llm.threads.is_some()),
                ],
                "local",
            ),
            Provider::Local => (
                &[
                    ("base_url", llm.base_url.is_some()),
                    ("api_key_env", llm.api_key_env.is_some()),
                    ("api_key_file", llm.api_key_file.is_some()),
                    ("tokenizer", llm.tokenizer.is_some()),
                ],
                "openai",
            ),
        };
        if let Some((k, _)) = foreign.iter().find(|(_, set)| *set) {
            let m = format!("is for provider = \"{owner}\" only");
            return self.err(llm.name.span(), key(k), m);
        }
        match (llm.provider, &llm.base_url) {
            (Provider::OpenAi, None) => self.err(
                llm.name.span(),
                key("base_url"),
                "is required for provider \"openai\"",
            ),
            (Provider::OpenAi, Some(url)) if reqwest::Url::parse(url.get_ref()).is_err() => {
                let m = format!("{:?} is not a URL", url.get_ref());
                self.err(url.span(), key("base_url"), m)
            }
            _ => Ok(()),
        }
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
