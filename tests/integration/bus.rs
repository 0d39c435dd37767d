//! The command bus against both stores: concurrency, conflicts between nodes (or, embedded,
//! between two caches on one store), and a cost per command that does not grow with history.

use cinder::bus::CommandError;
use cinder::store::NewEvent;
use cinder_domain::chat::{ChatError, MessageSent, Room, RoomCommand, RoomEvent, SendMessage};
use cinder_domain::Clock;
use serde_json::{json, Value};

use crate::support::{http, on_both_stores, Backend, TestServer, TestStore};

fn send(room: &str, sender: &str, content: &str) -> RoomCommand {
    RoomCommand::SendMessage(SendMessage {
        room: room.into(),
        sender: sender.into(),
        content: content.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_senders_all_succeed_in_commit_order() {
    let server = TestServer::start().await;
    let client = http();
    let mut senders = Vec::new();
    for n in 0..50 {
        let client = client.clone();
        let url = format!("{}/api/chat/rooms/busy/messages", server.url());
        senders.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"sender": format!("sender-{n}"), "content": format!("message {n}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for sender in senders {
        ids.push(sender.await.unwrap()["id"].as_u64().unwrap());
    }
    ids.sort();
    assert_eq!(
        ids,
        (1..=50).collect::<Vec<_>>(),
        "every sender got its own id"
    );

    let body: Value = client
        .get(format!(
            "{}/api/chat/rooms/busy/messages?limit=500",
            server.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let projected: Vec<(u64, String)> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().unwrap(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // The log's commit order, straight from Postgres.
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let logged: Vec<Value> =
        sqlx::query_scalar("SELECT payload::jsonb FROM events ORDER BY position")
            .fetch_all(&pool)
            .await
            .unwrap();
    let logged: Vec<(u64, String)> = logged
        .iter()
        .map(|p| {
            let sent = &p["MessageSent"];
            (
                sent["id"].as_u64().unwrap(),
                sent["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(projected.len(), 50);
    assert_eq!(
        projected, logged,
        "the projection holds exactly the log, in commit order"
    );
}

on_both_stores!(
    conflicts_between_nodes_are_retried_until_every_command_lands,
    flavor = "multi_thread",
    worker_threads = 4
);
async fn conflicts_between_nodes_are_retried_until_every_command_lands(backend: Backend) {
    let store = TestStore::new(backend).await;
    // Two nodes: separate caches (and, on Postgres, separate pools), one room.
    let a = std::sync::Arc::new(cinder::web::command_bus(store.log.clone(), Clock::system()));
    let b = std::sync::Arc::new(cinder::web::command_bus(
        store.other_node().await,
        Clock::system(),
    ));
    let mut tasks = Vec::new();
    for n in 0..40 {
        let bus = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            bus.execute::<cinder_domain::chat::Room>(
                "contested",
                send("contested", &format!("s{n}"), "hi"),
            )
            .await
        }));
    }
    for task in tasks {
        let committed = task.await.unwrap().expect("no user sees a conflict");
        assert_eq!(committed.cursors.len(), 1);
    }
    let history = store.log.load::<Room>("contested", 0).await.unwrap();
    let sequences: Vec<usize> = history.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=40).collect::<Vec<_>>());
}

on_both_stores!(refusals_are_domain_errors);
async fn refusals_are_domain_errors(backend: Backend) {
    let store = TestStore::new(backend).await;
    let bus = cinder::web::command_bus(store.log.clone(), Clock::system());
    let refused = bus
        .execute::<cinder_domain::chat::Room>("lobby", send("lobby", "ada", "   "))
        .await;
    assert!(matches!(
        refused,
        Err(CommandError::Rejected(ChatError::EmptyContent))
    ));
    bus.execute::<cinder_domain::chat::Room>("lobby", send("lobby", "ada", "hello"))
        .await
        .unwrap();
    let duplicate = bus
        .execute::<cinder_domain::chat::Room>("lobby", send("lobby", "ada", "hello"))
        .await;
    assert!(matches!(
        duplicate,
        Err(CommandError::Rejected(ChatError::Duplicate))
    ));
}

on_both_stores!(a_command_does_not_reread_a_long_history);
async fn a_command_does_not_reread_a_long_history(backend: Backend) {
    let store = TestStore::new(backend).await;
    let log = store.log.clone();
    let past: Vec<NewEvent> = (1..=10_000u64)
        .map(|id| {
            let sent = RoomEvent::MessageSent(MessageSent {
                id,
                room: "old".into(),
                sender: format!("s{}", id % 7),
                content: format!("message {id}"),
                mentions: Vec::new(),
                sent_at: chrono::Utc::now() - chrono::Duration::days(1),
            });
            NewEvent {
                aggregate_type: "Room".into(),
                aggregate_id: "old".into(),
                sequence: id as i64,
                event_type: "MessageSent".into(),
                event_version: "1.0".into(),
                payload: serde_json::to_value(&sent).unwrap(),
                metadata: json!({}),
            }
        })
        .collect();
    for chunk in past.chunks(2000) {
        log.append(chunk).await.unwrap();
    }
    let bus = cinder::web::command_bus(log.clone(), Clock::system());
    bus.execute::<cinder_domain::chat::Room>("old", send("old", "ada", "first"))
        .await
        .unwrap();
    assert_eq!(
        log.events_loaded(),
        10_000,
        "a cold cache reads the history once"
    );

    let other_node = cinder::web::command_bus(store.other_node().await, Clock::system());
    for n in 0..20 {
        let committed = bus
            .execute::<cinder_domain::chat::Room>("old", send("old", &format!("ada{n}"), "hi"))
            .await
            .unwrap();
        let RoomEvent::MessageSent(sent) = &committed.events[0];
        assert_eq!(sent.id, 10_002 + n);
    }
    assert_eq!(
        log.events_loaded(),
        10_000,
        "warm commands read nothing more"
    );

    other_node
        .execute::<cinder_domain::chat::Room>("old", send("old", "bob", "from elsewhere"))
        .await
        .unwrap();
    // The embedded store's handles share one counter; count only what `bus` loads from here.
    let before = log.events_loaded();
    bus.execute::<cinder_domain::chat::Room>("old", send("old", "ada", "after"))
        .await
        .unwrap();
    assert_eq!(
        log.events_loaded() - before,
        1,
        "only the other node's one new event is read"
    );
}

on_both_stores!(a_node_with_stale_state_decides_on_the_latest);
/// A node runs commands against its cached aggregate without asking the store for newer events;
/// when another node changed the aggregate meanwhile, the decision must still be the one the
/// latest state gives: what the stale copy would accept is refused, and what it would refuse
/// is accepted.
async fn a_node_with_stale_state_decides_on_the_latest(backend: Backend) {
    use cinder_domain::drops::{CreateProduct, NewItem, ProductCommand};
    let store = TestStore::new(backend).await;
    let a = cinder::web::command_bus(store.log.clone(), Clock::system());
    let b = cinder::web::command_bus(store.other_node().await, Clock::system());

    // Both nodes know the room; then A takes "bob: hi", which B's copy has not seen.
    b.execute::<cinder_domain::chat::Room>("shared", send("shared", "ada", "hello"))
        .await
        .unwrap();
    a.execute::<cinder_domain::chat::Room>("shared", send("shared", "bob", "hi"))
        .await
        .unwrap();
    let duplicate = b
        .execute::<cinder_domain::chat::Room>("shared", send("shared", "bob", "hi"))
        .await;
    assert!(
        matches!(duplicate, Err(CommandError::Rejected(ChatError::Duplicate))),
        "{duplicate:?}"
    );
    let history = store.log.load::<Room>("shared", 0).await.unwrap();
    assert_eq!(history.len(), 2, "the duplicate was not stored");

    // B knows the product unreleased; A releases it; B sells.
    b.execute::<cinder_domain::drops::Product>(
        "shoe",
        ProductCommand::CreateProduct(CreateProduct {
            sku: "shoe".into(),
            name: "Shoe".into(),
            brand: "Brand".into(),
            color: "red".into(),
            price_usd: 100,
            image_url: "https://example.com/shoe.png".into(),
            order: 1,
            items: vec![NewItem {
                sku: "shoe-8".into(),
                size: "8".into(),
                available: 1,
            }],
        }),
    )
    .await
    .unwrap();
    a.execute::<cinder_domain::drops::Product>("shoe", ProductCommand::ReleaseProduct)
        .await
        .unwrap();
    let sold = b
        .execute::<cinder_domain::drops::Product>(
            "shoe",
            ProductCommand::SellItem {
                item_id: "shoe-8".into(),
                purchase_id: None,
            },
        )
        .await;
    assert!(
        sold.is_ok(),
        "released on another node, so it sells: {sold:?}"
    );
}
