//! When a node writes an aggregate in turns (see `src/store/turn.rs`) instead of optimistically.
//!
//! Turns cost a transaction of their own per command, so they are kept for aggregates that
//! really are written from several nodes at once: an aggregate becomes hot when an append to it
//! conflicts, and stays hot while its turns keep finding events that another writer appended
//! since this node last saw it. Once it has been quiet for [`HOT_FOR`] the node goes back to
//! appending optimistically, in its group commit; if the other writers are still there, that
//! costs one more conflict (retried at once in a turn), never a refused command.

use std::time::{Duration, Instant};

/// How long an aggregate stays hot after the last sign that another node writes it too.
pub const HOT_FOR: Duration = Duration::from_secs(10);

/// Whether one cached aggregate is written in turns.
#[derive(Debug, Default, Clone, Copy)]
pub struct Heat {
    until: Option<Instant>,
}

impl Heat {
    /// Commands on the aggregate take turns now.
    pub fn hot(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() < until)
    }

    /// Another writer was seen (a conflict, or its events found by a turn): take turns for
    /// [`HOT_FOR`] from now.
    pub fn contended(&mut self) {
        self.until = Some(Instant::now() + HOT_FOR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aggregate_is_hot_only_after_contention() {
        let mut heat = Heat::default();
        assert!(!heat.hot());
        heat.contended();
        assert!(heat.hot());
    }
}
