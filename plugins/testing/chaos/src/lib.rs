//! `chaos`: a test plugin, not shipped in the binary. For each row it reads
//! the text column `input` and misbehaves on command: `trap` panics (a Wasm
//! trap), `loop` spins forever, `oom` allocates without bound, `short`
//! returns no rows, `stray` reports an error for row 7 (which no batch of
//! the tests has). Any other text is echoed back upper-cased.

use wafer_plugin_sdk::{
    Batch, BatchError, Cell, ColumnBuilder, Config, Output, RowError, Transform,
};

struct Chaos;

impl Transform for Chaos {
    fn configure(_config: Config) -> Result<Self, String> {
        Ok(Chaos)
    }

    fn transform(&self, input: Batch) -> Result<Output, BatchError> {
        let column = input.column("input")?;
        let mut out = ColumnBuilder::<String>::with_capacity(input.len());
        let mut errors = Vec::new();
        for cell in column.cells() {
            let text = match cell {
                Cell::Text(t) => t,
                _ => "",
            };
            match text {
                "trap" => {
                    eprintln!("chaos: about to trap");
                    panic!("chaos asked to trap");
                }
                "loop" => loop {
                    std::hint::black_box(&out);
                },
                "oom" => {
                    let mut hog: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hog.push(vec![1; 1 << 20]);
                    }
                }
                "short" => {
                    let empty = ColumnBuilder::<String>::with_capacity(0);
                    return Ok(Output::single(empty.finish("out"), Vec::new()));
                }
                "stray" => {
                    errors.push(RowError::invalid(7, "no such row"));
                    out.push_null();
                }
                t => out.push(t.to_uppercase()),
            }
        }
        Ok(Output::single(out.finish("out"), errors))
    }
}

wafer_plugin_sdk::export!(Chaos);
