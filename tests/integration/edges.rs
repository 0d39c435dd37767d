//! Clean edges (issue 13, findings 5 and 7): text with control characters is refused with a
//! field error before it reaches the log; redirect targets are paths of this site, checked
//! before anything runs; bad ids are 404, never a server error; every answer forbids framing.

use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, TestServer};

const PASSWORD: &str = "test-admin";

async fn server() -> TestServer {
    TestServer::start_with(|c| c.admin_password = Some(PASSWORD.into())).await
}

async fn event_count(server: &TestServer) -> usize {
    let (_, log) = server
        .get_json("/api/events?after=0&limit=1000", None)
        .await;
    log["events"].as_array().unwrap().len()
}

/// POSTs `body` as JSON to `path` (as the admin if `admin`, with `cookie` if given).
async fn post(
    server: &TestServer,
    path: &str,
    body: Value,
    cookie: Option<&str>,
    admin: bool,
) -> (u16, Value) {
    let mut request = http().post(format!("{}{path}", server.url())).json(&body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if admin {
        request = request.basic_auth("admin", Some(PASSWORD));
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn text_with_control_characters_is_refused_by_field_and_nothing_is_appended() {
    let server = server().await;
    let (_, cookie) = page(&server, "/todos", None).await;
    let cookie = Some(cookie.as_str());
    let product = |name: &str| {
        json!({"sku": "CTRL", "name": name, "brand": "B", "color": "c", "price_usd": 1,
            "image_url": "", "order": 0, "items": [{"sku": "CTRL9", "size": "9", "available": 1}]})
    };
    let bookmark = |title: &str, description: &str| json!({"bookmark": {"title": title, "url": "https://example.com/", "description": description}});
    for (path, body, field, as_cookie, admin) in [
        (
            "/api/chat/rooms/ctrl/messages",
            json!({"sender": "evil\u{0}", "content": "hi"}),
            "sender",
            None,
            false,
        ),
        (
            "/api/chat/rooms/ctrl/messages",
            json!({"sender": "ada", "content": "nul\u{0}"}),
            "content",
            None,
            false,
        ),
        (
            "/api/chat/rooms/ctrl/messages",
            json!({"sender": "ada", "content": "esc\u{1b}[2J"}),
            "content",
            None,
            false,
        ),
        (
            "/api/bookmarks",
            bookmark("evil\u{0}", ""),
            "title",
            cookie,
            false,
        ),
        (
            "/api/bookmarks",
            bookmark("fine", "bell\u{7}"),
            "description",
            cookie,
            false,
        ),
        (
            "/api/todos",
            json!({"title": "nul\u{0}"}),
            "title",
            cookie,
            false,
        ),
        (
            "/api/drops/products",
            product("Hop\u{0}Man"),
            "name",
            None,
            true,
        ),
    ] {
        let (status, reply) = post(&server, path, body.clone(), as_cookie, admin).await;
        assert_eq!(status, 422, "{path} {body}: {reply}");
        let messages = reply["errors"][field]
            .as_array()
            .unwrap_or_else(|| panic!("{reply}"));
        assert!(
            messages[0].as_str().unwrap().contains("control characters"),
            "{reply}"
        );
    }
    assert_eq!(event_count(&server).await, 0, "nothing reached the log");

    // Line breaks (and tabs) stay fine where a field is multi-line.
    let (status, _) = post(
        &server,
        "/api/chat/rooms/ctrl/messages",
        json!({"sender": "ada", "content": "one\r\n\ttwo"}),
        None,
        false,
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post(
        &server,
        "/api/bookmarks",
        bookmark("fine", "one\r\ntwo"),
        cookie,
        false,
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_bad_redirect_target_is_refused_before_the_bookmark_is_saved() {
    let server = server().await;
    let (html, cookie) = page(&server, "/bookmarks", None).await;
    let csrf = attribute(&html[html.find("name=\"_csrf\"").unwrap()..], "value");
    let add = |back: &'static str| {
        http()
            .post(format!("{}/bookmarks", server.url()))
            .header("cookie", &cookie)
            .form(&[
                ("title", "Ripgrep"),
                ("url", "https://example.com/rg"),
                ("back", back),
                ("_csrf", &csrf),
            ])
            .send()
    };
    for back in [
        "/bookmarks\r\nSet-Cookie: evil=1",
        "/bookmarks\n",
        "//evil.example/bookmarks",
        "https://evil.example/bookmarks",
        "/chat",
    ] {
        let response = add(back).await.unwrap();
        assert_eq!(response.status(), 400, "{back:?}");
        assert!(response.headers().get("location").is_none());
    }
    assert_eq!(event_count(&server).await, 0, "refused before anything ran");
    let response = add("/bookmarks/tags/rust").await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/bookmarks/tags/rust");
    assert_eq!(event_count(&server).await, 1);
}

#[tokio::test]
async fn bad_ids_are_404_never_a_server_error() {
    let server = server().await;
    let admin = |request: reqwest::RequestBuilder| request.basic_auth("admin", Some(PASSWORD));
    let url = |path: &str| format!("{}{path}", server.url());
    for (request, what) in [
        (
            admin(http().post(url("/api/drops/products/a%00b/release"))),
            "release",
        ),
        (
            admin(http().post(url("/api/drops/items/a%00b-9/restock")))
                .json(&json!({"quantity": 1})),
            "restock",
        ),
        (http().get(url("/api/drops/products/a%00b")), "product"),
        (http().get(url("/api/bookmarks/a%00b")), "bookmark"),
        (http().get(url("/api/chat/rooms/a%00b/messages")), "room"),
        (http().get(url("/events/Cart/a%00b")), "explorer"),
        (http().post(url("/api/drops/carts/a%00b/checkout")), "cart"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{what}");
    }
}

#[tokio::test]
async fn every_answer_forbids_framing_and_foreign_scripts() {
    let server = server().await;
    for path in [
        "/chat",
        "/admin",
        "/events",
        "/todos",
        "/api/chat/rooms",
        "/assets/cinder.js",
        "/nowhere",
    ] {
        let response = http()
            .get(format!("{}{path}", server.url()))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
    }
}
