//! How many HTTP connections are open, per client IP and in total, and what happens past the
//! caps.
//!
//! Every connection, websockets included, holds a [`Slot`] for as long as its descriptor is
//! open. The total is kept below the process's limit on open files (raised from the soft to
//! the hard limit at start-up), with room to spare for the event store's pool, sled's files and
//! a few probes: so accept never runs out of descriptors because of clients, and past the cap
//! a connection can still be answered. Past the per-IP cap it gets `429` and is closed; past
//! the total, a few more ([`PROBE_RESERVE`]) are served `/healthz` only (so a load balancer
//! sees a live node that is full, not a dead one). Those must send their request within a
//! second, and when all are taken the oldest that has sent nothing makes way for the newest
//! (or, if all have sent something, the oldest that has had a moment to be answered): a flood of
//! silent connections only pushes itself out, and a probe, which asks at once, gets its answer.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::sync::Notify;

use super::timeouts::Activity;

/// Connections past the total cap that are still served `/healthz`.
pub const PROBE_RESERVE: usize = 16;
/// How long those have to send their request.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one of those that has sent something is safe from making way: time to be answered.
const PROBE_GRACE: Duration = Duration::from_millis(250);

/// Descriptors kept free for everything but connections: a share of the limit, at least 64.
fn headroom(limit: u64) -> u64 {
    (limit / 8).max(64)
}

/// The total cap in force: `configured`, lowered to fit under this process's limit on open
/// files (see [`fitting`]), with a warning when it had to be lowered: the node's operator asked
/// for more than they get.
pub fn capacity(configured: usize) -> usize {
    let (capacity, limit) = fitting(configured);
    if let Some(limit) = limit.filter(|_| capacity < configured) {
        tracing::warn!(
            configured,
            capacity,
            open_files_limit = limit,
            "http: fewer connections than CINDER_HTTP_MAX_CONNECTIONS fit under the limit on \
             open files; raise it (ulimit -n) to allow more"
        );
    }
    capacity
}

/// `configured`, lowered to fit under this process's limit on open files, which is first
/// raised from its soft value to its hard one (as Go's runtime does) so a default soft limit of
/// 1024 does not cap the server; and that limit (`None`: unlimited or unknown). Says nothing:
/// `cinder bench fanout` asks what a node will hold, and that is no news to anyone.
pub fn fitting(configured: usize) -> (usize, Option<u64>) {
    let Some(limit) = raise_open_files_limit() else {
        return (configured, None);
    };
    let room = limit
        .saturating_sub(headroom(limit))
        .saturating_sub(PROBE_RESERVE as u64);
    let capacity = configured
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1);
    (capacity, Some(limit))
}

/// Raises the soft limit on open files to the hard limit; returns the limit in force.
#[cfg(unix)]
pub fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by reference.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() -> Option<u64> {
    None
}

/// Open connections, per client IP and in total.
pub struct Limits {
    capacity: usize,
    per_ip: usize,
    open: Arc<Mutex<Open>>,
    refused_per_ip: Throttled,
    refused_capacity: Throttled,
}

/// A connection served `/healthz` only.
struct Probe {
    evict: Arc<Notify>,
    since: Instant,
    activity: Arc<Activity>,
}

#[derive(Default)]
struct Open {
    /// Connections served in full.
    served: usize,
    /// Connections past the cap, served `/healthz` only.
    probes: usize,
    /// Those, oldest first, to pick one to make way.
    evictable: VecDeque<Probe>,
    by_ip: HashMap<IpAddr, usize>,
}

/// What to do with a connection just accepted.
pub enum Admission {
    /// Serve it in full.
    Serve(Slot),
    /// Serve it `/healthz` only, until notified to make way: the node is at its cap.
    Probe(Slot, Arc<Notify>),
    /// Answer it with the refusal and close it.
    Refuse(Refusal),
}

impl Limits {
    pub fn new(capacity: usize, per_ip: usize) -> Self {
        Self {
            capacity,
            per_ip,
            open: Arc::default(),
            refused_per_ip: Throttled::new(
                "http: refused connections from an address over CINDER_HTTP_MAX_CONNECTIONS_PER_IP",
            ),
            refused_capacity: Throttled::new(
                "http: refused connections over CINDER_HTTP_MAX_CONNECTIONS",
            ),
        }
    }

    /// Takes a slot for a connection from `ip` (doing `activity`), if one is free.
    pub fn admit(&self, ip: IpAddr, activity: &Arc<Activity>) -> Admission {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let from_ip = open.by_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.per_ip {
            drop(open);
            crate::metrics::http_refused("per_ip");
            self.refused_per_ip.warn(&ip.to_string());
            return Admission::Refuse(Refusal::PerIp);
        }
        let evict = if open.served < self.capacity {
            open.served += 1;
            None
        } else {
            if open.probes >= PROBE_RESERVE {
                // One makes way (it goes when its task sees the notice): the oldest that has
                // sent nothing, else the oldest that has had time to be answered.
                let pick = open
                    .evictable
                    .iter()
                    .position(|p| !p.activity.heard())
                    .or_else(|| {
                        open.evictable
                            .iter()
                            .position(|p| p.since.elapsed() >= PROBE_GRACE)
                    });
                let Some(probe) = pick.and_then(|at| open.evictable.remove(at)) else {
                    drop(open);
                    crate::metrics::http_refused("capacity");
                    self.refused_capacity.warn(&ip.to_string());
                    return Admission::Refuse(Refusal::Capacity);
                };
                probe.evict.notify_one();
            }
            open.probes += 1;
            let evict = Arc::new(Notify::new());
            open.evictable.push_back(Probe {
                evict: evict.clone(),
                since: Instant::now(),
                activity: activity.clone(),
            });
            Some(evict)
        };
        *open.by_ip.entry(ip).or_insert(0) += 1;
        let slot = Slot {
            ip,
            probe: evict.clone(),
            open: self.open.clone(),
            _counted: crate::metrics::http_opened(),
        };
        match evict {
            None => Admission::Serve(slot),
            Some(evict) => {
                crate::metrics::http_refused("capacity");
                self.refused_capacity.warn(&ip.to_string());
                Admission::Probe(slot, evict)
            }
        }
    }
}

