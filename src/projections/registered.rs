//! A projection as the runner holds it: its trees, its `<name>.meta` tree (version, checkpoint,
//! rebuild mark) and its checkpoint. Each projection writes its checkpoint in the same sled
//! transaction as a batch's changes, so after a crash it resumes where its data ends, never
//! applying an event twice or skipping one. Shared by the live tail and the rebuild.

use std::sync::Arc;

use cinder_read_models::{Change, Cursor, Projection, ProjectionError, StoredEvent};
use sled::transaction::{TransactionError, TransactionalTree};
use sled::Transactional;

use super::RunError;

pub(super) const CHECKPOINT: &[u8] = b"checkpoint";
pub(super) const VERSION: &[u8] = b"version";
/// Present in a projection's `meta` while a rebuild writes it outside transactions.
pub(super) const REBUILDING: &[u8] = b"rebuilding";

pub(super) struct Registered {
    pub(super) projection: Arc<dyn Projection>,
    /// The projection's trees followed by `meta`, for one transaction over all of them.
    pub(super) trees: Vec<sled::Tree>,
    pub(super) checkpoint: Cursor,
}

/// Applies the events of `batch` after `registered`'s checkpoint and moves the checkpoint to
/// `last`, in one transaction.
pub(super) fn apply_batch(
    registered: &Registered,
    batch: &[StoredEvent],
    last: Cursor,
) -> Result<Vec<Change>, RunError> {
    apply_batch_together(&[registered], batch, last)
}

/// Applies the events of `batch` to each of `registered` (those after its own checkpoint) and
/// moves every one's checkpoint to `last`, all in one transaction, in their order.
///
/// One transaction for all of them, not one each: sled 0.34 writes out its log buffer, and
/// waits for the disk to take it, twice for every transaction (it seals the buffer before and
/// after the transaction's batch marker), on a thread of its IO pool. With a transaction per
/// projection, a node's tail paid ten such writes for every group commit of its own, a third of
/// the node's CPU under `cinder bench commands`.
pub(super) fn apply_batch_together(
    registered: &[&Registered],
    batch: &[StoredEvent],
    last: Cursor,
) -> Result<Vec<Change>, RunError> {
    let mut trees = Vec::new();
    let mut owned = Vec::with_capacity(registered.len());
    for one in registered {
        let start = trees.len();
        trees.extend(one.trees.iter().cloned());
        owned.push(start..trees.len());
    }
    // Which projection the transaction is at, to name it if it fails.
    let at = std::cell::Cell::new(0);
    let result = trees
        .as_slice()
        .transaction(|views: &Vec<TransactionalTree>| {
            let mut changes = Vec::new();
            for (n, (one, range)) in registered.iter().zip(&owned).enumerate() {
                at.set(n);
                let (data, meta) = views[range.clone()].split_at(range.len() - 1);
                let checkpoint = one.checkpoint;
                for event in batch.iter().filter(|e| e.cursor() > checkpoint) {
                    one.projection.apply(data, event, &mut changes)?;
                }
                meta[0].insert(CHECKPOINT, &last.to_bytes()[..])?;
            }
            Ok(changes)
        });
    result.map_err(|error| {
        let name = registered
            .get(at.get())
            .map_or("projections", |one| one.projection.name());
        match error {
            TransactionError::Abort(error) => RunError::Projection { name, error },
            TransactionError::Storage(error) => RunError::Projection {
                name,
                error: error.into(),
            },
        }
    })
}

/// A projection's `meta` tree: its version, checkpoint and rebuild mark.
pub(super) fn meta(registered: &Registered) -> &sled::Tree {
    &registered.trees[registered.trees.len() - 1]
}

/// Clears a projection's data and checkpoint (its version stays).
pub(super) fn wipe(registered: &mut Registered) -> Result<(), ProjectionError> {
    for tree in &registered.trees {
        tree.clear()?;
    }
    meta(registered).insert(VERSION, &registered.projection.version().to_be_bytes()[..])?;
    registered.checkpoint = Cursor::START;
    Ok(())
}

/// `error` as the runner's error, naming the projection it came from.
pub(super) fn projection_error(registered: &Registered, error: ProjectionError) -> RunError {
    RunError::Projection {
        name: registered.projection.name(),
        error,
    }
}
