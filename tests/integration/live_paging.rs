//! "Load older" on a live page continues from the oldest item the page still shows. New
//! messages (or comments) past what a page keeps push its oldest out; the page's control must
//! then load exactly those, and appear as they go, even where the list had nothing older when
//! the page was rendered.

use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

/// Ids of the elements in `html` whose id starts with `prefix` (`message-7` → 7), in order.
fn ids(html: &str, prefix: &str) -> Vec<u64> {
    html.split(&format!("id=\"{prefix}"))
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

/// The ops of `patch` pushes until one appends the element `last`, in order.
async fn ops_until(client: &mut Client, last: &str) -> Vec<Value> {
    let mut ops = Vec::new();
    while !ops
        .iter()
        .any(|op: &Value| op["html"].as_str().is_some_and(|html| html.contains(last)))
    {
        let push = client.until(|f| f[3] == "patch").await;
        ops.extend(push[4]["ops"].as_array().cloned().unwrap_or_default());
    }
    ops
}

/// The html of the last op on `id`, if any.
fn last_on<'a>(ops: &'a [Value], id: &str) -> Option<&'a str> {
    ops.iter().rev().find(|op| op["id"] == id)?["html"].as_str()
}

/// Clicks `event` on the live page `topic` (with a stale `value`, as the button was rendered);
/// returns the reply's patches.
async fn click(client: &mut Client, join_ref: &str, topic: &str, event: &str) -> Vec<Value> {
    let click = json!({"type": "click", "event": event, "value": {"value": "1"}});
    let asked = client.send(Some(join_ref), topic, "event", click).await;
    let reply = client.reply_to(&asked).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    reply["response"]["patches"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_older_messages_continues_from_the_oldest_the_room_page_still_shows() {
    let server = TestServer::start().await;
    let post = |n: u32| {
        http()
            .post(format!("{}/api/chat/rooms/full/messages", server.url()))
            .json(&json!({"sender": format!("s{n}"), "content": format!("number {n}")}))
            .send()
    };
    for n in 1..=100 {
        assert_eq!(post(n).await.expect("POST").status(), 201);
    }
    let (html, _) = page(&server, "/chat/full", None).await;
    assert_eq!(ids(&html, "message-"), (1..=100).collect::<Vec<_>>());
    assert!(
        !html.contains("Load older"),
        "the page shows the whole room"
    );

    let mut client = Client::connect(&server.ws_url()).await;
    let token = attribute(&html, "data-cinder-token");
    let (join_ref, joined) = client.join("lv:/chat/full", json!({"token": token})).await;
    assert_eq!(joined["status"], "ok", "{joined}");
    for n in 101..=103 {
        assert_eq!(post(n).await.expect("POST").status(), 201);
    }
    let ops = ops_until(&mut client, "message-103").await;
    let appends: Vec<&Value> = ops.iter().filter(|op| op["op"] == "append").collect();
    assert_eq!(appends.len(), 3, "{ops:?}");
    assert!(
        appends.iter().all(|op| op["limit"] == 100),
        "the page keeps 100: {ops:?}"
    );
    // Message 1 was pushed out: the page is told it now has older messages.
    let control = last_on(&ops, "older").expect("the control is sent once older ones exist");
    assert!(control.contains("Load older messages"), "{control}");

    // Loading older brings back exactly the three the page dropped, and no more are older.
    let loaded = click(&mut client, &join_ref, "lv:/chat/full", "load_older").await;
    let prepended = loaded
        .iter()
        .find(|op| op["op"] == "prepend")
        .and_then(|op| op["html"].as_str())
        .expect("older messages prepended");
    assert_eq!(ids(prepended, "message-"), vec![1, 2, 3]);
    let control = last_on(&loaded, "older").expect("the control after loading");
    assert!(
        !control.contains("Load older"),
        "nothing older than 1: {control}"
    );

    // The page now keeps 103; the next message pushes none out.
    assert_eq!(post(104).await.expect("POST").status(), 201);
    let ops = ops_until(&mut client, "message-104").await;
    assert!(ops.iter().any(|op| op["limit"] == 103), "{ops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_comments_continues_from_the_oldest_the_discussion_still_shows() {
    let server = TestServer::start().await;
    let (_, me) = page(&server, "/bookmarks", None).await;
    let created: Value = http()
        .post(format!("{}/api/bookmarks", server.url()))
        .header("cookie", &me)
        .json(&json!({"bookmark": {"title": "Talked about", "url": "https://example.com/t"}}))
        .send()
        .await
        .expect("POST bookmark")
        .json()
        .await
        .expect("the new bookmark");
    let id = created["bookmark"]["data"]["id"]
        .as_str()
        .expect("the new bookmark's id")
        .to_owned();
    let comment = |n: u32| {
        http()
            .post(format!("{}/api/bookmarks/{id}/comments", server.url()))
            .header("cookie", &me)
            .json(&json!({"author": format!("a{n}"), "content": format!("comment {n}")}))
            .send()
    };
    for n in 1..=50 {
        assert!(comment(n).await.expect("POST").status().is_success());
    }
    let path = format!("/bookmarks/{id}");
    let (html, _) = page(&server, &path, Some(&me)).await;
    assert_eq!(ids(&html, "comment-"), (1..=50).collect::<Vec<_>>());
    assert!(!html.contains("Older comments"), "the page shows them all");

    let mut client = Client::connect(&server.ws_url()).await;
    let topic = format!("lv:{path}");
    let token = attribute(&html, "data-cinder-token");
    let (join_ref, joined) = client.join(&topic, json!({"token": token})).await;
    assert_eq!(joined["status"], "ok", "{joined}");
    for n in 51..=52 {
        assert!(comment(n).await.expect("POST").status().is_success());
    }
    let ops = ops_until(&mut client, "comment-52").await;
    let control = last_on(&ops, "older-comments").expect("the control is sent");
    assert!(control.contains("Older comments"), "{control}");

    let loaded = click(&mut client, &join_ref, &topic, "older_comments").await;
    let prepended = loaded
        .iter()
        .find(|op| op["op"] == "prepend")
        .and_then(|op| op["html"].as_str())
        .expect("older comments prepended");
    assert_eq!(ids(prepended, "comment-"), vec![1, 2]);
}
