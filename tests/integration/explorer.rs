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

/// Messages in the long room of the bounded-explorer tests.
const LONG_ROOM: i64 = 20_000;

/// Writes a room of `count` messages straight into the store, in batches (the chat rules
/// would take hours): each as long as a message may be (2000 characters, 32 for the sender),
/// of quotes, which cost the most to show (escaped in JSON, then in HTML). Returns the
/// position of its last event.
async fn long_room(server: &TestServer, room: &str, count: i64) -> i64 {
    use cinder::store::NewEvent;
    use cinder_domain::chat::{MessageSent, RoomEvent, MESSAGE_SENT_VERSION};
    let log = server.db.log().await;
    let mut last = 0;
    for start in (1..=count).step_by(1000) {
        let batch: Vec<NewEvent> = (start..(start + 1000).min(count + 1))
            .map(|id| NewEvent {
                aggregate_type: "Room".into(),
                aggregate_id: room.into(),
                sequence: id,
                event_type: "MessageSent".into(),
                event_version: MESSAGE_SENT_VERSION.into(),
                payload: serde_json::to_value(RoomEvent::MessageSent(MessageSent {
                    id: id as u64,
                    room: room.into(),
                    sender: "\"".repeat(32),
                    content: format!("{id} {}", "\"".repeat(1990)),
                    sent_at: chrono::Utc::now(),
                    mentions: Vec::new(),
                }))
                .unwrap(),
                metadata: json!({}),
            })
            .collect();
        last = log
            .append(batch.as_slice())
            .await
            .unwrap()
            .last()
            .unwrap()
            .position;
    }
    last
}

/// GETs `path`: its status and body.
async fn get(server: &TestServer, path: &str) -> (u16, String) {
    let response = http()
        .get(format!("{}{path}", server.url()))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_explorer_answer_passes_the_byte_budget_on_a_20000_event_room() {
    // A budget below the default, to show the explorer follows the configured one.
    const BUDGET: usize = 128 * 1024;
    let server = TestServer::start_with(|config| config.max_reply_bytes = BUDGET).await;
    let last = long_room(&server, "long", LONG_ROOM).await;
    let middle = last - LONG_ROOM / 2;
    for path in [
        "/events/Room/long".to_owned(),
        "/events/Room/long?after=19990".to_owned(),
        format!("/events/Room/long/at/{last}"),
        format!("/events/Room/long/at/{middle}"),
        "/api/aggregates/Room/long/events".to_owned(),
        "/api/aggregates/Room/long/events?limit=500".to_owned(),
        "/api/events?after=0&limit=1000".to_owned(),
        "/events?type=Room".to_owned(),
        "/events".to_owned(),
    ] {
        let (status, body) = get(&server, &path).await;
        assert_eq!(status, 200, "{path}: {}", &body[..body.len().min(300)]);
        assert!(
            body.len() <= BUDGET,
            "{path}: {} bytes, over the budget of {BUDGET}",
            body.len()
        );
    }

    // The history pages on: the first page links to the next.
    let (_, first) = get(&server, "/events/Room/long").await;
    assert!(first.contains("20000 events."), "the count is shown");
    assert!(first.contains("rel=\"next\""), "a next page");
    // "As of" the last event shows the latest messages, says so, and stops at the event.
    let (_, as_of) = get(&server, &format!("/events/Room/long/at/{last}")).await;
    assert!(
        as_of.contains("of 20000 messages."),
        "a note on what is shown"
    );
    assert!(as_of.contains("id=\"message-20000\""));
    let (_, as_of) = get(&server, &format!("/events/Room/long/at/{middle}")).await;
    assert!(as_of.contains("id=\"message-10000\"") && !as_of.contains("id=\"message-10001\""));

    // The last API page says it is the last (20 events of some 4 KB each fit the budget).
    let (_, body) = get(&server, "/api/aggregates/Room/long/events?after=19980").await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 20);
    assert_eq!(page["next"], Value::Null);
}

