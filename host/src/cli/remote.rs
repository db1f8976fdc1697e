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

impl Remote {
    /// The server announced in `store`, if one runs and answers for that store.
    pub async fn find(store: &Path) -> Option<Remote> {
        let d = Discovery::find(store)?;
        let http = client(&d)?;
        let status: Value = http
            .get(format!("{}/admin/status", d.url))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let same = |p: &str| std::fs::canonicalize(p).ok() == std::fs::canonicalize(store).ok();
        status["store"]
            .as_str()
            .is_some_and(same)
            .then_some(Remote {
                url: d.url,
                token: d.token,
                http,
            })
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
