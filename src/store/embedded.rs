//! The embedded event store: the same log in a sled database of its own, for a node that has no
//! Postgres.
//!
//! Three trees, written together in one sled transaction per group commit (a batch of appends,
//! see `appender.rs`):
//! - `events`: global position (big-endian) → the event record (JSON);
//! - `streams`: aggregate type, 0, aggregate id, 0, sequence (big-endian) → position, whose
//!   existence is the optimistic concurrency check;
//! - `meta`: `next_position`, and `types_indexed`;
//! - `types`: aggregate type, 0, position (big-endian) → nothing: the log by type, for the
//!   explorer's filtered tail. It is brought up to date by the reads that use it (up to
//!   `types_indexed`), so appends do not pay for it.
//!
//! sled runs transactions one at a time, so positions are handed out in commit order and a
//! plain "position > last seen" tail cannot skip an event. Every event of one batch carries the
//! batch's first position as its `tx`, so `(tx, position)` order is position order.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cinder_domain::{Cursor, StoredEvent};
use cqrs_es::persist::SerializedEvent;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tokio::sync::Notify;

use super::appender::{Appender, BatchWriter, Placed, Written};
use super::feed::CommittedBatch;
use super::{NewEvent, StoreError};

const NEXT_POSITION: &[u8] = b"next_position";
/// The last position the `types` tree covers.
const TYPES_INDEXED: &[u8] = b"types_indexed";
/// Entries the type index writes per batch while it catches up.
const INDEX_BATCH: usize = 10_000;

/// An event as the `events` tree keeps it. Its own type rather than [`StoredEvent`], so the
/// format on disk changes only when this file says so.
#[derive(Serialize, Deserialize)]
struct Record {
    tx: u64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    metadata: serde_json::Value,
    recorded_at: DateTime<Utc>,
}

impl Record {
    fn into_stored(self, position: i64) -> StoredEvent {
        StoredEvent {
            position,
            tx: self.tx,
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            sequence: self.sequence,
            event_type: self.event_type,
            event_version: self.event_version,
            payload: self.payload,
            metadata: self.metadata,
            recorded_at: self.recorded_at,
        }
    }
}

/// A cheap handle: clones share the database, the wake-ups and the counters.
#[derive(Clone)]
pub struct EmbeddedEventLog {
    appender: Appender<BatchWrite>,
    events: sled::Tree,
    streams: sled::Tree,
    meta: sled::Tree,
    types: sled::Tree,
    /// Held while the type index catches up, so two readers do not both index the same events.
    indexing: Arc<std::sync::Mutex<()>>,
    /// The highest position known to be on disk. Tails read no further, so a read model never
    /// holds an event that a crash could take back (and whose position would then be reused).
    durable: Arc<AtomicI64>,
    appended: Arc<Notify>,
    /// Events read to rebuild aggregates for commands (the aggregate cache keeps this low).
    loaded: Arc<AtomicU64>,
}

