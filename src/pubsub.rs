//! In-process publish/subscribe of read model changes, by topic.
//!
//! The projection runner publishes each [`Change`] after its sled transaction commits; live
//! views and channels subscribe to the topics they show. A subscriber that falls more than
//! [`CAPACITY`] changes behind gets `Lagged` and re-sends its whole state instead: delivery is
//! at-most-once, state is what heals.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cinder_read_models::Change;
use tokio::sync::broadcast;

/// Changes buffered per topic for slow subscribers.
pub const CAPACITY: usize = 256;

#[derive(Clone, Default)]
pub struct PubSub {
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<Change>>>>>,
}

impl PubSub {
    pub fn subscribe(&self, topic: &str) -> broadcast::Receiver<Arc<Change>> {
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// Whether anyone follows `topic` (to skip building changes nobody would receive).
    pub fn has_subscribers(&self, topic: &str) -> bool {
        let topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        topics.get(topic).is_some_and(|s| s.receiver_count() > 0)
    }

    /// Sends `change` to the subscribers of its topic; forgets topics nobody follows any more.
    pub fn publish(&self, change: Change) {
        let topic = change.topic();
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = topics.get(&topic) {
            if sender.send(Arc::new(change)).is_err() {
                topics.remove(&topic);
            }
        }
    }
}
