//! Several nodes on one Postgres, and surviving a SIGKILL under load.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::processes::Node;
use crate::replay::dump;
use crate::support::{http, Client, TempDir, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_on_one_node_reaches_clients_of_another() {
    let db = TestDb::new().await;
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let mut a = Node::start(&db.url, &dir_a.0).await;
    let b = Node::start(&db.url, &dir_b.0).await;

    let mut on_b = Client::connect(&b.ws_url()).await;
    on_b.join("chat:nodes", json!({})).await;
    let response = http()
        .post(format!("{}/api/chat/rooms/nodes/messages", a.url()))
        .json(&json!({"sender": "ada", "content": "from node A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let push = on_b.until(|f| f[3] == "message_sent").await;
    assert_eq!(push[4]["content"], "from node A");

    // A client of A that loses A reconnects to B and gets the current state in the join reply.
    let mut roaming = Client::connect(&a.ws_url()).await;
    roaming.join("chat:nodes", json!({})).await;
    a.kill().await;
    assert!(roaming
        .closed()
        .await
        .is_none_or(|code| code == 1001 || code == 1006));
    http()
        .post(format!("{}/api/chat/rooms/nodes/messages", b.url()))
        .json(&json!({"sender": "bob", "content": "while you were away"}))
        .send()
        .await
        .unwrap();
    let mut again = Client::connect(&b.ws_url()).await;
    let (_, reply) = again.join("chat:nodes", json!({})).await;
    let contents: Vec<_> = reply["response"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        contents,
        vec![json!("from node A"), json!("while you were away")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_load_loses_nothing_it_acknowledged() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let mut node = Node::start(&db.url, &dir.0).await;
    let url = node.url();
    // Killed once the load is well under way (not after a fixed time: a loaded machine may
    // acknowledge few commands in any given second).
    let acked = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for s in 0..8 {
        let url = url.clone();
        let acked = acked.clone();
        senders.push(tokio::spawn(async move {
            let client = http();
            let mut acknowledged = Vec::new();
            for n in 0..400 {
                let sent = client
                    .post(format!("{url}/api/chat/rooms/load-{}/messages", s % 3))
                    .json(&json!({"sender": format!("s{s}-{n}"), "content": format!("m {s} {n}")}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 201 => {
                        let body: Value = response.json().await.unwrap();
                        acknowledged.push(body["position"].as_i64().unwrap());
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    let started = std::time::Instant::now();
    while acked.load(Ordering::Relaxed) < 40 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.kill().await;
    let mut acknowledged = BTreeSet::new();
    for sender in senders {
        acknowledged.extend(sender.await.unwrap());
    }
    assert!(
        acknowledged.len() > 20,
        "the load was running: {} acknowledged",
        acknowledged.len()
    );

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let stored: BTreeSet<i64> = sqlx::query_scalar("SELECT position FROM events")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        acknowledged.is_subset(&stored),
        "every acknowledged command's events are stored"
    );

    node.restart().await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut projected = 0;
    for _ in 0..100 {
        let mut sum = 0;
        for room in 0..3 {
            let body: Value = http()
                .get(format!(
                    "{}/api/chat/rooms/load-{room}/messages?limit=500",
                    node.url()
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap_or(Value::Null);
            sum += body["messages"].as_array().map_or(0, Vec::len);
        }
        projected = sum;
        if projected as i64 == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        projected as i64, total,
        "the restarted node shows every stored message, once"
    );
    node.terminate().await;

    let after_restart = dump(&dir.0);
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_cinder"))
        .arg("replay")
        .env("DATABASE_URL", &db.url)
        .env("CINDER_DATA_DIR", &dir.0)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(
        dump(&dir.0),
        after_restart,
        "read models equal a fresh replay"
    );
}
