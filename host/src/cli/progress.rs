//! The progress line of a publish or an export (indicatif): rows, rows/s
//! and the job's counts (API calls, retries, cache hits, failures; values
//! found), redrawn after every batch. indicatif draws nothing
//! when stderr is not a terminal, so logs and CI output stay clean.

use crate::ingest::Progress as Counts;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(what: &str) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{elapsed_precise}] {pos} rows ({per_sec}) {msg}",
            )
            .expect("the template is valid"),
        );
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// A callback for each batch's running counts (a local publish or retry,
    /// or one the server runs).
    pub fn on_batch(&self) -> impl FnMut(&Counts) + Send + 'static {
        self.on_rows(|s: &Counts| {
            let e = &s.embed;
            let message = format!(
                "| API {} calls, {} retries | cache {} hits | {} reused | {} failed",
                e.requests, e.retries, e.cache_hits, s.reused, s.failed
            );
            (s.rows_read, message)
        })
    }

    /// A callback for any job's running state: the rows done so far and
    /// what follows them on the line.
    pub fn on_rows<T>(
        &self,
        show: impl Fn(&T) -> (u64, String) + Send + 'static,
    ) -> impl FnMut(&T) + Send + 'static {
        let bar = self.bar.clone();
        move |t: &T| {
            let (rows, message) = show(t);
            bar.set_position(rows);
            bar.set_message(message);
        }
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
