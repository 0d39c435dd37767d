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
//!
//! What the log causes is published a tail batch at a time ([`PubSub::publish_batch`]) and
//! remembered ([`RecentChanges`]), so a live page that reconnects with the position its content
//! reflects is sent only what it missed ([`PubSub::subscribe_since`]). Recording a batch and
//! subscribing happen under one lock: a change is either in what a subscriber is told it missed
//! or among what it receives, never both, never neither.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cinder_read_models::{Change, Cursor};
use tokio::sync::broadcast;

use crate::recent_changes::{self, Missed, RecentChanges};

/// Changes buffered per topic for slow subscribers.
pub const CAPACITY: usize = 256;

/// What a subscriber receives.
pub type Subscription = broadcast::Receiver<Arc<Published>>;

#[derive(Clone)]
pub struct PubSub {
    topics: Arc<Mutex<Topics>>,
    recent: Arc<Mutex<RecentChanges<Change>>>,
}

#[derive(Default)]
struct Topics {
    senders: HashMap<String, broadcast::Sender<Arc<Published>>>,
    /// Changes published so far: each [`Published`] is numbered in the order it was sent.
    sent: u64,
}

impl Default for PubSub {
    fn default() -> Self {
        Self {
            topics: Default::default(),
            recent: Arc::new(Mutex::new(RecentChanges::new(recent_changes::CAPACITY))),
        }
    }
}

/// A subscription made by [`PubSub::subscribe_since`], with what came before it.
pub struct Since {
    pub subscriptions: Vec<Subscription>,
    /// What the subscriber's page missed on its topics, from the position it gave.
    pub missed: Missed<Change>,
    /// The position a page reflects once it has what it missed (or has been sent whole), if
    /// this node knows where its tail is.
    pub latest: Option<Cursor>,
}

impl PubSub {
    pub fn subscribe(&self, topic: &str) -> Subscription {
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        topics
            .senders
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// Subscribes to `topics` and says what a page that reflects the log up to `since` missed
    /// on them (at most `limit` changes): from then on the subscriptions bring the rest.
    pub fn subscribe_since(&self, topics: &[String], since: Option<Cursor>, limit: usize) -> Since {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let subscriptions = topics.iter().map(|topic| self.subscribe(topic)).collect();
        let missed = match since {
            Some(since) => recent.missed(since, topics, limit),
            None => Missed::Unknown,
        };
        Since {
            subscriptions,
            missed,
            latest: recent.latest(),
        }
    }

    /// The position of the last batch published (see [`Since::latest`]).
    pub fn latest(&self) -> Option<Cursor> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .latest()
    }

    /// Publishes what the tail batch of events after `from`, up to `to`, changed, and remembers
    /// it for pages that reconnect. Each change is published with `from` as the position a page
    /// reflects once it has this change's patches (and everything published before it).
    pub fn publish_batch(&self, from: Cursor, to: Cursor, changes: Vec<Change>) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let recorded = changes.iter().map(|c| (c.topic().to_owned(), c.clone()));
        recent.record(from, to, recorded);
        for change in changes {
            self.send(change, Some(from));
        }
    }

    /// Remembers changes from `at` on, forgetting those before unless the record reaches it:
    /// for the tail when it starts, and after changes it could not announce.
    pub fn remember_from(&self, at: Cursor) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .start_at(at);
    }

    /// Whether anyone follows `topic` (to skip building changes nobody would receive).
    pub fn has_subscribers(&self, topic: &str) -> bool {
        let topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        topics
            .senders
            .get(topic)
            .is_some_and(|s| s.receiver_count() > 0)
    }

    /// Sends `change` to the subscribers of its topic without remembering it, so a page that
    /// reconnects is never told of it from here: for what the log does not cause (presence, sent
    /// whole on every rejoin as an unlogged region); for the log's own announcements (a
    /// `Logged` per event, which would crowd out what other pages resume from: a page that
    /// follows the log is told the events it missed from the store instead, see
    /// `web::live::resume::with_log`); and for what a rebuild changes (before the tail starts
    /// remembering, so a page from before it is sent whole).
    pub fn publish(&self, change: Change) {
        self.send(change, None);
    }

    /// Sends `change` on its topic; forgets topics nobody follows any more.
    fn send(&self, change: Change, reached: Option<Cursor>) {
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        topics.sent += 1;
        let order = topics.sent;
        let Some(sender) = topics.senders.get(change.topic()) else {
            return;
        };
        let topic = change.topic().to_owned();
        let published = Published {
            change,
            reached,
            order,
            renders: Mutex::new(Vec::new()),
        };
        if sender.send(Arc::new(published)).is_err() {
            topics.senders.remove(&topic);
        }
    }
}

/// A change as its subscribers receive it, with the renderings made of it so far.
pub struct Published {
    pub change: Change,
    /// For a change the log caused: the position a page reflects once it shows this change and
    /// everything published before it (where the log was before the batch that caused it).
    pub reached: Option<Cursor>,
    /// When it was published, among all changes of this node: subscribers of several topics
    /// take their changes in this order.
    pub order: u64,
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
            reached: None,
            order: 0,
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
