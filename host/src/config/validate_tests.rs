//! The validator's checks, each naming file, line and key.
use super::*;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("wafer.toml"), src)
}

const BASE: &str = r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "v"
entity = "item"
ttl = "30d"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "price", type = "DOUBLE" },
]
"#;

#[test]
fn defaults_apply() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.store.path, PathBuf::from("data"));
    assert_eq!(c.server.listen.port(), 6566);
    let v = c.view("v").unwrap();
    assert_eq!(v.ttl(), Some(Duration::from_secs(30 * 86400)));
    assert_eq!(*v.batch_size.get_ref(), 256);
}

#[test]
fn unknown_entity_names_line_and_key() {
    let src = BASE.replace("entity = \"item\"", "entity = \"user\"");
    let e = parse(&src).unwrap_err().to_string();
    assert!(
        e.starts_with("wafer.toml:9: `feature_view[v].entity`"),
        "{e}"
    );
    assert!(e.contains("\"user\""), "{e}");
}

#[test]
fn syntax_error_names_line_and_column() {
    let e = parse("[store]\npath = \n").unwrap_err().to_string();
    assert!(e.starts_with("wafer.toml:2:"), "{e}");
}

#[test]
fn unknown_key_is_rejected() {
    let e = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("wafer.toml:3:") && e.contains("lisen"), "{e}");
}

#[test]
fn bad_type_and_missing_llm() {
    let e = parse(&BASE.replace("DOUBLE", "DECIMAL"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fields[price].type") && e.contains("DECIMAL"),
        "{e}"
    );
    let src = BASE.replace(
        "{ name = \"price\", type = \"DOUBLE\" }",
        "{ name = \"e\", type = \"ARRAY<FLOAT>\", transform = { plugin = \"llm-embedding\", llm = \"nope\" } }",
    );
    let e = parse(&src).unwrap_err().to_string();
    assert!(e.contains("transform.llm") && e.contains("\"nope\""), "{e}");
}

#[test]
fn grants_name_a_bad_path_or_variable() {
    let grants = |g: &str| {
        let field = format!(
            "{{ name = \"b\", type = \"INT64\", transform = {{ plugin = \"bucketize\", input = \"price\", options = {{ boundaries = \"1\" }}, grants = {g} }} }}"
        );
        parse(&BASE.replace("{ name = \"price\", type = \"DOUBLE\" }", &field))
    };
    // The config's folder is the working directory here: "." exists.
    let ok = grants("{ env = { GREETING = \"hi\" }, dirs = { \"/data\" = \".\" } }").unwrap();
    let t = ok.views[0].fields[1].transform.as_ref().unwrap();
    assert_eq!(t.grants.env["GREETING"], "hi");
    for (g, want) in [
        ("{ dirs = { \"data\" = \".\" } }", "must be absolute"),
        ("{ dirs = { \"/\" = \".\" } }", "must be absolute"),
        ("{ dirs = { \"/a/../b\" = \".\" } }", "must be absolute"),
        (
            "{ dirs = { \"/a\" = \".\", \"/a/b\" = \".\" } }",
            "not hold another grant",
        ),
        (
            "{ dirs = { \"/data\" = \"no/such/dir\" } }",
            "no such directory",
        ),
        (
            "{ env = { \"A=B\" = \"x\" } }",
            "not an environment variable name",
        ),
    ] {
        let e = grants(g).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("fields[b]"), "{g}: {e}");
    }
    let e = grants("{ files = [] }").unwrap_err().to_string();
    assert!(
        e.contains("unknown field `files`") && e.contains(":13:"),
        "{e}"
    );
}

#[test]
fn max_instances_must_hold_every_field_twice() {
    let field = "{ name = \"b\", type = \"INT64\", transform = { plugin = \"bucketize\", input = \"price\", options = { boundaries = \"1\" } } }";
    let src = BASE.replace("{ name = \"price\", type = \"DOUBLE\" }", field);
    assert!(parse(&src).is_ok());
    let tight = format!("[plugins]\nmax_instances = 7\n{src}");
    let e = parse(&tight).unwrap_err().to_string();
    assert!(
        e.contains("wafer.toml:2: `plugins.max_instances`") && e.contains("raise it to 8"),
        "{e}"
    );
}

