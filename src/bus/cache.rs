//! An `EventStore` for cqrs-es that keeps hot aggregates in memory.
//!
//! cqrs-es' own stores rebuild an aggregate from its whole history (or a snapshot, which 0.5.0
//! applies twice) on every command. Here each aggregate stays cached with its sequence, so a
//! command's cost does not grow with the history. The entry is locked from load to commit, so
//! commands to one aggregate on one node take turns instead of conflicting.
//!
//! A cached aggregate that this node loaded or committed last is trusted as it is: the command
//! runs against it without asking the store for newer events, and appends right after it. If
//! another node wrote in between, the store's unique key refuses the append; the entry is then
//! marked stale and the bus retries, this time loading what the other node wrote. (A refusal
//! decided on trusted state is retried the same way, see [`CachedEventStore::distrust`], so
//! no one is refused because of what another node changed.) Commands thus cost one round trip
//! to the store, not two.
//!
//! An aggregate that several nodes write at once (a conflict said so) is written in turns for
//! a while instead (see `turns.rs` and `src/store/turn.rs`): its commands load under the
//! aggregate's cluster-wide lock and append before releasing it, so they cannot conflict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cinder_domain::Cursor;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{
    Aggregate, AggregateContext, AggregateError, DomainEvent, EventEnvelope, EventStore,
};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::turns::Heat;
use crate::store::{EventLog, NewEvent, StoreError, Turn};

/// Aggregates kept per type before idle ones are dropped.
const CAPACITY: usize = 10_000;

/// The metadata key that carries a command's id, by which the bus finds the command's cursors.
pub const COMMAND_ID: &str = "command_id";

/// A cached aggregate and the sequence of the last event applied to it.
#[derive(Default)]
struct Entry<A> {
    aggregate: A,
    sequence: usize,
    /// The store held nothing newer when this node last loaded or committed this aggregate.
    current: bool,
    /// The last command ran against the entry without loading (it was `current`).
    trusted: bool,
    /// Whether other nodes write this aggregate too, so that commands take turns on it.
    heat: Heat,
}

type Slot<A> = Arc<AsyncMutex<Entry<A>>>;

/// A cheap handle: clones share the cache.
pub struct CachedEventStore<A: Aggregate> {
    log: EventLog,
    /// Turn older versions of `A`'s stored events into the current ones.
    upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
    entries: Arc<Mutex<HashMap<String, Slot<A>>>>,
    /// What committed commands appended, by command id, until the bus collects it.
    committed: Arc<Mutex<HashMap<String, Appended<A>>>>,
}

/// The events a command appended and their cursors in the global log.
pub struct Appended<A: Aggregate> {
    pub cursors: Vec<Cursor>,
    pub events: Vec<A::Event>,
}

impl<A: Aggregate> Clone for CachedEventStore<A> {
    fn clone(&self) -> Self {
        Self {
            log: self.log.clone(),
            upcasters: self.upcasters.clone(),
            entries: self.entries.clone(),
            committed: self.committed.clone(),
        }
    }
}

/// A command's view of its aggregate: the locked cache entry and a working copy that the
/// command's handler may change. The entry is replaced by the copy only if the commit succeeds.
pub struct CachedContext<A: Aggregate> {
    aggregate_id: String,
    entry: OwnedMutexGuard<Entry<A>>,
    working: A,
    /// The aggregate's turn, if it is hot: the commit appends in it.
    turn: Option<Turn>,
}

impl<A: Aggregate> AggregateContext<A> for CachedContext<A> {
    fn aggregate(&mut self) -> &mut A {
        &mut self.working
    }
}

impl<A: Aggregate + Clone> CachedEventStore<A> {
    pub fn new(log: EventLog, upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        Self {
            log,
            upcasters: Arc::new(upcasters),
            entries: Arc::default(),
            committed: Arc::default(),
        }
    }

    /// Takes what the commit of `command_id` appended (nothing if it appended no events).
    pub fn take_committed(&self, command_id: &str) -> Appended<A> {
        lock(&self.committed)
            .remove(command_id)
            .unwrap_or(Appended {
                cursors: Vec::new(),
                events: Vec::new(),
            })
    }

    /// After a command on `aggregate_id` was refused: if it was decided on trusted state, mark
    /// the entry stale and return true, so the bus retries it against the store's latest.
    pub async fn distrust(&self, aggregate_id: &str) -> bool {
        let mut entry = self.slot(aggregate_id).lock_owned().await;
        if !entry.trusted {
            return false;
        }
        entry.current = false;
        entry.trusted = false;
        true
    }

