//! In-process publish/subscribe of read model changes, by topic.
//!
//! The projection runner publishes each [`Change`] after its sled transaction commits; live
//! views and channels subscribe to the topics they show. A subscriber that falls more than
//! [`CAPACITY`] changes behind gets `Lagged` and re-sends its whole state instead: delivery is
//! at-most-once, state is what heals.
//!
//! Subscribers receive a [`Published`]: the change, and what subscribers rendered of it. Ten
//! thousand sockets in one room push the same message; the first to need a rendering makes it
//! ([`Published::rendered`]) and the others take it, so it is rendered and encoded once.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cinder_read_models::Change;
use tokio::sync::broadcast;

/// Changes buffered per topic for slow subscribers.
pub const CAPACITY: usize = 256;

/// What a subscriber receives.
pub type Subscription = broadcast::Receiver<Arc<Published>>;

#[derive(Clone, Default)]
pub struct PubSub {
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<Published>>>>>,
}

impl PubSub {
    pub fn subscribe(&self, topic: &str) -> Subscription {
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
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = topics.get(change.topic()) {
            if sender
                .send(Arc::new(Published::new(change.clone())))
                .is_err()
            {
                topics.remove(change.topic());
            }
        }
    }
}

/// A change as its subscribers receive it, with the renderings made of it so far.
pub struct Published {
    pub change: Change,
    renders: Mutex<Vec<Rendering>>,
}

/// One rendering: its key, its type, and an `OnceLock<Arc<T>>` of that type.
type Rendering = (RenderKey, TypeId, Arc<dyn Any + Send + Sync>);

/// What a rendering of a change is for: the kind of subscriber (`"chat:message_sent"`, a live
/// view's name) and whatever else it depends on besides the change (a list's length limit,
/// say). Subscribers that give equal keys get the same rendering, so a key must name everything
/// the rendering depends on: a subscriber whose output is its own (what one visitor may see)
/// renders it itself instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderKey {
    kind: &'static str,
    variant: u64,
}

impl RenderKey {
    pub const fn new(kind: &'static str, variant: u64) -> Self {
        Self { kind, variant }
    }
}

impl Published {
    pub fn new(change: Change) -> Self {
        Self {
            change,
            renders: Mutex::new(Vec::new()),
        }
    }

    /// The rendering under `key`: made by `render` for the first subscriber that asks, and the
    /// same for every later one. Subscribers that ask at the same time wait for the first.
    pub fn rendered<T: Any + Send + Sync>(
        &self,
        key: RenderKey,
        render: impl FnOnce() -> T,
    ) -> Arc<T> {
        let slot = {
            let mut renders = self.renders.lock().unwrap_or_else(|p| p.into_inner());
            let found = renders
                .iter()
                .find(|(k, t, _)| *k == key && *t == TypeId::of::<T>())
                .map(|(_, _, slot)| slot.clone());
            found.unwrap_or_else(|| {
                let slot: Arc<dyn Any + Send + Sync> = Arc::new(OnceLock::<Arc<T>>::new());
                renders.push((key, TypeId::of::<T>(), slot.clone()));
                slot
            })
        };
        match slot.downcast_ref::<OnceLock<Arc<T>>>() {
            Some(once) => once.get_or_init(|| Arc::new(render())).clone(),
            // Slots are found by their type, so this does not happen.
            None => Arc::new(render()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn each_rendering_is_made_once_per_key() {
        let published = Published::new(Change::new("chat:lobby", ()));
        let made = AtomicUsize::new(0);
        let render = |text: &str| {
            made.fetch_add(1, Ordering::Relaxed);
            text.to_owned()
        };
        let first = published.rendered(RenderKey::new("a", 0), || render("a0"));
        let again = published.rendered(RenderKey::new("a", 0), || render("never"));
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*again, "a0");
        let other = published.rendered(RenderKey::new("a", 1), || render("a1"));
        assert_eq!(*other, "a1");
        let typed = published.rendered(RenderKey::new("a", 0), || 7_u32);
        assert_eq!(*typed, 7);
        assert_eq!(made.load(Ordering::Relaxed), 2);
    }
}
