//! Component glue: the `transformer` world over the checks in `lib.rs`. A
//! vector column of the configured dims goes back as it came, after its
//! floats are checked in place; anything else (text vectors from a CSV
//! file, mixed cells) is read cell by cell.

use wafer_plugin_sdk::{
    Batch, BatchError, Cell, Column, ColumnData, Config, Output, RowError, Transform, Value,
    VectorBuilder,
};

struct Passthrough {
    input: String,
    output: String,
    dimensions: Option<usize>,
}

impl Transform for Passthrough {
    fn configure(c: Config) -> Result<Self, String> {
        Ok(Passthrough {
            input: c.input()?.to_string(),
            output: c.output()?.to_string(),
            dimensions: c.dimensions.map(|d| d as usize),
        })
    }

    fn transform(&self, mut input: Batch) -> Result<Output, BatchError> {
        let mut column = input.take(&self.input)?;
        if let ColumnData::Vector(v) = &column.data
            && v.dims > 0
            && self.dimensions.is_none_or(|d| d == v.dims as usize)
        {
            let dims = (v.dims as usize).max(1);
            let errors = (v.values.chunks(dims).enumerate())
                .filter(|(i, _)| column.is_valid(*i))
                .filter_map(|(i, row)| {
                    let e = crate::check_vector(row, None).err()?;
                    Some(RowError::invalid(i, e))
                })
                .collect();
            column.name = self.output.clone();
            return Ok(Output::single(column, errors));
        }
        Ok(self.cell_by_cell(&column, input.len()))
    }
}

impl Passthrough {
    /// With configured dims the answer is a vector column; without, vectors
    /// may differ in length, so it is a mixed one.
    fn cell_by_cell(&self, column: &Column, rows: usize) -> Output {
        let mut errors = Vec::new();
        let mut typed = VectorBuilder::with_capacity(rows, self.dimensions);
        let mut mixed = Vec::new();
        for (i, cell) in column.cells().enumerate() {
            let v = one(self, cell).unwrap_or_else(|e| {
                errors.push(RowError::invalid(i, e));
                None
            });
            match (v, self.dimensions) {
                (Some(v), Some(_)) => typed.push(&v).expect("dims checked"),
                (Some(v), None) => mixed.push(Value::Vector(v)),
                (None, _) => {
                    typed.push_null();
                    mixed.push(Value::Null);
                }
            }
        }
        let column = match self.dimensions {
            Some(_) => typed.finish(&self.output),
            None => Column::new(&self.output, ColumnData::Mixed(mixed)),
        };
        Output::single(column, errors)
    }
}

fn one(config: &Passthrough, cell: Cell) -> Result<Option<Vec<f32>>, String> {
    let v = match cell {
        Cell::Null => return Ok(None),
        Cell::Vector(v) => v.to_vec(),
        Cell::Text(t) => crate::parse_vector(t)?,
        other => {
            return Err(format!(
                "`{}` must be a vector, got {}",
                config.input,
                other.type_name()
            ));
        }
    };
    crate::check_vector(&v, config.dimensions)?;
    Ok(Some(v))
}

wafer_plugin_sdk::export!(Passthrough);
