//! Presence: who is on which page or topic, with metadata, on every node.
//!
//! A live view or channel that wants to be counted calls [`Presence::track`] with a topic (say
//! `chat:lobby`), a key (who: a display name) and metadata; the entry lasts until the returned
//! [`Tracked`] guard is dropped (the view or channel ended: left, socket closed, task aborted).
//! Every change to a topic is announced on the pubsub topic [`pubsub_topic`]`(topic)` as
//! [`PresenceChanged`]; subscribers read [`Presence::list`] and, for Phoenix clients, turn it
//! into `presence_state` / `presence_diff` pushes with [`Shown`].
//!
//! With the embedded store a node is alone and presence is this process's memory. With Postgres
//! it is shared (see `migrations/0003_presence.sql`): each node has a random id, keeps its own
//! entries in memory (the truth for them) and writes them to the `presence` table in the
//! background; a trigger NOTIFYs each change with its row, and every node applies the others'
//! changes to its in-memory copy, so reading presence never waits on the database. Each node
//! renews its heartbeat every [`PresenceSettings::heartbeat`] and deletes the entries of nodes
//! silent for [`PresenceSettings::timeout`]: a node that dies drops out within timeout +
//! heartbeat (25 s by default). A node that finds itself swept (it was cut off too long) writes
//! its entries again; one that stops cleanly deletes its own ([`Presence::leave`]).
//!
//! This file is the registry's handle: tracking, listing and announcing. The in-memory table is
//! [`registry`], the sharing through Postgres [`replication`], and the Phoenix payloads
//! (`presence_state` / `presence_diff`) [`phoenix`].

mod phoenix;
mod registry;
mod replication;

pub use crate::config::PresenceSettings;
pub use phoenix::Shown;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cinder_read_models::Change;
use serde_json::{Map, Value};
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::pubsub::PubSub;
use registry::{Entry, State};
use replication::Shared;

/// Keys longer than this are cut (a NOTIFY payload carries the key and metadata: 8000 bytes).
const MAX_KEY_CHARS: usize = 200;
/// Metadata larger than this, as JSON, is replaced by `{}`.
const MAX_META_BYTES: usize = 2000;

/// The pubsub topic that announces changes to the presence of `topic`.
pub fn pubsub_topic(topic: &str) -> String {
    format!("presence/{topic}")
}

/// Someone arrived on or left `topic` (a page or channel topic): announced on
/// [`pubsub_topic`]`(topic)`; who is there now is [`Presence::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChanged {
    pub topic: String,
}

impl From<PresenceChanged> for Change {
    fn from(changed: PresenceChanged) -> Change {
        Change::new(pubsub_topic(&changed.topic), changed)
    }
}

/// A key for something secret (a session id, say) that names it without revealing it: presence
/// entries are shared with every node through the database.
pub fn opaque_key(secret: &str) -> String {
    crate::opaque::opaque_id("cinder presence", secret, 12)
}

/// One entry: someone (`key`) on `topic`, from one page or channel (`phx_ref`).
#[derive(Debug, Clone, PartialEq)]
pub struct Present {
    pub topic: String,
    pub key: String,
    /// Unique across nodes; what Phoenix clients tell entries apart by.
    pub phx_ref: String,
    pub meta: Map<String, Value>,
}

impl Present {
    /// The metadata as Phoenix sends it: with its `phx_ref`.
    pub fn phoenix_meta(&self) -> Value {
        let mut meta = self.meta.clone();
        meta.insert("phx_ref".into(), Value::String(self.phx_ref.clone()));
        Value::Object(meta)
    }
}

/// Presence of this node, shared with the others when the store is Postgres. Cheap to clone.
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    pubsub: PubSub,
    state: Mutex<State>,
    next: AtomicU64,
    shared: Option<Shared>,
}

impl Presence {
    /// Presence of this node alone (the embedded store: one node).
    pub fn new(pubsub: PubSub) -> Self {
        Self::build(pubsub, None)
    }

    /// Presence shared with every node on the same Postgres database. Start its background work
    /// with [`Presence::spawn`].
    pub fn shared(pubsub: PubSub, pool: PgPool, settings: PresenceSettings) -> Self {
        Self::build(
            pubsub,
            Some(Shared {
                pool,
                settings,
                wake: Notify::new(),
                writing: tokio::sync::Mutex::new(()),
                left: AtomicBool::new(false),
            }),
        )
    }