#[test]
fn primary_key_must_match_entity() {
    let e = parse(&BASE.replace("primary_key = true", "primary_key = false"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("needs a field \"item_id\" with primary_key"),
        "{e}"
    );
    let e = parse(&BASE.replace(
        "name = \"price\", type = \"DOUBLE\"",
        "name = \"price\", type = \"DOUBLE\", primary_key = true",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("primary key \"price\" is not a join key"), "{e}");
}

#[test]
fn int32_and_int64_keys_are_one_key_type() {
    // int32 was a spelling of int64: such configs must still load.
    let src = BASE.replacen("type = \"int64\"", "type = \"int32\"", 1);
    assert!(src.contains("type = \"int32\""));
    parse(&src).unwrap();
}

const TWO_KEYS: &str = r#"
[[entity]]
name = "user"
join_key = "user_id"
type = "string"

[[feature_view]]
name = "ui"
entities = ["user", "item"]
fields = [
  { name = "user_id", type = "string", primary_key = true },
  { name = "item_id", type = "int64", primary_key = true },
  { name = "clicks", type = "int64" },
]
"#;

#[test]
fn a_view_keyed_by_two_entities_declares_both_join_keys() {
    let ok = format!("{BASE}{TWO_KEYS}");
    let c = parse(&ok).unwrap();
    let r = crate::registry::Registry::new(c);
    let keys: Vec<_> = r.view("ui").unwrap().keys.iter().map(|k| &k.name).collect();
    assert_eq!(keys, ["user_id", "item_id"], "in the order of `entities`");
    for (from, to, needle) in [
        ("\"item\"]", "\"shop\"]", "no [[entity]] named \"shop\""),
        (
            "\"user\", \"item\"]",
            "\"user\", \"user\"]",
            "share the join key \"user_id\"",
        ),
        (
            "entities = [\"user\", \"item\"]",
            "entities = []",
            "names no entity",
        ),
        (
            "entities = [\"user\", \"item\"]",
            "entities = 3",
            "an [[entity]] name or a list",
        ),
        (
            "type = \"int64\", primary_key = true",
            "type = \"int64\"",
            "needs a field \"item_id\"",
        ),
        (
            "\"int64\", primary_key = true",
            "\"string\", primary_key = true",
            "differs from entity type",
        ),
    ] {
        assert!(TWO_KEYS.contains(from), "{from}");
        let e = parse(&format!("{BASE}{}", TWO_KEYS.replace(from, to)))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{from} -> {to}: {e}");
    }
}

#[test]
fn field_types_accept_pai_spellings() {
    assert_eq!(FieldType::parse("ARRAY<FLOAT>"), Some(FieldType::Vector));
    assert_eq!(FieldType::parse("array < float >"), Some(FieldType::Vector));
    assert_eq!(FieldType::parse("BIGINT"), Some(FieldType::Int64));
    assert_eq!(FieldType::parse("decimal"), None);
}

#[test]
fn feature_services_name_views_and_their_features() {
    let ok = format!("{BASE}[[feature_service]]\nname = \"s\"\nfeatures = [\"v:price\", \"v\"]\n");
    let c = parse(&ok).unwrap();
    // Named twice, read once: a read by the service must not fail on it.
    let registry = crate::registry::Registry::new(c);
    let features = registry.feature_service("s").unwrap();
    assert_eq!(features, ["v:price"]);
    for (features, needle) in [
        ("[\"w\"]", "no [[feature_view]] named \"w\""),
        ("[\"v:nope\"]", "view v has no feature \"nope\""),
        // The join key is the request's, not a feature.
        ("[\"v:item_id\"]", "no feature \"item_id\""),
        ("[]", "at least one"),
    ] {
        let src = format!("{BASE}[[feature_service]]\nname = \"s\"\nfeatures = {features}\n");
        let e = parse(&src).unwrap_err().to_string();
        assert!(e.contains("`feature_service[s].features`"), "{e}");
        assert!(e.contains(needle), "{e}");
    }
    let twice = format!("{ok}{}", ok.trim_start_matches(BASE));
    let e = parse(&twice).unwrap_err().to_string();
    assert!(e.contains("feature_service"), "{e}");
}

#[test]
fn server_auth_takes_each_token_from_one_place() {
    let both = "[server.auth]\nread_token_env = \"R\"\nread_token_file = \"r.token\"\n";
    let e = parse(&format!("{both}{BASE}")).unwrap_err().to_string();
    assert!(
        e.starts_with("wafer.toml:3: `server.auth.read_token_file`"),
        "{e}"
    );
    assert!(e.contains("not both"), "{e}");
    let none = "[server]\nlisten = \"127.0.0.1:1\"\n\n[server.auth]\n";
    let e = parse(&format!("{none}{BASE}")).unwrap_err().to_string();
    assert!(e.starts_with("wafer.toml:4: `server.auth`"), "{e}");
    let ok = "[server.auth]\nwrite_token_env = \"W\"\n";
    let c = parse(&format!("{ok}{BASE}")).unwrap();
    assert!(c.server.auth.unwrap().read_token_env.is_none());
    let e = parse(&format!("[server]\nrequest_timeout_secs = 0\n{BASE}")).unwrap_err();
    assert!(e.to_string().contains("server.request_timeout_secs"), "{e}");
    let e = parse(&format!("[server]\nheader_read_timeout_secs = 0\n{BASE}")).unwrap_err();
    assert!(
        e.to_string().contains("server.header_read_timeout_secs"),
        "{e}"
    );
}

#[test]
fn fills_must_name_plain_fields_of_the_view_once() {
    let with = |fields: &str| {
        BASE.replace(
            "  { name = \"price\", type = \"DOUBLE\" },\n",
            &format!("  {{ name = \"price\", type = \"DOUBLE\" }},\n{fields}"),
        )
    };
    let t = |fills: &str| {
        format!(
            "  {{ name = \"b\", type = \"INT64\", transform = {{ plugin = \"bucketize\", input = \"price\", options = {{ boundaries = \"1\" }}, fills = {fills} }} }},\n"
        )
    };
    assert!(parse(&with(&t("[\"price\"]"))).is_ok());
    for (fills, why) in [
        ("[\"nope\"]", "\"nope\": no field of that name in the view"),
        (
            "[\"b\"]",
            "\"b\": a field's own transformation already fills it",
        ),
        (
            "[\"item_id\"]",
            "\"item_id\": the primary key cannot be transformed",
        ),
    ] {
        let e = parse(&with(&t(fills))).unwrap_err().to_string();
        assert!(
            e.contains("`feature_view[v].fields[b].transform.fills`") && e.contains(why),
            "{e}"
        );
    }
    let twice = format!(
        "{}{}",
        t("[\"price\"]"),
        t("[\"price\"]").replace("\"b\"", "\"c\"")
    );
    let e = parse(&with(&twice)).unwrap_err().to_string();
    assert!(e.contains("another transformation already fills it"), "{e}");
    let own = format!("{}{}", t("[\"c\"]"), t("[]").replace("\"b\"", "\"c\""));
    let e = parse(&with(&own)).unwrap_err().to_string();
    assert!(
        e.contains("that field has a transformation of its own"),
        "{e}"
    );
}

#[test]
fn input_types_name_an_input_and_a_type() {
    let with = |types: &str| {
        BASE.replace(
            "  { name = \"price\", type = \"DOUBLE\" },\n",
            &format!(
                "  {{ name = \"price\", type = \"DOUBLE\" }},\n  {{ name = \"b\", type = \"INT64\", transform = {{ plugin = \"bucketize\", input = \"raw\", options = {{ boundaries = \"1\" }}, input_types = {types} }} }},\n"
            ),
        )
    };
    assert!(parse(&with("{ raw = \"double\" }")).is_ok());
    let e = parse(&with("{ nope = \"double\" }"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("transform.input_types`") && e.contains("\"nope\" is not an input"),
        "{e}"
    );
    let e = parse(&with("{ raw = \"decimal\" }"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"raw\": unknown type \"decimal\""), "{e}");
}
