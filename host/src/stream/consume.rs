//! One source partition, consumed until a stop: fetch, land, and fetch
//! the next records while the last ones land. Any error (the broker gone,
//! the view unable to take rows, a store write failing) ends the round;
//! the next one starts again from the offset in the store, after a
//! backoff, so nothing is skipped and nothing lands twice.

use super::decode::decode;
use super::{
    Board, RETRY_MAX, RETRY_MIN, StreamError, answered, client, earliest, latest, partition_client,
    resolve, wait_or_stop,
};
use crate::Wafer;
use crate::config::{SourceConfig, StartAt};
use crate::ingest::{WriteSpec, write_records};
use crate::store::{Alongside, SourceOffset, WriteMode};
use crate::time::Micros;
use rskafka::client::Client;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::PartitionClient;
use rskafka::record::RecordAndOffset;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(super) struct Consumer {
    pub wafer: Wafer,
    pub source: Arc<SourceConfig>,
    /// Shared by the source's partitions until a round fails: the next
    /// round connects afresh (a client whose broker went away may not
    /// find it again).
    pub client: Option<Arc<Client>>,
    pub partition: i32,
    pub board: Arc<Board>,
    pub stop: watch::Receiver<bool>,
}

type Landing = JoinHandle<Result<(), StreamError>>;

impl Consumer {
    fn name(&self) -> &str {
        self.source.name.get_ref()
    }

