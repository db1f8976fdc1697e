//! [`Wafer::reload`]: the config and its plugins loaded whole beside the
//! version in force, then swapped in at once; a config or plugin that
//! fails leaves the running version serving.

use super::generation::{self, Generation};
use super::{Error, Wafer, blocking, set_sinks, set_ttls, view_error};
use crate::config::Config;
use crate::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What a reload did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Reloaded {
    pub views: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Views that cannot take transformed writes, with why (an API key not
    /// set, a model not pulled): they still serve lookups.
    pub unavailable: Vec<(String, String)>,
}

impl Wafer {
    /// Load the config file again, with its plugins, and swap it in whole.
    /// A config that does not parse or a plugin that does not load leaves the
    /// running version in place, and the error says why. New views get their
    /// column families; a removed view stops being served, its data stays.
    pub async fn reload(&self) -> Result<Reloaded, Error> {
        let _one = self.inner.reloading.lock().await;
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let old = self.inner.generation();
        let (path, store) = (self.inner.config_path.clone(), self.inner.store.clone());
        let prev = old.clone();
        let (next, unavailable) = blocking("reload", move || {
            let config = Config::load(&path)?;
            let next = Generation::new(Registry::new(config), Some(&store), Some(&prev))?;
            let mut unavailable = Vec::new();
            for (view, e) in next.warm(|| true) {
                if generation::is_plugin_fault(&e) {
                    return Err(view_error(&view, e));
                }
                unavailable.push((view, e.to_string()));
            }
            let names = next.registry.views().iter().map(|v| v.name.as_str());
            store.ensure_views(names)?;
            let old_policy = store.log_policy();
            store.set_log_policy(next.registry.config.store.log_policy());
            if let Err(e) = store.seed_logs() {
                store.set_log_policy(old_policy);
                return Err(e.into());
            }
            Ok((next, unavailable))
        })
        .await?;
        let report = reloaded(&old.registry, &next.registry, unavailable);
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        set_ttls(&self.inner.store, &self.registry());
        set_sinks(&self.inner.store, &self.registry());
        self.sync_writers();
        // Sources and sinks start again under the new version, each from
        // the offsets in the store.
        if self.stop_streams().await {
            self.start_streams().await;
        }
        tracing::info!(
            views = report.views.len(),
            added = ?report.added,
            removed = ?report.removed,
            "config reloaded"
        );
        Ok(report)
    }
}

fn reloaded(old: &Registry, new: &Registry, unavailable: Vec<(String, String)>) -> Reloaded {
    let names = |r: &Registry| r.views().iter().map(|v| v.name.clone()).collect::<Vec<_>>();
    let (before, after) = (names(old), names(new));
    Reloaded {
        added: after
            .iter()
            .filter(|v| !before.contains(v))
            .cloned()
            .collect(),
        removed: before
            .iter()
            .filter(|v| !after.contains(v))
            .cloned()
            .collect(),
        views: after,
        unavailable,
    }
}
