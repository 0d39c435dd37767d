//! The live tail: reads the global log after the slowest projection, a batch at a time, and
//! applies each batch to every projection that has not seen it, in one transaction for all,
//! announcing what changed on the pubsub. The log is read gap-safely (see
//! [`EventLog::read_after`](crate::store::EventLog::read_after)). Appends wake the tail
//! (Postgres: a NOTIFY from any other node; embedded: the append itself); a poll covers lost
//! notifications and events written by anything that sends none.
//!
//! This node's own group commits are not read back: the store hands them over from memory
//! with the log's last cursor before them, and when that is where the projections are, the
//! batch is what comes next in the log and is applied as it is (see `src/store/feed.rs`). That
//! is the path between a command's commit and its reply (read-your-writes), so it saves the
//! reply two round trips to the store; the log is read whenever anything else came first.

use std::sync::Arc;
use std::time::Duration;

use cinder_read_models::{Change, Cursor, StoredEvent};
use tokio::sync::broadcast;

use super::registered::{apply_batch_together, Registered};
use super::{ProjectionRunner, RunError};
use crate::store::CommittedBatch;

/// The pubsub topic on which every applied event is announced, in log order, as [`Logged`].
pub const LOG_TOPIC: &str = "log";

/// An event every projection of this node has applied: the live tail of the log, for the
/// explorer and the `events:all` feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged(pub StoredEvent);

/// Batches the tail applied, by where they came from (`source`): `memory`, this node's own
/// group commits taken as they were committed, or `log`, read from the store.
pub const TAIL_BATCHES: &str = "cinder_tail_batches_total";

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
    ///
    /// This node's own group commits arrive from memory ([`EventLog::committed`]) and are
    /// applied as they are when they are what comes next in the log (see
    /// [`Self::apply_committed`]); everything else is read from the store, when a notification
    /// or the poll says there may be more.
    ///
    /// [`EventLog::committed`]: crate::store::EventLog::committed
    pub async fn run(mut self) {
        let appended = self.log.appended();
        let mut committed = self.log.committed();
        // What the tail announces from here on is remembered for pages that reconnect.
        self.pubsub.remember_from(self.slowest());
        let mut read = true;
        let mut feed_open = true;
        loop {
            if read {
                if let Err(error) = self.catch_up().await {
                    self.failed(error).await;
                    continue;
                }
            }
            read = tokio::select! {
                // This node's own batches first: they are what its commands wait for.
                biased;
                batch = committed.recv(), if feed_open => match batch {
                    Ok(batch) => match self.apply_committed(batch) {
                        Ok(applied) => !applied,
                        Err(error) => {
                            self.failed(error).await;
                            true
                        }
                    },
                    // Some were missed (a budget, see `feed.rs`): the log has them.
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    // Not while the log lives; the rest still wake the tail.
                    Err(broadcast::error::RecvError::Closed) => {
                        feed_open = false;
                        true
                    }
                },
                _ = appended.notified() => true,
                _ = tokio::time::sleep(POLL) => true,
            };
        }
    }

    /// Counts and logs a failed step; waits a moment before the tail goes on.
    async fn failed(&self, error: RunError) {
        crate::metrics::projection_error();
        tracing::warn!(%error, "projection runner: will retry");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// Applies a batch this node committed, from memory, if it is exactly what comes next in
    /// the log: its `previous` (the log's last event before it, read under the log lock) is
    /// where the projections are. Returns false if it is not (something else was written in
    /// between, or the tail is behind): the log must be read instead. A batch the tail has
    /// already read is done with.
    pub fn apply_committed(&mut self, batch: Arc<CommittedBatch>) -> Result<bool, RunError> {
        let from = self.slowest();
        if batch.last() <= from {
            return Ok(true);
        }
        if batch.previous != from {
            return Ok(false);
        }
        // Usually the only holder by now; a copy otherwise.
        let batch = Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone());
        self.apply(from, batch.events, false)?;
        metrics::counter!(TAIL_BATCHES, "source" => "memory").increment(1);
        Ok(true)
    }

    /// Reads one batch after the slowest projection and applies it where needed.
    async fn step(&mut self) -> Result<usize, RunError> {
        let from = self.slowest();
        let batch = self.log.read_after(from, BATCH).await?;
        let full = batch.len() == BATCH;
        let read = self.apply(from, batch, full)?;
        if read > 0 {
            metrics::counter!(TAIL_BATCHES, "source" => "log").increment(1);
        }
        Ok(read)
    }

    /// Applies `batch`, the events right after `from` in the log (`more` if the log goes on
    /// past it), to every projection that has not seen them, and announces what they changed.
    fn apply(
        &mut self,
        from: Cursor,
        batch: Vec<StoredEvent>,
        more: bool,
    ) -> Result<usize, RunError> {
        let Some(last) = batch.last().map(StoredEvent::cursor) else {
            crate::metrics::projection_lag(0.0);
            return Ok(0);
        };
        // A batch with more after it was recorded no earlier than its last event; one that
        // reached the end of what is readable is not behind.
        let lag = match batch.last() {
            Some(newest) if more => (chrono::Utc::now() - newest.recorded_at)
                .to_std()
                .map_or(0.0, |age| age.as_secs_f64()),
            _ => 0.0,
        };
        // Every projection applies the batch, so what it changes is all announced: pages that
        // reconnect can be told what they missed.
        let complete = self.projections.iter().all(|r| r.checkpoint < last);
        // One ahead of the others (rebuilt separately, say) must not go back.
        let behind: Vec<&Registered> = self
            .projections
            .iter()
            .filter(|registered| registered.checkpoint < last)
            .collect();
        let changes = apply_batch_together(&behind, &batch, last)?;
        for registered in &mut self.projections {
            registered.checkpoint = registered.checkpoint.max(last);
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
