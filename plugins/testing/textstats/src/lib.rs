//! `textstats`: a test plugin, not shipped in the binary, that fills
//! several fields in one call. From the text column it is configured with,
//! the fields it is asked to fill get, in order: the number of characters,
//! the number of words, the text upper-cased. A cell that is not text fails
//! its row; null stays null in every field.

use wafer_plugin_sdk::{
    Batch, BatchError, Cell, Column, ColumnBuilder, Config, Output, RowError, Transform,
};

struct TextStats {
    input: String,
    outputs: Vec<String>,
}

impl Transform for TextStats {
    fn configure(c: Config) -> Result<Self, String> {
        if c.outputs.len() > 3 {
            return Err(format!(
                "fills at most 3 fields, asked for {}",
                c.outputs.len()
            ));
        }
        Ok(TextStats {
            input: c.input()?.to_string(),
            outputs: c.outputs,
        })
    }

    fn transform(&self, input: Batch) -> Result<Output, BatchError> {
        let text = input.column(&self.input)?;
        let n = input.len();
        let (mut chars, mut words) = (
            ColumnBuilder::with_capacity(n),
            ColumnBuilder::with_capacity(n),
        );
        let mut upper = ColumnBuilder::<String>::with_capacity(n);
        let mut errors = Vec::new();
        for (i, cell) in text.cells().enumerate() {
            match cell {
                Cell::Text(t) => {
                    chars.push(t.chars().count() as i64);
                    words.push(t.split_whitespace().count() as i64);
                    upper.push(t.to_uppercase());
                    continue;
                }
                Cell::Null => {}
                other => errors.push(RowError::invalid(
                    i,
                    format!("expected text, got {}", other.type_name()),
                )),
            }
            chars.push_null();
            words.push_null();
            upper.push_null();
        }
        let built = [chars.finish(""), words.finish(""), upper.finish("")];
        let columns = (self.outputs.iter().zip(built))
            .map(|(name, c)| Column {
                name: name.clone(),
                ..c
            })
            .collect();
        Ok(Output { columns, errors })
    }
}

wafer_plugin_sdk::export!(TextStats);
