//! The header-read and idle timeouts of one HTTP connection.
//!
//! hyper has one timer for both (its `header_read_timeout` also runs while a kept-alive
//! connection waits for its next request), so the two cannot differ. Here the connection's
//! bytes go through [`TimedIo`], which notes when it last read or wrote and when a request head
//! began (at accept for the first request; at the first byte of each later one), and the
//! service notes when hyper has parsed a head ([`Activity::request_started`]). The connection's
//! task waits on [`Activity::timed_out`] beside hyper's future and drops the connection when:
//!
//! - a request head has been arriving for longer than the header timeout (a client that sends
//!   nothing, or half a header and then waits: slowloris), or
//! - nothing was read or written for the idle timeout (a kept-alive connection between
//!   requests, or a request whose body stalls).
//!
//! The wrapper also holds the connection's [`Slot`], so it is given back when the descriptor
//! closes: for a websocket, when the socket ends, long after the HTTP task is done.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use super::limits::Slot;

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    Header,
    Idle,
}

/// "No request head is arriving."
const NONE: u64 = u64::MAX;

/// What one connection has been doing, in milliseconds since it was accepted.
pub struct Activity {
    accepted: Instant,
    /// When a byte was last read or written.
    last: AtomicU64,
    /// When the request head now arriving began, or [`NONE`].
    head: AtomicU64,
    /// Requests whose head hyper has parsed and whose response is not ready yet.
    in_flight: AtomicUsize,
    /// Woken when a head begins: the header deadline may be sooner than the one slept to.
    changed: Notify,
    /// Whether a byte was ever read.
    heard: AtomicBool,
}

impl Activity {
    /// A connection just accepted: its first request head is arriving from now on.
    pub fn new() -> Self {
        Self {
            accepted: Instant::now(),
            last: AtomicU64::new(0),
            head: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
            heard: AtomicBool::new(false),
        }
    }

    /// Whether the client has sent anything yet.
    pub fn heard(&self) -> bool {
        self.heard.load(Ordering::Relaxed)
    }

    fn now(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    pub(super) fn read(&self) {
        let now = self.now();
        self.last.store(now, Ordering::Relaxed);
        self.heard.store(true, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head
                .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    /// hyper has parsed a request head: the header timeout stops until the next request's
    /// first byte. Counted in flight until the guard is dropped (its response is ready).
    pub fn request_started(self: &std::sync::Arc<Self>) -> InFlightRequest {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head.store(NONE, Ordering::Release);
        InFlightRequest(self.clone())
    }

    /// The next deadline (in milliseconds since accepted) and which timeout it is.
    fn deadline(&self, header: Duration, idle: Duration) -> (u64, Timeout) {
        let millis = |d: Duration| d.as_millis().min(u128::from(u64::MAX / 4)) as u64;
        let idle_at = self.last.load(Ordering::Relaxed) + millis(idle);
        match self.head.load(Ordering::Acquire) {
            NONE => (idle_at, Timeout::Idle),
            head => {
                let header_at = head + millis(header);
                if header_at <= idle_at {
                    (header_at, Timeout::Header)
                } else {
                    (idle_at, Timeout::Idle)
                }
            }
        }
    }

    /// Resolves when one of the timeouts has passed.
    pub async fn timed_out(&self, header: Duration, idle: Duration) -> Timeout {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (at, timeout) = self.deadline(header, idle);
            let now = self.now();
            if at <= now {
                return timeout;
            }
            let wake = tokio::time::Instant::now() + Duration::from_millis(at - now);
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = changed => {}
            }
        }
    }
}

/// A request being handled: see [`Activity::request_started`].
pub struct InFlightRequest(std::sync::Arc<Activity>);

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's stream, noting its activity, and holding its slot while it is open.
pub struct TimedIo<T> {
    inner: T,
    activity: std::sync::Arc<Activity>,
    _slot: Slot,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, activity: std::sync::Arc<Activity>, slot: Slot) -> Self {
        Self {
            inner,
            activity,
            _slot: slot,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_head_is_timed_from_accept_and_later_ones_from_their_first_byte() {
        let activity = std::sync::Arc::new(Activity::new());
        let header = Duration::from_secs(10);
        let idle = Duration::from_secs(60);
        assert_eq!(activity.deadline(header, idle), (10_000, Timeout::Header));
        let request = activity.request_started();
        assert_eq!(activity.deadline(header, idle).1, Timeout::Idle);
        // Bytes of the body (or the next request, pipelined) while one is in flight start no
        // header timer.
        activity.read();
        assert_eq!(activity.deadline(header, idle).1, Timeout::Idle);
        drop(request);
        assert_eq!(activity.deadline(header, idle).1, Timeout::Idle);
        activity.read();
        assert_eq!(activity.deadline(header, idle).1, Timeout::Header);
    }
}
