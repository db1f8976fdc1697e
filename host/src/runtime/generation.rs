//! One loaded version of the config: the registry of views, the embedding
//! service, the plugin engine and, per view, its long-lived pipelines (one
//! that transforms, one that takes pre-extracted values), each compiled,
//! linked and pooled once and then shared by every write. A reload builds a
//! new generation whole and swaps it in; readers and writers hold the one
//! they started with until they finish.

use crate::embed::EmbedService;
use crate::ingest::{IngestError, Pipeline};
use crate::plugin::{Limits, PluginEngine, PluginError};
use crate::registry::Registry;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A pipeline, or why the view cannot have one (kept: a model that does not
/// load or a key that is not set stays so until the next reload).
type Built = Result<Arc<Pipeline>, Arc<IngestError>>;

pub(crate) struct Generation {
    pub registry: Arc<Registry>,
    pub engine: PluginEngine,
    embed: Arc<EmbedService>,
    pipelines: HashMap<String, [OnceLock<Built>; 2]>,
}

impl Generation {
    /// The generation for `registry`, reusing what `previous` has that did
    /// not change: `[[llm]]` clients (a loaded model) and the plugin engine
    /// (compiled code, the instance allocator). Without a store, nothing is
    /// cached. Builds no pipeline yet.
    pub fn new(
        registry: Registry,
        store: Option<&Arc<Store>>,
        previous: Option<&Generation>,
    ) -> Result<Self, PluginError> {
        let config = &registry.config;
        let base = config.base_dir().to_path_buf();
        let embed = Arc::new(match previous {
            Some(p) => p.embed.reconfigure(&config.llms, &base),
            None => EmbedService::new(&config.llms, &base, store.cloned()),
        });
        let limits = Limits::from(&config.plugins);
        let cache_dir = config.plugin_cache_dir();
        let engine = match previous {
            Some(p)
                if p.engine.limits() == limits && p.engine.cache_dir() == cache_dir.as_deref() =>
            {
                p.engine.with_embed(embed.clone())
            }
            _ => PluginEngine::new(embed.clone(), limits)?.with_cache_dir(cache_dir),
        };
        let registry = Arc::new(registry);
        let pipelines = registry
            .views()
            .iter()
            .map(|v| (v.name.clone(), Default::default()))
            .collect();
        Ok(Generation {
            registry,
            engine,
            embed,
            pipelines,
        })
    }

    /// The view's pipeline, built on first use. Blocking (plugins compile,
    /// a local model loads): call it from a blocking thread.
    pub fn pipeline(
        &self,
        view: &str,
        no_transform: bool,
    ) -> Result<Arc<Pipeline>, Arc<IngestError>> {
        let slots = self
            .pipelines
            .get(view)
            .ok_or_else(|| Arc::new(IngestError::UnknownView(view.into())))?;
        slots[usize::from(no_transform)]
            .get_or_init(|| {
                Pipeline::new(&self.registry, view, &self.engine, no_transform)
                    .map(Arc::new)
                    .map_err(Arc::new)
            })
            .clone()
    }

    /// The embedding service of this version: its cache counters are the
    /// process's, each `[[llm]]`'s those of its client since this version.
    pub fn embed(&self) -> &EmbedService {
        &self.embed
    }

    /// The view's rows per plugin call and store write.
    pub fn batch_size(&self, view: &str) -> usize {
        self.registry.view(view).map_or(1, |v| v.batch_size.max(1))
    }

    /// Plugin calls made by `view`'s pipelines so far.
    pub fn plugin_calls(&self, view: &str) -> u64 {
        let slots = self.pipelines.get(view).into_iter().flatten();
        let built = slots.filter_map(|s| s.get()?.as_ref().ok());
        built.map(|p| p.plugin_calls()).sum()
    }

    /// What `view`'s plugins did, by plugin name, since this version loaded.
    pub fn plugin_stats(&self, view: &str) -> Vec<(String, crate::plugin::PoolStats)> {
        let mut by_plugin: Vec<(String, crate::plugin::PoolStats)> = Vec::new();
        let slots = self.pipelines.get(view).into_iter().flatten();
        for pipeline in slots.filter_map(|s| s.get()?.as_ref().ok()) {
            for (plugin, stats) in pipeline.plugin_stats() {
                match by_plugin.iter_mut().find(|(p, _)| p == plugin) {
                    Some((_, sum)) => *sum += stats,
                    None => by_plugin.push((plugin.to_string(), stats)),
                }
            }
        }
        by_plugin
    }

    /// Why this version cannot take every write yet: views whose
    /// transforming pipeline is still being built, or failed to build.
    pub fn not_ready(&self) -> Vec<String> {
        let views = self.registry.views().iter();
        views
            .filter_map(|v| match self.pipelines.get(&v.name)?[0].get() {
                None => Some(format!("view {}: its plugins are loading", v.name)),
                Some(Err(e)) => Some(format!("view {}: {e}", v.name)),
                Some(Ok(_)) => None,
            })
            .collect()
    }

    /// Build every view's transforming pipeline now, while `go_on` says so
    /// (asked before each view). Returns the views that could not have one,
    /// with why. Blocking.
    pub fn warm(&self, go_on: impl Fn() -> bool) -> Vec<(String, Arc<IngestError>)> {
        let views = self.registry.views().iter().take_while(|_| go_on());
        views
            .filter_map(|v| Some((v.name.clone(), self.pipeline(&v.name, false).err()?)))
            .collect()
    }
}

/// Whether a pipeline failure is the plugin's (its file, compile, link or
/// configure), which a reload must refuse, rather than the environment's
/// (an API key not set, a model not pulled), which the old version would
/// meet just the same.
pub(crate) fn is_plugin_fault(e: &IngestError) -> bool {
    matches!(e, IngestError::Plugin(_) | IngestError::PluginFile { .. })
}
