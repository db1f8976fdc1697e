//! When to try an embeddings request again, and how long to wait first:
//! exponential backoff with jitter, or the server's own `Retry-After`.

use super::EmbedError;
use std::time::Duration;

/// Exponential backoff with jitter between attempts of one request.
#[derive(Debug, Clone, Copy)]
pub(super) struct RetryPolicy {
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Server-requested waits longer than this are not honoured (the backoff is used).
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

    /// The wait before attempt `attempt + 1`: `initial` doubling to `max`,
    /// scaled by a random 50–100 % so that clients that failed together do
    /// not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1 << attempt.saturating_sub(1).min(20));
        exp.min(self.max).mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// A failed request: the error, and whether trying again may help.
pub(super) struct Failed {
    pub error: EmbedError,
    pub retryable: bool,
    /// The wait the server asked for (`retry-after-ms` or `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Failed {
    pub fn fatal(error: EmbedError) -> Self {
        Failed {
            error,
            retryable: false,
            retry_after: None,
        }
    }
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds; HTTP dates are ignored.
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let num = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
    };
    // try_from: a huge value must not panic; it is ignored like any wait over the cap.
    num("retry-after-ms")
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
        .or_else(|| num("retry-after").and_then(|s| Duration::try_from_secs_f64(s).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let p = RetryPolicy {
            max_attempts: 9,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(4),
        };
        for (attempt, full) in [(1, 500), (2, 1000), (3, 2000), (4, 4000), (8, 4000)] {
            let d = p.backoff(attempt).as_millis() as u64;
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} ms");
        }
    }

    #[test]
    fn retry_after_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut d = HeaderMap::new();
        d.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&d), None);
        d.insert("retry-after", HeaderValue::from_static("1e20"));
        assert_eq!(retry_after(&d), None);
    }
}
