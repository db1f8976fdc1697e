//! A view's transformations, run batch by batch: each row's key, event time
//! and plain fields are read and typed, then each plugin is called once for
//! the whole batch and its per-row answers are checked against the schema.

use super::{Failure, IngestError, Record, parse_event_time};
use crate::plugin::{Batch, InstancePool, PluginEngine, PluginError};
use crate::registry::{PluginSource, Registry, View};
use crate::store::{EntityKey, StoredRow};
use crate::value::Value;
use std::time::{Duration, Instant};

/// A view's transformations, ready to run batches.
pub struct Pipeline {
    view: View,
    no_transform: bool,
    /// (index into `view.fields`, instances of its plugin)
    transforms: Vec<(usize, InstancePool)>,
}

/// The result of running one batch through a pipeline.
#[derive(Debug, Default)]
pub struct Transformed {
    pub rows: Vec<(EntityKey, StoredRow)>,
    pub failures: Vec<Failure>,
    /// Keys of every row with a readable key, stored or not.
    pub keys: Vec<EntityKey>,
    pub plugin_time: Duration,
}

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
            let bytes: std::borrow::Cow<[u8]> = match &t.plugin {
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
            };
            let plugin = engine.load(&t.plugin.to_string(), &bytes)?;
            transforms.push((i, plugin.pool(&view.name, t.options.clone())?));
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

    /// Transform one batch of records into rows to store.
    pub fn run(&self, records: Vec<Record>, now_micros: i64) -> Transformed {
        let mut out = Transformed::default();
        let mut live: Vec<RowState> = Vec::with_capacity(records.len());
        for record in records {
            match self.start_row(record, now_micros) {
                Ok(row) => {
                    out.keys.push(row.key.clone());
                    live.push(row);
                }
                Err(f) => out.failures.push(f),
            }
        }
        for (field_idx, pool) in &self.transforms {
            let started = Instant::now();
            self.apply(*field_idx, pool, &mut live);
            out.plugin_time += started.elapsed();
        }
        for row in live {
            match row.error {
                Some(message) => out.failures.push(Failure {
                    line: row.record.line,
                    key: Some(row.key.to_string()),
                    message,
                }),
                None => out.rows.push((
                    row.key,
                    StoredRow {
                        event_micros: row.event_micros,
                        fields: row.fields,
                    },
                )),
            }
        }
        out
    }

    fn start_row(&self, record: Record, now_micros: i64) -> Result<RowState, Failure> {
        let fail = |message: String| Failure {
            line: record.line,
            key: None,
            message,
        };
        let key = self
            .view
            .key(record.get(&self.view.join_key).unwrap_or(&Value::Null))
            .map_err(fail)?;
        let event_micros = match record.get(&self.view.event_time) {
            None | Some(Value::Null) => now_micros,
            Some(v) => parse_event_time(v).map_err(|e| Failure {
                line: record.line,
                key: Some(key.to_string()),
                message: format!("`{}`: {e}", self.view.event_time),
            })?,
        };
        let mut row = RowState {
            key,
            event_micros,
            fields: Vec::new(),
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
            row.set(&field.name, field.check(v));
        }
        Ok(row)
    }

    /// One plugin call for the whole batch; its per-row answers land per row.
    fn apply(&self, field_idx: usize, pool: &InstancePool, rows: &mut [RowState]) {
        let field = &self.view.fields[field_idx];
        let t = field
            .transform
            .as_ref()
            .expect("transforms have a transform");
        let todo: Vec<usize> = (0..rows.len())
            .filter(|i| rows[*i].error.is_none())
            .collect();
        if todo.is_empty() {
            return;
        }
        let batch = Batch {
            columns: t.inputs.clone(),
            rows: todo
                .iter()
                .map(|i| {
                    t.inputs
                        .iter()
                        .map(|c| rows[*i].record.get(c).cloned().unwrap_or(Value::Null))
                        .collect()
                })
                .collect(),
        };
        let output = pool.transform(batch).and_then(|o| {
            let col = o
                .columns
                .iter()
                .position(|c| *c == field.name)
                .ok_or_else(|| PluginError::BadOutput {
                    plugin: pool.plugin_name().into(),
                    view: self.view.name.clone(),
                    message: format!("no output column `{}` (got {:?})", field.name, o.columns),
                })?;
            Ok((col, o.rows))
        });
        match output {
            Ok((col, answers)) => {
                for (i, answer) in todo.into_iter().zip(answers) {
                    let v = answer
                        .map(|mut cells| cells.swap_remove(col))
                        .map_err(|e| format!("field `{}`: {e}", field.name));
                    rows[i].set(&field.name, v.and_then(|v| field.check(v)));
                }
            }
            Err(e) => {
                let message = e.to_string();
                todo.into_iter()
                    .for_each(|i| rows[i].set(&field.name, Err(message.clone())));
            }
        }
    }
}

struct RowState {
    key: EntityKey,
    event_micros: i64,
    fields: Vec<(String, Value)>,
    error: Option<String>,
    record: Record,
}

impl RowState {
    fn set(&mut self, field: &str, v: Result<Value, String>) {
        match v {
            Ok(v) => self.fields.push((field.to_string(), v)),
            Err(e) if self.error.is_none() => self.error = Some(e),
            Err(_) => {}
        }
    }
}
