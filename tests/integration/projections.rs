//! The projection runner, over both stores: exactly once, across restarts and version changes.

use std::sync::Arc;
use std::time::Duration;

use cinder::projections::ProjectionRunner;
use cinder::pubsub::PubSub;
use cinder::store::{EventLog, NewEvent};
use cinder_read_models::{Change, Cursor, Projection, StoredEvent, TxResult};
use sled::transaction::TransactionalTree;

use crate::support::{http, on_both_stores, Backend, TempDir, TestServer, TestStore};

/// A projection that counts how often it saw each position: exactly-once made visible.
pub struct Counting {
    seen: sled::Tree,
    version: u32,
}

impl Counting {
    pub fn open(db: &sled::Db, version: u32) -> Arc<Counting> {
        Arc::new(Counting {
            seen: db.open_tree("counting.seen").unwrap(),
            version,
        })
    }

    /// (position, times applied), by position.
    pub fn counts(&self) -> Vec<(i64, u64)> {
        self.seen
            .iter()
            .map(|entry| {
                let (key, value) = entry.unwrap();
                (
                    i64::from_be_bytes(key.as_ref().try_into().unwrap()),
                    u64::from_be_bytes(value.as_ref().try_into().unwrap()),
                )
            })
            .collect()
    }
}

impl Projection for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn trees(&self) -> Vec<sled::Tree> {
        vec![self.seen.clone()]
    }

    fn apply(
        &self,
        trees: &[TransactionalTree],
        event: &StoredEvent,
        _: &mut Vec<Change>,
    ) -> TxResult<()> {
        let key = event.position.to_be_bytes();
        let count = trees[0]
            .get(key)?
            .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap()))
            .unwrap_or(0);
        trees[0].insert(&key[..], &(count + 1).to_be_bytes()[..])?;
        Ok(())
    }
}

pub fn event(aggregate_id: &str, sequence: i64) -> NewEvent {
    NewEvent {
        aggregate_type: "Test".into(),
        aggregate_id: aggregate_id.into(),
        sequence,
        event_type: "Happened".into(),
        event_version: "1.0".into(),
        payload: serde_json::json!({"n": sequence}),
        metadata: serde_json::json!({}),
    }
}

pub async fn append_many(log: &EventLog, aggregate_id: &str, from: i64, count: i64) {
    for chunk_start in (from..from + count).step_by(1000) {
        let end = (chunk_start + 1000).min(from + count);
        let events: Vec<_> = (chunk_start..end).map(|s| event(aggregate_id, s)).collect();
        log.append(events.as_slice()).await.unwrap();
    }
}

fn runner(db: &sled::Db, log: &EventLog, counting: Arc<Counting>) -> ProjectionRunner {
    ProjectionRunner::new(
        db,
        log.clone(),
        PubSub::default(),
        vec![counting as Arc<dyn Projection>],
    )
    .unwrap()
}

