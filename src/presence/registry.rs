//! The registry's table: every entry this node knows, its own and (when shared) the other
//! nodes', by topic, and which of its own still have to be written.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) key: String,
    pub(super) meta: Map<String, Value>,
}

/// An entry's identity: (node id, ref).
pub(super) type Id = (String, String);

#[derive(Default)]
pub(super) struct State {
    /// Every entry known, by topic, then id.
    pub(super) topics: HashMap<String, BTreeMap<Id, Entry>>,
    /// The topic of each entry.
    pub(super) index: HashMap<Id, String>,
    /// Refs of this node's entries whose row may not match memory yet (to write or delete).
    pub(super) pending: HashSet<String>,
}

impl State {
    /// Sets an entry; notes its topic in `touched` if that changed anything.
    pub(super) fn upsert(
        &mut self,
        id: Id,
        topic: String,
        entry: Entry,
        touched: &mut HashSet<String>,
    ) {
        if self.index.get(&id).is_some_and(|old| *old != topic) {
            self.remove(&id, touched);
        }
        let entries = self.topics.entry(topic.clone()).or_default();
        if entries.get(&id) != Some(&entry) {
            entries.insert(id.clone(), entry);
            touched.insert(topic.clone());
        }
        self.index.insert(id, topic);
    }

    pub(super) fn remove(&mut self, id: &Id, touched: &mut HashSet<String>) {
        let Some(topic) = self.index.remove(id) else {
            return;
        };
        if let Some(entries) = self.topics.get_mut(&topic) {
            entries.remove(id);
            if entries.is_empty() {
                self.topics.remove(&topic);
            }
        }
        touched.insert(topic);
    }
}
