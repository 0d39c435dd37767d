//! Group commit on both stores: concurrent commands share transactions, and a conflict (or a
//! bad append) in a batch fails only its own command.

use std::sync::Arc;
use std::time::Duration;

use cinder::store::{EventLog, StoreError};
use cinder_domain::chat::{RoomCommand, SendMessage};
use cinder_domain::Clock;
use cinder_domain::Cursor;

use crate::projections::event;
use crate::support::{on_both_stores, Backend, TestDb, TestStore};

fn send(room: &str, n: usize) -> RoomCommand {
    RoomCommand::SendMessage(SendMessage {
        room: room.into(),
        sender: format!("sender-{n}"),
        content: format!("message {n}"),
    })
}

on_both_stores!(
    concurrent_commands_share_transactions,
    flavor = "multi_thread",
    worker_threads = 4
);
async fn concurrent_commands_share_transactions(backend: Backend) {
    let store = TestStore::new(backend).await;
    let bus = Arc::new(cinder::web::command_bus(store.log.clone(), Clock::system()));
    let before = store.log.batches();
    let commands = 200;
    let start = Arc::new(tokio::sync::Barrier::new(commands));
    let mut tasks = Vec::new();
    for n in 0..commands {
        let (bus, start) = (bus.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let room = format!("room-{}", n % 50);
            bus.execute::<cinder_domain::chat::Room>(&room, send(&room, n))
                .await
        }));
    }
    let mut positions = Vec::new();
    for task in tasks {
        let committed = task.await.unwrap().expect("every command commits");
        positions.extend(committed.cursors.iter().map(|c| c.position));
    }
    positions.sort();
    positions.dedup();
    assert_eq!(positions.len(), commands, "each its own event");
    let batches = store.log.batches() - before;
    assert!(
        batches < commands as u64 / 2,
        "{commands} concurrent commands took {batches} transactions"
    );
    let stored = store.log.read_after(Cursor::START, 1000).await.unwrap();
    assert_eq!(stored.len(), commands, "and all of them are in the log");
}

on_both_stores!(
    a_conflict_in_a_batch_fails_only_its_own_append,
    flavor = "multi_thread",
    worker_threads = 4
);
async fn a_conflict_in_a_batch_fails_only_its_own_append(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.log.clone();
    log.append(&[event("taken", 1)]).await.unwrap();
    let before = log.batches();
    let appends = 40;
    let mut tasks = Vec::new();
    for n in 0..appends {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            // Every tenth append takes a sequence that is already taken, the others are new.
            let events = if n % 10 == 3 {
                vec![event("taken", 2), event("taken", 1)]
            } else {
                vec![
                    event(&format!("free-{n}"), 1),
                    event(&format!("free-{n}"), 2),
                ]
            };
            (n, log.append(events).await)
        }));
    }
    for task in tasks {
        let (n, result) = task.await.unwrap();
        if n % 10 == 3 {
            assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        } else {
            assert_eq!(result.expect("a free append commits").len(), 2);
        }
    }
    assert!(
        log.batches() - before < appends as u64,
        "batches were formed"
    );
    let stored = read_all(&log).await;
    let taken: Vec<i64> = stored
        .iter()
        .filter(|e| e.aggregate_id == "taken")
        .map(|e| e.sequence)
        .collect();
    assert_eq!(taken, vec![1], "nothing of a refused append was written");
    assert_eq!(stored.len(), 1 + 2 * 36);
}

/// On Postgres a batch can be held back deterministically: a transaction that holds the log
/// lock keeps the first batch waiting, and every append made meanwhile joins the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_made_while_one_is_written_share_the_next_transaction() {
    let db = TestDb::new().await;
    let log = db.log().await;
    let EventLog::Postgres(pg) = &log else {
        unreachable!()
    };
    log.append(&[event("taken", 1)]).await.unwrap();
    let before = log.batches();
    let mut holder = pg.pool().begin().await.unwrap();
    sqlx::query("SELECT cinder_lock_log()")
        .execute(&mut *holder)
        .await
        .unwrap();
    let first = tokio::spawn({
        let log = log.clone();
        async move { log.append(&[event("first", 1)]).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut tasks = Vec::new();
    for n in 0..30 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let events = match n {
                // A conflict, and text Postgres refuses (a NUL byte): each fails alone.
                7 => vec![event("taken", 1)],
                11 => vec![event("bad\0id", 1)],
                _ => vec![event(&format!("free-{n}"), 1)],
            };
            (n, log.append(events).await)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!first.is_finished(), "the first batch waits for the lock");
    holder.commit().await.unwrap();
    first.await.unwrap().expect("the first append commits");
    for task in tasks {
        let (n, result) = task.await.unwrap();
        match n {
            7 => assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}"),
            11 => assert!(matches!(result, Err(StoreError::Other(_))), "{result:?}"),
            _ => assert_eq!(result.expect("a free append commits").len(), 1),
        }
    }
    // The first batch, then one for the other 30 (which, refused for the bad one's text, went
    // again one append at a time).
    assert_eq!(log.batches() - before, 2);
    let stored = read_all(&log).await;
    assert_eq!(stored.len(), 1 + 1 + 28, "every good append, once");
}

async fn read_all(log: &EventLog) -> Vec<cinder_domain::StoredEvent> {
    log.read_after(Cursor::START, 10_000).await.unwrap()
}
