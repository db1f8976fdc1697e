//! A view's transformations, run batch by batch: each row's key, event time
//! and plain fields are read and typed, then each plugin is called once for
//! the whole batch and its per-row answers are checked against the schema.
//!
//! Incremental: every transformed value is stored with a digest of what it was
//! computed from (plugin, options, model, input values). A row whose digest
//! matches the stored one reuses the stored value, so re-publishing unchanged
//! rows calls no plugin and no embedding API.

use super::identity::{Digester, identity};
use super::{Failure, FailureKind, IngestError, Record};
use crate::plugin::{Contract, InstancePool, PluginEngine, PluginError};
use crate::registry::{Field, PluginSource, Registry, Transform, View};
use crate::store::{EntityKey, InputDigest, RowsRead, Store, StoredRow, encode_value};
use crate::time::Micros;
use crate::value::Value;
use std::time::{Duration, Instant};

mod apply;
#[cfg(test)]
mod tests;

/// A view's transformations, ready to run batches.
pub struct Pipeline {
    view: View,
    no_transform: bool,
    transforms: Vec<FieldTransform>,
    /// Per field of the view: whether a transformation fills it.
    filled: Vec<bool>,
}

struct FieldTransform {
    /// Index into `view.fields`.
    field: usize,
    /// The fields its call fills: `field`, then its `fills`.
    outputs: Vec<usize>,
    pool: InstancePool,
    /// Digests each row's inputs, with the transformation's identity.
    digester: Digester,
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
    /// The stored rows the reuse was checked against (every key read, failed
    /// rows' too), for the merge to use rather than read them again.
    pub stored: Option<RowsRead>,
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
            if !t.fills.is_empty() && plugin.contract() == Contract::V0_1 {
                return Err(PluginError::Configure {
                    plugin: plugin.name().into(),
                    view: view.name.clone(),
                    message: format!(
                        "field `{}`: `transform.fills` needs a plugin built for contract 0.2 (this one is 0.1, which fills one field)",
                        field.name
                    ),
                }
                .into());
            }
            let model = t.llm.as_ref().and_then(|l| engine.embed_fingerprint(l));
            let fills = t
                .fills
                .iter()
                .filter_map(|f| view.fields.iter().position(|g| g.name == *f));
            transforms.push(FieldTransform {
                field: i,
                outputs: std::iter::once(i).chain(fills).collect(),
                pool: plugin.pool_with(&view.name, t.config.clone(), t.grants.clone())?,
                digester: Digester::new(identity(
                    registry,
                    field,
                    &bytes,
                    model,
                    plugin.contract(),
                )),
            });
        }
        let filled = (0..view.fields.len())
            .map(|i| transforms.iter().any(|t| t.outputs.contains(&i)))
            .collect();
        Ok(Pipeline {
            view,
            no_transform,
            transforms,
            filled,
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
        out.stored = store.and_then(|s| self.stored_rows(s, &live));
        let stored = out.stored.as_ref().map_or(&[][..], RowsRead::rows);
        for t in &self.transforms {
            let todo = self.reuse(t, &mut live, stored, &mut out.reused);
            let started = Instant::now();
            self.apply(t, &mut live, todo);
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
    fn field_and_transform(&self, t: &FieldTransform) -> (&Field, &Transform) {
        let field = &self.view.fields[t.field];
        let transform = field.transform.as_ref();
        (field, transform.expect("transforms have a transform"))
    }

    /// The stored rows of the batch's keys, when any field could be reused.
    fn stored_rows(&self, store: &Store, rows: &[RowState]) -> Option<RowsRead> {
        if self.transforms.is_empty() {
            return None;
        }
        let keys: Vec<EntityKey> = rows.iter().map(|r| r.key.clone()).collect();
        (store.read_rows(&self.view.name, keys))
            .inspect_err(|e| {
                let view = &self.view.name;
                tracing::warn!("view {view}: cannot read stored rows, transforming all: {e}")
            })
            .ok()
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
            fields: Vec::with_capacity(self.view.fields.len()),
            inputs: Vec::new(),
            error: None,
            record,
        };
        for (i, field) in self.view.fields.iter().enumerate() {
            let from = match (&field.transform, self.no_transform) {
                (Some(_), false) => continue,
                (None, false) if self.filled[i] => continue,
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

    /// Compute each live row's input digest for `t`; rows whose stored
    /// values (every field `t` fills) were computed from the same inputs take
    /// them, counted in `reused`. Returns the rows `t` must compute.
    fn reuse(
        &self,
        t: &FieldTransform,
        rows: &mut [RowState],
        stored: &[Option<StoredRow>],
        reused: &mut u64,
    ) -> Vec<usize> {
        let inputs = &self.field_and_transform(t).1.inputs;
        let outputs: Vec<&Field> = t.outputs.iter().map(|o| &self.view.fields[*o]).collect();
        let mut todo = Vec::with_capacity(rows.len());
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
            t.digester.begin(&mut buf);
            for c in inputs {
                encode_value(&mut buf, row.record.get(c).unwrap_or(&Value::Null));
            }
            let digest = t.digester.digest(&buf);
            let old = stored.get(i).and_then(Option::as_ref).filter(|s| {
                let digests = outputs.iter().map(|f| s.input_digest(&f.name));
                t.digester.made_from(digests, &digest, &buf)
            });
            // A reused value is checked like a fresh one: the store is not trusted blindly.
            let values: Option<Vec<Value>> = (outputs.iter())
                .map(|f| f.check(old?.get(&f.name)?.clone()).ok())
                .collect();
            match values {
                Some(values) => {
                    let named = outputs.iter().map(|f| f.name.clone()).zip(values);
                    row.fields.extend(named);
                    *reused += 1;
                }
                None => todo.push(i),
            }
            (row.inputs).extend(outputs.iter().map(|f| (f.name.clone(), digest)));
        }
        todo
    }
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
