//! Turns: how a hot aggregate has one writer at a time across nodes sharing one Postgres.
//!
//! Commands normally run against a node's cached aggregate and append in the node's group
//! commit, optimistically: if another node appended to the aggregate in between, the append is
//! refused and the command retried on fresh state. That is cheap while aggregates are rarely
//! written from two nodes at once, but a flash sale has every node selling the same product,
//! and a command can then lose race after race until it runs out of retries. So an aggregate
//! that saw a conflict is written in *turns* for a while (the bus decides when, see
//! `src/bus/turns.rs`): a turn is a transaction that holds the aggregate's exclusive advisory
//! lock from before it reads the aggregate's latest events until its append commits.
//! Group commits take the locks of the aggregates they write in shared mode (see
//! `migrations/0009_hot_aggregates.sql`), so nothing can slip in between a turn's read and its
//! append: a turn never conflicts, and a command sees at most one conflict (the one that starts
//! its node's turns). Contention then costs throughput (a turn is four round trips and a commit
//! of its own, one at a time per aggregate), never a user's command.
//!
//! Why a lock rather than routing each aggregate's commands to one node: nodes do not know each
//! other (they share only Postgres), and the lock needs no membership, no forwarding and no
//! failover; a node that dies mid-turn loses its connection, and Postgres ends the turn.
//!
//! The embedded store needs none of this: its data dir is locked by one process, so the cache's
//! per-aggregate mutex already makes each aggregate's writer the only one.

use cqrs_es::persist::SerializedEvent;
use sqlx::{PgPool, Postgres, Row, Transaction};

use cinder_read_models::Cursor;

use super::feed::CommittedBatch;
use super::postgres::call_append;
use super::{NewEvent, StoreError};

/// An aggregate's turn: an open transaction holding its lock. Dropped without
/// [`Turn::append`], it rolls back and the turn ends (a refused command).
pub struct Turn {
    transaction: Transaction<'static, Postgres>,
}

impl Turn {
    /// Waits for the turn on `(aggregate_type, aggregate_id)` (at most 5 s, then
    /// [`StoreError::Unavailable`]) and reads the aggregate's events after sequence `after`.
    pub(super) async fn take(
        pool: &PgPool,
        aggregate_type: &str,
        aggregate_id: &str,
        after: usize,
    ) -> Result<(Turn, Vec<SerializedEvent>), StoreError> {
        let mut transaction = pool.begin().await?;
        let rows = sqlx::query(
            "SELECT sequence, event_type, event_version, payload, metadata
               FROM cinder_take_turn($1, $2, $3)",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(after as i64)
        .fetch_all(&mut *transaction)
        .await?;
        let events = rows
            .iter()
            .map(|row| {
                let sequence: i64 = row.try_get("sequence")?;
                Ok(SerializedEvent {
                    aggregate_id: aggregate_id.to_owned(),
                    sequence: usize::try_from(sequence)
                        .map_err(|_| StoreError::Other(format!("negative sequence {sequence}")))?,
                    aggregate_type: aggregate_type.to_owned(),
                    event_type: row.try_get("event_type")?,
                    event_version: row.try_get("event_version")?,
                    payload: row.try_get("payload")?,
                    metadata: row.try_get("metadata")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((Turn { transaction }, events))
    }

    /// Appends `events` (the turn's aggregate's, right after what the turn read) and commits,
    /// ending the turn; their cursors once durable, and (if `as_batch`) the batch as the log
    /// holds it, for this node's tail (see `feed.rs`). With no events it just ends the turn.
    pub(super) async fn append(
        mut self,
        events: Vec<NewEvent>,
        as_batch: bool,
    ) -> Result<(Vec<Cursor>, Option<CommittedBatch>), StoreError> {
        if events.is_empty() {
            self.transaction.rollback().await?;
            return Ok((Vec::new(), None));
        }
        let mut written = call_append(&mut *self.transaction, &[events.as_slice()]).await?;
        let placed = written
            .appends
            .pop()
            .flatten()
            .ok_or(StoreError::Conflict)?;
        self.transaction.commit().await?;
        let cursors = placed.iter().map(|p| p.cursor).collect();
        let batch = written.previous.filter(|_| as_batch).and_then(|previous| {
            CommittedBatch::of(previous, events.into_iter().zip(placed).collect())
        });
        Ok((cursors, batch))
    }
}
