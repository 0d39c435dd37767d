//! Drops: the race for the last units, all-or-nothing checkout with compensation, recovery of
//! an interrupted purchase, the admin API, carts, and the `product:<id>` topic.

use std::time::Duration;

use cinder::process::checkout::Shop;
use cinder::process::checkout::{buy, recover, CheckoutError};
use cinder::web::AppState;
use cinder_domain::drops::{CartCommand, CartError, ProductCommand, PurchaseCommand};
use cinder_read_models::drops::DropsReadModel;
use serde_json::{json, Value};

use crate::socket::{attribute, page};
use crate::support::{http, Client, TestServer};

/// The node's Drops read model (the app registers it).
fn drops(app: &AppState) -> DropsReadModel {
    app.apps
        .get::<DropsReadModel>()
        .expect("Drops is registered")
        .clone()
}

/// What the checkout process manager works with on this node.
fn shop(app: &AppState) -> Shop {
    cinder::web::drops::shop(app, &drops(app))
}

const PASSWORD: &str = "test-admin";

async fn server() -> TestServer {
    TestServer::start_with(|c| c.admin_password = Some(PASSWORD.into())).await
}

/// Creates product `sku` with `sizes` (size, units) through the admin API; returns item ids.
async fn product(
    server: &TestServer,
    sku: &str,
    sizes: &[(&str, u32)],
    release: bool,
) -> Vec<String> {
    let items: Vec<Value> = sizes
        .iter()
        .enumerate()
        .map(|(n, (size, available))| json!({"sku": format!("{sku}{n}"), "size": size, "available": available}))
        .collect();
    let response = http()
        .post(format!("{}/api/drops/products", server.url()))
        .basic_auth("admin", Some(PASSWORD))
        .json(&json!({"sku": sku, "name": format!("Shoe {sku}"), "brand": "B", "color": "c", "price_usd": 100, "image_url": "", "order": 0, "items": items}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], sku);
    if release {
        let released = http()
            .post(format!("{}/api/drops/products/{sku}/release", server.url()))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(released.status(), 200);
    }
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn add(server: &TestServer, cart: &str, item: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{}/api/drops/carts/{cart}/items", server.url()))
        .json(&json!({"item_id": item}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn checkout(server: &TestServer, cart: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{}/api/drops/carts/{cart}/checkout", server.url()))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The counts once the read model shows `expected` (it trails the log by a moment), or the
/// last seen after 10 s.
async fn settled(server: &TestServer, sku: &str, expected: &[u64]) -> Vec<u64> {
    let mut seen = available(server, sku).await;
    for _ in 0..200 {
        if seen == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        seen = available(server, sku).await;
    }
    seen
}

async fn available(server: &TestServer, sku: &str) -> Vec<u64> {
    let body: Value = http()
        .get(format!("{}/api/drops/products/{sku}", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["product"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["available"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_race_for_fifty_units() {
    let server = server().await;
    let items = product(&server, "RACE", &[("9", 50)], true).await;
    for buyer in 0..200 {
        assert_eq!(
            add(&server, &format!("buyer-{buyer}"), &items[0]).await.0,
            200
        );
    }
    let mut races = Vec::new();
    for buyer in 0..200 {
        let url = format!("{}/api/drops/carts/buyer-{buyer}/checkout", server.url());
        races.push(tokio::spawn(async move {
            let response = http().post(url).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }));
    }
    let (mut bought, mut sold_out) = (0, 0);
    for race in races {
        match race.await.unwrap() {
            (200, body) => {
                assert_eq!(body["status"], "complete");
                bought += 1;
            }
            (409, body) => {
                let error = body["error"].as_str().unwrap().to_lowercase();
                assert!(error.contains("sold out"), "{error}");
                sold_out += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((bought, sold_out), (50, 150));
    assert_eq!(settled(&server, "RACE", &[0]).await, vec![0]);
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let (sold, undone): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE event_type = 'ItemSold'), count(*) FILTER (WHERE event_type = 'SaleUndone')
           FROM events WHERE aggregate_type = 'Product'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sold - undone, 50, "the log agrees: 50 units left the store");
    let completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'PurchaseCompleted'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(completed, 50);
}

#[tokio::test]
async fn a_purchase_that_fails_midway_gives_back_what_it_took() {
    let server = server().await;
    let first = product(&server, "ONE", &[("9", 100), ("10", 100)], true).await;
    let second = product(&server, "TWO", &[("8", 1)], true).await;
    let cart = "shopper";
    let items = vec![first[0].clone(), second[0].clone(), first[1].clone()];
    for item in &items {
        cart_command(
            &server,
            cart,
            CartCommand::AddItem {
                item_id: item.clone(),
            },
        )
        .await
        .unwrap();
    }
    // Another shopper takes the last unit of the second item after our checks passed.
    server
        .server
        .state
        .bus
        .execute::<cinder_domain::drops::Product>(
            "TWO",
            ProductCommand::SellItem {
                item_id: second[0].clone(),
                purchase_id: None,
            },
        )
        .await
        .unwrap();
    let outcome = buy(&shop(&server.server.state), cart, items.clone()).await;
    let Err(CheckoutError::Failed(what)) = &outcome else {
        panic!("expected one clear failure, got {outcome:?}")
    };
    assert_eq!(what, "Shoe TWO, size 8");
    assert_eq!(
        outcome.unwrap_err().to_string(),
        "Sorry, Shoe TWO, size 8 sold out while we were completing your purchase. Nothing was bought; your cart is unchanged."
    );
    assert_eq!(
        settled(&server, "ONE", &[100, 100]).await,
        vec![100, 100],
        "the first sale was undone, the third never made"
    );
    assert_eq!(settled(&server, "TWO", &[0]).await, vec![0]);
    // The cart is unchanged, and free for the shopper again.
    let again = cart_command(
        &server,
        cart,
        CartCommand::AddItem {
            item_id: first[0].clone(),
        },
    );
    assert_eq!(again.await.err(), Some(CartError::Duplicate));
    cart_command(
        &server,
        cart,
        CartCommand::RemoveItem {
            item_id: second[0].clone(),
        },
    )
    .await
    .expect("no checkout holds the cart");
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'Purchase' ORDER BY position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        types,
        vec![
            "PurchaseStarted",
            "ItemSecured",
            "ItemRefused",
            "SaleCompensated",
            "PurchaseFailed"
        ]
    );
}

#[tokio::test]
async fn an_interrupted_purchase_is_finished_by_giving_back() {
    let server = server().await;
    let items = product(&server, "HALF", &[("9", 10), ("10", 10)], true).await;
    let app = &server.server.state;
    let purchase = "p-interrupted";
    // A node got this far and died: item one sold and recorded, item two sold but not recorded.
    let record = |command| {
        app.bus
            .execute::<cinder_domain::drops::Purchase>(purchase, (purchase.to_owned(), command))
    };
    record(PurchaseCommand::Start {
        cart_id: "c".into(),
        items: items.clone(),
    })
    .await
    .unwrap();
    for item in &items {
        app.bus
            .execute::<cinder_domain::drops::Product>(
                "HALF",
                ProductCommand::SellItem {
                    item_id: item.clone(),
                    purchase_id: Some(purchase.into()),
                },
            )
            .await
            .unwrap();
    }
    let secured = record(PurchaseCommand::Secured {
        item_id: items[0].clone(),
    })
    .await
    .unwrap();
    assert_eq!(settled(&server, "HALF", &[9, 9]).await, vec![9, 9]);
    // Recovery reads running purchases from the read model: wait until it has this one.
    assert!(
        app.progress
            .wait_for(secured.last().unwrap(), Duration::from_secs(10))
            .await
    );

    assert_eq!(recover(&shop(app), Duration::ZERO).await, 1);
    assert_eq!(
        settled(&server, "HALF", &[10, 10]).await,
        vec![10, 10],
        "both units given back"
    );
    let mut again = None;
    for _ in 0..200 {
        // Once the read model shows the purchase ended, there is nothing left to finish.
        let status = drops(app).purchase(purchase).unwrap().unwrap().status;
        if status != cinder_domain::drops::PurchaseStatus::Running {
            again = Some(recover(&shop(app), Duration::ZERO).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(again, Some(0), "and only once");
    assert_eq!(available(&server, "HALF").await, vec![10, 10]);
    let status = drops(app).purchase(purchase).unwrap().unwrap().status;
    assert_eq!(status, cinder_domain::drops::PurchaseStatus::Failed);
}

#[tokio::test]
async fn checkout_refuses_in_the_documented_order_then_completes() {
    let server = server().await;
    assert_eq!(
        checkout(&server, "c1").await,
        (
            422,
            json!({"status": "refused", "error": "Your cart is empty."})
        )
    );
    let unreleased = product(&server, "SOON", &[("9", 5)], false).await;
    let sold_out = product(&server, "GONE", &[("9", 0), ("10", 3)], true).await;
    add(&server, "c1", &unreleased[0]).await;
    add(&server, "c1", &sold_out[0]).await;
    let (status, body) = checkout(&server, "c1").await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"],
        "Sold out: Shoe GONE, size 9. Remove it from your cart to check out."
    );
    let removed = http()
        .delete(format!(
            "{}/api/drops/carts/c1/items/{}",
            server.url(),
            sold_out[0]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    assert_eq!(
        removed.json::<Value>().await.unwrap(),
        json!({"cart": {"id": "c1", "items": [unreleased[0]]}})
    );
    assert_eq!(
        checkout(&server, "c1").await,
        (
            422,
            json!({"status": "refused", "error": "Not released yet: Shoe SOON, size 9."})
        )
    );
    http()
        .delete(format!(
            "{}/api/drops/carts/c1/items/{}",
            server.url(),
            unreleased[0]
        ))
        .send()
        .await
        .unwrap();
    let (status, cart) = add(&server, "c1", &sold_out[1]).await;
    assert_eq!(
        (status, cart),
        (200, json!({"cart": {"id": "c1", "items": [sold_out[1]]}}))
    );
    let (status, body) = checkout(&server, "c1").await;
    assert_eq!((status, &body["status"]), (200, &json!("complete")));
    let body: Value = http()
        .get(format!("{}/api/drops/products/GONE", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["product"]["items"][1]["available"], 2);
    let (_, empty) = checkout(&server, "c1").await;
    assert_eq!(
        empty["error"], "Your cart is empty.",
        "success empties the cart"
    );
}

#[tokio::test]
async fn the_admin_api_needs_the_password_and_answers_clearly() {
    let server = server().await;
    let body = json!({"sku": "X1", "name": "X", "brand": "B", "color": "c", "price_usd": 1, "image_url": "", "order": 0, "items": [{"sku": "X11", "size": "9", "available": 1}]});
    let url = format!("{}/api/drops/products", server.url());
    assert_eq!(
        http().post(&url).json(&body).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        http()
            .post(&url)
            .basic_auth("admin", Some("wrong"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let created = http()
        .post(&url)
        .basic_auth("admin", Some(PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.json::<Value>().await.unwrap(),
        json!({"id": "X1", "items": [{"id": "X1-9", "sku": "X11", "size": "9"}]})
    );
    assert_eq!(
        http()
            .post(&url)
            .basic_auth("admin", Some(PASSWORD))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    let mut bad = body.clone();
    bad["sku"] = json!("X2");
    bad["items"][0]["size"] = json!("13");
    let refused = http()
        .post(&url)
        .basic_auth("admin", Some(PASSWORD))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.json::<Value>().await.unwrap()["errors"]["items"].is_array());
    let restock = |item: &str, quantity: Value| {
        http()
            .post(format!("{}/api/drops/items/{item}/restock", server.url()))
            .basic_auth("admin", Some(PASSWORD))
            .json(&json!({"quantity": quantity}))
            .send()
    };
    let restocked = restock("X1-9", json!(499)).await.unwrap();
    assert_eq!(restocked.status(), 200);
    let restocked: Value = restocked.json().await.unwrap();
    assert_eq!(restocked["product"]["items"][0]["available"], 500);
    assert_eq!(restocked["product"]["items"][0]["level"], "high");
    assert_eq!(restock("X1-9", json!(0)).await.unwrap().status(), 422);
    assert_eq!(restock("X1-7", json!(1)).await.unwrap().status(), 404);
    assert_eq!(restock("X1-9", json!("lots")).await.unwrap().status(), 400);
    let release = format!("{}/api/drops/products/X1/release", server.url());
    assert_eq!(http().post(&release).send().await.unwrap().status(), 401);
    assert_eq!(
        http()
            .post(&release)
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http()
            .post(&release)
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .status(),
        422,
        "one way"
    );
    assert_eq!(add(&server, "c", "X1-7").await.0, 404);
    for n in 0..10 {
        let id = format!("C{n}");
        product(&server, &id, &[("9", 1)], false).await;
        assert_eq!(add(&server, "full", &format!("{id}-9")).await.0, 200);
    }
    let (status, body) = add(&server, "full", "X1-9").await;
    assert_eq!(
        (status, body),
        (
            422,
            json!({"errors": {"item_id": ["your cart holds at most 10 items"]}})
        )
    );
    let page = http()
        .get(format!("{}/admin", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
}

#[tokio::test]
async fn product_topics_push_release_and_level_changes_only() {
    let server = server().await;
    let items = product(&server, "TOPIC", &[("9", 151), ("10", 5)], false).await;
    let mut client = Client::connect(&server.ws_url()).await;
    let (_, reply) = client.join("product:TOPIC", json!({})).await;
    assert_eq!(reply["status"], "ok");
    assert_eq!(reply["response"]["product"]["released"], false);
    assert_eq!(reply["response"]["product"]["items"][0]["level"], "medium");
    let (_, missing) = client.join("product:NOPE", json!({})).await;
    assert_eq!(missing["status"], "error");
    let state = &server.server.state;
    state
        .bus
        .execute::<cinder_domain::drops::Product>("TOPIC", ProductCommand::ReleaseProduct)
        .await
        .unwrap();
    let released = client.until(|f| f[3] == "released").await;
    assert_eq!(released[4]["product_id"], "TOPIC");
    assert!(released[4]["size_html"]
        .as_str()
        .unwrap()
        .contains("level-medium"));
    let sell = |item: &str| {
        state.bus.execute::<cinder_domain::drops::Product>(
            "TOPIC",
            ProductCommand::SellItem {
                item_id: item.to_owned(),
                purchase_id: None,
            },
        )
    };
    sell(&items[0]).await.unwrap(); // 151 → 150: still medium, nothing pushed
    sell(&items[0]).await.unwrap(); // 150 → 149: low
    let change = client.until(|f| f[3] == "stock_change").await;
    assert_eq!(
        change[4],
        json!({"product_id": "TOPIC", "item_id": items[0], "level": "low"})
    );
    for _ in 0..5 {
        sell(&items[1]).await.unwrap(); // 5 → 0: only the last sale changes the level
    }
    let change = client.until(|f| f[3] == "stock_change").await;
    assert_eq!(
        change[4],
        json!({"product_id": "TOPIC", "item_id": items[1], "level": "out"})
    );
}

#[tokio::test]
async fn one_cart_across_tabs_and_sold_out_items_grey_out_live() {
    let server = server().await;
    let items = product(&server, "LIVE", &[("9", 1), ("10", 5)], true).await;
    let (html, cookie) = page(&server, "/drops", None).await;
    assert!(html.contains("item-LIVE-9"));
    let token = attribute(&html, "data-cinder-token");
    let mut tab1 = Client::connect(&server.ws_url()).await;
    let (join1, _) = tab1.join("lv:/drops", json!({"token": token})).await;
    let (html, _) = page(&server, "/drops", Some(&cookie)).await;
    let mut tab2 = Client::connect(&server.ws_url()).await;
    tab2.join(
        "lv:/drops",
        json!({"token": attribute(&html, "data-cinder-token")}),
    )
    .await;

    let added = tab1
        .send(
            Some(&join1),
            "lv:/drops",
            "event",
            json!({"type": "click", "event": "add_to_cart", "value": {"value": items[0]}}),
        )
        .await;
    assert_eq!(tab1.reply_to(&added).await["status"], "ok");
    let cart = tab2
        .until(|f| f[3] == "patch" && f[4].to_string().contains("cart-item-LIVE-9"))
        .await;
    assert_eq!(cart[4]["ops"][0]["id"], "cart");
    // Someone else buys the last unit: the line greys out in both tabs, the size is disabled.
    server
        .server
        .state
        .bus
        .execute::<cinder_domain::drops::Product>(
            "LIVE",
            ProductCommand::SellItem {
                item_id: items[0].clone(),
                purchase_id: None,
            },
        )
        .await
        .unwrap();
    for tab in [&mut tab1, &mut tab2] {
        let patch = tab
            .until(|f| f[3] == "patch" && f[4].to_string().contains("cart-item-LIVE-9"))
            .await;
        let ops = patch[4]["ops"].as_array().unwrap();
        let button = ops.iter().find(|op| op["id"] == "item-LIVE-9").unwrap();
        assert!(button["html"].as_str().unwrap().contains("disabled"));
        let line = ops
            .iter()
            .find(|op| op["id"] == "cart-item-LIVE-9")
            .unwrap();
        assert!(line["html"].as_str().unwrap().contains("cart-item out"));
    }
}

#[tokio::test]
async fn seeding_creates_the_two_launch_products_once() {
    use cinder::simulators::drops::{counts_after, seed};
    let db = crate::support::TestDb::new().await;
    let log = db.log().await;
    let bus = cinder::web::command_bus(log.clone(), cinder_domain::Clock::system());
    assert_eq!(seed(&bus).await.unwrap(), 2);
    assert_eq!(
        seed(&bus).await.unwrap(),
        0,
        "seeding twice changes nothing"
    );
    let counts = counts_after(&log, None).await.unwrap();
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        vec!["SHU6000", "SHU6100"]
    );
    for items in counts.values() {
        assert_eq!(items.len(), 13);
        assert!(
            items.values().all(|n| *n == 0 || (201..=1200).contains(n)),
            "{items:?}"
        );
    }
    assert!(counts["SHU6000"].contains_key("SHU6000-9.5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_simulated_launch_releases_and_sells_everything_without_errors() {
    use cinder::simulators::drops::{counts_after, simulate};
    use cinder_domain::drops::{CreateProduct, NewItem};
    let db = crate::support::TestDb::new().await;
    let log = db.log().await;
    let bus = cinder::web::command_bus(log.clone(), cinder_domain::Clock::system());
    for (sku, units) in [("SIM1", [7, 0, 12]), ("SIM2", [3, 9, 1])] {
        let items = ["8", "9", "10"]
            .iter()
            .zip(units)
            .map(|(size, available)| NewItem {
                sku: format!("{sku}{size}"),
                size: size.to_string(),
                available,
            })
            .collect();
        let create = CreateProduct {
            sku: sku.into(),
            name: sku.into(),
            brand: "b".into(),
            color: "c".into(),
            price_usd: 10,
            image_url: String::new(),
            order: 0,
            items,
        };
        bus.execute::<cinder_domain::drops::Product>(sku, ProductCommand::CreateProduct(create))
            .await
            .unwrap();
    }
    let report = simulate(&bus, &log, 5, Duration::from_millis(5))
        .await
        .unwrap();
    assert_eq!(report.errors, 0);
    assert_eq!(report.sold, 32, "every unit, each once");
    let after = counts_after(&log, report.last).await.unwrap();
    assert!(
        after
            .values()
            .flat_map(|items| items.values())
            .all(|n| *n == 0),
        "{after:?}"
    );
}

/// The session id inside a session cookie (`cinder_session=<base64 json>.<mac>`).
fn session_id(cookie: &str) -> String {
    use base64::Engine;
    let value = cookie.split_once('=').unwrap().1;
    let data = value.split_once('.').unwrap().0;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(data)
        .unwrap();
    let envelope: Value = serde_json::from_slice(&json).unwrap();
    envelope["value"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn carts_never_show_the_session_in_the_public_log() {
    let server = server().await;
    let items = product(&server, "PRIV", &[("9", 5)], true).await;
    let (html, cookie) = page(&server, "/drops", None).await;
    let token = attribute(&html, "data-cinder-token");
    let mut tab = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = tab.join("lv:/drops", json!({"token": token})).await;
    let added = tab
        .send(
            Some(&join_ref),
            "lv:/drops",
            "event",
            json!({"type": "click", "event": "add_to_cart", "value": {"value": items[0]}}),
        )
        .await;
    assert_eq!(tab.reply_to(&added).await["status"], "ok");
    let session = session_id(&cookie);
    let log: Value = http()
        .get(format!("{}/api/events?after=0&limit=1000", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = log.to_string();
    assert!(
        text.contains("\"aggregate_type\":\"Cart\""),
        "the cart is in the log"
    );
    assert!(!text.contains(&session), "but not the session id");
    // Nor can a program reach the visitor's cart through the API with the id it sees there.
    let cart = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["aggregate_type"] == "Cart")
        .unwrap()["aggregate_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let removed = http()
        .delete(format!(
            "{}/api/drops/carts/{cart}/items/{}",
            server.url(),
            items[0]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        removed.status(),
        404,
        "the API reaches its own carts, not the visitor's"
    );
    let (html, _) = page(&server, "/drops", Some(&cookie)).await;
    assert!(
        html.contains("cart-item-PRIV-9"),
        "the visitor's cart still holds the item"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_checkouts_of_one_cart_at_once_buy_once_and_hold_nothing_back() {
    let server = server().await;
    let items = product(&server, "DOUBLE", &[("9", 20)], true).await;
    assert_eq!(add(&server, "two-tabs", &items[0]).await.0, 200);
    let checkouts: Vec<_> = (0..20)
        .map(|_| {
            let url = format!("{}/api/drops/carts/two-tabs/checkout", server.url());
            tokio::spawn(async move {
                let response = http().post(url).send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut completed = 0;
    for checkout in checkouts {
        let (status, body) = checkout.await.unwrap();
        match status {
            200 => completed += 1,
            // Refused at once: another checkout is under way, or (later) it already emptied
            // the cart. Never "unavailable", never a purchase that took something.
            409 => assert_eq!(
                body["error"], "A checkout of this cart is already under way.",
                "{body}"
            ),
            422 => assert_eq!(body["error"], "Your cart is empty.", "{body}"),
            other => panic!("a checkout answered {other}: {body}"),
        }
    }
    assert_eq!(completed, 1, "exactly one purchase");
    // Within a second the size shows what was bought, and nothing more is held back.
    let started = std::time::Instant::now();
    while available(&server, "DOUBLE").await != [19] {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the size shows {:?}, not 19 of 20",
            available(&server, "DOUBLE").await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An honest buyer is not told "sold out", and the cart works again afterwards.
    assert_eq!(add(&server, "honest", &items[0]).await.0, 200);
    assert_eq!(checkout(&server, "honest").await.0, 200);
    assert_eq!(add(&server, "two-tabs", &items[0]).await.0, 200);
    assert_eq!(checkout(&server, "two-tabs").await.0, 200);
    assert_eq!(settled(&server, "DOUBLE", &[17]).await, [17]);
    assert_eq!(
        recover(&shop(&server.server.state), Duration::ZERO).await,
        0
    );
}

/// Runs `command` on cart aggregate `cart` (not an API cart id, which is hashed first).
async fn cart_command(
    server: &TestServer,
    cart: &str,
    command: CartCommand,
) -> Result<(), CartError> {
    match server
        .server
        .state
        .bus
        .execute::<cinder_domain::drops::Cart>(cart, (cart.to_owned(), command))
        .await
    {
        Ok(_) => Ok(()),
        Err(cinder::bus::CommandError::Rejected(error)) => Err(error),
        Err(other) => panic!("the store failed: {other}"),
    }
}

#[tokio::test]
async fn recovery_frees_the_cart_of_an_interrupted_checkout_and_keeps_a_completed_one() {
    let server = server().await;
    let items = product(&server, "CRASH", &[("9", 10)], true).await;
    let app = &server.server.state;
    let record = |purchase: &'static str, command| {
        app.bus
            .execute::<cinder_domain::drops::Purchase>(purchase, (purchase.to_owned(), command))
    };
    // Two shoppers' checkouts, each interrupted after its sale: one before the cart was
    // checked out, one after (but before the purchase was recorded complete).
    let mut last = None;
    for (cart, purchase) in [("c-before", "p-before"), ("c-after", "p-after")] {
        cart_command(
            &server,
            cart,
            CartCommand::AddItem {
                item_id: items[0].clone(),
            },
        )
        .await
        .unwrap();
        record(
            purchase,
            PurchaseCommand::Start {
                cart_id: cart.into(),
                items: items.clone(),
            },
        )
        .await
        .unwrap();
        let begin = CartCommand::BeginCheckout {
            purchase_id: purchase.into(),
            items: items.clone(),
        };
        cart_command(&server, cart, begin).await.unwrap();
        app.bus
            .execute::<cinder_domain::drops::Product>(
                "CRASH",
                ProductCommand::SellItem {
                    item_id: items[0].clone(),
                    purchase_id: Some(purchase.into()),
                },
            )
            .await
            .unwrap();
        let secured = record(
            purchase,
            PurchaseCommand::Secured {
                item_id: items[0].clone(),
            },
        );
        last = secured.await.unwrap().last();
    }
    cart_command(
        &server,
        "c-after",
        CartCommand::CheckOut {
            purchase_id: "p-after".into(),
        },
    )
    .await
    .unwrap();
    // Meanwhile the carts are held: a second checkout or a change is refused.
    let change = CartCommand::RemoveItem {
        item_id: items[0].clone(),
    };
    assert_eq!(
        cart_command(&server, "c-before", change.clone()).await,
        Err(CartError::CheckoutUnderWay)
    );
    assert!(
        app.progress
            .wait_for(last.unwrap(), Duration::from_secs(10))
            .await
    );

    assert_eq!(recover(&shop(app), Duration::ZERO).await, 2);
    assert_eq!(
        settled(&server, "CRASH", &[9]).await,
        [9],
        "the unit of the interrupted checkout is back; the completed one's is sold"
    );
    cart_command(&server, "c-before", change)
        .await
        .expect("the interrupted checkout's cart is free again");
    let status = |id| drops(app).purchase(id).unwrap().unwrap().status;
    for _ in 0..200 {
        let running = cinder_domain::drops::PurchaseStatus::Running;
        if status("p-after") != running && status("p-before") != running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status("p-after"),
        cinder_domain::drops::PurchaseStatus::Completed
    );
    assert_eq!(
        status("p-before"),
        cinder_domain::drops::PurchaseStatus::Failed
    );
}