/// One connection's place, given back when its descriptor closes.
pub struct Slot {
    ip: IpAddr,
    /// A probe's eviction notice (none for a connection served in full).
    probe: Option<Arc<Notify>>,
    open: Arc<Mutex<Open>>,
    _counted: crate::metrics::HttpOpen,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(probe) = &self.probe {
            open.probes = open.probes.saturating_sub(1);
            open.evictable
                .retain(|other| !Arc::ptr_eq(&other.evict, probe));
        } else {
            open.served = open.served.saturating_sub(1);
        }
        if let Some(count) = open.by_ip.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
    }
}

/// Why a connection is refused; answered before it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PerIp,
    Capacity,
}

impl Refusal {
    /// Writes the refusal if the socket takes it at once (it is not waited for); the
    /// connection is then closed by dropping it.
    pub fn answer(self, tcp: &tokio::net::TcpStream) {
        let (status, body) = match self {
            Refusal::PerIp => (
                "429 Too Many Requests",
                "too many open connections from this address",
            ),
            Refusal::Capacity => ("503 Service Unavailable", FULL),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tcp.try_write(response.as_bytes());
    }
}

/// The answer of a server at its cap.
const FULL: &str = "the server is full, try again soon";

/// What a connection past the cap is served: `/healthz`, and `503` for everything else.
pub fn probe_service() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                FULL,
            )
                .into_response()
        })
}

/// A warning (or note) logged at most once a second, with how many times it happened since it
/// was last logged: a flood of refused connections must not become a flood of log lines.
pub struct Throttled {
    what: &'static str,
    since: Instant,
    /// Milliseconds since `since` when it was last logged.
    logged_at: AtomicU64,
    happened: AtomicU64,
}

impl Throttled {
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            since: Instant::now(),
            logged_at: AtomicU64::new(u64::MAX),
            happened: AtomicU64::new(0),
        }
    }

    /// Counts one more; returns how many to report if it is time to log.
    fn due(&self) -> Option<u64> {
        self.happened.fetch_add(1, Ordering::Relaxed);
        let now = self.since.elapsed().as_millis() as u64;
        let last = self.logged_at.load(Ordering::Relaxed);
        if last != u64::MAX && now.saturating_sub(last) < 1000 {
            return None;
        }
        self.logged_at
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(self.happened.swap(0, Ordering::Relaxed).max(1))
    }

    pub fn warn(&self, detail: &str) {
        if let Some(count) = self.due() {
            tracing::warn!(count, last = detail, "{}", self.what);
        }
    }

    pub fn info(&self) {
        if let Some(count) = self.due() {
            tracing::info!(count, "{}", self.what);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn a_cap_under_the_open_files_limit_stays_and_one_over_it_is_lowered_under_it() {
        assert_eq!(fitting(100).0, 100);
        match fitting(usize::MAX) {
            (capacity, Some(limit)) => assert!((capacity as u64) < limit),
            (capacity, None) => assert_eq!(capacity, usize::MAX),
        }
        // The warning is the only difference between the two.
        assert_eq!(capacity(usize::MAX), fitting(usize::MAX).0);
    }

    #[test]
    fn past_the_caps_connections_are_refused_or_kept_for_probes_and_silent_ones_make_way() {
        let limits = Limits::new(1, 1);
        let quiet = || Arc::new(Activity::new());
        let Admission::Serve(served) = limits.admit(ip(1), &quiet()) else {
            panic!("the first is served")
        };
        assert!(matches!(
            limits.admit(ip(1), &quiet()),
            Admission::Refuse(Refusal::PerIp)
        ));
        // Past the total: probes, up to the reserve; then a silent one makes way.
        let mut probes = Vec::new();
        let asking = quiet();
        asking.read();
        for n in 0..PROBE_RESERVE {
            let activity = if n == 0 { asking.clone() } else { quiet() };
            match limits.admit(ip(10 + n as u8), &activity) {
                Admission::Probe(slot, evict) => probes.push((slot, evict)),
                _ => panic!("a probe slot"),
            }
        }
        assert!(matches!(
            limits.admit(ip(100), &quiet()),
            Admission::Probe(..)
        ));
        // The one that asked at once was not the one to go: the second (silent) was notified.
        let notified = |evict: &Arc<Notify>| {
            let waiting = evict.notified();
            tokio::pin!(waiting);
            waiting
                .as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
                .is_ready()
        };
        assert!(!notified(&probes[0].1));
        assert!(notified(&probes[1].1));
        // A closed connection gives its place back.
        drop(served);
        assert!(matches!(limits.admit(ip(1), &quiet()), Admission::Serve(_)));
    }
}
