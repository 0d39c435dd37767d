//! The projection runner: this node's projections, registered with their stored versions and
//! checkpoints. It feeds them in two ways, each in a file of its own: the live tail
//! ([`super::tail`]: small batches, each in one transaction, changes announced) and the rebuild
//! ([`super::rebuild`]: big batches read ahead, folded in parallel, nothing announced).

use std::sync::Arc;

use cinder_read_models::{Cursor, Projection, ProjectionError};
use tokio::sync::watch;

use super::registered::{
    meta, projection_error, wipe, Registered, CHECKPOINT, REBUILDING, VERSION,
};
use super::Progress;
use crate::pubsub::PubSub;
use crate::store::EventLog;

/// Folds the global log into every projection of this node, exactly once each: registered
/// here, fed by the tail or a rebuild.
pub struct ProjectionRunner {
    pub(super) log: EventLog,
    pub(super) pubsub: PubSub,
    pub(super) projections: Vec<Registered>,
    pub(super) progress: watch::Sender<Cursor>,
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
    pub(super) fn slowest(&self) -> Cursor {
        self.projections
            .iter()
            .map(|r| r.checkpoint)
            .min()
            .unwrap_or(Cursor::START)
    }

    /// Makes the projections' writes durable (they share one sled database).
    pub(super) async fn flush(&self) -> Result<(), RunError> {
        if let Some(registered) = self.projections.first() {
            meta(registered)
                .flush_async()
                .await
                .map_err(|error| projection_error(registered, error.into()))?;
        }
        Ok(())
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
