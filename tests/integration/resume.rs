//! Resuming live pages: a join that gives the log position its page reflects (`at`) is sent
//! only what the page missed since, on the node that served the page or on another one; the
//! page is sent whole when that cannot be told or would cost more. Every app's live pages
//! resume so: the chat below in depth, then one test per app.

use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

const ADMIN_PASSWORD: &str = "test-admin";

/// Posts a message to the room `lobby` through `server`'s JSON API (answered once the server's
/// read models have it).
async fn post(server: &TestServer, sender: &str, content: &str) {
    post_to(server, "lobby", sender, content).await;
}

/// Posts a message to `room` (see [`post`]).
async fn post_to(server: &TestServer, room: &str, sender: &str, content: &str) {
    let response = http()
        .post(format!("{}/api/chat/rooms/{room}/messages", server.url()))
        .json(&json!({"sender": sender, "content": content}))
        .send()
        .await
        .expect("POST message");
    assert_eq!(response.status(), 201);
}

/// Joins `lv:/chat/lobby` on `server` with the page's `token` and `at` (left out if `None`);
/// returns the reply's response.
async fn join(server: &TestServer, token: &str, at: Option<&str>) -> Value {
    rejoin(server, "lv:/chat/lobby", token, at).await
}

/// Joins the live view `topic` on `server` with its page's `token` and `at` (left out if
/// `None`), as cinder.js does on reconnecting; returns the reply's response.
async fn rejoin(server: &TestServer, topic: &str, token: &str, at: Option<&str>) -> Value {
    let mut payload = json!({ "token": token });
    if let Some(at) = at {
        payload["at"] = json!(at);
    }
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, reply) = client.join(topic, payload).await;
    assert_eq!(reply["status"], "ok", "{topic}: {reply}");
    reply["response"].clone()
}

/// A live page's topic, token and log position, as cinder.js reads them from the page.
fn live(html: &str) -> (String, String, String) {
    (
        attribute(html, "data-cinder-topic"),
        attribute(html, "data-cinder-token"),
        attribute(html, "data-cinder-at"),
    )
}

/// The ops of a join reply.
fn ops(response: &Value) -> Vec<Value> {
    response["patches"].as_array().cloned().unwrap_or_default()
}

/// What each op of a reply does, and to which id: `("replace", "todo-1")`, …
fn named(response: &Value) -> Vec<(String, String)> {
    ops(response)
        .iter()
        .map(|op| {
            let text = |key: &str| op[key].as_str().unwrap_or_default().to_owned();
            (text("op"), text("id"))
        })
        .collect()
}

/// The named ops a reply is expected to be, from `(op, id)` pairs.
fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(op, id)| ((*op).to_owned(), (*id).to_owned()))
        .collect()
}

/// The html of the reply's op on `id`.
fn html_of(response: &Value, id: &str) -> String {
    ops(response)
        .iter()
        .find(|op| op["id"] == id)
        .and_then(|op| op["html"].as_str())
        .unwrap_or_else(|| panic!("an op with html on #{id}: {response}"))
        .to_owned()
}

