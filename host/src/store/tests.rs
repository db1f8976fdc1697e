use super::*;
use crate::time::Micros;
use crate::value::Value;

fn row(ts: i64, fields: &[(&str, Value)]) -> StoredRow {
    StoredRow {
        event_time: crate::time::Micros(ts),
        fields: fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect(),
        inputs: vec![],
    }
}

/// One row of key `k` with field `a = v` at event time `ts`, merged.
fn put(s: &Store, view: &str, k: i64, ts: i64, v: i64) {
    let rows = vec![(EntityKey::Int(k), row(ts, &[("a", Value::Int64(v))]))];
    s.write(view, rows, WriteMode::Merge).unwrap();
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), ["v"]).unwrap()
}

#[test]
fn write_then_get_many_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let rows = vec![
        (EntityKey::Int(2), row(1, &[("a", Value::Int64(2))])),
        (EntityKey::Int(1), row(1, &[("a", Value::Int64(1))])),
    ];
    assert_eq!(
        s.write("v", rows, WriteMode::Merge).unwrap(),
        WriteStats {
            written: 2,
            stale: 0,
            stale_rows: vec![],
        }
    );
    let got = s
        .get_many(
            "v",
            &[EntityKey::Int(1), EntityKey::Int(3), EntityKey::Int(2)],
        )
        .unwrap();
    assert_eq!(got[0].as_ref().unwrap().get("a"), Some(&Value::Int64(1)));
    assert!(got[1].is_none());
    assert_eq!(got[2].as_ref().unwrap().get("a"), Some(&Value::Int64(2)));
}

/// A lookup's read: a column per wanted field, each key at its place,
/// a null where the key has no row (in the middle or last) or its row
/// no such field.
#[test]
fn a_lookup_read_has_a_place_per_key_in_each_column() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let rows = vec![
        (
            EntityKey::Int(1),
            row(5, &[("a", Value::Int64(1)), ("b", Value::Int64(10))]),
        ),
        (EntityKey::Int(3), row(7, &[("b", Value::Int64(30))])),
    ];
    s.write("v", rows, WriteMode::Merge).unwrap();
    let mut wanted = FieldIndex::default();
    wanted.insert("b");
    wanted.insert("a");
    let keys = [1, 2, 3, 4].map(EntityKey::Int);
    let got = s
        .get_wanted::<Vec<Value>>("v", &keys, (&wanted, |_| true), Reach::Anywhere)
        .unwrap();
    assert_eq!(got.times, [Some(Micros(5)), None, Some(Micros(7)), None]);
    let (null, int) = (Value::Null, Value::Int64);
    assert_eq!(
        got.columns[0],
        [int(10), null.clone(), int(30), null.clone()]
    );
    assert_eq!(got.columns[1], [int(1), null.clone(), null.clone(), null]);
}

#[test]
fn merge_keeps_other_fields_and_skips_older_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = EntityKey::Str("x".into());
    s.write(
        "v",
        vec![(
            k.clone(),
            row(10, &[("a", Value::Int64(1)), ("b", Value::Int64(1))]),
        )],
        WriteMode::Merge,
    )
    .unwrap();
    s.write(
        "v",
        vec![(k.clone(), row(20, &[("a", Value::Int64(2))]))],
        WriteMode::Merge,
    )
    .unwrap();
    let stats = s
        .write(
            "v",
            vec![(k.clone(), row(15, &[("a", Value::Int64(99))]))],
            WriteMode::Merge,
        )
        .unwrap();
    assert_eq!(
        stats,
        WriteStats {
            written: 0,
            stale: 1,
            stale_rows: vec![0],
        }
    );
    let got = s.get_many("v", &[k]).unwrap().remove(0).unwrap();
    assert_eq!(got.event_time.0, 20);
    assert_eq!(got.get("a"), Some(&Value::Int64(2)));
    assert_eq!(got.get("b"), Some(&Value::Int64(1)));
}

