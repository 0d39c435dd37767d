//! The event stores: appends and conflicts on both, a Postgres tail that never skips and never
//! stalls, and an embedded store that survives a restart.

use std::sync::Arc;
use std::time::Duration;

use cinder::projections::ProjectionRunner;
use cinder::pubsub::PubSub;
use cinder::store::{EmbeddedEventLog, EventLog, StoreError};
use cinder_read_models::{Cursor, Projection};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::projections::{event, Counting};
use crate::support::{http, on_both_stores, Backend, TempDir, TestDb, TestServer, TestStore};

/// Reads the log until `count` events are visible (the tests' own slow writers commit a
/// moment after their appends return).
async fn read_eventually(log: &EventLog, count: usize) -> Vec<cinder_domain::StoredEvent> {
    for _ in 0..200 {
        let events = log.read_after(Cursor::START, 100).await.unwrap();
        if events.len() >= count {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    log.read_after(Cursor::START, 100).await.unwrap()
}

fn pool(log: &EventLog) -> sqlx::PgPool {
    match log {
        EventLog::Postgres(pg) => pg.pool().clone(),
        EventLog::Embedded(_) => panic!("a Postgres store"),
    }
}

on_both_stores!(appends_return_global_positions_and_taken_sequences_conflict);
async fn appends_return_global_positions_and_taken_sequences_conflict(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.log.clone();
    let first = log.append(&[event("a", 1), event("a", 2)]).await.unwrap();
    let second = log.append(&[event("b", 1)]).await.unwrap();
    assert_eq!(
        first.iter().map(|c| c.position).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(second[0].position, 3);
    assert!(first[0].tx == first[1].tx, "one append is one transaction");
    assert!(
        second[0] > first[1],
        "a later append reads after an earlier one"
    );
    let conflict = log.append(&[event("a", 2)]).await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict)),
        "{conflict:?}"
    );
    let partly_taken = log
        .append(&[event("c", 1), event("a", 3), event("b", 1)])
        .await;
    assert!(
        matches!(partly_taken, Err(StoreError::Conflict)),
        "{partly_taken:?}"
    );
    let loaded = read_eventually(&log, 3).await;
    let positions: Vec<_> = loaded.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        vec![1, 2, 3],
        "the conflicting appends left nothing behind"
    );
    log.append(&[event("c", 1)])
        .await
        .expect("a sequence in a refused append is still free");
}

#[tokio::test]
async fn an_event_committed_after_a_later_position_is_not_skipped() {
    let db = TestDb::new().await;
    let log = db.log().await;
    let pool = pool(&log);

    // A slow transaction takes position 1 and stays open...
    let mut slow = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Test', 'slow', 1, 'Happened', '1.0', '{}', '{}')",
    )
    .execute(&mut *slow)
    .await
    .unwrap();
    // ...while a fast one appends. A reader checkpointing "last position seen" would read the
    // fast one's position 2 and skip 1 forever, if 2 could commit first. It cannot: appends
    // commit in log order, so the fast one waits for the slow one.
    let fast = tokio::spawn({
        let log = log.clone();
        async move { log.append(&[event("fast", 1)]).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!fast.is_finished(), "the later append waits its turn");
    assert!(log.read_after(Cursor::START, 10).await.unwrap().is_empty());
    slow.commit().await.unwrap();
    let fast = fast.await.unwrap().unwrap();
    assert_eq!(fast[0].position, 2);
    let events = read_eventually(&log, 2).await;
    let positions: Vec<_> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2], "both, in commit order");
}

