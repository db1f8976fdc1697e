//! `[[source]]`: a Kafka-protocol topic (Kafka, Redpanda, DataHub, Event
//! Hubs) consumed into a view while the server runs; `[[sink]]`: a topic
//! every stored row of some views is written to, for edge replicas to
//! consume. Secrets (SASL passwords) come from the environment or a file,
//! never from the config text.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: Spanned<String>,
    /// Only `"kafka"` (any broker speaking the Kafka protocol).
    #[serde(default = "kafka")]
    pub kind: Spanned<String>,
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<Spanned<String>>,
    pub topic: Spanned<String>,
    pub view: Spanned<String>,
    /// Partitions to consume; all of the topic's when absent.
    pub partitions: Option<Spanned<Vec<i32>>>,
    /// Where a partition with no stored offset starts: `"earliest"`,
    /// `"latest"`, an offset, or an RFC 3339 time.
    #[serde(default = "earliest")]
    pub start: Spanned<String>,
    /// Only `"json"`: one JSON object per record, columns as in a JSONL publish.
    #[serde(default = "json")]
    pub format: Spanned<String>,
    /// Record column -> view column, for topics whose names differ.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// `false` for a topic of computed values (a `[[sink]]`'s): no plugin
    /// runs and no embedding is requested; transformed fields are read as
    /// they are.
    #[serde(default = "yes")]
    pub transform: bool,
    /// Largest fetch per partition, in bytes (a record larger than it is
    /// still fetched whole).
    #[serde(default = "fetch_max_bytes")]
    pub fetch_max_bytes: Spanned<usize>,
    /// How long a fetch waits at the end of a partition for new records.
    #[serde(default = "fetch_max_wait_ms")]
    pub fetch_max_wait_ms: Spanned<u64>,
    pub sasl: Option<SaslConfig>,
    pub tls: Option<KafkaTlsConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub name: Spanned<String>,
    #[serde(default = "kafka")]
    pub kind: Spanned<String>,
    pub brokers: Vec<Spanned<String>>,
    pub topic: Spanned<String>,
    /// Views whose stored rows are written to the topic.
    pub views: Vec<Spanned<String>>,
    pub sasl: Option<SaslConfig>,
    pub tls: Option<KafkaTlsConfig>,
}

/// `sasl`: a username and a password from `password_env` or `password_file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// `"PLAIN"`, `"SCRAM-SHA-256"` or `"SCRAM-SHA-512"`.
    #[serde(default = "plain")]
    pub mechanism: Spanned<String>,
    pub username: String,
    pub password_env: Option<Spanned<String>>,
    /// Relative to the config file.
    pub password_file: Option<Spanned<PathBuf>>,
}

/// `tls`: connect over TLS, trusting the web's root certificates or, with
/// `ca_file`, the PEM certificates in it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTlsConfig {
    pub ca_file: Option<Spanned<PathBuf>>,
}

/// What a source or a sink needs to reach its brokers.
#[derive(Debug, Clone)]
pub struct KafkaConnection {
    pub brokers: Vec<String>,
    pub sasl: Option<SaslConfig>,
    pub tls: Option<KafkaTlsConfig>,
}

impl SourceConfig {
    pub fn connection(&self) -> KafkaConnection {
        connection(&self.brokers, &self.sasl, &self.tls)
    }
}

impl SinkConfig {
    pub fn connection(&self) -> KafkaConnection {
        connection(&self.brokers, &self.sasl, &self.tls)
    }
}

fn connection(
    brokers: &[Spanned<String>],
    sasl: &Option<SaslConfig>,
    tls: &Option<KafkaTlsConfig>,
) -> KafkaConnection {
    KafkaConnection {
        brokers: brokers.iter().map(|b| b.get_ref().clone()).collect(),
        sasl: sasl.clone(),
        tls: tls.clone(),
    }
}

/// Where a partition with no stored offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Earliest,
    Latest,
    Offset(i64),
    /// The first record at or after this time (micros since the epoch).
    Time(i64),
}

impl StartAt {
    pub fn parse(s: &str) -> Result<StartAt, String> {
        match s.trim() {
            "earliest" => Ok(StartAt::Earliest),
            "latest" => Ok(StartAt::Latest),
            t => {
                if let Ok(n) = t.parse::<i64>() {
                    return if n >= 0 {
                        Ok(StartAt::Offset(n))
                    } else {
                        Err("an offset is at least 0".into())
                    };
                }
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| StartAt::Time(d.timestamp_micros()))
                    .map_err(|_| {
                        "use \"earliest\", \"latest\", an offset or an RFC 3339 time".into()
                    })
            }
        }
    }
}

impl std::fmt::Display for StartAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartAt::Earliest => f.write_str("earliest"),
            StartAt::Latest => f.write_str("latest"),
            StartAt::Offset(n) => write!(f, "{n}"),
            StartAt::Time(t) => f.write_str(&crate::time::Micros(*t).rfc3339()),
        }
    }
}

fn kafka() -> Spanned<String> {
    Spanned::new(0..0, "kafka".into())
}
fn earliest() -> Spanned<String> {
    Spanned::new(0..0, "earliest".into())
}
fn json() -> Spanned<String> {
    Spanned::new(0..0, "json".into())
}
fn plain() -> Spanned<String> {
    Spanned::new(0..0, "PLAIN".into())
}
fn yes() -> bool {
    true
}
fn fetch_max_bytes() -> Spanned<usize> {
    // Kafka's own default per partition (max.partition.fetch.bytes).
    Spanned::new(0..0, 1 << 20)
}
fn fetch_max_wait_ms() -> Spanned<u64> {
    Spanned::new(0..0, 500)
}
