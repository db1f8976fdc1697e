//! Component glue: the `transformer` world over the logic in `lib.rs`.

use wafer_plugin_sdk::{
    Batch, BatchError, Cell, ColumnBuilder, Config, OptionValue, Output, RowError, Transform,
};

struct Bucketize {
    input: String,
    output: String,
    boundaries: Vec<f64>,
}

impl Transform for Bucketize {
    fn configure(c: Config) -> Result<Self, String> {
        let boundaries = match c.get("boundaries") {
            None => return Err("missing option `boundaries`".into()),
            Some(OptionValue::Text(t)) => crate::parse_boundaries(t)?,
            Some(_) => crate::check_boundaries(c.floats("boundaries")?.unwrap_or_default())?,
        };
        Ok(Bucketize {
            input: c.input()?.to_string(),
            output: c.output()?.to_string(),
            boundaries,
        })
    }

    fn transform(&self, input: Batch) -> Result<Output, BatchError> {
        let x = input.column(&self.input)?;
        let mut out = ColumnBuilder::with_capacity(input.len());
        let mut errors = Vec::new();
        for (i, cell) in x.cells().enumerate() {
            match number(&self.input, cell) {
                Ok(None) => out.push_null(),
                Ok(Some(x)) if x.is_nan() => {
                    errors.push(RowError::invalid(i, "value is NaN"));
                    out.push_null();
                }
                Ok(Some(x)) => out.push(crate::bucket(&self.boundaries, x)),
                Err(e) => {
                    errors.push(RowError::invalid(i, e));
                    out.push_null();
                }
            }
        }
        Ok(Output::single(out.finish(&self.output), errors))
    }
}

fn number(input: &str, cell: Cell) -> Result<Option<f64>, String> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Int64(i) => Ok(Some(i as f64)),
        Cell::Float64(f) => Ok(Some(f)),
        Cell::Text(t) => (t.trim().parse::<f64>())
            .map(Some)
            .map_err(|e| format!("`{input}` = {t:?} is not a number: {e}")),
        other => Err(format!(
            "`{input}` must be a number, got {}",
            other.type_name()
        )),
    }
}

wafer_plugin_sdk::export!(Bucketize);