#[test]
fn duplicate_keys_in_one_batch_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = EntityKey::Int(7);
    let rows = vec![
        (k.clone(), row(5, &[("a", Value::Int64(5))])),
        (k.clone(), row(9, &[("a", Value::Int64(9))])),
        (k.clone(), row(7, &[("a", Value::Int64(7))])),
    ];
    assert_eq!(
        s.write("v", rows, WriteMode::Merge).unwrap(),
        WriteStats {
            written: 2,
            stale: 1,
            stale_rows: vec![2],
        }
    );
    assert_eq!(
        s.get_many("v", &[k]).unwrap()[0].as_ref().unwrap().get("a"),
        Some(&Value::Int64(9))
    );
}

#[test]
fn overwrite_replaces_rows_and_retain_drops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (a, b) = (EntityKey::Int(1), EntityKey::Int(2));
    let two = vec![
        (
            a.clone(),
            row(10, &[("x", Value::Int64(1)), ("y", Value::Int64(1))]),
        ),
        (b.clone(), row(10, &[])),
    ];
    s.write("v", two, WriteMode::Merge).unwrap();
    s.write(
        "v",
        vec![(a.clone(), row(1, &[("x", Value::Int64(2))]))],
        WriteMode::Overwrite,
    )
    .unwrap();
    assert_eq!(s.retain("v", &HashSet::from([a.clone()])).unwrap(), 1);
    let got = s.get_many("v", &[a, b]).unwrap();
    let a_row = got[0].as_ref().unwrap();
    assert_eq!(
        (a_row.event_time.0, a_row.get("x"), a_row.get("y")),
        (1, Some(&Value::Int64(2)), None)
    );
    assert!(got[1].is_none());
    assert_eq!(s.count("v").unwrap(), 1);
}

#[test]
fn data_survives_reopen_and_unknown_view_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(&dir);
        s.write(
            "v",
            vec![(EntityKey::Int(1), row(1, &[("a", Value::Bool(true))]))],
            WriteMode::Merge,
        )
        .unwrap();
    }
    // Reopened without naming "v": its column family is still there.
    let s = Store::open(dir.path(), ["w"]).unwrap();
    assert_eq!(s.count("v").unwrap(), 1);
    assert!(matches!(
        s.get_many("nope", &[]),
        Err(StoreError::UnknownView { .. })
    ));
}

#[test]
fn dead_letters_are_per_view_and_cleared_by_a_later_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), ["v", "v2"]).unwrap();
    let (a, b) = (EntityKey::Int(1), EntityKey::Str("b".into()));
    let dead = vec![
        (a.clone(), b"a failed".to_vec()),
        (b.clone(), b"b".to_vec()),
    ];
    let also = |dead| Alongside {
        dead,
        offsets: vec![],
    };
    s.write_with("v", vec![], also(dead), WriteMode::Merge, None)
        .unwrap();
    let other = vec![(a.clone(), b"other".to_vec())];
    s.write_with("v2", vec![], also(other), WriteMode::Merge, None)
        .unwrap();
    let listed: Vec<_> = s.dead_letters("v").unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], (a.clone(), b"a failed".to_vec()));
    // A row written for `a` clears its dead letter in the same atomic write.
    s.write("v", vec![(a.clone(), row(1, &[]))], WriteMode::Merge)
        .unwrap();
    assert_eq!(
        s.dead_letters_get("v", &[a.clone(), b.clone()]).unwrap(),
        vec![None, Some(b"b".to_vec())]
    );
    // The other view's dead letter for the same key is untouched.
    assert_eq!(s.dead_letters("v2").unwrap().len(), 1);
    s.dead_letters_remove("v", &[b]).unwrap();
    assert!(s.dead_letters("v").unwrap().is_empty());
}

