//! One plugin call for a batch: the rows still needing a transformation,
//! their input columns typed once, and the per-row answers checked against
//! the schema and landed in every field the call fills.

use super::{FieldTransform, Pipeline, RowState};
use crate::config::FieldType;
use crate::ingest::FailureKind;
use crate::plugin::{Batch, Column, InstancePool, PluginError};
use crate::registry::Field;
use crate::value::Value;

impl Pipeline {
    /// One plugin call for the rows `todo` (which need `t` and have not
    /// failed), its input columns typed once; its per-row answers land per
    /// row, in every field it fills.
    pub(super) fn apply(&self, t: &FieldTransform, rows: &mut [RowState], todo: Vec<usize>) {
        if todo.is_empty() {
            return;
        }
        let (field, transform) = self.field_and_transform(t);
        let batch = input_batch(&transform.inputs, &transform.input_types, rows, &todo);
        let outputs: Vec<&Field> = t.outputs.iter().map(|o| &self.view.fields[*o]).collect();
        let (columns, errors) = match self.call(&t.pool, &outputs, batch) {
            Ok(answer) => answer,
            Err(e) => {
                let message = e.to_string();
                for i in todo {
                    rows[i].set(&field.name, Err((FailureKind::Plugin, message.clone())));
                }
                return;
            }
        };
        let mut failed: Vec<Option<crate::plugin::RowError>> = vec![None; todo.len()];
        for (k, e) in errors {
            failed[k].get_or_insert(e);
        }
        for (f, values) in outputs.iter().zip(columns) {
            for ((i, v), e) in todo.iter().zip(values).zip(&failed) {
                let answer = match e {
                    Some(e) => Err((
                        FailureKind::from(e.kind),
                        format!("field `{}`: {e}", field.name),
                    )),
                    None => f.check(v).map_err(|m| (FailureKind::Schema, m)),
                };
                rows[*i].set(&f.name, answer);
            }
        }
    }

    /// The plugin's values for each of `outputs`, one per row, and the rows that failed.
    #[allow(clippy::type_complexity)]
    fn call(
        &self,
        pool: &InstancePool,
        outputs: &[&Field],
        batch: Batch,
    ) -> Result<(Vec<Vec<Value>>, Vec<(usize, crate::plugin::RowError)>), PluginError> {
        let o = pool.transform(batch)?;
        let at: Vec<Option<usize>> = (outputs.iter())
            .map(|f| o.columns.iter().position(|c| c.name == f.name))
            .collect();
        if let Some(missing) = at.iter().position(Option::is_none) {
            let got: Vec<&str> = o.columns.iter().map(|c| c.name.as_str()).collect();
            return Err(PluginError::BadOutput {
                plugin: pool.plugin_name().into(),
                view: self.view.name.clone(),
                message: format!("no output column `{}` (got {got:?})", outputs[missing].name),
            });
        }
        // Field names are unique in a view, so each index is taken once.
        let mut columns: Vec<Option<Column>> = o.columns.into_iter().map(Some).collect();
        let values = (at.into_iter().flatten())
            .map(|i| columns[i].take().map_or_else(Vec::new, Column::into_values))
            .collect();
        Ok((values, o.errors))
    }
}

/// The rows `todo`'s `inputs`, a column each, typed once and read in place;
/// an input with a declared type (`transform.input_types`) is converted to
/// it first, cell by cell, a cell that does not convert going as it came.
fn input_batch(
    inputs: &[String],
    types: &[Option<FieldType>],
    rows: &[RowState],
    todo: &[usize],
) -> Batch {
    static NULL: Value = Value::Null;
    let columns = (inputs.iter().zip(types))
        .map(|(c, ty)| {
            let cells: Vec<&Value> = (todo.iter())
                .map(|i| rows[*i].record.get(c).unwrap_or(&NULL))
                .collect();
            let Some(ty) = ty else {
                return Column::from_cells(c, cells.iter().copied());
            };
            let converted: Vec<Value> = (cells.iter())
                .map(|v| (*v).clone().coerce(*ty).unwrap_or_else(|_| (*v).clone()))
                .collect();
            Column::from_values(c, converted)
        })
        .collect();
    Batch {
        rows: todo.len(),
        columns,
    }
}
