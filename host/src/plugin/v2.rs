//! Contract 0.2 (`wit/`, columnar batches): the host's columns cross as
//! they are (a typed column is moved, not copied cell by cell), and the
//! answer is checked before any of it is believed: every column one cell
//! per input row, every error about a row that exists.

use super::column::{Batch, Column, ColumnData, Output};
use super::{Answer, OptionValue, PluginConfig, PluginState, Refused, RowError, RowErrorKind};
use crate::value::Value;

mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "transformer" });
}

use bindings::wafer::transform::{host, types as wit};
pub(super) use bindings::{Transformer, TransformerPre};

super::host_impl::host_interface!(host);

impl wit::Host for PluginState {}

pub(super) fn configure(
    t: &Transformer,
    store: &mut wasmtime::Store<PluginState>,
    c: &PluginConfig,
) -> wasmtime::Result<Result<(), String>> {
    let config = wit::Config {
        inputs: c.inputs.clone(),
        outputs: c.outputs.clone(),
        options: (c.options.iter())
            .map(|(k, v)| (k.clone(), option(v.clone())))
            .collect(),
        llm: c.llm.clone(),
        dimensions: c.dimensions.and_then(|d| u32::try_from(d).ok()),
    };
    t.call_configure(store, &config)
}

fn option(v: OptionValue) -> wit::OptionValue {
    match v {
        OptionValue::Bool(b) => wit::OptionValue::Boolean(b),
        OptionValue::Int64(i) => wit::OptionValue::Int64(i),
        OptionValue::Float64(f) => wit::OptionValue::Float64(f),
        OptionValue::Text(s) => wit::OptionValue::Text(s),
        OptionValue::Ints(i) => wit::OptionValue::Ints(i),
        OptionValue::Floats(f) => wit::OptionValue::Floats(f),
        OptionValue::Texts(t) => wit::OptionValue::Texts(t),
    }
}

pub(super) fn transform(
    t: &Transformer,
    store: &mut wasmtime::Store<PluginState>,
    batch: Batch,
) -> wasmtime::Result<Answer> {
    let n = batch.rows;
    let input = wit::Batch {
        rows: u32::try_from(n).expect("batches are far below 2^32 rows"),
        columns: batch.columns.into_iter().map(to_wit_column).collect(),
    };
    Ok(match t.call_transform(store, &input)? {
        Err(e) => Err(Refused::Batch {
            kind: kind(e.kind),
            message: e.message,
        }),
        Ok(out) => from_wit_output(out, n).map_err(Refused::BadOutput),
    })
}

fn to_wit_column(c: Column) -> wit::Column {
    let data = match c.data {
        ColumnData::Bool(v) => wit::ColumnData::Boolean(v),
        ColumnData::Int64(v) => wit::ColumnData::Int64(v),
        ColumnData::Float64(v) => wit::ColumnData::Float64(v),
        ColumnData::Text(v) => wit::ColumnData::Text(v),
        ColumnData::Bytes(v) => wit::ColumnData::Bytes(v),
        ColumnData::Vector { dims, values } => wit::ColumnData::Vector(wit::Vectors {
            dims: dims as u32,
            values,
        }),
        ColumnData::Mixed(v) => wit::ColumnData::Mixed(v.into_iter().map(to_wit).collect()),
    };
    wit::Column {
        name: c.name,
        data,
        valid: c.valid,
    }
}

super::host_impl::value_conversions!(wit);

fn kind(k: wit::ErrorKind) -> RowErrorKind {
    match k {
        wit::ErrorKind::InvalidInput => RowErrorKind::InvalidInput,
        wit::ErrorKind::EmbedFailed => RowErrorKind::EmbedFailed,
        wit::ErrorKind::Other => RowErrorKind::Other,
    }
}

fn from_wit_output(out: wit::Output, n: usize) -> Result<Output, String> {
    let columns = (out.columns.into_iter())
        .map(|c| from_wit_column(c, n))
        .collect::<Result<Vec<_>, _>>()?;
    let errors = (out.errors.into_iter())
        .map(|e| match e.row as usize {
            row if row < n => Ok((
                row,
                RowError {
                    kind: kind(e.kind),
                    message: e.message,
                },
            )),
            row => Err(format!("an error for row {row} of {n}")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Output { columns, errors })
}

fn from_wit_column(c: wit::Column, n: usize) -> Result<Column, String> {
    let data = match c.data {
        wit::ColumnData::Boolean(v) => ColumnData::Bool(v),
        wit::ColumnData::Int64(v) => ColumnData::Int64(v),
        wit::ColumnData::Float64(v) => ColumnData::Float64(v),
        wit::ColumnData::Text(v) => ColumnData::Text(v),
        wit::ColumnData::Bytes(v) => ColumnData::Bytes(v),
        wit::ColumnData::Vector(v) if v.dims == 0 && n > 0 => {
            return Err(format!("column `{}`: vectors of 0 dimensions", c.name));
        }
        wit::ColumnData::Vector(v) => ColumnData::Vector {
            dims: v.dims as usize,
            values: v.values,
        },
        wit::ColumnData::Mixed(v) => ColumnData::Mixed(v.into_iter().map(from_wit).collect()),
    };
    let column = Column {
        name: c.name,
        data,
        valid: c.valid,
    };
    let cells = match &column.data {
        ColumnData::Vector { dims, values } if values.len() % dims.max(&1) != 0 => {
            format!("{} floats, not a multiple of {dims}", values.len())
        }
        _ if column.len() != n => format!("{} cells", column.len()),
        _ => match &column.valid {
            Some(v) if v.len() != n => format!("{} validity flags", v.len()),
            _ => return Ok(column),
        },
    };
    Err(format!(
        "column `{}`: {cells} for {n} input rows",
        column.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(data: wit::ColumnData, valid: Option<Vec<bool>>) -> wit::Column {
        wit::Column {
            name: "c".into(),
            data,
            valid,
        }
    }

    #[test]
    fn an_answer_is_checked_against_the_batch_before_it_is_believed() {
        let floats = |n: usize| wit::ColumnData::Float64(vec![1.0; n]);
        let vectors = |dims, n| {
            wit::ColumnData::Vector(wit::Vectors {
                dims,
                values: vec![0.5; n],
            })
        };
        assert!(from_wit_column(column(floats(3), None), 3).is_ok());
        assert!(from_wit_column(column(floats(3), Some(vec![true, false, true])), 3).is_ok());
        for (c, why) in [
            (
                column(floats(2), None),
                "column `c`: 2 cells for 3 input rows",
            ),
            (
                column(floats(3), Some(vec![true])),
                "column `c`: 1 validity flags for 3 input rows",
            ),
            (
                column(vectors(2, 5), None),
                "column `c`: 5 floats, not a multiple of 2 for 3 input rows",
            ),
            (
                column(vectors(2, 4), None),
                "column `c`: 2 cells for 3 input rows",
            ),
            (
                column(vectors(0, 0), None),
                "column `c`: vectors of 0 dimensions",
            ),
        ] {
            assert_eq!(from_wit_column(c, 3).unwrap_err(), why);
        }
        let stray = wit::Output {
            columns: vec![column(floats(3), None)],
            errors: vec![wit::RowError {
                row: 3,
                kind: wit::ErrorKind::Other,
                message: "x".into(),
            }],
        };
        assert_eq!(
            from_wit_output(stray, 3).unwrap_err(),
            "an error for row 3 of 3"
        );
        let empty = column(vectors(0, 0), None);
        assert_eq!(from_wit_column(empty, 0).map(|c| c.len()), Ok(0));
    }
}
