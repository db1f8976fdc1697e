//! Client-side rate limits of one `[[llm]]`: requests and tokens per minute,
//! shared by every view and plugin using it, so a big publish stays inside
//! the provider's quota instead of learning it from 429s.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

#[derive(Debug, Default)]
pub struct RateLimits {
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<DefaultDirectRateLimiter>,
}

impl RateLimits {
    pub fn new(requests_per_minute: Option<u32>, tokens_per_minute: Option<u32>) -> Self {
        let limiter =
            |n: Option<u32>| NonZeroU32::new(n?).map(|n| RateLimiter::direct(Quota::per_minute(n)));
        RateLimits {
            requests: limiter(requests_per_minute),
            tokens: limiter(tokens_per_minute),
        }
    }

    /// Wait until one request of `tokens` tokens may be sent.
    pub async fn acquire(&self, tokens: usize) {
        if let Some(r) = &self.requests {
            r.until_ready().await;
        }
        if let Some(t) = &self.tokens {
            // A request bigger than a minute's budget waits for a whole minute's.
            let n = u32::try_from(tokens).unwrap_or(u32::MAX).max(1);
            let mut n = NonZeroU32::new(n).expect("at least 1");
            while let Err(e) = t.until_n_ready(n).await {
                n = NonZeroU32::new(e.0).unwrap_or(NonZeroU32::MIN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn requests_beyond_the_burst_wait() {
        // 120 per minute: a burst of 120, then one every 0.5 s.
        let l = RateLimits::new(Some(120), None);
        let t = Instant::now();
        for _ in 0..121 {
            l.acquire(1).await;
        }
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn an_oversized_request_takes_the_whole_budget() {
        use futures_util::FutureExt;
        let l = RateLimits::new(None, Some(6000));
        let t = Instant::now();
        // A full budget is there: the first poll grants it, without waiting.
        assert!(l.acquire(10_000).now_or_never().is_some());
        l.acquire(100).await; // 100 tokens at 100/s
        assert!(
            t.elapsed() >= Duration::from_millis(800),
            "{:?}",
            t.elapsed()
        );
    }
}
