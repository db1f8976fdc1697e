//! The publish progress line (indicatif): rows, rows/s, API calls, retries,
//! cache hits and failures, redrawn after every batch. indicatif draws nothing
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
        let bar = self.bar.clone();
        move |s: &Counts| {
            bar.set_position(s.rows_read);
            let e = &s.embed;
            bar.set_message(format!(
                "| API {} calls, {} retries | cache {} hits | {} reused | {} failed",
                e.requests, e.retries, e.cache_hits, s.reused, s.failed
            ));
        }
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
