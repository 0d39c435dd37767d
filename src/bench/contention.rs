//! `contention`: a flash sale of one product. Every client buys the same item again and again
//! (a cart of its own, one item, checkout), so every sale is a command to the one `Product`
//! aggregate (the cart and purchase commands around it are each client's own). First on one
//! node, then with the same clients split across two nodes on the same Postgres: there the
//! product is written from two processes at once, and takes turns (`src/store/turn.rs`). What
//! matters is that contention costs throughput, never a sale: failures must be 0, and the log's
//! sales must equal the sales acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Executor;

use super::node::{Database, Node};
use super::report::{Latency, Report};
use super::{BenchArgs, BenchError};

/// Units of the one size on sale: more than any run can sell, so nothing is refused as sold out.
const UNITS: u64 = 100_000_000;
const PRODUCT: &str = "CONTEND";

/// What one phase of buying did.
struct Sales {
    latencies: Vec<Duration>,
    /// Checkouts that did not answer 200 (or not at all), and the first such answer.
    failures: usize,
    first_failure: Option<String>,
    elapsed: Duration,
}

impl Sales {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn rows(&self, report: &mut Report, prefix: &str) {
        report.row(format!("{prefix}sales/s"), self.rate(), "1/s");
        report.latency(
            &format!("{prefix}checkout latency"),
            &Latency::of(self.latencies.clone()),
            None,
        );
        report.row_with_goal(format!("{prefix}failures"), self.failures as f64, "", "0");
        if let Some(failure) = &self.first_failure {
            eprintln!("bench contention: {prefix}first failure: {failure}");
        }
    }
}

pub async fn contention(args: &BenchArgs) -> Result<Report, BenchError> {
    let db = Database::create(&args.postgres, "contention").await?;
    let a = Node::start(&db.url, "contention-a").await?;
    let item = create_product(&a).await?;
    let phase = Duration::from_secs(args.seconds);
    eprintln!(
        "bench contention: {} clients on one node for {phase:?}",
        args.clients
    );
    let one = buy(&[&a], &item, args.clients, phase, "one").await?;
    let b = Node::start(&db.url, "contention-b").await?;
    knows_product(&b).await?;
    eprintln!(
        "bench contention: {} clients across two nodes for {phase:?}",
        args.clients
    );
    let two = buy(&[&a, &b], &item, args.clients, phase, "two").await?;
    a.stop().await;
    b.stop().await;
    let sold: i64 = {
        let mut conn = db.connect().await?;
        conn.execute("SET statement_timeout = '60s'").await?;
        sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE event_type = 'ItemSold')
                  - count(*) FILTER (WHERE event_type = 'SaleUndone')
               FROM events WHERE aggregate_type = 'Product'",
        )
        .fetch_one(&mut conn)
        .await?
    };
    db.drop().await?;

    let mut report = Report::new("contention");
    report.setting("clients", args.clients);
    report.setting("seconds", args.seconds);
    report.setting("product", "1 (every sale is a command to it)");
    one.rows(&mut report, "one node: ");
    two.rows(&mut report, "two nodes: ");
    report.row(
        "two nodes / one node",
        two.rate() / one.rate().max(1e-9),
        "×",
    );
    let acknowledged = (one.latencies.len() + two.latencies.len()) as f64;
    report.row_with_goal(
        "sales in the log − sales acknowledged",
        sold as f64 - acknowledged,
        "",
        "0",
    );
    Ok(report)
}

/// Creates and releases the product on `node`; returns its one item's id.
async fn create_product(node: &Node) -> Result<String, BenchError> {
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/api/drops/products", node.url))
        .basic_auth("admin", Some("bench"))
        .json(
            &json!({"sku": PRODUCT, "name": "Contended", "brand": "Bench", "color": "red",
                      "price_usd": 100, "image_url": "", "order": 0,
                      "items": [{"sku": format!("{PRODUCT}9"), "size": "9", "available": UNITS}]}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let item = created["items"][0]["id"]
        .as_str()
        .ok_or_else(|| BenchError::Protocol(format!("no item in {created}")))?
        .to_owned();
    http.post(format!("{}/api/drops/products/{PRODUCT}/release", node.url))
        .basic_auth("admin", Some("bench"))
        .send()
        .await?
        .error_for_status()?;
    knows_product(node).await?;
    Ok(item)
}

/// Waits until `node`'s read model shows the product released (it trails the log a moment).
async fn knows_product(node: &Node) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body: Value = reqwest::get(format!("{}/api/drops/products/{PRODUCT}", node.url))
            .await?
            .json()
            .await
            .unwrap_or(Value::Null);
        if body["product"]["released"].as_bool() == Some(true) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Protocol(format!(
                "{} does not show the product after 30 s: {body}",
                node.url
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `clients` buyers, spread over `nodes`, each buying `item` back to back (a fresh cart each
/// time: add, checkout) for `phase`.
async fn buy(
    nodes: &[&Node],
    item: &str,
    clients: usize,
    phase: Duration,
    label: &str,
) -> Result<Sales, BenchError> {
    let start = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let url = nodes[i % nodes.len()].url.clone();
        let (start, item, label) = (start.clone(), item.to_owned(), label.to_owned());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut failures = 0;
            let mut first_failure = None;
            start.wait().await;
            let deadline = Instant::now() + phase;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let cart = format!("{label}-{i}-{n}");
                let sent = Instant::now();
                match sale(&http, &url, &cart, &item).await {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(failure) => {
                        failures += 1;
                        first_failure.get_or_insert(failure);
                    }
                }
            }
            (latencies, failures, first_failure)
        }));
    }
    start.wait().await;
    let started = Instant::now();
    let mut sales = Sales {
        latencies: Vec::new(),
        failures: 0,
        first_failure: None,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (latencies, failures, first_failure) = task
            .await
            .map_err(|error| BenchError::Protocol(format!("a buyer failed: {error}")))?;
        sales.latencies.extend(latencies);
        sales.failures += failures;
        if sales.first_failure.is_none() {
            sales.first_failure = first_failure;
        }
    }
    sales.elapsed = started.elapsed();
    Ok(sales)
}

/// One sale: `item` into cart `cart`, then its checkout. The answer if it was not a sale.
async fn sale(http: &reqwest::Client, url: &str, cart: &str, item: &str) -> Result<(), String> {
    let added = http
        .post(format!("{url}/api/drops/carts/{cart}/items"))
        .json(&json!({"item_id": item}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !added.status().is_success() {
        let status = added.status();
        return Err(format!(
            "add: {status} {}",
            added.text().await.unwrap_or_default()
        ));
    }
    let checkout = http
        .post(format!("{url}/api/drops/carts/{cart}/checkout"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !checkout.status().is_success() {
        let status = checkout.status();
        return Err(format!(
            "checkout: {status} {}",
            checkout.text().await.unwrap_or_default()
        ));
    }
    Ok(())
}
