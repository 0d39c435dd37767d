//! Serializer 1.0.0 (`vsn=1.0.0`, or no `vsn` at all, as Phoenix assumes): frames are JSON
//! objects `{"topic", "event", "payload", "ref", "join_ref"}`, on the same endpoint, with the
//! same channels, limits, errors and close codes as 2.0.0.

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Client, TestServer, WAIT};

/// A client that speaks 1.0.0, written from the protocol (no Phoenix library).
struct V1Client {
    client: Client,
    next_ref: u64,
}

impl V1Client {
    async fn connect(server: &TestServer, query: &str) -> V1Client {
        let url = format!("ws://{}/socket/websocket{query}", server.server.addr);
        V1Client {
            client: Client::connect(&url).await,
            next_ref: 0,
        }
    }

    /// Sends an object frame; returns its ref.
    async fn send(
        &mut self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> String {
        self.next_ref += 1;
        let msg_ref = self.next_ref.to_string();
        let frame = json!({
            "topic": topic, "event": event, "payload": payload,
            "ref": msg_ref, "join_ref": join_ref,
        });
        self.client.send_text(frame.to_string()).await;
        msg_ref
    }

    /// The next frame, which must be an object with exactly the five fields.
    async fn next(&mut self) -> Value {
        let frame = self.client.next().await;
        let fields = frame
            .as_object()
            .unwrap_or_else(|| panic!("an object: {frame}"));
        let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["event", "join_ref", "payload", "ref", "topic"],
            "{frame}"
        );
        frame
    }

    async fn until(&mut self, event: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["event"] == event {
                return frame;
            }
        }
    }

    async fn reply_to(&mut self, msg_ref: &str) -> Value {
        loop {
            let frame = self.until("phx_reply").await;
            if frame["ref"] == msg_ref {
                return frame;
            }
        }
    }

    /// Joins `topic`; returns (join_ref, reply frame).
    async fn join(&mut self, topic: &str, payload: Value) -> (String, Value) {
        self.next_ref += 1;
        let join_ref = self.next_ref.to_string();
        let frame = json!({
            "topic": topic, "event": "phx_join", "payload": payload,
            "ref": join_ref, "join_ref": join_ref,
        });
        self.client.send_text(frame.to_string()).await;
        let reply = self.reply_to(&join_ref).await;
        (join_ref, reply)
    }
}

#[tokio::test]
async fn a_1_0_0_client_joins_pushes_and_receives() {
    let server = TestServer::start().await;
    let mut ada = V1Client::connect(&server, "?vsn=1.0.0").await;
    let (join_ref, reply) = ada.join("chat:v1", json!({"name": "ada"})).await;
    assert_eq!(
        reply,
        json!({"topic": "chat:v1", "event": "phx_reply", "ref": join_ref, "join_ref": join_ref,
               "payload": {"status": "ok", "response": {"messages": []}}})
    );
    let state = ada.until("presence_state").await;
    assert_eq!(
        state["join_ref"],
        join_ref.as_str(),
        "pushes carry the join_ref"
    );
    assert_eq!(state["ref"], Value::Null);
    assert!(state["payload"].get("ada").is_some(), "{state}");

    // A 2.0.0 client in the same room sees what the 1.0.0 one sends, and the other way round.
    let mut bob = Client::connect(&server.ws_url()).await;
    let (bob_ref, _) = bob.join("chat:v1", json!({})).await;
    let sent = ada
        .send(
            Some(&join_ref),
            "chat:v1",
            "send_message",
            json!({"sender": "ada", "content": "one"}),
        )
        .await;
    let push = ada.until("message_sent").await;
    assert_eq!(push["payload"]["content"], "one");
    assert_eq!(push["join_ref"], join_ref.as_str());
    let reply = ada.reply_to(&sent).await;
    assert_eq!(
        reply["payload"],
        json!({"status": "ok", "response": {"id": push["payload"]["id"]}})
    );
    let seen = bob.until(|f| f[3] == "message_sent").await;
    assert_eq!(seen[4], push["payload"]);
    bob.send(
        Some(&bob_ref),
        "chat:v1",
        "send_message",
        json!({"sender": "bob", "content": "two"}),
    )
    .await;
    assert_eq!(ada.until("message_sent").await["payload"]["content"], "two");

    // Refusals, heartbeats, unmatched topics and leaves as in 2.0.0.
    let empty = ada
        .send(
            Some(&join_ref),
            "chat:v1",
            "send_message",
            json!({"sender": "ada", "content": " "}),
        )
        .await;
    let refused = ada.reply_to(&empty).await;
    assert_eq!(refused["payload"]["status"], "error");
    assert!(
        refused["payload"]["response"]["errors"]["content"].is_array(),
        "{refused}"
    );
    let beat = ada.send(None, "phoenix", "heartbeat", json!({})).await;
    assert_eq!(
        ada.reply_to(&beat).await,
        json!({"topic": "phoenix", "event": "phx_reply", "ref": beat, "join_ref": null,
               "payload": {"status": "ok", "response": {}}})
    );
    let stray = ada
        .send(None, "chat:elsewhere", "send_message", json!({}))
        .await;
    assert_eq!(
        ada.reply_to(&stray).await["payload"],
        json!({"status": "error", "response": {"reason": "unmatched topic"}})
    );
    let leave = ada
        .send(Some(&join_ref), "chat:v1", "phx_leave", json!({}))
        .await;
    assert_eq!(ada.reply_to(&leave).await["payload"]["status"], "ok");
    let close = ada.until("phx_close").await;
    assert_eq!(
        (close["ref"].clone(), close["join_ref"].clone()),
        (json!(join_ref), json!(join_ref))
    );
}

