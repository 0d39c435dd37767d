//! The rebuild pipeline (`cinder replay`, and a node's fresh projections before it serves):
//! the log read in big batches, the next while this one is applied, each projection folding on
//! a thread of its own and writing through a [`WriteBuffer`] rather than a transaction.

use std::sync::Arc;
use std::time::Duration;

use cinder_read_models::{Change, Cursor, ProjectionError, RawEvent, WriteBuffer};
use tokio::sync::{mpsc, oneshot};

use super::registered::{
    apply_batch, meta, projection_error, wipe, Registered, CHECKPOINT, REBUILDING,
};
use super::{ProjectionRunner, RunError};
use crate::store::EventLog;

/// Events read and applied per batch by a rebuild (see [`ProjectionRunner::rebuild_with`]).
const REBUILD_BATCH: usize = 10_000;
/// Batches a rebuild reads ahead of the one being applied.
const READ_AHEAD: usize = 3;
/// A rebuild writes a projection's buffered writes once they hold this many bytes (so the
/// writes to a key that many events change, like a counter, are written once per this many),
/// while it buffers the next ones: a projection holds at most twice this, and its maps.
const REBUILD_WRITE_AT: usize = 32 << 20;

impl ProjectionRunner {
    /// Rebuilds projections `names` from the start of the log, as [`Self::reset`] then
    /// [`Self::catch_up_with`] would, only faster; the other projections catch up as usual.
    /// Returns how many events were read.
    ///
    /// For a node that serves nobody meanwhile (`cinder replay`): what the rebuilt projections
    /// change is not announced. The log is read in bigger batches, the next one while this one
    /// is applied, and each projection that has [`Projection::apply_buffered`] writes a batch
    /// through a [`WriteBuffer`] rather than a transaction, all of them in parallel. Such writes
    /// are not atomic, so the projections are marked as being rebuilt until their data and
    /// checkpoints are on disk: if the rebuild dies half way, [`Self::new`] finds the mark, wipes
    /// them and they are rebuilt from the start again. After an error, drop this runner: only a
    /// new one (which rebuilds the marked projections) knows where their data really ends.
    pub async fn rebuild_with(
        &mut self,
        names: &[&str],
        mut on_batch: impl FnMut(usize),
    ) -> Result<usize, RunError> {
        let mut chosen = Vec::new();
        for registered in &mut self.projections {
            let rebuild = names.contains(&registered.projection.name());
            if rebuild {
                wipe(registered).map_err(|error| projection_error(registered, error))?;
                meta(registered)
                    .insert(REBUILDING, &[][..])
                    .map_err(|error| projection_error(registered, error.into()))?;
            }
            chosen.push(rebuild);
        }
        self.flush().await?;

        let from = self.slowest();
        let (sender, mut batches) = mpsc::channel(READ_AHEAD);
        let reader = AbortOnDrop(tokio::spawn(read_ahead(self.log.clone(), from, sender)));
        let workers: Vec<Worker> = std::mem::take(&mut self.projections)
            .into_iter()
            .zip(chosen.iter().copied())
            .map(|(registered, rebuild)| Worker {
                buffer: rebuild.then(|| WriteBuffer::new(registered.projection.trees())),
                registered,
            })
            .collect();
        let folds = FoldThreads::start(workers);
        let mut total = 0;
        let mut result = Ok(());
        let (mut waited, mut applying) = (Duration::ZERO, Duration::ZERO);
        let mut asked = std::time::Instant::now();
        while let Some(batch) = batches.recv().await {
            waited += asked.elapsed();
            let started = std::time::Instant::now();
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    result = Err(error.into());
                    break;
                }
            };
            let Some(last) = batch.last().map(RawEvent::cursor) else {
                break;
            };
            let read = batch.len();
            match folds.apply(Arc::new(batch), last).await {
                Ok(changes) => {
                    for change in changes {
                        self.pubsub.publish(change);
                    }
                }
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
            total += read;
            self.progress.send_replace(last);
            on_batch(read);
            applying += started.elapsed();
            asked = std::time::Instant::now();
        }
        tracing::debug!(?waited, ?applying, "rebuild: waited for the log, applied");
        drop(reader);
        let mut workers = folds.stop();
        if result.is_ok() {
            let written = tokio::task::spawn_blocking(move || {
                let written = workers.iter().try_for_each(Worker::write);
                (workers, written)
            })
            .await;
            (workers, result) = match written {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic.into_panic()),
            };
        }
        self.projections = workers.into_iter().map(|w| w.registered).collect();
        result?;

        // The data first, then the checkpoints without the marks.
        self.flush().await?;
        for (registered, _) in self.projections.iter().zip(chosen).filter(|(_, c)| *c) {
            let meta = meta(registered);
            let done = (|| {
                if registered.checkpoint > Cursor::START {
                    meta.insert(CHECKPOINT, &registered.checkpoint.to_bytes()[..])?;
                }
                meta.remove(REBUILDING)
            })();
            done.map_err(|error| projection_error(registered, error.into()))?;
        }
        self.flush().await?;
        Ok(total)
    }
}

