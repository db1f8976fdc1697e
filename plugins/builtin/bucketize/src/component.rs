//! Component glue: the `transformer` world over the logic in `lib.rs`.

use wafer_plugin_sdk::{
    Batch, BatchError, Cell, Column, ColumnBuilder, ColumnData, Config, OptionValue, Output,
    RowError, Transform,
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
        let valid = x.valid.as_deref();
        // A typed numeric column is bucketed straight off its list; any
        // other (text, mixed) cell by cell.
        Ok(match &x.data {
            ColumnData::Float64(xs) => self.numbers(xs, valid),
            ColumnData::Int64(xs) => {
                let xs: Vec<f64> = xs.iter().map(|i| *i as f64).collect();
                self.numbers(&xs, valid)
            }
            _ => self.cell_by_cell(x, input.len()),
        })
    }
}

impl Bucketize {
    /// Buckets every number in one tight pass, then fails the NaNs (rare)
    /// in a second: no per-row branch on the mask in the hot loop.
    fn numbers(&self, xs: &[f64], valid: Option<&[bool]>) -> Output {
        let out = crate::bucket_column(&self.boundaries, xs);
        let mut mask = valid.map(<[bool]>::to_vec);
        let mut errors = Vec::new();
        if crate::any_nan(xs) {
            for (i, x) in xs.iter().enumerate() {
                if x.is_nan() && mask.as_ref().is_none_or(|m| m[i]) {
                    errors.push(RowError::invalid(i, "value is NaN"));
                    mask.get_or_insert_with(|| vec![true; xs.len()])[i] = false;
                }
            }
        }
        let column = Column {
            valid: mask,
            ..Column::new(&self.output, ColumnData::Int64(out))
        };
        Output::single(column, errors)
    }

    fn cell_by_cell(&self, x: &Column, n: usize) -> Output {
        let mut out = ColumnBuilder::with_capacity(n);
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
        Output::single(out.finish(&self.output), errors)
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
