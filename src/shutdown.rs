//! Stopping a node gracefully: counting what is still running (commands, socket connections,
//! frames a channel is handling) so that a stopping node can let it finish first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How long a stopping node waits for in-flight work (commands, sockets closing) before it
/// gives up on it.
pub const GRACE: Duration = Duration::from_secs(10);

/// Work in progress, counted. Cheap to clone; clones count together.
#[derive(Clone, Default)]
pub struct InFlight(Arc<Counter>);

#[derive(Default)]
struct Counter {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    /// Counts one more piece of work until the returned guard is dropped.
    pub fn enter(&self) -> Entered {
        self.0.count.fetch_add(1, Ordering::SeqCst);
        Entered(self.0.clone())
    }

    /// How many are in flight now.
    pub fn count(&self) -> usize {
        self.0.count.load(Ordering::SeqCst)
    }

    /// Waits until nothing is in flight, or `timeout` passes. Returns whether it got there.
    pub async fn idle(&self, timeout: Duration) -> bool {
        let settled = async {
            loop {
                let notified = self.0.idle.notified();
                tokio::pin!(notified);
                // Registered before the count is read, so a guard dropped in between wakes us.
                notified.as_mut().enable();
                if self.count() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, settled).await.is_ok()
    }
}

/// One piece of work in flight; dropping it ends it.
pub struct Entered(Arc<Counter>);

impl Drop for Entered {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_guard() {
        let in_flight = InFlight::default();
        assert!(in_flight.idle(Duration::from_millis(1)).await);
        let first = in_flight.enter();
        let second = in_flight.clone().enter();
        assert_eq!(in_flight.count(), 2);
        assert!(!in_flight.idle(Duration::from_millis(20)).await);
        drop(first);
        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.idle(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(second);
        assert!(waiter.await.unwrap());
        assert_eq!(in_flight.count(), 0);
    }
}
