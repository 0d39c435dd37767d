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
