//! The pipeline against a real store and the built-in `passthrough`: input
//! digests across the change from SHA-256 to XXH3-128.

use super::{Pipeline, Record};
use crate::runtime::Wafer;
use crate::store::{WriteMode, encode_value};
use crate::time::Micros;
use crate::value::Value;

const CONFIG: &str = r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "vec"
entity = "item"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "v", type = "ARRAY<FLOAT>", dimensions = 2, transform = { plugin = "passthrough" } },
]
"#;

fn record(id: i64, v: [f32; 2]) -> Record {
    Record {
        line: id as usize + 1,
        cells: vec![
            ("item_id".into(), Value::Int64(id)),
            ("v".into(), Value::Vector(v.to_vec())),
        ],
    }
}

/// A store written before the change holds SHA-256 digests: its unchanged
/// rows are still reused (no plugin call, no re-embedding after an upgrade)
/// and are written back with the new digest; a changed row is recomputed.
#[test]
fn rows_stored_with_the_old_digest_are_reused_and_take_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wafer.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(async { Wafer::open(&config) }).unwrap();
    let _in_runtime = rt.enter();
    let p = Pipeline::new(&app.registry(), "vec", &app.engine(), false).unwrap();
    let records = || {
        (0..3)
            .map(|i| record(i, [i as f32, 0.5]))
            .collect::<Vec<_>>()
    };
    let digester = &p.transforms[0].digester;
    let digests = |r: &Record, old: bool| {
        let mut buf = Vec::new();
        digester.begin(&mut buf);
        encode_value(&mut buf, r.get("v").unwrap());
        match old {
            true => digester.legacy(&buf),
            false => digester.digest(&buf),
        }
    };
    let mut first = p.run(records(), Micros(1), Some(app.store()));
    assert_eq!((p.plugin_calls(), first.rows.len()), (1, 3));
    for ((_, row), r) in first.rows.iter_mut().zip(&records()) {
        assert_eq!(row.inputs, [("v".to_string(), digests(r, false))]);
        assert_ne!(digests(r, true), digests(r, false));
        row.inputs = vec![("v".into(), digests(r, true))];
    }
    app.store()
        .write("vec", first.rows, WriteMode::Overwrite)
        .unwrap();

    let mut again = records();
    again[2] = record(2, [9.0, 9.0]);
    let second = p.run(again.clone(), Micros(2), Some(app.store()));
    assert!(second.failures.is_empty(), "{:?}", second.failures);
    assert_eq!((second.rows.len(), second.reused), (3, 2));
    assert_eq!(p.plugin_calls(), 2, "one call, for the changed row");
    for ((_, row), r) in second.rows.iter().zip(&again) {
        assert_eq!(row.inputs, [("v".to_string(), digests(r, false))]);
        assert_eq!(row.get("v"), r.get("v"));
    }
}
