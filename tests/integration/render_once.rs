//! Render-once fan-out: a change pushed alike to many channels (and live views of one kind) is
//! rendered and encoded once, whatever serializer each client speaks; each client's frame
//! differs only in its own join_ref. Counted by `cinder_push_renders_total` beside
//! `cinder_pushes_total`.

use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

/// `name`'s value in a scrape of `/metrics`.
async fn metric(server: &TestServer, name: &str) -> f64 {
    let text = http()
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("a scrape");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

#[tokio::test]
async fn a_message_to_many_is_rendered_once_per_kind() {
    let server = TestServer::start().await;
    let topic = "chat:once";
    // Channels over both serializers, and live views of the room's page.
    let mut channels = Vec::new();
    for n in 0..12 {
        let vsn = if n % 2 == 0 { "2.0.0" } else { "1.0.0" };
        let url = format!("ws://{}/socket/websocket?vsn={vsn}", server.server.addr);
        let mut client = Client::connect(&url).await;
        let join_ref = format!("j{n}");
        let join = if vsn == "2.0.0" {
            json!([join_ref, join_ref, topic, "phx_join", {}])
        } else {
            json!({"topic": topic, "event": "phx_join", "payload": {}, "ref": join_ref, "join_ref": join_ref})
        };
        client.send_text(join.to_string()).await;
        // The presence state follows every join: the channel is live once it came.
        client
            .until(|f| f[3] == "presence_state" || f["event"] == "presence_state")
            .await;
        channels.push((client, vsn, join_ref));
    }
    let (html, _) = page(&server, "/chat/once", None).await;
    let token = attribute(&html, "data-cinder-token");
    let mut views = Vec::new();
    for _ in 0..5 {
        let mut client = Client::connect(&server.ws_url()).await;
        let (join_ref, reply) = client.join("lv:/chat/once", json!({"token": token})).await;
        assert_eq!(reply["status"], "ok");
        views.push((client, join_ref));
    }

    let renders = metric(&server, "cinder_push_renders_total").await;
    let pushes = metric(&server, "cinder_pushes_total").await;
    let sent = http()
        .post(format!("{}/api/chat/rooms/once/messages", server.url()))
        .json(&json!({"sender": "ada", "content": "to all of you"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);

    let mut payloads: Vec<Value> = Vec::new();
    for (client, vsn, join_ref) in &mut channels {
        let frame = client
            .until(|f| f[3] == "message_sent" || f["event"] == "message_sent")
            .await;
        let (got_ref, payload) = if *vsn == "2.0.0" {
            (frame[0].clone(), frame[4].clone())
        } else {
            (frame["join_ref"].clone(), frame["payload"].clone())
        };
        assert_eq!(
            got_ref,
            json!(join_ref),
            "each frame carries its own join_ref"
        );
        payloads.push(payload);
    }
    assert!(payloads.iter().all(|p| *p == payloads[0]), "{payloads:?}");
    assert_eq!(payloads[0]["content"], "to all of you");
    let mut patches: Vec<Value> = Vec::new();
    for (client, join_ref) in &mut views {
        let frame = client.until(|f| f[3] == "patch").await;
        assert_eq!(frame[0], json!(join_ref));
        patches.push(frame[4].clone());
    }
    assert!(patches.iter().all(|p| *p == patches[0]), "{patches:?}");

    assert_eq!(
        metric(&server, "cinder_pushes_total").await - pushes,
        17.0,
        "one push to each channel and view"
    );
    assert_eq!(
        metric(&server, "cinder_push_renders_total").await - renders,
        2.0,
        "rendered once for the channels and once for the views"
    );
}
