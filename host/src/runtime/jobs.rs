//! Jobs on the store that run to their end on a blocking thread: a file
//! publish with the view's long-lived pipeline, and dead-letter work.

use super::{Error, Wafer, blocking, view_error};
use crate::ingest::{self, DeadLetter, PublishRequest, Summary};

impl Wafer {
    /// Publish a file, on a blocking thread, with the view's long-lived
    /// pipeline; `on_batch` sees the running summary after each batch.
    pub async fn publish(
        &self,
        req: PublishRequest,
        mut on_batch: impl FnMut(&Summary) + Send + 'static,
    ) -> Result<Summary, Error> {
        let generation = self.inner.generation();
        let store = self.inner.store.clone();
        let summary = blocking("publish", move || {
            let pipeline = generation
                .pipeline(&req.view, req.no_transform)
                .map_err(|e| view_error(&req.view, e))?;
            Ok(ingest::publish(
                &pipeline,
                &store,
                &generation.engine,
                &req,
                &mut on_batch,
            )?)
        })
        .await?;
        self.count(&summary, "publish");
        Ok(summary)
    }

    fn count(&self, s: &Summary, source: &str) {
        (self.inner.metrics).rows(&s.view, source, s.written, s.stale, s.failed());
    }

    /// Run `view`'s dead letters through its transformations again.
    pub async fn retry_dead_letters(
        &self,
        view: &str,
        mut on_batch: impl FnMut(&Summary) + Send + 'static,
    ) -> Result<Summary, Error> {
        let generation = self.inner.generation();
        let store = self.inner.store.clone();
        let view = view.to_string();
        let summary = blocking("dead-letter retry", move || {
            let pipeline = |no_transform| generation.pipeline(&view, no_transform);
            let (registry, engine) = (&generation.registry, &generation.engine);
            Ok(ingest::deadletter::retry(
                registry,
                &store,
                engine,
                &view,
                &pipeline,
                &mut on_batch,
            )?)
        })
        .await?;
        self.count(&summary, "dead-letter retry");
        Ok(summary)
    }

    /// The dead letters of `view`.
    pub async fn dead_letters(&self, view: &str) -> Result<Vec<DeadLetter>, Error> {
        let (wafer, view) = (self.clone(), view.to_string());
        blocking("dead-letter list", move || {
            Ok(ingest::deadletter::list(
                &wafer.inner.store,
                &wafer.registry(),
                &view,
            )?)
        })
        .await
    }

    /// Drop the dead letters of `view`; how many there were.
    pub async fn purge_dead_letters(&self, view: &str) -> Result<u64, Error> {
        let (wafer, view) = (self.clone(), view.to_string());
        blocking("dead-letter purge", move || {
            Ok(ingest::deadletter::purge(
                &wafer.inner.store,
                &wafer.registry(),
                &view,
            )?)
        })
        .await
    }

    /// Rebuild `view`'s online rows from its offline log as of `at` (see
    /// [`crate::store::Store::materialize`]).
    pub async fn materialize(
        &self,
        view: &str,
        at: crate::time::Micros,
    ) -> Result<crate::store::Materialized, Error> {
        let (store, view) = (self.inner.store.clone(), view.to_string());
        blocking("materialize", move || Ok(store.materialize(&view, at)?)).await
    }

    /// A consistent copy of the store in `dir` (which must not exist),
    /// taken while serving: what `wafer restore` puts back.
    pub async fn backup(&self, dir: &std::path::Path) -> Result<(), Error> {
        let (store, dir) = (self.inner.store.clone(), dir.to_path_buf());
        blocking("backup", move || Ok(store.checkpoint(&dir)?)).await
    }
}
