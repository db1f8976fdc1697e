//! Live writes into one view: a bounded queue and the task that drains it.
//! Writes that arrive close together are gathered into one plugin batch (up
//! to the view's `batch_size`, waiting at most `write_linger_ms` for more),
//! so a thousand one-row pushes cost about what one thousand-row push costs
//! in plugin calls and embedding requests. The queue is counted in rows: a
//! write that does not fit is refused at once (the server answers 429), so
//! memory stays bounded however slow the transformations are. A write is
//! answered only once its rows are in RocksDB's write-ahead log.

use super::{Inner, WriteError};
use crate::ingest::{Record, RowOutcome, write_records};
use crate::store::WriteMode;
use crate::time::Micros;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

/// How a write's rows are read and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Take transformed fields pre-computed (`<field>_embedding`, else `<field>`).
    pub no_transform: bool,
    /// Named in the dead letters of failed rows, e.g. `POST /push (driver_push)`.
    pub source: String,
}

type Reply = oneshot::Sender<Result<Vec<RowOutcome>, WriteError>>;

struct Job {
    records: Vec<Record>,
    options: WriteOptions,
    reply: Reply,
    /// The job's rows' places in the queue, given back once they are stored.
    _rows: OwnedSemaphorePermit,
}

/// Queue settings, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Settings {
    pub capacity: usize,
    pub linger: Duration,
}

pub(crate) struct Writer {
    view: String,
    tx: mpsc::UnboundedSender<Job>,
    rows: Arc<Semaphore>,
    pub(super) settings: Settings,
    /// The most rows ever waiting at once.
    peak: AtomicUsize,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(super) fn spawn(view: &str, settings: Settings, inner: Weak<Inner>) -> Arc<Writer> {
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = tokio::spawn(drain(view.to_string(), rx, settings.linger, inner));
        Arc::new(Writer {
            view: view.into(),
            tx,
            rows: Arc::new(Semaphore::new(settings.capacity)),
            settings,
            peak: AtomicUsize::new(0),
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Rows accepted and not yet stored.
    pub fn queued(&self) -> usize {
        self.settings.capacity - self.rows.available_permits()
    }

    /// The most rows that were ever queued at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Queue `records` and wait until they are stored (or failed).
    pub async fn submit(
        &self,
        records: Vec<Record>,
        options: WriteOptions,
    ) -> Result<Vec<RowOutcome>, WriteError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let n = u32::try_from(records.len()).unwrap_or(u32::MAX);
        let permit =
            self.rows
                .clone()
                .try_acquire_many_owned(n)
                .map_err(|_| WriteError::QueueFull {
                    view: self.view.clone(),
                    queued: self.queued(),
                    capacity: self.settings.capacity,
                })?;
        self.peak.fetch_max(self.queued(), Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            records,
            options,
            reply,
            _rows: permit,
        };
        self.tx.send(job).map_err(|_| WriteError::Closed)?;
        answer.await.map_err(|_| WriteError::Closed)?
    }

    /// The drain task, to await once every sender is gone.
    pub(super) fn take_worker(&self) -> Option<JoinHandle<()>> {
        self.worker.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Until every sender is gone: gather jobs into batches and land them.
async fn drain(
    view: String,
    mut rx: mpsc::UnboundedReceiver<Job>,
    linger: Duration,
    inner: Weak<Inner>,
) {
    while let Some(first) = rx.recv().await {
        let Some(inner) = inner.upgrade() else {
            let _ = first.reply.send(Err(WriteError::Closed));
            continue;
        };
        let batch_size = inner.batch_size(&view);
        let mut jobs = vec![first];
        gather(&mut rx, &mut jobs, batch_size, linger).await;
        // Jobs land in arrival order; those read alike share batches.
        while !jobs.is_empty() {
            let options = jobs[0].options.clone();
            let split = jobs
                .iter()
                .position(|j| j.options != options)
                .unwrap_or(jobs.len());
            let rest = jobs.split_off(split);
            land(&inner, &view, jobs, options, batch_size).await;
            jobs = rest;
        }
    }
}

/// Take more jobs until `batch_size` rows are waiting or `linger` has passed.
async fn gather(
    rx: &mut mpsc::UnboundedReceiver<Job>,
    jobs: &mut Vec<Job>,
    batch_size: usize,
    linger: Duration,
) {
    let mut rows: usize = jobs.iter().map(|j| j.records.len()).sum();
    let deadline = tokio::time::Instant::now() + linger;
    while rows < batch_size {
        let next = match rx.try_recv() {
            Ok(job) => Some(job),
            Err(_) if linger.is_zero() => None,
            Err(_) => tokio::time::timeout_at(deadline, rx.recv())
                .await
                .ok()
                .flatten(),
        };
        let Some(job) = next else { break };
        rows += job.records.len();
        jobs.push(job);
    }
}

/// Land `jobs` (all read the same way) in batches of `batch_size` rows and
/// answer each with its rows' outcomes.
async fn land(
    inner: &Arc<Inner>,
    view: &str,
    jobs: Vec<Job>,
    options: WriteOptions,
    batch_size: usize,
) {
    let sizes: Vec<usize> = jobs.iter().map(|j| j.records.len()).collect();
    let mut replies = Vec::with_capacity(jobs.len());
    let mut records = Vec::with_capacity(sizes.iter().sum());
    for job in jobs {
        records.extend(job.records);
        // The permit goes back once the rows are stored: the job is dropped after the write.
        replies.push((job.reply, job._rows));
    }
    let (inner2, view2) = (inner.clone(), view.to_string());
    let landed = tokio::task::spawn_blocking(move || {
        let generation = inner2.generation();
        let pipeline = generation
            .pipeline(&view2, options.no_transform)
            .map_err(|e| WriteError::Unavailable(view2.clone(), e))?;
        let now = Micros::now();
        let mut outcomes = Vec::with_capacity(records.len());
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let chunk: Vec<Record> = records.by_ref().take(batch_size.max(1)).collect();
            let w = write_records(
                &pipeline,
                &inner2.store,
                chunk,
                WriteMode::Merge,
                Some(&options.source),
                now,
            )
            .map_err(|e| WriteError::Store(view2.clone(), e.to_string()))?;
            outcomes.extend(w.outcomes);
        }
        Ok(outcomes)
    })
    .await
    .unwrap_or_else(|e| {
        Err(WriteError::Store(
            view.to_string(),
            format!("write task failed: {e}"),
        ))
    });
    answer(replies, &sizes, landed);
}

/// Hand each job its slice of the outcomes (or the error that stopped them).
fn answer(
    replies: Vec<(Reply, OwnedSemaphorePermit)>,
    sizes: &[usize],
    landed: Result<Vec<RowOutcome>, WriteError>,
) {
    match landed {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for ((reply, permit), n) in replies.into_iter().zip(sizes) {
                drop(permit);
                let _ = reply.send(Ok(outcomes.by_ref().take(*n).collect()));
            }
        }
        Err(e) => {
            for (reply, permit) in replies {
                drop(permit);
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
