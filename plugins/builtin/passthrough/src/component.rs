//! Component glue: the `transformer` world over the checks in `lib.rs`.

use wafer_plugin_sdk::{Batch, Options, Output, RowError, Transform, Value};

struct Passthrough {
    input: String,
    output: String,
    dimensions: Option<usize>,
}

impl Transform for Passthrough {
    fn configure(o: Options) -> Result<Self, String> {
        Ok(Passthrough {
            input: o.require("input")?.to_string(),
            output: o.require("output")?.to_string(),
            dimensions: o.parse("dimensions")?,
        })
    }

    fn transform(&self, input: Batch) -> Result<Output, String> {
        let col = input.column(&self.input)?;
        let rows = input
            .rows
            .into_iter()
            .map(|row| one(self, row.into_iter().nth(col)))
            .collect();
        Ok(wafer_plugin_sdk::single_column(&self.output, rows))
    }
}

fn one(config: &Passthrough, cell: Option<Value>) -> Result<Value, RowError> {
    let v = match cell {
        None | Some(Value::Null) => return Ok(Value::Null),
        Some(Value::Vector(v)) => v,
        Some(Value::Text(t)) => crate::parse_vector(&t).map_err(RowError::invalid)?,
        Some(other) => {
            return Err(RowError::invalid(format!(
                "`{}` must be a vector, got {}",
                config.input,
                other.type_name()
            )));
        }
    };
    crate::check_vector(&v, config.dimensions).map_err(RowError::invalid)?;
    Ok(Value::Vector(v))
}

wafer_plugin_sdk::export!(Passthrough);
