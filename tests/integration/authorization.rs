//! Authorisation (issue 9, parts 4–6): every plain form post needs its session's CSRF token;
//! live view tokens cannot be forged, tampered with or used once expired, on a join or as the
//! socket's connect token (403 before the upgrade); a session cookie that is tampered with or
//! expired gives a fresh session; another visitor's cart and todo list cannot be reached with the
//! ids the public log shows; and API writes from a foreign origin are refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cinder::web::session::{Signer, COOKIE};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

const PASSWORD: &str = "test-admin";
const DAY: i64 = 24 * 3600;

async fn server() -> TestServer {
    TestServer::start_with(|c| c.admin_password = Some(PASSWORD.into())).await
}

/// How many events the public log holds.
async fn event_count(server: &TestServer) -> usize {
    let (_, log) = server
        .get_json("/api/events?after=0&limit=1000", None)
        .await;
    log["events"].as_array().unwrap().len()
}

/// The CSRF token in a page's forms.
fn csrf(html: &str) -> String {
    attribute(
        &html[html.find("name=\"_csrf\"").expect("a form with _csrf")..],
        "value",
    )
}

/// The first `name=value` of a `Set-Cookie` header, if the response sets one.
fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
}

/// The session (`{"id", "name"?}`) a `cinder_session=<data>.<mac>` cookie carries.
fn session_of(cookie: &str) -> Value {
    let value = cookie.split_once('=').unwrap().1;
    let data = value.split_once('.').unwrap().0;
    let envelope: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(data).unwrap()).unwrap();
    envelope["value"].clone()
}

/// `token` (`<data>.<mac>`, or a cookie `name=<data>.<mac>`) with its claims edited by `edit`
/// and its signature kept.
fn tampered(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let (name, token) = match token.split_once('=') {
        Some((name, value)) => (format!("{name}="), value),
        None => (String::new(), token),
    };
    let (data, mac) = token.split_once('.').unwrap();
    let mut envelope: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(data).unwrap()).unwrap();
    edit(&mut envelope["value"]);
    let data = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&envelope).unwrap());
    format!("{name}{data}.{mac}")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Creates product `sku` with one size, 9, of 50 units; returns the item id.