#[test]
fn a_dead_letter_written_before_the_store_was_opened_is_cleared_by_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let a = EntityKey::Int(1);
    {
        let s = open(&dir);
        let dead = vec![(a.clone(), b"a failed".to_vec())];
        let also = Alongside {
            dead,
            offsets: vec![],
        };
        s.write_with("v", vec![], also, WriteMode::Merge, None)
            .unwrap();
    }
    // Reopened, the store knows of the dead letter only from its files.
    let s = Store::open(dir.path(), ["v", "u"]).unwrap();
    put(&s, "u", 1, 1, 1);
    put(&s, "v", 1, 1, 1);
    assert_eq!(s.dead_letters_get("v", &[a]).unwrap(), vec![None]);
}

#[test]
fn merge_replaces_a_fields_input_digest_with_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = EntityKey::Int(1);
    let mut first = row(1, &[("e", Value::Int64(1)), ("p", Value::Int64(1))]);
    first.inputs = vec![("e".into(), [1; 16])];
    s.write("v", vec![(k.clone(), first)], WriteMode::Merge)
        .unwrap();
    // A plain publish of `p` keeps `e`'s digest; a pre-extracted `e` drops it.
    s.write(
        "v",
        vec![(k.clone(), row(2, &[("p", Value::Int64(2))]))],
        WriteMode::Merge,
    )
    .unwrap();
    let got = s
        .get_many("v", std::slice::from_ref(&k))
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(got.input_digest("e"), Some(&[1; 16]));
    s.write(
        "v",
        vec![(k.clone(), row(3, &[("e", Value::Int64(9))]))],
        WriteMode::Merge,
    )
    .unwrap();
    let got = s.get_many("v", &[k]).unwrap().remove(0).unwrap();
    assert_eq!(got.input_digest("e"), None);
    assert_eq!(got.get("e"), Some(&Value::Int64(9)));
}

#[test]
fn an_overwrite_keeps_keys_others_wrote_while_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let put = |k: i64| put(&s, "v", k, 1, k);
    put(1); // before the publish: the file does not hold it, so it goes
    let tracking = s.track_writes("v");
    put(2); // the publish's own row
    put(3); // a push while the publish runs
    let keep: HashSet<EntityKey> = [EntityKey::Int(2)].into();
    assert_eq!(s.retain("v", &keep).unwrap(), 1);
    drop(tracking);
    let got = s.get_many("v", &[1, 2, 3].map(EntityKey::Int)).unwrap();
    assert_eq!(
        got.iter().map(Option::is_some).collect::<Vec<_>>(),
        [false, true, true]
    );
    // With no publish running, nothing is remembered.
    assert_eq!(s.retain("v", &keep).unwrap(), 1);
}

#[test]
fn compaction_drops_rows_past_twice_the_views_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_with(dir.path(), ["v", "w"], 16).unwrap();
    let now = crate::time::Micros::now().0;
    let hour = 3_600_000_000;
    let rows = || {
        vec![
            (
                EntityKey::Int(1),
                row(now - 3 * hour, &[("a", Value::Int64(1))]),
            ),
            // Expired, but kept for another ttl.
            (
                EntityKey::Int(2),
                row(now - hour * 3 / 2, &[("a", Value::Int64(2))]),
            ),
        ]
    };
    s.write("v", rows(), WriteMode::Merge).unwrap();
    s.write("w", rows(), WriteMode::Merge).unwrap();
    s.set_ttls([("v", std::time::Duration::from_secs(3600))], None);
    s.compact("v").unwrap();
    s.compact("w").unwrap();
    let keys = [EntityKey::Int(1), EntityKey::Int(2)];
    let v = s.get_many("v", &keys).unwrap();
    assert!(v[0].is_none(), "a row past twice the ttl was kept");
    assert!(v[1].is_some(), "a row within twice the ttl was dropped");
    // A view without a ttl keeps everything.
    assert!(s.get_many("w", &keys).unwrap().iter().all(Option::is_some));
    assert!(s.cache_usage() > 0);
}

