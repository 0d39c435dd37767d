//! The event store: where commands append events, and from where the global log is read.
//!
//! [`EventLog`] is the one handle the rest of the server uses, over one of two stores with the
//! same semantics: Postgres (reads of one aggregate's history go through postgres-es; appends are
//! ours because they must return the events' global positions, and postgres-es' `persist`
//! returns nothing), or an embedded sled database for a node with no Postgres.

mod appender;
mod embedded;
mod feed;
mod postgres;
mod turn;

use cinder_domain::{Cursor, StoredEvent};
use cqrs_es::persist::{PersistenceError, SerializedEvent};
use cqrs_es::Aggregate;

pub use embedded::EmbeddedEventLog;
pub use feed::CommittedBatch;
pub use postgres::{PostgresEventLog, LATEST_OF_TYPE};
pub use turn::Turn;

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended to the aggregate first (optimistic concurrency).
    #[error("another command changed this first")]
    Conflict,
    /// The store cannot be reached right now.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    #[error("event store error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                StoreError::Conflict
            }
            // lock_not_available: a hot aggregate's turn was not had within its budget.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03") => {
                StoreError::Unavailable(error.to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Other(error.to_string()),
        }
    }
}

impl From<PersistenceError> for StoreError {
    fn from(error: PersistenceError) -> Self {
        match error {
            PersistenceError::OptimisticLockError => StoreError::Conflict,
            PersistenceError::ConnectionError(e) => StoreError::Unavailable(e.to_string()),
            PersistenceError::DeserializationError(e) => StoreError::Other(e.to_string()),
            PersistenceError::UnknownError(e) => match e.downcast::<sqlx::Error>() {
                Ok(sqlx_error) => StoreError::from(*sqlx_error),
                Err(e) => StoreError::Other(e.to_string()),
            },
        }
    }
}

/// The event store this node writes to and tails.
#[derive(Clone)]
pub enum EventLog {
    Postgres(PostgresEventLog),
    /// A sled database of this process: one node, no Postgres needed.
    Embedded(EmbeddedEventLog),
}

impl EventLog {
    /// Appends one aggregate's new events atomically, returning each event's cursor in the
    /// global log. [`StoreError::Conflict`] if any of their sequences is taken. Appends made
    /// at the same time share one transaction (group commit, see `appender.rs`); each is
    /// answered when that has committed.
    pub async fn append(
        &self,
        events: impl Into<Vec<NewEvent>>,
    ) -> Result<Vec<Cursor>, StoreError> {
        let events = events.into();
        // One aggregate's events: they share its type.
        let appended = events
            .first()
            .map(|first| (first.aggregate_type.clone(), events.len()));
        let cursors = match self {
            EventLog::Postgres(log) => log.append(events).await,
            EventLog::Embedded(log) => log.append(events).await,
        }?;
        if let Some((aggregate_type, count)) = appended {
            crate::metrics::events_appended(&aggregate_type, count);
        }
        Ok(cursors)
    }

