//! How `wafer` commands find the server that owns a store: while it runs, a
//! server keeps `wafer-server.json` in the store's folder with its process
//! id, its URL and a token for the endpoints that read files on the server's
//! machine (`/admin/publish`). The file is readable by its owner only, like
//! the store itself; a server that died without removing it is recognised
//! by its process being gone or its URL not answering.

use crate::runtime::Wafer;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const FILE: &str = "wafer-server.json";

/// `Debug` hides the token: it may do anything on the server.
#[derive(Clone, Serialize, Deserialize)]
pub struct Discovery {
    pub pid: u32,
    /// Where to reach it, e.g. `http://127.0.0.1:6566`.
    pub url: String,
    /// Bearer token for `/admin/publish`.
    pub token: String,
    /// With TLS: the certificate chain it serves (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(skip)]
    path: PathBuf,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("pid", &self.pid)
            .field("url", &self.url)
            .field("token", &"<hidden>")
            .field("cert_file", &self.cert_file)
            .finish()
    }
}

impl Discovery {
    /// Write the file for a server listening on `addr`, over TLS with the
    /// chain in `cert_file` if given.
    pub(super) fn announce(
        wafer: &Wafer,
        addr: SocketAddr,
        cert_file: Option<PathBuf>,
    ) -> std::io::Result<Discovery> {
        // A server on every interface is reached locally on loopback.
        let host = match addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
            ip if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let d = Discovery {
            pid: std::process::id(),
            url: format!(
                "{}://{host}:{}",
                if cert_file.is_some() { "https" } else { "http" },
                addr.port()
            ),
            token: token()?,
            cert_file: cert_file.map(|f| std::path::absolute(&f).unwrap_or(f)),
            path: wafer.store().path().join(FILE),
        };
        let tmp = d.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(&serde_json::to_vec(&d).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &d.path)?;
        Ok(d)
    }

    /// Remove the file (the server has stopped).
    pub(super) fn withdraw(&self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", self.path.display());
        }
    }

    /// The server announced for the store at `store`, if its process still
    /// runs. Whether it answers is for the caller to find out.
    pub fn find(store: &Path) -> Option<Discovery> {
        let path = store.join(FILE);
        let bytes = std::fs::read(&path).ok()?;
        let d: Discovery = serde_json::from_slice(&bytes).ok()?;
        alive(d.pid).then_some(Discovery { path, ..d })
    }
}

#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Elsewhere the URL is the test: a dead server does not answer.
#[cfg(not(target_os = "linux"))]
fn alive(_pid: u32) -> bool {
    true
}

/// 32 bytes from the operating system's generator, as hex.
fn token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
