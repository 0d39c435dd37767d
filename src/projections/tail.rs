//! The live tail: reads the global log after the slowest projection, a batch at a time, and
//! applies each batch to every projection that has not seen it, in one transaction each,
//! announcing what changed on the pubsub. The log is read gap-safely (see
//! [`EventLog::read_after`](crate::store::EventLog::read_after)). Appends wake the tail (Postgres: a NOTIFY from any node; embedded:
//! the append itself); a poll covers lost notifications and events written by anything that
//! sends none.

use std::time::Duration;

use cinder_read_models::{Change, StoredEvent};

use super::registered::apply_batch;
use super::{ProjectionRunner, RunError};

/// The pubsub topic on which every applied event is announced, in log order, as [`Logged`].
pub const LOG_TOPIC: &str = "log";

/// An event every projection of this node has applied: the live tail of the log, for the
/// explorer and the `events:all` feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged(pub StoredEvent);

/// Events read and applied per transaction.
const BATCH: usize = 500;
/// How often the tail looks for events when no notification came.
const POLL: Duration = Duration::from_millis(500);

impl ProjectionRunner {
    /// Applies every event available now; returns how many were read.
    pub async fn catch_up(&mut self) -> Result<usize, RunError> {
        self.catch_up_with(|_| {}).await
    }

    /// [`Self::catch_up`], telling `on_batch` how many events each batch applied.
    pub async fn catch_up_with(
        &mut self,
        mut on_batch: impl FnMut(usize),
    ) -> Result<usize, RunError> {
        let mut total = 0;
        loop {
            let read = self.step().await?;
            total += read;
            on_batch(read);
            if read < BATCH {
                return Ok(total);
            }
        }
    }

    /// Tails the log forever. Errors (an unreachable store, say) are logged and retried.
    pub async fn run(mut self) {
        let appended = self.log.appended();
        // What the tail announces from here on is remembered for pages that reconnect.
        self.pubsub.remember_from(self.slowest());
        loop {
            match self.catch_up().await {
                Ok(_) => {}
                Err(error) => {
                    crate::metrics::projection_error();
                    tracing::warn!(%error, "projection runner: will retry");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            let _ = tokio::time::timeout(POLL, appended.notified()).await;
        }
    }

    /// Reads one batch after the slowest projection and applies it where needed.
    async fn step(&mut self) -> Result<usize, RunError> {
        let from = self.slowest();
        let batch = self.log.read_after(from, BATCH).await?;
        let Some(last) = batch.last().map(StoredEvent::cursor) else {
            crate::metrics::projection_lag(0.0);
            return Ok(0);
        };
        // A full batch leaves more to read, the next one recorded no earlier than this batch's
        // last; a short one reached the end of what is readable.
        let lag = match batch.last() {
            Some(newest) if batch.len() == BATCH => (chrono::Utc::now() - newest.recorded_at)
                .to_std()
                .map_or(0.0, |age| age.as_secs_f64()),
            _ => 0.0,
        };
        // Every projection applies the batch, so what it changes is all announced: pages that
        // reconnect can be told what they missed.
        let complete = self.projections.iter().all(|r| r.checkpoint < last);
        let mut changes = Vec::new();
        for registered in &mut self.projections {
            // One ahead of the others (rebuilt separately, say) must not go back.
            if registered.checkpoint >= last {
                continue;
            }
            changes.extend(apply_batch(registered, &batch, last)?);
            registered.checkpoint = last;
        }
        self.pubsub.publish_batch(from, last, changes);
        if !complete {
            self.pubsub.remember_from(last);
        }
        let read = batch.len();
        if self.pubsub.has_subscribers(LOG_TOPIC) {
            for event in batch {
                self.pubsub.publish(Change::new(LOG_TOPIC, Logged(event)));
            }
        }
        self.progress.send_replace(last);
        crate::metrics::projection_lag(lag);
        Ok(read)
    }
}
