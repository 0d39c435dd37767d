//! Byte budgets, against a real `cinder serve` process so that its resident memory is the
//! server's own: a client that asks for big replies and never reads them is dropped once its
//! socket's queued output passes the budget, the server's memory stays within that budget plus a
//! little per socket (and comes back), and no reply is larger than the largest one allowed.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

use crate::processes::Node;
use crate::support::{http, Client, TempDir, TestDb};

/// The defaults: queued output per socket, and the largest reply or push.
const OUTBOX_BYTES: u64 = 1024 * 1024;
const MAX_REPLY_BYTES: usize = 512 * 1024;
/// Sockets that attack at once in each test.
const ATTACKERS: usize = 3;
/// What the server may use beyond the attackers' budgets: what one request being handled holds
/// (a page of up to `MAX_REPLY_BYTES` rendered, encoded and framed), the allocator's slack and
/// the test's own other requests. Before byte budgets a single attacker took hundreds of MiB.
const SLACK_PER_SOCKET: u64 = 8 * 1024 * 1024;
const SLACK: u64 = 24 * 1024 * 1024;

/// The largest message, with every character one that HTML escapes to six bytes (`&quot;`).
fn largest_content() -> String {
    "\"".repeat(2000)
}

/// `cinder_socket_slow_clients_dropped_total` of `node`.
async fn slow_clients_dropped(node: &Node) -> f64 {
    let text = http()
        .get(format!("{}/metrics", node.url()))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("scrape body");
    text.lines()
        .find_map(|line| line.strip_prefix("cinder_socket_slow_clients_dropped_total "))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

/// A socket client with a small receive buffer, so that what it does not read backs up into
/// the server soon.
async fn slow_client(node: &Node) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    let stream = socket.connect(node.addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(node.ws_url(), MaybeTlsStream::Plain(stream))
        .await
        .expect("websocket");
    Client::from_ws(ws)
}

/// Sends a frame without caring whether the server still listens (it hangs up on a client it
/// drops).
async fn send_blind(client: &mut Client, frame: Value) {
    let _ = client.ws.send(Message::text(frame.to_string())).await;
}

/// The live view token of the page at `path`.
async fn page_token(node: &Node, path: &str) -> String {
    let html = http()
        .get(format!("{}{path}", node.url()))
        .send()
        .await
        .expect("GET page")
        .text()
        .await
        .expect("page");
    crate::socket::attribute(&html, "data-cinder-token")
}

/// Waits until `node` has dropped `count` more slow clients than `before`; panics with the
/// memory figures if it does not.
async fn wait_dropped(node: &Node, before: f64, count: usize, baseline: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while slow_clients_dropped(node).await < before + count as f64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the clients that do not read were not dropped in 30 s; the server grew from \
             {} MiB to {} MiB (peak {} MiB)",
            baseline >> 20,
            node.resident_bytes() >> 20,
            node.peak_bytes() >> 20,
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The memory the attack cost: the peak over `baseline`, which must stay within the attackers'
/// budgets plus the slack; and, a moment after they were dropped, what is still held, which
/// must be back within the slack.
async fn assert_bounded(node: &Node, baseline: u64, what: &str) {
    let peak = node.peak_bytes().saturating_sub(baseline);
    let bound = ATTACKERS as u64 * (OUTBOX_BYTES + SLACK_PER_SOCKET) + SLACK;
    eprintln!(
        "{what}: baseline {} MiB, peak +{:.1} MiB (bound {} MiB)",
        baseline >> 20,
        peak as f64 / 1048576.0,
        bound >> 20
    );
    assert!(
        peak < bound,
        "{what}: the server grew by {} MiB, more than {} MiB",
        peak >> 20,
        bound >> 20
    );
    let mut held = u64::MAX;
    for _ in 0..50 {
        held = node.resident_bytes().saturating_sub(baseline);
        if held < SLACK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{what}: still held after the drop +{:.1} MiB",
        held as f64 / 1048576.0
    );
    assert!(
        held < SLACK,
        "{what}: {} MiB still held after the clients were dropped",
        held >> 20
    );
}

#[tokio::test]
async fn budgets_a_client_that_asks_for_older_messages_and_never_reads_is_dropped_within_its_budget(
) {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let node = Node::start(&db.url, &dir.0).await;
    let room = "long-history";
    let url = format!("{}/api/chat/rooms/{room}/messages", node.url());
    let content = largest_content();
    for i in 0..100 {
        let posted = http()
            .post(&url)
            .json(&json!({"sender": format!("sender-{i}"), "content": content}))
            .send()
            .await
            .expect("POST");
        assert_eq!(posted.status(), 201);
    }
    let token = page_token(&node, &format!("/chat/{room}")).await;
    let topic = format!("lv:/chat/{room}");

    // A reader on the same room, to show nobody else notices.
    let mut reader = Client::connect(&node.ws_url()).await;
    let (_, joined) = reader.join(&format!("chat:{room}"), json!({})).await;
    assert_eq!(joined["status"], "ok");

    let mut attackers = Vec::new();
    for _ in 0..ATTACKERS {
        let mut client = slow_client(&node).await;
        let (join_ref, joined) = client.join(&topic, json!({"token": token})).await;
        assert_eq!(joined["status"], "ok");
        attackers.push((client, join_ref));
    }
    let before = slow_clients_dropped(&node).await;
    node.reset_peak();
    let baseline = node.resident_bytes();
    // Each asks for the 100 messages before the last one, again and again, and never reads.
    for (client, join_ref) in &mut attackers {
        for n in 0..200 {
            let event = json!({"type": "click", "event": "load_older", "value": {"value": "101"}});
            send_blind(
                client,
                json!([join_ref, format!("e{n}"), topic, "event", event]),
            )
            .await;
        }
    }
    wait_dropped(&node, before, ATTACKERS, baseline).await;
    assert_bounded(&node, baseline, "load_older").await;

    // The reader was not touched.
    let posted = http()
        .post(&url)
        .json(&json!({"sender": "after", "content": "still here"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(posted.status(), 201);
    let pushed = reader.until(|f| f[3] == "message_sent").await;
    assert_eq!(pushed[4]["content"], "still here");
}

#[tokio::test]
async fn budgets_rejoins_of_a_long_discussion_that_are_never_read_are_dropped_within_the_budget() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let node = Node::start(&db.url, &dir.0).await;
    let created: Value = http()
        .post(format!("{}/api/bookmarks", node.url()))
        .json(&json!({"bookmark": {"title": "Talked about", "url": "https://example.com/t"}}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    let id = created["bookmark"]["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let content = largest_content();
    for i in 0..400 {
        let posted = http()
            .post(format!("{}/api/bookmarks/{id}/comments", node.url()))
            .json(&json!({"author": format!("author-{i}"), "content": content}))
            .send()
            .await
            .expect("POST");
        assert_eq!(posted.status(), 201);
    }
    let token = page_token(&node, &format!("/bookmarks/{id}")).await;
    let topic = format!("lv:/bookmarks/{id}");

    let mut attackers = Vec::new();
    let mut largest_reply = 0;
    for _ in 0..ATTACKERS {
        let mut client = slow_client(&node).await;
        // The first join is read: its reply is one page of the discussion.
        let join_ref = client.make_ref();
        let frame = json!([join_ref, join_ref, topic, "phx_join", {"token": token}]);
        client.send_text(frame.to_string()).await;
        let reply = client.reply_to(&join_ref).await;
        assert_eq!(reply["status"], "ok");
        largest_reply = largest_reply.max(reply.to_string().len());
        attackers.push(client);
    }
    let before = slow_clients_dropped(&node).await;
    node.reset_peak();
    let baseline = node.resident_bytes();
    // Then it joins again and again (each join replaces the last) and never reads.
    for client in &mut attackers {
        for _ in 0..45 {
            let join_ref = client.make_ref();
            send_blind(
                client,
                json!([join_ref, join_ref, topic, "phx_join", {"token": token}]),
            )
            .await;
        }
    }
    wait_dropped(&node, before, ATTACKERS, baseline).await;
    assert_bounded(&node, baseline, "rejoins").await;
    assert!(
        largest_reply <= MAX_REPLY_BYTES,
        "a join reply was {largest_reply} bytes, more than {MAX_REPLY_BYTES}"
    );
}
