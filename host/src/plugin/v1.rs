//! Contract 0.1 (`wit/0.1`, row-major batches), kept so that plugins built
//! for it load unchanged: the host's columns become rows of cells on the
//! way in, and the answer's rows become columns on the way out.

use super::column::{Batch, Column, Output};
use super::{Answer, PluginConfig, PluginState, Refused, RowError, RowErrorKind};
use crate::value::Value;

mod bindings {
    wasmtime::component::bindgen!({ path: "../wit/0.1", world: "transformer" });
}

use bindings::wafer::transform::{host, types as wit};
pub(super) use bindings::{Transformer, TransformerPre};

pub(super) fn configure(
    t: &Transformer,
    store: &mut wasmtime::Store<PluginState>,
    config: &PluginConfig,
) -> wasmtime::Result<Result<(), String>> {
    t.call_configure(store, &config.legacy)
}

pub(super) fn transform(
    t: &Transformer,
    store: &mut wasmtime::Store<PluginState>,
    batch: Batch,
) -> wasmtime::Result<Answer> {
    let n = batch.rows;
    let answer = t.call_transform(store, &to_wit_batch(batch))?;
    Ok(match answer {
        Err(message) => Err(Refused::Batch {
            kind: RowErrorKind::Other,
            message,
        }),
        Ok(out) if out.rows.len() != n => Err(Refused::BadOutput(format!(
            "{} rows for {n} input rows",
            out.rows.len()
        ))),
        Ok(out) => Ok(from_wit_output(out)),
    })
}

fn to_wit_batch(b: Batch) -> wit::Batch {
    let rows = (0..b.rows)
        .map(|i| b.columns.iter().map(|c| to_wit(c.value(i))).collect())
        .collect();
    wit::Batch {
        columns: b.columns.into_iter().map(|c| c.name).collect(),
        rows,
    }
}

/// Rows become columns of values; a row of the wrong width is a host-side
/// row error.
fn from_wit_output(out: wit::Output) -> Output {
    let width = out.columns.len();
    let mut cells: Vec<Vec<Value>> = vec![Vec::with_capacity(out.rows.len()); width];
    let mut errors = Vec::new();
    for (i, row) in out.rows.into_iter().enumerate() {
        let failed = match row {
            Ok(row) if row.len() == width => {
                for (col, v) in cells.iter_mut().zip(row) {
                    col.push(from_wit(v));
                }
                continue;
            }
            Ok(row) => RowError {
                kind: RowErrorKind::BadOutput,
                message: format!("plugin returned {} values for {width} columns", row.len()),
            },
            Err(e) => RowError {
                kind: match e.kind {
                    wit::RowErrorKind::InvalidInput => RowErrorKind::InvalidInput,
                    wit::RowErrorKind::EmbedFailed => RowErrorKind::EmbedFailed,
                    wit::RowErrorKind::Other => RowErrorKind::Other,
                },
                message: e.message,
            },
        };
        errors.push((i, failed));
        cells.iter_mut().for_each(|c| c.push(Value::Null));
    }
    let columns = (out.columns.iter().zip(cells))
        .map(|(name, cells)| Column {
            name: name.clone(),
            data: super::ColumnData::Mixed(cells),
            valid: None,
        })
        .collect();
    Output { columns, errors }
}

super::host_impl::value_conversions!(wit);

super::host_impl::host_interface!(host);

impl wit::Host for PluginState {}
