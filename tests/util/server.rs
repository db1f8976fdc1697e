//! The real server: in this process on 127.0.0.1:0 (with its `Wafer` at
//! hand), or as a `wafer serve` child process for crashes and signals.

use serde_json::{Value, json};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Stdio};
use wafer::Wafer;

/// The runtime for `config`, served on 127.0.0.1:0 until dropped.
pub struct Server {
    pub url: String,
    pub wafer: Wafer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start(config: &Path) -> Server {
        Server::serve(Wafer::open(config).unwrap()).await
    }

    pub async fn serve(wafer: Wafer) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let w = wafer.clone();
        let serving = tokio::spawn(async move {
            w.serve(listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap()
        });
        // Commands in other processes find the server by its announcement,
        // which the task above writes once it runs: on a loaded machine a
        // test's command could look before it did, and open the store itself.
        let store = wafer.store().path().to_path_buf();
        let mut announced = false;
        for _ in 0..1000 {
            announced = wafer::serve::Discovery::find(&store).is_some();
            if announced {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(announced, "the server announced itself within 10 s");
        Server {
            url,
            wafer,
            stop: Some(stop),
            serving: Some(serving),
        }
    }

    /// POST `body` as JSON to `path`; (status, JSON answer or null).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        post(&self.url, path, body).await
    }

    /// POST to an admin endpoint with the token of the discovery file.
    pub async fn admin(&self, path: &str) -> (u16, Value) {
        let d = wafer::serve::Discovery::find(self.wafer.store().path()).expect("announced");
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .bearer_auth(d.token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Feast's write of `df` into `view`; (status, answer).
    pub async fn write(&self, view: &str, df: Value) -> (u16, Value) {
        let body = json!({"feature_view_name": view, "df": df, "allow_registry_cache": false});
        self.post("/write-to-online-store", &body).await
    }

    /// The features for `item_id`s; the answer must be a 200.
    pub async fn lookup(&self, features: &[&str], ids: &[i64]) -> Value {
        self.lookup_of(features, "item_id", ids).await
    }

    pub async fn lookup_of(&self, features: &[&str], key: &str, ids: &[i64]) -> Value {
        let body = json!({"features": features, "entities": {key: ids}});
        let (status, answer) = self.post("/get-online-features", &body).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

pub async fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// POST a lookup; returns (status, body).
pub async fn lookup(base: &str, body: &Value) -> (u16, Value) {
    post(base, "/get-online-features", body).await
}

/// `wafer serve --listen 127.0.0.1:0` in `dir`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    /// Its log lines, as they come.
    log: std::sync::mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Start it and wait for the line that says where it listens.
    pub fn start(dir: &Path) -> ServerProcess {
        ServerProcess::start_with_env(dir, &[])
    }

    /// Start it with `env` set (`RUST_LOG` included: `wafer=info` unless given).
    pub fn start_with_env(dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let mut command = super::wafer_command(dir);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "wafer=info")
            .envs(env.iter().copied())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        // Keeps reading to the end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut server = ServerProcess {
            child,
            url: String::new(),
            log,
        };
        let line = server.wait_for("views on ");
        server.url = line.split("views on ").nth(1).unwrap().trim().to_string();
        server
    }

    /// The next log line that says `what`.
    pub fn wait_for(&mut self, what: &str) -> String {
        loop {
            let line = (self.log.recv_timeout(std::time::Duration::from_secs(300)))
                .unwrap_or_else(|_| panic!("the server never logged {what:?}"));
            if line.contains(what) {
                return line;
            }
        }
    }

    /// Every log line not read yet, to the end: call it once the process
    /// has exited.
    pub fn rest_of_log(&mut self) -> Vec<String> {
        self.log.iter().collect()
    }

    /// Send it a signal (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(sent.unwrap().success());
    }

    /// SIGKILL: no handler runs, nothing is flushed.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal("TERM");
        self.child.wait().unwrap().code()
    }
}

/// Stops the server and, where the runtime has threads to run it on, waits
/// for it to close the store: a test's folder is removed next, and a store
/// still closing wrote its files into a new folder of the same name, left
/// behind in /tmp.
impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stop.take());
        // A failing test has its own panic to report, and a request it left
        // hanging could keep the server from stopping.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let threaded = handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread;
        if std::thread::panicking() || !threaded {
            return;
        }
        if let Some(serving) = self.serving.take() {
            let limit = std::time::Duration::from_secs(60);
            let stopped = tokio::task::block_in_place(|| {
                handle.block_on(tokio::time::timeout(limit, serving))
            });
            // Its outcome is not this test's: some remove the store's
            // folder first, and the store's last flush fails.
            let _ = stopped.expect("the server stopped within a minute");
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serve `wafer` on 127.0.0.1:0 for the rest of the test; its base URL.
pub async fn start_server(wafer: &Wafer) -> String {
    let server = Server::serve(wafer.clone()).await;
    let url = server.url.clone();
    // Runs until the test's runtime ends.
    std::mem::forget(server);
    url
}
