//! Group commit: the appends that are ready share one transaction (one round trip and one
//! flush to disk), and each is answered when that transaction commits.
//!
//! Every command's append waits here for its turn. When none is being written, the first one
//! starts a batch at once (no artificial delay when idle); those that arrive while a batch is
//! being written make up the next one. A batch that conflicts on one aggregate (its sequence is
//! taken) fails only the appends it concerns: the store checks each append's sequences and
//! writes only the free ones, so the others commit. The writing runs in a task of its own, not
//! in any caller's future, so a caller that goes away (a closed HTTP request) cannot leave the
//! others of its batch unanswered; and no task is left when idle, so a store whose last handle
//! is dropped is closed at once.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cinder_domain::Cursor;
use tokio::sync::{broadcast, oneshot, OwnedSemaphorePermit, Semaphore};

pub use super::feed::Placed;
use super::feed::{CommittedBatch, Feed};
use super::{NewEvent, StoreError};

/// Appends waiting for a batch, at most; more wait for room (a queue with a budget).
const QUEUE_BUDGET: usize = 4096;
/// Appends in one batch, at most.
const BATCH_APPENDS: usize = 512;
/// Events in one batch, at most (one bigger append still goes, alone). Every event's size is
/// bounded by its aggregate's rules, so this bounds a batch's bytes too.
const BATCH_EVENTS: usize = 2048;

/// What a store writes a batch with.
pub trait BatchWriter: Send + Sync + 'static {
    /// Writes `batch` in one transaction. Each append gets its events' places, or `None` if
    /// one of its sequences was taken (nothing of it was written). An error means nothing of
    /// the batch was written, or, for a lost connection, that it is unknown what was.
    fn write(
        &self,
        batch: &[&[NewEvent]],
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// Wakes the tails after events were committed: other nodes' always, this node's own
    /// unless `handed_over` (its tail took the batch from memory, see `feed.rs`).
    fn wake(&self, handed_over: bool);
}

/// What a batch's write did.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Each append's events' places, in the append's order, or `None` if it was refused.
    pub appends: Vec<Option<Vec<Placed>>>,
    /// The cursor of the log's last event before the batch, read under the log lock (so no
    /// other append can come in between), if the store says.
    pub previous: Option<Cursor>,
}

/// One append waiting for its batch.
struct Waiting {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<Cursor>, StoreError>>,
    _room: OwnedSemaphorePermit,
}

/// A cheap handle: clones share the queue.
pub struct Appender<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for Appender<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<W> {
    writer: W,
    /// Committed batches, for this node's tail.
    feed: Feed,
    queue: Mutex<Queue>,
    room: Arc<Semaphore>,
    /// Batches written since start.
    batches: AtomicU64,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// A task is writing batches (and will take what is waiting).
    writing: bool,
}

impl<W: BatchWriter> Appender<W> {
    pub fn new(writer: W) -> Self {
        Self {
            shared: Arc::new(Shared {
                writer,
                feed: Feed::default(),
                queue: Mutex::default(),
                room: Arc::new(Semaphore::new(QUEUE_BUDGET)),
                batches: AtomicU64::new(0),
            }),
        }
    }

    /// Batches written since start (each one transaction).
    pub fn batches(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }

    /// The batches committed from now on, as the log holds them (see `feed.rs`).
    pub fn committed(&self) -> broadcast::Receiver<Arc<CommittedBatch>> {
        self.shared.feed.subscribe()
    }

    /// Whether a tail takes committed batches (so that one written elsewhere, in a turn, is
    /// worth building).
    pub fn wants_batches(&self) -> bool {
        self.shared.feed.wanted()
    }

    /// Hands a batch committed outside the appender (a turn) to the tails, as the appender does
    /// its own; returns whether one took it.
    pub fn hand_over(&self, batch: CommittedBatch) -> bool {
        self.shared.feed.send(batch)
    }

    /// Appends one aggregate's events atomically, in the next batch; returns their cursors once
    /// the batch has committed. [`StoreError::Conflict`] if one of their sequences is taken.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Cursor>, StoreError> {
        let room = self
            .shared
            .room
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Other("the appender is closed".into()))?;
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = lock(&self.shared.queue);
            queue.waiting.push(Waiting {
                events,
                reply,
                _room: room,
            });
            !std::mem::replace(&mut queue.writing, true)
        };
        if start {
            tokio::spawn(write_batches(self.shared.clone()));
        }
        answer
            .await
            .map_err(|_| StoreError::Other("the append was dropped unanswered".into()))?
    }
}

/// Writes batches until nothing is waiting.
async fn write_batches<W: BatchWriter>(shared: Arc<Shared<W>>) {
    let mut carried = Vec::new();
    loop {
        let batch = {
            let mut queue = lock(&shared.queue);
            take_batch(&mut carried, &mut queue.waiting)
        };
        let outcome = write_batch(&shared.writer, &shared.feed, batch).await;
        shared.batches.fetch_add(1, Ordering::Relaxed);
        if outcome.committed {
            // The tail first: it applies the batch while the answers travel.
            let handed_over = outcome.batch.is_some_and(|batch| shared.feed.send(batch));
            shared.writer.wake(handed_over);
        }
        let answers = outcome.answers;
        let done = {
            let mut queue = lock(&shared.queue);
            let done = queue.waiting.is_empty() && carried.is_empty();
            if done {
                queue.writing = false;
            }
            done
        };
        if done {
            // Let go of the store before answering: a caller that drops its last handle on
            // hearing back (and opens the store again) finds it closed.
            drop(shared);
            answer(answers);
            return;
        }
        answer(answers);
    }
}