#[tokio::test]
async fn following_next_through_an_aggregate_reads_every_event_once_in_order() {
    use cinder::config::DEFAULT_MAX_REPLY_BYTES;
    let server = TestServer::start().await;
    long_room(&server, "walk", 1500).await;
    let mut after = 0;
    let mut sequences = Vec::new();
    loop {
        let (status, body) = get(
            &server,
            &format!("/api/aggregates/Room/walk/events?after={after}&limit=500"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            body.len() <= DEFAULT_MAX_REPLY_BYTES,
            "{} bytes",
            body.len()
        );
        let page: Value = serde_json::from_str(&body).unwrap();
        sequences.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["sequence"].as_i64().unwrap()),
        );
        match page["next"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(sequences, (1..=1500).collect::<Vec<_>>());
    // The history pages link the same way.
    let (_, first) = get(&server, "/events/Room/walk").await;
    let next = crate::socket::attribute(&first[first.find("rel=\"next\"").unwrap()..], "href");
    let (status, second) = get(&server, &next).await;
    assert_eq!(status, 200);
    let shown_first = |html: &str| {
        crate::socket::attribute(
            &html[html.find("<ol class=\"history\"").unwrap()..],
            "start",
        )
    };
    assert_eq!(shown_first(&first), "1");
    assert_eq!(
        shown_first(&second),
        (next.rsplit('=').next().unwrap().parse::<i64>().unwrap() + 1).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_stays_quick_while_heavy_explorer_reads_run() {
    let server = TestServer::start().await;
    let last = long_room(&server, "long", LONG_ROOM).await;
    let as_of = format!("{}/events/Room/long/at/{last}", server.url());
    // One heavy read alone: the yardstick.
    let started = std::time::Instant::now();
    let alone = http().get(&as_of).send().await.unwrap();
    assert_eq!(alone.status(), 200);
    alone.bytes().await.unwrap();
    let heavy = started.elapsed();

    let readers: Vec<_> = (0..8)
        .map(|_| {
            let as_of = as_of.clone();
            tokio::spawn(async move {
                let response = http().get(&as_of).send().await.unwrap();
                let retry_after = response.headers().get("retry-after").is_some();
                let status = response.status().as_u16();
                response.bytes().await.unwrap();
                (status, retry_after)
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let health = http()
            .get(format!("{}/healthz", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    let mut served = 0;
    for reader in readers {
        let (status, retry_after) = reader.await.unwrap();
        match status {
            200 => served += 1,
            503 => assert!(retry_after, "a busy refusal says when to retry"),
            other => panic!("a heavy read answered {other}"),
        }
    }
    assert!(served >= 1, "heavy reads are served, a few at a time");
    assert!(
        slowest * 5 < heavy,
        "/healthz took up to {slowest:?} while heavy reads ran; one heavy read takes {heavy:?}"
    );
}

#[tokio::test]
async fn bad_explorer_ids_are_404_or_400_never_a_server_error() {
    let server = TestServer::start().await;
    let sent = post_message(&server, "ids", "a", "one").await;
    let position = sent["position"].as_i64().unwrap();
    for (path, expected) in [
        ("/events/Room/a%00b".to_owned(), 404),
        (format!("/events/Room/a%00b/at/{position}"), 404),
        ("/events/Ro%00om/ids".to_owned(), 404),
        ("/api/aggregates/Room/a%00b/events".to_owned(), 404),
        ("/api/aggregates/Room/ids/events?after=x".to_owned(), 400),
        ("/events/Room/ids?after=-1".to_owned(), 400),
        ("/events?type=%00".to_owned(), 400),
        ("/events/Room/ids/at/999999".to_owned(), 404),
        // An event of another aggregate is not this one's "as of".
        (format!("/events/Room/other/at/{position}"), 404),
    ] {
        let (status, _) = get(&server, &path).await;
        assert_eq!(status, expected, "{path}");
    }
}

#[tokio::test]
async fn filtering_the_tail_by_type_reads_the_index() {
    let server = TestServer::start().await;
    post_message(&server, "typed", "a", "one").await;
    let (status, page) = get(&server, "/events?type=Nope").await;
    assert_eq!(status, 200);
    assert!(!page.contains("id=\"event-1\""));
    let (_, page) = get(&server, "/events?type=Room").await;
    assert!(page.contains("id=\"event-1\""));
    // A log of a common type, then many events of another: a walk back from the end would
    // read all of those. The filtered tail's query must go straight to its type instead.
    use sqlx::{Connection, Executor};
    let mut db = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
    db.execute(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
           payload, metadata) \
         SELECT 'Room', 'busy', g, 'MessageSent', '2.0.0', '{}', '{}' \
           FROM generate_series(1, 5000) g; \
         INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
           payload, metadata) \
         SELECT 'Filler', 'f', g, 'Happened', '1.0', '{}', '{}' FROM generate_series(1, 50000) g; \
         ANALYZE events",
    )
    .await
    .unwrap();
    let sql = format!(
        "PREPARE latest AS SELECT position {}",
        cinder::store::LATEST_OF_TYPE
    );
    db.execute(sql.as_str()).await.unwrap();
    for aggregate_type in ["Room", "Nope"] {
        let explain =
            format!("EXPLAIN EXECUTE latest('{aggregate_type}', 9223372036854775807, 50)");
        let lines: Vec<String> = sqlx::query_scalar(&explain)
            .fetch_all(&mut db)
            .await
            .unwrap();
        assert!(!lines.iter().any(|l| l.contains("Sort")), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.contains("events_type_position")),
            "{aggregate_type}: {lines:?}"
        );
    }
}
