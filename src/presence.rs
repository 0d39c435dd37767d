//! Presence: who is on which page or topic, with metadata, on every node.
//!
//! A live view or channel that wants to be counted calls [`Presence::track`] with a topic (say
//! `chat:lobby`), a key (who: a display name) and metadata; the entry lasts until the returned
//! [`Tracked`] guard is dropped (the view or channel ended: left, socket closed, task aborted).
//! Every change to a topic is announced on the pubsub topic [`pubsub_topic`]`(topic)` as
//! [`Change::Presence`]; subscribers read [`Presence::list`] and, for Phoenix clients, turn it
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cinder_read_models::Change;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::pubsub::PubSub;

/// The NOTIFY channel of the `presence` table's trigger.
const CHANNEL: &str = "cinder_presence";
/// Keys longer than this are cut (a NOTIFY payload carries the key and metadata: 8000 bytes).
const MAX_KEY_CHARS: usize = 200;
/// Metadata larger than this, as JSON, is replaced by `{}`.
const MAX_META_BYTES: usize = 2000;
/// A node writes its presence changes at most this often, each time all that changed since:
/// visitors come and go at the rate of page views, and most leave a page soon after they
/// open it. At 200 visitors a second on two nodes (`cinder bench presence`) writing each
/// change at once took 141 transactions and 144 row changes (each a NOTIFY to every node) a
/// second; this takes 38 and 37, since a visitor who came and went between two writes is never
/// written at all. Who is here shows up to this much later on the other nodes.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// How long a stopping node tries to delete its entries (Postgres may be down).
const LEAVE_WITHIN: Duration = Duration::from_secs(2);

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

/// The pubsub topic that announces changes to the presence of `topic`.
pub fn pubsub_topic(topic: &str) -> String {
    Change::Presence {
        topic: topic.to_owned(),
    }
    .topic()
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

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    key: String,
    meta: Map<String, Value>,
}

/// An entry's identity: (node id, ref).
type Id = (String, String);

#[derive(Default)]
struct State {
    /// Every entry known, by topic, then id.
    topics: HashMap<String, BTreeMap<Id, Entry>>,
    /// The topic of each entry.
    index: HashMap<Id, String>,
    /// Refs of this node's entries whose row may not match memory yet (to write or delete).
    pending: HashSet<String>,
}

