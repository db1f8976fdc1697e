//! Publishing a file: read it in batches of the view's `batch_size`, land
//! each batch through [`write_records`], keep a running [`Summary`], and for
//! `--mode overwrite` delete the keys the file did not hold once every row
//! has succeeded. A dead-letter retry is a run of the same kind over stored
//! dead letters.

use super::{
    Failure, FailureKind, IngestError, Pipeline, PublishRequest, Reader, Record, Summary,
    WriteSpec, write_records,
};
use crate::embed::EmbedStats;
use crate::plugin::PluginEngine;
use crate::store::{Alongside, EntityKey, Store, WriteMode};
use crate::time::Micros;
use std::collections::HashSet;
use std::time::Instant;

/// Publish a file into `pipeline`'s view (the caller picks the pipeline for
/// `req.no_transform`). Blocking: run it on a blocking thread. `on_batch`
/// sees the running summary after every batch (for progress).
pub fn publish(
    pipeline: &Pipeline,
    store: &Store,
    engine: &PluginEngine,
    req: &PublishRequest,
    on_batch: &mut dyn FnMut(&Summary),
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let mut reader = Reader::open_partition(&req.input, req.format, req.partition.as_deref())?;
    reader.check_types(pipeline.view())?;
    // Keys others write meanwhile are not the file's to delete.
    let _tracking = (req.mode == WriteMode::Overwrite).then(|| store.track_writes(&req.view));
    let source = req.input.display().to_string();
    let mut run = Run::new(pipeline, store, engine, req.mode, Some(source));
    loop {
        let (records, bad) = reader.next_batch(pipeline.view().batch_size)?;
        if records.is_empty() && bad.is_empty() {
            break;
        }
        run.batch(records, bad)?;
        on_batch(&run.summary);
    }
    if req.mode == WriteMode::Overwrite {
        finish_overwrite(store, &req.view, &run.seen, &mut run.summary)?;
    }
    Ok(run.finish(started))
}

/// One publish in progress: batches in, rows and dead letters written, summary kept.
pub(super) struct Run<'a> {
    pipeline: &'a Pipeline,
    store: &'a Store,
    engine: &'a PluginEngine,
    mode: WriteMode,
    /// The input, named in new dead letters.
    source: Option<String>,
    now: Micros,
    embed_before: EmbedStats,
    seen: HashSet<EntityKey>,
    pub(super) summary: Summary,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        pipeline: &'a Pipeline,
        store: &'a Store,
        engine: &'a PluginEngine,
        mode: WriteMode,
        source: Option<String>,
    ) -> Self {
        Run {
            pipeline,
            store,
            engine,
            mode,
            source,
            now: Micros::now(),
            embed_before: engine.embed_stats(),
            seen: HashSet::new(),
            summary: Summary {
                view: pipeline.view().name.clone(),
                ..Summary::default()
            },
        }
    }

    /// Land one batch; `bad` are lines that could not be read as rows.
    pub(super) fn batch(
        &mut self,
        records: Vec<Record>,
        bad: Vec<super::input::BadLine>,
    ) -> Result<(), IngestError> {
        let s = &mut self.summary;
        s.rows_read += (records.len() + bad.len()) as u64;
        s.failures
            .extend(bad.into_iter().map(|(line, message)| Failure {
                line,
                key: None,
                field: None,
                kind: FailureKind::Input,
                message,
            }));
        let spec = WriteSpec {
            mode: self.mode,
            source: self.source.as_deref(),
            now: self.now,
            also: Alongside::default(),
        };
        let w = write_records(self.pipeline, self.store, records, spec)?;
        if self.mode == WriteMode::Overwrite {
            self.seen.extend(w.keys);
        }
        s.plugin_time += w.plugin_time;
        s.store_time += w.store_time;
        s.reused += w.reused;
        s.dead_lettered += w.dead_lettered;
        s.written += w.written;
        s.stale += w.stale;
        s.failures.extend(w.failures);
        s.embed = self.engine.embed_stats().since(&self.embed_before);
        // Durable from here: the write returned after RocksDB's write-ahead log.
        let view = &self.pipeline.view().name;
        tracing::debug!(view = %view, rows_read = s.rows_read, written = s.written, "batch written");
        Ok(())
    }

    pub(super) fn finish(mut self, started: Instant) -> Summary {
        self.summary.failures.sort_by_key(|f| f.line);
        self.summary.embed = self.engine.embed_stats().since(&self.embed_before);
        self.summary.total_time = started.elapsed();
        self.summary
    }
}

/// Drop the keys the input did not contain — but only after a clean publish:
/// deleting on a partial one would lose rows whose replacement failed.
fn finish_overwrite(
    store: &Store,
    view: &str,
    seen: &HashSet<EntityKey>,
    summary: &mut Summary,
) -> Result<(), IngestError> {
    if !summary.failures.is_empty() {
        summary.notes.push(
            "overwrite: rows failed, so keys missing from the input were kept; fix and re-run"
                .into(),
        );
    } else if summary.rows_read == 0 {
        summary
            .notes
            .push("overwrite: the input is empty, nothing was deleted".into());
    } else {
        let started = Instant::now();
        summary.deleted = store.retain(view, seen)?;
        summary.store_time += started.elapsed();
    }
    Ok(())
}
