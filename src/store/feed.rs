//! What this node has just committed, handed to its own tail from memory.
//!
//! After a group commit the node holds everything its tail would read back from the store: the
//! events, and (from `cinder_append`, see `migrations/0010_append_says_where.sql`) their cursors,
//! the times they were recorded, and the log's last cursor before the batch. When the tail's
//! checkpoint is that cursor, the batch is exactly what comes next in the log (appends commit in
//! log order under the log lock, so nothing can commit between the two), and the tail applies
//! it as it is: no wake-up, no query, no decoding. That takes two round trips to the store off
//! the path between a command's commit and its reply (read-your-writes waits for the tail). If
//! anything else was written in between (another node, a turn, a psql session), the checkpoint
//! differs and the tail reads the log as before; nothing is ever applied twice or skipped,
//! because the tail only ever applies what follows its checkpoint.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cinder_domain::{Cursor, StoredEvent};
use tokio::sync::broadcast;

use super::NewEvent;

/// Batches kept for a tail that has not taken them yet (a budget: one further behind misses
/// some, notices, and reads the log instead).
const FEED_BUDGET: usize = 256;

/// One committed batch as the log now holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedBatch {
    /// The cursor of the log's last event before the batch ([`Cursor::START`] for an empty
    /// log).
    pub previous: Cursor,
    /// The batch's events, in log order (never empty).
    pub events: Vec<StoredEvent>,
}

/// Where an event went in the log, and when it was recorded there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub cursor: Cursor,
    pub recorded_at: DateTime<Utc>,
}

impl CommittedBatch {
    /// The batch of `events` placed where they were, after `previous`; `None` if it is empty.
    /// The events move in as they are: what a reader of the log would get (payloads are the
    /// JSON text the store was given, and serde_json reads back exactly what it wrote, floats
    /// included, with `float_roundtrip`).
    pub fn of(previous: Cursor, events: Vec<(NewEvent, Placed)>) -> Option<Self> {
        let mut events: Vec<StoredEvent> = events
            .into_iter()
            .map(|(event, placed)| StoredEvent {
                position: placed.cursor.position,
                tx: placed.cursor.tx,
                aggregate_type: event.aggregate_type,
                aggregate_id: event.aggregate_id,
                sequence: event.sequence,
                event_type: event.event_type,
                event_version: event.event_version,
                payload: event.payload,
                metadata: event.metadata,
                recorded_at: placed.recorded_at,
            })
            .collect();
        if events.is_empty() {
            return None;
        }
        events.sort_by_key(StoredEvent::cursor);
        Some(Self { previous, events })
    }

    /// The cursor of the batch's last event.
    pub fn last(&self) -> Cursor {
        self.events
            .last()
            .map_or(self.previous, StoredEvent::cursor)
    }
}

/// Where committed batches are handed out: one sender per store, a receiver per tail.
#[derive(Clone)]
pub(super) struct Feed {
    sender: broadcast::Sender<Arc<CommittedBatch>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(FEED_BUDGET).0,
        }
    }
}

impl Feed {
    /// A receiver of the batches committed from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Arc<CommittedBatch>> {
        self.sender.subscribe()
    }

    /// Whether a tail takes batches (if not, there is no point building them).
    pub(super) fn wanted(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Hands `batch` to every tail; returns whether one took it (if none did, the caller wakes
    /// the tails the usual way instead).
    pub(super) fn send(&self, batch: CommittedBatch) -> bool {
        self.sender.send(Arc::new(batch)).is_ok()
    }
}