/// Sends `body` as JSON to `path` with the visitor's `cookie` (and the admin password if
/// `admin`); the API answers once the node's read models show the change. Returns the answer.
async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    cookie: &str,
    admin: bool,
    body: Value,
) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = http()
        .request(method, format!("{}{path}", server.url()))
        .header("cookie", cookie)
        .json(&body);
    if admin {
        request = request.basic_auth("admin", Some(ADMIN_PASSWORD));
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status();
    let answer = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

/// Whether the reply sends the message list whole.
fn whole(response: &Value) -> bool {
    ops(response)
        .iter()
        .any(|op| op["op"] == "replace" && op["id"] == "messages")
}

/// The html of each message appended, in order.
fn appended(response: &Value) -> Vec<String> {
    ops(response)
        .iter()
        .filter(|op| op["op"] == "append" && op["id"] == "messages")
        .map(|op| op["html"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until `server`'s read models have a message saying `content` (another node's, say).
async fn wait_for_message(server: &TestServer, content: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, messages) = server
            .get_json("/api/chat/rooms/lobby/messages", None)
            .await;
        if messages.to_string().contains(content) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{content:?} did not arrive: {messages}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn position(response: &Value) -> String {
    response["at"]
        .as_str()
        .unwrap_or_else(|| panic!("the reply says where the page is: {response}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoin_is_sent_only_the_messages_it_missed() {
    let server = TestServer::start().await;
    post(&server, "ada", "before the page").await;
    let (html, _) = page(&server, "/chat/lobby", None).await;
    assert!(html.contains("before the page"));
    let token = attribute(&html, "data-cinder-token");
    let at = attribute(&html, "data-cinder-at");

    // The first join of a page that missed nothing is not sent its messages again.
    let first = join(&server, &token, Some(&at)).await;
    assert!(!whole(&first), "nothing was missed: {first}");
    assert!(appended(&first).is_empty(), "{first}");
    let at = position(&first);

    // Away (no socket), two messages are posted; back, the page is sent those two alone.
    post(&server, "bob", "missed one").await;
    post(&server, "cy", "missed two").await;
    let back = join(&server, &token, Some(&at)).await;
    assert!(!whole(&back), "{back}");
    let missed = appended(&back);
    assert_eq!(missed.len(), 2, "{back}");
    assert!(missed[0].contains("missed one") && missed[1].contains("missed two"));
    assert!(
        ops(&back)
            .iter()
            .all(|op| ["messages", "present", "older"]
                .contains(&op["id"].as_str().unwrap_or_default())),
        "only the missed messages, who is here and \"load older\": {back}"
    );
    let at = position(&back);
    let again = join(&server, &token, Some(&at)).await;
    assert!(appended(&again).is_empty() && !whole(&again), "{again}");

    // A push carries the position its page then reflects: rejoining from it misses nothing.
    let mut live = Client::connect(&server.ws_url()).await;
    live.join("lv:/chat/lobby", json!({"token": token, "at": at}))
        .await;
    post(&server, "dee", "seen live").await;
    let push = live.until(|f| f[3] == "patch").await;
    let pushed_at = push[4]["at"]
        .as_str()
        .expect("the patch's position")
        .to_owned();
    drop(live);
    let resumed = join(&server, &token, Some(&pushed_at)).await;
    assert!(!whole(&resumed), "{resumed}");
    assert!(
        appended(&resumed)
            .iter()
            .all(|html| html.contains("seen live")),
        "at most the pushed message again, which the page shows once: {resumed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_too_far_behind_or_with_no_usable_position_is_sent_whole() {
    let server = TestServer::start().await;
    let (html, _) = page(&server, "/chat/lobby", None).await;
    let token = attribute(&html, "data-cinder-token");
    let at = position(&join(&server, &token, None).await);

    // 65 messages (past the 64 replayed at most), from as many senders (each may send 10 a
    // minute): the page is sent whole.
    for n in 0..65 {
        post(&server, &format!("sender-{n}"), &format!("message {n}")).await;
    }
    let behind = join(&server, &token, Some(&at)).await;
    assert!(whole(&behind), "{behind}");
    assert!(appended(&behind).is_empty());

    for bad in ["", "nonsense", "1.x", "-1.-1"] {
        let reply = join(&server, &token, Some(bad)).await;
        assert!(whole(&reply), "{bad:?}: {reply}");
    }
    assert!(whole(&join(&server, &token, None).await));
    // Ahead of anything this log has reached (a page from another log): whole, after a wait.
    let ahead = join(&server, &token, Some("18446744073709551615.1")).await;
    assert!(whole(&ahead), "{ahead}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_moves_between_nodes_on_one_log() {
    let a = TestServer::start().await;
    let (html, _) = page(&a, "/chat/lobby", None).await;
    let token = attribute(&html, "data-cinder-token");
    let at = position(&join(&a, &token, None).await);
    post(&a, "ada", "on a, before b started").await;

    // B starts after the page's position: it cannot tell what the page missed, so whole.
    let b = TestServer::start_on(&a.db.url).await;
    let on_b = join(&b, &token, Some(&at)).await;
    assert!(whole(&on_b), "{on_b}");
    let at = position(&on_b);

    // B's position means the same on A: back on A, only what was posted since.
    post(&b, "bob", "on b").await;
    // (Joined before A has it, the page would get it as a push instead.)
    wait_for_message(&a, "on b").await;
    let back_on_a = join(&a, &token, Some(&at)).await;
    assert!(!whole(&back_on_a), "{back_on_a}");
    let missed = appended(&back_on_a);
    assert_eq!(missed.len(), 1, "{back_on_a}");
    assert!(missed[0].contains("on b"));
    let at = position(&back_on_a);

    // And from A to B again.
    post(&a, "cy", "on a again").await;
    wait_for_message(&b, "on a again").await;
    let back_on_b = join(&b, &token, Some(&at)).await;
    let missed = appended(&back_on_b);
    assert!(!whole(&back_on_b), "{back_on_b}");
    assert_eq!(missed.len(), 1, "{back_on_b}");
    assert!(missed[0].contains("on a again"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_todo_list_is_sent_only_the_todos_changed_while_away() {
    let server = TestServer::start().await;
    let (_, me) = page(&server, "/todos", None).await;
    for title in ["milk", "eggs"] {
        call(
            &server,
            "POST",
            "/api/todos",
            &me,
            false,
            json!({ "title": title }),
        )
        .await;
    }
    let (all, _) = page(&server, "/todos", Some(&me)).await;
    let (all_topic, all_token, all_at) = live(&all);
    let (active, _) = page(&server, "/todos/active", Some(&me)).await;
    let (active_topic, active_token, active_at) = live(&active);
    let first = rejoin(&server, &all_topic, &all_token, Some(&all_at)).await;
    assert!(ops(&first).is_empty(), "nothing was missed: {first}");

    // Away (in another tab, say), milk is done: back, the page is sent that todo and the counts.
    call(
        &server,
        "PATCH",
        "/api/todos/1",
        &me,
        false,
        json!({"completed": true}),
    )
    .await;
    let back = rejoin(&server, &all_topic, &all_token, Some(&all_at)).await;
    assert_eq!(
        named(&back),
        expect(&[
            ("replace", "todo-1"),
            ("replace", "toggle-all"),
            ("replace", "todo-footer")
        ]),
        "{back}"
    );
    assert!(
        html_of(&back, "todo-1").contains("todo completed"),
        "{back}"
    );
    assert!(html_of(&back, "todo-footer").contains("<strong>1</strong> item left"));
    // On the active filter's page, milk leaves.
    let back = rejoin(&server, &active_topic, &active_token, Some(&active_at)).await;
    assert_eq!(
        named(&back),
        expect(&[
            ("remove", "todo-1"),
            ("replace", "toggle-all"),
            ("replace", "todo-footer")
        ]),
        "{back}"
    );

    // With no position, every region whole, as before.
    let whole = rejoin(&server, &all_topic, &all_token, None).await;
    assert_eq!(
        named(&whole),
        expect(&[
            ("replace", "toggle-all"),
            ("replace", "todo-list"),
            ("replace", "todo-footer")
        ]),
        "{whole}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discussion_is_sent_only_the_comments_posted_while_away() {
    let server = TestServer::start().await;
    let (_, me) = page(&server, "/bookmarks", None).await;
    let bookmark = json!({"bookmark": {"title": "Resuming", "url": "https://example.com/resume"}});
    let created = call(&server, "POST", "/api/bookmarks", &me, false, bookmark).await;
    let id = created["bookmark"]["data"]["id"]
        .as_str()
        .expect("the new bookmark's id")
        .to_owned();
    let comments = format!("/api/bookmarks/{id}/comments");
    let comment = |content: &str| json!({"author": "ada", "content": content});
    call(
        &server,
        "POST",
        &comments,
        &me,
        false,
        comment("before the page"),
    )
    .await;
    let (html, _) = page(&server, &format!("/bookmarks/{id}"), Some(&me)).await;
    let (topic, token, at) = live(&html);
    assert!(ops(&rejoin(&server, &topic, &token, Some(&at)).await).is_empty());

    call(
        &server,
        "POST",
        &comments,
        &me,
        false,
        comment("while away"),
    )
    .await;
    let back = rejoin(&server, &topic, &token, Some(&at)).await;
    assert_eq!(
        named(&back),
        expect(&[("append", "comments"), ("replace", "older-comments")]),
        "{back}"
    );
    let appended = html_of(&back, "comments");
    assert!(appended.contains("while away") && !appended.contains("before the page"));

    let whole = rejoin(&server, &topic, &token, None).await;
    assert_eq!(
        named(&whole),
        expect(&[("replace", "older-comments"), ("replace", "comments")]),
        "{whole}"
    );

    // The random page shows no log: back, it keeps the bookmark it shows instead of another.
    let (html, _) = page(&server, "/bookmarks/random", Some(&me)).await;
    let (topic, token, at) = live(&html);
    call(
        &server,
        "POST",
        &comments,
        &me,
        false,
        comment("not shown there"),
    )
    .await;
    let back = rejoin(&server, &topic, &token, Some(&at)).await;
    assert!(ops(&back).is_empty(), "{back}");
    let whole = rejoin(&server, &topic, &token, None).await;
    assert_eq!(named(&whole), expect(&[("replace", "random")]), "{whole}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_pages_are_sent_only_the_levels_and_carts_changed_while_away() {
    let server = TestServer::start_with(|c| c.admin_password = Some(ADMIN_PASSWORD.into())).await;
    let items = json!([
        {"sku": "RES1", "size": "9", "available": 600},
        {"sku": "RES2", "size": "10", "available": 5}
    ]);
    let product = json!({"sku": "RES", "name": "Resumer", "brand": "B", "color": "c",
        "price_usd": 120, "image_url": "", "order": 0, "items": items});
    let created = call(&server, "POST", "/api/drops/products", "", true, product).await;
    let size_10 = created["items"][1]["id"]
        .as_str()
        .expect("the item's id")
        .to_owned();
    call(
        &server,
        "POST",
        "/api/drops/products/RES/release",
        "",
        true,
        json!({}),
    )
    .await;

    // Size 10 (5 left: "few left") goes in the visitor's cart, from the store's page.
    let (html, me) = page(&server, "/drops", None).await;
    let (topic, token, _) = live(&html);
    let mut tab = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = tab.join(&topic, json!({ "token": token })).await;
    let click = json!({"type": "click", "event": "add_to_cart", "value": {"value": size_10}});
    let added = tab.send(Some(&join_ref), &topic, "event", click).await;
    assert_eq!(tab.reply_to(&added).await["status"], "ok");
    drop(tab);

    let (shop, _) = page(&server, "/drops", Some(&me)).await;
    let (shop_topic, shop_token, shop_at) = live(&shop);
    let (checkout, _) = page(&server, "/drops/checkout", Some(&me)).await;
    let (checkout_topic, checkout_token, checkout_at) = live(&checkout);
    let admin = http()
        .get(format!("{}/admin", server.url()))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("the admin page")
        .text()
        .await
        .expect("its html");
    let (admin_topic, admin_token, admin_at) = live(&admin);
    assert!(ops(&rejoin(&server, &shop_topic, &shop_token, Some(&shop_at)).await).is_empty());
    let admin_first = rejoin(&server, &admin_topic, &admin_token, Some(&admin_at)).await;
    assert_eq!(
        named(&admin_first),
        expect(&[("replace", "shoppers")]),
        "who is shopping is not in the log: always sent: {admin_first}"
    );

    // Away, size 10 is restocked (5 -> 205: "limited"): its button and its cart line change.
    let restock = format!("/api/drops/items/{size_10}/restock");
    call(
        &server,
        "POST",
        &restock,
        "",
        true,
        json!({"quantity": 200}),
    )
    .await;
    let button = format!("item-{size_10}");
    let line = format!("cart-item-{size_10}");
    let back = rejoin(&server, &shop_topic, &shop_token, Some(&shop_at)).await;
    assert_eq!(
        named(&back),
        expect(&[("replace", button.as_str()), ("replace", line.as_str())]),
        "{back}"
    );
    assert!(html_of(&back, &button).contains("level-medium"), "{back}");
    assert!(
        html_of(&back, &line).contains("data-level=\"medium\""),
        "{back}"
    );
    let shop_at = position(&back);
    // The checkout's line is its own (with the price), not the store's cart line.
    let back = rejoin(
        &server,
        &checkout_topic,
        &checkout_token,
        Some(&checkout_at),
    )
    .await;
    assert_eq!(
        named(&back),
        expect(&[("replace", line.as_str())]),
        "{back}"
    );
    assert!(html_of(&back, &line).contains("$120"), "{back}");
    assert!(!html_of(&back, &line).contains("remove"), "{back}");
    let checkout_at = position(&back);
    let back = rejoin(&server, &admin_topic, &admin_token, Some(&admin_at)).await;
    let (bar, count, level) = (
        format!("bar-{size_10}"),
        format!("count-{size_10}"),
        format!("level-{size_10}"),
    );
    assert_eq!(
        named(&back),
        expect(&[
            ("replace", bar.as_str()),
            ("replace", count.as_str()),
            ("replace", level.as_str()),
            ("replace", "shoppers")
        ]),
        "{back}"
    );
    assert!(html_of(&back, &count).contains(">205<"), "{back}");

    // Away again, the size leaves the cart: the cart is sent whole.
    let (html, _) = page(&server, "/drops", Some(&me)).await;
    let (topic, token, _) = live(&html);
    let mut tab = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = tab.join(&topic, json!({ "token": token })).await;
    let click = json!({"type": "click", "event": "remove_from_cart", "value": {"value": size_10}});
    let removed = tab.send(Some(&join_ref), &topic, "event", click).await;
    assert_eq!(tab.reply_to(&removed).await["status"], "ok");
    drop(tab);
    let back = rejoin(&server, &shop_topic, &shop_token, Some(&shop_at)).await;
    assert_eq!(named(&back), expect(&[("replace", "cart")]), "{back}");
    assert!(!html_of(&back, "cart").contains(&line), "{back}");
    let back = rejoin(
        &server,
        &checkout_topic,
        &checkout_token,
        Some(&checkout_at),
    )
    .await;
    assert_eq!(
        named(&back),
        expect(&[("replace", "summary"), ("replace", "checkout")]),
        "{back}"
    );
    assert!(
        html_of(&back, "summary").contains("Your cart is empty"),
        "{back}"
    );

    // With no position, every region whole, as before.
    for (topic, token, regions) in [
        (&shop_topic, &shop_token, ["products", "cart"]),
        (&checkout_topic, &checkout_token, ["summary", "checkout"]),
        (&admin_topic, &admin_token, ["shoppers", "admin-products"]),
    ] {
        let whole = rejoin(&server, topic, token, None).await;
        let expected: Vec<_> = regions.iter().map(|id| ("replace", *id)).collect();
        assert_eq!(named(&whole), expect(&expected), "{whole}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_log_and_an_aggregate_page_are_sent_only_the_events_recorded_while_away() {
    let server = TestServer::start().await;
    let (html, _) = page(&server, "/events", None).await;
    assert!(html.contains("No events yet"), "a new log is empty");
    let (tail_topic, tail_token, tail_at) = live(&html);
    assert!(
        ops(&rejoin(&server, &tail_topic, &tail_token, Some(&tail_at)).await)
            .iter()
            .all(|op| op["id"] == "events-pager")
    );

    // Away, the first event: it is the one row sent, and the empty table's note goes.
    post(&server, "ada", "the first event").await;
    let back = rejoin(&server, &tail_topic, &tail_token, Some(&tail_at)).await;
    assert_eq!(
        named(&back),
        expect(&[
            ("prepend", "event-rows"),
            ("remove", "no-events"),
            ("replace", "events-pager")
        ]),
        "{back}"
    );
    assert!(
        html_of(&back, "event-rows").contains("id=\"event-1\""),
        "{back}"
    );
    let tail_at = position(&back);

    // The room's history ends at that event; away, the next is appended alone.
    let (html, _) = page(&server, "/events/Room/lobby", None).await;
    assert!(
        html.contains("data-cinder-at"),
        "the history page says where the log was"
    );
    let (topic, token, at) = live(&html);
    assert!(ops(&rejoin(&server, &topic, &token, Some(&at)).await).is_empty());
    post(&server, "bob", "the second event").await;
    let back = rejoin(&server, &topic, &token, Some(&at)).await;
    assert_eq!(
        named(&back),
        expect(&[("append", "history-live")]),
        "{back}"
    );
    let appended = html_of(&back, "history-live");
    assert!(appended.contains("the second event") && !appended.contains("the first event"));

    // With no position, the regions whole, as before.
    let whole = rejoin(&server, &topic, &token, None).await;
    assert_eq!(
        named(&whole),
        expect(&[("replace", "history-new")]),
        "{whole}"
    );
    let whole = rejoin(&server, &tail_topic, &tail_token, None).await;
    assert_eq!(
        named(&whole),
        expect(&[("replace", "events"), ("replace", "events-pager")]),
        "{whole}"
    );
    // Past 64 events missed (read from the log itself, which the pubsub does not remember):
    // whole too.
    for n in 0..64 {
        post(&server, &format!("sender-{n}"), &format!("message {n}")).await;
    }
    let behind = rejoin(&server, &tail_topic, &tail_token, Some(&tail_at)).await;
    assert_eq!(
        named(&behind),
        expect(&[("replace", "events"), ("replace", "events-pager")]),
        "65 events missed: {behind}"
    );
}

/// `page` with the element `id="<id>"` replaced by `html`, as cinder.js replaces a region.
fn replace_element(page: &str, id: &str, html: &str) -> String {
    let found = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} on the page"));
    let start = page[..found].rfind('<').expect("the element's tag");
    let tag: String = page[start + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut depth = 0;
    let mut at = start;
    loop {
        // `<div` but not `<divider`: the tag's name ends there.
        let next_open = page[at..]
            .match_indices(&open)
            .map(|(i, _)| at + i)
            .find(|o| matches!(page.as_bytes().get(o + open.len()), Some(b' ' | b'>')));
        let next_close = page[at..].find(&close).map(|i| at + i).expect("its end");
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                at = o + open.len();
            }
            _ => {
                depth -= 1;
                at = next_close + close.len();
                if depth == 0 {
                    break;
                }
            }
        }
    }
    format!("{}{html}{}", &page[..start], &page[at..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_page_sent_whole_again_and_again_links_to_newer_events_once() {
    // A small budget, so a few large events fill the live part of the page.
    let server = TestServer::start_with(|config| config.max_reply_bytes = 64 * 1024).await;
    post_to(&server, "explored", "sender-0", "the first").await;
    let (html, _) = page(&server, "/events/Room/explored", None).await;
    let topic = attribute(&html, "data-cinder-topic");
    let token = attribute(&html, "data-cinder-token");
    for n in 1..=12 {
        let content = format!("{n} {}", "\"".repeat(1990));
        post_to(&server, "explored", &format!("sender-{n}"), &content).await;
    }
    let mut shown = html;
    for time in 1..=3 {
        let mut client = Client::connect(&server.ws_url()).await;
        let (_, reply) = client.join(&topic, json!({"token": token})).await;
        assert_eq!(reply["status"], "ok", "{reply}");
        for op in reply["response"]["patches"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            assert_eq!(op["op"], "replace", "{op}");
            let id = op["id"].as_str().expect("an id");
            shown = replace_element(&shown, id, op["html"].as_str().expect("html"));
        }
        assert_eq!(
            shown.matches("Newer events").count(),
            1,
            "sent whole {time} times, the page links to newer events once"
        );
    }
}