    fn slot(&self, aggregate_id: &str) -> Slot<A> {
        let mut entries = lock(&self.entries);
        if let Some(slot) = entries.get(aggregate_id) {
            return slot.clone();
        }
        if entries.len() >= CAPACITY {
            // Drop entries no command is using; they reload from the store when next needed.
            entries.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        let slot: Slot<A> = Arc::new(AsyncMutex::new(Entry::default()));
        entries.insert(aggregate_id.to_owned(), slot.clone());
        slot
    }
}

impl<A: Aggregate + Clone> EventStore<A> for CachedEventStore<A> {
    type AC = CachedContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let events = self
            .log
            .load::<A>(aggregate_id, 0)
            .await
            .map_err(aggregate_error)?;
        events
            .into_iter()
            .map(|e| envelope(e, &self.upcasters))
            .collect()
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<CachedContext<A>, AggregateError<A::Error>> {
        let mut entry = self.slot(aggregate_id).lock_owned().await;
        let mut turn = None;
        let newer = if entry.heat.hot() {
            match self
                .log
                .take_turn::<A>(aggregate_id, entry.sequence)
                .await
                .map_err(aggregate_error)?
            {
                Some((taken, newer)) => {
                    turn = Some(taken);
                    if !newer.is_empty() {
                        // Someone else wrote since this node last did: still contended.
                        entry.heat.contended();
                    }
                    Some(newer)
                }
                None => None,
            }
        } else {
            None
        };
        // Decided on what was just loaded (in a turn) is not "trusted": a refusal stands.
        entry.trusted = entry.current && turn.is_none();
        let newer = match newer {
            Some(newer) => Some(newer),
            None if !entry.current => Some(
                self.log
                    .load::<A>(aggregate_id, entry.sequence)
                    .await
                    .map_err(aggregate_error)?,
            ),
            None => None,
        };
        if let Some(newer) = newer {
            for event in newer {
                let envelope = envelope::<A>(event, &self.upcasters)?;
                entry.sequence = envelope.sequence;
                entry.aggregate.apply(envelope.payload);
            }
            entry.current = true;
        }
        Ok(CachedContext {
            aggregate_id: aggregate_id.to_owned(),
            working: entry.aggregate.clone(),
            entry,
            turn,
        })
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        mut context: CachedContext<A>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let first = context.entry.sequence + 1;
        let metadata_json = serde_json::to_value(&metadata)
            .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;
        let mut rows = Vec::with_capacity(events.len());
        for (offset, event) in events.iter().enumerate() {
            rows.push(NewEvent {
                aggregate_type: A::TYPE.to_owned(),
                aggregate_id: context.aggregate_id.clone(),
                sequence: (first + offset) as i64,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload: serde_json::to_value(event)
                    .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?,
                metadata: metadata_json.clone(),
            });
        }
        let appended = match context.turn.take() {
            Some(turn) => self.log.append_in_turn(turn, rows).await,
            None => self.log.append(rows).await,
        };
        let cursors = match appended {
            Ok(cursors) => cursors,
            Err(error) => {
                // Another node wrote first (or we cannot tell what happened): load next time.
                context.entry.current = false;
                if matches!(error, StoreError::Conflict) {
                    // ... and it may well write again: take turns on this aggregate.
                    context.entry.heat.contended();
                }
                return Err(aggregate_error(error));
            }
        };
        // Committed: the working copy, which the handler already applied the events to, is now
        // the truth.
        context.entry.sequence += events.len();
        context.entry.aggregate = context.working;
        if let Some(command_id) = metadata.get(COMMAND_ID) {
            let appended = Appended {
                cursors,
                events: events.clone(),
            };
            lock(&self.committed).insert(command_id.clone(), appended);
        }
        Ok(events
            .into_iter()
            .enumerate()
            .map(|(offset, payload)| EventEnvelope {
                aggregate_id: context.aggregate_id.clone(),
                sequence: first + offset,
                payload,
                metadata: metadata.clone(),
            })
            .collect())
    }
}

/// A stored event as `A`'s current event type, upcast first if it is an older version.
fn envelope<A: Aggregate>(
    event: SerializedEvent,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<EventEnvelope<A>, AggregateError<A::Error>> {
    let event = cinder_domain::upcast(event, upcasters);
    EventEnvelope::try_from(event).map_err(|e| AggregateError::DeserializationError(Box::new(e)))
}

fn aggregate_error<E: std::error::Error>(error: StoreError) -> AggregateError<E> {
    match error {
        StoreError::Conflict => AggregateError::AggregateConflict,
        StoreError::Unavailable(message) => AggregateError::DatabaseConnectionError(message.into()),
        StoreError::Other(message) => AggregateError::UnexpectedError(message.into()),
    }
}

/// Locks a std mutex, recovering the data if a thread panicked while holding it (the maps stay
/// consistent: every update is a single insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