#[test]
fn compaction_drops_cached_embeddings_past_the_caches_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let now = crate::time::Micros::now();
    let old = crate::time::Micros(now.0 - 2 * 3_600_000_000);
    let (fresh, stale, legacy) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    s.cache_put_at(&[(fresh, &[1.0, 2.0][..])], now).unwrap();
    s.cache_put_at(&[(stale, &[3.0, 4.0][..])], old).unwrap();
    // As written before entries kept their time: the bare vector.
    let cf = s.cf_raw(side::EMBED_CACHE_CF).unwrap();
    let bare: Vec<u8> = [5.0f32, 6.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    s.db.put_cf(&cf, legacy, bare).unwrap();
    let keys = [fresh, stale, legacy];
    let all = s.cache_get(&keys).unwrap();
    assert_eq!(all[1], Some(vec![3.0, 4.0]));
    assert_eq!(all[2], Some(vec![5.0, 6.0]));
    s.set_ttls([], Some(std::time::Duration::from_secs(3600)));
    s.compact_cache().unwrap();
    let kept = s.cache_get(&keys).unwrap();
    assert_eq!(kept[0], Some(vec![1.0, 2.0]));
    assert_eq!(kept[1], None, "a stale embedding was kept");
    assert_eq!(
        kept[2],
        Some(vec![5.0, 6.0]),
        "an entry without a time was dropped"
    );
}

type Fields = Option<Vec<(String, Value)>>;

fn logged(s: &Store, view: &str) -> Vec<(EntityKey, i64, Fields)> {
    (s.log_entries(view).unwrap())
        .map(|e| {
            let e = e.unwrap();
            (e.key, e.event_time.0, e.row.map(|r| r.fields))
        })
        .collect()
}

fn fields(pairs: &[(&str, i64)]) -> Fields {
    Some(
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), Value::Int64(*v)))
            .collect(),
    )
}

#[test]
fn the_log_keeps_merged_rows_backfills_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = EntityKey::Int(1);
    let a = |ts, v| (k.clone(), row(ts, &[("a", Value::Int64(v))]));
    s.write(
        "v",
        vec![(
            k.clone(),
            row(10, &[("a", Value::Int64(1)), ("b", Value::Int64(7))]),
        )],
        WriteMode::Merge,
    )
    .unwrap();
    s.write("v", vec![a(20, 2)], WriteMode::Merge).unwrap();
    // Older than the stored row: skipped online, logged as it came.
    let stats = s.write("v", vec![a(5, 0)], WriteMode::Merge).unwrap();
    assert_eq!(stats.stale, 1);
    put(&s, "v", 2, 1, 9);
    s.retain("v", &[k.clone()].into_iter().collect()).unwrap();
    let log = logged(&s, "v");
    assert_eq!(log[0], (k.clone(), 5, fields(&[("a", 0)])));
    assert_eq!(log[1], (k.clone(), 10, fields(&[("a", 1), ("b", 7)])));
    // The merged row: `b` kept from the earlier event.
    assert_eq!(log[2], (k.clone(), 20, fields(&[("a", 2), ("b", 7)])));
    assert_eq!(log[3], (EntityKey::Int(2), 1, fields(&[("a", 9)])));
    assert_eq!(
        (&log[4].0, &log[4].2),
        (&EntityKey::Int(2), &None),
        "the deletion"
    );
    assert_eq!(log.len(), 5);
}

