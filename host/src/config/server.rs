//! `[server]`: where the HTTP server listens, its limits,
//! `[server.auth]`, where its bearer tokens come from (never the config
//! text itself), and `[server.tls]`, its certificate.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest number of entity keys one lookup request may ask for.
    pub max_keys_per_request: usize,
    /// Most rows one write or push request may carry.
    pub max_rows_per_write: Spanned<usize>,
    /// Largest request body, in MiB (a 10,000-row push of 384-d vectors is about 40).
    pub max_body_mb: Spanned<usize>,
    /// Per view: rows accepted by writes and not yet stored. A write that
    /// would pass it is answered 429 with `Retry-After`: memory stays bounded
    /// however slow the view's transformations are.
    pub write_queue_rows: Spanned<usize>,
    /// How long a write waits for others to share its plugin batch (and its
    /// embedding requests) when the batch is not full; 0 = never wait.
    pub write_linger_ms: Spanned<u64>,
    /// Reads and writes handled at once; more are answered 503 at once
    /// rather than queued without bound.
    pub max_concurrent_requests: Spanned<usize>,
    /// A read or write not answered within this is answered 503 (a write's
    /// rows may still land: retrying it is safe).
    pub request_timeout_secs: Spanned<u64>,
    /// A connection that sends no complete request head within this long
    /// (from when it opened, or since its last answer) is closed: a stalled
    /// or slow client, or an idle keep-alive connection, does not hold a
    /// task and a file descriptor for ever.
    pub header_read_timeout_secs: Spanned<u64>,
    /// Log each request (method, path, status, time) at info level under
    /// the `wafer::access` target; never its headers or body.
    pub access_log: bool,
    pub auth: Option<AuthConfig>,
    pub tls: Option<TlsConfig>,
}

/// `[server.tls]`: serve HTTPS with this certificate chain and private key
/// (PEM files, relative to the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: Spanned<PathBuf>,
    pub key_file: Spanned<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            // Feast's feature server port.
            listen: SocketAddr::from(([127, 0, 0, 1], 6566)),
            max_keys_per_request: 10_000,
            max_rows_per_write: Spanned::new(0..0, 10_000),
            max_body_mb: Spanned::new(0..0, 64),
            write_queue_rows: Spanned::new(0..0, 10_000),
            write_linger_ms: Spanned::new(0..0, 2),
            max_concurrent_requests: Spanned::new(0..0, 1024),
            // As long as a plugin call may take: a large write through a
            // rate-limited embedding API is not cut off by default.
            request_timeout_secs: Spanned::new(0..0, 300),
            // Under nginx's keep-alive default (75 s), over hyper's (30 s):
            // a pooled client's idle connection outlives a pause.
            header_read_timeout_secs: Spanned::new(0..0, 60),
            access_log: false,
            auth: None,
            tls: None,
        }
    }
}

/// `[server.auth]`: bearer tokens, each from an environment variable or a
/// file (a mounted secret). With a write token, writes need it; with a read
/// token, reads need it or the write token. An endpoint with no token set
/// stays open.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub read_token_env: Option<Spanned<String>>,
    /// Relative to the config file.
    pub read_token_file: Option<Spanned<PathBuf>>,
    pub write_token_env: Option<Spanned<String>>,
    pub write_token_file: Option<Spanned<PathBuf>>,
}
