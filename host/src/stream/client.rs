//! Connecting to Kafka-protocol brokers: bootstrap brokers, SASL with the
//! password from the environment or a file, TLS with the web's roots or a
//! CA file, and a retry policy that gives up on a request after a while,
//! so that a broker that is down shows as a source's error instead of a
//! request retried for ever inside the client.

use super::StreamError;
use crate::config::{KafkaConnection, SaslConfig};
use rskafka::BackoffConfig;
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig as Sasl};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Connect to the cluster `conn` names (`base`: the config's folder, for
/// relative file paths). `who` names the source or sink in errors.
pub(super) async fn connect(
    who: &str,
    conn: &KafkaConnection,
    base: &Path,
) -> Result<Client, StreamError> {
    let mut builder = ClientBuilder::new(conn.brokers.clone())
        .client_id("wafer")
        .backoff_config(BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
            deadline: Some(Duration::from_secs(10)),
        });
    if let Some(sasl) = &conn.sasl {
        builder = builder.sasl_config(sasl_config(who, sasl, base)?);
    }
    if let Some(tls) = &conn.tls {
        let ca = tls.ca_file.as_ref().map(|f| base.join(f.get_ref()));
        builder = builder.tls_config(Arc::new(tls_config(who, ca.as_deref())?));
    }
    let built = super::answered(Duration::ZERO, builder.build()).await;
    built.map_err(|e| StreamError::Broker {
        who: who.into(),
        brokers: conn.brokers.join(","),
        message: e.to_string(),
    })
}

fn sasl_config(who: &str, s: &SaslConfig, base: &Path) -> Result<Sasl, StreamError> {
    let fail = |message: String| StreamError::Credentials {
        who: who.into(),
        message,
    };
    let password = match (&s.password_env, &s.password_file) {
        (Some(var), _) => std::env::var(var.get_ref())
            .map_err(|_| fail(format!("environment variable {} is not set", var.get_ref())))?,
        (None, Some(file)) => {
            let path = base.join(file.get_ref());
            let text = std::fs::read_to_string(&path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            text.trim_end_matches(['\r', '\n']).to_string()
        }
        (None, None) => return Err(fail("no password_env or password_file".into())),
    };
    let credentials = Credentials::new(s.username.clone(), password);
    Ok(match s.mechanism.get_ref().as_str() {
        "SCRAM-SHA-256" => Sasl::ScramSha256(credentials),
        "SCRAM-SHA-512" => Sasl::ScramSha512(credentials),
        _ => Sasl::Plain(credentials),
    })
}

fn tls_config(who: &str, ca_file: Option<&Path>) -> Result<rustls::ClientConfig, StreamError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let fail = |message: String| StreamError::Credentials {
                who: who.into(),
                message: format!("tls.ca_file {}: {message}", path.display()),
            };
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| fail(e.to_string()))?;
                roots.add(cert).map_err(|e| fail(e.to_string()))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StreamError::Credentials {
            who: who.into(),
            message: format!("TLS: {e}"),
        })?;
    Ok(config.with_root_certificates(roots).with_no_client_auth())
}
