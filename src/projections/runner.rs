//! Tails the global log and folds it into every projection, exactly once.
//!
//! Each projection keeps its checkpoint (the cursor of the last event it applied) in a
//! `<name>.meta` tree and writes it in the same sled transaction as the batch's changes: after a
//! crash it resumes where its data ends, never applying an event twice or skipping one. The log
//! is read gap-safely (see [`EventLog::read_after`]). Appends wake the tail (Postgres: a NOTIFY
//! from any node; embedded: the append itself); a poll covers lost notifications and events
//! written by anything that sends none.

use std::sync::Arc;
use std::time::Duration;

use cinder_read_models::{
    Change, Cursor, Projection, ProjectionError, RawEvent, StoredEvent, WriteBuffer, LOG_TOPIC,
};
use sled::transaction::{TransactionError, TransactionalTree};
use sled::Transactional;
use tokio::sync::{mpsc, oneshot, watch};

use crate::pubsub::PubSub;
use crate::store::EventLog;

/// Events read and applied per transaction.
const BATCH: usize = 500;
/// Events read and applied per batch by a rebuild (see [`ProjectionRunner::rebuild_with`]).
const REBUILD_BATCH: usize = 10_000;
/// Batches a rebuild reads ahead of the one being applied.
const READ_AHEAD: usize = 3;
/// A rebuild writes a projection's buffered writes once they cover this many keys (so the
/// writes to a key that many events change, like a counter, are written once per this many).
const REBUILD_WRITE_AT: usize = 100_000;
/// How often the tail looks for events when no notification came.
const POLL: Duration = Duration::from_millis(500);

const CHECKPOINT: &[u8] = b"checkpoint";
const VERSION: &[u8] = b"version";
/// Present in a projection's `meta` while a rebuild writes it outside transactions.
const REBUILDING: &[u8] = b"rebuilding";

struct Registered {
    projection: Arc<dyn Projection>,
    /// The projection's trees followed by `meta`, for one transaction over all of them.
    trees: Vec<sled::Tree>,
    checkpoint: Cursor,
}

/// How far this node's projections have got.
#[derive(Clone)]
pub struct Progress(watch::Receiver<Cursor>);

impl Progress {
    /// The cursor every projection has reached.
    pub fn current(&self) -> Cursor {
        *self.0.borrow()
    }

    /// Waits until every projection has applied the event at `cursor` (read-your-writes), or
    /// `timeout` passes. Returns whether it got there.
    pub async fn wait_for(&self, cursor: Cursor, timeout: Duration) -> bool {
        let mut receiver = self.0.clone();
        let reached =
            tokio::time::timeout(timeout, receiver.wait_for(|applied| *applied >= cursor)).await;
        matches!(reached, Ok(Ok(_)))
    }
}

pub struct ProjectionRunner {
    log: EventLog,
    pubsub: PubSub,
    projections: Vec<Registered>,
    progress: watch::Sender<Cursor>,
}

impl ProjectionRunner {
    /// Registers `projections`. One whose stored version differs from its code's is wiped, so it
    /// is rebuilt from the start of the log.
    pub fn new(
        db: &sled::Db,
        log: EventLog,
        pubsub: PubSub,
        projections: Vec<Arc<dyn Projection>>,
    ) -> Result<Self, ProjectionError> {
        let mut registered = Vec::new();
        for projection in projections {
            let meta = db.open_tree(format!("{}.meta", projection.name()))?;
            let version = projection.version().to_be_bytes();
            let stored_version = meta.get(VERSION)?;
            let interrupted = meta.get(REBUILDING)?.is_some();
            if stored_version.as_deref() != Some(&version[..]) || interrupted {
                if interrupted {
                    tracing::info!(
                        projection = projection.name(),
                        "a rebuild was interrupted: rebuilding"
                    );
                } else if stored_version.is_some() {
                    tracing::info!(
                        projection = projection.name(),
                        "version changed: rebuilding"
                    );
                }
                for tree in projection.trees() {
                    tree.clear()?;
                }
                meta.clear()?;
                meta.insert(VERSION, &version[..])?;
            }
            let checkpoint = match meta.get(CHECKPOINT)? {
                Some(bytes) => Cursor::from_bytes(&bytes).ok_or_else(|| {
                    ProjectionError::Corrupt(format!("{} checkpoint", projection.name()))
                })?,
                None => Cursor::START,
            };
            let mut trees = projection.trees();
            trees.push(meta.clone());
            registered.push(Registered {
                projection,
                trees,
                checkpoint,
            });
        }
        let start = registered
            .iter()
            .map(|r| r.checkpoint)
            .min()
            .unwrap_or(Cursor::START);
        Ok(Self {
            log,
            pubsub,
            projections: registered,
            progress: watch::channel(start).0,
        })
    }

