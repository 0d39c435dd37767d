//! The socket speaks Phoenix Channels V2 exactly (see the README's "The socket protocol"), tested
//! with a raw client.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{http, Client, TestServer};

#[tokio::test]
async fn join_replies_with_refs_and_current_state() {
    let server = TestServer::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    client
        .send_text(r#"["7","8","chat:lobby","phx_join",{}]"#.into())
        .await;
    let reply = client.next().await;
    assert_eq!(
        reply,
        json!(["7", "8", "chat:lobby", "phx_reply", {"status": "ok", "response": {"messages": []}}])
    );
}

#[tokio::test]
async fn unknown_topics_and_unjoined_events_are_unmatched() {
    let server = TestServer::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, reply) = client.join("nowhere:1", json!({})).await;
    assert_eq!(
        reply,
        json!({"status": "error", "response": {"reason": "unmatched topic"}})
    );
    let msg_ref = client
        .send(Some("3"), "chat:lobby", "send_message", json!({}))
        .await;
    let frame = client.next().await;
    assert_eq!(
        frame,
        json!([null, msg_ref, "chat:lobby", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}])
    );
}

#[tokio::test]
async fn heartbeat_is_answered() {
    let server = TestServer::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let msg_ref = client.send(None, "phoenix", "heartbeat", json!({})).await;
    assert_eq!(
        client.next().await,
        json!([null, msg_ref, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
}

#[tokio::test]
async fn leave_replies_then_closes_the_channel() {
    let server = TestServer::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = client.join("chat:lobby", json!({})).await;
    client.until(|f| f[3] == "presence_state").await; // pushed after every chat join
    let leave_ref = client
        .send(Some(&join_ref), "chat:lobby", "phx_leave", json!({}))
        .await;
    assert_eq!(
        client.next().await,
        json!([join_ref, leave_ref, "chat:lobby", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert_eq!(
        client.next().await,
        json!([join_ref, join_ref, "chat:lobby", "phx_close", {}])
    );
    let after = client
        .send(Some(&join_ref), "chat:lobby", "send_message", json!({}))
        .await;
    assert_eq!(
        client.reply_to(&after).await["response"]["reason"],
        "unmatched topic"
    );
}

#[tokio::test]
async fn a_second_join_closes_the_first() {
    let server = TestServer::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let (first, _) = client.join("chat:lobby", json!({})).await;
    client.until(|f| f[3] == "presence_state").await; // pushed after every chat join
    client
        .send_text(r#"["20","21","chat:lobby","phx_join",{}]"#.into())
        .await;
    assert_eq!(
        client.next().await,
        json!([first, first, "chat:lobby", "phx_close", {}])
    );
    let reply = client.next().await;
    assert_eq!(reply[0], "20");
    assert_eq!(reply[4]["status"], "ok");
    // Events under the old join ref no longer reach the channel.
    let stale = client
        .send(Some(&first), "chat:lobby", "send_message", json!({}))
        .await;
    assert_eq!(
        client.reply_to(&stale).await["response"]["reason"],
        "unmatched topic"
    );
}

#[tokio::test]
async fn messages_sent_on_a_channel_reach_every_member() {
    let server = TestServer::start().await;
    let mut alice = Client::connect(&server.ws_url()).await;
    let mut bob = Client::connect(&server.ws_url()).await;
    let (alice_ref, _) = alice.join("chat:plaza", json!({})).await;
    alice.until(|f| f[3] == "presence_state").await; // pushed after every chat join
    bob.join("chat:plaza", json!({})).await;
    let msg_ref = alice
        .send(
            Some(&alice_ref),
            "chat:plaza",
            "send_message",
            json!({"sender": "alice", "content": "hi all"}),
        )
        .await;
    // The sender's own push comes before its reply.
    let push = alice.next().await;
    assert_eq!(push[3], "message_sent");
    assert_eq!(
        push[0],
        alice_ref.as_str(),
        "a push carries its channel's join_ref"
    );
    assert_eq!(push[1], Value::Null);
    let message = push[4].clone();
    assert_eq!(message["content"], "hi all");
    assert_eq!(message["sender"], "alice");
    assert_eq!(message["room"], "plaza");
    assert!(message["sent_at"].is_string());
    let reply = alice.next().await;
    assert_eq!(reply[1], msg_ref.as_str());
    assert_eq!(
        reply[4],
        json!({"status": "ok", "response": {"id": message["id"]}})
    );
    let bobs = bob.until(|f| f[3] == "message_sent").await;
    assert_eq!(bobs[4], message);
    // A late joiner gets it in the join reply.
    let mut carol = Client::connect(&server.ws_url()).await;
    let (_, reply) = carol.join("chat:plaza", json!({})).await;
    assert_eq!(reply["response"]["messages"], json!([message]));
}

#[tokio::test]
async fn a_refused_message_is_an_error_reply_with_the_rule() {
    let server = TestServer::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = client.join("chat:plaza", json!({})).await;
    let msg_ref = client
        .send(
            Some(&join_ref),
            "chat:plaza",
            "send_message",
            json!({"sender": "", "content": "x"}),
        )
        .await;
    assert_eq!(
        client.reply_to(&msg_ref).await,
        json!({"status": "error", "response": {
            "errors": {"sender": ["your name must be 1–32 characters"]},
            "message": "your name must be 1–32 characters"
        }})
    );
    let (_, bad_room) = client.join("chat:Not_A_Room", json!({})).await;
    assert_eq!(bad_room["status"], "error");
}

async fn assert_still_served(server: &TestServer, bystander: &mut Client, join_ref: &str) {
    let heartbeat = bystander
        .send(None, "phoenix", "heartbeat", json!({}))
        .await;
    assert_eq!(bystander.reply_to(&heartbeat).await["status"], "ok");
    let sent = bystander
        .send(
            Some(join_ref),
            "chat:calm",
            "send_message",
            json!({"sender": "b", "content": format!("still here {}", rand::random::<u32>())}),
        )
        .await;
    assert_eq!(bystander.reply_to(&sent).await["status"], "ok");
    let _ = server;
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let server = TestServer::start().await;
    let mut bystander = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = bystander.join("chat:calm", json!({})).await;
    for bad in [
        "not json",
        r#"{"a":1}"#,
        r#"["1","2","t","e"]"#,
        r#"[null,null,"t","e",[1]]"#,
    ] {
        let mut client = Client::connect(&server.ws_url()).await;
        client.send_text(bad.into()).await;
        assert_eq!(client.closed().await, Some(1007), "{bad}");
        assert_still_served(&server, &mut bystander, &join_ref).await;
    }
    let mut binary = Client::connect(&server.ws_url()).await;
    binary
        .ws
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    assert_eq!(binary.closed().await, Some(1003));
}

#[tokio::test]
async fn frames_over_64_kib_close_with_1009() {
    let server = TestServer::start().await;
    let mut bystander = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = bystander.join("chat:calm", json!({})).await;
    let mut client = Client::connect(&server.ws_url()).await;
    let (big_ref, _) = client.join("chat:calm", json!({})).await;
    let content = "x".repeat(65 * 1024);
    let frame =
        json!([big_ref, "9", "chat:calm", "send_message", {"sender": "a", "content": content}]);
    client.send_text(frame.to_string()).await;
    assert_eq!(client.closed().await, Some(1009));
    assert_still_served(&server, &mut bystander, &join_ref).await;
}

/// A websocket opened by hand on a raw TCP stream, so that frames a well-behaved client library
/// refuses to send can be written as bytes.
async fn raw_socket(server: &TestServer) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.server.addr)
        .await
        .unwrap();
    let request = format!(
        "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        server.server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    tcp
}

/// A masked client frame: FIN set as given, `opcode`, `payload`.
fn raw_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![
        if fin { 0x80 } else { 0 } | opcode,
        0x80 | payload.len() as u8,
    ];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The code of the close frame the server answers with.
async fn raw_close_code(tcp: &mut tokio::net::TcpStream) -> u16 {
    use tokio::io::AsyncReadExt;
    loop {
        let mut header = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut header))
            .await
            .expect("a frame in time")
            .expect("a close frame before the end");
        let length = usize::from(header[1] & 0x7f);
        assert!(length < 126, "small server frames only");
        let mut payload = vec![0u8; length];
        tcp.read_exact(&mut payload).await.unwrap();
        if header[0] & 0x0f == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn protocol_violations_close_with_the_rfc_6455_codes() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start().await;
    let mut bystander = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = bystander.join("chat:calm", json!({})).await;
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "invalid UTF-8 in a text frame",
            raw_frame(true, 0x1, b"[\xff\xfe]"),
            1007,
        ),
        ("reserved opcode 3", raw_frame(true, 0x3, b"hi"), 1002),
        (
            "a continuation with nothing to continue",
            raw_frame(true, 0x0, b"hi"),
            1002,
        ),
        (
            "a fragmented text frame then a new one",
            {
                let mut two = raw_frame(false, 0x1, b"[nu");
                two.extend(raw_frame(true, 0x1, b"ll]"));
                two
            },
            1002,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut tcp = raw_socket(&server).await;
        tcp.write_all(&bytes).await.unwrap();
        assert_eq!(raw_close_code(&mut tcp).await, code, "{what}");
        assert_still_served(&server, &mut bystander, &join_ref).await;
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let server =
        TestServer::start_with(|c| c.socket.idle_timeout = Duration::from_millis(500)).await;
    let mut client = Client::connect(&server.ws_url()).await;
    assert_eq!(client.closed().await, Some(1000));
}

#[tokio::test]
async fn sockets_from_a_foreign_origin_are_refused() {
    let server = TestServer::start().await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    let mut own = server.ws_url().into_client_request().unwrap();
    own.headers_mut()
        .insert("origin", server.url().parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(own).await.is_ok(),
        "the server's own pages may connect"
    );
}

#[tokio::test]
async fn joins_and_events_are_rate_limited_per_connection() {
    let server = TestServer::start_with(|c| {
        c.socket.join_burst = 3.0;
        c.socket.joins_per_second = 0.1;
    })
    .await;
    let mut client = Client::connect(&server.ws_url()).await;
    for n in 0..3 {
        let (_, reply) = client.join(&format!("chat:r{n}"), json!({})).await;
        assert_eq!(reply["status"], "ok");
    }
    let (_, reply) = client.join("chat:r9", json!({})).await;
    assert_eq!(reply["response"]["reason"], "too many joins, slow down");
    // Another connection has its own allowance.
    let mut other = Client::connect(&server.ws_url()).await;
    let (_, reply) = other.join("chat:r9", json!({})).await;
    assert_eq!(reply["status"], "ok");
}

/// The page's live view token and the session cookie, from a real page load.
pub async fn page(server: &TestServer, path: &str, cookie: Option<&str>) -> (String, String) {
    let mut request = http().get(format!("{}{path}", server.url()));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .or(cookie.map(str::to_owned))
        .unwrap_or_default();
    (response.text().await.unwrap(), cookie)
}

pub fn attribute(html: &str, name: &str) -> String {
    let start = html
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("{name} in page"))
        + name.len()
        + 2;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn live_views_join_with_the_page_token_only() {
    let server = TestServer::start().await;
    let (html, _) = page(&server, "/chat/lobby", None).await;
    let token = attribute(&html, "data-cinder-token");
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, reply) = client.join("lv:/chat/lobby", json!({"token": token})).await;
    assert_eq!(reply["status"], "ok");
    let ops = reply["response"]["patches"].as_array().unwrap();
    assert!(ops
        .iter()
        .any(|op| op["op"] == "replace" && op["id"] == "messages"));
    let (_, other_path) = client
        .join("lv:/chat/elsewhere", json!({"token": token}))
        .await;
    assert_eq!(other_path["response"]["reason"], "invalid token");
    let (_, forged) = client
        .join("lv:/chat/lobby", json!({"token": format!("{token}x")}))
        .await;
    assert_eq!(forged["response"]["reason"], "invalid token");
}

#[tokio::test]
async fn a_live_view_sees_its_own_message_before_the_reply() {
    let server = TestServer::start().await;
    let (html, cookie) = page(&server, "/chat/lobby", None).await;
    let csrf = attribute(&html, "name=\"_csrf\" value");
    let named = http()
        .post(format!("{}/chat/lobby/name", server.url()))
        .header("cookie", &cookie)
        .form(&[("name", "Ada"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 303);
    let cookie = named.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (html, _) = page(&server, "/chat/lobby", Some(&cookie)).await;
    assert!(
        html.contains("send-form"),
        "a named visitor gets the send form"
    );
    let token = attribute(&html, "data-cinder-token");

    let mut watcher = Client::connect(&server.ws_url()).await;
    watcher
        .join("lv:/chat/lobby", json!({"token": token}))
        .await;
    let mut client = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = client.join("lv:/chat/lobby", json!({"token": token})).await;
    let msg_ref = client
        .send(Some(&join_ref), "lv:/chat/lobby", "event", json!({"type": "submit", "event": "send_message", "value": {"content": "<b>bold</b> move"}}))
        .await;
    let patch = client.next().await;
    assert_eq!(patch[3], "patch", "the patch comes first: {patch}");
    let ops = patch[4]["ops"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "one append of one message");
    assert_eq!(ops[0]["op"], "append");
    assert_eq!(ops[0]["id"], "messages");
    let html = ops[0]["html"].as_str().unwrap();
    assert!(
        html.contains("&lt;b&gt;bold&lt;/b&gt; move"),
        "escaped: {html}"
    );
    assert!(html.contains("Ada"));
    let reply = client.next().await;
    assert_eq!(reply[1], msg_ref.as_str());
    assert_eq!(reply[4]["status"], "ok");
    let seen = watcher.until(|f| f[3] == "patch").await;
    assert_eq!(seen[4]["ops"][0]["html"], ops[0]["html"]);

    let empty = client
        .send(
            Some(&join_ref),
            "lv:/chat/lobby",
            "event",
            json!({"type": "submit", "event": "send_message", "value": {"content": "  "}}),
        )
        .await;
    assert_eq!(
        client.reply_to(&empty).await,
        json!({"status": "error", "response": {
            "errors": {"content": ["a message can't be empty"]},
            "message": "a message can't be empty"
        }})
    );
}

/// A channel that fails on demand, served by the real connection code.
struct Fragile;
struct FragileChannel;

#[async_trait::async_trait]
impl cinder::web::socket::Channel for FragileChannel {
    async fn handle_in(&mut self, event: &str, _payload: Value) -> Result<Value, Value> {
        if event == "explode" {
            panic!("this channel fails on purpose");
        }
        Ok(json!({"fine": true}))
    }

    fn handle_change(&mut self, _: &cinder_read_models::Change) -> Vec<cinder::web::socket::Push> {
        Vec::new()
    }
}

#[async_trait::async_trait]
impl cinder::web::socket::ChannelFactory for Fragile {
    fn accepts(&self, topic: &str) -> bool {
        topic.starts_with("fragile:")
    }

    async fn join(
        &self,
        _topic: &str,
        _payload: Value,
        _socket: &cinder::web::socket::SocketInfo,
    ) -> Result<cinder::web::socket::Joined, Value> {
        Ok(cinder::web::socket::Joined {
            channel: Box::new(FragileChannel),
            reply: json!({}),
            subscriptions: Vec::new(),
        })
    }
}

#[tokio::test]
async fn a_failing_channel_sends_phx_error_and_the_connection_lives_on() {
    use axum::extract::WebSocketUpgrade;
    use std::sync::Arc;

    let server = TestServer::start().await;
    let app = server.server.state.clone();
    let factories: Arc<Vec<Arc<dyn cinder::web::socket::ChannelFactory>>> = Arc::new(vec![
        Arc::new(Fragile),
        Arc::new(cinder::web::chat::RoomChannels {
            chat: app
                .apps
                .get::<cinder_read_models::chat::ChatReadModel>()
                .expect("chat is registered")
                .clone(),
        }),
    ]);
    let router = axum::Router::new().route(
        "/ws",
        axum::routing::get(move |upgrade: WebSocketUpgrade| {
            let info = cinder::web::socket::SocketInfo {
                params: Vec::new(),
                app: app.clone(),
            };
            let factories = factories.clone();
            async move {
                upgrade.on_upgrade(move |socket| {
                    cinder::web::socket::serve(
                        socket,
                        cinder::web::socket::Serializer::V2,
                        factories,
                        info,
                        Default::default(),
                    )
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
    let (chat_ref, _) = client.join("chat:calm", json!({})).await;
    let (join_ref, reply) = client.join("fragile:1", json!({})).await;
    assert_eq!(reply["status"], "ok");
    let fine = client
        .send(Some(&join_ref), "fragile:1", "hello", json!({}))
        .await;
    assert_eq!(client.reply_to(&fine).await["response"]["fine"], true);
    client
        .send(Some(&join_ref), "fragile:1", "explode", json!({}))
        .await;
    assert_eq!(
        client.next().await,
        json!([join_ref, join_ref, "fragile:1", "phx_error", {}])
    );
    // The channel is gone, the connection and its other channels are not.
    let after = client
        .send(Some(&join_ref), "fragile:1", "hello", json!({}))
        .await;
    assert_eq!(
        client.reply_to(&after).await["response"]["reason"],
        "unmatched topic"
    );
    let sent = client
        .send(
            Some(&chat_ref),
            "chat:calm",
            "send_message",
            json!({"sender": "s", "content": "still alive"}),
        )
        .await;
    assert_eq!(client.reply_to(&sent).await["status"], "ok");
}
