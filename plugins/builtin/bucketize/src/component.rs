//! Component glue: the `transformer` world over the logic in `lib.rs`.

use wafer_plugin_sdk::{Batch, Options, Output, RowError, Transform, Value};

struct Bucketize {
    input: String,
    output: String,
    boundaries: Vec<f64>,
}

impl Transform for Bucketize {
    fn configure(o: Options) -> Result<Self, String> {
        Ok(Bucketize {
            input: o.require("input")?.to_string(),
            output: o.require("output")?.to_string(),
            boundaries: crate::parse_boundaries(o.require("boundaries")?)?,
        })
    }

    fn transform(&self, input: Batch) -> Result<Output, String> {
        let col = input.column(&self.input)?;
        let rows = input
            .rows
            .into_iter()
            .map(|row| {
                let x = number(self, row.into_iter().nth(col))?;
                let b = crate::bucket_all(&self.boundaries, &[x]).remove(0);
                b.map(|b| vec![b.map_or(Value::Null, Value::Int64)])
                    .map_err(RowError::invalid)
            })
            .collect();
        Ok(Output {
            columns: vec![self.output.clone()],
            rows,
        })
    }
}

fn number(config: &Bucketize, cell: Option<Value>) -> Result<Option<f64>, RowError> {
    match cell {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Int64(i)) => Ok(Some(i as f64)),
        Some(Value::Float64(f)) => Ok(Some(f)),
        Some(Value::Text(t)) => t.trim().parse::<f64>().map(Some).map_err(|e| {
            RowError::invalid(format!("`{}` = {t:?} is not a number: {e}", config.input))
        }),
        Some(other) => Err(RowError::invalid(format!(
            "`{}` must be a number, got {}",
            config.input,
            other.type_name()
        ))),
    }
}

wafer_plugin_sdk::export!(Bucketize);
