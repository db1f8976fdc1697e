//! The offline side: Parquet and partitioned folders in, the offline log,
//! point-in-time training sets out (`wafer export`), `wafer materialize`;
//! through the real binary, with a real server where one owns the store.

use crate::util::*;
use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

const VIEWS: &str = r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "stats"
entity = "item"
ttl = "10d"
event_time = "ts"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "price", type = "DOUBLE" },
]

[[feature_view]]
name = "profile"
entity = "item"
event_time = "ts"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "color", type = "STRING" },
]

[[feature_service]]
name = "ranking"
features = ["stats:price", "profile"]
"#;

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = wafer_cli(dir, args);
    assert!(out.status.success(), "wafer {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `wafer export` of `features` for `spine` into `out`, which must succeed;
/// its summary.
fn export_ok(dir: &Path, spine: &str, features: &str, out: &str, more: &[&str]) -> String {
    let mut args = vec![
        "export",
        "--spine",
        spine,
        "--features",
        features,
        "--out",
        out,
    ];
    args.extend_from_slice(more);
    run_ok(dir, &args)
}

fn publish_jsonl(dir: &Path, view: &str, rows: &[Value]) {
    let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let file = write_file(dir, &format!("{view}-{}.jsonl", fastrand::u32(..)), &body);
    run_ok(
        dir,
        &["publish", "--view", view, "--input", file.to_str().unwrap()],
    );
}

/// Each exported row's label, price and color.
fn label_price_color(path: &Path) -> Vec<(String, Value, Value)> {
    (jsonl(path).into_iter())
        .map(|r| {
            (
                r["label"].as_str().unwrap().to_string(),
                r["price"].clone(),
                r["color"].clone(),
            )
        })
        .collect()
}

fn jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each case worked out by hand: exact timestamps, a backfill written
/// after a newer event, ties broken by write time, the ttl's edge, a
/// missing key, two views with different ttls, one key at many times.
#[test]
fn exports_are_point_in_time_correct() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, VIEWS);
    let stats = |id: i64, price: f64, ts: &str| json!({"item_id": id, "price": price, "ts": ts});
    publish_jsonl(
        d,
        "stats",
        &[
            stats(1, 1.0, "2026-01-10T00:00:00Z"),
            stats(1, 2.0, "2026-01-20T00:00:00Z"),
            stats(2, 5.0, "2026-01-01T00:00:00Z"),
        ],
    );
    // A backfill (older than what is stored: skipped online, logged) and
    // a second value for the same event time, written later: it wins.
    publish_jsonl(
        d,
        "stats",
        &[
            stats(1, 1.5, "2026-01-15T00:00:00Z"),
            stats(2, 6.0, "2026-01-01T00:00:00Z"),
        ],
    );
    publish_jsonl(
        d,
        "profile",
        &[json!({"item_id": 1, "color": "red", "ts": "2025-06-01T00:00:00Z"})],
    );
    let spine = write_file(
        d,
        "spine.csv",
        "item_id,event_timestamp,label\n\
        1,2026-01-10T00:00:00Z,a\n\
        1,2026-01-16T00:00:00Z,b\n\
        1,2026-01-25T00:00:00Z,c\n\
        1,2026-02-01T00:00:00Z,d\n\
        1,2026-01-30T00:00:00Z,e\n\
        2,2026-01-05T00:00:00Z,f\n\
        3,2026-01-05T00:00:00Z,g\n\
        1,2026-01-09T00:00:00Z,h\n",
    );
    let out = d.join("train.jsonl");
    let summary = export_ok(
        d,
        spine.to_str().unwrap(),
        "stats:price,profile:color",
        out.to_str().unwrap(),
        &[],
    );
    let summary: Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(summary["rows"], 8, "{summary}");
    let got = label_price_color(&out);
    let want = [
        ("a", json!(1.0), json!("red")), // the exact timestamp
        ("b", json!(1.5), json!("red")), // the backfill, the newer event not yet
        ("c", json!(2.0), json!("red")),
        ("d", Value::Null, json!("red")), // 12 days old: past the 10d ttl; profile has none
        ("e", json!(2.0), json!("red")),  // exactly 10 days: the edge is in
        ("f", json!(6.0), Value::Null),   // the tie: the later write
        ("g", Value::Null, Value::Null),  // a key never written
        ("h", Value::Null, json!("red")), // before the first event
    ];
    let want: Vec<(String, Value, Value)> = want
        .into_iter()
        .map(|(l, p, c)| (l.to_string(), p, c))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        jsonl(&out)[0]["event_timestamp"],
        "2026-01-10T00:00:00Z",
        "spine columns kept"
    );

    // A Parquet spine with a timestamp column, and a feature service: the
    // same rows. A batch of one row: every sort spills to disk in runs,
    // merged through a heap.
    let labels: Vec<&str> = want.iter().map(|w| w.0.as_str()).collect();
    let times = [
        "2026-01-10",
        "2026-01-16",
        "2026-01-25",
        "2026-02-01",
        "2026-01-30",
        "2026-01-05",
        "2026-01-05",
        "2026-01-09",
    ];
    let micros = times.iter().map(|t| {
        let t = wafer::time::Micros::parse(&wafer::value::Value::String(t.to_string())).unwrap();
        t.0
    });
    let pq_spine = d.join("spine.parquet");
    write_parquet(
        &pq_spine,
        vec![
            (
                "item_id",
                Arc::new(Int64Array::from(vec![1, 1, 1, 1, 1, 2, 3, 1])) as ArrayRef,
            ),
            (
                "event_timestamp",
                Arc::new(TimestampMicrosecondArray::from_iter_values(micros).with_timezone("UTC")),
            ),
            ("label", Arc::new(StringArray::from(labels.clone()))),
        ],
    );
    let by_service = d.join("service.jsonl");
    run_ok(
        d,
        &[
            "export",
            "--spine",
            pq_spine.to_str().unwrap(),
            "--feature-service",
            "ranking",
            "--out",
            by_service.to_str().unwrap(),
            "--batch-rows",
            "1",
        ],
    );
    let again = label_price_color(&by_service);
    assert_eq!(again, want);
    assert_eq!(
        jsonl(&by_service)[0]["event_timestamp"],
        "2026-01-10T00:00:00Z",
        "a Parquet time column comes out as a record's cell would"
    );

    // A partitioned Parquet spine of two files: times as text (kept as they
    // came), a column only the second file has (null in the first's rows),
    // and a file's own column of the partition's name (the partition wins).
    let table = d.join("spine-table/ds=20260201");
    let part = |range: std::ops::Range<usize>| -> Vec<(&str, ArrayRef)> {
        let ids: Vec<i64> = vec![1, 1, 1, 1, 1, 2, 3, 1];
        vec![
            (
                "item_id",
                Arc::new(Int64Array::from(ids[range.clone()].to_vec())),
            ),
            (
                "event_timestamp",
                Arc::new(StringArray::from(times[range.clone()].to_vec())),
            ),
            ("label", Arc::new(StringArray::from(labels[range].to_vec()))),
        ]
    };
    write_parquet(&table.join("part-0.parquet"), part(0..5));
    let mut second = part(5..8);
    second.push(("extra", Arc::new(Int64Array::from(vec![7, 8, 9]))));
    second.push(("ds", Arc::new(StringArray::from(vec!["x", "y", "z"]))));
    write_parquet(&table.join("part-1.parquet"), second);
    let from_table = d.join("table.jsonl");
    let spine_table = d.join("spine-table");
    run_ok(
        d,
        &[
            "export",
            "--spine",
            spine_table.to_str().unwrap(),
            "--feature-service",
            "ranking",
            "--out",
            from_table.to_str().unwrap(),
            "--batch-rows",
            "4",
        ],
    );
    assert_eq!(label_price_color(&from_table), want);
    let rows = jsonl(&from_table);
    assert_eq!(
        rows[0]["event_timestamp"], "2026-01-10",
        "text kept as it came"
    );
    let extra: Vec<&Value> = rows.iter().map(|r| &r["extra"]).collect();
    let null = Value::Null;
    assert_eq!(
        extra,
        [
            &null,
            &null,
            &null,
            &null,
            &null,
            &json!(7),
            &json!(8),
            &json!(9)
        ]
    );
    assert!(rows.iter().all(|r| r["ds"] == "20260201"), "{rows:?}");

    // Parquet out, Feast's full names: the same values, typed columns.
    let pq = d.join("train.parquet");
    export_ok(
        d,
        spine.to_str().unwrap(),
        "stats:price,profile:color",
        pq.to_str().unwrap(),
        &["--full-feature-names"],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // Made as a plain file is (0666 less the umask), not 0600 as a
        // temporary file is.
        let plain = write_file(d, "plain.txt", "");
        assert_eq!(mode(&pq), mode(&plain));
    }
    let batch = read_parquet(&pq);
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "item_id",
            "event_timestamp",
            "label",
            "stats__price",
            "profile__color"
        ]
    );
    let ts = batch
        .column(1)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(ts.value(0), 1_768_003_200_000_000);
    let price = batch
        .column(3)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let prices: Vec<Option<f64>> = (0..8)
        .map(|i| price.is_valid(i).then(|| price.value(i)))
        .collect();
    let from_jsonl: Vec<Option<f64>> = got.iter().map(|g| g.1.as_f64()).collect();
    assert_eq!(prices, from_jsonl);

    // A view whose type changed since its values were logged: the export
    // fails naming the feature and the spine line, and writes nothing.
    write_config(
        d,
        &VIEWS.replace(r#""price", type = "DOUBLE""#, r#""price", type = "INT64""#),
    );
    let retyped = d.join("retyped.parquet");
    let args = [
        "export",
        "--spine",
        spine.to_str().unwrap(),
        "--features",
        "stats:price",
    ];
    let out = wafer_cli(
        d,
        &[&args[..], &["--out", retyped.to_str().unwrap()]].concat(),
    );
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(
        msg.contains("\"price\"") && msg.contains("logged before"),
        "{msg}"
    );
    assert!(!retyped.exists(), "no partial file");
    write_config(d, VIEWS);

    // Mistakes are named: a feature that is not there, a spine without a key.
    let bad = wafer_cli(
        d,
        &[
            "export",
            "--spine",
            spine.to_str().unwrap(),
            "--features",
            "stats:nope",
            "--out",
            "x.csv",
        ],
    );
    assert!(
        !bad.status.success() && text(&bad).contains("has no field \"nope\""),
        "{}",
        text(&bad)
    );
    let keyless = write_file(d, "keyless.csv", "event_timestamp\n2026-01-10T00:00:00Z\n");
    let bad = wafer_cli(
        d,
        &[
            "export",
            "--spine",
            keyless.to_str().unwrap(),
            "--features",
            "stats:price",
            "--out",
            "y.csv",
        ],
    );
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(
        text(&bad).contains("line 2") && text(&bad).contains("item_id"),
        "{}",
        text(&bad)
    );
    assert!(!d.join("y.csv").exists(), "no partial file");
    let left: Vec<_> = (std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".wafer-export"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow_select_concat(&batches)
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert_eq!(batches.len(), 1, "small files come back as one batch");
    batches[0].clone()
}

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn items(ids: &[i64], name: &str) -> Vec<(&'static str, ArrayRef)> {
    let n = ids.len();
    let mut vecs = ListBuilder::new(Float32Builder::new());
    let mut tags = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        vecs.values().append_slice(&[i as f32, 0.5]);
        vecs.append(true);
        tags.values().append_value(format!("t{i}"));
        tags.append(true);
    }
    vec![
        (
            "item_id",
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
        ),
        ("name", Arc::new(StringArray::from(vec![name; n]))),
        ("score", Arc::new(Float32Array::from(vec![0.25; n]))),
        ("flag", Arc::new(BooleanArray::from(vec![true; n]))),
        (
            "blob",
            Arc::new(BinaryArray::from(vec![&b"\x00\x01"[..]; n])),
        ),
        ("vec", Arc::new(vecs.finish())),
        ("tags", Arc::new(tags.finish())),
        (
            "at",
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_746_748_800_000_000; n])
                    .with_timezone("UTC"),
            ),
        ),
    ]
}

