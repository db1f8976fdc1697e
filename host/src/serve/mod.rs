//! `serve`: the HTTP server, a thin JSON adapter over the [`Wafer`] runtime.
//! Feast's shapes for reads (`POST /get-online-features`) and writes
//! (`POST /write-to-online-store`, `POST /push`), `GET /health`, `GET /ready`,
//! `GET /metrics` (every route counted and timed), `GET /openapi.json`, and
//! the admin endpoints the CLI uses while a server owns the store (publish,
//! reload, dead letters). Bad input is a 4xx naming the problem, never a 500.

mod admin;
mod answer;
mod auth;
mod cells;
mod conn;
mod df;
pub mod discovery;
mod gate;
mod hot;
mod lists;
mod read;
mod routes;
mod tls;
mod write;

pub use auth::AuthError;
pub use discovery::Discovery;
pub use tls::TlsError;

use crate::runtime::{LookupError, Wafer, WriteError, route_label};
use auth::Guard;
use axum::Json;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::future::Future;

/// What every answered request goes through: counted by its route's
/// pattern (not its path: a view in the path would make a series per
/// view), timed, and with `[server].access_log` logged (never its headers:
/// they carry tokens).
#[derive(Clone)]
struct Tracker {
    wafer: Wafer,
    access_log: bool,
}

async fn track(
    State(t): State<Tracker>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let endpoint = (req.extensions().get::<MatchedPath>()).map(|p| route_label(p.as_str()));
    let method = method_label(req.method());
    let path = t.access_log.then(|| req.uri().path().to_string());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    t.answered(
        (endpoint.unwrap_or("unmatched"), method),
        path,
        started,
        &resp,
    );
    resp
}

impl Tracker {
    /// Count and time `resp`, the answer to `method` on `endpoint` (a
    /// route's pattern) begun at `started`; log it with its `path` if kept.
    fn answered(
        &self,
        (endpoint, method): (&'static str, &'static str),
        path: Option<String>,
        started: std::time::Instant,
        resp: &Response,
    ) {
        let took = started.elapsed();
        let status = resp.status().as_u16();
        (self.wafer.metrics()).http(endpoint, method, status, took);
        if let Some(path) = path {
            let micros = took.as_micros() as u64;
            tracing::info!(target: "wafer::access", method, path, status, micros);
        }
    }
}

/// A method as a metrics label: any name is a valid HTTP method, and each
/// would make series of its own that are never freed.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Serve `wafer` on `listener` until `shutdown` resolves; then stop
/// accepting, finish the requests in flight, land every queued write,
/// flush the store and wait for the plugin compile in flight, if any. While it runs, a discovery file in the store's folder
/// lets `wafer` commands in other processes find it.
pub async fn run(
    wafer: Wafer,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Tokens and TLS first: a server that cannot guard its routes does not start.
    let registry = wafer.registry();
    let guard = Guard::load(&registry.config).map_err(std::io::Error::other)?;
    let tls = registry.config.server.tls.as_ref();
    let acceptor = tls.map(|t| tls::acceptor(&registry.config, t));
    let acceptor = acceptor.transpose().map_err(std::io::Error::other)?;
    let cert_file = tls.map(|t| registry.config.resolve(t.cert_file.get_ref()));
    let addr = listener.local_addr()?;
    // Nothing fails from here on: the discovery file is always withdrawn.
    let discovery = Discovery::announce(&wafer, addr, cert_file)?;
    let guard = guard.with_admin(&discovery.token);
    let warm = wafer.clone();
    let warming = tokio::spawn(async move {
        for (view, why) in warm.warm_up().await {
            tracing::warn!("view {view} takes no transformed writes: {why}");
        }
        // After the plugins compile: a source's first batch does not wait for them.
        warm.start_streams().await;
    });
    let app = routes::app(wafer.clone(), guard);
    let header_timeout = *registry.config.server.header_read_timeout_secs.get_ref();
    let header_timeout = std::time::Duration::from_secs(header_timeout);
    match acceptor {
        None => conn::serve(listener, app, header_timeout, shutdown).await,
        Some(acceptor) => {
            let listener = tls::TlsListener::spawn(listener, addr, acceptor);
            conn::serve(listener, app, header_timeout, shutdown).await
        }
    }
    let closed = wafer.close().await;
    // Closed, the warm-up stops after the view it is at: nothing the
    // server started outlives its run (a compile left going wrote into a
    // folder its owner had removed).
    let _ = warming.await;
    discovery.withdraw();
    closed.map_err(std::io::Error::other)
}

/// An error answer: `{"error": "..."}` with its status (and headers).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Ask the client to retry after `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

pub(crate) fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(json!({"error": self.message}))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        let status = match &e {
            LookupError::UnknownView { .. }
            | LookupError::UnknownFeature { .. }
            | LookupError::UnknownFeatureService(_) => StatusCode::NOT_FOUND,
            LookupError::Store(_) | LookupError::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        let status = match &e {
            WriteError::UnknownView(_) => StatusCode::NOT_FOUND,
            WriteError::TooManyRows { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WriteError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            WriteError::Unavailable(..) | WriteError::Closed => StatusCode::SERVICE_UNAVAILABLE,
            WriteError::Store(..) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let retry_after = matches!(e, WriteError::QueueFull { .. }).then_some(1);
        ApiError {
            status,
            message: e.to_string(),
            retry_after,
        }
    }
}

/// A JSON body as `T`; a 400 naming the member at fault and where.
pub(crate) fn parse<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    // Tracking the path costs every request; only a body that fails needs
    // it, so it is parsed again for the message.
    let plain = serde_json::from_slice(body);
    plain.map_err(|plain| {
        let de = &mut serde_json::Deserializer::from_slice(body);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Err(e) if e.path().to_string() != "." => bad(format!(
                "malformed request body: `{}`: {}",
                e.path(),
                e.inner()
            )),
            _ => bad(format!("malformed request body: {plain}")),
        }
    })
}

/// The request body, refused with a 413 past `server.max_body_mb`.
pub(crate) async fn read_body(
    wafer: &Wafer,
    body: axum::body::Body,
) -> Result<axum::body::Bytes, ApiError> {
    let mb = *wafer.registry().config.server.max_body_mb.get_ref();
    axum::body::to_bytes(body, mb << 20).await.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {mb} MiB (server.max_body_mb) or unreadable: {e}"),
        )
    })
}
