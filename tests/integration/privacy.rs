//! Visitors' own aggregates in the public log (issue 13, finding 8): a todo list, a cart and a
//! purchase are shown redacted to everyone but their owner and the admin, in `/api/events`,
//! `events:all`, the explorer's tail, histories, API pages and "as of" pages.

use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

const PASSWORD: &str = "test-admin";
const SECRET: &str = "alice's secret plan";

/// A visitor who has a todo, bought a size (so has cart and purchase events), and the ids.
struct Alice {
    cookie: String,
    /// A live view token of her session.
    token: String,
    list: String,
}

async fn alice(server: &TestServer) -> Alice {
    let created = http()
        .post(format!("{}/api/drops/products", server.url()))
        .basic_auth("admin", Some(PASSWORD))
        .json(
            &json!({"sku": "PRIV", "name": "Shoe", "brand": "B", "color": "c", "price_usd": 100,
            "image_url": "", "order": 0, "items": [{"sku": "PRIV9", "size": "9", "available": 5}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let released = http()
        .post(format!("{}/api/drops/products/PRIV/release", server.url()))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), 200);
    let (html, cookie) = page(server, "/todos", None).await;
    let token = attribute(&html, "data-cinder-token");
    let csrf = attribute(&html[html.find("name=\"_csrf\"").unwrap()..], "value");
    let post = |path: &str, form: Vec<(&str, &str)>| {
        http()
            .post(format!("{}{path}", server.url()))
            .header("cookie", &cookie)
            .form(&form)
            .send()
    };
    let added = post(
        "/todos",
        vec![("title", SECRET), ("back", "/todos"), ("_csrf", &csrf)],
    );
    assert_eq!(added.await.unwrap().status(), 303);
    let carted = post("/drops/cart", vec![("item_id", "PRIV-9"), ("_csrf", &csrf)]);
    assert_eq!(carted.await.unwrap().status(), 303);
    let bought = post("/drops/checkout", vec![("_csrf", &csrf)]);
    assert_eq!(bought.await.unwrap().status(), 303);
    let (_, log) = server
        .get_json("/api/events?after=0&limit=1000", None)
        .await;
    let list = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["aggregate_type"] == "TodoList")
        .expect("a todo list event")["aggregate_id"]
        .as_str()
        .unwrap()
        .to_owned();
    Alice {
        cookie,
        token,
        list,
    }
}

/// The log's events of the visitor aggregates, as `request` shows them.
fn visitors_events(log: &Value) -> Vec<Value> {
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            ["TodoList", "Cart", "Purchase"].contains(&e["aggregate_type"].as_str().unwrap())
        })
        .cloned()
        .collect()
}

/// Whether every visitor event is redacted: none shows a title, an item or a cart.
fn all_redacted(events: &[Value]) {
    assert!(
        events.len() >= 5,
        "todo, cart and purchase events: {events:?}"
    );
    for event in events {
        let payload = &event["payload"];
        let inner = payload.as_object().unwrap().values().next().unwrap();
        assert!(inner["redacted"].is_string(), "{event}");
        assert!(!payload.to_string().contains(SECRET));
        assert!(!payload.to_string().contains("PRIV-9"), "{event}");
    }
}

fn none_redacted(events: &[Value]) {
    assert!(events.len() >= 5);
    for event in events {
        assert!(
            !event["payload"].to_string().contains("redacted"),
            "{event}"
        );
    }
    assert!(events.iter().any(|e| e.to_string().contains(SECRET)));
    assert!(events.iter().any(|e| e.to_string().contains("PRIV-9")));
}

