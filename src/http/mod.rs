//! Serving HTTP with limits: our own accept loop around hyper's HTTP/1 connection builder.
//!
//! `axum::serve` has no header-read or idle timeout and no cap on connections, so a client that
//! opens connections and sends half a header (or nothing) holds a task and a file descriptor
//! each for as long as it likes, until accept fails for everybody. Here:
//!
//! - every connection must send a complete request head within `CINDER_HTTP_HEADER_TIMEOUT`
//!   of being accepted (or of its first byte, on a kept-alive connection), and is closed after
//!   `CINDER_HTTP_IDLE_TIMEOUT` without a byte either way ([`timeouts`]);
//! - connections are capped per client IP and in total, websockets included, the total below
//!   the process's file descriptor limit; past the per-IP cap a connection is answered 429 and
//!   closed at once, past the total a few more are served `/healthz` only, then 503 ([`limits`]);
//! - accept errors (out of descriptors, say) back off instead of spinning.
//!
//! What `axum::serve` did is kept: TCP_NODELAY, the peer address as `ConnectInfo` (the socket's
//! per-IP slots use it), websocket upgrades, and a graceful stop: no new connections, idle ones
//! closed, requests in flight finished.

mod limits;
mod timeouts;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

pub use crate::config::HttpSettings;
use crate::shutdown::{InFlight, GRACE};
pub use limits::{capacity, fitting, raise_open_files_limit};
use limits::{Admission, Limits, Throttled};
use timeouts::{Activity, TimedIo, Timeout};

/// Serves `app` on `listener` until `draining` turns true, then stops accepting, lets every
/// connection finish its request in flight (idle ones close at once) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: HttpSettings,
    mut draining: watch::Receiver<bool>,
) {
    let capacity = limits::capacity(settings.max_connections);
    tracing::info!(
        connections = capacity,
        per_ip = settings.max_connections_per_ip,
        header_timeout_ms = settings.header_timeout.as_millis() as u64,
        idle_timeout_ms = settings.idle_timeout.as_millis() as u64,
        "http limits"
    );
    let limits = Arc::new(Limits::new(capacity, settings.max_connections_per_ip));
    let probes = limits::probe_service();
    let connections = InFlight::default();
    let accept_errors = Throttled::new("http: accept failed; backing off");
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = drained(&mut draining) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::ZERO;
                accepted
            }
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of descriptors (EMFILE, ENFILE) or memory: the listener stays readable,
                // so retrying at once would spin. Wait, longer each time, up to a second.
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                accept_errors.warn(&error.to_string());
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = drained(&mut draining) => break,
                }
            }
        };
        // Replies and pushes are small frames written back to back: without TCP_NODELAY the
        // second waits for the client's delayed ACK of the first (~40 ms).
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let activity = Arc::new(Activity::new());
        let (slot, evict) = match limits.admit(peer.ip(), &activity) {
            Admission::Serve(slot) => (slot, None),
            Admission::Probe(slot, evict) => (slot, Some(evict)),
            Admission::Refuse(refusal) => {
                refusal.answer(&tcp);
                continue;
            }
        };
        let io = TimedIo::new(tcp, activity.clone(), slot);
        let mut task = Connection {
            peer,
            activity,
            header_timeout: settings.header_timeout,
            idle_timeout: settings.idle_timeout,
            draining: draining.clone(),
            evict: None,
            _counted: connections.enter(),
        };
        match evict {
            None => {
                tokio::spawn(task.serve(io, app.clone(), true));
            }
            Some(evict) => {
                task.header_timeout = task.header_timeout.min(limits::PROBE_TIMEOUT);
                task.idle_timeout = task.idle_timeout.min(limits::PROBE_TIMEOUT);
                task.evict = Some(evict);
                tokio::spawn(task.serve(io, probes.clone(), false));
            }
        }
    }
    drop(listener);
    if !connections.idle(GRACE).await {
        tracing::warn!(
            connections = connections.count(),
            "http: connections still busy after the grace period"
        );
    }
}

/// Errors of one connection that came and went before it was accepted: nothing to wait for.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Resolves once the node starts stopping (never, if nobody can tell it to).
async fn drained(draining: &mut watch::Receiver<bool>) {
    if draining.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves when `evict` is notified (never without one).
async fn evicted(evict: Option<&tokio::sync::Notify>) {
    match evict {
        Some(evict) => evict.notified().await,
        None => std::future::pending().await,
    }
}

/// One accepted connection, served by its own task.
struct Connection {
    peer: SocketAddr,
    activity: Arc<Activity>,
    header_timeout: Duration,
    idle_timeout: Duration,
    draining: watch::Receiver<bool>,
    /// For a connection served past the cap: notified when it must make way for a newer one.
    evict: Option<Arc<tokio::sync::Notify>>,
    /// Counted until the connection is done (or handed off as a websocket).
    _counted: crate::shutdown::Entered,
}

impl Connection {
    /// Serves HTTP/1 on `io` with `router` until the client is done, a timeout closes the
    /// connection, or the node stops (after the request in flight).
    async fn serve(mut self, io: TimedIo<TcpStream>, router: Router, keep_alive: bool) {
        let peer = self.peer;
        let activity = self.activity.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let in_flight = activity.request_started();
            request.extensions_mut().insert(ConnectInfo(peer));
            let answer = router.clone().oneshot(request.map(Body::new));
            async move {
                let response = answer.await;
                drop(in_flight);
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .keep_alive(keep_alive)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, %peer, "http: connection ended with an error");
                    }
                    return;
                }
                timeout = self.activity.timed_out(self.header_timeout, self.idle_timeout) => {
                    timeout.record();
                    // Nothing is in flight (or a request's body stalled): dropping the
                    // connection closes it.
                    return;
                }
                _ = evicted(self.evict.as_deref()) => return,
                _ = drained(&mut self.draining), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

impl Timeout {
    /// Counts and (at most once a second) logs a connection this timeout closed.
    fn record(self) {
        static HEADER: std::sync::OnceLock<Throttled> = std::sync::OnceLock::new();
        static IDLE: std::sync::OnceLock<Throttled> = std::sync::OnceLock::new();
        let (label, log) = match self {
            Timeout::Header => (
                "header",
                HEADER.get_or_init(|| {
                    Throttled::new(
                        "http: closed connections that sent no whole request head in time",
                    )
                }),
            ),
            Timeout::Idle => (
                "idle",
                IDLE.get_or_init(|| Throttled::new("http: closed idle connections")),
            ),
        };
        crate::metrics::http_timed_out(label);
        log.info();
    }
}
