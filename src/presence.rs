//! Presence: who has which page open, on this node.
//!
//! A live view that wants to be counted tracks itself when it is joined; the entry goes away
//! when the view does (the socket closed, the tab was shut). Every change is announced on
//! [`PRESENCE_TOPIC`] so dashboards re-read the list.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cinder_read_models::Change;

use crate::pubsub::PubSub;

/// Announced whenever someone arrives or leaves.
pub const PRESENCE_TOPIC: &str = "presence";

/// One open page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// The visitor (session id).
    pub key: String,
    /// The page, e.g. `/drops`.
    pub page: String,
}

#[derive(Clone)]
pub struct Presence {
    entries: Arc<Mutex<HashMap<u64, Present>>>,
    next: Arc<AtomicU64>,
    pubsub: PubSub,
}

impl Presence {
    pub fn new(pubsub: PubSub) -> Self {
        Self {
            entries: Arc::default(),
            next: Arc::default(),
            pubsub,
        }
    }

    /// Counts `key` as on `page` until the returned guard is dropped.
    pub fn track(&self, key: &str, page: &str) -> Tracked {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id,
            Present {
                key: key.to_owned(),
                page: page.to_owned(),
            },
        );
        self.announce();
        Tracked {
            presence: self.clone(),
            id,
        }
    }

    /// Everyone present, in no particular order.
    pub fn list(&self) -> Vec<Present> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Present>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn announce(&self) {
        self.pubsub.publish(Change::Presence);
    }
}

/// An entry in [`Presence`], removed on drop.
pub struct Tracked {
    presence: Presence,
    id: u64,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.presence.lock().remove(&self.id);
        self.presence.announce();
    }
}