const ITEMS: &str = r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "items"
entity = "item"
event_time = "at"
fields = [
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "name", type = "STRING" },
  { name = "score", type = "DOUBLE" },
  { name = "flag", type = "BOOL" },
  { name = "blob", type = "BYTES" },
  { name = "vec", type = "ARRAY<FLOAT>", dimensions = 2 },
  { name = "tags", type = "ARRAY<STRING>" },
  { name = "ds", type = "STRING" },
]
"#;

/// `wafer get`'s value of each feature of item `id` (null if none).
fn get(dir: &Path, id: i64) -> Value {
    let out = run_ok(dir, &["get", "--view", "items", "--key", &id.to_string()]);
    let answer: Value = serde_json::from_str(&out).unwrap();
    let values = answer.as_object().unwrap().iter();
    Value::Object(
        values
            .map(|(k, v)| (k.clone(), v["value"].clone()))
            .collect(),
    )
}

/// Every supported type, the latest partition by default, one asked for,
/// Spark's marker files ignored; a wrong-typed column and a corrupt file
/// are errors naming them, and store nothing.
#[test]
fn parquet_files_and_partitions_publish() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, ITEMS);
    let table = d.join("table");
    write_parquet(
        &table.join("ds=20250508/part-0.parquet"),
        items(&[10, 11], "old"),
    );
    write_parquet(
        &table.join("ds=20250509/part-0.parquet"),
        items(&[1, 2], "new"),
    );
    // A file's own column of the partition's name (of another type, even)
    // gives way to the partition's value.
    let mut own_ds = items(&[3], "new");
    own_ds.push(("ds", Arc::new(Int64Array::from(vec![5]))));
    write_parquet(&table.join("ds=20250509/part-1.parquet"), own_ds);
    std::fs::write(table.join("ds=20250509/_SUCCESS"), "").unwrap();
    run_ok(
        d,
        &[
            "publish",
            "--view",
            "items",
            "--input",
            table.to_str().unwrap(),
        ],
    );
    let f = get(d, 1);
    assert_eq!(f["name"], "new", "{f}");
    assert_eq!(f["score"], 0.25);
    assert_eq!(f["flag"], true);
    assert_eq!(f["blob"], "AAE=", "bytes as base64");
    assert_eq!(f["vec"], json!([0.0, 0.5]));
    assert_eq!(f["tags"], json!(["t0"]));
    assert_eq!(f["ds"], "20250509", "the partition is a column");
    assert_eq!(get(d, 3)["name"], "new", "every file of the partition");
    assert_eq!(get(d, 3)["ds"], "20250509", "the partition wins");
    assert_eq!(get(d, 10)["name"], Value::Null, "not the latest partition");
    run_ok(
        d,
        &[
            "publish",
            "--view",
            "items",
            "--input",
            table.to_str().unwrap(),
            "--partition",
            "ds=20250508",
        ],
    );
    assert_eq!(get(d, 10)["name"], "old");

    let wrong = d.join("wrong.parquet");
    let mut cols = items(&[20], "x");
    cols[2] = ("score", Arc::new(StringArray::from(vec!["high"])));
    write_parquet(&wrong, cols);
    let out = wafer_cli(
        d,
        &[
            "publish",
            "--view",
            "items",
            "--input",
            wrong.to_str().unwrap(),
        ],
    );
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(
        msg.contains("wrong.parquet") && msg.contains("\"score\"") && msg.contains("Utf8"),
        "{msg}"
    );
    // A cell that does not convert fails its row only.
    let mixed = d.join("mixed.parquet");
    let mut cols = items(&[30, 31], "mixed");
    cols.push(("big", Arc::new(UInt64Array::from(vec![1, u64::MAX]))));
    // A dictionary column of no values (pandas writes these for a
    // categorical column that is all null) reads as nulls.
    let no_values = Arc::new(StringArray::from(Vec::<&str>::new()));
    let keys = arrow_array::Int32Array::from(vec![None, None]);
    let dict = arrow_array::DictionaryArray::<arrow_array::types::Int32Type>::new(keys, no_values);
    cols.push(("category", Arc::new(dict)));
    write_parquet(&mixed, cols);
    let out = wafer_cli(
        d,
        &[
            "publish",
            "--view",
            "items",
            "--input",
            mixed.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "some rows failed: {}",
        text(&out)
    );
    assert_eq!(get(d, 30)["name"], "mixed");
    assert_eq!(get(d, 31)["name"], Value::Null);
    let corrupt = write_file(d, "corrupt.parquet", "PAR1 this is not parquet PAR1");
    let out = wafer_cli(
        d,
        &[
            "publish",
            "--view",
            "items",
            "--input",
            corrupt.to_str().unwrap(),
        ],
    );
    assert!(
        !out.status.success() && text(&out).contains("corrupt.parquet"),
        "{}",
        text(&out)
    );
    assert_eq!(
        get(d, 20)["name"],
        Value::Null,
        "nothing of a refused file is stored"
    );
}

