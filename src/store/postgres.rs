//! The Postgres event store: postgres-es' `events` table plus our global log columns
//! (see `migrations/`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cinder_domain::{Cursor, RawEvent, StoredEvent};
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Row};
use tokio::sync::{broadcast, Notify};

use super::appender::{Appender, BatchWriter, Placed, Written};
use super::feed::CommittedBatch;
use super::turn::Turn;
use super::{NewEvent, StoreError};

/// The channel our trigger notifies when events are inserted.
const CHANNEL: &str = "cinder_events";

/// The columns [`stored_event`] reads.
const COLUMNS: &str = "position, tx_id::text AS tx, aggregate_type, aggregate_id, sequence, \
                       event_type, event_version, payload, metadata, recorded_at";

/// The columns [`raw_event`] reads: JSON as text.
const RAW_COLUMNS: &str = "position, tx_id::text AS tx, aggregate_type, aggregate_id, sequence, \
                           event_type, event_version, payload::text AS payload, \
                           metadata::text AS metadata, recorded_at";

/// The tail of the log after cursor `($1, $2)`, at most `$3` events. Appends commit in
/// `(tx_id, position)` order (each takes the log lock before it gets its transaction id and
/// positions, see `migrations/0007_commit_in_log_order.sql`), so what a snapshot shows is a
/// prefix of the log: nothing can later appear before a cursor, and no horizon is needed, so
/// a transaction left open elsewhere (that appends no events) delays no one.
const AFTER: &str = "FROM events
                     WHERE (tx_id, position) > ($1::text::xid8, $2)
                     ORDER BY tx_id, position
                     LIMIT $3";

/// The newest events of type `$1` before position `$2`, at most `$3`, on the index
/// `events_type_position`. The type is matched as a range (`>= $1 AND <= $1`) and the order
/// names it, on purpose: with a plain `= $1` the planner treats the type as a constant, may
/// walk `events_position` backwards instead and filter, and that reads every later event of
/// other types (a type last written long ago, or never, is a walk through the whole log).
pub const LATEST_OF_TYPE: &str = "FROM events
     WHERE aggregate_type >= $1 AND aggregate_type <= $1 AND position < $2
     ORDER BY aggregate_type DESC, position DESC
     LIMIT $3";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct PostgresEventLog {
    pool: PgPool,
    repository: Arc<PostgresEventRepository>,
    appended: Arc<Notify>,
    appender: Appender<BatchInsert>,
    waker: Waker,
    /// Events read to rebuild aggregates for commands (the aggregate cache keeps this low).
    loaded: Arc<AtomicU64>,
}

/// Writes a batch of appends with `cinder_append` (`migrations/0008_group_commit.sql`): one
/// statement, one round trip, one transaction.
struct BatchInsert {
    pool: PgPool,
    /// Shared with the log, whose turns wake the tails too.
    waker: Waker,
}

impl BatchWriter for BatchInsert {
    async fn write(&self, batch: &[&[NewEvent]]) -> Result<Written, StoreError> {
        call_append(&self.pool, batch).await
    }

    fn wake(&self, handed_over: bool) {
        self.waker.wake(handed_over);
    }
}

/// Tells the tails that this node appended: its own at once (unless it took the batch from
/// memory), other nodes' by NOTIFY.
#[derive(Clone)]
struct Waker {
    pool: PgPool,
    appended: Arc<Notify>,
    /// Wakes this log's announcer, started by the first append (see [`announce`]).
    announcer: Arc<OnceLock<Arc<Notify>>>,
    /// The payload of this log's NOTIFYs, so that its own listener can tell them from other
    /// nodes' and ignore them (its tail has those events already, or has been woken for them).
    origin: Arc<str>,
}

impl Waker {
    fn wake(&self, handed_over: bool) {
        if !handed_over {
            self.appended.notify_one();
        }
        self.announcer
            .get_or_init(|| announce(self.pool.clone(), self.origin.clone()))
            .notify_one();
    }
}

