//! `chaos`: a test plugin, not shipped in the binary. For each row it reads
//! the text column `input` and misbehaves on command: `trap` panics (a Wasm
//! trap), `loop` spins forever, `oom` allocates without bound, `short`
//! returns one row too few. Any other text is echoed back upper-cased.

use wafer_plugin_sdk::{Batch, Options, Output, Transform, Value};

struct Chaos;

impl Transform for Chaos {
    fn configure(_options: Options) -> Result<Self, String> {
        Ok(Chaos)
    }

    fn transform(&self, input: Batch) -> Result<Output, String> {
        let col = input.column("input")?;
        let mut rows = Vec::new();
        for row in &input.rows {
            let text = match &row[col] {
                Value::Text(t) => t.as_str(),
                _ => "",
            };
            match text {
                "trap" => {
                    eprintln!("chaos: about to trap");
                    panic!("chaos asked to trap");
                }
                "loop" => loop {
                    std::hint::black_box(&rows);
                },
                "oom" => {
                    let mut hog: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hog.push(vec![1; 1 << 20]);
                    }
                }
                "short" => {
                    return Ok(Output {
                        columns: vec!["out".into()],
                        rows: Vec::new(),
                    });
                }
                t => rows.push(Ok(vec![Value::Text(t.to_uppercase())])),
            }
        }
        Ok(Output {
            columns: vec!["out".into()],
            rows,
        })
    }
}

wafer_plugin_sdk::export!(Chaos);
