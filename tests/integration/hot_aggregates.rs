//! Hot aggregates across nodes: two `cinder serve` processes on one database selling the same
//! product at once. Contention may cost throughput, never a shopper's purchase: every checkout
//! ends in a sale or a domain refusal (sold out), and the stock and the sales add up.

use std::time::Duration;

use serde_json::{json, Value};

use crate::processes::Node;
use crate::support::{http, TempDir, TestDb};

const PASSWORD: &str = "test-admin";
/// Units of each of the product's two sizes: fewer than the checkouts tried, so it sells out.
const UNITS: u64 = 120;
const BUYERS_PER_NODE: usize = 12;
const CHECKOUTS_PER_BUYER: usize = 12;

/// One buyer on `url`: `rounds` times, puts one of `items` in a fresh cart and checks out.
/// Returns (bought, refused as sold out); panics on any other answer.
async fn buyer(url: String, name: String, items: Vec<String>, rounds: usize) -> (u64, u64) {
    let client = http();
    let (mut bought, mut sold_out) = (0, 0);
    for round in 0..rounds {
        let cart = format!("{name}-{round}");
        let item = &items[round % items.len()];
        let added = client
            .post(format!("{url}/api/drops/carts/{cart}/items"))
            .json(&json!({"item_id": item}))
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), 200, "{}", added.text().await.unwrap());
        let response = client
            .post(format!("{url}/api/drops/carts/{cart}/checkout"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match status {
            200 => bought += 1,
            409 if body["error"]
                .as_str()
                .is_some_and(|e| e.to_lowercase().contains("sold out")) =>
            {
                sold_out += 1
            }
            _ => panic!("checkout answered {status} {body}"),
        }
    }
    (bought, sold_out)
}

/// Commands on `node` that ended in a conflict no retry settled, by `/metrics`.
async fn unsettled_conflicts(node: &Node) -> u64 {
    let text = http()
        .get(format!("{}/metrics", node.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("cinder_commands_total{") && line.contains("conflict"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The product's units left per size, on `node`, once its read model shows `expected` (or
/// after 10 s).
async fn available(node: &Node, expected: &[u64]) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let body: Value = http()
            .get(format!("{}/api/drops/products/HOT", node.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        seen = body["product"]["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["available"].as_u64())
                    .collect()
            })
            .unwrap_or_default();
        if seen == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_selling_one_product_settle_every_conflict_and_oversell_nothing() {
    let db = TestDb::new().await;
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let mut a = Node::start(&db.url, &dir_a.0).await;
    let mut b = Node::start(&db.url, &dir_b.0).await;

    let created = http()
        .post(format!("{}/api/drops/products", a.url()))
        .basic_auth("admin", Some(PASSWORD))
        .json(
            &json!({"sku": "HOT", "name": "Hot shoe", "brand": "B", "color": "c",
                      "price_usd": 100, "image_url": "", "order": 0,
                      "items": [{"sku": "HOT0", "size": "9", "available": UNITS},
                                {"sku": "HOT1", "size": "10", "available": UNITS}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    let items: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let released = http()
        .post(format!("{}/api/drops/products/HOT/release", a.url()))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), 200);
    // Node B sells it once its read model knows it.
    assert_eq!(available(&b, &[UNITS, UNITS]).await, vec![UNITS, UNITS]);

    let mut buyers = Vec::new();
    for (node, url) in [("a", a.url()), ("b", b.url())] {
        for n in 0..BUYERS_PER_NODE {
            buyers.push(tokio::spawn(buyer(
                url.clone(),
                format!("{node}{n}"),
                items.clone(),
                CHECKOUTS_PER_BUYER,
            )));
        }
    }
    let (mut bought, mut sold_out) = (0, 0);
    for buyer in buyers {
        let (b, s) = buyer.await.unwrap();
        bought += b;
        sold_out += s;
    }
    let tried = (2 * BUYERS_PER_NODE * CHECKOUTS_PER_BUYER) as u64;
    assert_eq!(bought + sold_out, tried);
    assert_eq!(bought, 2 * UNITS, "everything was sold, and nothing more");
    assert_eq!(
        unsettled_conflicts(&a).await,
        0,
        "node A settled every conflict"
    );
    assert_eq!(
        unsettled_conflicts(&b).await,
        0,
        "node B settled every conflict"
    );

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (sold, undone, completed, conflicted): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE event_type = 'ItemSold'),
                count(*) FILTER (WHERE event_type = 'SaleUndone'),
                count(*) FILTER (WHERE event_type = 'PurchaseCompleted'),
                count(*) FILTER (WHERE payload::text LIKE '%changed this at once%')
           FROM events",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        sold - undone,
        bought as i64,
        "the log agrees with the shoppers"
    );
    assert_eq!(completed, bought as i64, "one completed purchase per sale");
    assert_eq!(conflicted, 0, "no purchase was refused for a conflict");
    assert_eq!(available(&a, &[0, 0]).await, vec![0, 0]);
    assert_eq!(available(&b, &[0, 0]).await, vec![0, 0]);
    pool.close().await;
    a.terminate().await;
    b.terminate().await;
}
