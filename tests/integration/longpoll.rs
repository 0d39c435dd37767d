//! The LongPoll transport (`/socket/longpoll`) as Phoenix's JS client speaks it, over plain
//! HTTP: a session opened by a GET (410 and a token), frames sent by POST (one per line),
//! frames polled by GET (200 with messages, 204 after the window), and the same Origin check,
//! connect refusals, idle timeout, per-IP limit and byte budget as the websocket. The official
//! client itself runs over it in `tests/js/phoenix_longpoll.mjs`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{http, Client, TestServer, WAIT};

/// A long poll client: one session, its token, and the frames polled but not yet looked at.
struct Poller {
    url: String,
    token: String,
    polled: Vec<Value>,
    next_ref: u64,
}

/// GETs `url` (with `origin`, if given): the JSON answer, which always comes with HTTP 200.
async fn get(url: &str, origin: Option<&str>) -> Value {
    let mut request = http().get(url);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.expect("GET");
    assert_eq!(response.status(), 200, "long poll answers are HTTP 200");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.expect("a JSON answer")
}

impl Poller {
    /// Opens a session on `server` with the query `query` (e.g. `vsn=2.0.0`).
    async fn open(server: &TestServer, query: &str) -> Poller {
        let url = format!("{}/socket/longpoll?{query}", server.url());
        let opened = get(&url, None).await;
        assert_eq!(opened["status"], 410, "a new session: {opened}");
        assert_eq!(opened["messages"], json!([]));
        let token = opened["token"]
            .as_str()
            .expect("a session token")
            .to_owned();
        Poller {
            url,
            token,
            polled: Vec::new(),
            next_ref: 0,
        }
    }

    fn with_token(&self) -> String {
        format!("{}&token={}", self.url, self.token)
    }

    /// Polls once: the answer.
    async fn poll(&mut self) -> Value {
        let answer = get(&self.with_token(), None).await;
        if answer["status"] == 200 {
            for text in answer["messages"].as_array().expect("messages") {
                let frame = serde_json::from_str(text.as_str().expect("frames are text"))
                    .expect("frames are JSON");
                self.polled.push(frame);
            }
        }
        answer
    }

    /// POSTs `frames` as one batch: the answer's status.
    async fn post(&mut self, frames: &[Value]) -> Value {
        let body: Vec<String> = frames.iter().map(Value::to_string).collect();
        let answer: Value = http()
            .post(self.with_token())
            .header("content-type", "application/x-ndjson")
            .body(body.join("\n"))
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("a JSON answer");
        answer["status"].clone()
    }

    fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    /// Polls until a frame satisfies `matches`; returns it (frames before it are dropped).
    async fn until(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(at) = self.polled.iter().position(&matches) {
                let frame = self.polled.remove(at);
                self.polled.drain(..at);
                return frame;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such frame in time: {:?}",
                self.polled
            );
            let answer = self.poll().await;
            assert!(
                answer["status"] == 200 || answer["status"] == 204,
                "the session lives: {answer}"
            );
        }
    }
}

