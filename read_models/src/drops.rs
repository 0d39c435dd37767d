//! Drops read models: the catalogue with counts and levels, carts, and purchases.
//!
//! A sale changes a count, which only the admin page shows; shoppers see levels, so a level
//! change is announced on the product's own topic only when the level actually changes (a sale
//! that empties a size always does: the level becomes `out`).

use chrono::{DateTime, Utc};
use cinder_domain::drops::{CartEvent, Level, ProductEvent, PurchaseEvent, PurchaseStatus};
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::codec::{abort, decode, encode, read_count};
use crate::projection::apply_each;
use crate::{
    Change, LogEvent, Projection, ProjectionError, RawEvent, StoredEvent, Trees, TxResult,
    WriteBuffer,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductView {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub color: String,
    pub price_usd: u32,
    pub image_url: String,
    pub order: i32,
    pub released: bool,
    pub items: Vec<ItemView>,
}

impl ProductView {
    pub fn item(&self, item_id: &str) -> Option<&ItemView> {
        self.items.iter().find(|i| i.id == item_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemView {
    pub id: String,
    pub sku: String,
    pub size: String,
    pub available: u32,
    pub level: Level,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseView {
    pub id: String,
    pub cart_id: String,
    pub status: PurchaseStatus,
    pub items: Vec<String>,
    pub held: Vec<String>,
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// What the drops projection changed.
#[derive(Debug, Clone, PartialEq)]
pub enum DropsChange {
    /// A product was created, released or restocked: shown whole again.
    Product(ProductView),
    /// An item's level changed (what shoppers see).
    Level {
        product_id: String,
        item_id: String,
        level: Level,
    },
    /// An item's count changed (on the counts topic: what the admin sees).
    Count {
        product_id: String,
        item_id: String,
        available: u32,
    },
    /// A cart's items changed.
    Cart {
        cart_id: String,
        items: Vec<String>,
    },
    /// How many carts hold an item.
    InCarts {
        item_id: String,
        carts: u64,
    },
    Purchase(PurchaseView),
}

/// Products created, released or restocked.
pub const CATALOG_TOPIC: &str = "drops/catalog";
/// Every count change (admin).
pub const COUNTS_TOPIC: &str = "drops/counts";
/// Every level change, of every product (shoppers; product channels filter by product).
pub const LEVELS_TOPIC: &str = "drops/levels";

pub fn cart_topic(cart_id: &str) -> String {
    format!("drops/cart/{cart_id}")
}

pub fn purchase_topic(purchase_id: &str) -> String {
    format!("drops/purchase/{purchase_id}")
}

impl DropsChange {
    pub fn topic(&self) -> String {
        match self {
            DropsChange::Product(_) => CATALOG_TOPIC.to_owned(),
            DropsChange::Level { .. } => LEVELS_TOPIC.to_owned(),
            DropsChange::Count { .. } | DropsChange::InCarts { .. } => COUNTS_TOPIC.to_owned(),
            DropsChange::Cart { cart_id, .. } => cart_topic(cart_id),
            DropsChange::Purchase(purchase) => purchase_topic(&purchase.id),
        }
    }
}

impl From<DropsChange> for Change {
    /// The change, announced on its topic.
    fn from(change: DropsChange) -> Change {
        Change::new(change.topic(), change)
    }
}

const PRODUCTS: usize = 0;
const ORDER: usize = 1;
const CARTS: usize = 2;
const IN_CARTS: usize = 3;
const PURCHASES: usize = 4;

#[derive(Clone)]
pub struct DropsReadModel {
    products: sled::Tree,
    order: sled::Tree,
    carts: sled::Tree,
    in_carts: sled::Tree,
    purchases: sled::Tree,
}

impl DropsReadModel {
    pub fn open(db: &sled::Db) -> Result<Self, ProjectionError> {
        Ok(Self {
            products: db.open_tree("drops.products")?,
            order: db.open_tree("drops.order")?,
            carts: db.open_tree("drops.carts")?,
            in_carts: db.open_tree("drops.in_carts")?,
            purchases: db.open_tree("drops.purchases")?,
        })
    }

    /// Every product, in display order.
    pub fn products(&self) -> Result<Vec<ProductView>, ProjectionError> {
        let mut products = Vec::new();
        for entry in self.order.iter() {
            let (_, id) = entry?;
            if let Some(product) = self.product(&String::from_utf8_lossy(&id))? {
                products.push(product);
            }
        }
        Ok(products)
    }

    pub fn product(&self, id: &str) -> Result<Option<ProductView>, ProjectionError> {
        self.products
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// The items in cart `cart_id`, in the order they were added.
    pub fn cart(&self, cart_id: &str) -> Result<Vec<String>, ProjectionError> {
        Ok(match self.carts.get(cart_id.as_bytes())? {
            Some(value) => decode(&value)?,
            None => Vec::new(),
        })
    }

    /// How many carts hold `item_id`.
    pub fn carts_holding(&self, item_id: &str) -> Result<u64, ProjectionError> {
        Ok(read_count(
            self.in_carts.get(item_id.as_bytes())?.as_deref(),
        ))
    }

    pub fn purchase(&self, id: &str) -> Result<Option<PurchaseView>, ProjectionError> {
        self.purchases
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Purchases that started and have not ended: after a crash, these need finishing.
    pub fn unfinished_purchases(&self) -> Result<Vec<PurchaseView>, ProjectionError> {
        let mut found = Vec::new();
        for entry in self.purchases.iter() {
            let purchase: PurchaseView = decode(&entry?.1)?;
            if purchase.status == PurchaseStatus::Running {
                found.push(purchase);
            }
        }
        Ok(found)
    }

    /// The item, with the product it belongs to.
    pub fn item(&self, item_id: &str) -> Result<Option<(ProductView, ItemView)>, ProjectionError> {
        let Some(product_id) = cinder_domain::drops::product_of(item_id) else {
            return Ok(None);
        };
        Ok(self.product(product_id)?.and_then(|product| {
            let item = product.item(item_id).cloned()?;
            Some((product, item))
        }))
    }
}

impl Projection for DropsReadModel {
    fn name(&self) -> &'static str {
        "drops"
    }

    fn version(&self) -> u32 {
        // 2: values stored in a compact binary form, no longer JSON. 3: in postcard's.
        3
    }

    fn trees(&self) -> Vec<sled::Tree> {
        vec![
            self.products.clone(),
            self.order.clone(),
            self.carts.clone(),
            self.in_carts.clone(),
            self.purchases.clone(),
        ]
    }

    fn apply(
        &self,
        trees: &[TransactionalTree],
        event: &StoredEvent,
        changes: &mut Vec<Change>,
    ) -> TxResult<()> {
        fold(trees, event, changes)
    }

    fn apply_buffered(
        &self,
        trees: &WriteBuffer,
        events: &[RawEvent],
    ) -> Option<Result<(), ProjectionError>> {
        Some(apply_each(trees, events, |trees, event, changes| {
            fold(trees, event, changes)
        }))
    }
}

fn fold<T: Trees + ?Sized>(
    trees: &T,
    event: &impl LogEvent,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    let decode_error = |e| abort(ProjectionError::decode(event, e));
    match event.aggregate_type() {
        "Product" => apply_product(trees, event.decode(&[]).map_err(decode_error)?, changes),
        "Cart" => apply_cart(trees, event.decode(&[]).map_err(decode_error)?, changes),
        "Purchase" => apply_purchase(trees, event.decode(&[]).map_err(decode_error)?, changes),
        _ => Ok(()),
    }
}

fn load_product<T: Trees + ?Sized>(trees: &T, id: &str) -> TxResult<ProductView> {
    match trees.get(PRODUCTS, id.as_bytes())? {
        Some(value) => decode(&value).map_err(abort),
        None => Err(abort(ProjectionError::Corrupt(format!(
            "event for unknown product {id}"
        )))),
    }
}

fn save_product<T: Trees + ?Sized>(trees: &T, product: &ProductView) -> TxResult<()> {
    trees.insert(PRODUCTS, product.id.as_bytes(), &encode(product)?)?;
    Ok(())
}

/// Sets an item's count, announcing the count, and the level if it changed.
fn set_count<T: Trees + ?Sized>(
    trees: &T,
    product_id: &str,
    item_id: &str,
    available: u32,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    let mut product = load_product(trees, product_id)?;
    let Some(item) = product.items.iter_mut().find(|i| i.id == item_id) else {
        return Err(abort(ProjectionError::Corrupt(format!(
            "unknown item {item_id}"
        ))));
    };
    let before = item.level;
    item.available = available;
    item.level = Level::of(available);
    let after = item.level;
    save_product(trees, &product)?;
    changes.push(Change::from(DropsChange::Count {
        product_id: product_id.to_owned(),
        item_id: item_id.to_owned(),
        available,
    }));
    if before != after {
        changes.push(Change::from(DropsChange::Level {
            product_id: product_id.to_owned(),
            item_id: item_id.to_owned(),
            level: after,
        }));
    }
    Ok(())
}

fn apply_product<T: Trees + ?Sized>(
    trees: &T,
    event: ProductEvent,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    match event {
        ProductEvent::ProductCreated(created) => {
            let product = ProductView {
                id: created.id,
                sku: created.sku,
                name: created.name,
                brand: created.brand,
                color: created.color,
                price_usd: created.price_usd,
                image_url: created.image_url,
                order: created.order,
                released: false,
                items: created
                    .items
                    .into_iter()
                    .map(|item| ItemView {
                        level: Level::of(item.available),
                        id: item.id,
                        sku: item.sku,
                        size: item.size,
                        available: item.available,
                    })
                    .collect(),
            };
            save_product(trees, &product)?;
            trees.insert(
                ORDER,
                &order_key(product.order, &product.id),
                product.id.as_bytes(),
            )?;
            changes.push(Change::from(DropsChange::Product(product)));
        }
        ProductEvent::ProductReleased { product_id } => {
            let mut product = load_product(trees, &product_id)?;
            product.released = true;
            save_product(trees, &product)?;
            changes.push(Change::from(DropsChange::Product(product)));
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
        } => {
            set_count(trees, &product_id, &item_id, available, changes)?;
        }
        ProductEvent::ItemRestocked {
            product_id,
            item_id,
            available,
            ..
        } => {
            set_count(trees, &product_id, &item_id, available, changes)?;
        }
    }
    Ok(())
}

fn apply_cart<T: Trees + ?Sized>(
    trees: &T,
    event: CartEvent,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    let (cart_id, added, removed) = match event {
        CartEvent::ItemAdded { cart_id, item_id } => (cart_id, vec![item_id], vec![]),
        CartEvent::ItemRemoved { cart_id, item_id } => (cart_id, vec![], vec![item_id]),
        CartEvent::CheckedOut { cart_id, items, .. } => (cart_id, vec![], items),
        // A checkout under way or given up changes nothing a cart shows.
        CartEvent::CheckoutBegun { .. } | CartEvent::CheckoutAbandoned { .. } => return Ok(()),
    };
    let mut items: Vec<String> = match trees.get(CARTS, cart_id.as_bytes())? {
        Some(value) => decode(&value).map_err(abort)?,
        None => Vec::new(),
    };
    for item_id in added {
        if !items.contains(&item_id) {
            items.push(item_id.clone());
            bump_in_carts(trees, &item_id, 1, changes)?;
        }
    }
    for item_id in removed {
        if items.contains(&item_id) {
            items.retain(|i| *i != item_id);
            bump_in_carts(trees, &item_id, -1, changes)?;
        }
    }
    trees.insert(CARTS, cart_id.as_bytes(), &encode(&items)?)?;
    changes.push(Change::from(DropsChange::Cart { cart_id, items }));
    Ok(())
}

fn bump_in_carts<T: Trees + ?Sized>(
    trees: &T,
    item_id: &str,
    by: i64,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    let now = read_count(trees.get(IN_CARTS, item_id.as_bytes())?.as_deref());
    let next = now.saturating_add_signed(by);
    trees.insert(IN_CARTS, item_id.as_bytes(), &next.to_be_bytes())?;
    changes.push(Change::from(DropsChange::InCarts {
        item_id: item_id.to_owned(),
        carts: next,
    }));
    Ok(())
}

fn apply_purchase<T: Trees + ?Sized>(
    trees: &T,
    event: PurchaseEvent,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    let id = match &event {
        PurchaseEvent::PurchaseStarted { purchase_id, .. }
        | PurchaseEvent::ItemSecured { purchase_id, .. }
        | PurchaseEvent::ItemRefused { purchase_id, .. }
        | PurchaseEvent::SaleCompensated { purchase_id, .. }
        | PurchaseEvent::PurchaseCompleted { purchase_id }
        | PurchaseEvent::PurchaseFailed { purchase_id, .. } => purchase_id.clone(),
    };
    let existing: Option<PurchaseView> = match trees.get(PURCHASES, id.as_bytes())? {
        Some(value) => Some(decode(&value).map_err(abort)?),
        None => None,
    };
    let purchase = match (event, existing) {
        (
            PurchaseEvent::PurchaseStarted {
                purchase_id,
                cart_id,
                items,
                started_at,
            },
            _,
        ) => PurchaseView {
            id: purchase_id,
            cart_id,
            status: PurchaseStatus::Running,
            items,
            held: Vec::new(),
            reason: None,
            started_at,
        },
        (_, None) => {
            return Err(abort(ProjectionError::Corrupt(format!(
                "event for unknown purchase {id}"
            ))))
        }
        (event, Some(mut purchase)) => {
            match event {
                PurchaseEvent::ItemSecured { item_id, .. } => purchase.held.push(item_id),
                PurchaseEvent::ItemRefused { reason, .. } => purchase.reason = Some(reason),
                PurchaseEvent::SaleCompensated { item_id, .. } => {
                    purchase.held.retain(|i| *i != item_id)
                }
                PurchaseEvent::PurchaseCompleted { .. } => {
                    purchase.status = PurchaseStatus::Completed
                }
                PurchaseEvent::PurchaseFailed { reason, .. } => {
                    purchase.status = PurchaseStatus::Failed;
                    purchase.reason = Some(reason);
                }
                PurchaseEvent::PurchaseStarted { .. } => {}
            }
            purchase
        }
    };
    trees.insert(PURCHASES, purchase.id.as_bytes(), &encode(&purchase)?)?;
    changes.push(Change::from(DropsChange::Purchase(purchase)));
    Ok(())
}

/// Display order first (as an unsigned, order-preserving number), then the id.
fn order_key(order: i32, id: &str) -> Vec<u8> {
    let mut key = ((order as i64) - (i32::MIN as i64)).to_be_bytes()[4..].to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::order_key;

    #[test]
    fn order_keys_sort_by_display_order() {
        assert!(order_key(-1, "z") < order_key(0, "a"));
        assert!(order_key(0, "b") < order_key(1, "a"));
        assert!(order_key(i32::MIN, "a") < order_key(i32::MAX, "a"));
    }
}
