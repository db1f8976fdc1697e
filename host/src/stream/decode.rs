//! Stream records into input rows: one JSON object per record, columns as
//! in a JSONL publish, renamed by the source's `columns`. A record without
//! its view's join key takes it from the record's key (a view keyed by
//! several entities needs them all in the record); one without an
//! event time takes the record's timestamp, so the newest event wins
//! across partitions as it does across files. A record that cannot be
//! read becomes a dead letter naming its topic, partition and offset.

use crate::config::{FieldType, SourceConfig};
use crate::ingest::{Record, deadletter};
use crate::registry::View;
use crate::store::EntityKey;
use crate::time::Micros;
use crate::value::{JsonObject, Value};
use rskafka::record::RecordAndOffset;

/// The header a `[[sink]]` names each record's view with: a topic may
/// carry several views, and a source takes its own view's records only.
pub const VIEW_HEADER: &str = "wafer-view";

/// The header naming the layout of a `[[sink]]`'s values, so that a later
/// layout can be told apart; "2": bytes in base64 and non-finite floats by
/// name, as lookups answer them. Sink records without it (written before
/// the header) have the same layout.
pub const FORMAT_HEADER: &str = "wafer-format";
pub const FORMAT: &str = "2";

/// A batch of records, read.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub rows: Vec<Record>,
    /// Dead letters of records that could not be read.
    pub dead: Vec<(EntityKey, Vec<u8>)>,
    /// Records for another view, or tombstones (no value): not for this source.
    pub skipped: u64,
}

/// Read `records` of `partition` for `view`. `input` names the partition
/// in dead letters; `now` is their time.
pub(super) fn decode(
    records: &[RecordAndOffset],
    source: &SourceConfig,
    view: &View,
    input: &str,
    now: Micros,
) -> Decoded {
    let mut out = Decoded::default();
    for r in records {
        let for_other = r.record.headers.get(VIEW_HEADER);
        if for_other.is_some_and(|v| v.as_slice() != view.name.as_bytes()) {
            out.skipped += 1;
            continue;
        }
        let Some(value) = &r.record.value else {
            out.skipped += 1;
            continue;
        };
        match row(r, value, source, view, for_other.is_some()) {
            Ok(record) => out.rows.push(record),
            Err(message) => {
                let key = record_key(r, view)
                    .unwrap_or_else(|| EntityKey::Str(format!("{}@{}", input, r.offset)));
                let line = r.offset as usize;
                let letter = deadletter::unreadable(view, key, input, line, value, message, now);
                out.dead.push(letter);
            }
        }
    }
    out
}

fn row(
    r: &RecordAndOffset,
    value: &[u8],
    source: &SourceConfig,
    view: &View,
    from_sink: bool,
) -> Result<Record, String> {
    let JsonObject(object) = JsonObject::parse(value)?;
    let mut cells = Vec::with_capacity(object.len() + 2);
    for (column, v) in object {
        let column = source.columns.get(&column).cloned().unwrap_or(column);
        let v = sunk(view, &column, v, from_sink).map_err(|e| format!("column `{column}`: {e}"))?;
        cells.push((column, v));
    }
    let has = |c: &str, cells: &[(String, Value)]| cells.iter().any(|(n, _)| n == c);
    if let Some(k) = view.single_key()
        && !has(&k.name, &cells)
        && let Some(key) = record_key(r, view)
    {
        cells.extend(view.key_cells(&key));
    }
    // A row whose key does not read would fail without a dead letter (it
    // has no key to keep one under): here it is one, under its offset.
    view.key_of(|c| cells.iter().find(|(n, _)| n == c).map(|(_, v)| v))?;
    if !has(&view.event_time, &cells) {
        let t = Micros(r.record.timestamp.timestamp_micros());
        cells.push((view.event_time.clone(), Value::String(t.rfc3339())));
    }
    Ok(Record {
        line: r.offset as usize,
        cells,
    })
}

/// A value of a `[[sink]]`'s record: bytes come as base64 text, as
/// lookups answer them (a row's other values read as they are written).
fn sunk(view: &View, column: &str, v: Value, from_sink: bool) -> Result<Value, String> {
    let bytes = view.field(column).is_some_and(|f| f.ty == FieldType::Bytes);
    match v {
        Value::String(t) if from_sink && bytes => crate::value::base64_bytes(&t).map(Value::Bytes),
        v => Ok(v),
    }
}

