//! The log made visible: the JSON API, the `events:all` feed, "as of" pages and replay.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::{http, Client, TestServer};

async fn post_message(server: &TestServer, room: &str, sender: &str, content: &str) -> Value {
    let response = http()
        .post(format!("{}/api/chat/rooms/{room}/messages", server.url()))
        .json(&json!({"sender": sender, "content": content}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_log_and_each_aggregate_are_served_as_json() {
    let server = TestServer::start().await;
    for n in 0..5 {
        post_message(
            &server,
            if n % 2 == 0 { "even" } else { "odd" },
            &format!("s{n}"),
            &format!("m{n}"),
        )
        .await;
    }
    let (status, all) = server.get_json("/api/events?after=0&limit=100", None).await;
    assert_eq!(status, 200);
    let positions: Vec<i64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, vec![1, 2, 3, 4, 5]);
    let first = &all["events"][0];
    assert_eq!(first["aggregate_type"], "Room");
    assert_eq!(first["aggregate_id"], "even");
    assert_eq!(first["sequence"], 1);
    assert_eq!(first["event_type"], "MessageSent");
    assert_eq!(first["payload"]["MessageSent"]["content"], "m0");
    assert!(first["recorded_at"].is_string());

    let (_, rest) = server.get_json("/api/events?after=3&limit=1", None).await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest["events"][0]["position"], 4);

    let (status, odd) = server
        .get_json("/api/aggregates/Room/odd/events", None)
        .await;
    assert_eq!(status, 200);
    let sequences: Vec<i64> = odd["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, vec![1, 2]);

    assert_eq!(server.get_json("/api/events?after=-1", None).await.0, 400);
    assert_eq!(server.get_json("/api/events?limit=0", None).await.0, 400);
    assert_eq!(server.get_json("/api/events?after=999", None).await.0, 404);
    assert_eq!(
        server
            .get_json("/api/aggregates/Room/nobody/events", None)
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_all_hands_over_from_history_to_live_without_gaps_or_repeats() {
    let server = TestServer::start().await;
    for n in 0..120 {
        post_message(
            &server,
            &format!("room-{}", n % 4),
            &format!("early{n}"),
            "before the join",
        )
        .await;
    }
    // Writers keep appending while the client joins and catches up.
    let url = server.url();
    let writers = tokio::spawn(async move {
        let client = http();
        let mut tasks = Vec::new();
        for w in 0..4 {
            let client = client.clone();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..45 {
                    let response = client
                        .post(format!("{url}/api/chat/rooms/live-{w}/messages"))
                        .json(&json!({"sender": format!("late{n}"), "content": "during the join"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, reply) = client.join("events:all", json!({"after": 0})).await;
    assert_eq!(reply["status"], "ok");
    let total = 120 + 4 * 45;
    let mut received = Vec::new();
    while received.len() < total {
        let frame = client.until(|f| f[3] == "event").await;
        assert_eq!(frame[2], "events:all");
        received.push(frame[4]["position"].as_i64().unwrap());
    }
    writers.await.unwrap();
    let unique: HashSet<_> = received.iter().collect();
    assert_eq!(unique.len(), received.len(), "no event twice");
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let in_log_order: Vec<i64> =
        sqlx::query_scalar("SELECT position FROM events ORDER BY tx_id, position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(received, in_log_order, "every event, in log order");

    // And after that, live: one more message arrives as one more event.
    let sent = post_message(&server, "epilogue", "last", "the end").await;
    let frame = client.until(|f| f[3] == "event").await;
    assert_eq!(frame[4]["position"], sent["position"]);
}

#[tokio::test]
async fn events_all_starts_after_the_given_position() {
    let server = TestServer::start().await;
    for n in 0..6 {
        post_message(&server, "lobby", &format!("s{n}"), "x").await;
    }
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, reply) = client.join("events:all", json!({"after": 4})).await;
    assert_eq!(reply["status"], "ok");
    let first = client.until(|f| f[3] == "event").await;
    assert_eq!(first[4]["position"], 5);
    let second = client.until(|f| f[3] == "event").await;
    assert_eq!(second[4]["position"], 6);
    let (_, bad) = client.join("events:all", json!({"after": "soon"})).await;
    assert_eq!(bad["status"], "error");
}

#[tokio::test]
async fn a_room_as_of_an_event_shows_only_the_messages_up_to_it() {
    let server = TestServer::start().await;
    post_message(&server, "history", "a", "one").await;
    let second = post_message(&server, "history", "b", "two").await;
    post_message(&server, "history", "c", "three").await;
    let page = http()
        .get(format!(
            "{}/events/Room/history/at/{}",
            server.url(),
            second["position"]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(">one<") && html.contains(">two<"), "{html}");
    assert!(!html.contains(">three<"));
    let whole = http()
        .get(format!("{}/events/Room/history", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(whole.matches("as of this event").count(), 3);
    let missing = http()
        .get(format!("{}/events/Room/history/at/999", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn the_tail_page_is_live() {
    let server = TestServer::start().await;
    post_message(&server, "tail", "a", "before").await;
    let (html, _) = crate::socket::page(&server, "/events", None).await;
    assert!(html.contains("event-1"));
    let token = crate::socket::attribute(&html, "data-cinder-token");
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, reply) = client.join("lv:/events", json!({"token": token})).await;
    assert_eq!(reply["status"], "ok");
    post_message(&server, "tail", "b", "after").await;
    let patch = client.until(|f| f[3] == "patch").await;
    assert_eq!(patch[4]["ops"][0]["op"], "prepend");
    assert!(patch[4]["ops"][0]["html"]
        .as_str()
        .unwrap()
        .contains("event-2"));
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::start().await;
    let health = http()
        .get(format!("{}/healthz", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = http()
        .get(format!("{}/readyz", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
}