#[tokio::test]
async fn a_long_poll_session_joins_sends_and_receives_beside_a_websocket() {
    let server = TestServer::start().await;
    let mut ada = Poller::open(&server, "vsn=2.0.0").await;
    let join = ada.make_ref();
    let sent = ada.make_ref();
    // A join and a message in one batch, handled in order before the answer.
    let status = ada
        .post(&[
            json!([join, join, "chat:lp", "phx_join", {"name": "ada"}]),
            json!([join, sent, "chat:lp", "send_message", {"sender": "ada", "content": "polled"}]),
        ])
        .await;
    assert_eq!(status, 200);
    let reply = ada
        .until(|f| f[3] == "phx_reply" && f[1] == join.as_str())
        .await;
    assert_eq!(reply[4]["status"], "ok");
    let state = ada.until(|f| f[3] == "presence_state").await;
    assert_eq!(state[0], join.as_str(), "pushes carry the join_ref");
    assert!(state[4].get("ada").is_some(), "{state}");
    let push = ada.until(|f| f[3] == "message_sent").await;
    assert_eq!(push[4]["content"], "polled");
    let answered = ada
        .until(|f| f[3] == "phx_reply" && f[1] == sent.as_str())
        .await;
    assert_eq!(answered[4]["response"]["id"], push[4]["id"]);

    // A websocket client in the same room sees the long poller, and the other way round.
    let mut bob = Client::connect(&server.ws_url()).await;
    let (bob_ref, _) = bob.join("chat:lp", json!({"name": "bob"})).await;
    let state = bob.until(|f| f[3] == "presence_state").await;
    assert!(state[4].get("ada").is_some(), "bob sees ada: {state}");
    let diff = ada.until(|f| f[3] == "presence_diff").await;
    assert!(
        diff[4]["joins"].get("bob").is_some(),
        "ada sees bob: {diff}"
    );
    bob.send(
        Some(&bob_ref),
        "chat:lp",
        "send_message",
        json!({"sender": "bob", "content": "ws"}),
    )
    .await;
    assert_eq!(
        ada.until(|f| f[3] == "message_sent").await[4]["content"],
        "ws"
    );

    // Heartbeats and unmatched topics as on the websocket.
    let beat = ada.make_ref();
    assert_eq!(
        ada.post(&[json!([null, beat, "phoenix", "heartbeat", {}])])
            .await,
        200
    );
    let reply = ada.until(|f| f[1] == beat.as_str()).await;
    assert_eq!(
        reply,
        json!([null, beat, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
}

#[tokio::test]
async fn an_idle_poll_is_answered_204_and_an_idle_session_ends() {
    let server =
        TestServer::start_with(|c| c.socket.idle_timeout = Duration::from_millis(800)).await;
    let mut poller = Poller::open(&server, "vsn=2.0.0").await;
    // Nothing to say: answered after the window (half the idle timeout here), token kept.
    let started = std::time::Instant::now();
    let idle = poller.poll().await;
    assert_eq!(idle["status"], 204, "{idle}");
    assert_eq!(idle["messages"], json!([]));
    assert!(idle["token"].is_string());
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the poll waited"
    );
    // Polling keeps it alive past the idle timeout.
    for _ in 0..3 {
        assert_eq!(poller.poll().await["status"], 204);
    }
    // Not polling ends it: the next poll is told the session is gone, and so is a POST.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut gone = poller.poll().await;
    if gone["status"] == 200 {
        gone = poller.poll().await; // the session's last words, if any
    }
    assert_eq!(gone["status"], 410, "{gone}");
    assert_eq!(
        poller
            .post(&[json!([null, "1", "phoenix", "heartbeat", {}])])
            .await,
        410
    );
}

#[tokio::test]
async fn long_poll_refusals_match_the_websocket() {
    let server = TestServer::start_with(|c| c.max_sockets_per_ip = 2).await;
    let url = format!("{}/socket/longpoll?vsn=2.0.0", server.url());
    // A foreign page may neither open a session nor use one.
    let foreign = get(&url, Some("http://evil.example")).await;
    assert_eq!(foreign["status"], 403);
    let mut poller = Poller::open(&server, "vsn=2.0.0").await;
    let used = get(&poller.with_token(), Some("http://evil.example")).await;
    assert_eq!(used["status"], 403);
    // A version not served, and a forged connect token.
    let old = get(&format!("{}/socket/longpoll?vsn=3.0.0", server.url()), None).await;
    assert_eq!(old["status"], 403);
    let forged = get(&format!("{url}&token=forged"), None).await;
    assert_eq!(forged["status"], 403);
    // A forged session token is no session, and no connect token either.
    let forged_session = get(&format!("{url}&token={}x", poller.token), None).await;
    assert_eq!(forged_session["status"], 403);
    // Two sessions from this address are open now: a third is refused, the others live on.
    let second = Poller::open(&server, "vsn=2.0.0").await;
    assert_ne!(second.token, poller.token);
    let third = get(&url, None).await;
    assert_eq!(third["status"], 403, "{third}");
    let beat = poller.make_ref();
    assert_eq!(
        poller
            .post(&[json!([null, beat, "phoenix", "heartbeat", {}])])
            .await,
        200
    );
    poller.until(|f| f[1] == beat.as_str()).await;
    // A malformed frame ends only its own session.
    assert_eq!(poller.post(&[json!({"not": "a frame"})]).await, 410);
    let mut ended = poller.poll().await;
    if ended["status"] == 200 {
        ended = poller.poll().await;
    }
    assert_eq!(ended["status"], 410);
}

#[tokio::test]
async fn a_session_nobody_polls_is_held_to_its_byte_budget() {
    let server = TestServer::start_with(|c| {
        c.max_reply_bytes = 16 * 1024;
        c.socket.outbox_bytes = 16 * 1024;
    })
    .await;
    let mut poller = Poller::open(&server, "vsn=2.0.0").await;
    let join = poller.make_ref();
    assert_eq!(
        poller
            .post(&[json!([join, join, "chat:lp-budget", "phx_join", {}])])
            .await,
        200
    );
    // Far more than the budget is pushed to it while it does not poll.
    let content = "z".repeat(1000);
    for n in 0..60 {
        let posted = http()
            .post(format!(
                "{}/api/chat/rooms/lp-budget/messages",
                server.url()
            ))
            .json(&json!({"sender": format!("s{n}"), "content": content}))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 201);
    }
    // What it is given back is within the budget, and then it is gone.
    let mut polled = 0;
    loop {
        let answer = poller.poll().await;
        match answer["status"].as_u64() {
            Some(200) => {
                polled += answer["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().len())
                    .sum::<usize>()
            }
            Some(410) => break,
            other => panic!("unexpected {other:?}: {answer}"),
        }
    }
    assert!(
        polled <= 16 * 1024,
        "{polled} bytes were kept for a client that did not read"
    );
}

#[tokio::test]
async fn a_1_0_0_long_poll_session_speaks_objects() {
    let server = TestServer::start().await;
    let mut poller = Poller::open(&server, "vsn=1.0.0").await;
    let status = poller
        .post(&[json!({"topic": "chat:lp-v1", "event": "phx_join", "payload": {}, "ref": "1", "join_ref": "1"})])
        .await;
    assert_eq!(status, 200);
    let reply = poller.until(|f| f["event"] == "phx_reply").await;
    assert_eq!(reply["ref"], "1");
    assert_eq!(reply["payload"]["status"], "ok");
}
