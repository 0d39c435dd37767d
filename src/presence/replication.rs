//! Presence shared through Postgres (see `migrations/0003_presence.sql`): this node writes its
//! own entries to the `presence` table in the background, renews its heartbeat and sweeps dead
//! nodes, and applies the other nodes' changes, which the table's trigger NOTIFYs, to its
//! in-memory copy.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::registry::{Entry, Id, State};
use super::Presence;
use crate::config::PresenceSettings;

/// The NOTIFY channel of the `presence` table's trigger.
const CHANNEL: &str = "cinder_presence";
/// A node writes its presence changes at most this often, each time all that changed since:
/// visitors come and go at the rate of page views, and most leave a page soon after they
/// open it. At 200 visitors a second on two nodes (`cinder bench presence`) writing each
/// change at once took 141 transactions and 144 row changes (each a NOTIFY to every node) a
/// second; this takes 38 and 37, since a visitor who came and went between two writes is never
/// written at all. Who is here shows up to this much later on the other nodes.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// How long a stopping node tries to delete its entries (Postgres may be down).
const LEAVE_WITHIN: Duration = Duration::from_secs(2);

/// What sharing through Postgres needs.
pub(super) struct Shared {
    pub(super) pool: PgPool,
    pub(super) settings: PresenceSettings,
    /// Wakes the writer: this node's entries changed.
    pub(super) wake: Notify,
    /// Held while writing, so that [`Presence::leave`] waits for a write in flight.
    pub(super) writing: tokio::sync::Mutex<()>,
    /// Set by [`Presence::leave`]: write nothing more.
    pub(super) left: AtomicBool,
}

/// One of this node's entries as it is written to the table.
struct Row {
    phx_ref: String,
    topic: String,
    key: String,
    meta: String,
}

impl State {
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

impl Presence {
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
