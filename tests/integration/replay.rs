//! Rebuilding read models from the log: `cinder replay`, and start-up with missing data.

use cinder::read_models::ReadModels;
use cinder::replay::{replay, ReplayError};
use cinder::server::Server;
use serde_json::{json, Value};

use crate::support::{config, http, TestServer};

pub type Dump = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)>;

/// Every tree of the read models' sled database, byte for byte.
pub fn dump(dir: &std::path::Path) -> Dump {
    let models = ReadModels::open(&dir.join("read_models"), cinder::web::APPS).unwrap();
    let mut names: Vec<_> = models.db.tree_names();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let tree = models.db.open_tree(&name).unwrap();
            let entries = tree
                .iter()
                .map(|e| e.unwrap())
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            (String::from_utf8_lossy(&name).into_owned(), entries)
        })
        .collect()
}

async fn fill(server: &TestServer) {
    for n in 0..30 {
        let response = http()
            .post(format!(
                "{}/api/chat/rooms/room-{}/messages",
                server.url(),
                n % 3
            ))
            .json(
                &json!({"sender": format!("s{n}"), "content": format!("message {n} @s{}", n + 1)}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    for n in 0..5 {
        let response = http()
            .post(format!("{}/api/bookmarks", server.url()))
            .json(&json!({"bookmark": {"title": format!("b{n}"), "url": "https://e.com", "public": n % 2 == 0, "tags": "a, b"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let id = response.json::<Value>().await.unwrap()["bookmark"]["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let comment = http()
            .post(format!("{}/api/bookmarks/{id}/comments", server.url()))
            .json(&json!({"author": "c", "content": "nice"}))
            .send()
            .await
            .unwrap();
        assert_eq!(comment.status(), if n % 2 == 0 { 201 } else { 404 });
    }
}

/// Events `fill` appends: 30 messages, 5 bookmarks, 3 comments (private ones refuse strangers).
const FILLED: usize = 38;

#[tokio::test]
async fn replay_rebuilds_exactly_what_the_live_projection_built() {
    let server = TestServer::start().await;
    fill(&server).await;
    let TestServer {
        server,
        db,
        _dir: dir,
    } = server;
    server.stop().await;
    let live = dump(&dir.0);
    // 30 messages in 3 rooms, ids 1–10 each: one chunk of messages a room.
    assert!(live
        .iter()
        .any(|(name, entries)| name == "chat.messages" && entries.len() == 3));

    let report = replay(&config(&db, &dir), None, false).await.unwrap();
    assert_eq!(report.events, FILLED);
    assert_eq!(report.projections, cinder::web::projection_names());
    assert_eq!(
        dump(&dir.0),
        live,
        "the rebuilt sled contents equal the live ones"
    );

    let only = replay(&config(&db, &dir), Some("bookmarks"), false)
        .await
        .unwrap();
    assert_eq!(
        only.events, FILLED,
        "the whole log is read for one projection"
    );
    assert_eq!(dump(&dir.0), live);
    let unknown = replay(&config(&db, &dir), Some("nope"), false).await;
    assert!(matches!(
        unknown,
        Err(ReplayError::UnknownProjection { .. })
    ));
}

#[tokio::test]
async fn a_deleted_data_dir_loses_nothing() {
    let server = TestServer::start().await;
    fill(&server).await;
    let TestServer {
        server,
        db,
        _dir: dir,
    } = server;
    server.stop().await;
    let before = dump(&dir.0);
    std::fs::remove_dir_all(dir.0.join("read_models")).unwrap();

    let restarted = Server::start(config(&db, &dir)).await.unwrap();
    let body: Value = http()
        .get(format!(
            "{}/api/chat/rooms/room-1/messages?limit=500",
            restarted.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["messages"].as_array().unwrap().len(), 10);
    restarted.stop().await;
    assert_eq!(dump(&dir.0), before, "rebuilt at start-up, identical");
}

#[tokio::test]
async fn unreadable_read_models_are_set_aside_and_rebuilt() {
    let server = TestServer::start().await;
    fill(&server).await;
    let TestServer {
        server,
        db,
        _dir: dir,
    } = server;
    server.stop().await;
    let before = dump(&dir.0);
    // Scribble over sled's files.
    for entry in std::fs::read_dir(dir.0.join("read_models")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::write(&path, b"this is not a sled database").unwrap();
        }
    }
    let restarted = Server::start(config(&db, &dir)).await.unwrap();
    restarted.stop().await;
    assert_eq!(dump(&dir.0), before);
}
