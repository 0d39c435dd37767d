//! `cinder seed drops` and `cinder simulate drops`: the launch, as a program plays it.
//!
//! Both go through the command bus, like shoppers and the admin do; the simulator keeps its own
//! picture of the counts from the event log and its own sales, and stops when every size is out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cinder_domain::drops::{
    all_sizes, CreateProduct, NewItem, ProductCommand, ProductError, ProductEvent,
};
use futures_util::StreamExt;
use rand::Rng;

use crate::bus::{CommandBus, CommandError};
use cinder_domain::Cursor;

use crate::store::{EventLog, StoreError};

/// The two products of the spec's launch, each size with 0 units one time in ten, otherwise
/// 201–1200; both unreleased.
pub fn seed_products(rng: &mut impl Rng) -> Vec<CreateProduct> {
    let mut product =
        |sku: u32, name: &str, brand: &str, color: &str, price_usd, order| CreateProduct {
            sku: format!("SHU{sku}"),
            name: name.into(),
            brand: brand.into(),
            color: color.into(),
            price_usd,
            image_url: String::new(),
            order,
            items: all_sizes()
                .into_iter()
                .enumerate()
                .map(|(n, size)| NewItem {
                    sku: format!("SHU{}", sku + 1 + n as u32),
                    size,
                    available: if rng.random_ratio(1, 10) {
                        0
                    } else {
                        rng.random_range(201..=1200)
                    },
                })
                .collect(),
        };
    vec![
        product(6000, "Hop Man 3", "Snks 23", "yellow/blue", 120, 0),
        product(6100, "Breezy Boost 600", "Asler", "momentum", 140, 1),
    ]
}

/// Creates the seed products; ones that exist already are left alone. Returns how many were
/// created.
pub async fn seed(bus: &CommandBus) -> Result<usize, CommandError<ProductError>> {
    let mut created = 0;
    for product in seed_products(&mut rand::rng()) {
        let id = product.sku.clone();
        match bus
            .execute::<cinder_domain::drops::Product>(&id, ProductCommand::CreateProduct(product))
            .await
        {
            Ok(_) => created += 1,
            Err(CommandError::Rejected(ProductError::AlreadyExists)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(created)
}

/// Product id → item id → units available.
pub type Counts = BTreeMap<String, BTreeMap<String, u32>>;

/// [`counts`], once the log shows at least everything up to `at_least` (the gap-safe read can
/// trail a fresh commit for a moment while other transactions run), trying for 10 s.
pub async fn counts_after(log: &EventLog, at_least: Option<Cursor>) -> Result<Counts, StoreError> {
    let mut tries = 0;
    loop {
        let (counts, reached) = counts_and_cursor(log).await?;
        tries += 1;
        if at_least.is_none_or(|wanted| reached >= wanted) && !counts.is_empty() || tries >= 100 {
            return Ok(counts);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every product's items and counts, folded from the log: product id → item id → available.
pub async fn counts(log: &EventLog) -> Result<Counts, StoreError> {
    Ok(counts_and_cursor(log).await?.0)
}

async fn counts_and_cursor(log: &EventLog) -> Result<(Counts, Cursor), StoreError> {
    let mut counts: Counts = BTreeMap::new();
    let reached = fold_products(log, |event| match event {
        ProductEvent::ProductCreated(created) => {
            let items = counts.entry(created.id).or_default();
            for item in created.items {
                items.insert(item.id, item.available);
            }
        }
        ProductEvent::ItemSold {
            product_id,
            item_id,
            available,
            ..
        }
        | ProductEvent::SaleUndone {
            product_id,
            item_id,
            available,
            ..
        }
        | ProductEvent::ItemRestocked {
            product_id,
            item_id,
            available,
            ..
        } => {
            counts
                .entry(product_id)
                .or_default()
                .insert(item_id, available);
        }
        ProductEvent::ProductReleased { .. } => {}
    })
    .await?;
    Ok((counts, reached))
}

/// Calls `f` with every product event in the log, in log order; returns how far it read.
async fn fold_products(
    log: &EventLog,
    mut f: impl FnMut(ProductEvent),
) -> Result<Cursor, StoreError> {
    let mut cursor = Cursor::START;
    loop {
        let batch = log.read_after(cursor, 1000).await?;
        let Some(last) = batch.last().map(|e| e.cursor()) else {
            return Ok(cursor);
        };
        for event in batch.iter().filter(|e| e.aggregate_type == "Product") {
            match event.decode::<ProductEvent>(&[]) {
                Ok(decoded) => f(decoded),
                Err(error) => {
                    tracing::warn!(%error, position = event.position, "unreadable product event")
                }
            }
        }
        cursor = last;
    }
}

/// What a simulated launch did.
#[derive(Debug, Default, Clone)]
pub struct LaunchReport {
    /// The last event the simulator itself committed.
    pub last: Option<Cursor>,
    pub sold: u64,
    pub sold_out_refusals: u64,
    pub errors: u64,
    pub elapsed: Duration,
}

/// Releases every product, then sells random available sizes, `per_tick` sales every `tick`,
/// until everything is out.
pub async fn simulate(
    bus: &CommandBus,
    log: &EventLog,
    per_tick: usize,
    tick: Duration,
) -> Result<LaunchReport, StoreError> {
    let started = Instant::now();
    let mut report = LaunchReport::default();
    // Products seeded a moment ago may still be behind the gap-safe horizon: wait for some.
    let mut available = counts_after(log, None).await?;
    for product_id in available.keys() {
        match bus
            .execute::<cinder_domain::drops::Product>(product_id, ProductCommand::ReleaseProduct)
            .await
        {
            Ok(_) => tracing::info!(product_id, "released"),
            Err(CommandError::Rejected(ProductError::AlreadyReleased)) => {}
            Err(error) => {
                tracing::warn!(%error, product_id, "could not release");
                report.errors += 1;
            }
        }
    }
    let mut ticks = tokio::time::interval(tick);
    loop {
        ticks.tick().await;
        let open: Vec<(String, String)> = available
            .iter()
            .flat_map(|(product, items)| {
                items
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(move |(item, _)| (product.clone(), item.clone()))
            })
            .collect();
        if open.is_empty() {
            break;
        }
        let picks: Vec<(String, String)> = {
            let mut rng = rand::rng();
            (0..per_tick)
                .map(|_| open[rng.random_range(0..open.len())].clone())
                .collect()
        };
        let outcomes: Vec<_> = futures_util::stream::iter(picks)
            .map(|(product_id, item_id)| async move {
                let command = ProductCommand::SellItem {
                    item_id: item_id.clone(),
                    purchase_id: None,
                };
                (
                    product_id.clone(),
                    item_id,
                    bus.execute::<cinder_domain::drops::Product>(&product_id, command)
                        .await,
                )
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for (product_id, item_id, outcome) in outcomes {
            let count = available
                .entry(product_id)
                .or_default()
                .entry(item_id)
                .or_default();
            match outcome {
                Ok(committed) => {
                    report.sold += 1;
                    report.last = report.last.max(committed.last());
                    for event in committed.events {
                        if let ProductEvent::ItemSold { available, .. } = event {
                            *count = available;
                        }
                    }
                }
                Err(CommandError::Rejected(ProductError::SoldOut)) => {
                    report.sold_out_refusals += 1;
                    *count = 0;
                }
                Err(error) => {
                    report.errors += 1;
                    tracing::warn!(%error, "simulated sale failed");
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}
