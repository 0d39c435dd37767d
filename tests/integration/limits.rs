//! Limits on HTTP bodies and on sockets per client IP: a breach is refused clearly and touches
//! no one else.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite;

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

#[tokio::test]
async fn limits_refuse_bodies_over_the_configured_size_with_413() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let url = format!("{}/api/chat/rooms/lobby/messages", server.url());

    let small = http()
        .post(&url)
        .json(&json!({"sender": "ada", "content": "hello"}))
        .send()
        .await
        .unwrap();
    assert!(small.status().is_success(), "{}", small.status());

    // A declared length over the limit is refused before the body is read.
    let big = http()
        .post(&url)
        .json(&json!({"sender": "ada", "content": "x".repeat(10_000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    assert!(big.text().await.unwrap().contains("too large"));

    // A chunked body (no declared length) is cut off when read.
    let mut tcp = tokio::net::TcpStream::connect(server.server.addr)
        .await
        .unwrap();
    let chunk = format!(
        "{{\"sender\":\"ada\",\"content\":\"{}\"}}",
        "y".repeat(10_000)
    );
    let request = format!(
        "POST /api/chat/rooms/lobby/messages HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        server.server.addr,
        chunk.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Nothing was stored, and everyone else is served as before.
    let messages: serde_json::Value = http().get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(messages["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn limits_the_default_body_limit_is_one_mebibyte() {
    let server = TestServer::start().await;
    let url = format!("{}/api/chat/rooms/lobby/messages", server.url());
    let just_over = http()
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(just_over.status(), 413);
    let under = http()
        .post(&url)
        .json(&json!({"sender": "ada", "content": "x".repeat(1000)}))
        .send()
        .await
        .unwrap();
    assert_ne!(under.status(), 413);
}

#[tokio::test]
async fn limits_refuse_sockets_over_the_per_ip_limit_with_429_and_free_slots_on_close() {
    let server = TestServer::start_with(|c| c.max_sockets_per_ip = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Client::connect(&server.ws_url()).await);
    }
    let refused = tokio_tungstenite::connect_async(server.ws_url()).await;
    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("expected 429, got {other:?}"),
    }

    // The open sockets are untouched.
    for client in &mut open {
        let msg_ref = client.send(None, "phoenix", "heartbeat", json!({})).await;
        assert_eq!(client.reply_to(&msg_ref).await["status"], "ok");
    }

    // Closing one frees its slot.
    let mut closing = open.pop().unwrap();
    closing.ws.close(None).await.unwrap();
    let _ = closing.closed().await;
    let ip = server.server.addr.ip();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.server.state.socket_slots.count(ip) > 2 {
        assert!(tokio::time::Instant::now() < deadline, "slot not freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut again = Client::connect(&server.ws_url()).await;
    let (_, reply) = again.join("chat:lobby", json!({})).await;
    assert_eq!(reply["status"], "ok");
    // And the limit still holds.
    assert!(tokio_tungstenite::connect_async(server.ws_url())
        .await
        .is_err());
}

#[tokio::test]
async fn limits_dropped_connections_free_their_slots() {
    let server = TestServer::start_with(|c| c.max_sockets_per_ip = 2).await;
    for _ in 0..5 {
        let a = Client::connect(&server.ws_url()).await;
        let b = Client::connect(&server.ws_url()).await;
        drop(a);
        drop(b);
        let ip = server.server.addr.ip();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while server.server.state.socket_slots.count(ip) > 0 {
            assert!(tokio::time::Instant::now() < deadline, "slots not freed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sets the display name `name` on `server` through the plain form; returns the session cookie.
async fn named_visitor(server: &TestServer, name: &str) -> String {
    let (html, cookie) = page(server, "/chat/lobby", None).await;
    let csrf = attribute(&html, "name=\"_csrf\" value");
    let named = http()
        .post(format!("{}/chat/lobby/name", server.url()))
        .header("cookie", &cookie)
        .form(&[("name", name), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 303);
    named.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn session_cookies_of_the_previous_key_are_honoured_during_the_grace_only() {
    let a = TestServer::start_with(|c| c.secret_key_base = Some("key A".into())).await;
    let cookie = named_visitor(&a, "Ada").await;
    let (html, _) = page(&a, "/chat/lobby", Some(&cookie)).await;
    assert!(html.contains("Posting as <strong>Ada</strong>"), "{html}");

    // Rotated to B with A as the previous key: the visitor keeps their name, and their cookie
    // is set again, signed with B.
    let rotated = TestServer::start_with(|c| {
        c.secret_key_base = Some("key B".into());
        c.secret_key_base_previous = Some("key A".into());
    })
    .await;
    let response = http()
        .get(format!("{}/chat/lobby", rotated.url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let resigned = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(resigned, cookie);
    let html = response.text().await.unwrap();
    assert!(html.contains("Posting as <strong>Ada</strong>"), "{html}");

    // A node with only key B, or whose grace is zero, gives a fresh session instead.
    let b_only = TestServer::start_with(|c| c.secret_key_base = Some("key B".into())).await;
    let no_grace = TestServer::start_with(|c| {
        c.secret_key_base = Some("key B".into());
        c.secret_key_base_previous = Some("key A".into());
        c.previous_key_grace = Duration::ZERO;
    })
    .await;
    for server in [&b_only, &no_grace] {
        let (html, fresh) = page(server, "/chat/lobby", Some(&cookie)).await;
        assert_ne!(fresh, cookie, "a fresh session cookie is set");
        assert!(!html.contains("Ada"));
        assert!(html.contains("Pick a display name"));
        // The re-signed cookie (key B) works on the node with only B.
        let (html, _) = page(&b_only, "/chat/lobby", Some(&resigned)).await;
        assert!(html.contains("Posting as <strong>Ada</strong>"));
    }

    // A tampered cookie is a fresh session too.
    let mut tampered = resigned.clone();
    tampered.insert(tampered.len() - 3, 'x');
    let (html, fresh) = page(&b_only, "/chat/lobby", Some(&tampered)).await;
    assert_ne!(fresh, tampered);
    assert!(html.contains("Pick a display name"));
}

#[tokio::test]
async fn session_admin_view_joins_with_forged_or_tampered_tokens_are_refused() {
    let server = TestServer::start_with(|c| c.admin_password = Some("test-admin".into())).await;
    // A shopper's page token is for its own path, not the admin's.
    let (html, _) = page(&server, "/drops", None).await;
    let shopper = attribute(&html, "data-cinder-token");
    // The admin's own token, tampered with.
    let admin_page = http()
        .get(format!("{}/admin", server.url()))
        .basic_auth("admin", Some("test-admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin_page.status(), 200);
    let admin = attribute(&admin_page.text().await.unwrap(), "data-cinder-token");
    let mut tampered = admin.clone();
    tampered.insert(5, 'x');
    // Signed with another key, claiming admin.
    let forged = cinder::web::session::Signer::new("not the key").sign(
        "lv",
        &json!({"session": {"id": "0"}, "path": "/admin", "admin": true}),
    );
    // Signed with the right key but not by an admin page.
    let unprivileged = server.server.state.signer.sign(
        "lv",
        &json!({"session": {"id": "0"}, "path": "/admin", "admin": false}),
    );

    let mut client = Client::connect(&server.ws_url()).await;
    for (token, expected) in [
        ("", "invalid token"),
        ("garbage", "invalid token"),
        (shopper.as_str(), "invalid token"),
        (tampered.as_str(), "invalid token"),
        (forged.as_str(), "invalid token"),
        (unprivileged.as_str(), "forbidden"),
    ] {
        let (_, reply) = client.join("lv:/admin", json!({"token": token})).await;
        assert_eq!(reply["status"], "error", "{token}: {reply}");
        assert_eq!(reply["response"]["reason"], expected, "{token}: {reply}");
    }
    // The connection lives on, and the real token still joins.
    let (_, reply) = client.join("lv:/admin", json!({"token": admin})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
}