/// Catches up until `count` events have been read, and returns how many were. On Postgres a
/// transaction running anywhere on the cluster (another test's CREATE DATABASE, say) holds the
/// gap-safe tail back for a moment.
async fn catch_up_to(runner: &mut ProjectionRunner, count: usize) -> usize {
    let mut total = 0;
    for _ in 0..200 {
        total += runner.catch_up().await.unwrap();
        if total >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    total
}

on_both_stores!(a_restart_resumes_from_the_checkpoint_without_reapplying);
async fn a_restart_resumes_from_the_checkpoint_without_reapplying(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.log.clone();
    let dir = TempDir::new();
    append_many(&log, "a", 1, 1200).await;
    {
        let db = sled::open(dir.0.join("sled")).unwrap();
        let counting = Counting::open(&db, 1);
        let mut runner = runner(&db, &log, counting.clone());
        assert_eq!(catch_up_to(&mut runner, 1200).await, 1200);
        assert_eq!(counting.counts().len(), 1200);
        db.flush().unwrap();
    }
    append_many(&log, "a", 1201, 30).await;
    let db = sled::open(dir.0.join("sled")).unwrap();
    let counting = Counting::open(&db, 1);
    let mut runner = runner(&db, &log, counting.clone());
    assert_eq!(
        catch_up_to(&mut runner, 30).await,
        30,
        "only the new events are read"
    );
    let counts = counting.counts();
    assert_eq!(counts.len(), 1230);
    assert!(
        counts.iter().all(|(_, n)| *n == 1),
        "every event applied exactly once"
    );
}

on_both_stores!(a_changed_version_rebuilds_from_the_start);
async fn a_changed_version_rebuilds_from_the_start(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.log.clone();
    let dir = TempDir::new();
    append_many(&log, "a", 1, 10).await;
    let db = sled::open(dir.0.join("sled")).unwrap();
    let mut first = runner(&db, &log, Counting::open(&db, 1));
    assert_eq!(catch_up_to(&mut first, 10).await, 10);
    drop(first);
    let counting = Counting::open(&db, 2);
    let mut second = runner(&db, &log, counting.clone());
    assert_eq!(
        catch_up_to(&mut second, 10).await,
        10,
        "the whole log is read again"
    );
    assert!(
        counting.counts().iter().all(|(_, n)| *n == 1),
        "old data was wiped first"
    );
    assert_eq!(second.progress().current().position, 10);
}

on_both_stores!(the_runner_wakes_on_notify_from_another_writer);
async fn the_runner_wakes_on_notify_from_another_writer(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.log.clone();
    let dir = TempDir::new();
    let db = sled::open(dir.0.join("sled")).unwrap();
    let counting = Counting::open(&db, 1);
    let runner = runner(&db, &log, counting.clone());
    let progress = runner.progress();
    let _listener = log.spawn_listener();
    tokio::spawn(runner.run());
    // Another node: on Postgres a separate pool on the same database, woken by NOTIFY.
    let other = store.other_node().await;
    let cursors = other.append(&[event("b", 1)]).await.unwrap();
    assert!(progress.wait_for(cursors[0], Duration::from_secs(10)).await);
    assert_eq!(counting.counts(), vec![(cursors[0].position, 1)]);
}

on_both_stores!(a_batch_committed_here_is_applied_from_memory_only_when_it_comes_next);
async fn a_batch_committed_here_is_applied_from_memory_only_when_it_comes_next(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.log.clone();
    let dir = TempDir::new();
    let db = sled::open(dir.0.join("sled")).unwrap();
    let counting = Counting::open(&db, 1);
    let mut runner = runner(&db, &log, counting.clone());
    let mut committed = log.committed();

    // Alone in the log: the batch comes right after the projections' checkpoint.
    let first = log.append(&[event("a", 1)]).await.unwrap();
    let batch = committed.recv().await.unwrap();
    assert_eq!((batch.previous, batch.last()), (Cursor::START, first[0]));
    assert_eq!(
        batch.events,
        log.read_after(Cursor::START, 10).await.unwrap(),
        "the batch is the events as the log holds them"
    );
    assert!(
        runner.apply_committed(batch).unwrap(),
        "applied from memory"
    );
    assert_eq!(runner.progress().current(), first[0]);
    assert_eq!(runner.catch_up().await.unwrap(), 0, "nothing left to read");

    // Another node appends in between (embedded: one process, so it is this log again, and
    // its batch is not taken): this node's next batch does not follow the checkpoint.
    let other = store.other_node().await;
    let between = other.append(&[event("b", 1)]).await.unwrap();
    let next = log.append(&[event("a", 2)]).await.unwrap();
    let batch = loop {
        let batch = committed.recv().await.unwrap();
        if batch.last() == next[0] {
            break batch;
        }
    };
    assert_eq!(batch.previous, between[0]);
    assert!(
        !runner.apply_committed(batch.clone()).unwrap(),
        "not what comes next: the log is read instead"
    );
    assert_eq!(runner.progress().current(), first[0], "nothing applied");
    assert_eq!(catch_up_to(&mut runner, 2).await, 2);
    assert!(
        runner.apply_committed(batch).unwrap(),
        "read already: done with"
    );
    let positions = [first[0], between[0], next[0]].map(|c| (c.position, 1));
    assert_eq!(
        counting.counts(),
        positions,
        "each event once, in log order"
    );
}

#[tokio::test]
async fn a_nodes_tail_applies_its_own_commands_from_memory() {
    let server = TestServer::start().await;
    for n in 0..3 {
        let response = http()
            .post(format!("{}/api/chat/rooms/memory/messages", server.url()))
            .json(&serde_json::json!({"sender": "ada", "content": format!("hello {n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let metrics = http()
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let from_memory = metrics
        .lines()
        .find_map(|line| line.strip_prefix("cinder_tail_batches_total{source=\"memory\"} "))
        .and_then(|value| value.parse::<f64>().ok());
    assert!(
        from_memory.is_some_and(|batches| batches >= 1.0),
        "{metrics}"
    );
}