/// Calls `cinder_append` with `batch` on `executor` (the pool for a group commit, a turn's
/// transaction for a hot aggregate): each append's places, or `None` if it was refused, and the
/// log's last cursor before the batch.
pub(super) async fn call_append<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    batch: &[&[NewEvent]],
) -> Result<Written, StoreError> {
    let count = batch.iter().map(|events| events.len()).sum();
    let mut appends = Vec::with_capacity(count);
    let mut types = Vec::with_capacity(count);
    let mut ids = Vec::with_capacity(count);
    let mut sequences = Vec::with_capacity(count);
    let mut event_types = Vec::with_capacity(count);
    let mut versions = Vec::with_capacity(count);
    let mut payloads = Vec::with_capacity(count);
    let mut metadata = Vec::with_capacity(count);
    for (append, events) in batch.iter().enumerate() {
        for event in events.iter() {
            appends.push(append as i32);
            types.push(event.aggregate_type.as_str());
            ids.push(event.aggregate_id.as_str());
            sequences.push(event.sequence);
            event_types.push(event.event_type.as_str());
            versions.push(event.event_version.as_str());
            payloads.push(event.payload.to_string());
            metadata.push(event.metadata.to_string());
        }
    }
    type Row = (i32, i64, String, chrono::DateTime<chrono::Utc>, String, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT append, position, tx, recorded_at, previous_tx, previous_position
           FROM cinder_append($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&appends)
    .bind(&types)
    .bind(&ids)
    .bind(&sequences)
    .bind(&event_types)
    .bind(&versions)
    .bind(&payloads)
    .bind(&metadata)
    .fetch_all(executor)
    .await?;
    let mut written = Written {
        appends: vec![None; batch.len()],
        previous: None,
    };
    for (append, position, tx, recorded_at, previous_tx, previous_position) in rows {
        let slot = usize::try_from(append)
            .ok()
            .and_then(|append| written.appends.get_mut(append))
            .ok_or_else(|| StoreError::Other(format!("cinder_append: no append {append}")))?;
        slot.get_or_insert_with(Vec::new).push(Placed {
            cursor: Cursor {
                tx: parse_tx(tx)?,
                position,
            },
            recorded_at,
        });
        if written.previous.is_none() {
            written.previous = Some(Cursor {
                tx: parse_tx(previous_tx)?,
                position: previous_position,
            });
        }
    }
    for (result, events) in written.appends.iter_mut().zip(batch) {
        if let Some(placed) = result {
            if placed.len() != events.len() {
                return Err(StoreError::Other(
                    "cinder_append wrote part of an append".into(),
                ));
            }
            placed.sort_by_key(|p| p.cursor);
        }
    }
    Ok(written)
}

impl PostgresEventLog {
    /// Connects a pool to `url`. Acquiring a connection gives up after a few seconds, so that
    /// while Postgres is down commands fail fast instead of hanging.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // Postgres' NOTICEs (`relation "_sqlx_migrations" already exists, skipping`, at every
        // start) are noise to an operator: only warnings and errors are sent to us.
        let options = url
            .parse::<PgConnectOptions>()?
            .options([("client_min_messages", "warning")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await?;
        Ok(Self::with_pool(pool))
    }

    pub fn with_pool(pool: PgPool) -> Self {
        let appended = Arc::new(Notify::new());
        let waker = Waker {
            pool: pool.clone(),
            appended: appended.clone(),
            announcer: Arc::new(OnceLock::new()),
            origin: format!("{:016x}", rand::random::<u64>()).into(),
        };
        Self {
            repository: Arc::new(PostgresEventRepository::new(pool.clone())),
            appender: Appender::new(BatchInsert {
                pool: pool.clone(),
                waker: waker.clone(),
            }),
            waker,
            pool,
            appended,
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
        let origin = self.waker.origin.clone();
        tokio::spawn(async move {
            loop {
                match listen(&pool, &appended, &origin).await {
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

    /// The batches this node commits from now on (see `feed.rs`).
    pub fn committed(&self) -> broadcast::Receiver<Arc<CommittedBatch>> {
        self.appender.committed()
    }

    /// Appends one aggregate's events atomically, in the next group commit (see
    /// [`Appender`]).
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Cursor>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.appender.append(events).await
    }

    /// Group commits written since start (each one transaction).
    pub fn batches(&self) -> u64 {
        self.appender.batches()
    }

    /// Takes aggregate `aggregate_id`'s turn (see [`Turn`]) and loads its events after
    /// sequence `after`, as they are with every earlier writer's append committed.
    pub async fn take_turn<A: Aggregate>(
        &self,
        aggregate_id: &str,
        after: usize,
    ) -> Result<(Turn, Vec<SerializedEvent>), StoreError> {
        let (turn, events) = Turn::take(&self.pool, A::TYPE, aggregate_id, after).await?;
        self.loaded
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok((turn, events))
    }

    /// Appends a turn's events (one aggregate's) and commits it, ending the turn.
    pub async fn append_in_turn(
        &self,
        turn: Turn,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Cursor>, StoreError> {
        let (cursors, batch) = turn.append(events, self.appender.wants_batches()).await?;
        if !cursors.is_empty() {
            let handed_over = batch.is_some_and(|batch| self.appender.hand_over(batch));
            self.waker.wake(handed_over);
        }
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
        let rows = sqlx::query(&format!("SELECT {COLUMNS} {AFTER}"))
            .bind(after.tx.to_string())
            .bind(after.position)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_event).collect()
    }

    /// [`Self::read_after`], with payloads and metadata left as JSON text: for rebuilds, where
    /// most events concern one projection only (see [`RawEvent`]). Read with a binary `COPY`,
    /// which costs both sides less per row than a query's rows.
    pub async fn read_raw_after(
        &self,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<RawEvent>, StoreError> {
        use futures_util::StreamExt;
        use sqlx::postgres::PgPoolCopyExt;
        // COPY takes no parameters; these are numbers.
        let after_query = AFTER
            .replace("$1::text", &format!("'{}'", after.tx))
            .replace("$2", &after.position.to_string())
            .replace("$3", &limit.to_string());
        let statement =
            format!("COPY (SELECT {RAW_COLUMNS} {after_query}) TO STDOUT (FORMAT binary)");
        let mut chunks = self.pool.copy_out_raw(&statement).await?;
        let mut copy = RawCopy::with_capacity(limit);
        while let Some(chunk) = chunks.next().await {
            copy.feed(&chunk?)?;
        }
        copy.finish()
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
    /// aggregate type: the explorer's view of the log. Each filter has a query of its own, so
    /// that each is planned on its index (`events_position`, or `events_type_position` of
    /// `migrations/0006_events_by_type.sql`) rather than a generic plan that scans.
    pub async fn latest(
        &self,
        aggregate_type: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        let rows = match aggregate_type {
            Some(aggregate_type) => {
                sqlx::query(&format!("SELECT {COLUMNS} {LATEST_OF_TYPE}"))
                    .bind(aggregate_type)
                    .bind(before)
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM events
                      WHERE position < $1
                      ORDER BY position DESC
                      LIMIT $2"
                ))
                .bind(before)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(stored_event).collect()
    }

    /// Up to `limit` events of one aggregate after sequence `after`, in sequence order (on
    /// the primary key).
    pub async fn stream_page(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
              ORDER BY sequence
              LIMIT $4"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    /// The sequence of an aggregate's last event, if it has any.
    pub async fn last_sequence(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT max(sequence) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The event at global `position`, if there is one.
    pub async fn event_at(&self, position: i64) -> Result<Option<StoredEvent>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE position = $1"))
            .bind(position)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stored_event).transpose()
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

async fn listen(pool: &PgPool, appended: &Notify, origin: &str) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Events committed before LISTEN took effect are found by the first read after this.
    appended.notify_one();
    loop {
        let notification = listener.recv().await?;
        // This node's own appends woke its tail when they committed.
        if notification.payload() != origin {
            appended.notify_one();
        }
    }
}

/// Tells other nodes that events were appended: `NOTIFY cinder_events`, sent after the append's
/// commit rather than by a trigger inside it, because Postgres serialises the commits of all
/// transactions that NOTIFY (a database-wide lock held through the commit's WAL flush), which
/// capped appends at a few hundred per second. Appends made while one notification is on its
/// way share the next, so under load there is about one per round trip, not one per append.
/// The notification itself needs no durability, so it commits without waiting for the disk.
/// Its payload is the log's `origin`, so that this node's listener can skip its own.
fn announce(pool: PgPool, origin: Arc<str>) -> Arc<Notify> {
    let wake = Arc::new(Notify::new());
    let waiting = wake.clone();
    tokio::spawn(async move {
        loop {
            waiting.notified().await;
            let sent = sqlx::query(
                "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)",
            )
            .bind(CHANNEL)
            .bind(&*origin)
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

/// The events of a binary `COPY` of [`RAW_COLUMNS`], read as its data arrives (see "Binary
/// Format" in Postgres' `COPY` documentation: a header, then per row a field count and each
/// field as a length and bytes, then -1).
struct RawCopy {
    events: Vec<RawEvent>,
    /// The start of a row (or of the header) that has not all arrived yet.
    pending: Vec<u8>,
    header: bool,
    ended: bool,
}

impl RawCopy {
    fn with_capacity(rows: usize) -> Self {
        Self {
            events: Vec::with_capacity(rows),
            pending: Vec::new(),
            header: false,
            ended: false,
        }
    }

    /// Reads the rows that `chunk` completes. (Postgres sends a row per chunk: then nothing is
    /// copied.)
    fn feed(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            let read = self.read(chunk)?;
            self.pending.extend_from_slice(&chunk[read..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(chunk);
            let read = self.read(&pending)?;
            pending.drain(..read);
            self.pending = pending;
        }
        Ok(())
    }

    /// Reads what is complete at the start of `data`; returns how many bytes that was.
    fn read(&mut self, data: &[u8]) -> Result<usize, StoreError> {
        let mut copy = CopyData { data };
        if !self.header {
            match copy.whole(CopyData::header)? {
                Some(()) => self.header = true,
                None => return Ok(0),
            }
        }
        while !self.ended {
            match copy.whole(CopyData::row)? {
                Some(Some(event)) => self.events.push(event),
                Some(None) => self.ended = true,
                None => break,
            }
        }
        Ok(data.len() - copy.data.len())
    }

    fn finish(self) -> Result<Vec<RawEvent>, StoreError> {
        if !self.ended || !self.pending.is_empty() {
            return Err(unreadable("truncated"));
        }
        Ok(self.events)
    }
}

/// Why a binary `COPY` could not be read.
enum CopyError {
    /// It goes on in data not arrived yet.
    Short,
    Unreadable(StoreError),
}

impl From<StoreError> for CopyError {
    fn from(error: StoreError) -> Self {
        CopyError::Unreadable(error)
    }
}

impl From<CopyError> for StoreError {
    fn from(error: CopyError) -> Self {
        match error {
            CopyError::Short => unreadable("truncated"),
            CopyError::Unreadable(error) => error,
        }
    }
}

/// What is left to read of a binary `COPY`.
struct CopyData<'a> {
    data: &'a [u8],
}

impl<'a> CopyData<'a> {
    /// `read`, if its data has all arrived (else nothing is consumed).
    fn whole<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, CopyError>,
    ) -> Result<Option<T>, StoreError> {
        let mut attempt = CopyData { data: self.data };
        match read(&mut attempt) {
            Ok(value) => {
                self.data = attempt.data;
                Ok(Some(value))
            }
            Err(CopyError::Short) => Ok(None),
            Err(CopyError::Unreadable(error)) => Err(error),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CopyError> {
        if self.data.len() < n {
            return Err(CopyError::Short);
        }
        let (taken, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(taken)
    }

    fn i16(&mut self) -> Result<i16, CopyError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn i32(&mut self) -> Result<i32, CopyError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    /// Signature, flags (none expected), and a header extension to skip.
    fn header(&mut self) -> Result<(), CopyError> {
        if self.take(11)? != b"PGCOPY\n\xff\r\n\0" {
            return Err(unreadable("no binary COPY signature").into());
        }
        if self.i32()? != 0 {
            return Err(unreadable("unexpected flags").into());
        }
        let extension = usize::try_from(self.i32()?).map_err(|_| unreadable("header"))?;
        self.take(extension)?;
        Ok(())
    }

    /// A row of [`RAW_COLUMNS`], or none at the end.
    fn row(&mut self) -> Result<Option<RawEvent>, CopyError> {
        match self.i16()? {
            -1 => return Ok(None),
            10 => {}
            fields => return Err(unreadable(&format!("{fields} fields in a row")).into()),
        }
        // In column order: a struct expression evaluates its fields as written.
        Ok(Some(RawEvent {
            position: self.int8()?,
            tx: parse_tx(self.text()?)?,
            aggregate_type: self.text()?,
            aggregate_id: self.text()?,
            sequence: self.int8()?,
            event_type: self.text()?,
            event_version: self.text()?,
            payload: self.text()?,
            metadata: self.text()?,
            recorded_at: self.timestamptz()?,
        }))
    }

    /// One field's bytes (none of ours is NULL).
    fn field(&mut self) -> Result<&'a [u8], CopyError> {
        let length = usize::try_from(self.i32()?).map_err(|_| unreadable("a NULL field"))?;
        self.take(length)
    }

    fn int8(&mut self) -> Result<i64, CopyError> {
        let bytes = self.field()?;
        Ok(i64::from_be_bytes(
            bytes.try_into().map_err(|_| unreadable("a bigint"))?,
        ))
    }

    fn text(&mut self) -> Result<String, CopyError> {
        let bytes = self.field()?;
        Ok(String::from_utf8(bytes.to_vec()).map_err(|_| unreadable("text not UTF-8"))?)
    }

    /// Microseconds since 2000-01-01 00:00 UTC.
    fn timestamptz(&mut self) -> Result<chrono::DateTime<chrono::Utc>, CopyError> {
        const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
        let micros = self.int8()?;
        Ok(micros
            .checked_add(POSTGRES_EPOCH_MICROS)
            .and_then(chrono::DateTime::from_timestamp_micros)
            .ok_or_else(|| unreadable("a timestamp out of range"))?)
    }
}

fn unreadable(what: &str) -> StoreError {
    StoreError::Other(format!("unreadable COPY of the log: {what}"))
}

#[cfg(test)]
mod tests {
    use super::RawCopy;

    /// A binary COPY of two rows of `RAW_COLUMNS`, as Postgres writes it.
    fn copy() -> Vec<u8> {
        let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&4i32.to_be_bytes());
        data.extend_from_slice(b"skip");
        for (position, payload) in [(7i64, "{\"a\": \"é\"}"), (8, "{}")] {
            data.extend_from_slice(&10i16.to_be_bytes());
            let mut field = |bytes: &[u8]| {
                data.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                data.extend_from_slice(bytes);
            };
            field(&position.to_be_bytes());
            field(b"901");
            field(b"Room");
            field(b"lobby");
            field(&(position - 6).to_be_bytes());
            field(b"MessageSent");
            field(b"2.0.0");
            field(payload.as_bytes());
            field(b"{}");
            // 2026-01-01T00:00:00.25Z
            field(&(820_540_800_250_000i64).to_be_bytes());
        }
        data.extend_from_slice(&(-1i16).to_be_bytes());
        data
    }

    #[test]
    fn a_binary_copy_reads_however_it_is_cut() {
        let data = copy();
        let mut whole = RawCopy::with_capacity(2);
        whole.feed(&data).unwrap();
        let events = whole.finish().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            (events[0].position, events[0].tx, events[0].sequence),
            (7, 901, 1)
        );
        assert_eq!(events[0].aggregate_id, "lobby");
        assert_eq!(events[0].payload, "{\"a\": \"é\"}");
        assert_eq!(events[1].payload, "{}");
        assert_eq!(
            events[1].recorded_at.to_rfc3339(),
            "2026-01-01T00:00:00.250+00:00"
        );
        for cut in 0..data.len() {
            for second in cut..data.len() {
                let mut copy = RawCopy::with_capacity(2);
                copy.feed(&data[..cut]).unwrap();
                copy.feed(&data[cut..second]).unwrap();
                copy.feed(&data[second..]).unwrap();
                assert_eq!(copy.finish().unwrap(), events, "cut at {cut} and {second}");
            }
        }
        let mut truncated = RawCopy::with_capacity(2);
        truncated.feed(&data[..data.len() - 1]).unwrap();
        assert!(truncated.finish().is_err());
    }
}