async fn get(server: &TestServer, path: &str, cookie: Option<&str>, admin: bool) -> (u16, String) {
    let mut request = http().get(format!("{}{path}", server.url()));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if admin {
        request = request.basic_auth("admin", Some(PASSWORD));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn visitors_aggregates_are_redacted_in_the_log_api_for_all_but_owner_and_admin() {
    let server = TestServer::start_with(|c| c.admin_password = Some(PASSWORD.into())).await;
    let alice = alice(&server).await;
    let (_, bob) = page(&server, "/todos", None).await;
    let log = "/api/events?after=0&limit=1000";
    for cookie in [None, Some(bob.as_str())] {
        let (_, body) = get(&server, log, cookie, false).await;
        all_redacted(&visitors_events(&serde_json::from_str(&body).unwrap()));
    }
    let (_, body) = get(&server, log, Some(&alice.cookie), false).await;
    none_redacted(&visitors_events(&serde_json::from_str(&body).unwrap()));
    let (_, body) = get(&server, log, None, true).await;
    none_redacted(&visitors_events(&serde_json::from_str(&body).unwrap()));

    let history = format!("/api/aggregates/TodoList/{}/events", alice.list);
    let (_, body) = get(&server, &history, Some(&bob), false).await;
    assert!(
        !body.contains(SECRET) && body.contains("redacted"),
        "{body}"
    );
    let (_, body) = get(&server, &history, Some(&alice.cookie), false).await;
    assert!(body.contains(SECRET), "{body}");
}

#[tokio::test]
async fn events_all_redacts_visitors_aggregates_unless_the_join_shows_the_owners_token() {
    let server = TestServer::start_with(|c| c.admin_password = Some(PASSWORD.into())).await;
    let alice = alice(&server).await;
    let (_, count) = server
        .get_json("/api/events?after=0&limit=1000", None)
        .await;
    let total = count["events"].as_array().unwrap().len();
    let feed = |payload: Value| {
        let url = server.ws_url();
        async move {
            let mut client = Client::connect(&url).await;
            let (_, reply) = client.join("events:all", payload).await;
            assert_eq!(reply["status"], "ok", "{reply}");
            let mut events = Vec::new();
            while events.len() < total {
                events.push(client.until(|f| f[3] == "event").await[4].clone());
            }
            visitors_events(&json!({ "events": events }))
        }
    };
    all_redacted(&feed(json!({"after": 0})).await);
    none_redacted(&feed(json!({"after": 0, "token": alice.token})).await);
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, refused) = client
        .join("events:all", json!({"after": 0, "token": "forged"}))
        .await;
    assert_eq!(refused["response"]["reason"], "invalid token");
}

#[tokio::test]
async fn explorer_pages_show_a_todo_list_to_its_owner_and_the_admin_only() {
    let server = TestServer::start_with(|c| c.admin_password = Some(PASSWORD.into())).await;
    let alice = alice(&server).await;
    let (_, bob) = page(&server, "/todos", None).await;
    let history = format!("/events/TodoList/{}", alice.list);
    let (status, html) = get(&server, &history, Some(&bob), false).await;
    assert_eq!(status, 200);
    assert!(!html.contains(SECRET) && html.contains("redacted"));
    assert!(!html.contains("as of this event"), "no way to rebuild it");
    let (_, html) = get(&server, &history, Some(&alice.cookie), false).await;
    assert!(html.contains(SECRET));
    let as_of = attribute(&html[html.find("class=\"as-of\"").unwrap()..], "href");

    let (status, html) = get(&server, &as_of, Some(&bob), false).await;
    assert_eq!(status, 403);
    assert!(!html.contains(SECRET));
    for (cookie, admin) in [(Some(alice.cookie.as_str()), false), (None, true)] {
        let (status, html) = get(&server, &as_of, cookie, admin).await;
        assert_eq!(status, 200);
        assert!(html.contains(SECRET), "{html}");
    }

    // The live tail: a stranger's page, and the patch a new todo of alice's pushes to it.
    let (html, _) = page(&server, "/events", Some(&bob)).await;
    assert!(html.contains("TodoList") && !html.contains(SECRET));
    let token = attribute(&html, "data-cinder-token");
    let mut tail = Client::connect(&server.ws_url()).await;
    let (_, reply) = tail.join("lv:/events", json!({"token": token})).await;
    assert!(!reply.to_string().contains(SECRET));
    let added = http()
        .post(format!("{}/api/todos", server.url()))
        .header("cookie", &alice.cookie)
        .json(&json!({"title": format!("{SECRET} 2")}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let patch = tail.until(|f| f[3] == "patch").await;
    assert!(patch.to_string().contains("TodoList") && !patch.to_string().contains(SECRET));
}
