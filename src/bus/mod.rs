//! The command bus: one `CqrsFramework` per aggregate type, over a cached event store, with
//! retries on conflicts and the global positions of what was committed.

mod cache;
mod turns;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cinder_domain::Clock;
use cinder_domain::Cursor;
use cqrs_es::persist::EventUpcaster;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework};
use rand::Rng;

pub use cache::CachedEventStore;
use cache::COMMAND_ID;

use crate::metrics::Outcome;
use crate::shutdown::InFlight;
use crate::store::EventLog;

/// Attempts of a command before a conflict is reported to its sender.
const MAX_ATTEMPTS: u32 = 8;

/// The bus of every registered aggregate type, found by the type: apps register theirs at
/// start-up ([`CommandBus::register`]), and a command for `A` runs through `A`'s
/// ([`CommandBus::execute`]). Nothing here names an aggregate.
pub struct CommandBus {
    log: EventLog,
    clock: Clock,
    /// `AggregateBus<A>` of each registered `A`, by `TypeId::of::<A>()`.
    buses: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// The registered aggregate types' names, in registration order.
    types: Vec<&'static str>,
    /// Commands running now, on every aggregate type (a stopping node lets them finish).
    pub in_flight: InFlight,
}

impl CommandBus {
    /// A bus with no aggregate registered yet, writing to `log`; `clock` is the time the
    /// aggregates' services are given.
    pub fn new(log: EventLog, clock: Clock) -> Self {
        Self {
            log,
            clock,
            buses: HashMap::new(),
            types: Vec::new(),
            in_flight: InFlight::default(),
        }
    }

    /// The time given to the aggregates' services.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Registers aggregate type `A` with its services and the upcasters of its old events;
    /// from now on its commands run through this bus. A second registration of `A` replaces
    /// the first.
    pub fn register<A>(
        &mut self,
        services: A::Services,
        upcasters: Vec<Box<dyn EventUpcaster>>,
    ) -> &mut Self
    where
        A: Aggregate + Clone + 'static,
        A::Command: Clone,
    {
        let bus = AggregateBus::<A>::new(self.log.clone(), services, upcasters)
            .tracked_by(&self.in_flight);
        if self
            .buses
            .insert(TypeId::of::<A>(), Arc::new(bus))
            .is_none()
        {
            self.types.push(A::TYPE);
        }
        self
    }

    /// The bus of aggregate type `A`, if it is registered.
    pub fn aggregate<A>(&self) -> Option<&AggregateBus<A>>
    where
        A: Aggregate + Clone + 'static,
    {
        self.buses.get(&TypeId::of::<A>())?.downcast_ref()
    }

    /// Runs `command` against aggregate `aggregate_id` of type `A` (see
    /// [`AggregateBus::execute`]); an unregistered type is an internal error, not a panic.
    pub async fn execute<A>(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate + Clone + 'static,
        A::Command: Clone,
    {
        match self.aggregate::<A>() {
            Some(bus) => bus.execute(aggregate_id, command).await,
            None => {
                tracing::error!(aggregate = A::TYPE, "no app registered this aggregate type");
                Err(CommandError::Internal(format!(
                    "aggregate type {} is not registered",
                    A::TYPE
                )))
            }
        }
    }

    /// The registered aggregate types' names (`Room`, `Product`, …), in registration order.
    pub fn aggregate_types(&self) -> &[&'static str] {
        &self.types
    }
}

/// What a command committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed<E> {
    /// The cursor of each event the command appended, in log order (empty if none).
    pub cursors: Vec<Cursor>,
    /// The events themselves, in order.
    pub events: Vec<E>,
}

impl<E> Committed<E> {
    /// The cursor of the command's last event: a reader that has reached it sees the command.
    pub fn last(&self) -> Option<Cursor> {
        self.cursors.last().copied()
    }

    /// The global position of the command's last event.
    pub fn position(&self) -> Option<i64> {
        self.cursors.iter().map(|c| c.position).max()
    }
}

