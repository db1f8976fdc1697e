//! Commands through the server that owns the store: found by its discovery
//! file, checked to serve this very store, then asked over HTTP — the
//! Feast endpoint for lookups, the admin endpoints for the rest.

use crate::ingest::{DeadLetter, Progress, PublishRequest, Summary};
use crate::serve::Discovery;
use crate::store::Materialized;
use crate::time::Micros;
use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

pub struct Remote {
    url: String,
    token: String,
    http: reqwest::Client,
}

/// The server's `/admin/status`.
async fn status(http: &reqwest::Client, url: &str) -> reqwest::Result<Value> {
    let status_url = format!("{url}/admin/status");
    let resp = http.get(status_url).timeout(STATUS_TIMEOUT).send().await?;
    resp.json().await
}

/// A client for the server `d` announces. Over TLS on loopback the
/// certificate is not checked: it names the server's public address, and
/// the token already goes to whatever owns that loopback port, as it does
/// over plain HTTP. Elsewhere the server's own chain is the trusted root.
fn client(d: &Discovery) -> Option<reqwest::Client> {
    let mut b = reqwest::Client::builder();
    if let Some(cert) = &d.cert_file {
        let url = reqwest::Url::parse(&d.url).ok()?;
        let host = url.host_str()?.trim_matches(['[', ']']);
        let loopback = host == "localhost"
            || (host.parse::<std::net::IpAddr>()).is_ok_and(|ip| ip.is_loopback());
        if loopback {
            b = b.danger_accept_invalid_certs(true);
        } else {
            let certs = std::fs::read(cert)
                .map_err(|e| e.to_string())
                .and_then(|pem| {
                    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string())
                });
            match certs {
                Ok(certs) => {
                    for c in certs {
                        b = b.add_root_certificate(c);
                    }
                }
                Err(e) => {
                    // Else the command would say no server runs.
                    tracing::warn!("the server's certificate {}: {e}", cert.display());
                    return None;
                }
            }
        }
    }
    b.build().ok()
}

/// How long a command waits for the server that owns its store to answer
/// before it gives up, when that server is alive but slow (a loaded
/// machine): the store is the server's, so opening it here instead could
/// only fail on its lock.
const OWNER_PATIENCE: Duration = Duration::from_secs(60);

/// One `/admin/status` call's deadline.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

impl Remote {
    /// The server announced in `store`, if one runs and answers for that
    /// store; an error if it runs but does not answer within
    /// [`OWNER_PATIENCE`].
    pub async fn find(store: &Path) -> anyhow::Result<Option<Remote>> {
        let Some(d) = Discovery::find(store) else {
            return Ok(None);
        };
        let Some(http) = client(&d) else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let status = loop {
            match status(&http, &d.url).await {
                Ok(status) => break status,
                // Refused, reset, not JSON: not a server of ours (its
                // announcement outlived it, and its pid went to another).
                Err(e) if !e.is_timeout() => return Ok(None),
                Err(e) if started.elapsed() >= OWNER_PATIENCE => bail!(
                    "the server that owns the store at {} (pid {}, {}) did not answer in {} s: {e}",
                    store.display(),
                    d.pid,
                    d.url,
                    OWNER_PATIENCE.as_secs()
                ),
                Err(e) => tracing::debug!("the server that owns the store is slow: {e}"),
            }
        };
        let same = |p: &str| std::fs::canonicalize(p).ok() == std::fs::canonicalize(store).ok();
        let ours = status["store"].as_str().is_some_and(same);
        Ok(ours.then_some(Remote {
            url: d.url,
            token: d.token,
            http,
        }))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Publish through the server; `on_progress` sees each batch's counts.
    pub async fn publish(
        &self,
        mut req: PublishRequest,
        on_progress: impl FnMut(&Progress),
    ) -> anyhow::Result<Summary> {
        // The server resolves paths from its own working directory.
        req.input = std::path::absolute(&req.input)
            .with_context(|| format!("resolve {}", req.input.display()))?;
        let resp = self
            .admin(reqwest::Method::POST, &["publish"])?
            .json(&req)
            .send()
            .await?;
        self.job(resp, on_progress).await
    }

    pub async fn retry(
        &self,
        view: &str,
        on_progress: impl FnMut(&Progress),
    ) -> anyhow::Result<Summary> {
        let req = self.admin(Method::POST, &["deadletters", view, "retry"])?;
        self.job(req.send().await?, on_progress).await
    }

    pub async fn dead_letters(&self, view: &str) -> anyhow::Result<Vec<DeadLetter>> {
        let req = self.admin(Method::GET, &["deadletters", view])?;
        answer(req.send().await?).await
    }

    pub async fn purge(&self, view: &str) -> anyhow::Result<u64> {
        let req = self.admin(Method::POST, &["deadletters", view, "purge"])?;
        let v: Value = answer(req.send().await?).await?;
        Ok(v["dropped"].as_u64().unwrap_or(0))
    }

    pub async fn materialize(&self, view: &str, at: Micros) -> anyhow::Result<Materialized> {
        let req = self.admin(Method::POST, &["materialize", view])?;
        let body = json!({"as_of": at.rfc3339()});
        answer(req.json(&body).send().await?).await
    }

    pub async fn backup(&self, dir: &Path) -> anyhow::Result<()> {
        let req = self.admin(Method::POST, &["backup"])?;
        let _: Value = answer(req.json(&json!({"dir": dir})).send().await?).await?;
        Ok(())
    }

    pub async fn sources(&self) -> anyhow::Result<crate::stream::StreamsStatus> {
        answer(self.admin(Method::GET, &["sources"])?.send().await?).await
    }

    pub async fn reset_source(
        &self,
        name: &str,
        to: crate::config::StartAt,
    ) -> anyhow::Result<std::collections::BTreeMap<i32, i64>> {
        let req = self.admin(Method::POST, &["sources", name, "reset"])?;
        let v: Value = answer(req.json(&json!({"to": to.to_string()})).send().await?).await?;
        Ok(serde_json::from_value(v["offsets"].clone())?)
    }

    pub async fn reload(&self) -> anyhow::Result<Value> {
        answer(self.admin(Method::POST, &["reload"])?.send().await?).await
    }

    /// A request to `/admin/<segments>` (each percent-encoded), with the token.
    fn admin(&self, method: Method, segments: &[&str]) -> anyhow::Result<reqwest::RequestBuilder> {
        let mut url = reqwest::Url::parse(&self.url)?;
        url.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("{} cannot take a path", self.url))?
            .push("admin")
            .extend(segments);
        Ok(self.http.request(method, url).bearer_auth(&self.token))
    }

