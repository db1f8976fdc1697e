//! What each source partition and each sink is doing, for `wafer sources`,
//! `GET /admin/sources`, `/metrics` and `/ready`: offsets, high
//! watermarks, lag, throughput and the last error.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far back `rows_per_sec` looks.
const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PartitionStatus {
    pub partition: i32,
    /// The next offset to store (every record before it is in the store).
    pub offset: Option<i64>,
    /// The partition's end, as the broker last said.
    pub high_watermark: Option<i64>,
    /// Records in the topic not yet in the store.
    pub lag: Option<i64>,
    /// Records taken since the server started (a reload or reset keeps
    /// counting).
    pub records: u64,
    pub rows_per_sec: f64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SourceStatus {
    pub name: String,
    pub topic: String,
    pub view: String,
    pub partitions: Vec<PartitionStatus>,
    /// Why the source is not consuming (cannot connect, no such topic).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SinkStatus {
    pub name: String,
    pub topic: String,
    /// Rows written to the topic since the server started.
    pub rows: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StreamsStatus {
    pub sources: Vec<SourceStatus>,
    pub sinks: Vec<SinkStatus>,
}

#[derive(Debug, Default)]
struct Partition {
    offset: Option<i64>,
    high_watermark: Option<i64>,
    records: u64,
    /// (when, records so far), for the rate.
    samples: VecDeque<(Instant, u64)>,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Source {
    topic: String,
    view: String,
    error: Option<String>,
    partitions: BTreeMap<i32, Partition>,
}

/// Every source's and sink's state, updated by their tasks.
#[derive(Debug, Default)]
pub struct Board {
    sources: Mutex<BTreeMap<String, Source>>,
    sinks: Mutex<BTreeMap<String, SinkStatus>>,
}

impl Board {
    fn source<T>(&self, name: &str, f: impl FnOnce(&mut Source) -> T) -> T {
        let mut s = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        f(s.entry(name.to_string()).or_default())
    }

    fn partition<T>(&self, name: &str, p: i32, f: impl FnOnce(&mut Partition) -> T) -> T {
        self.source(name, |s| f(s.partitions.entry(p).or_default()))
    }

    /// A new set of sources and sinks starts (the server starts, reloads,
    /// or a source is reset): forget the old ones' state, but keep the
    /// counts of those still configured, so that their counters only grow
    /// while the server runs.
    pub(super) fn restart(&self, sources: &[&str], sinks: &[&str]) {
        let mut old = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        old.retain(|name, _| sources.contains(&name.as_str()));
        for source in old.values_mut() {
            source.error = None;
            for p in source.partitions.values_mut() {
                *p = Partition {
                    records: p.records,
                    ..Partition::default()
                };
            }
        }
        let mut old = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        old.retain(|name, _| sinks.contains(&name.as_str()));
        for sink in old.values_mut() {
            sink.last_error = None;
        }
    }

    pub(super) fn source_started(&self, name: &str, topic: &str, view: &str) {
        self.source(name, |s| {
            (s.topic, s.view) = (topic.into(), view.into());
        });
    }

    pub(super) fn source_error(&self, name: &str, error: Option<String>) {
        self.source(name, |s| s.error = error);
    }

    pub(super) fn fetched(&self, name: &str, p: i32, next: i64, high_watermark: i64) {
        self.partition(name, p, |s| {
            s.offset = Some(next);
            s.high_watermark = Some(high_watermark);
        });
    }

    pub(super) fn landed(&self, name: &str, p: i32, next: i64, records: u64) {
        self.partition(name, p, |s| {
            s.offset = Some(next);
            s.records += records;
            s.error = None;
            let now = Instant::now();
            s.samples.push_back((now, s.records));
            while s.samples.len() > 2 && now - s.samples[0].0 > RATE_WINDOW {
                s.samples.pop_front();
            }
        });
    }

    pub(super) fn partition_error(&self, name: &str, p: i32, error: String) {
        self.partition(name, p, |s| s.error = Some(error));
    }

    pub(super) fn sink(&self, name: &str, topic: &str, rows: u64, error: Option<String>) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        let s = sinks.entry(name.to_string()).or_insert_with(|| SinkStatus {
            name: name.into(),
            topic: topic.into(),
            rows: 0,
            last_error: None,
        });
        s.topic = topic.into();
        s.rows += rows;
        s.last_error = error;
    }

    pub fn status(&self) -> StreamsStatus {
        let sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        StreamsStatus {
            sources: sources.iter().map(|(n, s)| source_status(n, s)).collect(),
            sinks: sinks.values().cloned().collect(),
        }
    }

    /// Why each degraded source or sink is, one line each.
    pub fn problems(&self) -> Vec<String> {
        let status = self.status();
        let mut out = Vec::new();
        for s in &status.sources {
            out.extend(s.error.as_ref().map(|e| format!("source {}: {e}", s.name)));
            for p in &s.partitions {
                let e = p.last_error.as_ref();
                out.extend(e.map(|e| format!("source {} partition {}: {e}", s.name, p.partition)));
            }
        }
        for s in &status.sinks {
            out.extend(
                s.last_error
                    .as_ref()
                    .map(|e| format!("sink {}: {e}", s.name)),
            );
        }
        out
    }
}

fn source_status(name: &str, s: &Source) -> SourceStatus {
    let partitions = s.partitions.iter().map(|(p, st)| {
        let rate = match (st.samples.front(), st.samples.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) as f64 / (b.0 - a.0).as_secs_f64(),
            _ => 0.0,
        };
        // Idle for a window: nothing is flowing now.
        let idle = st
            .samples
            .back()
            .is_none_or(|b| b.0.elapsed() > RATE_WINDOW);
        PartitionStatus {
            partition: *p,
            offset: st.offset,
            high_watermark: st.high_watermark,
            lag: st
                .offset
                .zip(st.high_watermark)
                .map(|(o, h)| (h - o).max(0)),
            records: st.records,
            rows_per_sec: if idle { 0.0 } else { rate },
            last_error: st.error.clone(),
        }
    });
    SourceStatus {
        name: name.into(),
        topic: s.topic.clone(),
        view: s.view.clone(),
        partitions: partitions.collect(),
        error: s.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_keeps_the_counts_of_what_is_still_configured() {
        let board = Board::default();
        board.source_started("s", "t", "v");
        board.landed("s", 0, 10, 10);
        board.partition_error("s", 0, "broken".into());
        board.landed("gone", 0, 5, 5);
        board.sink("k", "t", 7, Some("down".into()));
        board.sink("old", "t", 1, None);
        board.restart(&["s"], &["k"]);
        let status = board.status();
        let names: Vec<_> = status.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s"]);
        let p = &status.sources[0].partitions[0];
        assert_eq!((p.records, p.offset, &p.last_error), (10, None, &None));
        assert_eq!(status.sinks.len(), 1);
        assert_eq!(
            (status.sinks[0].rows, &status.sinks[0].last_error),
            (7, &None)
        );
        board.sink("k", "t", 3, None);
        assert_eq!(board.status().sinks[0].rows, 10);
    }
}