/// Why a command did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused it: a domain error, for the user.
    #[error("{0}")]
    Rejected(E),
    /// Other writers kept changing the aggregate first, through every retry.
    #[error("too many people changed this at once; please try again")]
    Conflict,
    /// The event store could not be reached.
    #[error("the event store is unavailable; please try again shortly")]
    Unavailable,
    #[error("something went wrong: {0}")]
    Internal(String),
}

/// One aggregate type's `CqrsFramework` and its cached store.
pub struct AggregateBus<A: Aggregate + Clone> {
    cqrs: CqrsFramework<A, CachedEventStore<A>>,
    store: CachedEventStore<A>,
    in_flight: InFlight,
}

impl<A> AggregateBus<A>
where
    A: Aggregate + Clone,
    A::Command: Clone,
{
    pub fn new(
        log: EventLog,
        services: A::Services,
        upcasters: Vec<Box<dyn EventUpcaster>>,
    ) -> Self {
        let store = CachedEventStore::new(log, upcasters);
        crate::metrics::aggregate(A::TYPE);
        Self {
            cqrs: CqrsFramework::new(store.clone(), Vec::new(), services),
            store,
            in_flight: InFlight::default(),
        }
    }

    /// Counts this bus's running commands in `in_flight` (shared with other buses).
    pub fn tracked_by(mut self, in_flight: &InFlight) -> Self {
        self.in_flight = in_flight.clone();
        self
    }

    /// Runs `command` against aggregate `aggregate_id`. A conflict with another writer is retried
    /// (the cache first catches up with that writer's events), with a growing, jittered pause.
    /// Counted as in flight while it runs; its outcome and latency are recorded as metrics.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>> {
        let _running = self.in_flight.enter();
        let started = Instant::now();
        let result = self.execute_with_retries(aggregate_id, command).await;
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(CommandError::Rejected(_)) => Outcome::Rejected,
            Err(CommandError::Conflict) => Outcome::Conflict,
            Err(CommandError::Unavailable) => Outcome::Unavailable,
            Err(CommandError::Internal(_)) => Outcome::Error,
        };
        crate::metrics::command(A::TYPE, outcome, started.elapsed());
        result
    }

    async fn execute_with_retries(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>> {
        for attempt in 0..MAX_ATTEMPTS {
            let command_id = format!("{:032x}", rand::rng().random::<u128>());
            let metadata = HashMap::from([(COMMAND_ID.to_owned(), command_id.clone())]);
            let outcome = self
                .cqrs
                .execute_with_metadata(aggregate_id, command.clone(), metadata)
                .await;
            match outcome {
                Ok(()) => {
                    let appended = self.store.take_committed(&command_id);
                    return Ok(Committed {
                        cursors: appended.cursors,
                        events: appended.events,
                    });
                }
                Err(AggregateError::AggregateConflict) => {
                    tracing::debug!(
                        aggregate = A::TYPE,
                        aggregate_id,
                        attempt,
                        "conflict, retrying"
                    );
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(AggregateError::UserError(error)) => {
                    // Decided on cached state: another node may have changed the aggregate since.
                    if !self.store.distrust(aggregate_id).await {
                        return Err(CommandError::Rejected(error));
                    }
                }
                Err(AggregateError::DatabaseConnectionError(error)) => {
                    tracing::warn!(aggregate = A::TYPE, %error, "event store unavailable");
                    return Err(CommandError::Unavailable);
                }
                Err(error) => {
                    tracing::error!(aggregate = A::TYPE, aggregate_id, %error, "command failed");
                    return Err(CommandError::Internal(error.to_string()));
                }
            }
        }
        Err(CommandError::Conflict)
    }
}

/// A random pause in `[1, 2^(attempt+1)]` ms: writers that collided spread out.
fn backoff(attempt: u32) -> Duration {
    let ceiling = 2u64 << attempt.min(8);
    Duration::from_millis(rand::rng().random_range(1..=ceiling))
}
