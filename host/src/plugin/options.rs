//! What a view field configures its plugin instances with: input and output
//! columns, typed options, the `[[llm]]` and the dimensions. Contract 0.2
//! takes it as it is; contract 0.1 takes the same as string pairs
//! (`legacy`), exactly as wafer always wrote them.

/// A plugin instance's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginConfig {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// The field's `options`, typed as the config file wrote them.
    pub options: Vec<(String, OptionValue)>,
    pub llm: Option<String>,
    pub dimensions: Option<usize>,
    /// The same as contract 0.1's string pairs: the options as text (arrays
    /// joined with commas), then `input`, `output`, `llm` and `dimensions`
    /// unless an option of that name came first. Also what a transformed
    /// value's digest hashes, so upgrading wafer recomputes nothing.
    pub legacy: Vec<(String, String)>,
}

/// An option's value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Text(String),
    Floats(Vec<f64>),
    Texts(Vec<String>),
}

impl OptionValue {
    /// A TOML value as an option: arrays of numbers or of strings keep their
    /// items; anything else (dates, tables, other arrays) is TOML text.
    pub fn from_toml(v: &toml::Value) -> OptionValue {
        use toml::Value as T;
        match v {
            T::String(s) => OptionValue::Text(s.clone()),
            T::Integer(i) => OptionValue::Int64(*i),
            T::Float(f) => OptionValue::Float64(*f),
            T::Boolean(b) => OptionValue::Bool(*b),
            T::Array(items) if items.iter().all(|i| i.is_str()) => OptionValue::Texts(
                (items.iter().filter_map(|i| i.as_str().map(String::from))).collect(),
            ),
            T::Array(items) => match (items.iter())
                .map(|i| i.as_float().or(i.as_integer().map(|n| n as f64)))
                .collect::<Option<Vec<f64>>>()
            {
                Some(floats) => OptionValue::Floats(floats),
                None => OptionValue::Text(v.to_string()),
            },
            other => OptionValue::Text(other.to_string()),
        }
    }
}

impl PluginConfig {
    /// From contract 0.1's string pairs: `input` (comma-separated),
    /// `output`, `llm` and `dimensions` are read out; every other pair is a
    /// text option.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> PluginConfig {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let list = |v: Option<&str>| {
            (v.unwrap_or("").split(','))
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        };
        let standard = ["input", "output", "llm", "dimensions"];
        PluginConfig {
            inputs: list(get("input")),
            outputs: list(get("output")),
            options: (pairs.iter())
                .filter(|(k, _)| !standard.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), OptionValue::Text(v.clone())))
                .collect(),
            llm: get("llm").map(String::from),
            dimensions: get("dimensions").and_then(|d| d.trim().parse().ok()),
            legacy: pairs,
        }
    }
}

impl From<Vec<(String, String)>> for PluginConfig {
    fn from(pairs: Vec<(String, String)>) -> Self {
        PluginConfig::from_pairs(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_options_keep_their_types() {
        let t: toml::Table = toml::from_str(
            "b = [10, 2.5]\ns = [\"a\", \"b\"]\nn = 3\nf = 1.0\nx = true\nd = 1979-05-27\nm = [1, \"a\"]",
        )
        .unwrap();
        let o = |k: &str| OptionValue::from_toml(&t[k]);
        assert_eq!(o("b"), OptionValue::Floats(vec![10.0, 2.5]));
        assert_eq!(o("s"), OptionValue::Texts(vec!["a".into(), "b".into()]));
        assert_eq!(
            (o("n"), o("f"), o("x")),
            (
                OptionValue::Int64(3),
                OptionValue::Float64(1.0),
                OptionValue::Bool(true)
            )
        );
        assert_eq!(o("d"), OptionValue::Text("1979-05-27".into()));
        assert_eq!(o("m"), OptionValue::Text("[1, \"a\"]".into()));
    }

    #[test]
    fn string_pairs_split_into_the_standard_keys_and_text_options() {
        let pairs = [
            ("input", "a, b"),
            ("output", "o"),
            ("dimensions", "4"),
            ("k", "v"),
        ];
        let c = PluginConfig::from_pairs(pairs.map(|(k, v)| (k.into(), v.into())).to_vec());
        assert_eq!(c.inputs, vec!["a", "b"]);
        assert_eq!(
            (c.outputs, c.dimensions, c.llm),
            (vec!["o".to_string()], Some(4), None)
        );
        assert_eq!(
            c.options,
            vec![("k".to_string(), OptionValue::Text("v".into()))]
        );
        assert_eq!(c.legacy.len(), 4);
    }
}
