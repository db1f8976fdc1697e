//! Contract 0.2 (`wit/`, columnar batches): the host's columns cross as
//! they are (a typed column is moved, not copied cell by cell), and the
//! answer is checked before any of it is believed: every column one cell
//! per input row, every error about a row that exists.

use super::column::{Batch, Column, ColumnData, Output};
use super::{OptionValue, PluginConfig, PluginState, RowError, RowErrorKind};
use crate::value::Value;

mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "transformer" });
}

use bindings::wafer::transform::{host, types as wit};
pub(super) use bindings::{Transformer, TransformerPre};

super::host_impl::host_interface!(host);

impl wit::Host for PluginState {}

pub(super) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<PluginState>,
) -> wasmtime::Result<()> {
    Transformer::add_to_linker::<_, wasmtime::component::HasSelf<_>>(linker, |s| s)
}

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
        OptionValue::Floats(f) => wit::OptionValue::Floats(f),
        OptionValue::Texts(t) => wit::OptionValue::Texts(t),
    }
}

/// `Err(message)` (outside the answer) when the output does not fit the batch.
pub(super) fn transform(
    t: &Transformer,
    store: &mut wasmtime::Store<PluginState>,
    batch: Batch,
) -> wasmtime::Result<Result<super::Answer, String>> {
    let n = batch.rows;
    let input = wit::Batch {
        rows: u32::try_from(n).expect("batches are far below 2^32 rows"),
        columns: batch.columns.into_iter().map(to_wit_column).collect(),
    };
    Ok(match t.call_transform(store, &input)? {
        Err(e) => Ok(Err((kind(e.kind), e.message))),
        Ok(out) => from_wit_output(out, n).map(Ok),
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

fn to_wit(v: Value) -> wit::Value {
    match v {
        Value::Null => wit::Value::Null,
        Value::Bool(b) => wit::Value::Boolean(b),
        Value::Int64(i) => wit::Value::Int64(i),
        Value::Float64(f) => wit::Value::Float64(f),
        Value::String(s) => wit::Value::Text(s),
        Value::Bytes(b) => wit::Value::Bytes(b),
        Value::Vector(v) => wit::Value::Vector(v),
        Value::List(items) => match Value::numbers(&items) {
            Some(v) => wit::Value::Vector(v),
            None => wit::Value::Text(super::host_impl::list_text(items)),
        },
    }
}

fn from_wit(v: wit::Value) -> Value {
    match v {
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(b) => Value::Bool(b),
        wit::Value::Int64(i) => Value::Int64(i),
        wit::Value::Float64(f) => Value::Float64(f),
        wit::Value::Text(s) => Value::String(s),
        wit::Value::Bytes(b) => Value::Bytes(b),
        wit::Value::Vector(v) => Value::Vector(v),
    }
}

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
