//! Live writes into one view: a bounded queue and the task that drains it.
//! Writes that arrive close together are gathered into one plugin batch (up
//! to the view's `batch_size`, waiting at most `write_linger_ms` for more
//! while fewer writes than last time are back), so a thousand one-row pushes
//! cost about what one thousand-row push costs in plugin calls and
//! embedding requests. The queue is counted in rows: a
//! write that does not fit is refused at once (the server answers 429), so
//! memory stays bounded however slow the transformations are. A write is
//! answered only once its rows are in RocksDB's write-ahead log.

use super::generation::Generation;
use super::{Metrics, WriteError};
use crate::ingest::{Record, RowOutcome, WriteSpec, write_records};
use crate::store::Store;
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
    /// The version of the config in force when the write was accepted: it
    /// lands under that version even if a reload swaps in another meanwhile.
    generation: Arc<Generation>,
    options: WriteOptions,
    reply: Reply,
    /// The job's rows' places in the queue, given back once they are stored.
    places: OwnedSemaphorePermit,
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
    pub(super) fn spawn(
        view: &str,
        settings: Settings,
        store: &Arc<Store>,
        metrics: Arc<Metrics>,
    ) -> Arc<Writer> {
        let (tx, rx) = mpsc::unbounded_channel();
        let store = Arc::downgrade(store);
        let to = Landing {
            view: view.to_string(),
            store,
            metrics,
        };
        let worker = tokio::spawn(drain(to, rx, settings.linger));
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

    /// Queue `records`, to land under `generation`, and wait until they are
    /// stored (or failed).
    pub async fn submit(
        &self,
        generation: Arc<Generation>,
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
            generation,
            options,
            reply,
            places: permit,
        };
        self.tx.send(job).map_err(|_| WriteError::Closed)?;
        answer.await.map_err(|_| WriteError::Closed)?
    }

    /// The drain task, to await once every sender is gone.
    pub(super) fn take_worker(&self) -> Option<JoinHandle<()>> {
        self.worker.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Where a writer's jobs land. The store is held weakly: dropping the
/// runtime closes the store at once, not when the drain task next wakes.
struct Landing {
    view: String,
    store: Weak<Store>,
    /// Rows are counted as they land, once a batch: a write whose client
    /// gave up (a timeout, a closed connection) still lands, and counts.
    metrics: Arc<Metrics>,
}

/// Until every sender is gone: gather jobs into batches and land them.
async fn drain(to: Landing, mut rx: mpsc::UnboundedReceiver<Job>, linger: Duration) {
    let Landing {
        view,
        store,
        metrics,
    } = to;
    // Writers that wait for their answer before they write again come back
    // together: once as many jobs as the last batch had are here, waiting
    // longer only delays them.
    let mut expect = usize::MAX;
    while let Some(first) = rx.recv().await {
        let batch_size = first.generation.batch_size(&view);
        let mut jobs = vec![first];
        gather(&mut rx, &mut jobs, (batch_size, expect), linger).await;
        expect = jobs.len();
        // Jobs land in arrival order; those read alike, under the same
        // version of the config, share batches.
        while !jobs.is_empty() {
            let (options, generation) = (&jobs[0].options, &jobs[0].generation);
            let split = jobs
                .iter()
                .position(|j| j.options != *options || !Arc::ptr_eq(&j.generation, generation))
                .unwrap_or(jobs.len());
            let rest = jobs.split_off(split);
            let Some(store) = store.upgrade() else {
                for job in jobs.into_iter().chain(rest) {
                    let _ = job.reply.send(Err(WriteError::Closed));
                }
                return;
            };
            let (name, metrics) = (view.clone(), metrics.clone());
            let landed =
                tokio::task::spawn_blocking(move || land(&store, &name, jobs, &metrics)).await;
            if let Err(e) = landed {
                tracing::error!("view {view}: a write task failed: {e}");
            }
            jobs = rest;
        }
    }
}

/// Take the jobs already queued, up to `batch_size` rows; then wait for
/// more, up to `linger`, while fewer than `expect` jobs are here.
async fn gather(
    rx: &mut mpsc::UnboundedReceiver<Job>,
    jobs: &mut Vec<Job>,
    (batch_size, expect): (usize, usize),
    linger: Duration,
) {
    let mut rows: usize = jobs.iter().map(|j| j.records.len()).sum();
    let deadline = tokio::time::Instant::now() + linger;
    while rows < batch_size {
        let next = match rx.try_recv() {
            Ok(job) => Some(job),
            Err(_) if linger.is_zero() || jobs.len() >= expect => None,
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

/// A job waiting for its rows to land: where they end among the batch's.
struct Waiting {
    reply: Reply,
    start: usize,
    end: usize,
    places: OwnedSemaphorePermit,
}

/// Land `jobs` (read alike, under one generation) in batches of the view's
/// `batch_size` rows, and answer each job as soon as its last row has
/// landed; a batch that cannot be stored fails the jobs not yet answered.
/// Blocking.
fn land(store: &Store, view: &str, jobs: Vec<Job>, metrics: &Metrics) {
    let generation = jobs[0].generation.clone();
    let options = jobs[0].options.clone();
    let mut records = Vec::new();
    let mut waiting = std::collections::VecDeque::with_capacity(jobs.len());
    for job in jobs {
        let start = records.len();
        records.extend(job.records);
        waiting.push_back(Waiting {
            reply: job.reply,
            start,
            end: records.len(),
            places: job.places,
        });
    }
    let pipeline = match generation.pipeline(view, options.no_transform) {
        Ok(p) => p,
        Err(e) => return fail(waiting, WriteError::Unavailable(view.into(), e)),
    };
    let (batch_size, now) = (pipeline.view().batch_size.max(1), Micros::now());
    let mut outcomes: Vec<RowOutcome> = Vec::with_capacity(records.len());
    let mut rest = records.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<Record> = rest.by_ref().take(batch_size).collect();
        let spec = WriteSpec {
            source: Some(options.source.as_str()),
            now,
            ..WriteSpec::default()
        };
        match write_records(&pipeline, store, batch, spec) {
            Ok(w) => {
                count(metrics, view, &options.source, &w.outcomes);
                outcomes.extend(w.outcomes);
            }
            Err(e) => return fail(waiting, WriteError::Store(view.into(), e.to_string())),
        }
        while waiting.front().is_some_and(|w| w.end <= outcomes.len()) {
            let w = waiting.pop_front().expect("a front");
            let answer = outcomes[w.start..w.end].to_vec();
            // Its places in the queue free up before the writer hears back.
            drop(w.places);
            let _ = w.reply.send(Ok(answer));
        }
    }
}

fn count(metrics: &Metrics, view: &str, source: &str, outcomes: &[RowOutcome]) {
    let n = |f: fn(&RowOutcome) -> bool| outcomes.iter().filter(|r| f(r)).count() as u64;
    let written = n(|r| matches!(r, RowOutcome::Written));
    let stale = n(|r| matches!(r, RowOutcome::Stale));
    let failed = n(|r| matches!(r, RowOutcome::Failed { .. }));
    metrics.rows(view, source, written, stale, failed);
}

fn fail(waiting: std::collections::VecDeque<Waiting>, e: WriteError) {
    for w in waiting {
        drop(w.places);
        let _ = w.reply.send(Err(e.clone()));
    }
}