    pub fn progress(&self) -> Progress {
        Progress(self.progress.subscribe())
    }

    /// Applies every event available now; returns how many were read.
    pub async fn catch_up(&mut self) -> Result<usize, RunError> {
        self.catch_up_with(|_| {}).await
    }

    /// [`Self::catch_up`], telling `on_batch` how many events each batch applied.
    pub async fn catch_up_with(
        &mut self,
        mut on_batch: impl FnMut(usize),
    ) -> Result<usize, RunError> {
        let mut total = 0;
        loop {
            let read = self.step().await?;
            total += read;
            on_batch(read);
            if read < BATCH {
                return Ok(total);
            }
        }
    }

    /// Names of the registered projections.
    pub fn names(&self) -> Vec<&'static str> {
        self.projections
            .iter()
            .map(|r| r.projection.name())
            .collect()
    }

    /// Wipes projection `name`'s data and checkpoint, so the next catch-up rebuilds it from the
    /// start of the log. Returns false if there is no such projection.
    pub fn reset(&mut self, name: &str) -> Result<bool, ProjectionError> {
        let Some(registered) = self
            .projections
            .iter_mut()
            .find(|r| r.projection.name() == name)
        else {
            return Ok(false);
        };
        wipe(registered)?;
        Ok(true)
    }

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

    /// Projections that have applied nothing yet: new, wiped for a new version, or rebuilt after
    /// a crash or a lost data dir. A node about to serve rebuilds them with
    /// [`Self::rebuild_with`] before it catches up the rest.
    pub fn fresh(&self) -> Vec<&'static str> {
        self.projections
            .iter()
            .filter(|r| r.checkpoint == Cursor::START)
            .map(|r| r.projection.name())
            .collect()
    }

    /// The cursor every projection has reached.
    fn slowest(&self) -> Cursor {
        self.projections
            .iter()
            .map(|r| r.checkpoint)
            .min()
            .unwrap_or(Cursor::START)
    }

    /// Makes the projections' writes durable (they share one sled database).
    async fn flush(&self) -> Result<(), RunError> {
        if let Some(registered) = self.projections.first() {
            meta(registered)
                .flush_async()
                .await
                .map_err(|error| projection_error(registered, error.into()))?;
        }
        Ok(())
    }

    /// Tails the log forever. Errors (an unreachable store, say) are logged and retried.
    pub async fn run(mut self) {
        let appended = self.log.appended();
        loop {
            match self.catch_up().await {
                Ok(_) => {}
                Err(error) => {
                    crate::metrics::projection_error();
                    tracing::warn!(%error, "projection runner: will retry");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            let _ = tokio::time::timeout(POLL, appended.notified()).await;
        }
    }

    /// Reads one batch after the slowest projection and applies it where needed.
    async fn step(&mut self) -> Result<usize, RunError> {
        let from = self.slowest();
        let batch = self.log.read_after(from, BATCH).await?;
        let Some(last) = batch.last().map(StoredEvent::cursor) else {
            crate::metrics::projection_lag(0.0);
            return Ok(0);
        };
        // A full batch leaves more to read, the next one recorded no earlier than this batch's
        // last; a short one reached the end of what is readable.
        let lag = match batch.last() {
            Some(newest) if batch.len() == BATCH => (chrono::Utc::now() - newest.recorded_at)
                .to_std()
                .map_or(0.0, |age| age.as_secs_f64()),
            _ => 0.0,
        };
        for registered in &mut self.projections {
            // One ahead of the others (rebuilt separately, say) must not go back.
            if registered.checkpoint >= last {
                continue;
            }
            let changes = apply_batch(registered, &batch, last)?;
            registered.checkpoint = last;
            for change in changes {
                self.pubsub.publish(change);
            }
        }
        let read = batch.len();
        if self.pubsub.has_subscribers(LOG_TOPIC) {
            for event in batch {
                self.pubsub.publish(Change::Logged(event));
            }
        }
        self.progress.send_replace(last);
        crate::metrics::projection_lag(lag);
        Ok(read)
    }
}

/// Applies the events of `batch` after `registered`'s checkpoint and moves the checkpoint to
/// `last`, in one transaction.
fn apply_batch(
    registered: &Registered,
    batch: &[StoredEvent],
    last: Cursor,
) -> Result<Vec<Change>, RunError> {
    let checkpoint = registered.checkpoint;
    let projection = &registered.projection;
    let meta_index = registered.trees.len() - 1;
    let result = registered
        .trees
        .as_slice()
        .transaction(|trees: &Vec<TransactionalTree>| {
            let mut changes = Vec::new();
            for event in batch.iter().filter(|e| e.cursor() > checkpoint) {
                projection.apply(&trees[..meta_index], event, &mut changes)?;
            }
            trees[meta_index].insert(CHECKPOINT, &last.to_bytes()[..])?;
            Ok(changes)
        });
    result.map_err(|error| match error {
        TransactionError::Abort(error) => RunError::Projection {
            name: projection.name(),
            error,
        },
        TransactionError::Storage(error) => RunError::Projection {
            name: projection.name(),
            error: error.into(),
        },
    })
}

/// A projection's `meta` tree: its version, checkpoint and rebuild mark.
fn meta(registered: &Registered) -> &sled::Tree {
    &registered.trees[registered.trees.len() - 1]
}

/// Clears a projection's data and checkpoint (its version stays).
fn wipe(registered: &mut Registered) -> Result<(), ProjectionError> {
    for tree in &registered.trees {
        tree.clear()?;
    }
    meta(registered).insert(VERSION, &registered.projection.version().to_be_bytes()[..])?;
    registered.checkpoint = Cursor::START;
    Ok(())
}

fn projection_error(registered: &Registered, error: ProjectionError) -> RunError {
    RunError::Projection {
        name: registered.projection.name(),
        error,
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
                            if buffer.len() >= REBUILD_WRITE_AT {
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

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("projection {name}: {error}")]
    Projection {
        name: &'static str,
        error: ProjectionError,
    },
    /// A projection's rebuild thread ended early (it panicked: see the panic).
    #[error("a rebuild thread stopped")]
    FoldStopped,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cinder_read_models::chat::ChatReadModel;
    use cinder_read_models::{Change, Projection, StoredEvent, TxResult};
    use serde_json::json;
    use sled::transaction::TransactionalTree;

    use super::{ProjectionRunner, REBUILDING};
    use crate::pubsub::PubSub;
    use crate::store::{EmbeddedEventLog, EventLog, NewEvent};

    /// Counts how often it saw each position, and has no buffered path.
    struct Counting(sled::Tree);

    impl Projection for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn version(&self) -> u32 {
            1
        }
        fn trees(&self) -> Vec<sled::Tree> {
            vec![self.0.clone()]
        }
        fn apply(
            &self,
            trees: &[TransactionalTree],
            event: &StoredEvent,
            _: &mut Vec<Change>,
        ) -> TxResult<()> {
            let key = event.position.to_be_bytes();
            let seen = trees[0].get(key)?.map_or(0, |v| v[0]);
            trees[0].insert(&key[..], &[seen + 1][..])?;
            Ok(())
        }
    }

    fn projections(db: &sled::Db) -> Vec<Arc<dyn Projection>> {
        vec![
            Arc::new(ChatReadModel::open(db).unwrap()),
            Arc::new(Counting(db.open_tree("counting.seen").unwrap())),
        ]
    }

    fn runner(db: &sled::Db, log: &EventLog) -> ProjectionRunner {
        ProjectionRunner::new(db, log.clone(), PubSub::default(), projections(db)).unwrap()
    }

    /// More events than a rebuild's batch, in a few rooms.
    async fn log() -> EventLog {
        let log = EventLog::Embedded(EmbeddedEventLog::temporary().unwrap());
        for room in 0..3 {
            let events: Vec<_> = (1..=4000i64)
                .map(|n| NewEvent {
                    aggregate_type: "Room".into(),
                    aggregate_id: format!("room-{room}"),
                    sequence: n,
                    event_type: "MessageSent".into(),
                    event_version: "2.0.0".into(),
                    payload: json!({"MessageSent": {
                        "id": n, "room": format!("room-{room}"), "sender": "ada",
                        "content": format!("message {n}"), "mentions": [],
                        "sent_at": format!("2026-01-01T00:{:02}:{:02}Z", n / 60 % 60, n % 60),
                    }}),
                    metadata: json!({}),
                })
                .collect();
            log.append(events.as_slice()).await.unwrap();
        }
        log
    }

    /// Every tree's name and entries.
    type Dump = Vec<(Vec<u8>, Vec<(sled::IVec, sled::IVec)>)>;

    fn dump(db: &sled::Db) -> Dump {
        let mut names = db.tree_names();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let tree = db.open_tree(&name).unwrap();
                (name.to_vec(), tree.iter().map(Result::unwrap).collect())
            })
            .collect()
    }

    fn temporary() -> sled::Db {
        sled::Config::new().temporary(true).open().unwrap()
    }

    #[tokio::test]
    async fn a_rebuild_writes_what_the_tail_writes() {
        let log = log().await;
        let tailed = temporary();
        assert_eq!(runner(&tailed, &log).catch_up().await.unwrap(), 12_000);

        let rebuilt = temporary();
        let mut rebuilding = runner(&rebuilt, &log);
        let mut batches = Vec::new();
        let read = rebuilding
            .rebuild_with(&["chat", "counting"], |n| batches.push(n))
            .await
            .unwrap();
        assert_eq!(read, 12_000);
        assert_eq!(batches.iter().sum::<usize>(), 12_000);
        assert!(
            dump(&rebuilt) == dump(&tailed),
            "the same, checkpoints included"
        );
        assert_eq!(
            rebuilding.progress().current(),
            runner(&tailed, &log).progress().current()
        );
    }

    #[tokio::test]
    async fn rebuilding_one_projection_leaves_the_others_where_they_are() {
        let log = log().await;
        let db = temporary();
        runner(&db, &log).catch_up().await.unwrap();
        let before = dump(&db);
        let mut runner = runner(&db, &log);
        assert_eq!(
            runner.rebuild_with(&["chat"], |_| {}).await.unwrap(),
            12_000
        );
        assert!(dump(&db) == before, "counting saw every event once, still");
    }

    #[tokio::test]
    async fn a_projection_reset_alone_catches_up_alone() {
        let log = log().await;
        let db = temporary();
        runner(&db, &log).catch_up().await.unwrap();
        let before = dump(&db);
        let mut runner = runner(&db, &log);
        assert!(runner.reset("chat").unwrap());
        assert_eq!(runner.catch_up().await.unwrap(), 12_000);
        assert!(
            dump(&db) == before,
            "counting was not taken back nor applied twice"
        );
    }

    #[tokio::test]
    async fn an_interrupted_rebuild_is_done_again_at_start() {
        let log = log().await;
        let db = temporary();
        runner(&db, &log).catch_up().await.unwrap();
        let expected = dump(&db);
        // A rebuild that died half way: marked, some data, a checkpoint at the end.
        let chat = ChatReadModel::open(&db).unwrap();
        let meta = db.open_tree("chat.meta").unwrap();
        meta.insert(REBUILDING, &[][..]).unwrap();
        chat.trees()[0].insert(b"stale", &b"x"[..]).unwrap();

        let mut restarted = runner(&db, &log);
        assert_eq!(restarted.catch_up().await.unwrap(), 12_000, "read again");
        assert!(dump(&db) == expected, "rebuilt from scratch");
    }
}