/// Posts a message and reads the room at once. The POST waits (up to 5 s) for this node's read
/// model to hold the message, so a tail that stalls shows as a message missing from the room.
async fn a_message_is_seen_at_once(server: &TestServer, room: &str) {
    let client = http();
    let response = client
        .post(format!("{}/api/chat/rooms/{room}/messages", server.url()))
        .json(&json!({"sender": "ada", "content": "while another transaction is open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = client
        .get(format!("{}/api/chat/rooms/{room}/messages", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contents: Vec<&str> = body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        contents,
        vec!["while another transaction is open"],
        "the read model has the message while the other transaction is still open: {body}"
    );
}

#[tokio::test]
async fn a_writing_transaction_in_another_database_does_not_stall_the_tail() {
    let server = TestServer::start().await;
    // Another application on the same cluster, in the middle of a long migration.
    let elsewhere = TestDb::new().await;
    let mut conn = PgConnection::connect(&elsewhere.url).await.unwrap();
    let mut open = conn.begin().await.unwrap();
    sqlx::query("CREATE TABLE t (x int)")
        .execute(&mut *open)
        .await
        .unwrap();
    a_message_is_seen_at_once(&server, "elsewhere").await;
    open.rollback().await.unwrap();
}

#[tokio::test]
async fn a_writing_transaction_on_another_table_does_not_stall_the_tail() {
    let server = TestServer::start().await;
    // A batch job writing to a table of its own in Cinder's database.
    let mut conn = PgConnection::connect(&server.db.url).await.unwrap();
    sqlx::query("CREATE TABLE jobs (x int)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut open = conn.begin().await.unwrap();
    sqlx::query("INSERT INTO jobs VALUES (1)")
        .execute(&mut *open)
        .await
        .unwrap();
    a_message_is_seen_at_once(&server, "jobs").await;
    open.rollback().await.unwrap();
}

#[tokio::test]
async fn events_written_after_other_changes_in_one_transaction_are_refused() {
    let db = TestDb::new().await;
    let log = db.log().await;
    let pool = pool(&log);
    sqlx::query("CREATE TABLE other (x int)")
        .execute(&pool)
        .await
        .unwrap();
    // Its transaction id predates the log lock, so it could commit behind a reader's cursor.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO other VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let refused = sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Test', 'late', 1, 'Happened', '1.0', '{}', '{}')",
    )
    .execute(&mut *tx)
    .await;
    let error = refused.expect_err("refused").to_string();
    assert!(
        error.contains("events must be the first thing a transaction writes"),
        "{error}"
    );
    tx.rollback().await.unwrap();
    // Events first, then anything else, is fine; so are several statements of events.
    let mut tx = pool.begin().await.unwrap();
    for sequence in 1..=2 {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('Test', 'first', $1, 'Happened', '1.0', '{}', '{}')",
        )
        .bind(sequence)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO other VALUES (2)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read_eventually(&log, 2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interleaved_slow_and_fast_writers_lose_nothing_in_the_tail() {
    let db = TestDb::new().await;
    let log = db.log().await;
    let pool = pool(&log);
    let dir = TempDir::new();
    let sled = sled::open(dir.0.join("sled")).unwrap();
    let counting = Counting::open(&sled, 1);
    let runner = ProjectionRunner::new(
        &sled,
        log.clone(),
        PubSub::default(),
        vec![counting.clone() as Arc<dyn Projection>],
    )
    .unwrap();
    let progress = runner.progress();
    let _listener = log.spawn_listener();
    tokio::spawn(runner.run());

    let mut writers = Vec::new();
    for writer in 0..16 {
        let log = log.clone();
        let pool = pool.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..10i64 {
                let id = format!("w{writer}");
                if (writer + round) % 3 == 0 {
                    // Slow: insert, hold the transaction open, then commit.
                    let mut tx = pool.begin().await.unwrap();
                    sqlx::query(
                        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                         VALUES ('Test', $1, $2, 'Happened', '1.0', '{}', '{}')",
                    )
                    .bind(&id)
                    .bind(round + 1)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                    tokio::time::sleep(Duration::from_millis(5 + (writer as u64 * 7 + round as u64 * 13) % 40)).await;
                    tx.commit().await.unwrap();
                } else {
                    log.append(&[event(&id, round + 1)]).await.unwrap();
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let all: Vec<i64> = sqlx::query_scalar("SELECT position FROM events ORDER BY position")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(all.len(), 160);
    let last: (String, i64) = sqlx::query_as(
        "SELECT tx_id::text, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let last = Cursor {
        tx: last.0.parse().unwrap(),
        position: last.1,
    };
    assert!(
        progress.wait_for(last, Duration::from_secs(20)).await,
        "the tail reached the end"
    );
    let counts = counting.counts();
    let seen: Vec<i64> = counts.iter().map(|(p, _)| *p).collect();
    assert_eq!(seen, all, "every committed event was projected");
    assert!(counts.iter().all(|(_, n)| *n == 1), "and none twice");
}

on_both_stores!(
    concurrent_appenders_lose_nothing_in_the_tail,
    flavor = "multi_thread",
    worker_threads = 4
);
async fn concurrent_appenders_lose_nothing_in_the_tail(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.log.clone();
    let dir = TempDir::new();
    let sled = sled::open(dir.0.join("sled")).unwrap();
    let counting = Counting::open(&sled, 1);
    let runner = ProjectionRunner::new(
        &sled,
        log.clone(),
        PubSub::default(),
        vec![counting.clone() as Arc<dyn Projection>],
    )
    .unwrap();
    let progress = runner.progress();
    let _listener = log.spawn_listener();
    tokio::spawn(runner.run());

    let mut writers = Vec::new();
    for writer in 0..16 {
        let log = log.clone();
        writers.push(tokio::spawn(async move {
            let mut cursors = Vec::new();
            for round in 0..10i64 {
                let id = format!("w{writer}");
                let events: Vec<_> = (0..1 + round % 3)
                    .map(|n| event(&id, round * 3 + n + 1))
                    .collect();
                cursors.extend(log.append(events.as_slice()).await.unwrap());
            }
            cursors
        }));
    }
    let mut cursors = Vec::new();
    for writer in writers {
        cursors.extend(writer.await.unwrap());
    }
    cursors.sort();
    let mut positions: Vec<i64> = cursors.iter().map(|c| c.position).collect();
    positions.sort();
    assert_eq!(
        positions,
        (1..=positions.len() as i64).collect::<Vec<_>>(),
        "positions are dense and unique"
    );
    let last = *cursors.last().unwrap();
    assert!(
        progress.wait_for(last, Duration::from_secs(20)).await,
        "the tail reached the end"
    );
    let counts = counting.counts();
    let seen: Vec<i64> = counts.iter().map(|(p, _)| *p).collect();
    assert_eq!(seen, positions, "every committed event was projected");
    assert!(counts.iter().all(|(_, n)| *n == 1), "and none twice");
}

#[tokio::test]
async fn the_embedded_store_keeps_its_events_across_a_restart() {
    let dir = TempDir::new();
    let path = dir.0.join("events");
    let written = {
        let log = EventLog::Embedded(EmbeddedEventLog::open(&path).unwrap());
        log.append(&[event("a", 1), event("a", 2)]).await.unwrap();
        log.append(&[event("b", 1)]).await.unwrap();
        log.read_after(Cursor::START, 100).await.unwrap()
    };
    assert_eq!(written.len(), 3);

    let log = EventLog::Embedded(EmbeddedEventLog::open(&path).unwrap());
    let read = log.read_after(Cursor::START, 100).await.unwrap();
    assert_eq!(read, written, "the same events, cursors and times");
    let conflict = log.append(&[event("a", 2)]).await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict)),
        "taken sequences stay taken: {conflict:?}"
    );
    let next = log.append(&[event("a", 3)]).await.unwrap();
    assert_eq!(next[0].position, 4, "positions go on where they stopped");
    assert!(next[0] > written[2].cursor(), "and after every old cursor");
    let after = log.read_after(written[2].cursor(), 100).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].cursor(), next[0]);
}