impl EmbeddedEventLog {
    /// Opens (or creates) the store in the directory `path`. Keep it apart from the read models'
    /// database: those can be deleted and rebuilt, the events cannot.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::with_config(sled::Config::new().path(path))
    }

    /// A store that is deleted when its last handle is dropped (for tests).
    pub fn temporary() -> Result<Self, StoreError> {
        Self::with_config(sled::Config::new().temporary(true))
    }

    fn with_config(config: sled::Config) -> Result<Self, StoreError> {
        let db = config.open()?;
        let events = db.open_tree("events")?;
        let streams = db.open_tree("streams")?;
        let meta = db.open_tree("meta")?;
        let types = db.open_tree("types")?;
        // Whatever sled recovered is on disk.
        let durable = Arc::new(AtomicI64::new(
            next_position(meta.get(NEXT_POSITION)?.as_deref())? - 1,
        ));
        let appended = Arc::new(Notify::new());
        Ok(Self {
            appender: Appender::new(BatchWrite {
                db,
                events: events.clone(),
                streams: streams.clone(),
                meta: meta.clone(),
                durable: durable.clone(),
                appended: appended.clone(),
            }),
            events,
            streams,
            meta,
            types,
            indexing: Arc::default(),
            durable,
            appended,
            loaded: Arc::default(),
        })
    }

    /// Nothing to listen to: only this process writes, and [`Self::append`] wakes the tail
    /// itself. The task ends at once.
    pub fn spawn_listener(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async {})
    }

    pub fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    /// The batches this store commits from now on (see `feed.rs`).
    pub fn committed(&self) -> tokio::sync::broadcast::Receiver<Arc<CommittedBatch>> {
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

    /// Group commits written since start (each one sled transaction and one flush).
    pub fn batches(&self) -> u64 {
        self.appender.batches()
    }

    pub async fn load<A: Aggregate>(
        &self,
        aggregate_id: &str,
        after: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let start = stream_key(A::TYPE, aggregate_id, after as i64 + 1)?;
        let end = stream_key(A::TYPE, aggregate_id, i64::MAX)?;
        let mut loaded = Vec::new();
        for entry in self.streams.range(start.clone()..=end) {
            let (key, position) = entry?;
            // An id that itself contains a 0 byte could put its keys in this range; the length
            // tells them apart.
            if key.len() != start.len() {
                continue;
            }
            let position = position_from(&position)?;
            let record = self.record(position)?;
            let sequence = usize::try_from(record.sequence)
                .map_err(|_| StoreError::Other(format!("event {position} has a bad sequence")))?;
            loaded.push(SerializedEvent {
                aggregate_id: record.aggregate_id,
                sequence,
                aggregate_type: record.aggregate_type,
                event_type: record.event_type,
                event_version: record.event_version,
                payload: record.payload,
                metadata: record.metadata,
            });
        }
        self.loaded
            .fetch_add(loaded.len() as u64, Ordering::Relaxed);
        Ok(loaded)
    }

    pub fn events_loaded(&self) -> u64 {
        self.loaded.load(Ordering::Relaxed)
    }

    pub async fn read_after(
        &self,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let durable = self.durable.load(Ordering::Acquire);
        let from = after.position.saturating_add(1).max(1);
        if from > durable {
            return Ok(Vec::new());
        }
        let range = from.to_be_bytes()..=durable.to_be_bytes();
        let mut stored = Vec::new();
        for entry in self.events.range(range).take(limit) {
            let (key, value) = entry?;
            let position = position_from(&key)?;
            stored.push(decode(position, &value)?.into_stored(position));
        }
        Ok(stored)
    }

    pub async fn cursor_at(&self, position: i64) -> Result<Option<Cursor>, StoreError> {
        if position < 1 || position > self.durable.load(Ordering::Acquire) {
            return Ok(None);
        }
        match self.events.get(position.to_be_bytes())? {
            Some(value) => Ok(Some(Cursor {
                tx: decode(position, &value)?.tx,
                position,
            })),
            None => Ok(None),
        }
    }

    pub async fn latest(
        &self,
        aggregate_type: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let durable = self.durable.load(Ordering::Acquire);
        let end = before.map_or(durable, |b| b.saturating_sub(1).min(durable));
        if end < 1 {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        match aggregate_type {
            None => {
                for entry in self
                    .events
                    .range(1i64.to_be_bytes()..=end.to_be_bytes())
                    .rev()
                    .take(limit)
                {
                    let (key, value) = entry?;
                    let position = position_from(&key)?;
                    found.push(decode(position, &value)?.into_stored(position));
                }
            }
            Some(aggregate_type) => {
                self.index_types(durable)?;
                let start = type_key(aggregate_type, 1);
                for entry in self
                    .types
                    .range(start.clone()..=type_key(aggregate_type, end))
                    .rev()
                {
                    if found.len() >= limit {
                        break;
                    }
                    let (key, _) = entry?;
                    // A type that itself contains a 0 byte could put its keys in this range;
                    // the length tells them apart.
                    if key.len() != start.len() {
                        continue;
                    }
                    let position = position_from(&key[key.len() - 8..])?;
                    found.push(self.record(position)?.into_stored(position));
                }
            }
        }
        Ok(found)
    }

    /// Brings the `types` tree up to position `upto`: each event not indexed yet is read once.
    fn index_types(&self, upto: i64) -> Result<(), StoreError> {
        /// What the index needs of a record; the rest of it is skipped unread.
        #[derive(Deserialize)]
        struct Typed {
            aggregate_type: String,
        }
        let _indexing = self.indexing.lock().unwrap_or_else(|p| p.into_inner());
        let indexed = match self.meta.get(TYPES_INDEXED)? {
            Some(bytes) => position_from(&bytes)?,
            None => 0,
        };
        if indexed >= upto {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        let range = (indexed + 1).to_be_bytes()..=upto.to_be_bytes();
        for entry in self.events.range(range) {
            let (key, value) = entry?;
            let position = position_from(&key)?;
            let typed: Typed = serde_json::from_slice(&value)
                .map_err(|e| StoreError::Other(format!("event {position} is unreadable: {e}")))?;
            batch.insert(type_key(&typed.aggregate_type, position), &[][..]);
            in_batch += 1;
            if in_batch == INDEX_BATCH {
                // The entries first, then the mark: a crash in between only indexes again.
                self.types.apply_batch(std::mem::take(&mut batch))?;
                self.meta
                    .insert(TYPES_INDEXED, &position.to_be_bytes()[..])?;
                in_batch = 0;
            }
        }
        self.types.apply_batch(batch)?;
        self.meta.insert(TYPES_INDEXED, &upto.to_be_bytes()[..])?;
        Ok(())
    }

    pub async fn stream_page(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let durable = self.durable.load(Ordering::Acquire);
        let start = stream_key(aggregate_type, aggregate_id, after.saturating_add(1).max(0))?;
        let end = stream_key(aggregate_type, aggregate_id, i64::MAX)?;
        let mut found = Vec::new();
        for entry in self.streams.range(start.clone()..=end) {
            if found.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            // Only this aggregate's keys: an id that merely starts with this one is longer.
            if key.len() != start.len() {
                continue;
            }
            let position = position_from(&value)?;
            // An aggregate's later events have later positions: none after this is durable.
            if position > durable {
                break;
            }
            found.push(self.record(position)?.into_stored(position));
        }
        Ok(found)
    }

    pub async fn last_sequence(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let durable = self.durable.load(Ordering::Acquire);
        let start = stream_key(aggregate_type, aggregate_id, 0)?;
        let end = stream_key(aggregate_type, aggregate_id, i64::MAX)?;
        for entry in self.streams.range(start.clone()..=end).rev() {
            let (key, value) = entry?;
            if key.len() != start.len() || position_from(&value)? > durable {
                continue;
            }
            let sequence = position_from(&key[key.len() - 8..])?;
            return Ok(Some(sequence));
        }
        Ok(None)
    }

    pub async fn event_at(&self, position: i64) -> Result<Option<StoredEvent>, StoreError> {
        if position < 1 || position > self.durable.load(Ordering::Acquire) {
            return Ok(None);
        }
        match self.events.get(position.to_be_bytes())? {
            Some(value) => Ok(Some(decode(position, &value)?.into_stored(position))),
            None => Ok(None),
        }
    }

    /// Positions are consecutive from 1 here, so the count is the highest durable position.
    pub async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.durable.load(Ordering::Acquire).max(0) as u64)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.meta.get(NEXT_POSITION)?;
        Ok(())
    }

    fn record(&self, position: i64) -> Result<Record, StoreError> {
        let value = self
            .events
            .get(position.to_be_bytes())?
            .ok_or_else(|| StoreError::Other(format!("event {position} is missing")))?;
        decode(position, &value)
    }
}