    /// Takes aggregate `aggregate_id`'s turn, across every node on this store, and loads its
    /// events after sequence `after` (see `turn.rs`). `None` on the embedded store, which has
    /// one writer process anyway: append as usual.
    pub async fn take_turn<A: Aggregate>(
        &self,
        aggregate_id: &str,
        after: usize,
    ) -> Result<Option<(Turn, Vec<SerializedEvent>)>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.take_turn::<A>(aggregate_id, after).await.map(Some),
            EventLog::Embedded(_) => Ok(None),
        }
    }

    /// Appends one aggregate's new events in the turn taken on it, and ends the turn: as
    /// [`EventLog::append`], but never a conflict (nobody else could append meanwhile).
    pub async fn append_in_turn(
        &self,
        turn: Turn,
        events: impl Into<Vec<NewEvent>>,
    ) -> Result<Vec<Cursor>, StoreError> {
        let events = events.into();
        let appended = events
            .first()
            .map(|first| (first.aggregate_type.clone(), events.len()));
        let cursors = match self {
            EventLog::Postgres(log) => log.append_in_turn(turn, events).await,
            // Never taken on this store (see `take_turn`); the turn is a Postgres transaction.
            EventLog::Embedded(log) => {
                drop(turn);
                log.append(events).await
            }
        }?;
        if let Some((aggregate_type, count)) = appended {
            crate::metrics::events_appended(&aggregate_type, count);
        }
        Ok(cursors)
    }

    /// Group commits written since start: each one transaction (embedded: one flush).
    pub fn batches(&self) -> u64 {
        match self {
            EventLog::Postgres(log) => log.batches(),
            EventLog::Embedded(log) => log.batches(),
        }
    }

    /// The events of one aggregate after sequence `after`, in sequence order.
    pub async fn load<A: Aggregate>(
        &self,
        aggregate_id: &str,
        after: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.load::<A>(aggregate_id, after).await,
            EventLog::Embedded(log) => log.load::<A>(aggregate_id, after).await,
        }
    }

    /// Up to `limit` events after `after`, in log order. Both stores commit appends in log
    /// order, so nothing can later appear before what this returns: a reader that keeps its
    /// cursor never misses an event. (The embedded store also holds back events until they are
    /// on disk.)
    pub async fn read_after(
        &self,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.read_after(after, limit).await,
            EventLog::Embedded(log) => log.read_after(after, limit).await,
        }
    }

    /// Notified whenever new events may have become readable (on this node or any other),
    /// except for this node's own batches that a tail took from [`EventLog::committed`].
    pub fn appended(&self) -> std::sync::Arc<tokio::sync::Notify> {
        match self {
            EventLog::Postgres(log) => log.appended(),
            EventLog::Embedded(log) => log.appended(),
        }
    }

    /// The batches this node commits from now on, as the log holds them, for its tail to apply
    /// without reading them back (see `feed.rs`). While anyone takes them, [`EventLog::appended`]
    /// is not notified of those batches.
    pub fn committed(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<CommittedBatch>> {
        match self {
            EventLog::Postgres(log) => log.committed(),
            EventLog::Embedded(log) => log.committed(),
        }
    }

    /// How many events commands have loaded to rebuild aggregates since start.
    pub fn events_loaded(&self) -> u64 {
        match self {
            EventLog::Postgres(log) => log.events_loaded(),
            EventLog::Embedded(log) => log.events_loaded(),
        }
    }

    /// Starts what wakes [`EventLog::appended`] when other writers append.
    pub fn spawn_listener(&self) -> tokio::task::JoinHandle<()> {
        match self {
            EventLog::Postgres(log) => log.spawn_listener(),
            EventLog::Embedded(log) => log.spawn_listener(),
        }
    }

    /// The cursor of the event at global `position`, if there is one.
    pub async fn cursor_at(&self, position: i64) -> Result<Option<Cursor>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.cursor_at(position).await,
            EventLog::Embedded(log) => log.cursor_at(position).await,
        }
    }

    /// Up to `limit` events before position `before` (all if `None`), newest first, optionally
    /// of one aggregate type. Filtering by type reads an index of types, so a rare (or unknown)
    /// type costs no scan of the log.
    pub async fn latest(
        &self,
        aggregate_type: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.latest(aggregate_type, before, limit).await,
            EventLog::Embedded(log) => log.latest(aggregate_type, before, limit).await,
        }
    }

    /// One page of an aggregate's history: up to `limit` of its events with a sequence above
    /// `after`, in sequence order. Histories grow without bound, so they are only ever read a
    /// page at a time.
    pub async fn stream_page(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        match self {
            EventLog::Postgres(log) => {
                log.stream_page(aggregate_type, aggregate_id, after, limit)
                    .await
            }
            EventLog::Embedded(log) => {
                log.stream_page(aggregate_type, aggregate_id, after, limit)
                    .await
            }
        }
    }

    /// The sequence of an aggregate's last event (its number of events), if it has any.
    pub async fn last_sequence(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.last_sequence(aggregate_type, aggregate_id).await,
            EventLog::Embedded(log) => log.last_sequence(aggregate_type, aggregate_id).await,
        }
    }

    /// The event at global `position`, if there is one.
    pub async fn event_at(&self, position: i64) -> Result<Option<StoredEvent>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.event_at(position).await,
            EventLog::Embedded(log) => log.event_at(position).await,
        }
    }

    /// How many events the log holds.
    pub async fn count(&self) -> Result<u64, StoreError> {
        match self {
            EventLog::Postgres(log) => log.count().await,
            EventLog::Embedded(log) => log.count().await,
        }
    }

    /// Whether the store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            EventLog::Postgres(log) => log.ping().await,
            EventLog::Embedded(log) => log.ping().await,
        }
    }
}