    fn build(pubsub: PubSub, shared: Option<Shared>) -> Self {
        Self {
            inner: Arc::new(Inner {
                node: format!("{:016x}", rand::random::<u64>()),
                pubsub,
                state: Mutex::default(),
                next: AtomicU64::new(1),
                shared,
            }),
        }
    }

    /// This node's random id.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// Counts `key` as present on `topic`, with `meta` (a JSON object), until the returned
    /// guard is dropped.
    pub fn track(&self, topic: &str, key: &str, meta: Value) -> Tracked {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let phx_ref = format!("{}-{n}", self.inner.node);
        let key: String = key.chars().take(MAX_KEY_CHARS).collect();
        let meta = match meta {
            Value::Object(meta)
                if serde_json::to_string(&meta).is_ok_and(|j| j.len() <= MAX_META_BYTES) =>
            {
                meta
            }
            _ => {
                tracing::warn!(
                    topic,
                    "presence metadata is not a small JSON object; dropped"
                );
                Map::new()
            }
        };
        let mut touched = HashSet::new();
        {
            let mut state = self.lock();
            state.upsert(
                (self.inner.node.clone(), phx_ref.clone()),
                topic.to_owned(),
                Entry { key, meta },
                &mut touched,
            );
            if self.inner.shared.is_some() {
                state.pending.insert(phx_ref.clone());
            }
        }
        self.wake_writer();
        self.announce(touched);
        Tracked {
            presence: self.clone(),
            phx_ref,
        }
    }

    /// Everyone present on `topic`, on every node, in a stable order.
    pub fn list(&self, topic: &str) -> Vec<Present> {
        let state = self.lock();
        let Some(entries) = state.topics.get(topic) else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|((_, phx_ref), entry)| Present {
                topic: topic.to_owned(),
                key: entry.key.clone(),
                phx_ref: phx_ref.clone(),
                meta: entry.meta.clone(),
            })
            .collect()
    }

    fn untrack(&self, phx_ref: &str) {
        let mut touched = HashSet::new();
        {
            let mut state = self.lock();
            state.remove(&(self.inner.node.clone(), phx_ref.to_owned()), &mut touched);
            if self.inner.shared.is_some() {
                state.pending.insert(phx_ref.to_owned());
            }
        }
        self.wake_writer();
        self.announce(touched);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake_writer(&self) {
        if let Some(shared) = &self.inner.shared {
            shared.wake.notify_one();
        }
    }

    fn announce(&self, topics: HashSet<String>) {
        for topic in topics {
            self.inner.pubsub.publish(PresenceChanged { topic }.into());
        }
    }
}

/// An entry in [`Presence`], removed when dropped.
pub struct Tracked {
    presence: Presence,
    phx_ref: String,
}

impl Tracked {
    pub fn phx_ref(&self) -> &str {
        &self.phx_ref
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.presence.untrack(&self.phx_ref);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn tracking_lasts_as_long_as_the_guard_and_is_announced() {
        let pubsub = PubSub::default();
        let presence = Presence::new(pubsub.clone());
        let mut changes = pubsub.subscribe(&pubsub_topic("room"));
        let guard = presence.track("room", "ada", json!({"name": "ada"}));
        let other = presence.track("elsewhere", "bob", json!({}));
        assert_eq!(presence.list("room").len(), 1);
        assert_eq!(presence.list("room")[0].key, "ada");
        assert_eq!(presence.list("room")[0].phx_ref, guard.phx_ref());
        assert_eq!(
            changes
                .recv()
                .await
                .unwrap()
                .change
                .get::<PresenceChanged>(),
            Some(&PresenceChanged {
                topic: "room".into()
            })
        );
        drop(guard);
        assert!(presence.list("room").is_empty());
        assert_eq!(presence.list("elsewhere").len(), 1);
        assert!(changes.recv().await.is_ok());
        drop(other);
        assert!(presence.list("elsewhere").is_empty());
    }

    #[test]
    fn oversized_metadata_is_dropped_and_keys_are_cut() {
        let presence = Presence::new(PubSub::default());
        let _guard = presence.track("t", &"k".repeat(500), json!({"big": "x".repeat(5000)}));
        let listed = presence.list("t");
        assert_eq!(listed[0].key.len(), MAX_KEY_CHARS);
        assert!(listed[0].meta.is_empty());
    }
}
