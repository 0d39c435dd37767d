//! The runner's tests: a rebuild writes what the tail writes, and either can be done for some
//! projections while the others stay where they are.

use std::sync::Arc;

use cinder_read_models::chat::ChatReadModel;
use cinder_read_models::{Change, Projection, StoredEvent, TxResult};
use serde_json::json;
use sled::transaction::TransactionalTree;

use super::registered::REBUILDING;
use super::ProjectionRunner;
use crate::pubsub::PubSub;
use crate::store::{EmbeddedEventLog, EventLog, NewEvent};

/// Counts how often it saw each position, and has no buffered path; refuses the event at one
/// position if told to, as a projection that finds its data corrupt does.
struct Counting {
    name: &'static str,
    seen: sled::Tree,
    refuse: Option<i64>,
}

impl Counting {
    fn new(name: &'static str, seen: sled::Tree) -> Self {
        Self {
            name,
            seen,
            refuse: None,
        }
    }
}

impl Projection for Counting {
    fn name(&self) -> &'static str {
        self.name
    }
    fn version(&self) -> u32 {
        1
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
        if self.refuse == Some(event.position) {
            return Err(sled::transaction::ConflictableTransactionError::Abort(
                cinder_read_models::ProjectionError::Corrupt("refused".into()),
            ));
        }
        let key = event.position.to_be_bytes();
        let seen = trees[0].get(key)?.map_or(0, |v| v[0]);
        trees[0].insert(&key[..], &[seen + 1][..])?;
        Ok(())
    }
}

fn projections(db: &sled::Db) -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(ChatReadModel::open(db).unwrap()),
        Arc::new(Counting::new(
            "counting",
            db.open_tree("counting.seen").unwrap(),
        )),
    ]
}

fn runner(db: &sled::Db, log: &EventLog) -> ProjectionRunner {
    ProjectionRunner::new(db, log.clone(), PubSub::default(), projections(db)).unwrap()
}

/// More events than a rebuild's batch, in a few rooms.
async fn log() -> EventLog {
    let log = EventLog::Embedded(EmbeddedEventLog::temporary().unwrap());
    for room in 0..3 {
        let events: Vec<_> = (1..=4000i64)
            .map(|n| NewEvent {
                aggregate_type: "Room".into(),
                aggregate_id: format!("room-{room}"),
                sequence: n,
                event_type: "MessageSent".into(),
                event_version: "2.0.0".into(),
                payload: json!({"MessageSent": {
                    "id": n, "room": format!("room-{room}"), "sender": "ada",
                    "content": format!("message {n}"), "mentions": [],
                    "sent_at": format!("2026-01-01T00:{:02}:{:02}Z", n / 60 % 60, n % 60),
                }}),
                metadata: json!({}),
            })
            .collect();
        log.append(events.as_slice()).await.unwrap();
    }
    log
}

/// Every tree's name and entries.
type Dump = Vec<(Vec<u8>, Vec<(sled::IVec, sled::IVec)>)>;

fn dump(db: &sled::Db) -> Dump {
    let mut names = db.tree_names();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let tree = db.open_tree(&name).unwrap();
            (name.to_vec(), tree.iter().map(Result::unwrap).collect())
        })
        .collect()
}

fn temporary() -> sled::Db {
    sled::Config::new().temporary(true).open().unwrap()
}

#[tokio::test]
async fn a_rebuild_writes_what_the_tail_writes() {
    let log = log().await;
    let tailed = temporary();
    assert_eq!(runner(&tailed, &log).catch_up().await.unwrap(), 12_000);

    let rebuilt = temporary();
    let mut rebuilding = runner(&rebuilt, &log);
    let mut batches = Vec::new();
    let read = rebuilding
        .rebuild_with(&["chat", "counting"], |n| batches.push(n))
        .await
        .unwrap();
    assert_eq!(read, 12_000);
    assert_eq!(batches.iter().sum::<usize>(), 12_000);
    assert!(
        dump(&rebuilt) == dump(&tailed),
        "the same, checkpoints included"
    );
    assert_eq!(
        rebuilding.progress().current(),
        runner(&tailed, &log).progress().current()
    );
}

#[tokio::test]
async fn rebuilding_one_projection_leaves_the_others_where_they_are() {
    let log = log().await;
    let db = temporary();
    runner(&db, &log).catch_up().await.unwrap();
    let before = dump(&db);
    let mut runner = runner(&db, &log);
    assert_eq!(
        runner.rebuild_with(&["chat"], |_| {}).await.unwrap(),
        12_000
    );
    assert!(dump(&db) == before, "counting saw every event once, still");
}

#[tokio::test]
async fn a_projection_reset_alone_catches_up_alone() {
    let log = log().await;
    let db = temporary();
    runner(&db, &log).catch_up().await.unwrap();
    let before = dump(&db);
    let mut runner = runner(&db, &log);
    assert!(runner.reset("chat").unwrap());
    assert_eq!(runner.catch_up().await.unwrap(), 12_000);
    assert!(
        dump(&db) == before,
        "counting was not taken back nor applied twice"
    );
}

#[tokio::test]
async fn an_interrupted_rebuild_is_done_again_at_start() {
    let log = log().await;
    let db = temporary();
    runner(&db, &log).catch_up().await.unwrap();
    let expected = dump(&db);
    // A rebuild that died half way: marked, some data, a checkpoint at the end.
    let chat = ChatReadModel::open(&db).unwrap();
    let meta = db.open_tree("chat.meta").unwrap();
    meta.insert(REBUILDING, &[][..]).unwrap();
    chat.trees()[0].insert(b"stale", &b"x"[..]).unwrap();

    let mut restarted = runner(&db, &log);
    assert_eq!(restarted.catch_up().await.unwrap(), 12_000, "read again");
    assert!(dump(&db) == expected, "rebuilt from scratch");
}

#[tokio::test]
async fn a_batch_one_projection_refuses_is_applied_to_none() {
    // The tail applies a batch to every projection in one transaction: the projection before
    // the refusing one keeps nothing of it either, and both start again from the same place.
    let log = log().await;
    let db = temporary();
    let counting = db.open_tree("counting.seen").unwrap();
    let refusing = db.open_tree("refusing.seen").unwrap();
    let projections: Vec<Arc<dyn Projection>> = vec![
        Arc::new(Counting::new("counting", counting.clone())),
        Arc::new(Counting {
            refuse: Some(5),
            ..Counting::new("refusing", refusing.clone())
        }),
    ];
    let mut runner = ProjectionRunner::new(&db, log, PubSub::default(), projections).unwrap();
    let error = runner.catch_up().await.expect_err("position 5 is refused");
    assert!(error.to_string().contains("refusing"), "{error}");
    assert!(counting.is_empty() && refusing.is_empty());
    assert_eq!(
        runner.progress().current(),
        cinder_read_models::Cursor::START
    );
}
