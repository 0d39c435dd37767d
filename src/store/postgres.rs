//! The Postgres event store: postgres-es' `events` table plus our global log columns
//! (see `migrations/`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cinder_read_models::{Cursor, StoredEvent};
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgPool, Row};
use tokio::sync::Notify;

use super::{NewEvent, StoreError};

/// The channel our trigger notifies when events are inserted.
const CHANNEL: &str = "cinder_events";

/// The columns [`stored_event`] reads.
const COLUMNS: &str = "position, tx_id::text AS tx, aggregate_type, aggregate_id, sequence, \
                       event_type, event_version, payload, metadata, recorded_at";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct PostgresEventLog {
    pool: PgPool,
    repository: Arc<PostgresEventRepository>,
    appended: Arc<Notify>,
    /// Wakes this log's announcer, started by the first append (see [`announce`]).
    announcer: Arc<OnceLock<Arc<Notify>>>,
    /// Events read to rebuild aggregates for commands (the aggregate cache keeps this low).
    loaded: Arc<AtomicU64>,
}

impl PostgresEventLog {
    /// Connects a pool to `url`. Acquiring a connection gives up after a few seconds, so that
    /// while Postgres is down commands fail fast instead of hanging.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await?;
        Ok(Self::with_pool(pool))
    }

    pub fn with_pool(pool: PgPool) -> Self {
        Self {
            repository: Arc::new(PostgresEventRepository::new(pool.clone())),
            pool,
            appended: Arc::new(Notify::new()),
            announcer: Arc::default(),
            loaded: Arc::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the migrations in `migrations/` that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    /// Listens for the NOTIFY that follows appends (from any node) and wakes [`Self::appended`]
    /// waiters, reconnecting after errors. Runs until the process ends.
    pub fn spawn_listener(&self) -> tokio::task::JoinHandle<()> {
        let pool = self.pool.clone();
        let appended = self.appended.clone();
        tokio::spawn(async move {
            loop {
                match listen(&pool, &appended).await {
                    Ok(()) => {}
                    Err(error) => tracing::warn!(%error, "event notification listener failed"),
                }
                // Whatever was missed while reconnecting, the tail's poll picks up; wake it once.
                appended.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    pub fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    pub async fn append(&self, events: &[NewEvent]) -> Result<Vec<Cursor>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // One statement: atomic without an explicit transaction, one round trip.
        let mut types = Vec::with_capacity(events.len());
        let mut ids = Vec::with_capacity(events.len());
        let mut sequences = Vec::with_capacity(events.len());
        let mut event_types = Vec::with_capacity(events.len());
        let mut versions = Vec::with_capacity(events.len());
        let mut payloads = Vec::with_capacity(events.len());
        let mut metadata = Vec::with_capacity(events.len());
        for event in events {
            types.push(event.aggregate_type.as_str());
            ids.push(event.aggregate_id.as_str());
            sequences.push(event.sequence);
            event_types.push(event.event_type.as_str());
            versions.push(event.event_version.as_str());
            payloads.push(event.payload.to_string());
            metadata.push(event.metadata.to_string());
        }
        let rows = sqlx::query(
            "INSERT INTO events
                 (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT t, i, s, e, v, p::json, m::json
               FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
                 AS new(t, i, s, e, v, p, m)
             RETURNING position, tx_id::text AS tx",
        )
        .bind(&types)
        .bind(&ids)
        .bind(&sequences)
        .bind(&event_types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&metadata)
        .fetch_all(&self.pool)
        .await?;
        let mut cursors = rows
            .iter()
            .map(|row| {
                Ok(Cursor {
                    tx: parse_tx(row.try_get("tx")?)?,
                    position: row.try_get("position")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        cursors.sort();
        // This node's tail reads it at once; other nodes' hear of it by NOTIFY.
        self.appended.notify_one();
        self.announcer
            .get_or_init(|| announce(self.pool.clone()))
            .notify_one();
        Ok(cursors)
    }

    pub async fn load<A: Aggregate>(
        &self,
        aggregate_id: &str,
        after: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let events = self
            .repository
            .get_last_events::<A>(aggregate_id, after)
            .await?;
        self.loaded
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(events)
    }

    pub fn events_loaded(&self) -> u64 {
        self.loaded.load(Ordering::Relaxed)
    }

    pub async fn read_after(
        &self,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}
               FROM events
              WHERE (tx_id, position) > ($1::text::xid8, $2)
                AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY tx_id, position
              LIMIT $3"
        ))
        .bind(after.tx.to_string())
        .bind(after.position)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    /// The cursor of the event at global `position`, if there is one.
    pub async fn cursor_at(&self, position: i64) -> Result<Option<Cursor>, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT tx_id::text, position FROM events WHERE position = $1")
                .bind(position)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(tx, position)| {
            Ok(Cursor {
                tx: parse_tx(tx)?,
                position,
            })
        })
        .transpose()
    }

    /// Up to `limit` events before `before` (all if `None`), newest first, optionally of one
    /// aggregate type: the explorer's view of the log.
    pub async fn latest(
        &self,
        aggregate_type: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events
              WHERE ($1::text IS NULL OR aggregate_type = $1)
                AND ($2::bigint IS NULL OR position < $2)
              ORDER BY position DESC
              LIMIT $3"
        ))
        .bind(aggregate_type)
        .bind(before)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    /// Every event of one aggregate, in sequence order.
    pub async fn stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2
              ORDER BY sequence"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    /// How many events the log holds.
    pub async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(count as u64)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

async fn listen(pool: &PgPool, appended: &Notify) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Events committed before LISTEN took effect are found by the first read after this.
    appended.notify_one();
    loop {
        listener.recv().await?;
        appended.notify_one();
    }
}

/// Tells other nodes that events were appended: `NOTIFY cinder_events`, sent after the append's
/// commit rather than by a trigger inside it, because Postgres serialises the commits of all
/// transactions that NOTIFY (a database-wide lock held through the commit's WAL flush), which
/// capped appends at a few hundred per second. Appends made while one notification is on its
/// way share the next, so under load there is about one per round trip, not one per append.
/// The notification itself needs no durability, so it commits without waiting for the disk.
fn announce(pool: PgPool) -> Arc<Notify> {
    let wake = Arc::new(Notify::new());
    let waiting = wake.clone();
    tokio::spawn(async move {
        loop {
            waiting.notified().await;
            let sent = sqlx::query(
                "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')",
            )
            .bind(CHANNEL)
            .execute(&pool)
            .await;
            if let Err(error) = sent {
                // Other nodes' tails poll as well; they will see the events a little later.
                tracing::debug!(%error, "could not announce appended events");
            }
        }
    });
    wake
}

fn parse_tx(text: String) -> Result<u64, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Other(format!("unreadable transaction id {text:?}")))
}

fn stored_event(row: &sqlx::postgres::PgRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        position: row.try_get("position")?,
        tx: parse_tx(row.try_get("tx")?)?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}
