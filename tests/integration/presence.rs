//! Presence shared through Postgres: joins and leaves on two nodes seen from either, a dead
//! node's entries swept, a clean stop leaving at once, the chat room's "who's here" list and
//! the Drops admin's shoppers across nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cinder::config::Config;
use cinder::presence::PresenceSettings;
use cinder::server::Server;
use futures_util::StreamExt;
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use tokio_tungstenite::tungstenite::Message;

use crate::processes::Node;
use crate::socket::{attribute, page};
use crate::support::{config, http, Client, TempDir, TestDb, TestServer};

/// A node of a test: a server on `db` with a data dir of its own.
async fn node(db: &TestDb, adjust: impl FnOnce(&mut Config)) -> (Server, TempDir) {
    let dir = TempDir::new();
    let mut config = config(db, &dir);
    config.admin_password = Some("test-admin".into());
    adjust(&mut config);
    (Server::start(config).await.expect("node starts"), dir)
}

fn ws_url(server: &Server) -> String {
    format!("ws://{}/socket/websocket?vsn=2.0.0", server.addr)
}

/// Quick presence timing, so that tests of dead nodes take seconds.
fn quick(config: &mut Config) {
    config.presence = PresenceSettings {
        heartbeat: Duration::from_millis(300),
        timeout: Duration::from_millis(1500),
    };
}

/// What a client knows of a topic's presence, from its `presence_state` and `presence_diff`
/// pushes, applied as the Phoenix JS helper does: key → phx_refs.
#[derive(Default)]
struct Seen {
    topic: String,
    keys: BTreeMap<String, BTreeSet<String>>,
}

impl Seen {
    fn new(topic: &str) -> Seen {
        Seen {
            topic: topic.to_owned(),
            keys: BTreeMap::new(),
        }
    }

    fn refs(presences: &Value) -> Vec<(String, String)> {
        let mut refs = Vec::new();
        for (key, presence) in presences.as_object().expect("presences are an object") {
            for meta in presence["metas"].as_array().expect("metas") {
                let phx_ref = meta["phx_ref"].as_str().expect("a phx_ref").to_owned();
                refs.push((key.clone(), phx_ref));
            }
        }
        refs
    }