impl State {
    /// Sets an entry; notes its topic in `touched` if that changed anything.
    fn upsert(&mut self, id: Id, topic: String, entry: Entry, touched: &mut HashSet<String>) {
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

    fn remove(&mut self, id: &Id, touched: &mut HashSet<String>) {
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

    /// This node's entry `phx_ref`, as a row: (ref, topic, key, meta as JSON).
    fn own_row(&self, node: &str, phx_ref: &str) -> Option<Row> {
        let id = (node.to_owned(), phx_ref.to_owned());
        let topic = self.index.get(&id)?;
        let entry = self.topics.get(topic)?.get(&id)?;
        Some(Row {
            phx_ref: phx_ref.to_owned(),
            topic: topic.clone(),
            key: entry.key.clone(),
            meta: Value::Object(entry.meta.clone()).to_string(),
        })
    }

    fn own_rows(&self, node: &str) -> Vec<Row> {
        self.index
            .keys()
            .filter(|(n, _)| n == node)
            .filter_map(|(_, r)| self.own_row(node, r))
            .collect()
    }
}

/// One of this node's entries as it is written to the table.
struct Row {
    phx_ref: String,
    topic: String,
    key: String,
    meta: String,
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

/// What sharing through Postgres needs.
struct Shared {
    pool: PgPool,
    settings: PresenceSettings,
    /// Wakes the writer: this node's entries changed.
    wake: Notify,
    /// Held while writing, so that [`Presence::leave`] waits for a write in flight.
    writing: tokio::sync::Mutex<()>,
    /// Set by [`Presence::leave`]: write nothing more.
    left: AtomicBool,
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
            self.inner.pubsub.publish(Change::Presence { topic });
        }
    }

    /// Starts sharing: heartbeats, writing this node's entries, sweeping dead nodes, following
    /// the other nodes' changes. `None` for presence of this node alone.
    pub fn spawn(&self) -> Option<JoinHandle<()>> {
        self.inner.shared.as_ref()?;
        let presence = self.clone();
        Some(tokio::spawn(async move {
            tokio::join!(presence.write_loop(), presence.listen_loop());
        }))
    }

    /// Leaves cleanly (the node is stopping): deletes this node's entries and heartbeat, so the
    /// other nodes see its visitors leave now rather than after the timeout. Nothing is written
    /// afterwards.
    pub async fn leave(&self) {
        let Some(shared) = &self.inner.shared else {
            return;
        };
        shared.left.store(true, Ordering::SeqCst);
        let result = tokio::time::timeout(LEAVE_WITHIN, async {
            let _writing = shared.writing.lock().await;
            let mut tx = shared.pool.begin().await?;
            sqlx::query("DELETE FROM presence WHERE node_id = $1")
                .bind(&self.inner.node)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM presence_nodes WHERE node_id = $1")
                .bind(&self.inner.node)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
        .await
        .unwrap_or_else(|_| Err(sqlx::Error::PoolTimedOut));
        match result {
            Ok(()) => tracing::info!(node = self.inner.node, "presence: left"),
            Err(error) => tracing::warn!(
                %error,
                "presence: could not delete this node's entries; they expire with its heartbeat"
            ),
        }
    }

    fn sharing(&self) -> &Shared {
        self.inner
            .shared
            .as_ref()
            .expect("only shared presence runs background work")
    }

    /// Heartbeats and sweeps on every tick; writes this node's changes as they come.
    async fn write_loop(&self) {
        let shared = self.sharing();
        let mut ticks = tokio::time::interval(shared.settings.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut healthy = true;
        let mut written = tokio::time::Instant::now();
        loop {
            let beat = tokio::select! {
                biased;
                _ = ticks.tick() => true,
                _ = shared.wake.notified() => false,
            };
            if !beat {
                // The changes of the next moments share this write.
                tokio::time::sleep_until(written + WRITE_EVERY).await;
            }
            written = tokio::time::Instant::now();
            let result = async {
                if beat {
                    self.beat().await?;
                }
                self.flush().await
            }
            .await;
            match result {
                Ok(()) if !healthy => {
                    tracing::info!("presence: writing to Postgres again");
                    healthy = true;
                }
                Ok(()) => {}
                Err(error) if healthy => {
                    tracing::warn!(%error, "presence: cannot write to Postgres; retrying");
                    healthy = false;
                }
                Err(_) => {}
            }
        }
    }

    /// Renews this node's heartbeat (writing all its entries again if it had been swept as
    /// dead, or is new), then deletes the entries of dead nodes.
    async fn beat(&self) -> Result<(), sqlx::Error> {
        let shared = self.sharing();
        let _writing = shared.writing.lock().await;
        if shared.left.load(Ordering::SeqCst) {
            return Ok(());
        }
        let renewed =
            sqlx::query("UPDATE presence_nodes SET heartbeat_at = now() WHERE node_id = $1")
                .bind(&self.inner.node)
                .execute(&shared.pool)
                .await?
                .rows_affected();
        if renewed == 0 {
            self.rewrite().await?;
        }
        let swept = sqlx::query(
            "WITH dead AS (
                 DELETE FROM presence_nodes
                 WHERE heartbeat_at < now() - make_interval(secs => $1)
                 RETURNING node_id
             )
             DELETE FROM presence
             WHERE node_id IN (SELECT node_id FROM dead)
                OR node_id NOT IN (SELECT node_id FROM presence_nodes)",
        )
        .bind(shared.settings.timeout.as_secs_f64())
        .execute(&shared.pool)
        .await?
        .rows_affected();
        if swept > 0 {
            tracing::info!(
                entries = swept,
                "presence: removed the entries of dead nodes"
            );
        }
        Ok(())
    }

    /// Registers this node and replaces its rows with its entries, in one transaction.
    async fn rewrite(&self) -> Result<(), sqlx::Error> {
        let shared = self.sharing();
        let (taken, rows) = {
            let mut state = self.lock();
            let taken: Vec<String> = state.pending.drain().collect();
            (taken, state.own_rows(&self.inner.node))
        };
        let result = async {
            let mut tx = shared.pool.begin().await?;
            soft_commit(&mut tx).await?;
            sqlx::query(
                "INSERT INTO presence_nodes (node_id, heartbeat_at) VALUES ($1, now())
                 ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now()",
            )
            .bind(&self.inner.node)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM presence WHERE node_id = $1")
                .bind(&self.inner.node)
                .execute(&mut *tx)
                .await?;
            self.insert(&mut tx, &rows).await?;
            tx.commit().await
        }
        .await;
        if result.is_err() {
            self.lock().pending.extend(taken);
        } else {
            tracing::info!(
                node = self.inner.node,
                entries = rows.len(),
                "presence: node registered"
            );
        }
        result
    }

    /// Writes the entries of this node that changed since the last write.
    async fn flush(&self) -> Result<(), sqlx::Error> {
        let shared = self.sharing();
        let _writing = shared.writing.lock().await;
        if shared.left.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (taken, rows, gone) = {
            let mut state = self.lock();
            if state.pending.is_empty() {
                return Ok(());
            }
            let taken: Vec<String> = state.pending.drain().collect();
            let mut rows = Vec::new();
            let mut gone = Vec::new();
            for phx_ref in &taken {
                match state.own_row(&self.inner.node, phx_ref) {
                    Some(row) => rows.push(row),
                    None => gone.push(phx_ref.clone()),
                }
            }
            (taken, rows, gone)
        };
        let result = async {
            let mut tx = shared.pool.begin().await?;
            soft_commit(&mut tx).await?;
            if !gone.is_empty() {
                sqlx::query("DELETE FROM presence WHERE node_id = $1 AND ref = ANY($2)")
                    .bind(&self.inner.node)
                    .bind(&gone)
                    .execute(&mut *tx)
                    .await?;
            }
            self.insert(&mut tx, &rows).await?;
            tx.commit().await
        }
        .await;
        if result.is_err() {
            self.lock().pending.extend(taken);
        }
        result
    }

    /// Marks every entry of this node to be written again: after the connection to Postgres was
    /// lost, rows written just before (committed without waiting for the disk, see
    /// [`soft_commit`]) may be gone if Postgres itself went down. Writing them again changes
    /// nothing for rows that are still there.
    fn write_all_again(&self) {
        {
            let mut state = self.lock();
            let own: Vec<String> = state
                .index
                .keys()
                .filter(|(node, _)| *node == self.inner.node)
                .map(|(_, phx_ref)| phx_ref.clone())
                .collect();
            state.pending.extend(own);
        }
        self.wake_writer();
    }

    /// Writes `rows` in `tx`. If Postgres refuses the batch for its data (not for the
    /// connection), each row is tried on its own and a row it refuses is left out with a log
    /// line: one bad entry must neither be retried forever nor keep everyone else's from the
    /// other nodes. (Names are checked where they come in; this is the last line.)
    async fn insert(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        rows: &[Row],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut batch = sqlx::Connection::begin(&mut **tx).await?;
        match self.insert_rows(&mut batch, rows).await {
            Ok(()) => return batch.commit().await,
            Err(sqlx::Error::Database(_)) => batch.rollback().await?,
            Err(error) => return Err(error),
        }
        for row in rows {
            let mut one = sqlx::Connection::begin(&mut **tx).await?;
            match self.insert_rows(&mut one, std::slice::from_ref(row)).await {
                Ok(()) => one.commit().await?,
                Err(sqlx::Error::Database(error)) => {
                    one.rollback().await?;
                    tracing::warn!(
                        %error,
                        topic = row.topic,
                        key = ?row.key,
                        "presence: an entry Postgres refuses is not shared"
                    );
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    async fn insert_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        rows: &[Row],
    ) -> Result<(), sqlx::Error> {
        let column = |f: fn(&Row) -> &String| rows.iter().map(f).cloned().collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO presence (node_id, ref, topic, key, meta)
             SELECT $1, r, t, k, m::jsonb
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[]) AS u(r, t, k, m)
             ON CONFLICT (node_id, ref)
             DO UPDATE SET topic = EXCLUDED.topic, key = EXCLUDED.key, meta = EXCLUDED.meta",
        )
        .bind(&self.inner.node)
        .bind(column(|r| &r.phx_ref))
        .bind(column(|r| &r.topic))
        .bind(column(|r| &r.key))
        .bind(column(|r| &r.meta))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Follows the other nodes' changes, reconnecting after errors.
    async fn listen_loop(&self) {
        let mut failures = 0u32;
        loop {
            let Err(error) = self.follow(&mut failures).await;
            if failures == 0 {
                tracing::warn!(%error, "presence: listening to Postgres failed; retrying");
            }
            failures += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Follows changes until an error; `failures` (in a row) is reset once it works again.
    async fn follow(&self, failures: &mut u32) -> Result<std::convert::Infallible, sqlx::Error> {
        let shared = self.sharing();
        let mut listener = PgListener::connect_with(&shared.pool).await?;
        listener.listen(CHANNEL).await?;
        // Listening first, then reading: no change falls between the two.
        self.reload().await?;
        if *failures > 0 {
            tracing::info!("presence: listening to Postgres again");
            self.write_all_again();
            *failures = 0;
        }
        loop {
            match listener.try_recv().await? {
                Some(first) => {
                    let mut batch = vec![first];
                    while let Some(more) = listener.next_buffered() {
                        batch.push(more);
                    }
                    self.apply(batch.iter().map(|n| n.payload()));
                }
                // The connection was lost (and made again): changes may have been missed, and
                // Postgres may have lost this node's latest rows.
                None => {
                    self.reload().await?;
                    self.write_all_again();
                }
            }
        }
    }

    /// Replaces every other node's entries with what the table holds.
    async fn reload(&self) -> Result<(), sqlx::Error> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT node_id, ref, topic, key, meta::text FROM presence WHERE node_id <> $1",
        )
        .bind(&self.inner.node)
        .fetch_all(&self.sharing().pool)
        .await?;
        let mut fresh: HashMap<Id, (String, Entry)> = HashMap::new();
        for (node, phx_ref, topic, key, meta) in rows {
            let meta = serde_json::from_str(&meta).unwrap_or_default();
            fresh.insert((node, phx_ref), (topic, Entry { key, meta }));
        }
        let mut touched = HashSet::new();
        {
            let mut state = self.lock();
            let stale: Vec<Id> = state
                .index
                .keys()
                .filter(|id| id.0 != self.inner.node && !fresh.contains_key(*id))
                .cloned()
                .collect();
            for id in stale {
                state.remove(&id, &mut touched);
            }
            for (id, (topic, entry)) in fresh {
                state.upsert(id, topic, entry, &mut touched);
            }
        }
        self.announce(touched);
        Ok(())
    }

    /// Applies notifications of the `presence` trigger (this node's own are already known).
    fn apply<'a>(&self, payloads: impl Iterator<Item = &'a str>) {
        let mut touched = HashSet::new();
        {
            let mut state = self.lock();
            for payload in payloads {
                let notice: Notice = match serde_json::from_str(payload) {
                    Ok(notice) => notice,
                    Err(error) => {
                        tracing::warn!(%error, payload, "presence: unreadable notification");
                        continue;
                    }
                };
                if notice.node == self.inner.node {
                    continue;
                }
                let id = (notice.node, notice.phx_ref);
                match notice.op.as_str() {
                    "join" => state.upsert(
                        id,
                        notice.topic,
                        Entry {
                            key: notice.key,
                            meta: notice.meta,
                        },
                        &mut touched,
                    ),
                    _ => state.remove(&id, &mut touched),
                }
            }
        }
        self.announce(touched);
    }
}

/// A notification of the `presence` trigger.
#[derive(Deserialize)]
struct Notice {
    op: String,
    node: String,
    #[serde(rename = "ref")]
    phx_ref: String,
    topic: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    meta: Map<String, Value>,
}

/// Lets `tx` commit without waiting for the disk. Presence is soft state, written as often as
/// visitors come and go, and Postgres holds its NOTIFY lock (the trigger NOTIFYs) through a
/// commit's WAL flush: on the development machine (pgbench, 8 clients) transactions that insert
/// a row and NOTIFY managed 395 a second waiting for the disk and 3,627 without, against 2,656
/// plain inserts. Every node's presence writes and every node's NOTIFY of new events share that
/// lock. A write lost in a crash of Postgres is written again when the nodes
/// reconnect ([`Presence::write_all_again`]).
async fn soft_commit(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut **tx)
        .await?;
    Ok(())
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

/// What one client was last told about a topic's presence: turns the topic's entries into the
/// Phoenix Presence payloads, `presence_state` (everything) and `presence_diff` (the joins and
/// leaves since), so the official JS `Presence` helper stays in step.
#[derive(Debug, Default)]
pub struct Shown {
    /// By phx_ref: the key and the meta sent.
    refs: HashMap<String, (String, Value)>,
}

impl Shown {
    /// The `presence_state` payload: `{key: {"metas": [{"phx_ref": ..., ...meta}]}}`.
    pub fn state(&mut self, entries: &[Present]) -> Value {
        self.refs = shown(entries);
        Value::Object(group(self.refs.values()))
    }

    /// The `presence_diff` payload, `{"joins": {...}, "leaves": {...}}`, from what was last
    /// shown to `entries`; `None` when nothing changed.
    pub fn diff(&mut self, entries: &[Present]) -> Option<Value> {
        let now = shown(entries);
        let joins: Vec<&(String, Value)> = now
            .iter()
            .filter(|(r, _)| !self.refs.contains_key(*r))
            .map(|(_, v)| v)
            .collect();
        let leaves: Vec<&(String, Value)> = self
            .refs
            .iter()
            .filter(|(r, _)| !now.contains_key(*r))
            .map(|(_, v)| v)
            .collect();
        if joins.is_empty() && leaves.is_empty() {
            return None;
        }
        let diff = json!({
            "joins": group(joins.into_iter()),
            "leaves": group(leaves.into_iter()),
        });
        self.refs = now;
        Some(diff)
    }
}

fn shown(entries: &[Present]) -> HashMap<String, (String, Value)> {
    entries
        .iter()
        .map(|p| (p.phx_ref.clone(), (p.key.clone(), p.phoenix_meta())))
        .collect()
}

/// `{key: {"metas": [...]}}`, metas in phx_ref order.
fn group<'a>(items: impl Iterator<Item = &'a (String, Value)>) -> Map<String, Value> {
    let mut by_key: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for (key, meta) in items {
        by_key.entry(key).or_default().push(meta);
    }
    by_key
        .into_iter()
        .map(|(key, mut metas)| {
            metas.sort_by(|a, b| a["phx_ref"].as_str().cmp(&b["phx_ref"].as_str()));
            (key.to_owned(), json!({ "metas": metas }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(key: &str, phx_ref: &str) -> Present {
        Present {
            topic: "t".into(),
            key: key.into(),
            phx_ref: phx_ref.into(),
            meta: json!({"name": key}).as_object().cloned().unwrap(),
        }
    }

    #[test]
    fn state_and_diffs_have_the_phoenix_shapes() {
        let mut shown = Shown::default();
        let ada = present("ada", "n-1");
        let bob = present("bob", "n-2");
        assert_eq!(
            shown.state(std::slice::from_ref(&ada)),
            json!({"ada": {"metas": [{"name": "ada", "phx_ref": "n-1"}]}})
        );
        assert_eq!(shown.diff(std::slice::from_ref(&ada)), None);
        assert_eq!(
            shown.diff(&[ada.clone(), bob.clone()]),
            Some(json!({
                "joins": {"bob": {"metas": [{"name": "bob", "phx_ref": "n-2"}]}},
                "leaves": {}
            }))
        );
        assert_eq!(
            shown.diff(std::slice::from_ref(&bob)),
            Some(json!({
                "joins": {},
                "leaves": {"ada": {"metas": [{"name": "ada", "phx_ref": "n-1"}]}}
            }))
        );
    }

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
            changes.recv().await.unwrap().change,
            Change::Presence {
                topic: "room".into()
            }
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