    /// A Feast lookup of `features` for one entity row.
    pub async fn get(
        &self,
        features: &[String],
        entities: &[(String, Vec<crate::value::Value>)],
    ) -> anyhow::Result<Value> {
        let entities: serde_json::Map<String, Value> = (entities.iter())
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::to_value(v).expect("values serialize"),
                )
            })
            .collect();
        let body = json!({"features": features, "entities": entities});
        let url = format!("{}/get-online-features", self.url);
        // The discovery token may read whatever `[server.auth]` says.
        let req = self.http.post(url).bearer_auth(&self.token).json(&body);
        answer(req.send().await?).await
    }

    /// Follow a job's NDJSON lines to its summary.
    async fn job(
        &self,
        mut resp: reqwest::Response,
        mut on_progress: impl FnMut(&Progress),
    ) -> anyhow::Result<Summary> {
        if !resp.status().is_success() {
            return Err(failure(resp).await);
        }
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let v: Value = serde_json::from_slice(&line)?;
                if let Some(p) = v.get("progress") {
                    on_progress(&serde_json::from_value(p.clone())?);
                } else if let Some(s) = v.get("summary") {
                    return Ok(serde_json::from_value(s.clone())?);
                } else if let Some(e) = v.get("error").and_then(Value::as_str) {
                    bail!("{e}");
                }
            }
        }
        bail!("the server closed the connection before the job's summary (see its log)")
    }
}

async fn answer<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> anyhow::Result<T> {
    if !resp.status().is_success() {
        return Err(failure(resp).await);
    }
    Ok(resp.json().await?)
}

/// The server's `{"error": ..}`, or its status.
async fn failure(resp: reqwest::Response) -> anyhow::Error {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    match body["error"].as_str() {
        Some(e) => anyhow::anyhow!("{e}"),
        None => anyhow::anyhow!("the server answered {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server announced for `store` that holds its first `/admin/status`
    /// past the call's deadline and answers the next; `answers: false`
    /// refuses every connection instead (an announcement it outlived).
    async fn announced(store: &Path, answers: bool) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let file = json!({"pid": std::process::id(), "url": url, "token": "t"});
        std::fs::write(store.join("wafer-server.json"), file.to_string()).unwrap();
        if !answers {
            return drop(listener);
        }
        let body = json!({"store": std::fs::canonicalize(store).unwrap()}).to_string();
        tokio::spawn(async move {
            let (held, _) = listener.accept().await.unwrap();
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request).await.unwrap();
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            conn.write_all(format!("{head}{body}").as_bytes())
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(held);
        });
    }

    #[tokio::test]
    async fn a_slow_owner_is_waited_for_and_a_gone_one_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        announced(dir.path(), true).await;
        let remote = Remote::find(dir.path()).await.unwrap();
        assert!(remote.is_some(), "the owner answered its second call");
        announced(dir.path(), false).await;
        assert!(Remote::find(dir.path()).await.unwrap().is_none());
    }
}
