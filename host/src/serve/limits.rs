//! The server's limits on reads and writes, as tower layers: at most
//! `max_concurrent_requests` at once (more are shed at once with a 503,
//! not queued without bound, so a flood cannot take the process down) and
//! an answer within `request_timeout_secs`. Both as JSON errors. Health,
//! readiness, metrics and admin routes are outside them: an overloaded
//! server still says so. The body limit is read per request (see
//! `read_body`), as a reload may change it.

use super::ApiError;
use crate::config::ServerConfig;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::time::Duration;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};

pub(super) fn limited<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    server: &ServerConfig,
) -> Router<S> {
    let in_flight = *server.max_concurrent_requests.get_ref();
    let timeout = Duration::from_secs(*server.request_timeout_secs.get_ref());
    routes.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |e: BoxError| async move {
                refused(e, in_flight, timeout).into_response()
            }))
            .load_shed()
            // One semaphore for every route: axum layers each route apart.
            .layer(GlobalConcurrencyLimitLayer::new(in_flight))
            .timeout(timeout),
    )
}

fn refused(e: BoxError, in_flight: usize, timeout: Duration) -> ApiError {
    let message = if e.is::<tower::load_shed::error::Overloaded>() {
        format!(
            "over {in_flight} requests in flight (server.max_concurrent_requests): retry shortly"
        )
    } else if e.is::<tower::timeout::error::Elapsed>() {
        format!(
            "not answered within {} s (server.request_timeout_secs); a write's rows may still land, and retrying it is safe",
            timeout.as_secs()
        )
    } else {
        format!("the request failed: {e}")
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).retry_after(1)
}
