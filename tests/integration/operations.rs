//! Operations (the README's "Operations" section): `/healthz`, `/readyz`, `/metrics`, graceful
//! shutdown, and clients that stop reading.

use std::time::{Duration, Instant};

use cinder::metrics::{
    COMMANDS, COMMAND_DURATION, EVENTS_APPENDED, JOINS, PROJECTION_ERRORS, PROJECTION_LAG, PUSHES,
    SLOW_CLIENTS_DROPPED, SOCKET_CONNECTIONS,
};
use futures_util::StreamExt;
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

use crate::processes::Node;
use crate::support::{http, Client, TempDir, TestDb, TestServer, WAIT};

/// One scrape of `/metrics`.
struct Scrape(String);

impl Scrape {
    async fn of(server: &TestServer) -> Scrape {
        let response = http()
            .get(format!("{}/metrics", server.url()))
            .send()
            .await
            .expect("scrape");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4"
        );
        Scrape(response.text().await.expect("scrape body"))
    }

    /// The samples of `name` whose labels include `labels`.
    fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = f64> + 'a {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(move |line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
                let matches = metric == name
                    && labels
                        .iter()
                        .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\"")));
                matches.then(|| value.parse().ok()).flatten()
            })
    }

    /// The sum of those samples (0 if there are none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels).sum()
    }

    fn has(&self, name: &str) -> bool {
        self.samples(name, &[]).next().is_some()
    }
}

/// Metrics are process-wide. Under nextest every test is a process of its own, so they count
/// this test's traffic only; under `cargo test` other tests add to them.
fn alone() -> bool {
    std::env::var("NEXTEST_EXECUTION_MODE").as_deref() == Ok("process-per-test")
}

fn assert_grew(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)], by: f64) {
    let grown = after.value(name, labels) - before.value(name, labels);
    if alone() {
        assert_eq!(grown, by, "{name} {labels:?}");
    } else {
        assert!(grown >= by, "{name} {labels:?} grew by {grown}, not {by}");
    }
}

