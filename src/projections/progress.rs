//! How far this node's projections have got, watched by whoever needs to read its own writes.

use std::time::Duration;

use cinder_read_models::Cursor;
use tokio::sync::watch;

/// How far this node's projections have got.
#[derive(Clone)]
pub struct Progress(pub(super) watch::Receiver<Cursor>);

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
