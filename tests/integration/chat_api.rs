//! Chat over HTTP: the JSON API and the plain (no JavaScript) pages.

use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, TestServer};

#[tokio::test]
async fn posting_a_message_returns_its_id_and_position() {
    let server = TestServer::start().await;
    let url = format!("{}/api/chat/rooms/lobby/messages", server.url());
    let created = http()
        .post(&url)
        .json(&json!({"sender": "ada", "content": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.json::<Value>().await.unwrap(),
        json!({"id": 1, "position": 1})
    );
    let second = http()
        .post(&url)
        .json(&json!({"sender": "bob", "content": "hey"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        second.json::<Value>().await.unwrap(),
        json!({"id": 2, "position": 2})
    );

    let messages: Value = http().get(&url).send().await.unwrap().json().await.unwrap();
    let contents: Vec<_> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(contents, vec![json!("hello"), json!("hey")]);
    let older: Value = http()
        .get(format!("{url}?before=2&limit=5"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(older["messages"].as_array().unwrap().len(), 1);
    assert_eq!(older["messages"][0]["id"], 1);

    let rooms: Value = http()
        .get(format!("{}/api/chat/rooms", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rooms["rooms"][0]["name"], "lobby");
    assert_eq!(rooms["rooms"][0]["message_count"], 2);
}

#[tokio::test]
async fn broken_rules_are_422_with_the_field_and_message() {
    let server = TestServer::start().await;
    let url = format!("{}/api/chat/rooms/lobby/messages", server.url());
    let cases = [
        (
            json!({"sender": "ada", "content": "   "}),
            json!({"errors": {"content": ["a message can't be empty"]}}),
        ),
        (
            json!({"sender": "", "content": "hi"}),
            json!({"errors": {"sender": ["your name must be 1–32 characters"]}}),
        ),
        (
            json!({"sender": "ada", "content": "x".repeat(2001)}),
            json!({"errors": {"content": ["a message can be at most 2000 characters"]}}),
        ),
        // Every bad field, not only the first.
        (
            json!({"sender": "", "content": " "}),
            json!({"errors": {
                "sender": ["your name must be 1–32 characters"],
                "content": ["a message can't be empty"],
            }}),
        ),
    ];
    for (body, expected) in cases {
        let response = http().post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 422);
        assert_eq!(response.json::<Value>().await.unwrap(), expected);
    }
    for n in 0..10 {
        let ok = http()
            .post(&url)
            .json(&json!({"sender": "ada", "content": format!("m{n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 201);
    }
    let limited = http()
        .post(&url)
        .json(&json!({"sender": "ada", "content": "one more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 422);
    assert_eq!(
        limited.json::<Value>().await.unwrap(),
        json!({"errors": {"content": ["slow down: at most 10 messages a minute in one room"]}})
    );
}

#[tokio::test]
async fn bad_requests_and_bad_ids_are_refused_clearly() {
    let server = TestServer::start().await;
    let base = server.url();
    let malformed = http()
        .post(format!("{base}/api/chat/rooms/lobby/messages"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert!(malformed.json::<Value>().await.unwrap()["error"].is_string());
    let bad_room = http()
        .post(format!("{base}/api/chat/rooms/Bad_Room/messages"))
        .json(&json!({"sender": "a", "content": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_room.status(), 404);
    let unknown = http()
        .get(format!("{base}/api/chat/rooms/nobody-here/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    http()
        .post(format!("{base}/api/chat/rooms/lobby/messages"))
        .json(&json!({"sender": "a", "content": "b"}))
        .send()
        .await
        .unwrap();
    for query in ["limit=0", "limit=abc", "limit=501", "before=-1"] {
        let response = http()
            .get(format!("{base}/api/chat/rooms/lobby/messages?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
    }
}

#[tokio::test]
async fn pages_render_escaped_text_and_are_never_cached() {
    let server = TestServer::start().await;
    http()
        .post(format!("{}/api/chat/rooms/lobby/messages", server.url()))
        .json(&json!({"sender": "<i>mallory</i>", "content": "<script>alert(1)</script>"}))
        .send()
        .await
        .unwrap();
    let response = http()
        .get(format!("{}/chat/lobby", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;i&gt;mallory&lt;/i&gt;"));
    assert!(!html.contains("<script>alert"));
    let lobby = http()
        .get(format!("{}/chat", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(lobby.contains("/chat/lobby"), "the lobby lists the room");
    assert!(lobby.contains("1 message"));
}

#[tokio::test]
async fn forms_work_without_javascript_and_need_their_csrf_token() {
    let server = TestServer::start().await;
    let (html, cookie) = page(&server, "/chat/plain", None).await;
    let csrf = attribute(&html, "name=\"_csrf\" value");
    let forged = http()
        .post(format!("{}/chat/plain/name", server.url()))
        .header("cookie", &cookie)
        .form(&[("name", "Eve"), ("_csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let named = http()
        .post(format!("{}/chat/plain/name", server.url()))
        .header("cookie", &cookie)
        .form(&[("name", "Ada"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 303);
    assert_eq!(named.headers()["location"], "/chat/plain");
    let cookie = named.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let sent = http()
        .post(format!("{}/chat/plain/messages", server.url()))
        .header("cookie", &cookie)
        .form(&[("content", "no js needed"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 303);
    let (html, _) = page(&server, "/chat/plain", Some(&cookie)).await;
    assert!(html.contains("no js needed"));
    let empty = http()
        .post(format!("{}/chat/plain/messages", server.url()))
        .header("cookie", &cookie)
        .form(&[("content", " "), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);
    assert!(empty
        .text()
        .await
        .unwrap()
        .contains("a message can't be empty"));
}

#[tokio::test]
async fn older_messages_page_without_javascript() {
    let server = TestServer::start().await;
    let url = format!("{}/api/chat/rooms/long/messages", server.url());
    for n in 1..=105 {
        let sent = http()
            .post(&url)
            .json(&json!({"sender": format!("s{n}"), "content": format!("message number {n}.")}))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 201);
    }
    let (latest, _) = page(&server, "/chat/long", None).await;
    assert!(latest.contains("message number 105."));
    assert!(latest.contains("message number 6."));
    assert!(
        !latest.contains("message number 5."),
        "the room shows the last 100"
    );
    assert!(
        latest.contains("name=\"before\" value=\"6\""),
        "and offers older ones"
    );
    let (older, _) = page(&server, "/chat/long?before=6", None).await;
    assert!(older.contains("message number 1."));
    assert!(older.contains("message number 5."));
    assert!(!older.contains("message number 6."));
}

/// One of the largest messages: 2,000 characters, half of them ones that HTML escapes to six
/// bytes and JSON to two, half of four bytes each.
fn largest_content(n: usize) -> String {
    format!("{n:04}{}{}", "\"".repeat(998), "😀".repeat(998))
}

#[tokio::test]
async fn a_history_of_the_largest_messages_is_paged_within_the_reply_budget() {
    let server = TestServer::start().await;
    let url = format!("{}/api/chat/rooms/big/messages", server.url());
    for n in 1..=100 {
        let sent = http()
            .post(&url)
            .json(&json!({"sender": format!("s{n}"), "content": largest_content(n)}))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 201);
    }
    // The API: pages within the budget, oldest first in each, that walk back to the first.
    let mut ids = Vec::new();
    let mut path = "/api/chat/rooms/big/messages?limit=500".to_owned();
    let mut pages = 0;
    loop {
        let body: Value = serde_json::from_str(&server.get_within_budget(&path).await).unwrap();
        let page: Vec<u64> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        assert!(page.windows(2).all(|w| w[0] < w[1]), "oldest first");
        ids.splice(0..0, page);
        pages += 1;
        match body["next_before"].as_u64() {
            Some(before) => {
                assert_eq!(Some(&before), ids.first());
                path = format!("/api/chat/rooms/big/messages?limit=500&before={before}");
            }
            None => break,
        }
    }
    assert!(
        pages > 1,
        "100 of the largest messages do not fit in one reply"
    );
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());

    // The page: the latest that fit, and "load older" from the oldest shown.
    let latest = server.get_within_budget("/chat/big").await;
    assert!(latest.contains("0100"));
    let oldest = attribute(&latest, "name=\"before\" value");
    let older = server
        .get_within_budget(&format!("/chat/big?before={oldest}"))
        .await;
    assert!(older.contains(&format!("{:04}", oldest.parse::<usize>().unwrap() - 1)));

    // The live view: its join reply and each "load older" reply are within the budget too.
    let (html, _) = page(&server, "/chat/big", None).await;
    let token = attribute(&html, "data-cinder-token");
    let mut client = crate::support::Client::connect(&server.ws_url()).await;
    let (join_ref, joined) = client.join("lv:/chat/big", json!({"token": token})).await;
    assert!(joined.to_string().len() <= crate::support::MAX_REPLY_BYTES);
    let event = json!({"type": "click", "event": "load_older", "value": {"value": "101"}});
    let asked = client
        .send(Some(&join_ref), "lv:/chat/big", "event", event)
        .await;
    let reply = client.reply_to(&asked).await;
    assert_eq!(reply["status"], "ok");
    assert!(reply.to_string().len() <= crate::support::MAX_REPLY_BYTES);
}

#[tokio::test]
async fn the_room_directory_is_paged_most_recently_active_first() {
    let server = TestServer::start().await;
    for n in 0..120 {
        let sent = http()
            .post(format!(
                "{}/api/chat/rooms/room-{n:03}/messages",
                server.url()
            ))
            .json(&json!({"sender": "ada", "content": format!("hello {n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 201);
    }
    let (_, first) = server.get_json("/api/chat/rooms", None).await;
    let names = |page: &Value| -> Vec<String> {
        page["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first).len(), 100);
    assert_eq!(
        names(&first)[0],
        "room-119",
        "the most recently active first"
    );
    let cursor = first["next_before"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (_, second) = server
        .get_json(&format!("/api/chat/rooms?before={cursor}"), None)
        .await;
    assert_eq!(names(&second).len(), 20);
    assert_eq!(names(&second)[19], "room-000");
    assert!(second["next_before"].is_null());
    let (bad, _) = server.get_json("/api/chat/rooms?before=nope", None).await;
    assert_eq!(bad, 400);

    // The lobby without JavaScript: a link to the less recently active rooms.
    let (lobby, _) = page(&server, "/chat", None).await;
    assert!(lobby.contains("room-119") && !lobby.contains("room-019"));
    let at = lobby
        .find("href=\"/chat?before=")
        .expect("a link to older rooms")
        + 6;
    let href = &lobby[at..at + lobby[at..].find('"').unwrap()];
    let (older, _) = page(&server, href, None).await;
    assert!(older.contains("room-019") && !older.contains("room-119"));
}