/// Posts a chat message; returns the status and body.
async fn post(client: &reqwest::Client, url: &str, room: &str, sender: &str, content: &str) -> u16 {
    client
        .post(format!("{url}/api/chat/rooms/{room}/messages"))
        .json(&json!({"sender": sender, "content": content}))
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

async fn get(url: &str) -> (u16, String) {
    let response = http().get(url).send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn metrics_count_commands_events_connections_joins_and_pushes() {
    let server = TestServer::start().await;
    let url = server.url();
    let before = Scrape::of(&server).await;
    for name in [SOCKET_CONNECTIONS, PUSHES, PROJECTION_LAG] {
        assert!(before.has(name), "{name} on an idle node:\n{}", before.0);
    }

    let mut client = Client::connect(&server.ws_url()).await;
    let (_, joined) = client.join("chat:metrics", json!({})).await;
    assert_eq!(joined["status"], "ok");
    let (_, refused) = client.join("nowhere:1", json!({})).await;
    assert_eq!(refused["status"], "error");
    const SENT: usize = 5;
    let http = http();
    for i in 0..SENT {
        let status = post(&http, &url, "metrics", &format!("user{i}"), "hello").await;
        assert_eq!(status, 201);
    }
    for _ in 0..SENT {
        client.until(|f| f[3] == "message_sent").await;
    }
    assert_eq!(post(&http, &url, "metrics", "user0", "   ").await, 422);

    let after = Scrape::of(&server).await;
    for name in [
        COMMANDS,
        &format!("{COMMAND_DURATION}_bucket"),
        &format!("{COMMAND_DURATION}_sum"),
        &format!("{COMMAND_DURATION}_count"),
        EVENTS_APPENDED,
        PROJECTION_LAG,
        SOCKET_CONNECTIONS,
        JOINS,
        PUSHES,
    ] {
        assert!(after.has(name), "{name} after traffic:\n{}", after.0);
    }
    let room = |outcome| [("aggregate", "Room"), ("outcome", outcome)];
    assert_grew(&before, &after, COMMANDS, &room("ok"), SENT as f64);
    assert_grew(&before, &after, COMMANDS, &room("rejected"), 1.0);
    let duration_count = format!("{COMMAND_DURATION}_count");
    assert_grew(
        &before,
        &after,
        &duration_count,
        &[("aggregate", "Room")],
        SENT as f64 + 1.0,
    );
    assert!(
        after.value(&format!("{COMMAND_DURATION}_sum"), &[("aggregate", "Room")]) > 0.0,
        "latency is measured"
    );
    assert_grew(
        &before,
        &after,
        EVENTS_APPENDED,
        &[("aggregate", "Room")],
        SENT as f64,
    );
    assert_grew(&before, &after, JOINS, &[("outcome", "ok")], 1.0);
    assert_grew(&before, &after, JOINS, &[("outcome", "error")], 1.0);
    // At least the messages (a room also pushes who is there).
    let pushes = after.value(PUSHES, &[]) - before.value(PUSHES, &[]);
    assert!(pushes >= SENT as f64, "{pushes} pushes");
    assert!(after.value(PROJECTION_LAG, &[]) < 5.0, "caught up");
    if alone() {
        assert_eq!(after.value(SOCKET_CONNECTIONS, &[]), 1.0);
        drop(client);
        let deadline = Instant::now() + WAIT;
        while Scrape::of(&server).await.value(SOCKET_CONNECTIONS, &[]) != 0.0 {
            assert!(
                Instant::now() < deadline,
                "the closed socket is no longer counted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A label of a documented metric, and the values the README lists for it (none: an open set).
type DocumentedLabel = (String, Vec<String>);

/// The README's metrics table: each metric's name, and the label values it lists
/// (`` `outcome`: ok, error `` → `("outcome", ["ok", "error"])`).
fn documented_metrics() -> Vec<(String, Vec<DocumentedLabel>)> {
    let readme = include_str!("../../README.md");
    let table = readme
        .split_once("| metric | type | labels | what |")
        .expect("the README has a metrics table")
        .1;
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            // "`aggregate`, `outcome`: ok, rejected" → aggregate: [], outcome: [ok, rejected]
            let mut labels = Vec::new();
            let parts: Vec<&str> = cells[3].split('`').collect();
            for i in (1..parts.len()).step_by(2) {
                let label = parts[i].to_owned();
                let values = parts
                    .get(i + 1)
                    .and_then(|rest| rest.trim().strip_prefix(':'))
                    .map(|values| {
                        values
                            .split(',')
                            .map(|v| v.trim().to_owned())
                            .filter(|v| !v.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                labels.push((label, values));
            }
            (name, labels)
        })
        .collect()
}

#[tokio::test]
async fn a_fresh_node_shows_every_documented_series_at_zero() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let node = Node::start(&db.url, &dir.0).await;
    let scrape = http()
        .get(format!("{}/metrics", node.url()))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("scrape body");
    let scrape = Scrape(scrape);
    let documented = documented_metrics();
    assert!(documented.len() >= 13, "the table: {documented:?}");
    for (name, labels) in &documented {
        let series = if scrape.0.contains(&format!("# TYPE {name} histogram")) {
            format!("{name}_count")
        } else {
            name.clone()
        };
        assert!(
            scrape.has(&series),
            "{series} on a fresh node:\n{}",
            scrape.0
        );
        for (label, values) in labels {
            for value in values {
                assert!(
                    scrape.samples(&series, &[(label, value)]).next().is_some(),
                    "{series}{{{label}=\"{value}\"}} on a fresh node:\n{}",
                    scrape.0
                );
            }
            if values.is_empty() {
                // An open set (aggregate types): present for every app's aggregate.
                for aggregate in [
                    "Room", "Bookmark", "TodoList", "Product", "Cart", "Purchase", "Poll",
                ] {
                    assert!(
                        scrape
                            .samples(&series, &[(label, aggregate)])
                            .next()
                            .is_some(),
                        "{series}{{{label}=\"{aggregate}\"}} on a fresh node"
                    );
                }
            }
        }
        // Nothing has happened yet, except on a gauge of what is open.
        if name != "cinder_http_connections" {
            assert_eq!(scrape.value(&series, &[]), 0.0, "{series} on a fresh node");
        }
    }
}

#[tokio::test]
async fn healthz_answers_and_readyz_wants_the_store_and_caught_up_projections() {
    let server = TestServer::start().await;
    let url = server.url();
    assert_eq!(get(&format!("{url}/healthz")).await, (200, "ok".into()));
    assert_eq!(get(&format!("{url}/readyz")).await, (200, "ready".into()));
    assert_eq!(post(&http(), &url, "ready", "ann", "hello").await, 201);
    assert_eq!(get(&format!("{url}/readyz")).await, (200, "ready".into()));

    // An event of a minute ago that the chat projection cannot apply: the projections stop
    // before it, and stay behind.
    let mut db = PgConnection::connect(&server.db.url)
        .await
        .expect("connect");
    db.execute(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, recorded_at)
         VALUES ('Room', 'broken', 1, 'MessageSent', '2.0', '{\"nonsense\": true}', '{}',
                 now() - interval '1 minute')",
    )
    .await
    .expect("insert an event the projection refuses");
    let deadline = Instant::now() + WAIT;
    let (status, body) = loop {
        let (status, body) = get(&format!("{url}/readyz")).await;
        if status != 200 || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("projections are behind"), "{body}");
    // Alive all the same.
    assert_eq!(get(&format!("{url}/healthz")).await.0, 200);
    // The runner's failures to apply it are counted.
    let deadline = Instant::now() + WAIT;
    while Scrape::of(&server).await.value(PROJECTION_ERRORS, &[]) < 1.0 {
        assert!(Instant::now() < deadline, "projection errors are counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_node_gracefully() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let mut node = Node::start(&db.url, &dir.0).await;
    let mut client = Client::connect(&node.ws_url()).await;
    let (_, joined) = client.join("chat:term", json!({})).await;
    assert_eq!(joined["status"], "ok");
    assert_eq!(
        post(&http(), &node.url(), "term", "ann", "hello").await,
        201
    );
    let closed = tokio::spawn(async move { client.closed().await });

    node.terminate().await;
    assert_eq!(closed.await.expect("no panic"), Some(1001));
    assert!(
        tokio::net::TcpStream::connect(node.addr).await.is_err(),
        "the node is gone"
    );
}

/// Statements of this test's database waiting for a lock.
async fn waiting_for_locks(db: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(db)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test]
async fn stopping_closes_sockets_with_1001_and_finishes_commands_in_flight() {
    let TestServer { server, db, _dir } = TestServer::start().await;
    let url = server.url();
    let addr = server.addr;
    let ws_url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let mut idle = Client::connect(&ws_url).await;
    idle.join("chat:calm", json!({})).await;
    let mut sender = Client::connect(&ws_url).await;
    let (join_ref, _) = sender.join("chat:busy", json!({})).await;

    // Hold every append: a transaction keeps the events table locked against writes.
    let mut lock = PgConnection::connect(&db.url).await.expect("connect");
    lock.execute("BEGIN").await.expect("begin");
    lock.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        .await
        .expect("lock");
    let over_http = tokio::spawn({
        let url = url.clone();
        async move { post(&http(), &url, "busy-http", "http", "sent over http").await }
    });
    let over_socket = sender
        .send(
            Some(&join_ref),
            "chat:busy",
            "send_message",
            json!({"sender": "ws", "content": "sent over the socket"}),
        )
        .await;
    let deadline = Instant::now() + WAIT;
    // Both commands run, and their batch waits for the table (group commit: one batch may hold
    // both, or the second waits in the node for the first's). (Watched from outside the locking
    // transaction: it would see one snapshot of the activity.)
    let mut watch = PgConnection::connect(&db.url).await.expect("connect");
    while waiting_for_locks(&mut watch).await < 1 || server.state.bus.in_flight.count() < 2 {
        assert!(Instant::now() < deadline, "both commands reach the append");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stopping = tokio::spawn(server.stop());
    // A socket with nothing running is told at once to go elsewhere.
    assert_eq!(idle.closed().await, Some(1001));
    // No new connections are accepted.
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "the node stops accepting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The commands in flight hold the node up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !over_http.is_finished(),
        "the HTTP command is still running"
    );
    assert!(!stopping.is_finished(), "the node waits for its commands");

    lock.execute("COMMIT").await.expect("release the table");
    let status = tokio::time::timeout(WAIT, over_http)
        .await
        .expect("the HTTP command finishes")
        .expect("no panic");
    assert_eq!(status, 201);
    // The socket's command is answered, and only then is the socket closed.
    let reply = sender.reply_to(&over_socket).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(sender.closed().await, Some(1001));
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("the node stops")
        .expect("no panic");

    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Room' AND event_type = 'MessageSent'",
    )
    .fetch_one(&mut watch)
    .await
    .expect("count");
    assert_eq!(stored, 2, "both commands' events are stored");
}

/// Messages posted to each room per round of the slow client test.
const ROUND: usize = 25;

/// Posts messages `from..to` to `room`, each about 2 KB; returns when each was answered.
async fn post_round(url: String, room: String, from: usize, to: usize) -> Vec<(usize, Instant)> {
    let http = http();
    let filler = "x".repeat(1990);
    let mut answered = Vec::new();
    for i in from..to {
        let content = format!("{i:05} {filler}");
        let status = post(&http, &url, &room, &format!("sender-{i}"), &content).await;
        assert_eq!(status, 201);
        answered.push((i, Instant::now()));
    }
    answered
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_while_others_keep_receiving() {
    const ROOMS: usize = 4;
    // Up to 6,000 messages, some 26 MB for the stalled client: more than its kernel buffers
    // (a few MB on loopback) and its queue can hold.
    const MAX_ROUNDS: usize = 60;
    let server = TestServer::start_with(|config| {
        config.max_reply_bytes = 64 * 1024;
        config.socket.outbox_bytes = 64 * 1024;
    })
    .await;
    let url = server.url();
    let rooms: Vec<String> = (0..ROOMS).map(|r| format!("busy-{r}")).collect();
    let before = Scrape::of(&server).await;

    // A client with a small receive buffer, so that what it does not read backs up into the
    // server sooner. It joins every room and the log, then never reads again.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    let stream = socket.connect(server.server.addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(server.ws_url(), MaybeTlsStream::Plain(stream))
        .await
        .expect("websocket");
    let mut stalled = Client::from_ws(ws);
    for topic in rooms
        .iter()
        .map(|r| format!("chat:{r}"))
        .chain(["events:all".into()])
    {
        let (_, joined) = stalled.join(&topic, json!({})).await;
        assert_eq!(joined["status"], "ok");
    }

    // A client that reads, on the same rooms.
    let mut reader = Client::connect(&server.ws_url()).await;
    for room in &rooms {
        let (_, joined) = reader.join(&format!("chat:{room}"), json!({})).await;
        assert_eq!(joined["status"], "ok");
    }
    let (total, mut expected) = tokio::sync::watch::channel(usize::MAX);
    let reading = tokio::spawn(async move {
        let mut arrivals = Vec::new();
        while arrivals.len() < *expected.borrow() {
            tokio::select! {
                push = reader.until(|f| f[3] == "message_sent") => {
                    let message = &push[4];
                    let room = message["room"].as_str().expect("room").to_owned();
                    let index: usize = message["content"].as_str().expect("content")[..5]
                        .parse()
                        .expect("numbered");
                    arrivals.push((room, index, Instant::now()));
                }
                _ = expected.changed() => {}
            }
        }
        (arrivals, reader)
    });

    // Rounds of messages to every room at once, until the stalled client has been dropped,
    // and one more after that.
    let mut answered = std::collections::HashMap::new();
    let mut rounds = 0;
    let mut dropped = false;
    while rounds < MAX_ROUNDS {
        let posting: Vec<_> = rooms
            .iter()
            .map(|room| {
                let (from, to) = (rounds * ROUND, (rounds + 1) * ROUND);
                tokio::spawn(post_round(url.clone(), room.clone(), from, to))
            })
            .collect();
        for (room, posted) in rooms.iter().zip(posting) {
            for (index, at) in posted.await.expect("no panic") {
                answered.insert((room.clone(), index), at);
            }
        }
        rounds += 1;
        if dropped {
            break;
        }
        let scrape = Scrape::of(&server).await;
        dropped = scrape.value(SLOW_CLIENTS_DROPPED, &[]) > before.value(SLOW_CLIENTS_DROPPED, &[]);
    }
    assert!(dropped, "the stalled client is dropped");
    let sent = rounds * ROUND * ROOMS;
    total.send_replace(sent);

    let (arrivals, reader) = tokio::time::timeout(WAIT, reading)
        .await
        .expect("the reader receives every message")
        .expect("no panic");
    // Every message reached the reader, in order, soon after it was sent.
    let mut next = std::collections::HashMap::new();
    let mut slowest = Duration::ZERO;
    for (room, index, at) in &arrivals {
        let expected = next.entry(room.clone()).or_insert(0);
        assert_eq!(index, expected, "in order in {room}");
        *expected += 1;
        slowest = slowest.max(at.saturating_duration_since(answered[&(room.clone(), *index)]));
    }
    assert_eq!(arrivals.len(), sent);
    assert!(
        slowest < Duration::from_secs(3),
        "a push reached the reader {slowest:?} after its command was answered"
    );

    // The stalled client was dropped, and only it.
    let after = Scrape::of(&server).await;
    assert_grew(&before, &after, SLOW_CLIENTS_DROPPED, &[], 1.0);
    if alone() {
        assert_eq!(after.value(SOCKET_CONNECTIONS, &[]), 1.0, "the reader's");
    }
    drop(reader);
    // Reading at last, it finds its connection ended before the last message.
    let mut got = 0;
    loop {
        let next = tokio::time::timeout(WAIT, stalled.ws.next())
            .await
            .expect("the server hung up");
        match next {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("JSON");
                if frame[3] == "message_sent" {
                    got += 1;
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
    }
    assert!(got < sent, "the stalled client got {got} of {sent}");
    eprintln!("the stalled client was dropped with {got} of {sent} messages");
}