/// The record's key as `view`'s entity key, when it reads as one. A view
/// keyed by several entities takes its keys from the record's columns.
fn record_key(r: &RecordAndOffset, view: &View) -> Option<EntityKey> {
    let text = std::str::from_utf8(r.record.key.as_deref()?).ok()?;
    let text = Value::String(text.to_string());
    view.single_key()?;
    view.key_of(|_| Some(&text)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::registry::Registry;
    use crate::store::{OutboxEntry, StoredRow};

    /// The unit tests' user × item view, consumed from a topic.
    const SOURCE: &str = "[[source]]\nname = \"ui\"\nbrokers = [\"127.0.0.1:9092\"]\ntopic = \"ui\"\nview = \"ui\"\n";

    fn registry() -> Registry {
        let src = format!("{}{SOURCE}", crate::registry::USER_ITEM_CONFIG);
        Registry::new(Config::parse(std::path::Path::new("wafer.toml"), &src).unwrap())
    }

    fn at(record: rskafka::record::Record, offset: i64) -> RecordAndOffset {
        RecordAndOffset { record, offset }
    }

    #[test]
    fn a_composite_key_reads_back_from_a_sink_record_and_must_be_whole() {
        let registry = registry();
        let (view, source) = (registry.view("ui").unwrap(), &registry.config.sources[0]);
        let key = EntityKey::Composite(vec![EntityKey::Str("u1".into()), EntityKey::Int(7)]);
        let row = StoredRow {
            event_time: Micros(1_000_000),
            fields: vec![("clicks".into(), Value::Int64(3))],
            inputs: Vec::new(),
        };
        let entry = OutboxEntry {
            seq: 1,
            view: "ui".into(),
            key: key.clone(),
            row,
        };
        let sunk = super::super::sink::record(Some(view), &entry, chrono::Utc::now());
        assert_eq!(sunk.key.as_deref(), Some(&br#"["u1",7]"#[..]));
        let mut partial = sunk.clone();
        partial.value = Some(br#"{"user_id": "u1", "clicks": 4}"#.to_vec());
        let got = decode(
            &[at(sunk, 0), at(partial, 1)],
            source,
            view,
            "ui/0",
            Micros(0),
        );
        assert_eq!(got.rows.len(), 1, "{got:?}");
        assert_eq!(view.key_of(|c| got.rows[0].get(c)), Ok(key));
        // The record key does not stand in for a composite key's parts.
        assert_eq!(got.dead.len(), 1, "{got:?}");
        let letter: serde_json::Value = serde_json::from_slice(&got.dead[0].1).unwrap();
        assert!(
            letter["message"]
                .as_str()
                .unwrap()
                .contains("`item_id` is null"),
            "{letter}"
        );
    }

    #[test]
    fn bytes_read_as_their_writer_wrote_them() {
        let registry = registry();
        let (view, source) = (registry.view("ui").unwrap(), &registry.config.sources[0]);
        let record = |headers: &[(&str, &str)]| rskafka::record::Record {
            key: None,
            value: Some(br#"{"user_id": "u", "item_id": 1, "thumb": "00ab"}"#.to_vec()),
            headers: (headers.iter())
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            timestamp: chrono::Utc::now(),
        };
        let records = [
            at(record(&[]), 0),
            at(record(&[(VIEW_HEADER, "ui")]), 1),
            at(record(&[(VIEW_HEADER, "ui"), (FORMAT_HEADER, FORMAT)]), 2),
        ];
        let got = decode(&records, source, view, "ui/0", Micros(0));
        let thumbs: Vec<_> = got.rows.iter().map(|r| r.get("thumb").cloned()).collect();
        assert_eq!(
            thumbs,
            [
                Some(Value::String("00ab".into())),
                Some(Value::Bytes(vec![211, 70, 155])),
                Some(Value::Bytes(vec![211, 70, 155])),
            ],
            "a producer's text; a sink's base64, with the format header or from before it"
        );
    }
}
