//! The timing of presence shared through Postgres (`crate::presence`). Not a flag today: tests
//! shorten it to see a dead node drop out.

use std::time::Duration;

/// Timing of shared presence.
#[derive(Debug, Clone)]
pub struct PresenceSettings {
    /// How often a node renews its heartbeat and deletes the entries of dead nodes.
    pub heartbeat: Duration,
    /// A node whose heartbeat is older than this counts as dead; its entries are deleted.
    pub timeout: Duration,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
        }
    }
}