    fn apply(&mut self, frame: &Value) {
        if frame[2] != self.topic.as_str() {
            return;
        }
        match frame[3].as_str() {
            Some("presence_state") => {
                self.keys.clear();
                for (key, phx_ref) in Self::refs(&frame[4]) {
                    self.keys.entry(key).or_default().insert(phx_ref);
                }
            }
            Some("presence_diff") => {
                for (key, phx_ref) in Self::refs(&frame[4]["joins"]) {
                    self.keys.entry(key).or_default().insert(phx_ref);
                }
                for (key, phx_ref) in Self::refs(&frame[4]["leaves"]) {
                    if let Some(refs) = self.keys.get_mut(&key) {
                        refs.remove(&phx_ref);
                        if refs.is_empty() {
                            self.keys.remove(&key);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn names(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// Reads `client`'s pushes until the names present are `want`; returns how long it took.
    async fn until(&mut self, client: &mut Client, want: &[&str], within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.names() == want {
                return start.elapsed();
            }
            let left = within.saturating_sub(start.elapsed());
            let next = tokio::time::timeout(left, client.ws.next()).await;
            let Ok(Some(Ok(message))) = next else {
                panic!(
                    "{}: wanted {want:?} within {within:?}, saw {:?} ({next:?})",
                    self.topic,
                    self.names()
                );
            };
            if let Message::Text(text) = message {
                self.apply(&serde_json::from_str(&text).expect("JSON frames"));
            }
        }
    }
}

/// Joins `topic` as `name` (or as a watcher); returns the join ref and what the client sees.
async fn join(client: &mut Client, topic: &str, name: Option<&str>) -> (String, Seen) {
    let payload = match name {
        Some(name) => json!({ "name": name }),
        None => json!({}),
    };
    let (join_ref, reply) = client.join(topic, payload).await;
    assert_eq!(reply["status"], "ok", "join {topic}: {reply}");
    assert!(reply["response"]["messages"].is_array(), "{reply}");
    (join_ref, Seen::new(topic))
}

const SOON: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_joins_and_leaves_on_two_nodes_are_seen_on_either() {
    let db = TestDb::new().await;
    let (a, _dir_a) = node(&db, |_| {}).await;
    let (b, _dir_b) = node(&db, |_| {}).await;
    let topic = "chat:two-nodes";

    let mut ada = Client::connect(&ws_url(&a)).await;
    let (_, mut ada_sees) = join(&mut ada, topic, Some("ada")).await;
    // The state comes right after the join reply, and has ada in it.
    let state = ada.next().await;
    assert_eq!(state[3], "presence_state", "{state}");
    assert_eq!(state[4]["ada"]["metas"][0]["name"], "ada", "{state}");
    assert!(state[4]["ada"]["metas"][0]["online_at"].is_i64(), "{state}");
    ada_sees.apply(&state);
    assert_eq!(ada_sees.names(), ["ada"]);

    let mut bob = Client::connect(&ws_url(&b)).await;
    let (bob_ref, mut bob_sees) = join(&mut bob, topic, Some("bob")).await;
    bob_sees.until(&mut bob, &["ada", "bob"], SOON).await;
    ada_sees.until(&mut ada, &["ada", "bob"], SOON).await;

    // Watchers on either node see both, and are not listed themselves.
    let mut watch_a = Client::connect(&ws_url(&a)).await;
    let (_, mut on_a) = join(&mut watch_a, topic, None).await;
    on_a.until(&mut watch_a, &["ada", "bob"], SOON).await;
    let mut watch_b = Client::connect(&ws_url(&b)).await;
    let (_, mut on_b) = join(&mut watch_b, topic, None).await;
    on_b.until(&mut watch_b, &["ada", "bob"], SOON).await;

    // The same name twice (another tab) is one key with two metas; its leave leaves the other.
    let mut bob2 = Client::connect(&ws_url(&a)).await;
    let (_, _) = join(&mut bob2, topic, Some("bob")).await;
    let diff = watch_b
        .until(|f| f[3] == "presence_diff" && f[4]["joins"]["bob"].is_object())
        .await;
    on_b.apply(&diff);
    assert_eq!(on_b.keys["bob"].len(), 2, "two metas for bob");
    drop(bob2);
    let diff = watch_b
        .until(|f| f[3] == "presence_diff" && f[4]["leaves"]["bob"].is_object())
        .await;
    on_b.apply(&diff);
    assert_eq!(on_b.keys["bob"].len(), 1, "bob is still there once");

    // Bob leaves on B: seen on A and B.
    bob.send(Some(&bob_ref), topic, "phx_leave", json!({}))
        .await;
    ada_sees.until(&mut ada, &["ada"], SOON).await;
    on_a.until(&mut watch_a, &["ada"], SOON).await;
    on_b.until(&mut watch_b, &["ada"], SOON).await;

    // Ada's socket closes on A: seen on B.
    drop(ada);
    on_b.until(&mut watch_b, &[], SOON).await;
    on_a.until(&mut watch_a, &[], SOON).await;

    // A refused name is an error reply.
    let (_, refused) = watch_a
        .join("chat:two-nodes-x", json!({"name": "  "}))
        .await;
    assert_eq!(refused["status"], "error", "{refused}");

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_of_a_killed_node_disappears_within_30_s() {
    let db = TestDb::new().await;
    // Default timing on both: heartbeat 5 s, dead after 20 s.
    let (a, _dir_a) = node(&db, |_| {}).await;
    let dir_b = TempDir::new();
    let mut b = Node::start(&db.url, &dir_b.0).await;
    let topic = "chat:killed";

    let mut ghost = Client::connect(&b.ws_url()).await;
    join(&mut ghost, topic, Some("ghost")).await;
    let mut watcher = Client::connect(&ws_url(&a)).await;
    let (_, mut seen) = join(&mut watcher, topic, None).await;
    seen.until(&mut watcher, &["ghost"], SOON).await;

    b.kill().await;
    let took = seen.until(&mut watcher, &[], Duration::from_secs(30)).await;
    assert!(took <= Duration::from_secs(30), "gone after {took:?}");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_of_a_node_without_heartbeat_is_swept_quickly() {
    let db = TestDb::new().await;
    let (a, _dir) = node(&db, quick).await;
    let topic = "chat:ghosts";
    let mut watcher = Client::connect(&ws_url(&a)).await;
    let (_, mut seen) = join(&mut watcher, topic, None).await;
    seen.until(&mut watcher, &[], SOON).await;

    // A node that wrote its entry and then stopped heartbeating (its last heartbeat a little in
    // the future, so the watcher surely sees the entry before the sweep)...
    let mut sql = PgConnection::connect(&db.url).await.unwrap();
    sql.execute(
        "INSERT INTO presence_nodes (node_id, heartbeat_at) VALUES ('dead', now() + interval '3 seconds');
         INSERT INTO presence (node_id, ref, topic, key, meta) VALUES
             ('dead', 'dead-1', 'chat:ghosts', 'casper', '{\"name\": \"casper\"}');",
    )
    .await
    .unwrap();
    seen.until(&mut watcher, &["casper"], SOON).await;
    // ...and an entry of no node at all.
    sql.execute(
        "INSERT INTO presence (node_id, ref, topic, key, meta) VALUES
             ('nobody', 'nobody-1', 'chat:ghosts', 'nemo', '{\"name\": \"nemo\"}');",
    )
    .await
    .unwrap();
    let took = seen.until(&mut watcher, &[], SOON).await;
    assert!(took < Duration::from_secs(8), "swept after {took:?}");
    let strays: i64 =
        sqlx::query_scalar("SELECT count(*) FROM presence WHERE node_id IN ('dead', 'nobody')")
            .fetch_one(&mut sql)
            .await
            .unwrap();
    assert_eq!(
        strays, 0,
        "the dead node's entry and the stray are gone from the table"
    );
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM presence_nodes WHERE node_id = 'dead'")
            .fetch_one(&mut sql)
            .await
            .unwrap();
    assert_eq!(left, 0);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_of_a_node_swept_while_alive_comes_back() {
    let db = TestDb::new().await;
    let (a, _dir_a) = node(&db, quick).await;
    let (b, _dir_b) = node(&db, quick).await;
    let topic = "chat:comeback";
    let mut ada = Client::connect(&ws_url(&a)).await;
    join(&mut ada, topic, Some("ada")).await;
    let mut watcher = Client::connect(&ws_url(&b)).await;
    let (_, mut seen) = join(&mut watcher, topic, None).await;
    seen.until(&mut watcher, &["ada"], SOON).await;

    // As if node A had been cut off too long: another node swept it.
    let mut sql = PgConnection::connect(&db.url).await.unwrap();
    let node_id = a.state.presence.node_id().to_owned();
    sqlx::query("DELETE FROM presence_nodes WHERE node_id = $1")
        .bind(&node_id)
        .execute(&mut sql)
        .await
        .unwrap();
    sqlx::query("DELETE FROM presence WHERE node_id = $1")
        .bind(&node_id)
        .execute(&mut sql)
        .await
        .unwrap();
    seen.until(&mut watcher, &[], SOON).await;
    // Its next heartbeat finds it swept and writes its entries again.
    seen.until(&mut watcher, &["ada"], SOON).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_rows_postgres_lost_are_written_again_when_the_node_reconnects() {
    let db = TestDb::new().await;
    let (a, _dir_a) = node(&db, |_| {}).await;
    let (b, _dir_b) = node(&db, |_| {}).await;
    let topic = "chat:lost-rows";
    let mut ada = Client::connect(&ws_url(&a)).await;
    join(&mut ada, topic, Some("ada")).await;
    let mut watcher = Client::connect(&ws_url(&b)).await;
    let (_, mut seen) = join(&mut watcher, topic, None).await;
    seen.until(&mut watcher, &["ada"], SOON).await;

    // As if Postgres had crashed after committing ada's row but before it reached the disk
    // (presence does not wait for it): the row is gone, node A's heartbeat is not...
    let mut sql = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("DELETE FROM presence WHERE node_id = $1")
        .bind(a.state.presence.node_id())
        .execute(&mut sql)
        .await
        .unwrap();
    seen.until(&mut watcher, &[], SOON).await;
    // ...and every node's connections broke.
    sql.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await
    .unwrap();
    // Once A listens again it writes its entries again.
    seen.until(&mut watcher, &["ada"], SOON).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_of_a_stopped_node_leaves_at_once() {
    let db = TestDb::new().await;
    let (a, _dir_a) = node(&db, |_| {}).await;
    let (b, _dir_b) = node(&db, |_| {}).await;
    let topic = "chat:stopping";
    let mut bob = Client::connect(&ws_url(&b)).await;
    join(&mut bob, topic, Some("bob")).await;
    let mut watcher = Client::connect(&ws_url(&a)).await;
    let (_, mut seen) = join(&mut watcher, topic, None).await;
    seen.until(&mut watcher, &["bob"], SOON).await;
    let stopping = tokio::spawn(b.stop());
    // Well before the 20 s timeout: a clean stop deletes the node's entries.
    let took = seen.until(&mut watcher, &[], SOON).await;
    assert!(took < Duration::from_secs(10), "gone after {took:?}");
    drop(bob);
    stopping.await.unwrap();
    a.stop().await;
}

/// The value of the first `replace` op for `id` in a list of patch ops.
fn replaced(ops: &Value, id: &str) -> Option<String> {
    ops.as_array()?
        .iter()
        .find(|op| op["op"] == "replace" && op["id"] == id)
        .and_then(|op| op["html"].as_str())
        .map(str::to_owned)
}

/// Waits for a `patch` push that replaces `id`; returns its html.
async fn patched(client: &mut Client, id: &str) -> String {
    let frame = client
        .until(|f| f[3] == "patch" && replaced(&f[4]["ops"], id).is_some())
        .await;
    replaced(&frame[4]["ops"], id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_the_chat_room_page_shows_who_is_here_live() {
    let server = TestServer::start().await;
    let room = "here-now";
    let path = format!("/chat/{room}");
    // Ada picks a name.
    let (html, cookie) = page(&server, &path, None).await;
    let csrf = attribute(&html, "name=\"_csrf\" value");
    let named = http()
        .post(format!("{}{path}/name", server.url()))
        .header("cookie", &cookie)
        .form(&[("name", "Ada"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 303);
    let cookie = named.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (html, _) = page(&server, &path, Some(&cookie)).await;
    assert!(html.contains("id=\"present\""), "the page has the list");
    let token = attribute(&html, "data-cinder-token");

    // Her page, joined, lists her.
    let mut tab = Client::connect(&server.ws_url()).await;
    let (_, reply) = tab
        .join(&format!("lv:{path}"), json!({"token": token}))
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let here = replaced(&reply["response"]["patches"], "present").expect("a present region");
    assert!(here.contains("<li>Ada</li>"), "{here}");

    // Bob joins the room's topic from a Phoenix client: the page shows both, live.
    let mut bob = Client::connect(&server.ws_url()).await;
    let (bob_ref, _) = bob
        .join(&format!("chat:{room}"), json!({"name": "Bob <b>"}))
        .await;
    let here = patched(&mut tab, "present").await;
    assert!(
        here.contains("<li>Ada</li>") && here.contains("<li>Bob &lt;b&gt;</li>"),
        "{here}"
    );

    // A plain page load shows them too.
    let (html, _) = page(&server, &path, None).await;
    assert!(
        html.contains("<li>Ada</li>") && html.contains("Bob &lt;b&gt;"),
        "rendered"
    );

    // Bob leaves.
    bob.send(
        Some(&bob_ref),
        &format!("chat:{room}"),
        "phx_leave",
        json!({}),
    )
    .await;
    let here = patched(&mut tab, "present").await;
    assert!(
        here.contains("<li>Ada</li>") && !here.contains("Bob"),
        "{here}"
    );

    // And a Phoenix client sees the page's visitor in the room's presence.
    let mut watcher = Client::connect(&server.ws_url()).await;
    let (_, mut seen) = join(&mut watcher, &format!("chat:{room}"), None).await;
    seen.until(&mut watcher, &["Ada"], SOON).await;
    drop(tab);
    seen.until(&mut watcher, &[], SOON).await;
}

/// A live view's token from a page on `base` (with Basic auth for the admin).
async fn view_token(base: &str, path: &str, admin: bool) -> String {
    let mut request = http().get(format!("{base}{path}"));
    if admin {
        request = request.basic_auth("admin", Some("test-admin"));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    attribute(&response.text().await.unwrap(), "data-cinder-token")
}

fn unique_shoppers(html: &str) -> String {
    let start = html.find("id=\"unique-shoppers\">").expect("the count") + 21;
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_drops_admin_counts_shoppers_of_every_node() {
    let db = TestDb::new().await;
    let (a, _dir_a) = node(&db, |_| {}).await;
    let (b, _dir_b) = node(&db, |_| {}).await;

    let token = view_token(&a.url(), "/admin", true).await;
    let mut admin = Client::connect(&ws_url(&a)).await;
    let (_, reply) = admin.join("lv:/admin", json!({"token": token})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let shoppers = replaced(&reply["response"]["patches"], "shoppers").unwrap();
    assert_eq!(unique_shoppers(&shoppers), "0");

    // A shopper on node B, then one on node A at checkout.
    let token = view_token(&b.url(), "/drops", false).await;
    let mut shopper = Client::connect(&ws_url(&b)).await;
    shopper.join("lv:/drops", json!({"token": token})).await;
    let shoppers = patched(&mut admin, "shoppers").await;
    assert_eq!(unique_shoppers(&shoppers), "1", "{shoppers}");
    assert!(shoppers.contains("data-page=\"/drops\""), "{shoppers}");

    let token = view_token(&a.url(), "/drops/checkout", false).await;
    let mut buyer = Client::connect(&ws_url(&a)).await;
    buyer
        .join("lv:/drops/checkout", json!({"token": token}))
        .await;
    let shoppers = patched(&mut admin, "shoppers").await;
    assert_eq!(unique_shoppers(&shoppers), "2", "{shoppers}");
    assert!(
        shoppers.contains("data-page=\"/drops/checkout\""),
        "{shoppers}"
    );

    // The shopper on B closes the tab.
    drop(shopper);
    loop {
        let shoppers = patched(&mut admin, "shoppers").await;
        if unique_shoppers(&shoppers) == "1" {
            break;
        }
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_a_name_with_a_nul_is_refused_and_blocks_no_one_else() {
    let db = TestDb::new().await;
    let (a, _dir_a) = node(&db, |_| {}).await;
    let (b, _dir_b) = node(&db, |_| {}).await;
    let topic = "chat:nul-names";

    // At the edge: the join and the display-name form refuse it.
    let mut evil = Client::connect(&ws_url(&a)).await;
    let (_, refused) = evil.join(topic, json!({"name": "evil\u{0}"})).await;
    assert_eq!(refused["status"], "error", "{refused}");
    assert_eq!(
        refused["response"]["reason"],
        "your name can't contain control characters"
    );
    let room = format!("http://{}/chat/nul-names", a.addr);
    let response = http().get(&room).send().await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    let csrf = attribute(&html[html.find("name=\"_csrf\"").unwrap()..], "value");
    let named = http()
        .post(format!("{room}/name"))
        .header("cookie", &cookie)
        .form(&[("name", "evil\u{0}"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 422);
    assert!(
        named.headers().get("set-cookie").is_none(),
        "no such name is kept"
    );

    // Behind the edge: an entry Postgres cannot store (one tracked before names were checked,
    // say) is left out, and the node's other entries still reach the other node.
    let _stuck = a
        .state
        .presence
        .track(topic, "evil\u{0}", json!({"name": "evil\u{0}"}));
    let mut ada = Client::connect(&ws_url(&a)).await;
    join(&mut ada, topic, Some("ada")).await;
    let mut watch_b = Client::connect(&ws_url(&b)).await;
    let (_, mut on_b) = join(&mut watch_b, topic, None).await;
    on_b.until(&mut watch_b, &["ada"], SOON).await;
    let mut bob = Client::connect(&ws_url(&a)).await;
    join(&mut bob, topic, Some("bob")).await;
    on_b.until(&mut watch_b, &["ada", "bob"], SOON).await;

    a.stop().await;
    b.stop().await;
}
