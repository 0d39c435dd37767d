//! History stays the truth: old event versions still load, in aggregates and projections.

use std::sync::Arc;

use cinder::projections::ProjectionRunner;
use cinder::pubsub::PubSub;
use cinder::store::NewEvent;
use cinder_domain::chat::{RoomCommand, RoomEvent, SendMessage};
use cinder_domain::Clock;
use cinder_read_models::chat::ChatReadModel;
use cinder_read_models::Projection;
use serde_json::json;

use crate::support::{TempDir, TestDb};

#[tokio::test]
async fn version_1_message_events_still_load_everywhere() {
    let pg = TestDb::new().await;
    let log = pg.log().await;
    // As an early Cinder wrote it: MessageSent 1.0 had no `mentions`.
    log.append(&[NewEvent {
        aggregate_type: "Room".into(),
        aggregate_id: "legacy".into(),
        sequence: 1,
        event_type: "MessageSent".into(),
        event_version: "1.0".into(),
        payload: json!({"MessageSent": {
            "id": 1, "room": "legacy", "sender": "bob",
            "content": "hi @Ada", "sent_at": "2026-01-01T00:00:00Z"
        }}),
        metadata: json!({}),
    }])
    .await
    .unwrap();

    let bus = cinder::web::command_bus(log.clone(), Clock::system());
    let command = RoomCommand::SendMessage(SendMessage {
        room: "legacy".into(),
        sender: "ada".into(),
        content: "hello @bob".into(),
    });
    let committed = bus
        .execute::<cinder_domain::chat::Room>("legacy", command)
        .await
        .unwrap();
    let RoomEvent::MessageSent(sent) = &committed.events[0];
    assert_eq!(sent.id, 2, "the aggregate loaded the old event");

    let dir = TempDir::new();
    let db = sled::open(dir.0.join("sled")).unwrap();
    let chat = ChatReadModel::open(&db).unwrap();
    let mut runner = ProjectionRunner::new(
        &db,
        log.clone(),
        PubSub::default(),
        vec![Arc::new(chat.clone()) as Arc<dyn Projection>],
    )
    .unwrap();
    for _ in 0..100 {
        runner.catch_up().await.unwrap();
        if runner.progress().current() >= committed.last().unwrap() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let messages = chat.messages("legacy", None, 10).unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].mentions, vec!["ada"], "derived by the upcaster");
    assert_eq!(messages[1].mentions, vec!["bob"]);
    // The stored payload itself was never rewritten.
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let version: String = sqlx::query_scalar("SELECT event_version FROM events WHERE position = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, "1.0");
}