/// Writes a batch of appends in one sled transaction and one flush.
struct BatchWrite {
    db: sled::Db,
    events: sled::Tree,
    streams: sled::Tree,
    meta: sled::Tree,
    durable: Arc<AtomicI64>,
    appended: Arc<Notify>,
}

impl BatchWriter for BatchWrite {
    async fn write(&self, batch: &[&[NewEvent]]) -> Result<Written, StoreError> {
        let keys = batch
            .iter()
            .map(|events| {
                events
                    .iter()
                    .map(|e| stream_key(&e.aggregate_type, &e.aggregate_id, e.sequence))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let recorded_at = Utc::now();
        let result = (&self.events, &self.streams, &self.meta).transaction(
            |(events_tree, streams, meta)| {
                let first = next_position(meta.get(NEXT_POSITION)?.as_deref())
                    .map_err(ConflictableTransactionError::Abort)?;
                // The log's last event before this batch (sled runs one transaction at a time).
                let previous = match first - 1 {
                    0 => Some(Cursor::START),
                    last => events_tree
                        .get(last.to_be_bytes())?
                        .map(|value| decode_tx(last, &value))
                        .transpose()
                        .map_err(ConflictableTransactionError::Abort)?
                        .map(|tx| Cursor { tx, position: last }),
                };
                let mut next = first;
                let mut results = Vec::with_capacity(batch.len());
                for (events, keys) in batch.iter().zip(&keys) {
                    // Checked before anything of the append is written, so a conflict leaves
                    // nothing of it behind. (The appender keeps two appends of one batch from
                    // sharing a key; the overlay would see the first one's writes anyway.)
                    let mut taken = false;
                    for key in keys {
                        if streams.get(key)?.is_some() {
                            taken = true;
                            break;
                        }
                    }
                    if taken {
                        results.push(None);
                        continue;
                    }
                    let mut placed = Vec::with_capacity(events.len());
                    for (event, key) in events.iter().zip(keys) {
                        let position = next;
                        next += 1;
                        let record = Record {
                            tx: first as u64,
                            aggregate_type: event.aggregate_type.clone(),
                            aggregate_id: event.aggregate_id.clone(),
                            sequence: event.sequence,
                            event_type: event.event_type.clone(),
                            event_version: event.event_version.clone(),
                            payload: event.payload.clone(),
                            metadata: event.metadata.clone(),
                            recorded_at,
                        };
                        let value = serde_json::to_vec(&record).map_err(|e| {
                            ConflictableTransactionError::Abort(StoreError::Other(format!(
                                "cannot encode event: {e}"
                            )))
                        })?;
                        let position_key = position.to_be_bytes();
                        events_tree.insert(&position_key[..], value)?;
                        streams.insert(&key[..], &position_key[..])?;
                        placed.push(Placed {
                            cursor: Cursor {
                                tx: first as u64,
                                position,
                            },
                            recorded_at,
                        });
                    }
                    results.push(Some(placed));
                }
                meta.insert(NEXT_POSITION, &next.to_be_bytes()[..])?;
                Ok((
                    Written {
                        appends: results,
                        previous,
                    },
                    next - 1,
                ))
            },
        );
        let (written, last) = match result {
            Ok(written) => written,
            Err(TransactionError::Abort(error)) => return Err(error),
            Err(TransactionError::Storage(error)) => return Err(error.into()),
        };
        // A command is answered only once its events would survive a crash, as with Postgres'
        // commit: one flush for the whole batch (it also covers every earlier one).
        // Not `flush_async`: concurrent calls of it deadlock in sled 0.34 (sled issue #1308;
        // its flushes wait for writes queued behind them on sled's own thread pool).
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Other(format!("flush did not finish: {e}")))??;
        self.durable.fetch_max(last, Ordering::AcqRel);
        Ok(written)
    }

    fn wake(&self, handed_over: bool) {
        if !handed_over {
            // Wake every tail waiting now, and leave a wake-up for one that is between reads.
            self.appended.notify_waiters();
            self.appended.notify_one();
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        match error {
            sled::Error::Io(_) => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Other(error.to_string()),
        }
    }
}

/// The `streams` key of one event. Sequences are at least 1 in cqrs-es; a negative one would
/// not sort, so it is refused.
fn stream_key(
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) -> Result<Vec<u8>, StoreError> {
    let sequence = u64::try_from(sequence)
        .map_err(|_| StoreError::Other(format!("negative sequence {sequence}")))?;
    let mut key = Vec::with_capacity(aggregate_type.len() + aggregate_id.len() + 10);
    key.extend_from_slice(aggregate_type.as_bytes());
    key.push(0);
    key.extend_from_slice(aggregate_id.as_bytes());
    key.push(0);
    key.extend_from_slice(&sequence.to_be_bytes());
    Ok(key)
}

/// The `types` key of the event at `position`.
fn type_key(aggregate_type: &str, position: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(aggregate_type.len() + 9);
    key.extend_from_slice(aggregate_type.as_bytes());
    key.push(0);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// The stored `next_position`, or 1 for a new store.
fn next_position(stored: Option<&[u8]>) -> Result<i64, StoreError> {
    match stored {
        None => Ok(1),
        Some(bytes) => position_from(bytes),
    }
}

fn position_from(bytes: &[u8]) -> Result<i64, StoreError> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Other("unreadable position in the event store".into()))?;
    Ok(i64::from_be_bytes(bytes))
}

/// The `tx` of the record at `position`, the rest of it skipped unread.
fn decode_tx(position: i64, value: &[u8]) -> Result<u64, StoreError> {
    #[derive(Deserialize)]
    struct Tx {
        tx: u64,
    }
    serde_json::from_slice::<Tx>(value)
        .map(|record| record.tx)
        .map_err(|e| StoreError::Other(format!("event {position} is unreadable: {e}")))
}

fn decode(position: i64, value: &[u8]) -> Result<Record, StoreError> {
    serde_json::from_slice(value)
        .map_err(|e| StoreError::Other(format!("event {position} is unreadable: {e}")))
}
