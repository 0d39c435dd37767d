//! The projection runner: exactly once, across restarts and version changes.

use std::sync::Arc;
use std::time::Duration;

use cinder::projections::ProjectionRunner;
use cinder::pubsub::PubSub;
use cinder::store::{EventLog, NewEvent};
use cinder_read_models::{Change, Projection, StoredEvent, TxResult};
use sled::transaction::TransactionalTree;

use crate::support::{TempDir, TestDb};

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
        log.append(&events).await.unwrap();
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

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint_without_reapplying() {
    let pg = TestDb::new().await;
    let log = pg.log().await;
    let dir = TempDir::new();
    append_many(&log, "a", 1, 1200).await;
    {
        let db = sled::open(dir.0.join("sled")).unwrap();
        let counting = Counting::open(&db, 1);
        let mut runner = runner(&db, &log, counting.clone());
        assert_eq!(runner.catch_up().await.unwrap(), 1200);
        assert_eq!(counting.counts().len(), 1200);
        db.flush().unwrap();
    }
    append_many(&log, "a", 1201, 30).await;
    let db = sled::open(dir.0.join("sled")).unwrap();
    let counting = Counting::open(&db, 1);
    let mut runner = runner(&db, &log, counting.clone());
    assert_eq!(
        runner.catch_up().await.unwrap(),
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

#[tokio::test]
async fn a_changed_version_rebuilds_from_the_start() {
    let pg = TestDb::new().await;
    let log = pg.log().await;
    let dir = TempDir::new();
    append_many(&log, "a", 1, 10).await;
    let db = sled::open(dir.0.join("sled")).unwrap();
    let mut first = runner(&db, &log, Counting::open(&db, 1));
    first.catch_up().await.unwrap();
    drop(first);
    let counting = Counting::open(&db, 2);
    let mut second = runner(&db, &log, counting.clone());
    assert_eq!(
        second.catch_up().await.unwrap(),
        10,
        "the whole log is read again"
    );
    assert!(
        counting.counts().iter().all(|(_, n)| *n == 1),
        "old data was wiped first"
    );
    assert_eq!(second.progress().current().position, 10);
}

#[tokio::test]
async fn the_runner_wakes_on_notify_from_another_writer() {
    let pg = TestDb::new().await;
    let log = pg.log().await;
    let dir = TempDir::new();
    let db = sled::open(dir.0.join("sled")).unwrap();
    let counting = Counting::open(&db, 1);
    let runner = runner(&db, &log, counting.clone());
    let progress = runner.progress();
    let _listener = log.spawn_listener();
    tokio::spawn(runner.run());
    // Another node: a separate pool on the same database.
    let other = pg.log().await;
    let cursors = other.append(&[event("b", 1)]).await.unwrap();
    assert!(progress.wait_for(cursors[0], Duration::from_secs(10)).await);
    assert_eq!(counting.counts(), vec![(cursors[0].position, 1)]);
}
