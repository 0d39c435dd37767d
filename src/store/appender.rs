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
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

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
    /// Writes `batch` in one transaction. Each append gets its events' cursors, or `None` if
    /// one of its sequences was taken (nothing of it was written). An error means nothing of
    /// the batch was written, or, for a lost connection, that it is unknown what was.
    fn write(
        &self,
        batch: &[&[NewEvent]],
    ) -> impl Future<Output = Result<Vec<Option<Vec<Cursor>>>, StoreError>> + Send;
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
        let answers = write_batch(&shared.writer, batch).await;
        shared.batches.fetch_add(1, Ordering::Relaxed);
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

/// Writes one batch; returns what to answer each of its appends. Two appends of one batch that
/// take the same sequence (two caches of one aggregate in one process) cannot both commit: the
/// later one is refused before writing, as it would be after the earlier one's commit.
async fn write_batch<W: BatchWriter>(writer: &W, batch: Vec<Waiting>) -> Vec<Answer> {
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
    let mut answers = Vec::with_capacity(batch.len());
    let mut written = Vec::with_capacity(batch.len());
    for (append, fresh) in batch.into_iter().zip(fresh) {
        if fresh {
            written.push(append);
        } else {
            answers.push((append.reply, Err(StoreError::Conflict)));
        }
    }
    if written.is_empty() {
        return answers;
    }
    crate::metrics::append_batch(written.len());
    let events: Vec<&[NewEvent]> = written.iter().map(|a| a.events.as_slice()).collect();
    let outcome = writer.write(&events).await;
    drop(events);
    match outcome {
        Ok(results) if results.len() == written.len() => {
            for (append, result) in written.into_iter().zip(results) {
                answers.push((append.reply, result.ok_or(StoreError::Conflict)));
            }
        }
        Ok(results) => {
            let error = format!("{} results for {} appends", results.len(), written.len());
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
            // the others: each goes again, alone, and only the bad one fails.
            for append in written {
                let result = match writer.write(&[append.events.as_slice()]).await {
                    Ok(mut results) => results.pop().flatten().ok_or(StoreError::Conflict),
                    Err(error) => Err(error),
                };
                answers.push((append.reply, result));
            }
        }
        Err(error) => {
            for append in written {
                answers.push((append.reply, Err(clone_error(&error))));
            }
        }
    }
    answers
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
