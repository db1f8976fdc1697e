//! `stream`: Kafka-protocol topics in and out of a running wafer.
//!
//! A `[[source]]` is consumed partition by partition: each fetch's records
//! are read ([`decode`]), transformed and stored as a push's are, in batches
//! of the view's `batch_size`, and each batch's write carries the
//! partition's next offset ([`crate::store::SourceOffset`]). The broker
//! delivers at least once; the store's effect is exactly once, and a
//! restart resumes where the store stands. A partition fetches its next
//! records while its last ones land, and no further: memory stays bounded
//! however slow the transformations are, and the lag shows.
//!
//! A `[[sink]]` sends every row its views store to a topic ([`sink`]),
//! from an outbox written with the rows, so edge replicas can consume the
//! computed values with `transform = false`.

mod client;
mod consume;
pub mod decode;
mod sink;
mod status;

pub use status::{Board, PartitionStatus, SinkStatus, SourceStatus, StreamsStatus};

use crate::Wafer;
use crate::config::{SourceConfig, StartAt};
use rskafka::client::Client;
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    #[error("{who}: cannot reach brokers {brokers}: {message}")]
    Broker {
        who: String,
        brokers: String,
        message: String,
    },
    #[error("{who}: {message}")]
    Credentials { who: String, message: String },
    #[error("{who}: topic {topic:?}: {message}")]
    Topic {
        who: String,
        topic: String,
        message: String,
    },
    #[error("source {source_name}: view {view} cannot take rows now: {message}")]
    Unavailable {
        source_name: String,
        view: String,
        message: String,
    },
    #[error("source {source_name} partition {partition}: {message}")]
    Store {
        source_name: String,
        partition: i32,
        message: String,
    },
    #[error("{who}: cannot read the outbox: {message}")]
    Outbox { who: String, message: String },
    #[error("no [[source]] named {0:?}")]
    UnknownSource(String),
}

/// First and longest wait between attempts after an error.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// How long a broker may take to answer beyond what a request asks it to
/// wait. The client retries some failures (a broker that went away) for
/// ever; past this, the request is an error the status shows.
const ANSWER_GRACE: Duration = Duration::from_secs(8);

/// `f`'s answer, or a timeout once `wait` and the grace have passed.
async fn answered<T>(
    wait: Duration,
    f: impl std::future::Future<Output = Result<T, rskafka::client::error::Error>>,
) -> Result<T, rskafka::client::error::Error> {
    let answer = tokio::time::timeout(wait + ANSWER_GRACE, f).await;
    answer.unwrap_or(Err(rskafka::client::error::Error::Timeout))
}

/// The running sources and sinks of one config version.
pub struct Streams {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Streams {
    /// Start every source and sink of the config in force.
    pub fn start(wafer: &Wafer, board: &Arc<Board>) -> Streams {
        let config = &wafer.registry().config;
        let sources: Vec<&str> = (config.sources.iter())
            .map(|s| s.name.get_ref().as_str())
            .collect();
        let sinks: Vec<&str> = (config.sinks.iter())
            .map(|s| s.name.get_ref().as_str())
            .collect();
        board.restart(&sources, &sinks);
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        for s in &config.sources {
            let source = Arc::new(s.clone());
            let (w, b, st) = (wafer.clone(), board.clone(), stopped.clone());
            tasks.push(tokio::spawn(run_source(w, source, b, st)));
        }
        for s in &config.sinks {
            let sink = Arc::new(s.clone());
            let (w, b, st) = (wafer.clone(), board.clone(), stopped.clone());
            tasks.push(tokio::spawn(sink::run(w, sink, b, st)));
        }
        Streams { stop, tasks }
    }

    /// Stop fetching and producing; batches already landing land.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Wait `delay`, or less if a stop comes: `true` when it did.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = stop.changed() => true,
        _ = tokio::time::sleep(delay) => *stop.borrow(),
    }
}

