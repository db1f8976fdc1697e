//! The registry's unit tests: views, fields and plugin options resolved
//! from a config, keys parsed and field values checked.

use super::*;
use std::path::Path;

const SRC: &str = r#"
[[llm]]
name = "m"
base_url = "http://127.0.0.1:1/v1"
model = "x"
dimensions = 4

[[entity]]
name = "user"
join_key = "user_id"
type = "string"

[[feature_view]]
name = "v"
entity = "user"
fields = [
  { name = "user_id", type = "STRING", primary_key = true },
  { name = "e", type = "vector", transform = { plugin = "llm-embedding", llm = "m", input = "bio", options = { normalize = true, tags = ["a", "b"] } } },
  { name = "age", type = "int" },
]
"#;

#[test]
fn resolves_views_fields_and_plugin_options() {
    let r = Registry::new(Config::parse(Path::new("/cfg/wafer.toml"), SRC).unwrap());
    let v = r.view("v").unwrap();
    let k = v.single_key().unwrap();
    assert_eq!((k.name.as_str(), k.ty), ("user_id", FieldType::String));
    assert_eq!(
        v.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["e", "age"]
    );
    let e = v.field("e").unwrap();
    assert_eq!(e.dimensions, Some(4), "inherits the llm's dimensions");
    let t = e.transform.as_ref().unwrap();
    assert_eq!(t.plugin, PluginSource::Builtin("llm-embedding".into()));
    let opt = |k: &str| {
        (t.config.legacy.iter())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        (opt("input"), opt("output"), opt("llm"), opt("dimensions")),
        (Some("bio"), Some("e"), Some("m"), Some("4"))
    );
    assert_eq!((opt("normalize"), opt("tags")), (Some("true"), Some("a,b")));
    use crate::plugin::OptionValue;
    let tags = OptionValue::Texts(vec!["a".into(), "b".into()]);
    let typed = [
        ("normalize".into(), OptionValue::Bool(true)),
        ("tags".into(), tags),
    ];
    assert_eq!(t.config.options, typed);
    assert_eq!(
        (t.config.inputs.clone(), t.config.outputs.clone()),
        (vec!["bio".to_string()], vec!["e".to_string()])
    );
    assert_eq!(
        (t.config.llm.as_deref(), t.config.dimensions),
        (Some("m"), Some(4))
    );
}

#[test]
fn keys_and_field_checks() {
    let r = Registry::new(Config::parse(Path::new("wafer.toml"), SRC).unwrap());
    let v = r.view("v").unwrap();
    let u1 = Value::String("u1".into());
    assert_eq!(v.key_of(|_| Some(&u1)), Ok(EntityKey::Str("u1".into())));
    assert!(v.key_of(|_| None).unwrap_err().contains("null"));
    let e = v.field("e").unwrap();
    assert!(
        e.check(Value::Vector(vec![1.0; 3]))
            .unwrap_err()
            .contains("expected 4")
    );
    assert!(
        e.check(Value::Vector(vec![1.0, f32::NAN, 1.0, 1.0]))
            .unwrap_err()
            .contains("not finite")
    );
    assert!(e.check(Value::Vector(vec![0.5; 4])).is_ok());
    assert_eq!(
        v.field("age").unwrap().check(Value::String("7".into())),
        Ok(Value::Int64(7))
    );
    assert!(builtin_plugin("passthrough").is_some_and(|b| b.starts_with(b"\0asm")));
}