async fn product(server: &TestServer, sku: &str, release: bool) -> String {
    let created = http()
        .post(format!("{}/api/drops/products", server.url()))
        .basic_auth("admin", Some(PASSWORD))
        .json(&json!({"sku": sku, "name": "Shoe", "brand": "B", "color": "c", "price_usd": 100,
            "image_url": "", "order": 0, "items": [{"sku": format!("{sku}9"), "size": "9", "available": 50}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    if release {
        let released = http()
            .post(format!("{}/api/drops/products/{sku}/release", server.url()))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(released.status(), 200);
    }
    format!("{sku}-9")
}

/// Posts a plain form with `cookie` (and the admin's Basic credentials if `admin`).
async fn post_form(
    server: &TestServer,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
    admin: bool,
) -> reqwest::Response {
    let mut request = http()
        .post(format!("{}{path}", server.url()))
        .header("cookie", cookie)
        .form(form);
    if admin {
        request = request.basic_auth("admin", Some(PASSWORD));
    }
    request.send().await.unwrap()
}

/// Sends an API request with `cookie` and, if given, an `Origin`; returns status and body.
async fn api(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = http().request(method, format!("{}{path}", server.url()));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The titles of the todos `cookie`'s session sees.
async fn todo_titles(server: &TestServer, cookie: &str) -> Vec<String> {
    let (status, list) = api(
        server,
        reqwest::Method::GET,
        "/api/todos",
        Some(cookie),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    list["todos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

/// `fields` and the CSRF token `token`.
fn with<'a>(fields: &[(&'a str, &'a str)], token: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut form = fields.to_vec();
    form.push(("_csrf", token));
    form
}

/// A form post route: path, fields, whether it needs the admin's Basic credentials, and whether
/// a valid post appends events.
type Route<'a> = (&'a str, &'a [(&'a str, &'a str)], bool, bool);

#[tokio::test]
async fn authorization_every_form_post_needs_its_sessions_csrf_token() {
    let server = server().await;
    let unreleased = product(&server, "LOCK", false).await;
    let item = product(&server, "SHOE", true).await;
    let other_item = product(&server, "BOOT", true).await;
    let (status, bookmark) = api(
        &server,
        reqwest::Method::POST,
        "/api/bookmarks",
        None,
        None,
        Some(r#"{"bookmark": {"title": "A link", "url": "https://example.com/a"}}"#),
    )
    .await;
    assert_eq!(status, 201);
    let bookmark = bookmark["bookmark"]["data"]["id"].as_str().unwrap();

    // The victim: a named chatter with a todo and a shoe in the cart, so every form would
    // change something of theirs.
    let (html, victim) = page(&server, "/todos", None).await;
    let token = csrf(&html);
    let named = post_form(
        &server,
        &victim,
        "/chat/lobby/name",
        &[("name", "Ada"), ("_csrf", &token)],
        false,
    )
    .await;
    assert_eq!(named.status(), 303);
    let victim = set_cookie(&named).unwrap();
    let added = post_form(
        &server,
        &victim,
        "/todos",
        &[("title", "one"), ("_csrf", &token)],
        false,
    )
    .await;
    assert_eq!(added.status(), 303);
    let carted = post_form(
        &server,
        &victim,
        "/drops/cart",
        &[("item_id", &item), ("_csrf", &token)],
        false,
    )
    .await;
    assert_eq!(carted.status(), 303);
    // Another visitor's token, as a page of theirs carries it.
    let (html, _) = page(&server, "/todos", None).await;
    let others = csrf(&html);

    // Every plain form post route, with the fields that make it do something. The order is
    // the order the valid posts run in (the purchase last: nothing may land after it).
    let comments = format!("/bookmarks/{bookmark}/comments");
    let routes: &[Route] = &[
        ("/chat/lobby/name", &[("name", "Grace")], false, false),
        ("/chat/lobby/messages", &[("content", "hello")], false, true),
        (
            "/bookmarks",
            &[("title", "Mine"), ("url", "https://example.com/m")],
            false,
            true,
        ),
        (
            &comments,
            &[("author", "Ada"), ("content", "nice")],
            false,
            true,
        ),
        (
            "/todos",
            &[("title", "two"), ("back", "/todos")],
            false,
            true,
        ),
        ("/todos/toggle-all", &[("back", "/todos")], false, true),
        ("/todos/1/toggle", &[("back", "/todos")], false, true),
        ("/todos/1/edit", &[("title", "uno")], false, true),
        ("/todos/clear-completed", &[], false, true),
        ("/todos/1/delete", &[], false, true),
        ("/drops/cart", &[("item_id", &other_item)], false, true),
        (
            "/drops/cart/remove",
            &[("item_id", &other_item)],
            false,
            true,
        ),
        ("/admin/release", &[("product_id", "LOCK")], true, true),
        (
            "/admin/restock",
            &[("item_id", &unreleased), ("quantity", "5")],
            true,
            true,
        ),
        ("/drops/checkout", &[], false, true),
    ];
    for (path, fields, admin, appends) in routes {
        let before = event_count(&server).await;
        for (case, form) in [
            ("no token", fields.to_vec()),
            ("an empty token", with(fields, "")),
            ("a garbled token", with(fields, &token[1..])),
            ("another session's token", with(fields, &others)),
        ] {
            let refused = post_form(&server, &victim, path, &form, *admin).await;
            assert_eq!(refused.status(), 403, "{path} with {case}");
            assert_eq!(
                set_cookie(&refused),
                None,
                "{path} with {case}: no new cookie"
            );
            assert!(
                refused
                    .text()
                    .await
                    .unwrap()
                    .contains("This form has expired"),
                "{path} with {case}"
            );
            assert_eq!(
                event_count(&server).await,
                before,
                "{path} with {case}: nothing appended"
            );
        }
        if *admin {
            let anonymous = post_form(&server, &victim, path, &with(fields, &token), false).await;
            assert_eq!(anonymous.status(), 401, "{path} without the admin password");
            assert_eq!(event_count(&server).await, before);
        }
        // The session's own token is accepted.
        let accepted = post_form(&server, &victim, path, &with(fields, &token), *admin).await;
        assert_eq!(accepted.status(), 303, "{path} with the session's token");
        if *appends {
            assert!(event_count(&server).await > before, "{path} did something");
        } else {
            let renamed = set_cookie(&accepted).expect("the name is kept in the cookie");
            assert_eq!(session_of(&renamed)["name"], "Grace");
        }
    }
    assert_eq!(todo_titles(&server, &victim).await, Vec::<String>::new());
}

#[tokio::test]
async fn authorization_live_view_tokens_cannot_be_forged_tampered_or_used_expired() {
    let server = server().await;
    let (html, alice) = page(&server, "/todos", None).await;
    let alice_token = attribute(&html, "data-cinder-token");
    api(
        &server,
        reqwest::Method::POST,
        "/api/todos",
        Some(&alice),
        None,
        Some(r#"{"title": "alice's secret"}"#),
    )
    .await;
    let (html, bob) = page(&server, "/todos", None).await;
    let bob_token = attribute(&html, "data-cinder-token");
    let alice_session = session_of(&alice);
    let bob_session = session_of(&bob);
    let signer = &server.server.state.signer;
    let claims = |session: &Value, path: &str, admin: bool| json!({"session": session, "path": path, "admin": admin});

    let mut client = Client::connect(&server.ws_url()).await;
    for (topic, token, expected, what) in [
        (
            "lv:/todos",
            tampered(&bob_token, |v| v["session"] = alice_session.clone()),
            "invalid token",
            "bob's token claiming alice's session",
        ),
        (
            "lv:/todos/active",
            tampered(&alice_token, |v| v["path"] = json!("/todos/active")),
            "invalid token",
            "alice's token moved to another path",
        ),
        (
            "lv:/admin",
            tampered(&alice_token, |v| {
                v["path"] = json!("/admin");
                v["admin"] = json!(true);
            }),
            "invalid token",
            "alice's token claiming admin",
        ),
        (
            "lv:/todos",
            Signer::new("a guessed key").sign("lv", &claims(&alice_session, "/todos", false)),
            "invalid token",
            "a token signed with another key",
        ),
        (
            "lv:/todos",
            signer.sign(COOKIE, &claims(&alice_session, "/todos", false)),
            "invalid token",
            "a token signed for another purpose",
        ),
        (
            "lv:/todos",
            signer.sign_at(
                "lv",
                &claims(&alice_session, "/todos", false),
                now() - DAY - 60,
            ),
            "expired token",
            "alice's own token, a day old",
        ),
        (
            "lv:/todos",
            signer.sign_at("lv", &claims(&alice_session, "/todos", false), now() + 3600),
            "expired token",
            "a token signed an hour from now",
        ),
        (
            "lv:/admin",
            signer.sign_at(
                "lv",
                &claims(&bob_session, "/admin", true),
                now() - DAY - 60,
            ),
            "expired token",
            "an admin token, a day old",
        ),
    ] {
        let (_, reply) = client.join(topic, json!({"token": token})).await;
        assert_eq!(reply["status"], "error", "{what}: {reply}");
        assert_eq!(reply["response"]["reason"], expected, "{what}: {reply}");
    }
    // The connection lives on; each page's own token joins its own list, and only that.
    let (_, reply) = client.join("lv:/todos", json!({"token": bob_token})).await;
    assert_eq!(reply["status"], "ok");
    assert!(!reply.to_string().contains("alice's secret"));
    let (_, reply) = client
        .join("lv:/todos", json!({"token": alice_token}))
        .await;
    assert!(reply.to_string().contains("alice's secret"));
}

/// Opens a socket with `query` appended to the URL; `Err` is the refusal's status and body.
async fn connect(server: &TestServer, query: &str) -> Result<Client, (u16, String)> {
    let url = format!("{}&{query}", server.ws_url());
    match tokio_tungstenite::connect_async(url.into_client_request().unwrap()).await {
        Ok((ws, _)) => Ok(Client::from_ws(ws)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        )),
        Err(other) => panic!("connect: {other}"),
    }
}

#[tokio::test]
async fn authorization_admin_sockets_with_a_bad_connect_token_get_403() {
    let server = server().await;
    let admin_page = http()
        .get(format!("{}/admin", server.url()))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(admin_page.status(), 200);
    let admin = attribute(&admin_page.text().await.unwrap(), "data-cinder-token");
    let (html, shopper_cookie) = page(&server, "/drops", None).await;
    let shopper = attribute(&html, "data-cinder-token");
    let signer = &server.server.state.signer;
    let expired = signer.sign_at(
        "lv",
        &json!({"session": session_of(&shopper_cookie), "path": "/admin", "admin": true}),
        now() - DAY - 60,
    );
    let mut garbled = admin.clone();
    garbled.insert(5, 'x');
    let promoted = tampered(&shopper, |v| {
        v["path"] = json!("/admin");
        v["admin"] = json!(true);
    });
    let forged = Signer::new("a guessed key").sign(
        "lv",
        &json!({"session": {"id": "0"}, "path": "/admin", "admin": true}),
    );

    for (token, expected) in [
        (garbled.as_str(), "invalid token"),
        (forged.as_str(), "invalid token"),
        (promoted.as_str(), "invalid token"),
        ("", "invalid token"),
        (expired.as_str(), "expired token"),
    ] {
        let refused = connect(&server, &format!("token={token}")).await;
        assert_eq!(
            refused.err(),
            Some((403, expected.to_owned())),
            "connect token {token:?}"
        );
    }

    // The admin page's own token opens an admin socket: `lv:/admin` joins with no token of its
    // own (the connect token stands in), as it does with the token in the join.
    let mut socket = connect(&server, &format!("token={admin}"))
        .await
        .expect("the admin's token connects");
    let (_, reply) = socket.join("lv:/admin", json!({})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    // A shopper's valid token connects, but it is not the admin's.
    let mut socket = connect(&server, &format!("token={shopper}"))
        .await
        .expect("a shopper's token connects");
    let (_, reply) = socket.join("lv:/admin", json!({})).await;
    assert_eq!(reply["response"]["reason"], "invalid token");
    let (_, reply) = socket.join("lv:/drops", json!({})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    // Without a connect token, `lv:/admin` needs the admin's token in the join.
    let mut socket = Client::connect(&server.ws_url()).await;
    let (_, reply) = socket.join("lv:/admin", json!({})).await;
    assert_eq!(reply["response"]["reason"], "invalid token");
    let (_, reply) = socket.join("lv:/admin", json!({"token": admin})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
}

#[tokio::test]
async fn authorization_an_expired_or_tampered_session_cookie_is_a_fresh_session() {
    let server = server().await;
    // Alice, named, with a todo.
    let (html, cookie) = page(&server, "/chat/lobby", None).await;
    let named = post_form(
        &server,
        &cookie,
        "/chat/lobby/name",
        &[("name", "Alice"), ("_csrf", &csrf(&html))],
        false,
    )
    .await;
    let alice = set_cookie(&named).unwrap();
    api(
        &server,
        reqwest::Method::POST,
        "/api/todos",
        Some(&alice),
        None,
        Some(r#"{"title": "alice's secret"}"#),
    )
    .await;
    let session = session_of(&alice);
    let (_, bob) = page(&server, "/todos", None).await;
    let signer = &server.server.state.signer;
    let cookie_signed_at = |at: i64| format!("{COOKIE}={}", signer.sign_at(COOKIE, &session, at));
    let year = 365 * DAY;

    // Minted now by the server's own signer, the cookie is Alice's: the way of minting is sound.
    let minted = cookie_signed_at(now());
    assert_eq!(todo_titles(&server, &minted).await, vec!["alice's secret"]);

    for (cookie, what) in [
        (
            cookie_signed_at(now() - year - DAY),
            "signed over a year ago",
        ),
        (cookie_signed_at(now() + 3600), "signed an hour from now"),
        (
            format!(
                "{COOKIE}={}",
                Signer::new("a guessed key").sign(COOKIE, &session)
            ),
            "signed with another key",
        ),
        (
            tampered(&bob, |v| *v = session.clone()),
            "bob's cookie claiming alice's session",
        ),
        (format!("{COOKIE}=garbage"), "garbage"),
    ] {
        for path in ["/chat/lobby", "/api/todos"] {
            let response = http()
                .get(format!("{}{path}", server.url()))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{what}");
            let fresh = set_cookie(&response).expect("a fresh session cookie is set");
            assert_ne!(fresh, cookie, "{what}");
            let fresh_session = session_of(&fresh);
            assert_ne!(fresh_session["id"], session["id"], "{what}: a new identity");
            assert_eq!(fresh_session.get("name"), None, "{what}");
            let body = response.text().await.unwrap();
            assert!(!body.contains("Alice"), "{what}: {path} shows no name");
            assert!(
                !body.contains("alice's secret"),
                "{what}: {path} shows no todo"
            );
        }
    }
    // Alice's real cookie still works.
    assert_eq!(todo_titles(&server, &alice).await, vec!["alice's secret"]);
}

#[tokio::test]
async fn authorization_carts_and_todo_lists_cannot_be_reached_by_their_public_ids() {
    let server = server().await;
    let item = product(&server, "SHOE", true).await;
    // Alice: a shoe in her cart and a todo.
    let (html, alice) = page(&server, "/drops", None).await;
    let carted = post_form(
        &server,
        &alice,
        "/drops/cart",
        &[("item_id", &item), ("_csrf", &csrf(&html))],
        false,
    )
    .await;
    assert_eq!(carted.status(), 303);
    api(
        &server,
        reqwest::Method::POST,
        "/api/todos",
        Some(&alice),
        None,
        Some(r#"{"title": "alice's secret"}"#),
    )
    .await;
    // The ids anyone can read in the public log.
    let log: Value = http()
        .get(format!("{}/api/events?after=0&limit=1000", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!log
        .to_string()
        .contains(session_of(&alice)["id"].as_str().unwrap()));
    let id_of = |aggregate_type: &str| {
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["aggregate_type"] == aggregate_type)
            .unwrap()["aggregate_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cart = id_of("Cart");
    let list = id_of("TodoList");
    let history = |aggregate_type: &'static str, id: String| {
        let server = &server;
        async move {
            let (_, events) = api(
                server,
                reqwest::Method::GET,
                &format!("/api/aggregates/{aggregate_type}/{id}/events"),
                None,
                None,
                None,
            )
            .await;
            events["events"].as_array().unwrap().len()
        }
    };
    let cart_events = history("Cart", cart.clone()).await;
    let list_events = history("TodoList", list.clone()).await;

    // Bob, with a session of his own and those ids.
    let (html, bob) = page(&server, "/drops", None).await;
    let bob_csrf = csrf(&html);
    let bob_token = attribute(&html, "data-cinder-token");
    // On the socket: no topic addresses a cart or a list; a live view only ever mounts the
    // session its token carries, and Bob cannot sign one for a session he picks.
    let mut socket = Client::connect(&server.ws_url()).await;
    for topic in [
        format!("cart:{cart}"),
        format!("carts:{cart}"),
        format!("todos:{list}"),
        format!("todo_list:{list}"),
    ] {
        let (_, reply) = socket.join(&topic, json!({})).await;
        assert_eq!(reply["response"]["reason"], "unmatched topic", "{topic}");
    }
    for path in [format!("/drops/cart/{cart}"), format!("/todos/{list}")] {
        let (_, reply) = socket
            .join(&format!("lv:{path}"), json!({"token": bob_token}))
            .await;
        assert_eq!(reply["response"]["reason"], "invalid token", "{path}");
    }
    for guessed_session in [&cart, &list] {
        let forged = Signer::new("a guessed key").sign(
            "lv",
            &json!({"session": {"id": guessed_session}, "path": "/drops"}),
        );
        let (_, reply) = socket.join("lv:/drops", json!({"token": forged})).await;
        assert_eq!(reply["response"]["reason"], "invalid token");
    }
    let (_, reply) = socket.join("lv:/drops", json!({"token": bob_token})).await;
    assert_eq!(reply["status"], "ok");
    assert!(
        !reply.to_string().contains(&format!("cart-item-{item}")),
        "Bob's page shows his own (empty) cart"
    );

    // Over HTTP: the API's cart ids live in a namespace of their own, so the log's id reaches
    // a different, empty cart; the todo API and forms act on the cookie's list only.
    let (status, body) = api(
        &server,
        reqwest::Method::POST,
        &format!("/api/drops/carts/{cart}/checkout"),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("Your cart is empty."))
    );
    let (status, _) = api(
        &server,
        reqwest::Method::DELETE,
        &format!("/api/drops/carts/{cart}/items/{item}"),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    for (method, path, body) in [
        (
            reqwest::Method::PATCH,
            "/api/todos/1",
            Some(r#"{"completed": true}"#),
        ),
        (reqwest::Method::DELETE, "/api/todos/1", None),
    ] {
        let (status, _) = api(&server, method, path, Some(&bob), None, body).await;
        assert_eq!(status, 404, "{path}: Bob's list has no todo 1");
    }
    let deleted = post_form(
        &server,
        &bob,
        "/todos/1/delete",
        &[("_csrf", &bob_csrf)],
        false,
    )
    .await;
    assert_eq!(deleted.status(), 404);
    let removed = post_form(
        &server,
        &bob,
        "/drops/cart/remove",
        &[("item_id", &item), ("_csrf", &bob_csrf)],
        false,
    )
    .await;
    assert_eq!(
        removed.status(),
        422,
        "Bob's cart does not hold Alice's shoe"
    );

    // Alice's cart and list are as she left them.
    assert_eq!(history("Cart", cart).await, cart_events);
    assert_eq!(history("TodoList", list).await, list_events);
    let (html, _) = page(&server, "/drops", Some(&alice)).await;
    assert!(html.contains(&format!("cart-item-{item}")));
    assert_eq!(todo_titles(&server, &alice).await, vec!["alice's secret"]);
}

#[tokio::test]
async fn authorization_foreign_origins_cannot_open_sockets_or_write_to_the_api() {
    let server = TestServer::start_with(|c| {
        c.admin_password = Some(PASSWORD.into());
        c.allowed_hosts = vec!["app.example".into()];
    })
    .await;
    let own = server.url();
    let with_origin = |origin: &str| {
        let mut request = server.ws_url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    // Sockets: the server's own host and the configured ones, on any port; nothing else.
    for origin in [
        own.as_str(),
        "https://app.example",
        "http://app.example:8443",
    ] {
        assert!(
            tokio_tungstenite::connect_async(with_origin(origin))
                .await
                .is_ok(),
            "{origin} may connect"
        );
    }
    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "null",
    ] {
        match tokio_tungstenite::connect_async(with_origin(origin)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin}")
            }
            other => panic!("{origin}: expected 403, got {other:?}"),
        }
    }

    // API writes acting for a cookie's session or cached Basic credentials: a foreign page's
    // request is refused before it runs; reads, programs (no Origin) and our own pages pass.
    let item = product(&server, "SHOE", false).await;
    let (_, visitor) = page(&server, "/todos", None).await;
    let before = event_count(&server).await;
    let post = reqwest::Method::POST;
    for (path, body) in [
        ("/api/todos", Some(r#"{"title": "planted"}"#)),
        ("/api/todos/clear-completed", None),
        (
            "/api/bookmarks",
            Some(r#"{"bookmark": {"title": "t", "url": "https://x.example"}}"#),
        ),
    ] {
        for origin in ["https://evil.example", "null"] {
            let (status, answer) = api(
                &server,
                post.clone(),
                path,
                Some(&visitor),
                Some(origin),
                body,
            )
            .await;
            assert_eq!(
                (status, answer),
                (403, json!({"error": "origin not allowed"})),
                "{path} from {origin}"
            );
        }
    }
    // A cross-site form shaped as JSON (`enctype="text/plain"`) with the admin's cached password.
    let release = http()
        .post(format!("{own}/api/drops/products/SHOE/release"))
        .basic_auth("admin", Some(PASSWORD))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(r#"{"x": "="}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 403);
    let restock = http()
        .post(format!("{own}/api/drops/items/{item}/restock"))
        .basic_auth("admin", Some(PASSWORD))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(r#"{"quantity": 5, "x": "="}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(restock.status(), 403);
    assert_eq!(event_count(&server).await, before, "nothing appended");
    assert_eq!(todo_titles(&server, &visitor).await, Vec::<String>::new());

    for origin in [None, Some(own.as_str()), Some("https://app.example")] {
        let (status, _) = api(
            &server,
            post.clone(),
            "/api/todos",
            Some(&visitor),
            origin,
            Some(r#"{"title": "mine"}"#),
        )
        .await;
        assert_eq!(status, 200, "{origin:?}");
    }
    assert_eq!(todo_titles(&server, &visitor).await, vec!["mine"; 3]);
    let (status, _) = api(
        &server,
        reqwest::Method::GET,
        "/api/todos",
        Some(&visitor),
        Some("https://evil.example"),
        None,
    )
    .await;
    assert_eq!(
        status, 200,
        "reads are not refused (no CORS: a foreign page cannot read them)"
    );
}

/// The `/admin` page's live view token of the server at `base`, with `password`.
async fn admin_token(base: &str, password: &str) -> String {
    let page = http()
        .get(format!("{base}/admin"))
        .basic_auth("admin", Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    attribute(&page.text().await.unwrap(), "data-cinder-token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_admin_tokens_are_revoked_by_a_new_admin_password() {
    use crate::support::{config, TempDir, TestDb};
    // Two nodes of one database and one secret key base: the old password and the new one (a
    // node restarted with a new `CINDER_ADMIN_PASSWORD` is such a node).
    let db = TestDb::new().await;
    let start = |password: &'static str| {
        let dir = TempDir::new();
        let mut config = config(&db, &dir);
        config.admin_password = Some(password.into());
        async move { (cinder::server::Server::start(config).await.unwrap(), dir) }
    };
    let (old, _old_dir) = start("old-password").await;
    let (new, _new_dir) = start("new-password").await;
    let captured = admin_token(&old.url(), "old-password").await;
    let ws = |server: &cinder::server::Server| {
        format!("ws://{}/socket/websocket?vsn=2.0.0", server.addr)
    };

    // The old node still takes it; the new one refuses it, in a join and as a connect token.
    let mut on_old = Client::connect(&ws(&old)).await;
    let (_, reply) = on_old.join("lv:/admin", json!({"token": captured})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let mut on_new = Client::connect(&ws(&new)).await;
    let (_, reply) = on_new.join("lv:/admin", json!({"token": captured})).await;
    assert_eq!(reply["response"]["reason"], "forbidden", "{reply}");
    let url = format!("{}&token={captured}", ws(&new));
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (_, reply) = Client::from_ws(socket).join("lv:/admin", json!({})).await;
    assert_eq!(reply["response"]["reason"], "forbidden", "{reply}");
    // The new password's token joins on the new node only.
    let fresh = admin_token(&new.url(), "new-password").await;
    let (_, reply) = on_new.join("lv:/admin", json!({"token": fresh})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let (_, reply) = on_old.join("lv:/admin", json!({"token": fresh})).await;
    assert_eq!(reply["response"]["reason"], "forbidden", "{reply}");
    // And Basic credentials with the old password no longer open the new node's admin.
    let refused = http()
        .get(format!("{}/admin", new.url()))
        .basic_auth("admin", Some("old-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    old.stop().await;
    new.stop().await;
}
