//! Component glue: the `transformer` world over the logic in `lib.rs`.

use std::cell::RefCell;
use wafer_plugin_sdk::{Batch, Guest, Options, Output, RowError, Value};

struct Config {
    input: String,
    output: String,
    boundaries: Vec<f64>,
}

thread_local! {
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
}

struct Bucketize;

impl Guest for Bucketize {
    fn configure(options: Vec<(String, String)>) -> Result<(), String> {
        let o = Options::new(options);
        let config = Config {
            input: o.require("input")?.to_string(),
            output: o.require("output")?.to_string(),
            boundaries: crate::parse_boundaries(o.require("boundaries")?)?,
        };
        CONFIG.with(|c| *c.borrow_mut() = Some(config));
        Ok(())
    }

    fn transform(input: Batch) -> Result<Output, String> {
        CONFIG.with(|c| {
            let c = c.borrow();
            let config = c.as_ref().ok_or("transform called before configure")?;
            let col = input.column(&config.input)?;
            let rows = input
                .rows
                .into_iter()
                .map(|row| {
                    let x = number(config, row.into_iter().nth(col))?;
                    let b = crate::bucket_all(&config.boundaries, &[x]).remove(0);
                    b.map(|b| vec![b.map_or(Value::Null, Value::Int64)])
                        .map_err(RowError::invalid)
                })
                .collect();
            Ok(Output {
                columns: vec![config.output.clone()],
                rows,
            })
        })
    }
}

fn number(config: &Config, cell: Option<Value>) -> Result<Option<f64>, RowError> {
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