/// A projection during a rebuild: with a write buffer if it is one of those rebuilt.
struct Worker {
    registered: Registered,
    buffer: Option<WriteBuffer>,
}

impl Worker {
    /// Writes what its buffer holds, and waits until it is written.
    fn write(&self) -> Result<(), RunError> {
        match &self.buffer {
            Some(buffer) => buffer
                .finish()
                .map_err(|error| projection_error(&self.registered, error)),
            None => Ok(()),
        }
    }

    /// Applies `batch` (whose last event is at `last`), returning what to announce.
    fn apply(&mut self, batch: &[RawEvent], last: Cursor) -> Result<Vec<Change>, RunError> {
        let registered = &mut self.registered;
        if last <= registered.checkpoint {
            return Ok(Vec::new());
        }
        let new = &batch[batch.partition_point(|e| e.cursor() <= registered.checkpoint)..];
        if let Some(buffer) = &self.buffer {
            match registered.projection.apply_buffered(buffer, new) {
                Some(applied) => {
                    applied
                        .and_then(|()| {
                            if buffer.bytes() >= REBUILD_WRITE_AT {
                                buffer.write()?;
                            }
                            Ok(())
                        })
                        .map_err(|error| projection_error(registered, error))?;
                    registered.checkpoint = last;
                    return Ok(Vec::new());
                }
                None => buffer.discard(),
            }
        }
        let new = new
            .iter()
            .map(|event| {
                event.to_stored().map_err(|error| {
                    projection_error(registered, ProjectionError::decode(event, error))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let changes = apply_batch(registered, &new, last)?;
        registered.checkpoint = last;
        // Nobody listens to a rebuilt projection.
        Ok(if self.buffer.is_some() {
            Vec::new()
        } else {
            changes
        })
    }
}

/// A rebuild's projections, each folding on a thread of its own for the whole rebuild (rather
/// than one per batch: a thread's allocations are then reused by its next batches, instead of
/// every batch faulting in fresh memory).
struct FoldThreads {
    threads: Vec<FoldThread>,
}

struct FoldThread {
    /// Holds at most the one batch being applied: [`FoldThreads::apply`] waits for every reply
    /// before it sends the next.
    jobs: std::sync::mpsc::SyncSender<FoldJob>,
    done: std::thread::JoinHandle<Worker>,
}

struct FoldJob {
    batch: Arc<Vec<RawEvent>>,
    last: Cursor,
    reply: oneshot::Sender<Result<Vec<Change>, RunError>>,
}

impl FoldThreads {
    fn start(workers: Vec<Worker>) -> Self {
        let threads = workers
            .into_iter()
            .map(|mut worker| {
                let (jobs, received) = std::sync::mpsc::sync_channel::<FoldJob>(1);
                let done = std::thread::spawn(move || {
                    for job in received {
                        let _ = job.reply.send(worker.apply(&job.batch, job.last));
                    }
                    worker
                });
                FoldThread { jobs, done }
            })
            .collect();
        Self { threads }
    }

    /// Applies `batch` (whose last event is at `last`) to every projection, in parallel.
    async fn apply(
        &self,
        batch: Arc<Vec<RawEvent>>,
        last: Cursor,
    ) -> Result<Vec<Change>, RunError> {
        let mut replies = Vec::with_capacity(self.threads.len());
        for thread in &self.threads {
            let (reply, replied) = oneshot::channel();
            let job = FoldJob {
                batch: batch.clone(),
                last,
                reply,
            };
            // A thread that is gone panicked: its reply never comes, and `stop` says why.
            let _ = thread.jobs.send(job);
            replies.push(replied);
        }
        let mut changes = Vec::new();
        let mut failed = None;
        for replied in replies {
            match replied.await {
                Ok(Ok(more)) => changes.extend(more),
                Ok(Err(error)) => failed = failed.or(Some(error)),
                Err(_) => failed = failed.or(Some(RunError::FoldStopped)),
            }
        }
        failed.map_or(Ok(changes), Err)
    }

    /// Ends the threads and hands their projections back, re-raising a thread's panic.
    fn stop(self) -> Vec<Worker> {
        self.threads
            .into_iter()
            .map(|thread| {
                drop(thread.jobs);
                match thread.done.join() {
                    Ok(worker) => worker,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
            .collect()
    }
}

/// Reads the log from `from` on, a rebuild's batch at a time, into `batches` until the end (or
/// an error, or nobody receives).
async fn read_ahead(
    log: EventLog,
    mut from: Cursor,
    batches: mpsc::Sender<Result<Vec<RawEvent>, crate::store::StoreError>>,
) {
    loop {
        let batch = match &log {
            EventLog::Postgres(log) => log.read_raw_after(from, REBUILD_BATCH).await,
            EventLog::Embedded(_) => log
                .read_after(from, REBUILD_BATCH)
                .await
                .map(|events| events.into_iter().map(RawEvent::from).collect()),
        };
        let more = match &batch {
            Ok(events) => {
                if let Some(last) = events.last() {
                    from = last.cursor();
                }
                events.len() == REBUILD_BATCH
            }
            Err(_) => false,
        };
        if batches.send(batch).await.is_err() || !more {
            return;
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
