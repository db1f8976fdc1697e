//! The checks of what the engine and the store may take: the counts and
//! caps of `[plugins]`, the instances a reload needs, and the durations
//! and sizes of `[store]`.

use super::Validator;
use crate::config::{Config, ConfigError, PluginsConfig, StoreConfig, parse_ttl};

impl Validator<'_> {
    pub(super) fn plugins(&self, p: &PluginsConfig) -> Result<(), ConfigError> {
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

    /// Every transformed field may run `instances_per_field` instances, and
    /// a reload runs the old and the new version side by side: the engine's
    /// `max_instances` must hold both, or a busy pool would fail to grow.
    pub(super) fn instances(&self, c: &Config) -> Result<(), ConfigError> {
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

    /// `[store]`: its durations parse, its sizes are in range.
    pub(super) fn store(&self, store: &StoreConfig) -> Result<(), ConfigError> {
        for (ttl, key) in [
            (&store.embedding_cache_ttl, "store.embedding_cache_ttl"),
            (&store.offline_log_retention, "store.offline_log_retention"),
        ] {
            if let Err(e) = parse_ttl(ttl.get_ref()) {
                let m = format!("{:?}: {e} (e.g. \"90d\", or \"none\")", ttl.get_ref());
                return self.err(ttl.span(), key.into(), m);
            }
        }
        let cap = store.offline_log_max_mb.as_ref();
        if let Some(mb) = cap.filter(|mb| !(1..=1 << 30).contains(mb.get_ref())) {
            let m = "must be at least 1 and at most 1073741824 (MiB); leave it out for no cap";
            return self.err(mb.span(), "store.offline_log_max_mb".into(), m);
        }
        let memory = &store.memory_mb;
        if !(8..=1 << 20).contains(memory.get_ref()) {
            let m = "must be at least 8 and at most 1048576 (MiB)";
            return self.err(memory.span(), "store.memory_mb".into(), m);
        }
        Ok(())
    }
}
