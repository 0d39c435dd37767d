//! The command bus: one `CqrsFramework` per aggregate type, over a cached event store, with
//! retries on conflicts and the global positions of what was committed.

mod cache;

use std::collections::HashMap;
use std::time::Duration;

use cinder_domain::bookmarks::{Bookmark, BookmarkServices};
use cinder_domain::chat::{self, Room, RoomServices};
use cinder_domain::drops::{Cart, CartServices, DropsServices, Product, Purchase};
use cinder_domain::todos::TodoList;
use cinder_domain::Clock;
use cinder_read_models::Cursor;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework};
use rand::Rng;

pub use cache::CachedEventStore;
use cache::COMMAND_ID;

use crate::store::EventLog;

/// Attempts of a command before a conflict is reported to its sender.
const MAX_ATTEMPTS: u32 = 8;

/// Every aggregate type's bus.
pub struct CommandBus {
    pub rooms: AggregateBus<Room>,
    pub bookmarks: AggregateBus<Bookmark>,
    pub todos: AggregateBus<TodoList>,
    pub products: AggregateBus<Product>,
    pub carts: AggregateBus<Cart>,
    pub purchases: AggregateBus<Purchase>,
}

impl CommandBus {
    pub fn new(log: EventLog, clock: Clock) -> Self {
        Self {
            rooms: AggregateBus::new(
                log.clone(),
                RoomServices {
                    clock: clock.clone(),
                },
                chat::upcasters(),
            ),
            todos: AggregateBus::new(log.clone(), (), Vec::new()),
            bookmarks: AggregateBus::new(
                log.clone(),
                BookmarkServices {
                    clock: clock.clone(),
                },
                Vec::new(),
            ),
            products: AggregateBus::new(
                log.clone(),
                DropsServices {
                    clock: clock.clone(),
                },
                Vec::new(),
            ),
            carts: AggregateBus::new(log.clone(), CartServices, Vec::new()),
            purchases: AggregateBus::new(log, DropsServices { clock }, Vec::new()),
        }
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
}

impl<A> AggregateBus<A>
where
    A: Aggregate + Clone,
    A::Command: Clone,
{
    pub fn new(
        log: EventLog,
        services: A::Services,
        upcasters: Vec<Box<dyn cqrs_es::persist::EventUpcaster>>,
    ) -> Self {
        let store = CachedEventStore::new(log, upcasters);
        Self {
            cqrs: CqrsFramework::new(store.clone(), Vec::new(), services),
            store,
        }
    }

    /// Runs `command` against aggregate `aggregate_id`. A conflict with another writer is retried
    /// (the cache first catches up with that writer's events), with a growing, jittered pause.
    pub async fn execute(
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
                Err(AggregateError::UserError(error)) => return Err(CommandError::Rejected(error)),
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
