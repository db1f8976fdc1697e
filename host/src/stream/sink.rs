//! A `[[sink]]`: every row its views store goes to its topic, keyed by
//! the entity key, as computed values (a JSON object in a JSONL publish's
//! shape, the view named in the `wafer-view` header). Rows come from the
//! store's outbox, written with them; an entry leaves it once the topic
//! has taken it. Delivery is at least once; replicas merge by event time,
//! so a row sent twice changes nothing.

use super::decode::{FORMAT, FORMAT_HEADER, VIEW_HEADER};
use super::{
    Board, RETRY_MAX, RETRY_MIN, StreamError, answered, client, partition_client, topic_partitions,
    wait_or_stop,
};
use crate::Wafer;
use crate::config::SinkConfig;
use crate::registry::View;
use crate::store::{EntityKey, OutboxEntry};
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

/// Outbox entries sent per round (one produce request per partition).
const ROUND: usize = 2000;

pub(super) async fn run(
    wafer: Wafer,
    sink: Arc<SinkConfig>,
    board: Arc<Board>,
    mut stop: watch::Receiver<bool>,
) {
    let (name, topic) = (sink.name.get_ref(), sink.topic.get_ref());
    board.sink(name, topic, 0, None);
    let mut delay = RETRY_MIN;
    loop {
        match send(&wafer, &sink, &board, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!("{e}");
                board.sink(name, topic, 0, Some(e.to_string()));
                if wait_or_stop(&mut stop, delay).await {
                    return;
                }
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Connect, then send the outbox as it fills until a stop or an error.
async fn send(
    wafer: &Wafer,
    sink: &SinkConfig,
    board: &Board,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), StreamError> {
    let (name, topic) = (sink.name.get_ref(), sink.topic.get_ref());
    let who = format!("sink {name}");
    let base = wafer.registry().config.base_dir().to_path_buf();
    let conn = sink.connection();
    let client = client::connect(&who, &conn, &base).await?;
    let mut partitions = Vec::new();
    for p in topic_partitions(&who, &client, topic, &conn).await? {
        let pc = partition_client(&client, topic, p).await;
        partitions.push(pc.map_err(|e| broker(&who, &conn, e))?);
    }
    board.sink(name, topic, 0, None);
    let store = wafer.store().clone();
    loop {
        // Armed before the outbox is read: a write in between still wakes it.
        let changed = store.outbox_changed().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let (s, n) = (store.clone(), name.clone());
        let entries = tokio::task::spawn_blocking(move || s.outbox(&n, ROUND)).await;
        let entries = entries
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|message| StreamError::Outbox {
                who: who.clone(),
                message,
            })?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                _ = &mut changed => continue,
                // A write the notification missed is sent within a second.
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
            }
        };
        let sent = produce(wafer, &partitions, &entries).await;
        sent.map_err(|e| broker(&who, &conn, e))?;
        let (s, n) = (store.clone(), name.clone());
        let removed = tokio::task::spawn_blocking(move || s.outbox_remove(&n, last)).await;
        if let Ok(Err(e)) = removed {
            // Sent but still in the outbox: sent again later, harmlessly.
            tracing::warn!("{who}: cannot clear the outbox: {e}");
        }
        board.sink(name, topic, entries.len() as u64, None);
        if *stop.borrow() {
            return Ok(());
        }
    }
}

/// One produce request per partition, all at once.
async fn produce(
    wafer: &Wafer,
    partitions: &[PartitionClient],
    entries: &[OutboxEntry],
) -> Result<(), rskafka::client::error::Error> {
    let registry = wafer.registry();
    let mut by_partition: BTreeMap<usize, Vec<Record>> = BTreeMap::new();
    let now = chrono::Utc::now();
    for e in entries {
        // A view no longer configured: its rows are sent under its name, unkeyed columns.
        let record = record(registry.view(&e.view), e, now);
        let key = record.key.as_deref().unwrap_or_default();
        let p = partition_of(key, partitions.len());
        by_partition.entry(p).or_default().push(record);
    }
    let sends = by_partition.into_iter().map(|(p, records)| {
        let sent = partitions[p].produce(records, Compression::NoCompression);
        answered(std::time::Duration::ZERO, sent)
    });
    for r in futures_util::future::join_all(sends).await {
        r?;
    }
    Ok(())
}

pub(super) fn record(
    view: Option<&View>,
    e: &OutboxEntry,
    now: chrono::DateTime<chrono::Utc>,
) -> Record {
    let mut object = crate::value::cells_to_json(&e.row.fields);
    let event_time = match view {
        Some(v) => {
            object.extend(crate::value::cells_to_json(&v.key_cells(&e.key)));
            v.event_time.as_str()
        }
        // A view gone since the write: its key under a neutral name.
        None => {
            object.insert(
                "key".into(),
                serde_json::to_value(&e.key).expect("keys serialize"),
            );
            "event_time"
        }
    };
    object.insert(event_time.into(), e.row.event_time.rfc3339().into());
    // The record key places an entity in one partition: its text for one
    // join key, the JSON list of its parts for several.
    let key = match &e.key {
        EntityKey::Int(i) => i.to_string(),
        EntityKey::Str(s) => s.clone(),
        parts => serde_json::to_string(parts).expect("keys serialize"),
    };
    Record {
        key: Some(key.into_bytes()),
        value: Some(serde_json::to_vec(&object).expect("rows serialize")),
        headers: BTreeMap::from([
            (VIEW_HEADER.to_string(), e.view.clone().into_bytes()),
            (FORMAT_HEADER.to_string(), FORMAT.as_bytes().to_vec()),
        ]),
        timestamp: now,
    }
}

/// Kafka's default partitioner (murmur2 of the key, made positive, modulo
/// the partition count), so that wafer and any Java or librdkafka producer
/// writing the same keys to the feature topic agree on where each key
/// lives; compaction keeps one row per key only within a partition.
fn partition_of(key: &[u8], partitions: usize) -> usize {
    (murmur2(key) & 0x7fff_ffff) as usize % partitions.max(1)
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): no
/// crate offers this exact variant and seed.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes(c.try_into().expect("4 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

fn broker(
    who: &str,
    conn: &crate::config::KafkaConnection,
    e: rskafka::client::error::Error,
) -> StreamError {
    StreamError::Broker {
        who: who.into(),
        brokers: conn.brokers.join(","),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest / the Java client's partitioner.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
    }
}
