//! TLS with rustls when `[server.tls]` names a certificate chain and its
//! private key (PEM files). Handshakes run in tasks of their own, each
//! within a deadline, so a slow or silent client never holds up the accept
//! loop or the clients behind it.

use crate::config::{Config, TlsConfig};
use axum::serve::Listener;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Handshakes under way at once; more connections wait to be accepted.
const HANDSHAKES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls.{key}: cannot read {path}: {message}")]
    Read {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("server.tls: {cert} and {key} do not make a TLS configuration: {source}")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The acceptor for `tls`'s files (relative to the config file).
pub(super) fn acceptor(config: &Config, tls: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let read = |key, path: &std::path::Path, message: String| TlsError::Read {
        key,
        path: path.to_path_buf(),
        message,
    };
    let cert_path = config.resolve(tls.cert_file.get_ref());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect())
        .map_err(|e| read("cert_file", &cert_path, e.to_string()))?;
    if certs.is_empty() {
        return Err(read("cert_file", &cert_path, "no certificate in it".into()));
    }
    let key_path = config.resolve(tls.key_file.get_ref());
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| read("key_file", &key_path, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config_error = |source| TlsError::Config {
        cert: cert_path.clone(),
        key: key_path.clone(),
        source,
    };
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(config_error)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// TCP connections as they finish their TLS handshake.
pub(super) struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    /// Accept on `tcp` (bound to `addr`) and shake hands in the background.
    pub(super) fn spawn(tcp: TcpListener, addr: SocketAddr, acceptor: TlsAcceptor) -> TlsListener {
        let (tx, accepted) = mpsc::channel(64);
        let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(conn) => conn,
                        // Out of file descriptors, say: wait, as axum does.
                        Err(e) => {
                            tracing::warn!("accepting a connection: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    // The server stopped: stop listening.
                    () = tx.closed() => return,
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { accepted, addr }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(conn) => conn,
            // The accept task ends only once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