#[test]
fn as_of_reads_the_latest_event_at_or_before_the_time_within_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = EntityKey::Str("u".into());
    let put = |ts, v| {
        let rows = vec![(k.clone(), row(ts, &[("a", Value::Int64(v))]))];
        s.write("v", rows, WriteMode::Overwrite).unwrap();
    };
    put(10, 1);
    put(20, 2);
    put(20, 3); // the same event time written later wins
    let mut r = s.log_scan("v").unwrap();
    let at = |r: &mut LogScan, t, since: Option<i64>| {
        let got = r.row_as_of(&k, Micros(t), since.map(Micros)).unwrap();
        got.map(|row| row.get("a").cloned().unwrap())
    };
    assert_eq!(at(&mut r, 9, None), None, "nothing before the first event");
    assert_eq!(
        at(&mut r, 10, None),
        Some(Value::Int64(1)),
        "an exact match"
    );
    assert_eq!(at(&mut r, 19, None), Some(Value::Int64(1)));
    assert_eq!(
        at(&mut r, 25, None),
        Some(Value::Int64(3)),
        "the last written of a tie"
    );
    assert_eq!(at(&mut r, 25, Some(21)), None, "older than the ttl");
    assert_eq!(
        at(&mut r, 25, Some(20)),
        Some(Value::Int64(3)),
        "the ttl's edge is in"
    );
    let other = EntityKey::Str("u\0".into());
    assert_eq!(
        r.row_as_of(&other, Micros(25), None).unwrap(),
        None,
        "another key"
    );
}

/// A scan asked in key and time order steps through the log (and seeks
/// past long runs of other keys); asked out of order it seeks back. Either
/// way it answers as a search of every entry does.
#[test]
fn a_scan_answers_as_a_full_search_does_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let mut logged = Vec::new();
    for k in 0..60i64 {
        // Some keys never written; the rest at 5 event times each.
        if k % 7 == 3 {
            continue;
        }
        for e in 0..5 {
            let (ts, v) = (e * 10 + k % 3, k * 100 + e);
            put(&s, "v", k, ts, v);
            logged.push((k, ts, v));
        }
    }
    let expect = |k: i64, t: i64| {
        (logged.iter().filter(|(lk, lt, _)| *lk == k && *lt <= t))
            .max_by_key(|(_, lt, _)| *lt)
            .map(|(.., v)| Value::Int64(*v))
    };
    let mut questions: Vec<(Vec<u8>, i64, i64)> = Vec::new();
    for k in -1..61i64 {
        for t in [-1, 0, 5, 10, 25, 41, 100] {
            let mut key = Vec::new();
            EntityKey::Int(k).encode_prefix_free(&mut key);
            questions.push((key, k, t));
        }
    }
    questions.sort();
    let mut shuffled = questions.clone();
    fastrand::Rng::with_seed(7).shuffle(&mut shuffled);
    for (order, questions) in [("sorted", questions), ("shuffled", shuffled)] {
        let mut scan = s.log_scan("v").unwrap();
        for (key, k, t) in questions {
            let got = scan
                .as_of(&key, Micros(t), None)
                .unwrap()
                .map(|v| StoredRow::decode(v).unwrap().get("a").cloned().unwrap());
            assert_eq!(got, expect(k, t), "{order}: key {k} at {t}");
        }
    }
}

#[test]
fn materialize_rebuilds_the_view_as_of_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let put = |k, ts, v| put(&s, "v", k, ts, v);
    put(1, 10, 1);
    put(1, 30, 3);
    put(2, 40, 4); // after the time: deleted
    put(3, 5, 5);
    s.retain(
        "v",
        &[EntityKey::Int(1), EntityKey::Int(2)].into_iter().collect(),
    )
    .unwrap(); // 3 deleted now, after the time too: restored
    // Written while the log was off: the log knows nothing of it.
    s.set_log_policy(LogPolicy {
        enabled: false,
        ..LogPolicy::default()
    });
    put(9, 1, 9);
    assert!(matches!(
        s.materialize("v", Micros(20)),
        Err(StoreError::LogOff { .. })
    ));
    s.set_log_policy(LogPolicy::default());
    let done = s.materialize("v", Micros(20)).unwrap();
    assert_eq!((done.restored, done.deleted), (2, 1));
    let nine = s.get_many("v", &[EntityKey::Int(9)]).unwrap();
    assert_eq!(
        nine[0].as_ref().unwrap().get("a"),
        Some(&Value::Int64(9)),
        "left as it is"
    );
    let got = s
        .get_many(
            "v",
            &[EntityKey::Int(1), EntityKey::Int(2), EntityKey::Int(3)],
        )
        .unwrap();
    assert_eq!(got[0].as_ref().unwrap().get("a"), Some(&Value::Int64(1)));
    assert!(got[1].is_none());
    assert_eq!(got[2].as_ref().unwrap().get("a"), Some(&Value::Int64(5)));
    assert_eq!(logged(&s, "v").len(), 5, "the log is left as it was");
}