/// A server owns the store: pushes and a publish land, then `kill -9` in
/// the middle of a second publish. After the restart the online store and
/// an export at "now" (read beside the running server) agree on every
/// key; a materialize through the server rolls a bad publish back.
#[tokio::test(flavor = "multi_thread")]
async fn online_and_offline_agree_through_crashes_and_materialize_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    // No ttl: the online store serves every value, as an export at now does.
    write_config(&d, &VIEWS.replace("ttl = \"10d\"\n", ""));
    let mut server = ServerProcess::start(&d);
    let df = json!({"item_id": [1, 2], "price": [1.0, 2.0], "ts": ["2026-01-01T00:00:00", "2026-01-01T00:00:00"]});
    let body = json!({"feature_view_name": "stats", "df": df, "allow_registry_cache": false});
    assert_eq!(
        post(&server.url, "/write-to-online-store", &body).await.0,
        200
    );
    let rows: String = (0..60_000)
        .map(|i| format!("{}\n", json!({"item_id": i % 3000, "price": i as f64, "ts": format!("2026-01-02T00:00:{:02}Z", i % 60)})))
        .collect();
    let big = write_file(&d, "big.jsonl", &rows);
    let publish = wafer_command(&d)
        .args([
            "publish",
            "--view",
            "stats",
            "--input",
            big.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the publish has landed its first batches.
    let probe = json!({"features": ["stats:price"], "entities": {"item_id": [2999]}});
    while column(
        &post(&server.url, "/get-online-features", &probe).await.1,
        "price",
    )["values"][0]
        .is_null()
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.kill_9();
    let _ = publish.wait_with_output();
    let server = ServerProcess::start(&d);
    let ids: Vec<i64> = (0..3000).collect();
    let spine: String = std::iter::once("item_id,event_timestamp\n".to_string())
        .chain(
            ids.iter()
                .map(|i| format!("{i},{}\n", wafer::time::Micros::now())),
        )
        .collect();
    let spine = write_file(&d, "all.csv", &spine);
    let out = d.join("now.jsonl");
    export_ok(
        &d,
        spine.to_str().unwrap(),
        "stats:price",
        out.to_str().unwrap(),
        &[],
    );
    let exported: Vec<Value> = jsonl(&out)
        .into_iter()
        .map(|r| r["price"].clone())
        .collect();
    let body = json!({"features": ["stats:price"], "entities": {"item_id": ids}});
    let (status, answer) = post(&server.url, "/get-online-features", &body).await;
    assert_eq!(status, 200);
    let online = column(&answer, "price")["values"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        exported, online,
        "the export at now and the online store agree"
    );

    // A bad publish of item 1, rolled back to before it.
    publish_jsonl(
        &d,
        "stats",
        &[json!({"item_id": 1, "price": -1.0, "ts": "2026-01-05T00:00:00Z"})],
    );
    let price_of_1 = |answer: &Value| column(answer, "price")["values"][0].clone();
    let one = json!({"features": ["stats:price"], "entities": {"item_id": [1]}});
    assert_eq!(
        price_of_1(&post(&server.url, "/get-online-features", &one).await.1),
        json!(-1.0)
    );
    let said = run_ok(
        &d,
        &[
            "materialize",
            "--view",
            "stats",
            "--as-of",
            "2026-01-04T00:00:00Z",
        ],
    );
    assert!(said.contains("keys restored"), "{said}");
    let back = price_of_1(&post(&server.url, "/get-online-features", &one).await.1);
    assert_eq!(back, exported[1], "as before the bad publish");
}

/// A view keyed by user × item: the spine names both join keys, and a key
/// that is a prefix of another (`u` and `u1`) never reads the other's rows.
#[test]
fn exports_join_composite_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let view = r#"
[[feature_view]]
name = "user_item"
entities = ["user", "item"]
event_time = "ts"
fields = [
  { name = "user_id", type = "STRING", primary_key = true },
  { name = "item_id", type = "INT64", primary_key = true },
  { name = "clicks", type = "INT64" },
]
"#;
    write_config(d, &format!("{USER_ITEM_ENTITIES}{view}"));
    let row = |u: &str, i: i64, clicks: i64, ts: &str| json!({"user_id": u, "item_id": i, "clicks": clicks, "ts": ts});
    publish_jsonl(
        d,
        "user_item",
        &[
            row("u", 7, 1, "2026-01-01T00:00:00Z"),
            row("u", 7, 2, "2026-01-03T00:00:00Z"),
            row("u1", 7, 9, "2026-01-01T00:00:00Z"),
        ],
    );
    let spine = write_file(
        d,
        "spine.csv",
        "user_id,item_id,event_timestamp\nu,7,2026-01-02T00:00:00Z\nu,7,2026-01-04T00:00:00Z\nu1,7,2026-01-02T00:00:00Z\nu,8,2026-01-04T00:00:00Z\n",
    );
    let out = d.join("pairs.jsonl");
    export_ok(
        d,
        spine.to_str().unwrap(),
        "user_item:clicks",
        out.to_str().unwrap(),
        &[],
    );
    let clicks: Vec<Value> = jsonl(&out)
        .into_iter()
        .map(|r| r["clicks"].clone())
        .collect();
    assert_eq!(clicks, [json!(1), json!(2), json!(9), Value::Null]);
}