    pub async fn run(mut self) {
        let mut delay = RETRY_MIN;
        loop {
            match self.consume().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("{e}");
                    self.client = None;
                    self.board
                        .partition_error(self.name(), self.partition, e.to_string());
                    if wait_or_stop(&mut self.stop, delay).await {
                        return;
                    }
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// One round, from the stored offset until a stop or an error.
    async fn consume(&mut self) -> Result<(), StreamError> {
        let topic = self.source.topic.get_ref().clone();
        let client = match &self.client {
            Some(c) => c.clone(),
            None => {
                let who = format!("source {} partition {}", self.name(), self.partition);
                let base = self.wafer.registry().config.base_dir().to_path_buf();
                let c = Arc::new(client::connect(&who, &self.source.connection(), &base).await?);
                self.client = Some(c.clone());
                c
            }
        };
        let pc = partition_client(&client, &topic, self.partition).await;
        let pc = pc.map_err(|e| self.broker(e))?;
        let mut next = self.start(&pc).await?;
        let mut landing: Option<Landing> = None;
        let bytes = 1..i32::try_from(*self.source.fetch_max_bytes.get_ref()).unwrap_or(i32::MAX);
        let wait_ms = *self.source.fetch_max_wait_ms.get_ref();
        let wait = i32::try_from(wait_ms).unwrap_or(i32::MAX);
        loop {
            let fetch = pc.fetch_records(next, bytes.clone(), wait);
            let fetched = tokio::select! {
                _ = self.stop.changed() => None,
                r = answered(Duration::from_millis(wait_ms), fetch) => Some(r),
            };
            let fetched = match fetched {
                None => return self.finish(landing).await,
                Some(Err(e)) if out_of_range(&e) => {
                    self.finish(landing.take()).await?;
                    next = self.recover(&pc, next).await?;
                    continue;
                }
                Some(Err(e)) => {
                    self.finish(landing).await?;
                    return Err(self.broker(e));
                }
                Some(Ok(f)) => f,
            };
            let (records, high_watermark) = fetched;
            // One batch lands at a time, in order: memory holds two fetches.
            self.finish(landing.take()).await?;
            self.board
                .fetched(self.name(), self.partition, next, high_watermark);
            let Some(last) = records.last() else { continue };
            next = last.offset + 1;
            landing = Some(self.land(records));
        }
    }

    /// Where this round starts: the stored offset, else the source's `start`.
    async fn start(&self, pc: &PartitionClient) -> Result<i64, StreamError> {
        let store = self.wafer.store().clone();
        let (name, p) = (self.name().to_string(), self.partition);
        let stored = tokio::task::spawn_blocking(move || store.source_offsets(&name))
            .await
            .map_err(|e| self.store_error(e.to_string()))?
            .map_err(|e| self.store_error(e.to_string()))?;
        if let Some(n) = stored.get(&p) {
            return Ok(*n);
        }
        let at = StartAt::parse(self.source.start.get_ref()).unwrap_or(StartAt::Earliest);
        let next = resolve(pc, at).await.map_err(|e| self.broker(e))?;
        let (store, name) = (self.wafer.store().clone(), self.name().to_string());
        tokio::task::spawn_blocking(move || store.start_source_offset(&name, p, next))
            .await
            .map_err(|e| self.store_error(e.to_string()))?
            .map_err(|e| self.store_error(e.to_string()))
    }

    /// The stored offset is outside what the broker keeps: records expired
    /// (go on from the oldest kept) or the topic was recreated (go on from
    /// its end). Either way, said loudly.
    async fn recover(&self, pc: &PartitionClient, next: i64) -> Result<i64, StreamError> {
        let earliest = earliest(pc).await.map_err(|e| self.broker(e))?;
        let to = if next < earliest {
            earliest
        } else {
            latest(pc, earliest).await.map_err(|e| self.broker(e))?
        };
        tracing::warn!(
            "source {} partition {}: offset {next} is no longer in the topic; going on from {to} \
             (records between were deleted by the broker's retention, or the topic was recreated)",
            self.name(),
            self.partition
        );
        Ok(to)
    }

    /// Land `records` on a blocking thread.
    fn land(&self, records: Vec<RecordAndOffset>) -> Landing {
        let (wafer, source, board) = (self.wafer.clone(), self.source.clone(), self.board.clone());
        let partition = self.partition;
        tokio::task::spawn_blocking(move || land(&wafer, &source, partition, records, &board))
    }

    /// Wait for the batch landing, if any; its error ends the round.
    async fn finish(&self, landing: Option<Landing>) -> Result<(), StreamError> {
        match landing {
            None => Ok(()),
            Some(l) => l
                .await
                .unwrap_or_else(|e| Err(self.store_error(format!("a landing task failed: {e}")))),
        }
    }

    fn broker(&self, e: KafkaError) -> StreamError {
        StreamError::Broker {
            who: format!("source {} partition {}", self.name(), self.partition),
            brokers: self.source.connection().brokers.join(","),
            message: e.to_string(),
        }
    }

    fn store_error(&self, message: String) -> StreamError {
        StreamError::Store {
            source_name: self.name().into(),
            partition: self.partition,
            message,
        }
    }
}

fn out_of_range(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::ServerError {
            protocol_error: ProtocolError::OffsetOutOfRange,
            ..
        }
    )
}

/// Read, transform and store `records` in batches of the view's
/// `batch_size`, each write with the offset past its last record. Blocking.
fn land(
    wafer: &Wafer,
    source: &SourceConfig,
    partition: i32,
    records: Vec<RecordAndOffset>,
    board: &Board,
) -> Result<(), StreamError> {
    let (name, view) = (source.name.get_ref(), source.view.get_ref());
    let pipeline =
        wafer
            .pipeline(view, !source.transform)
            .map_err(|e| StreamError::Unavailable {
                source_name: name.clone(),
                view: view.clone(),
                message: e.to_string(),
            })?;
    let input = format!("kafka {}/{partition}", source.topic.get_ref());
    let metric = format!("source {name}");
    let now = Micros::now();
    for chunk in records.chunks(pipeline.view().batch_size.max(1)) {
        let read = decode(chunk, source, pipeline.view(), &input, now);
        let next = chunk.last().map_or(0, |r| r.offset + 1);
        let unreadable = read.dead.len() as u64;
        let offsets = vec![SourceOffset {
            source: name.clone(),
            partition,
            next,
        }];
        let spec = WriteSpec {
            mode: WriteMode::Merge,
            source: Some(&input),
            now,
            also: Alongside {
                dead: read.dead,
                offsets,
            },
        };
        let w = write_records(&pipeline, wafer.store(), read.rows, spec).map_err(|e| {
            StreamError::Store {
                source_name: name.clone(),
                partition,
                message: e.to_string(),
            }
        })?;
        let failed = w.failures.len() as u64 + unreadable;
        wafer
            .metrics()
            .rows(view, &metric, w.written, w.stale, failed);
        board.landed(name, partition, next, chunk.len() as u64);
    }
    Ok(())
}
