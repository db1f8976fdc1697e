//! The gate before each data and admin handler: a token the route's
//! guard accepts (`auth.rs`), then, for reads and writes, room within the
//! server's limits: at most `max_concurrent_requests` at once (more are
//! shed at once with a 503, not queued without bound, so a flood cannot
//! take the process down) and an answer within `request_timeout_secs`
//! (a lookup stuck inside RocksDB blocks its task, so it is answered when
//! the read returns); both as JSON errors. The token comes first: a
//! request without one takes no place. Health, readiness, metrics and the
//! admin routes are outside the limits: an overloaded server still says
//! so. The body limit is read per request (see `read_body`), as a reload
//! may change it.

use super::ApiError;
use super::auth::Guard;
use crate::config::ServerConfig;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The limits on reads and writes: one count of requests in flight for
/// every route under them.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    permits: Arc<Semaphore>,
    in_flight: usize,
    timeout: Duration,
}

impl Limits {
    pub(super) fn new(server: &ServerConfig) -> Limits {
        let in_flight = *server.max_concurrent_requests.get_ref();
        Limits {
            permits: Arc::new(Semaphore::new(in_flight)),
            in_flight,
            timeout: Duration::from_secs(*server.request_timeout_secs.get_ref()),
        }
    }

    /// `answer`, within the limits: it starts only with a place free and
    /// is cut short past the timeout.
    async fn run(&self, answer: impl Future<Output = Response>) -> Response {
        let Ok(_permit) = self.permits.try_acquire() else {
            let m = format!(
                "over {} requests in flight (server.max_concurrent_requests): retry shortly",
                self.in_flight
            );
            return refused(m);
        };
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(resp) => resp,
            Err(_) => refused(format!(
                "not answered within {} s (server.request_timeout_secs); a write's rows may still land, and retrying it is safe",
                self.timeout.as_secs()
            )),
        }
    }
}

fn refused(message: String) -> Response {
    let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).retry_after(1);
    e.into_response()
}

/// A route's guard, and the limits it is under (none: admin routes).
#[derive(Debug, Clone)]
pub(super) struct Gate {
    pub(super) guard: Guard,
    pub(super) limits: Option<Limits>,
}

impl Gate {
    /// Whether the guard lets a request with `headers` in; if not, why.
    pub(super) fn admit(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        self.guard.admit(headers)
    }

    /// `answer` (of a request admitted), within the gate's limits if any.
    pub(super) async fn run(&self, answer: impl Future<Output = Response>) -> Response {
        match &self.limits {
            Some(limits) => limits.run(answer).await,
            None => answer.await,
        }
    }
}

/// Let a request through to `next` only with a token the gate's guard
/// accepts and room within its limits.
pub(super) async fn gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    if let Err(refused) = gate.admit(req.headers()) {
        return refused.into_response();
    }
    gate.run(next.run(req)).await
}
