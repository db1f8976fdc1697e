//! Accepting connections and serving each on a task of its own, in place
//! of `axum::serve`: HTTP/1.1 only (axum's builder also took HTTP/2 with
//! prior knowledge, which no Feast client sends and TLS never offered), no
//! upgrades (no route has one), and, the reason this module exists, a
//! connection's task absorbs the wake-ups it gives itself ([`Absorb`]).
//!
//! hyper hands a request's body to the handler through a channel whose
//! sender keeps the connection task's waker, and a handler that takes the
//! body wakes that waker: the task that is running the handler. Tokio takes
//! a task woken while it runs for one that yields: it queues the task again
//! and wakes an idle worker to steal it, a futex call and often a move to
//! the other core, once per POST. Absorbing it took a third off the median
//! of a one-key lookup over one keep-alive connection (docs/benchmarks.md).

use axum::http::Request;
use axum::response::Response;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Serve `app` on every connection `listener` accepts until `shutdown`
/// resolves; then stop accepting and wait for the connections to finish
/// the requests they have (each is told to close once it has). A
/// connection that sends no complete request head within `header_timeout`
/// of opening or of its last answer is closed.
pub(super) async fn serve<L, S>(
    mut listener: L,
    app: S,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener,
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let conn = graceful.watch(http.serve_connection(TokioIo::new(io), app.clone()));
        tokio::spawn(Absorb::new(async move {
            if let Err(e) = conn.await {
                tracing::trace!("a connection failed: {e}");
            }
        }));
    }
    // Closed before the wait: new clients are refused at once, not queued
    // behind the drain (and a TLS listener's handshake task ends).
    drop(listener);
    graceful.shutdown().await;
}

/// How many times in a row a future that woke itself is polled again at
/// once; past that it yields, as it asked (a future that keeps waking
/// itself, like hyper after 16 pipelined requests, still lets others run).
const REPOLLS: usize = 4;

/// `F`, polled again at once when it is woken while being polled (at most
/// [`REPOLLS`] times a poll), instead of handing the wake to the runtime.
/// Wakes while it is not being polled reach the runtime as they would.
struct Absorb<F> {
    inner: Pin<Box<F>>,
    wakes: Arc<Wakes>,
    waker: Waker,
}

/// Whether the future is being polled, and whether it was woken meanwhile.
struct Wakes {
    state: AtomicU8,
    /// The waker of the task running the future, as of its last poll.
    outer: futures_util::task::AtomicWaker,
}

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // During a poll only a note is left, which the poll reads when the
        // future returns; one CAS, so a wake is never lost between the two.
        let polling =
            (self.state).compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire);
        if polling == Err(IDLE) {
            self.outer.wake();
        }
    }
}

impl<F: Future> Absorb<F> {
    fn new(inner: F) -> Self {
        let wakes = Arc::new(Wakes {
            state: AtomicU8::new(IDLE),
            outer: futures_util::task::AtomicWaker::new(),
        });
        Absorb {
            inner: Box::pin(inner),
            waker: Waker::from(wakes.clone()),
            wakes,
        }
    }
}

impl<F: Future> Future for Absorb<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.wakes.outer.register(cx.waker());
        for _ in 0..=REPOLLS {
            this.wakes.state.store(POLLING, Ordering::Release);
            let polled = (this.inner.as_mut()).poll(&mut Context::from_waker(&this.waker));
            let state = this.wakes.state.swap(IDLE, Ordering::AcqRel);
            if polled.is_ready() {
                return polled;
            }
            if state != WOKEN {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wakes that reach the runtime.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Pending the first `n` polls, waking itself in each.
    struct SelfWaking(usize);

    impl Future for SelfWaking {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 == 0 {
                return Poll::Ready(());
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn poll_once<F: Future>(f: &mut Absorb<F>, count: &Arc<Count>) -> Poll<F::Output> {
        let waker = Waker::from(count.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_self_wake_is_polled_again_at_once_a_few_times_then_yields() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut f = Absorb::new(SelfWaking(REPOLLS));
        assert!(poll_once(&mut f, &count).is_ready());
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        let mut f = Absorb::new(SelfWaking(REPOLLS + 1));
        assert!(poll_once(&mut f, &count).is_pending());
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "it yields, as asked");
        assert!(poll_once(&mut f, &count).is_ready());
    }

    /// A stop lets the request in flight finish and closes idle connections.
    #[tokio::test]
    async fn a_stop_finishes_the_request_in_flight_and_closes_idle_connections() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
        let held_rx = Arc::new(std::sync::Mutex::new(Some(held_rx)));
        let app = Router::new().route(
            "/slow",
            axum::routing::get(move || {
                let rx = held_rx.lock().unwrap().take().unwrap();
                async move {
                    rx.await.unwrap();
                    "done"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = hyper_util::service::TowerToHyperService::new(app);
        let header_timeout = Duration::from_secs(60);
        let server = tokio::spawn(serve(listener, app, header_timeout, async {
            stop_rx.await.unwrap();
        }));
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
        busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stop_tx.send(()).unwrap();
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), idle.read(&mut byte));
        assert_eq!(closed.await.expect("idle: closed").unwrap(), 0);
        assert!(!server.is_finished(), "a request is in flight");
        held_tx.send(()).unwrap();
        let mut answer = String::new();
        busy.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"),
            "{answer}"
        );
        server.await.unwrap();
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "no longer accepting"
        );
    }

    /// A client that stalls before its head is complete, and one that idles
    /// after its answer, are both cut off; without the timeout neither is.
    #[tokio::test]
    async fn stalled_and_idle_connections_are_closed_after_the_header_timeout() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = Router::new().route("/", axum::routing::get(|| async { "hi" }));
        let app = hyper_util::service::TowerToHyperService::new(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let timeout = Duration::from_millis(300);
        tokio::spawn(serve(listener, app, timeout, std::future::pending()));
        let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        for (name, mut conn) in [("stalled", stalled), ("idle", idle)] {
            let mut got = Vec::new();
            let closed = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut got));
            closed.await.expect(name).unwrap();
            let got = String::from_utf8_lossy(&got);
            if name == "idle" {
                assert!(
                    got.starts_with("HTTP/1.1 200") && got.ends_with("hi"),
                    "{got}"
                );
            }
        }
    }

    #[test]
    fn a_wake_after_the_poll_reaches_the_runtime() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let mut f = Absorb::new(std::future::poll_fn(move |cx| {
            tx.send(cx.waker().clone()).unwrap();
            Poll::<()>::Pending
        }));
        assert!(poll_once(&mut f, &count).is_pending());
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        rx.recv().unwrap().wake();
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
    }
}
