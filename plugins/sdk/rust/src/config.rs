//! Reading a plugin's [`Config`]: its input and output columns, and options
//! as the config file typed them, or as text where a plugin wants text.

use crate::{Config, OptionValue};

impl Config {
    /// The option `key`, if set.
    pub fn get(&self, key: &str) -> Option<&OptionValue> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The first input column, or an error when the field names none.
    pub fn input(&self) -> Result<&str, String> {
        self.inputs
            .first()
            .map(String::as_str)
            .ok_or_else(|| "no input column (`input`)".to_string())
    }

    /// The first field to fill.
    pub fn output(&self) -> Result<&str, String> {
        self.outputs
            .first()
            .map(String::as_str)
            .ok_or_else(|| "no output field".to_string())
    }

    /// The option `key` as text (a number or flag as it would be written),
    /// `None` when unset.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(OptionValue::to_text)
    }

    /// The option `key` as text, or an error naming it.
    pub fn require(&self, key: &str) -> Result<String, String> {
        self.text(key)
            .ok_or_else(|| format!("missing option `{key}`"))
    }

    /// `key` parsed as `T` from its text, `None` when unset, an error naming
    /// the key when it does not parse.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        self.text(key)
            .map(|v| (v.trim().parse::<T>()).map_err(|e| format!("option `{key}` = {v:?}: {e}")))
            .transpose()
    }

    /// `key` as numbers: an array, one number, or comma-separated text.
    /// (Integers past 2^53 round: read `OptionValue::Ints` for exact ones.)
    pub fn floats(&self, key: &str) -> Result<Option<Vec<f64>>, String> {
        let parse = |s: &str| {
            (s.trim().parse::<f64>()).map_err(|e| format!("option `{key}`: {:?}: {e}", s.trim()))
        };
        Ok(Some(match self.get(key) {
            None => return Ok(None),
            Some(OptionValue::Floats(f)) => f.clone(),
            Some(OptionValue::Ints(i)) => i.iter().map(|i| *i as f64).collect(),
            Some(OptionValue::Int64(i)) => vec![*i as f64],
            Some(OptionValue::Float64(f)) => vec![*f],
            Some(OptionValue::Text(t)) => t.split(',').map(parse).collect::<Result<_, _>>()?,
            Some(OptionValue::Texts(t)) => t.iter().map(|s| parse(s)).collect::<Result<_, _>>()?,
            Some(OptionValue::Boolean(_)) => {
                return Err(format!("option `{key}`: expected numbers"));
            }
        }))
    }
}

impl OptionValue {
    /// The value as text, as contract 0.1 passed it (and the config file
    /// wrote it): floats with a decimal point, arrays joined with commas.
    pub fn to_text(&self) -> String {
        let join = |items: Vec<String>| items.join(",");
        match self {
            OptionValue::Boolean(b) => b.to_string(),
            OptionValue::Int64(i) => i.to_string(),
            OptionValue::Float64(f) => format!("{f:?}"),
            OptionValue::Text(t) => t.clone(),
            OptionValue::Ints(i) => join(i.iter().map(i64::to_string).collect()),
            OptionValue::Floats(f) => join(f.iter().map(|f| format!("{f:?}")).collect()),
            OptionValue::Texts(t) => join(t.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(options: Vec<(&str, OptionValue)>) -> Config {
        Config {
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            options: options
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            llm: None,
            dimensions: None,
        }
    }

    #[test]
    fn options_read_as_numbers_or_as_the_config_file_wrote_them() {
        let c = config(vec![
            ("b", OptionValue::Ints(vec![10, 50])),
            ("f", OptionValue::Floats(vec![1.0, 2.5])),
            ("t", OptionValue::Text("1, x".into())),
            ("one", OptionValue::Float64(1.0)),
        ]);
        assert_eq!(c.floats("b"), Ok(Some(vec![10.0, 50.0])));
        assert_eq!(
            (c.text("b").unwrap(), c.text("f").unwrap()),
            ("10,50".into(), "1.0,2.5".into())
        );
        assert_eq!(c.text("one").as_deref(), Some("1.0"));
        assert!(c.floats("t").unwrap_err().contains("\"x\""));
        assert_eq!(c.parse::<f64>("one"), Ok(Some(1.0)));
        assert_eq!(
            (c.input(), c.output(), c.floats("none")),
            (Ok("x"), Ok("y"), Ok(None))
        );
        assert_eq!(c.require("none").unwrap_err(), "missing option `none`");
    }
}
