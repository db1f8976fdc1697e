//! A view's transformations, run batch by batch: each row's key, event time
//! and plain fields are read and typed, then each plugin is called once for
//! the whole batch and its per-row answers are checked against the schema.
//!
//! Incremental: every transformed value is stored with a digest of what it was
//! computed from (plugin, options, model, input values). A row whose digest
//! matches the stored one reuses the stored value, so re-publishing unchanged
//! rows calls no plugin and no embedding API.

use super::{Failure, FailureKind, IngestError, Record};
use crate::plugin::{Batch, Column, InstancePool, PluginEngine, PluginError};
use crate::registry::{Field, PluginSource, Registry, View};
use crate::store::{EntityKey, InputDigest, Store, StoredRow, encode_value};
use crate::time::Micros;
use crate::value::Value;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// A view's transformations, ready to run batches.
pub struct Pipeline {
    view: View,
    no_transform: bool,
    transforms: Vec<FieldTransform>,
}

struct FieldTransform {
    /// Index into `view.fields`.
    field: usize,
    pool: InstancePool,
    /// Hash state over the transformation's identity, extended per row with its inputs.
    identity: Sha256,
}

/// The result of running one batch through a pipeline.
#[derive(Debug, Default)]
pub struct Transformed {
    pub rows: Vec<(EntityKey, StoredRow)>,
    /// Where each of `rows` stood in the input records.
    pub rows_at: Vec<usize>,
    /// Failed rows, with the input record when the row had a readable key.
    pub failures: Vec<(Failure, Option<Record>)>,
    /// Where each of `failures` stood in the input records.
    pub failures_at: Vec<usize>,
    /// Keys of every row with a readable key, stored or not.
    pub keys: Vec<EntityKey>,
    /// Transformed values reused from the store because their inputs were unchanged.
    pub reused: u64,
    pub plugin_time: Duration,
}

type RowResult = Result<Value, (FailureKind, String)>;

