//! A strict Phoenix Channels client, as some third-party clients are: it accepts a push only
//! if it carries the join_ref of the client's current join of that topic (the JS client also
//! accepts `null`; this one does not), so a push sent under no join or an older one is lost.
//! Every push path must reach it: channel pushes, presence, live view patches, `events:all`
//! (history streamed after the join and live events), and pushes after a second join.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

/// A client that keeps the join_ref of each topic it joined and drops pushes under any other.
struct StrictClient {
    client: Client,
    joins: HashMap<String, String>,
    /// Pushes dropped for a join_ref that was not the topic's current join's.
    dropped: Vec<Value>,
}

impl StrictClient {
    async fn connect(server: &TestServer) -> StrictClient {
        StrictClient {
            client: Client::connect(&server.ws_url()).await,
            joins: HashMap::new(),
            dropped: Vec::new(),
        }
    }

    /// Joins `topic`; returns the join reply.
    async fn join(&mut self, topic: &str, payload: Value) -> Value {
        let (join_ref, reply) = self.client.join(topic, payload).await;
        assert_eq!(reply["status"], "ok", "join {topic}: {reply}");
        self.joins.insert(topic.to_owned(), join_ref);
        reply
    }

    /// Pushes `event` on a joined topic under its join_ref; returns the ref.
    async fn push(&mut self, topic: &str, event: &str, payload: Value) -> String {
        let join_ref = self.joins.get(topic).cloned();
        self.client
            .send(join_ref.as_deref(), topic, event, payload)
            .await
    }

    /// The next push this client accepts (replies are skipped), `[topic, event, payload]`.
    async fn next_push(&mut self) -> (String, String, Value) {
        loop {
            let frame = self.client.next().await;
            if frame[3] == "phx_reply" {
                continue;
            }
            let topic = frame[2].as_str().unwrap_or_default().to_owned();
            let current = self.joins.get(&topic).map(String::as_str);
            if frame[0].as_str().is_none() || frame[0].as_str() != current {
                self.dropped.push(frame);
                continue;
            }
            assert!(frame[1].is_null(), "a push has no ref: {frame}");
            let event = frame[3].as_str().unwrap_or_default().to_owned();
            return (topic, event, frame[4].clone());
        }
    }

    /// The next accepted push of `event`, asserting nothing was dropped on the way.
    async fn expect(&mut self, event: &str) -> Value {
        loop {
            let (_, got, payload) = self.next_push().await;
            assert!(
                self.dropped.is_empty(),
                "pushes dropped for a foreign join_ref: {:?}",
                self.dropped
            );
            if got == event {
                return payload;
            }
        }
    }
}

#[tokio::test]
async fn chat_pushes_and_presence_carry_the_join_ref() {
    let server = TestServer::start().await;
    let topic = "chat:strict";
    let mut ada = StrictClient::connect(&server).await;
    ada.join(topic, json!({"name": "ada"})).await;
    let state = ada.expect("presence_state").await;
    assert!(state.get("ada").is_some(), "ada is present: {state}");

    let mut bob = StrictClient::connect(&server).await;
    bob.join(topic, json!({"name": "bob"})).await;
    bob.expect("presence_state").await;
    let diff = ada.expect("presence_diff").await;
    assert!(diff["joins"].get("bob").is_some(), "bob joined: {diff}");

    bob.push(
        topic,
        "send_message",
        json!({"sender": "bob", "content": "strict"}),
    )
    .await;
    assert_eq!(ada.expect("message_sent").await["content"], "strict");
    assert_eq!(bob.expect("message_sent").await["content"], "strict");

    // A second join of the topic: pushes now carry the new join's ref.
    ada.join(topic, json!({"name": "ada"})).await;
    ada.expect("presence_state").await;
    bob.push(
        topic,
        "send_message",
        json!({"sender": "bob", "content": "again"}),
    )
    .await;
    assert_eq!(ada.expect("message_sent").await["content"], "again");
}

#[tokio::test]
async fn live_view_patches_carry_the_join_ref() {
    let server = TestServer::start().await;
    let (html, _) = page(&server, "/chat/strict-lv", None).await;
    let token = attribute(&html, "data-cinder-token");
    let mut viewer = StrictClient::connect(&server).await;
    viewer
        .join("lv:/chat/strict-lv", json!({"token": token}))
        .await;
    let sent = http()
        .post(format!(
            "{}/api/chat/rooms/strict-lv/messages",
            server.url()
        ))
        .json(&json!({"sender": "eve", "content": "patched"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let patch = viewer.expect("patch").await;
    let html = patch["ops"][0]["html"].as_str().unwrap_or_default();
    assert!(html.contains("patched"), "the new message: {patch}");
}

#[tokio::test]
async fn events_all_history_and_live_events_carry_the_join_ref() {
    let server = TestServer::start().await;
    let post = |content: &'static str| {
        http()
            .post(format!(
                "{}/api/chat/rooms/strict-log/messages",
                server.url()
            ))
            .json(&json!({"sender": "log", "content": content}))
            .send()
    };
    assert_eq!(post("before").await.unwrap().status(), 201);
    let mut follower = StrictClient::connect(&server).await;
    follower.join("events:all", json!({"after": 0})).await;
    // History, streamed after the join reply.
    let first = follower.expect("event").await;
    assert_eq!(first["position"], 1);
    // And live.
    assert_eq!(post("after").await.unwrap().status(), 201);
    loop {
        let event = follower.expect("event").await;
        if event["payload"].to_string().contains("after") {
            break;
        }
    }
}