/// Connect, find the partitions, and consume each until told to stop;
/// retried with backoff while the brokers cannot be reached.
async fn run_source(
    wafer: Wafer,
    source: Arc<SourceConfig>,
    board: Arc<Board>,
    mut stop: watch::Receiver<bool>,
) {
    let name = source.name.get_ref().clone();
    board.source_started(&name, source.topic.get_ref(), source.view.get_ref());
    let mut delay = RETRY_MIN;
    let (client, partitions) = loop {
        match connect_source(&wafer, &source).await {
            Ok(found) => break found,
            Err(e) => {
                tracing::warn!("{e}");
                board.source_error(&name, Some(e.to_string()));
                if wait_or_stop(&mut stop, delay).await {
                    return;
                }
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    };
    board.source_error(&name, None);
    let client = Arc::new(client);
    let consumers = partitions.into_iter().map(|partition| {
        let c = consume::Consumer {
            wafer: wafer.clone(),
            source: source.clone(),
            client: Some(client.clone()),
            partition,
            board: board.clone(),
            stop: stop.clone(),
        };
        tokio::spawn(c.run())
    });
    for c in consumers.collect::<Vec<_>>() {
        let _ = c.await;
    }
}

/// A client, and the partitions of the source's topic it consumes.
async fn connect_source(
    wafer: &Wafer,
    source: &SourceConfig,
) -> Result<(Client, Vec<i32>), StreamError> {
    let who = format!("source {}", source.name.get_ref());
    let base = wafer.registry().config.base_dir().to_path_buf();
    let client = client::connect(&who, &source.connection(), &base).await?;
    let all = topic_partitions(&who, &client, source.topic.get_ref(), &source.connection()).await?;
    let Some(wanted) = &source.partitions else {
        return Ok((client, all));
    };
    let missing: Vec<&i32> = wanted
        .get_ref()
        .iter()
        .filter(|p| !all.contains(p))
        .collect();
    if !missing.is_empty() {
        let message = format!("has no partition {missing:?} (it has {all:?})");
        return Err(topic_error(&who, source.topic.get_ref(), message));
    }
    Ok((client, wanted.get_ref().clone()))
}

async fn topic_partitions(
    who: &str,
    client: &Client,
    topic: &str,
    conn: &crate::config::KafkaConnection,
) -> Result<Vec<i32>, StreamError> {
    let topics = answered(Duration::ZERO, client.list_topics()).await;
    let topics = topics.map_err(|e| StreamError::Broker {
        who: who.into(),
        brokers: conn.brokers.join(","),
        message: e.to_string(),
    })?;
    let found = topics.into_iter().find(|t| t.name == topic);
    match found {
        Some(t) if !t.partitions.is_empty() => Ok(t.partitions.into_iter().collect()),
        _ => Err(topic_error(who, topic, "does not exist".into())),
    }
}

fn topic_error(who: &str, topic: &str, message: String) -> StreamError {
    StreamError::Topic {
        who: who.into(),
        topic: topic.into(),
        message,
    }
}

/// The offset `at` names in a partition.
async fn resolve(pc: &PartitionClient, at: StartAt) -> Result<i64, rskafka::client::error::Error> {
    match at {
        StartAt::Earliest => earliest(pc).await,
        StartAt::Offset(n) => Ok(n),
        StartAt::Latest => latest(pc, earliest(pc).await?).await,
        StartAt::Time(micros) => {
            let t = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
            let at = answered(Duration::ZERO, pc.get_offset(OffsetAt::Timestamp(t))).await?;
            // Kafka answers -1 when no record is that recent: the end.
            match at {
                0.. => Ok(at),
                _ => latest(pc, earliest(pc).await?).await,
            }
        }
    }
}

async fn earliest(pc: &PartitionClient) -> Result<i64, rskafka::client::error::Error> {
    answered(Duration::ZERO, pc.get_offset(OffsetAt::Earliest)).await
}

/// The partition's end: the high watermark of a fetch from `earliest`, not
/// ListOffsets(latest), which tansu answers wrongly after multi-record
/// batches; with a wait of 1 ms, as tansu answers a wait of 0 with no topic.
async fn latest(pc: &PartitionClient, earliest: i64) -> Result<i64, rskafka::client::error::Error> {
    let fetched = answered(Duration::ZERO, pc.fetch_records(earliest, 1..1, 1));
    Ok(fetched.await?.1)
}

/// A client for `topic`'s `partition`.
async fn partition_client(
    client: &Client,
    topic: &str,
    partition: i32,
) -> Result<PartitionClient, rskafka::client::error::Error> {
    let pc = client.partition_client(topic, partition, UnknownTopicHandling::Retry);
    answered(Duration::ZERO, pc).await
}

impl Wafer {
    /// Each configured source with the offsets the store holds, as a
    /// status with nothing running (what `wafer sources` shows when no
    /// server runs).
    pub fn stored_streams_status(&self) -> Result<StreamsStatus, crate::store::StoreError> {
        let config = &self.registry().config;
        let mut sources = Vec::new();
        for s in &config.sources {
            let offsets = self.store().source_offsets(s.name.get_ref())?;
            let partitions = offsets
                .into_iter()
                .map(|(partition, next)| PartitionStatus {
                    partition,
                    offset: Some(next),
                    high_watermark: None,
                    lag: None,
                    records: 0,
                    rows_per_sec: 0.0,
                    last_error: None,
                });
            sources.push(SourceStatus {
                name: s.name.get_ref().clone(),
                topic: s.topic.get_ref().clone(),
                view: s.view.get_ref().clone(),
                partitions: partitions.collect(),
                error: Some("not running (no server owns the store)".into()),
            });
        }
        Ok(StreamsStatus {
            sources,
            sinks: Vec::new(),
        })
    }

    /// Set every partition of source `name` to start at `to` (its stored
    /// offsets replaced): what `wafer source reset` does. The source is
    /// stopped meanwhile if it runs, and started again after.
    pub async fn reset_source(
        &self,
        name: &str,
        to: StartAt,
    ) -> Result<BTreeMap<i32, i64>, crate::runtime::Error> {
        let source = (self.registry().config.source(name).cloned())
            .ok_or_else(|| StreamError::UnknownSource(name.into()))?;
        let running = self.stop_streams().await;
        let reset = async {
            let offsets = reset_offsets(self, &source, to).await?;
            let (store, n, o) = (self.store().clone(), name.to_string(), offsets.clone());
            let stored = tokio::task::spawn_blocking(move || store.set_source_offsets(&n, &o));
            let stored = stored.await;
            stored.map_err(|e| crate::runtime::Error::Task("reset", e.to_string()))??;
            Ok(offsets)
        };
        let reset = reset.await;
        if running {
            self.start_streams().await;
        }
        reset
    }
}

async fn reset_offsets(
    wafer: &Wafer,
    source: &SourceConfig,
    to: StartAt,
) -> Result<BTreeMap<i32, i64>, StreamError> {
    let (client, partitions) = connect_source(wafer, source).await?;
    let mut offsets = BTreeMap::new();
    let topic = source.topic.get_ref();
    let who = format!("source {}", source.name.get_ref());
    for p in partitions {
        let err = |e: rskafka::client::error::Error| topic_error(&who, topic, e.to_string());
        let pc = partition_client(&client, topic, p).await.map_err(err)?;
        offsets.insert(p, resolve(&pc, to).await.map_err(err)?);
    }
    Ok(offsets)
}