impl Pipeline {
    /// Load and configure the plugins of `view`. Must run where blocking is
    /// allowed (a plugin's `embed` blocks on the async runtime).
    pub fn new(
        registry: &Registry,
        view: &str,
        engine: &PluginEngine,
        no_transform: bool,
    ) -> Result<Self, IngestError> {
        let view = registry
            .view(view)
            .ok_or_else(|| IngestError::UnknownView(view.into()))?
            .clone();
        let mut transforms = Vec::new();
        for (i, field) in view.fields.iter().enumerate() {
            let Some(t) = field.transform.as_ref().filter(|_| !no_transform) else {
                continue;
            };
            if let Some(llm) = &t.llm
                && let Err(message) = engine.embed_ready(llm)
            {
                return Err(IngestError::NotReady {
                    view: view.name.clone(),
                    field: field.name.clone(),
                    message,
                });
            }
            let bytes = plugin_bytes(&view, &t.plugin)?;
            let plugin = engine.load(&t.plugin.to_string(), &bytes)?;
            let model = t.llm.as_ref().and_then(|l| engine.embed_fingerprint(l));
            transforms.push(FieldTransform {
                field: i,
                pool: plugin.pool_with(&view.name, t.config.clone(), t.grants.clone())?,
                identity: identity(registry, field, &bytes, model),
            });
        }
        Ok(Pipeline {
            view,
            no_transform,
            transforms,
        })
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    /// Plugin calls made so far, over all of the view's transformed fields.
    pub fn plugin_calls(&self) -> u64 {
        self.transforms.iter().map(|t| t.pool.calls()).sum()
    }

    /// Per transformed field: its plugin's name and what its pool did.
    pub fn plugin_stats(&self) -> impl Iterator<Item = (&str, crate::plugin::PoolStats)> {
        self.transforms
            .iter()
            .map(|t| (t.pool.plugin_name(), t.pool.stats()))
    }

    /// Whether transformed fields are read pre-computed instead of computed.
    pub fn no_transform(&self) -> bool {
        self.no_transform
    }

    /// Transform one batch of records into rows to store. With `store`, values
    /// whose inputs are unchanged since they were stored are reused.
    pub fn run(&self, records: Vec<Record>, now: Micros, store: Option<&Store>) -> Transformed {
        let mut out = Transformed::default();
        let mut live = Vec::with_capacity(records.len());
        for (at, record) in records.into_iter().enumerate() {
            match self.start_row(record, now) {
                Ok(row) => {
                    out.keys.push(row.key.clone());
                    live.push((at, row));
                }
                Err(failed) => {
                    out.failures.push(failed);
                    out.failures_at.push(at);
                }
            }
        }
        let (at, mut live): (Vec<usize>, Vec<RowState>) = live.into_iter().unzip();
        let stored = store
            .map(|s| self.stored_rows(s, &live))
            .unwrap_or_default();
        for t in &self.transforms {
            out.reused += self.reuse(t, &mut live, &stored);
            let started = Instant::now();
            self.apply(t, &mut live);
            out.plugin_time += started.elapsed();
        }
        for (at, row) in at.into_iter().zip(live) {
            match row.error {
                Some((field, kind, message)) => {
                    out.failures_at.push(at);
                    out.failures.push((
                        Failure {
                            line: row.record.line,
                            key: Some(row.key),
                            field,
                            kind,
                            message,
                        },
                        Some(row.record),
                    ))
                }
                None => {
                    out.rows_at.push(at);
                    out.rows.push((
                        row.key,
                        StoredRow {
                            event_time: row.event_time,
                            fields: row.fields,
                            inputs: row.inputs,
                        },
                    ))
                }
            }
        }
        out
    }

    /// The field `t` computes and the input columns it reads.
    fn field_and_inputs(&self, t: &FieldTransform) -> (&Field, &[String]) {
        let field = &self.view.fields[t.field];
        let inputs = &field
            .transform
            .as_ref()
            .expect("transforms have a transform")
            .inputs;
        (field, inputs)
    }

    /// The stored rows of the batch's keys, when any field could be reused.
    fn stored_rows(&self, store: &Store, rows: &[RowState]) -> Vec<Option<StoredRow>> {
        if self.transforms.is_empty() {
            return Vec::new();
        }
        let keys: Vec<EntityKey> = rows.iter().map(|r| r.key.clone()).collect();
        store.get_many(&self.view.name, &keys).unwrap_or_else(|e| {
            tracing::warn!(
                "view {}: cannot read stored rows, transforming all: {e}",
                self.view.name
            );
            Vec::new()
        })
    }

    /// A failed row comes back with its record when its key was readable (to dead-letter it).
    // One failed row's record rides back whole, to be dead-lettered; boxing
    // it would cost an allocation per failure and buy nothing on success.
    #[allow(clippy::result_large_err)]
    fn start_row(
        &self,
        record: Record,
        now: Micros,
    ) -> Result<RowState, (Failure, Option<Record>)> {
        let fail = |key: Option<&EntityKey>, message: String| Failure {
            line: record.line,
            key: key.cloned(),
            field: None,
            kind: FailureKind::Input,
            message,
        };
        let key = self
            .view
            .key_of(|column| record.get(column))
            .map_err(|m| (fail(None, m), None))?;
        let event_time = match record.get(&self.view.event_time) {
            None | Some(Value::Null) => now,
            Some(v) => match Micros::parse(v) {
                Ok(t) => t,
                Err(e) => {
                    let f = fail(Some(&key), format!("`{}`: {e}", self.view.event_time));
                    return Err((f, Some(record)));
                }
            },
        };
        let mut row = RowState {
            key,
            event_time,
            fields: Vec::new(),
            inputs: Vec::new(),
            pending: Vec::new(),
            error: None,
            record,
        };
        for field in &self.view.fields {
            let from = match (&field.transform, self.no_transform) {
                (Some(_), false) => continue,
                // The seed's pre-extracted table names the vector `<field>_embedding`;
                // it wins over `<field>`, which is usually the raw text.
                (Some(_), true) => [format!("{}_embedding", field.name), field.name.clone()]
                    .into_iter()
                    .find(|c| row.record.get(c).is_some()),
                (None, _) => Some(field.name.clone()),
            };
            let Some(v) = from.and_then(|c| row.record.get(&c).cloned()) else {
                continue;
            };
            let checked = field.check(v).map_err(|m| (FailureKind::Input, m));
            row.set(&field.name, checked);
        }
        Ok(row)
    }

    /// Compute each live row's input digest for `t`; rows whose stored value
    /// was computed from the same inputs take it. Returns how many did.
    fn reuse(
        &self,
        t: &FieldTransform,
        rows: &mut [RowState],
        stored: &[Option<StoredRow>],
    ) -> u64 {
        let (field, inputs) = self.field_and_inputs(t);
        let mut reused = 0;
        let mut buf = Vec::new();
        for (i, row) in rows
            .iter_mut()
            .enumerate()
            .filter(|(_, r)| r.error.is_none())
        {
            // No input column at all: nothing to compute from, and in merge
            // mode the stored value stays (as for a plain field's absent column).
            if inputs.iter().all(|c| row.record.get(c).is_none()) {
                continue;
            }
            let mut h = t.identity.clone();
            for c in inputs {
                buf.clear();
                encode_value(&mut buf, row.record.get(c).unwrap_or(&Value::Null));
                h.update(&buf);
            }
            let digest: InputDigest = h.finalize()[..16].try_into().expect("16 of 32 bytes");
            let old = stored
                .get(i)
                .and_then(Option::as_ref)
                .filter(|s| s.input_digest(&field.name) == Some(&digest));
            // A reused value is checked like a fresh one: the store is not trusted blindly.
            match old
                .and_then(|s| s.get(&field.name))
                .cloned()
                .map(|v| field.check(v))
            {
                Some(Ok(v)) => {
                    row.fields.push((field.name.clone(), v));
                    reused += 1;
                }
                _ => row.pending.push(t.field),
            }
            row.inputs.push((field.name.clone(), digest));
        }
        reused
    }

    /// One plugin call for the rows still needing `t`, its input columns
    /// typed once; its per-row answers land per row.
    fn apply(&self, t: &FieldTransform, rows: &mut [RowState]) {
        let (field, inputs) = self.field_and_inputs(t);
        let todo: Vec<usize> = (0..rows.len())
            .filter(|i| rows[*i].error.is_none() && rows[*i].pending.contains(&t.field))
            .collect();
        if todo.is_empty() {
            return;
        }
        static NULL: Value = Value::Null;
        let columns = (inputs.iter())
            .map(|c| {
                let cells: Vec<&Value> = (todo.iter())
                    .map(|i| rows[*i].record.get(c).unwrap_or(&NULL))
                    .collect();
                Column::from_refs(c, &cells)
            })
            .collect();
        let batch = Batch {
            rows: todo.len(),
            columns,
        };
        match self.call(&t.pool, &field.name, batch) {
            Ok((values, errors)) => {
                let mut answers: Vec<RowResult> = (values.into_iter())
                    .map(|v| field.check(v).map_err(|m| (FailureKind::Schema, m)))
                    .collect();
                for (k, e) in errors {
                    answers[k] = Err((
                        FailureKind::from(e.kind),
                        format!("field `{}`: {e}", field.name),
                    ));
                }
                for (i, answer) in todo.into_iter().zip(answers) {
                    rows[i].set(&field.name, answer);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for i in todo {
                    rows[i].set(&field.name, Err((FailureKind::Plugin, message.clone())));
                }
            }
        }
    }

    /// The plugin's values for `field`, one per row, and the rows that failed.
    #[allow(clippy::type_complexity)]
    fn call(
        &self,
        pool: &InstancePool,
        field: &str,
        batch: Batch,
    ) -> Result<(Vec<Value>, Vec<(usize, crate::plugin::RowError)>), PluginError> {
        let o = pool.transform(batch)?;
        let names = || o.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let Some(at) = o.columns.iter().position(|c| c.name == field) else {
            return Err(PluginError::BadOutput {
                plugin: pool.plugin_name().into(),
                view: self.view.name.clone(),
                message: format!("no output column `{field}` (got {:?})", names()),
            });
        };
        let mut columns = o.columns;
        Ok((columns.swap_remove(at).into_values(), o.errors))
    }
}

/// What a transformed value depends on besides its inputs: the plugin's
/// bytes, its options, its sandbox grants and, for an embedding, everything about the `[[llm]]`
/// that changes the vector (for a local model, the hash of its weights and
/// tokenizer). A change to any of them recomputes every row.
fn identity(registry: &Registry, field: &Field, plugin: &[u8], model: Option<[u8; 32]>) -> Sha256 {
    let t = field.transform.as_ref().expect("transformed fields");
    let mut h = Sha256::new();
    h.update(Sha256::digest(plugin));
    h.update(format!("{:?}\0{:?}\0", field.ty, field.dimensions).as_bytes());
    for (k, v) in &t.config.legacy {
        h.update(format!("{k}={v}\0").as_bytes());
    }
    // What the sandbox grants can change the output: the grants, and each
    // granted file's path in its folder, size and times (an edited lookup
    // table recomputes; reading contents would cost every publish). Only
    // when there are grants: fields without keep the digests they had.
    for (k, v) in &t.grants.env {
        h.update(format!("env\0{k}\0{v}\0").as_bytes());
    }
    for (dir, guest) in &t.grants.dirs {
        h.update(format!("dir\0{guest}\0").as_bytes());
        hash_tree(&mut h, dir, dir);
    }
    if let Some(llm) = t.llm.as_ref().and_then(|l| registry.llm(l)) {
        // Values, not `Spanned`s: editing elsewhere in the file must not look like a change.
        let llm_identity = format!(
            "{}\0{}\0{:?}\0{}\0{:?}\0{:?}\0{}\0",
            llm.base_url.as_ref().map_or("", |u| u.get_ref()),
            llm.model,
            llm.dimensions.as_ref().map(|d| *d.get_ref()),
            llm.max_input_tokens()
                .map_or(String::new(), |m| m.to_string()),
            llm.long_input,
            llm.tokenizer,
            llm.normalize,
        );
        h.update(llm_identity.as_bytes());
        // The tokenizer decides where long texts are cut: its contents count, not its name.
        if let Some(bytes) = llm
            .tokenizer
            .as_ref()
            .and_then(|p| std::fs::read(registry.config.resolve(p)).ok())
        {
            h.update(Sha256::digest(bytes));
        }
        if let Some(model) = model {
            h.update(model);
        }
    }
    h
}

fn plugin_bytes(
    view: &View,
    source: &PluginSource,
) -> Result<std::borrow::Cow<'static, [u8]>, IngestError> {
    Ok(match source {
        PluginSource::Builtin(n) => crate::registry::builtin_plugin(n)
            .expect("validated: built-in exists")
            .into(),
        PluginSource::File(p) => std::fs::read(p)
            .map_err(|source| IngestError::PluginFile {
                view: view.name.clone(),
                path: p.clone(),
                source,
            })?
            .into(),
    })
}

struct RowState {
    key: EntityKey,
    event_time: Micros,
    fields: Vec<(String, Value)>,
    inputs: Vec<(String, InputDigest)>,
    /// Transforms (by field index) whose value must be computed, not reused.
    pending: Vec<usize>,
    /// The first failure: field, kind, message.
    error: Option<(Option<String>, FailureKind, String)>,
    record: Record,
}

impl RowState {
    fn set(&mut self, field: &str, v: RowResult) {
        match v {
            Ok(v) => self.fields.push((field.to_string(), v)),
            Err((kind, message)) if self.error.is_none() => {
                self.error = Some((Some(field.to_string()), kind, message))
            }
            Err(_) => {}
        }
    }
}

/// Path (relative to `root`), size, modification time and, on unix, inode
/// and change time of every file under `dir`, in order. The change time
/// catches edits that restore the modification time (`cp -p`, `rsync -t`).
fn hash_tree(h: &mut Sha256, root: &std::path::Path, dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(meta) = e.metadata() else { continue };
        let path = e.path();
        if meta.is_dir() {
            hash_tree(h, root, &path);
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy();
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        h.update(
            format!(
                "{rel}\0{}\0{:?}\0",
                meta.len(),
                modified.map(|d| d.as_nanos())
            )
            .as_bytes(),
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            h.update(
                format!("{}\0{}\0{}\0", meta.ino(), meta.ctime(), meta.ctime_nsec()).as_bytes(),
            );
        }
    }
}