/// An append and what to tell it.
type Answer = (
    oneshot::Sender<Result<Vec<Cursor>, StoreError>>,
    Result<Vec<Cursor>, StoreError>,
);

fn answer(answers: Vec<Answer>) {
    for (reply, result) in answers {
        // The caller may have gone away; its events are written all the same.
        let _ = reply.send(result);
    }
}

/// The next batch: what was carried over first, then what waits, within the budgets. What is
/// left is carried (in order) to the batch after.
fn take_batch(carried: &mut Vec<Waiting>, waiting: &mut Vec<Waiting>) -> Vec<Waiting> {
    let mut all = std::mem::take(carried);
    all.append(waiting);
    let mut events = 0;
    let mut count = 0;
    for append in &all {
        if count > 0 && (count == BATCH_APPENDS || events + append.events.len() > BATCH_EVENTS) {
            break;
        }
        count += 1;
        events += append.events.len();
    }
    *carried = all.split_off(count);
    all
}

/// What writing one batch came to.
struct Outcome {
    /// What to answer each of its appends.
    answers: Vec<Answer>,
    /// Whether any events were committed (the tails must hear of them).
    committed: bool,
    /// The batch as the log now holds it, if a tail wants it and the store said where it went.
    batch: Option<CommittedBatch>,
}

/// Writes one batch. Two appends of one batch that take the same sequence (two caches of one
/// aggregate in one process) cannot both commit: the later one is refused before writing, as it
/// would be after the earlier one's commit.
async fn write_batch<W: BatchWriter>(writer: &W, feed: &Feed, batch: Vec<Waiting>) -> Outcome {
    let fresh: Vec<bool> = {
        let mut keys = HashSet::new();
        batch
            .iter()
            .map(|append| {
                let mut appends = append.events.iter().map(|e| {
                    (
                        e.aggregate_type.as_str(),
                        e.aggregate_id.as_str(),
                        e.sequence,
                    )
                });
                let fresh = appends.clone().all(|key| !keys.contains(&key));
                if fresh {
                    keys.extend(&mut appends);
                }
                fresh
            })
            .collect()
    };
    let mut outcome = Outcome {
        answers: Vec::with_capacity(batch.len()),
        committed: false,
        batch: None,
    };
    let mut written = Vec::with_capacity(batch.len());
    for (append, fresh) in batch.into_iter().zip(fresh) {
        if fresh {
            written.push(append);
        } else {
            outcome
                .answers
                .push((append.reply, Err(StoreError::Conflict)));
        }
    }
    if written.is_empty() {
        return outcome;
    }
    crate::metrics::append_batch(written.len());
    let events: Vec<&[NewEvent]> = written.iter().map(|a| a.events.as_slice()).collect();
    let result = writer.write(&events).await;
    drop(events);
    let answers = &mut outcome.answers;
    match result {
        Ok(done) if done.appends.len() == written.len() => {
            // Only built when a tail takes it: the events move into it, no copy is made.
            let mut stored = done
                .previous
                .filter(|_| feed.wanted())
                .map(|previous| (previous, Vec::new()));
            for (append, result) in written.into_iter().zip(done.appends) {
                let Some(placed) = result else {
                    answers.push((append.reply, Err(StoreError::Conflict)));
                    continue;
                };
                outcome.committed = true;
                answers.push((append.reply, Ok(placed.iter().map(|p| p.cursor).collect())));
                if let Some((_, events)) = &mut stored {
                    events.extend(append.events.into_iter().zip(placed));
                }
            }
            outcome.batch =
                stored.and_then(|(previous, events)| CommittedBatch::of(previous, events));
        }
        Ok(done) => {
            let error = format!(
                "{} results for {} appends",
                done.appends.len(),
                written.len()
            );
            for append in written {
                answers.push((append.reply, Err(StoreError::Other(error.clone()))));
            }
        }
        Err(StoreError::Unavailable(message)) => {
            for append in written {
                answers.push((append.reply, Err(StoreError::Unavailable(message.clone()))));
            }
        }
        Err(_) if written.len() > 1 => {
            // Nothing was written; one bad append (text Postgres refuses, say) must not fail
            // the others: each goes again, alone, and only the bad one fails. (These are read
            // back by the tail: rare enough.)
            for append in written {
                let result = match writer.write(&[append.events.as_slice()]).await {
                    Ok(mut done) => done.appends.pop().flatten().ok_or(StoreError::Conflict),
                    Err(error) => Err(error),
                };
                outcome.committed |= result.is_ok();
                let cursors = result.map(|placed| placed.iter().map(|p| p.cursor).collect());
                answers.push((append.reply, cursors));
            }
        }
        Err(error) => {
            for append in written {
                answers.push((append.reply, Err(clone_error(&error))));
            }
        }
    }
    outcome
}

fn clone_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Conflict => StoreError::Conflict,
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Other(message) => StoreError::Other(message.clone()),
    }
}

/// Locks the queue, recovering it if a thread panicked while holding it (every update leaves
/// it consistent).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
