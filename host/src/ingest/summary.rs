//! A publish's summary: counts, failures with their lines and reasons,
//! embedding work and time, and how it prints at the end of `wafer publish`.

use super::Failure;
use crate::embed::EmbedStats;
use std::time::Duration;

/// What a publish or a dead-letter retry did. Serializable: a running
/// server sends it to the CLI that asked for the publish.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub view: String,
    pub rows_read: u64,
    pub written: u64,
    pub stale: u64,
    pub deleted: u64,
    pub failures: Vec<Failure>,
    /// Failed rows kept as dead letters (those with a readable key).
    pub dead_lettered: u64,
    /// Transformed values reused because their inputs had not changed.
    pub reused: u64,
    pub plugin_time: Duration,
    pub store_time: Duration,
    pub total_time: Duration,
    /// Embedding work during the publish (process-wide counters' deltas).
    pub embed: EmbedStats,
    pub notes: Vec<String>,
}

/// A publish's running counts, reported after each batch (the failures
/// themselves wait for the summary).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub rows_read: u64,
    pub failed: u64,
    pub reused: u64,
    pub embed: EmbedStats,
}

impl Summary {
    pub fn progress(&self) -> Progress {
        Progress {
            rows_read: self.rows_read,
            failed: self.failed(),
            reused: self.reused,
            embed: self.embed,
        }
    }

    pub fn failed(&self) -> u64 {
        self.failures.len() as u64
    }

    /// Fold in the summary of another run over the same view.
    pub(super) fn add(&mut self, o: Summary) {
        self.rows_read += o.rows_read;
        self.written += o.written;
        self.stale += o.stale;
        self.deleted += o.deleted;
        self.failures.extend(o.failures);
        self.failures.sort_by_key(|f| f.line);
        self.dead_lettered += o.dead_lettered;
        self.reused += o.reused;
        self.plugin_time += o.plugin_time;
        self.store_time += o.store_time;
        self.embed = EmbedStats {
            requests: self.embed.requests + o.embed.requests,
            retries: self.embed.retries + o.embed.retries,
            cache_hits: self.embed.cache_hits + o.embed.cache_hits,
            cache_misses: self.embed.cache_misses + o.embed.cache_misses,
            truncated: self.embed.truncated + o.embed.truncated,
            chunked: self.embed.chunked + o.embed.chunked,
        };
        self.notes.extend(o.notes);
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "published view {}", self.view)?;
        writeln!(f, "  rows read     {}", self.rows_read)?;
        writeln!(f, "  written       {}", self.written)?;
        writeln!(
            f,
            "  stale skipped {} (the store held a newer event)",
            self.stale
        )?;
        if self.deleted > 0 {
            writeln!(
                f,
                "  deleted       {} (overwrite: keys not in the input)",
                self.deleted
            )?;
        }
        if self.reused > 0 {
            writeln!(
                f,
                "  unchanged     {} transformed values reused (inputs as last published)",
                self.reused
            )?;
        }
        writeln!(f, "  failed        {}", self.failed())?;
        for fl in self.failures.iter().take(20) {
            let key = fl
                .key
                .as_ref()
                .map(|k| format!(" key {k}"))
                .unwrap_or_default();
            writeln!(f, "    line {}{key}: {}", fl.line, fl.message)?;
        }
        if self.failures.len() > 20 {
            writeln!(f, "    ... and {} more", self.failures.len() - 20)?;
        }
        if self.dead_lettered > 0 {
            writeln!(
                f,
                "  dead-lettered {} (see `wafer deadletter list --view {}`)",
                self.dead_lettered, self.view
            )?;
        }
        let e = &self.embed;
        if e.requests + e.cache_hits + e.cache_misses > 0 {
            writeln!(
                f,
                "  embeddings    {} requests ({} retries), cache {} hits / {} misses",
                e.requests, e.retries, e.cache_hits, e.cache_misses
            )?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "  time          {:.1} ms (plugins {:.1} ms, store {:.1} ms)",
            ms(self.total_time),
            ms(self.plugin_time),
            ms(self.store_time)
        )
    }
}
