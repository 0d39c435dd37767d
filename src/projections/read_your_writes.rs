//! Read-your-writes: the one wait between a command and the answer to its sender.
//!
//! A command commits to the event store; this node's read models apply it a moment later. An
//! answer that reads them (a redirect to the page, a JSON reply, a live view's patches) first
//! waits here until they have the command's last event, so its sender sees what they did. Every
//! caller waits through this one function, with one budget.

use std::time::Duration;

use cinder_domain::Cursor;

use super::Progress;

/// How long an answer waits for this node's read models to reach its command's events. Past it
/// the answer goes out anyway (the change still arrives live), and a warning is logged.
pub const READ_YOUR_WRITES: Duration = Duration::from_secs(5);

impl Progress {
    /// Waits until every projection has applied `last`, the last event a command committed
    /// (nothing to wait for if it committed none), for up to [`READ_YOUR_WRITES`]. Returns
    /// whether they got there.
    pub async fn read_your_writes(&self, last: Option<Cursor>) -> bool {
        let Some(cursor) = last else {
            return true;
        };
        let reached = self.wait_for(cursor, READ_YOUR_WRITES).await;
        if !reached {
            tracing::warn!(
                ?cursor,
                "read models did not reach a command's events in time"
            );
        }
        reached
    }
}
