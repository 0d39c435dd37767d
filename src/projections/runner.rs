//! Tails the global log and folds it into every projection, exactly once.
//!
//! Each projection keeps its checkpoint (the cursor of the last event it applied) in a
//! `<name>.meta` tree and writes it in the same sled transaction as the batch's changes: after a
//! crash it resumes where its data ends, never applying an event twice or skipping one. The log
//! is read gap-safely (see [`EventLog::read_after`]). Appends wake the tail (Postgres: a NOTIFY
//! from any node; embedded: the append itself); a poll covers lost notifications and
//! transactions that were still running.

use std::sync::Arc;
use std::time::Duration;

use cinder_read_models::{Change, Cursor, Projection, ProjectionError, StoredEvent, LOG_TOPIC};
use sled::transaction::{TransactionError, TransactionalTree};
use sled::Transactional;
use tokio::sync::watch;

use crate::pubsub::PubSub;
use crate::store::EventLog;

/// Events read and applied per transaction.
const BATCH: usize = 500;
/// How often the tail looks for events when no notification came.
const POLL: Duration = Duration::from_millis(500);

const CHECKPOINT: &[u8] = b"checkpoint";
const VERSION: &[u8] = b"version";

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
            if stored_version.as_deref() != Some(&version[..]) {
                if stored_version.is_some() {
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
        for tree in &registered.trees {
            tree.clear()?;
        }
        let meta = &registered.trees[registered.trees.len() - 1];
        meta.insert(VERSION, &registered.projection.version().to_be_bytes()[..])?;
        registered.checkpoint = Cursor::START;
        Ok(true)
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
        let from = self
            .projections
            .iter()
            .map(|r| r.checkpoint)
            .min()
            .unwrap_or(Cursor::START);
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

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("projection {name}: {error}")]
    Projection {
        name: &'static str,
        error: ProjectionError,
    },
}
