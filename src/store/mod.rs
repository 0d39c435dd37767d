//! The event store: where commands append events, and from where the global log is read.
//!
//! [`EventLog`] is the one handle the rest of the server uses. Reads of one aggregate's history
//! go through postgres-es; appends are ours because they must return the events' global
//! positions (postgres-es' `persist` returns nothing).

mod postgres;

use cinder_read_models::{Cursor, StoredEvent};
use cqrs_es::persist::{PersistenceError, SerializedEvent};
use cqrs_es::Aggregate;

pub use postgres::PostgresEventLog;

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
}

impl EventLog {
    /// Appends one aggregate's new events atomically, returning each event's cursor in the
    /// global log. [`StoreError::Conflict`] if any of their sequences is taken.
    pub async fn append(&self, events: &[NewEvent]) -> Result<Vec<Cursor>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.append(events).await,
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
        }
    }

    /// Up to `limit` events after `after`, in log order, and only events that no transaction
    /// still running can appear before: a reader that keeps its cursor never misses one.
    pub async fn read_after(
        &self,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        match self {
            EventLog::Postgres(log) => log.read_after(after, limit).await,
        }
    }

    /// Notified whenever new events may have become readable (on this node or any other).
    pub fn appended(&self) -> std::sync::Arc<tokio::sync::Notify> {
        match self {
            EventLog::Postgres(log) => log.appended(),
        }
    }

    /// How many events commands have loaded to rebuild aggregates since start.
    pub fn events_loaded(&self) -> u64 {
        match self {
            EventLog::Postgres(log) => log.events_loaded(),
        }
    }

    /// Starts what wakes [`EventLog::appended`] when other writers append.
    pub fn spawn_listener(&self) -> tokio::task::JoinHandle<()> {
        match self {
            EventLog::Postgres(log) => log.spawn_listener(),
        }
    }

    /// Whether the store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            EventLog::Postgres(log) => log.ping().await,
        }
    }
}