#[test]
fn a_store_with_the_log_off_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    s.set_log_policy(LogPolicy {
        enabled: false,
        ..LogPolicy::default()
    });
    s.write(
        "v",
        vec![(EntityKey::Int(1), row(1, &[]))],
        WriteMode::Merge,
    )
    .unwrap();
    assert!(logged(&s, "v").is_empty());
}

#[test]
fn a_reader_beside_the_owner_sees_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    put(&s, "v", 1, 1, 1);
    let scratch = tempfile::tempdir().unwrap();
    let reader = Store::open_reader(dir.path(), scratch.path()).unwrap();
    let mut log = reader.log_scan("v").unwrap();
    let got = log.row_as_of(&EntityKey::Int(1), Micros(1), None).unwrap();
    assert_eq!(got.unwrap().get("a"), Some(&Value::Int64(1)));
}

#[test]
fn views_added_while_open_keep_their_compaction_filters_alive() {
    // RocksDB holds a raw pointer to a column family's compaction filter:
    // a second family made later rewrites the OPTIONS file, reading the
    // first's, and a compaction calls it.
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    s.set_ttls([("w", std::time::Duration::from_secs(1))], None);
    s.ensure_views(["w"]).unwrap();
    s.ensure_views(["x"]).unwrap();
    for view in ["w", "x"] {
        put(&s, view, 1, 0, 1);
        s.db.flush_cf(&s.cf(view).unwrap()).unwrap();
        s.compact(view).unwrap();
    }
    assert_eq!(s.count("w").unwrap(), 0, "expired: the filter ran");
    assert_eq!(s.count("x").unwrap(), 1);
}

#[test]
fn the_log_is_trimmed_to_its_size_cap_oldest_written_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let big = Value::String("x".repeat(4000));
    for i in 0..200 {
        let rows = vec![(EntityKey::Int(i), row(i, &[("a", big.clone())]))];
        s.write("v", rows, WriteMode::Merge).unwrap();
    }
    s.db.flush_cf(&s.log_cf("v").unwrap()).unwrap();
    s.set_log_policy(LogPolicy {
        enabled: true,
        retention: None,
        max_bytes: Some(1 << 30),
    });
    assert_eq!(s.trim_log().unwrap(), None, "under the cap");
    s.set_log_policy(LogPolicy {
        enabled: true,
        retention: None,
        max_bytes: Some(1000),
    });
    // Every entry was written within this hour: all of it goes, and
    // nothing written after the trim.
    assert!(s.trim_log().unwrap().is_some());
    assert!(logged(&s, "v").is_empty());
    assert_eq!(s.count("v").unwrap(), 200, "the online rows stay");
    s.write(
        "v",
        vec![(EntityKey::Int(7), row(7, &[]))],
        WriteMode::Merge,
    )
    .unwrap();
    s.db.flush_cf(&s.log_cf("v").unwrap()).unwrap();
    s.compact_family(&s.log_cf("v").unwrap());
    assert_eq!(logged(&s, "v").len(), 1, "a later write is kept");
}

#[test]
fn a_store_from_before_the_log_starts_its_log_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(&dir);
        put(&s, "v", 1, 5, 1);
        // As a store written before the log existed: no log family.
        s.db.drop_cf(&log_cf_name("v")).unwrap();
    }
    let s = open(&dir);
    s.seed_logs().unwrap();
    let want = vec![(EntityKey::Int(1), 5, fields(&[("a", 1)]))];
    assert_eq!(logged(&s, "v"), want);
    drop(s);
    let s = open(&dir);
    s.seed_logs().unwrap();
    assert_eq!(logged(&s, "v").len(), 1, "seeded once");
}