#[tokio::test]
async fn no_vsn_means_1_0_0_and_unknown_versions_are_refused() {
    let server = TestServer::start().await;
    let mut old = V1Client::connect(&server, "").await;
    let (_, reply) = old.join("chat:v1-default", json!({})).await;
    assert_eq!(reply["payload"]["status"], "ok");

    for vsn in ["3.0.0", "2.1.0", "two"] {
        let url = format!("ws://{}/socket/websocket?vsn={vsn}", server.server.addr);
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "vsn={vsn}")
            }
            other => panic!("vsn={vsn} was not refused: {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn malformed_1_0_0_frames_close_with_the_same_codes() {
    let server = TestServer::start().await;
    for bad in [
        "not json",
        r#"["1","1","chat:x","phx_join",{}]"#,
        r#"{"topic":"chat:x","event":"phx_join","payload":{}}"#,
        r#"{"topic":"chat:x","event":"phx_join","payload":[],"ref":"1"}"#,
    ] {
        let mut client = V1Client::connect(&server, "?vsn=1.0.0").await;
        client.client.send_text(bad.into()).await;
        assert_eq!(client.client.closed().await, Some(1007), "{bad}");
    }
    let mut big = V1Client::connect(&server, "?vsn=1.0.0").await;
    let (join_ref, _) = big.join("chat:v1-big", json!({})).await;
    big.send(
        Some(&join_ref),
        "chat:v1-big",
        "send_message",
        json!({"sender": "a", "content": "x".repeat(65 * 1024)}),
    )
    .await;
    assert_eq!(big.client.closed().await, Some(1009));
    let mut binary = V1Client::connect(&server, "?vsn=1.0.0").await;
    binary
        .client
        .ws
        .send(Message::binary(vec![1, 2]))
        .await
        .unwrap();
    assert_eq!(binary.client.closed().await, Some(1003));
}

#[tokio::test]
async fn a_1_0_0_live_view_gets_its_patches() {
    let server = TestServer::start().await;
    let (html, _) = crate::socket::page(&server, "/chat/v1-live", None).await;
    let token = crate::socket::attribute(&html, "data-cinder-token");
    let mut viewer = V1Client::connect(&server, "?vsn=1.0.0").await;
    let (join_ref, reply) = viewer
        .join("lv:/chat/v1-live", json!({"token": token}))
        .await;
    assert_eq!(reply["payload"]["status"], "ok");
    let posted = crate::support::http()
        .post(format!("{}/api/chat/rooms/v1-live/messages", server.url()))
        .json(&json!({"sender": "eve", "content": "over one oh"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    let patch = tokio::time::timeout(WAIT, viewer.until("patch"))
        .await
        .expect("a patch");
    assert_eq!(patch["join_ref"], join_ref.as_str());
    assert!(patch["payload"]["ops"][0]["html"]
        .as_str()
        .unwrap_or_default()
        .contains("over one oh"));
}
