//! Drops: a store that launches limited sneakers. Three aggregates:
//! - [`Product`] (id = its sku) holds its sized items and their counts; no sale takes a count
//!   below zero, because every sale is decided by the one aggregate that owns the count.
//! - [`Cart`] (id = the shopper's session) holds up to 10 distinct items, and has at most one
//!   checkout under way at a time.
//! - [`Purchase`] (id = a new id per checkout) is the checkout process manager's own record:
//!   which items it secured, which it gave back, how it ended. From it a restarted node knows
//!   what to compensate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{Clock, FieldErrors, Rejection};

/// Most items one cart holds.
pub const MAX_CART_ITEMS: usize = 10;
/// Longest product image URL, in characters.
pub const MAX_IMAGE_URL_CHARS: usize = 2000;
/// Most units one restock adds.
pub const MAX_RESTOCK: u32 = 100_000;

/// How much of a size is left, as shoppers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Out,
    Low,
    Medium,
    High,
}

impl Level {
    /// 0 → out; 1–149 → low; 150–499 → medium; 500 and more → high.
    pub fn of(available: u32) -> Level {
        match available {
            0 => Level::Out,
            1..=149 => Level::Low,
            150..=499 => Level::Medium,
            _ => Level::High,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Out => "out",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

/// An item's id: its product's id, a dash, and its size (`SHU6000-9.5`), so the product that
/// owns an item is known from the id alone.
pub fn item_id(product_id: &str, size: &str) -> String {
    format!("{product_id}-{size}")
}

/// The product that owns item `item_id`.
pub fn product_of(item_id: &str) -> Option<&str> {
    item_id.rsplit_once('-').map(|(product, _)| product)
}

/// Whether `item_id` can be an item's id: `<product sku>-<size>`.
pub fn is_valid_item_id(item_id: &str) -> bool {
    item_id
        .rsplit_once('-')
        .is_some_and(|(product, size)| is_valid_sku(product) && is_valid_size(size))
}

/// Whether `sku` can be a product's id: 1–32 of letters, digits, `_` and `-`.
pub fn is_valid_sku(sku: &str) -> bool {
    !sku.is_empty()
        && sku.len() <= 32
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The sizes a product may have: "6" to "12" in half sizes.
pub fn is_valid_size(size: &str) -> bool {
    (12..=24).any(|half| size_name(half) == size)
}

fn size_name(half_sizes: u32) -> String {
    if half_sizes.is_multiple_of(2) {
        (half_sizes / 2).to_string()
    } else {
        format!("{}.5", half_sizes / 2)
    }
}

/// Every valid size, smallest first.
pub fn all_sizes() -> Vec<String> {
    (12..=24).map(size_name).collect()
}

// ---------------------------------------------------------------------------------------------
// Product

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductCommand {
    CreateProduct(CreateProduct),
    ReleaseProduct,
    /// Sell one unit; `purchase_id` ties it to a checkout (none for direct sales).
    SellItem {
        item_id: String,
        purchase_id: Option<String>,
    },
    /// Give back one unit a checkout took, when the checkout as a whole failed.
    UndoSale {
        item_id: String,
        purchase_id: String,
    },
    RestockItem {
        item_id: String,
        quantity: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateProduct {
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub color: String,
    pub price_usd: u32,
    pub image_url: String,
    pub order: i32,
    pub items: Vec<NewItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewItem {
    pub sku: String,
    pub size: String,
    pub available: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductEvent {
    ProductCreated(ProductCreated),
    ProductReleased {
        product_id: String,
    },
    ItemSold {
        product_id: String,
        item_id: String,
        available: u32,
        purchase_id: Option<String>,
    },
    SaleUndone {
        product_id: String,
        item_id: String,
        available: u32,
        purchase_id: String,
    },
    ItemRestocked {
        product_id: String,
        item_id: String,
        quantity: u32,
        available: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCreated {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub color: String,
    pub price_usd: u32,
    pub image_url: String,
    pub order: i32,
    pub items: Vec<CreatedItem>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedItem {
    pub id: String,
    pub sku: String,
    pub size: String,
    pub available: u32,
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> String {
        match self {
            ProductEvent::ProductCreated(_) => "ProductCreated",
            ProductEvent::ProductReleased { .. } => "ProductReleased",
            ProductEvent::ItemSold { .. } => "ItemSold",
            ProductEvent::SaleUndone { .. } => "SaleUndone",
            ProductEvent::ItemRestocked { .. } => "ItemRestocked",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("a product with this sku already exists")]
    AlreadyExists,
    #[error("no such product")]
    NotFound,
    #[error("no such item")]
    NoSuchItem,
    #[error("already released")]
    AlreadyReleased,
    #[error("not released yet")]
    NotReleased,
    #[error("sold out")]
    SoldOut,
    #[error("restock between 1 and 100000 units")]
    BadQuantity,
    #[error("that sale was not made by this purchase, or was already undone")]
    NothingToUndo,
}

impl Rejection for ProductError {
    fn field(&self) -> &'static str {
        match self {
            ProductError::Invalid(errors) => errors.first_field("product"),
            ProductError::BadQuantity => "quantity",
            ProductError::NoSuchItem
            | ProductError::SoldOut
            | ProductError::NotReleased
            | ProductError::NothingToUndo => "item_id",
            _ => "product",
        }
    }

    fn errors(&self) -> Vec<(&'static str, String)> {
        match self {
            ProductError::Invalid(errors) => errors.0.clone(),
            other => vec![(other.field(), other.to_string())],
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DropsServices {
    pub clock: Clock,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ItemState {
    available: u32,
}

/// A product: whether it exists and is released, and each item's count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    id: Option<String>,
    released: bool,
    items: BTreeMap<String, ItemState>,
    /// Units sold per open checkout and item, so a compensation gives back only what that
    /// checkout took, once.
    taken: BTreeMap<String, u32>,
}

impl Product {
    fn item(&self, item_id: &str) -> Result<&ItemState, ProductError> {
        self.items.get(item_id).ok_or(ProductError::NoSuchItem)
    }

    fn id(&self) -> Result<String, ProductError> {
        self.id.clone().ok_or(ProductError::NotFound)
    }

    fn decide(
        &self,
        command: ProductCommand,
        now: DateTime<Utc>,
    ) -> Result<ProductEvent, ProductError> {
        match command {
            ProductCommand::CreateProduct(create) => {
                if self.id.is_some() {
                    return Err(ProductError::AlreadyExists);
                }
                check_new_product(create, now).map(ProductEvent::ProductCreated)
            }
            ProductCommand::ReleaseProduct => {
                let product_id = self.id()?;
                if self.released {
                    return Err(ProductError::AlreadyReleased);
                }
                Ok(ProductEvent::ProductReleased { product_id })
            }
            ProductCommand::SellItem {
                item_id,
                purchase_id,
            } => {
                let product_id = self.id()?;
                let item = self.item(&item_id)?;
                if !self.released {
                    return Err(ProductError::NotReleased);
                }
                if item.available == 0 {
                    return Err(ProductError::SoldOut);
                }
                Ok(ProductEvent::ItemSold {
                    product_id,
                    available: item.available - 1,
                    item_id,
                    purchase_id,
                })
            }
            ProductCommand::UndoSale {
                item_id,
                purchase_id,
            } => {
                let product_id = self.id()?;
                let item = self.item(&item_id)?;
                if self
                    .taken
                    .get(&taken_key(&purchase_id, &item_id))
                    .copied()
                    .unwrap_or(0)
                    == 0
                {
                    return Err(ProductError::NothingToUndo);
                }
                Ok(ProductEvent::SaleUndone {
                    product_id,
                    available: item.available + 1,
                    item_id,
                    purchase_id,
                })
            }
            ProductCommand::RestockItem { item_id, quantity } => {
                let product_id = self.id()?;
                let item = self.item(&item_id)?;
                if quantity == 0 || quantity > MAX_RESTOCK {
                    return Err(ProductError::BadQuantity);
                }
                Ok(ProductEvent::ItemRestocked {
                    product_id,
                    quantity,
                    available: item.available.saturating_add(quantity),
                    item_id,
                })
            }
        }
    }
}

fn taken_key(purchase_id: &str, item_id: &str) -> String {
    format!("{purchase_id} {item_id}")
}

fn check_new_product(
    create: CreateProduct,
    now: DateTime<Utc>,
) -> Result<ProductCreated, ProductError> {
    let mut errors = Vec::new();
    if !is_valid_sku(&create.sku) {
        errors.push(("sku", "must be 1–32 letters, digits, _ or -".to_owned()));
    }
    for (field, value, max) in [
        ("name", &create.name, 200),
        ("brand", &create.brand, 100),
        ("color", &create.color, 100),
    ] {
        let length = value.trim().chars().count();
        if length == 0 || length > max {
            errors.push((field, format!("must be 1–{max} characters")));
        } else if crate::has_control(value.trim(), false) {
            errors.push((field, crate::NO_CONTROL.to_owned()));
        }
    }
    let image_url = create.image_url.trim();
    if image_url.chars().count() > MAX_IMAGE_URL_CHARS {
        errors.push((
            "image_url",
            format!("must be at most {MAX_IMAGE_URL_CHARS} characters"),
        ));
    } else if crate::has_control(image_url, false) {
        errors.push(("image_url", crate::NO_CONTROL.to_owned()));
    }
    if create.price_usd == 0 {
        errors.push((
            "price_usd",
            "must be a whole number of dollars above 0".to_owned(),
        ));
    }
    if create.items.is_empty() {
        errors.push(("items", "a product needs at least one size".to_owned()));
    }
    let mut sizes: Vec<&str> = Vec::new();
    for item in &create.items {
        if !is_valid_size(&item.size) {
            errors.push((
                "items",
                format!("{:?} is not a size from 6 to 12 in half sizes", item.size),
            ));
        } else if sizes.contains(&item.size.as_str()) {
            errors.push(("items", format!("size {} is listed twice", item.size)));
        }
        if !is_valid_sku(&item.sku) {
            errors.push((
                "items",
                format!(
                    "item sku {:?} must be 1–32 letters, digits, _ or -",
                    item.sku
                ),
            ));
        }
        sizes.push(&item.size);
    }
    if !errors.is_empty() {
        return Err(ProductError::Invalid(FieldErrors(errors)));
    }
    Ok(ProductCreated {
        id: create.sku.clone(),
        items: create
            .items
            .into_iter()
            .map(|item| CreatedItem {
                id: item_id(&create.sku, &item.size),
                sku: item.sku,
                size: item.size,
                available: item.available,
            })
            .collect(),
        sku: create.sku,
        name: create.name.trim().to_owned(),
        brand: create.brand.trim().to_owned(),
        color: create.color.trim().to_owned(),
        price_usd: create.price_usd,
        image_url: create.image_url.trim().to_owned(),
        order: create.order,
        created_at: now,
    })
}

impl Aggregate for Product {
    const TYPE: &'static str = "Product";
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    type Services = DropsServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command, services.clock.now())?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ProductEvent::ProductCreated(created) => {
                self.id = Some(created.id);
                for item in created.items {
                    self.items.insert(
                        item.id,
                        ItemState {
                            available: item.available,
                        },
                    );
                }
            }
            ProductEvent::ProductReleased { .. } => self.released = true,
            ProductEvent::ItemSold {
                item_id,
                available,
                purchase_id,
                ..
            } => {
                if let Some(purchase_id) = purchase_id {
                    *self
                        .taken
                        .entry(taken_key(&purchase_id, &item_id))
                        .or_default() += 1;
                }
                self.items.entry(item_id).or_default().available = available;
            }
            ProductEvent::SaleUndone {
                item_id,
                available,
                purchase_id,
                ..
            } => {
                let key = taken_key(&purchase_id, &item_id);
                if let Some(count) = self.taken.get_mut(&key) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.taken.remove(&key);
                    }
                }
                self.items.entry(item_id).or_default().available = available;
            }
            ProductEvent::ItemRestocked {
                item_id, available, ..
            } => {
                self.items.entry(item_id).or_default().available = available;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cart

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartCommand {
    AddItem {
        item_id: String,
    },
    RemoveItem {
        item_id: String,
    },
    /// Purchase `purchase_id` starts buying `items`, which must be what the cart holds:
    /// refused while another checkout of this cart is under way. Until it ends, the cart does
    /// not change.
    BeginCheckout {
        purchase_id: String,
        items: Vec<String>,
    },
    /// The purchase of everything in the cart completed: empty it.
    CheckOut {
        purchase_id: String,
    },
    /// Purchase `purchase_id` ended without buying anything: the cart is as it was, free for
    /// another checkout.
    AbandonCheckout {
        purchase_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartEvent {
    ItemAdded {
        cart_id: String,
        item_id: String,
    },
    ItemRemoved {
        cart_id: String,
        item_id: String,
    },
    CheckedOut {
        cart_id: String,
        purchase_id: String,
        items: Vec<String>,
    },
    CheckoutBegun {
        cart_id: String,
        purchase_id: String,
    },
    CheckoutAbandoned {
        cart_id: String,
        purchase_id: String,
    },
}

impl DomainEvent for CartEvent {
    fn event_type(&self) -> String {
        match self {
            CartEvent::ItemAdded { .. } => "ItemAdded",
            CartEvent::ItemRemoved { .. } => "ItemRemoved",
            CartEvent::CheckedOut { .. } => "CheckedOut",
            CartEvent::CheckoutBegun { .. } => "CheckoutBegun",
            CartEvent::CheckoutAbandoned { .. } => "CheckoutAbandoned",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("that size is already in your cart")]
    Duplicate,
    #[error("your cart holds at most 10 items")]
    Full,
    #[error("that item is not in your cart")]
    NotInCart,
    #[error("your cart is empty")]
    Empty,
    #[error("no such item")]
    NoSuchItem,
    #[error("a checkout of this cart is already under way")]
    CheckoutUnderWay,
    #[error("that checkout is not under way for this cart")]
    NotCheckingOut,
    #[error("that checkout already completed")]
    AlreadyCheckedOut,
    #[error("your cart changed; check it and try again")]
    Changed,
}

impl Rejection for CartError {
    fn field(&self) -> &'static str {
        match self {
            CartError::Empty
            | CartError::CheckoutUnderWay
            | CartError::NotCheckingOut
            | CartError::AlreadyCheckedOut
            | CartError::Changed => "cart",
            _ => "item_id",
        }
    }
}

/// A shopper's cart. Its id is the shopper's session, so every tab shares it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    id: String,
    items: Vec<String>,
    /// The purchase whose checkout is under way, if one is.
    checkout: Option<String>,
    /// The purchase of the last checkout that completed.
    checked_out: Option<String>,
}

/// What the cart's rules need from outside: the cart's own id (its aggregate id).
#[derive(Debug, Clone, Default)]
pub struct CartServices;

impl Aggregate for Cart {
    const TYPE: &'static str = "Cart";
    type Command = (String, CartCommand);
    type Event = CartEvent;
    type Error = CartError;
    type Services = CartServices;

    async fn handle(
        &mut self,
        (cart_id, command): Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let under_way = |purchase_id: &str| {
            if self.checkout.as_deref() == Some(purchase_id) {
                Ok(())
            } else if self.checked_out.as_deref() == Some(purchase_id) {
                Err(CartError::AlreadyCheckedOut)
            } else {
                Err(CartError::NotCheckingOut)
            }
        };
        let event = match command {
            CartCommand::AddItem { .. } | CartCommand::RemoveItem { .. }
                if self.checkout.is_some() =>
            {
                return Err(CartError::CheckoutUnderWay)
            }
            CartCommand::AddItem { item_id } => {
                if !is_valid_item_id(&item_id) {
                    return Err(CartError::NoSuchItem);
                }
                if self.items.contains(&item_id) {
                    return Err(CartError::Duplicate);
                }
                if self.items.len() >= MAX_CART_ITEMS {
                    return Err(CartError::Full);
                }
                CartEvent::ItemAdded { cart_id, item_id }
            }
            CartCommand::RemoveItem { item_id } => {
                if !self.items.contains(&item_id) {
                    return Err(CartError::NotInCart);
                }
                CartEvent::ItemRemoved { cart_id, item_id }
            }
            CartCommand::BeginCheckout { purchase_id, items } => {
                if self.checkout.is_some() {
                    return Err(CartError::CheckoutUnderWay);
                }
                if self.items.is_empty() {
                    return Err(CartError::Empty);
                }
                let mut ours = self.items.clone();
                let mut theirs = items;
                ours.sort();
                theirs.sort();
                if ours != theirs {
                    return Err(CartError::Changed);
                }
                CartEvent::CheckoutBegun {
                    cart_id,
                    purchase_id,
                }
            }
            CartCommand::CheckOut { purchase_id } => {
                under_way(&purchase_id)?;
                CartEvent::CheckedOut {
                    cart_id,
                    purchase_id,
                    items: self.items.clone(),
                }
            }
            CartCommand::AbandonCheckout { purchase_id } => {
                under_way(&purchase_id)?;
                CartEvent::CheckoutAbandoned {
                    cart_id,
                    purchase_id,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            CartEvent::ItemAdded { cart_id, item_id } => {
                self.id = cart_id;
                self.items.push(item_id);
            }
            CartEvent::ItemRemoved { item_id, .. } => self.items.retain(|i| *i != item_id),
            CartEvent::CheckedOut { purchase_id, .. } => {
                self.items.clear();
                self.checkout = None;
                self.checked_out = Some(purchase_id);
            }
            CartEvent::CheckoutBegun { purchase_id, .. } => self.checkout = Some(purchase_id),
            CartEvent::CheckoutAbandoned { .. } => self.checkout = None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Purchase: the checkout process manager's record

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PurchaseCommand {
    Start {
        cart_id: String,
        items: Vec<String>,
    },
    /// The product sold one unit of `item_id` to this purchase.
    Secured {
        item_id: String,
    },
    /// `item_id` could not be sold; the purchase will not complete.
    Refused {
        item_id: String,
        reason: String,
    },
    /// A unit this purchase took was given back.
    Compensated {
        item_id: String,
    },
    Complete,
    Fail {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PurchaseEvent {
    PurchaseStarted {
        purchase_id: String,
        cart_id: String,
        items: Vec<String>,
        started_at: DateTime<Utc>,
    },
    ItemSecured {
        purchase_id: String,
        item_id: String,
    },
    ItemRefused {
        purchase_id: String,
        item_id: String,
        reason: String,
    },
    SaleCompensated {
        purchase_id: String,
        item_id: String,
    },
    PurchaseCompleted {
        purchase_id: String,
    },
    PurchaseFailed {
        purchase_id: String,
        reason: String,
    },
}

impl DomainEvent for PurchaseEvent {
    fn event_type(&self) -> String {
        match self {
            PurchaseEvent::PurchaseStarted { .. } => "PurchaseStarted",
            PurchaseEvent::ItemSecured { .. } => "ItemSecured",
            PurchaseEvent::ItemRefused { .. } => "ItemRefused",
            PurchaseEvent::SaleCompensated { .. } => "SaleCompensated",
            PurchaseEvent::PurchaseCompleted { .. } => "PurchaseCompleted",
            PurchaseEvent::PurchaseFailed { .. } => "PurchaseFailed",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseError {
    #[error("this purchase already started")]
    AlreadyStarted,
    #[error("no such purchase")]
    NotStarted,
    #[error("this purchase already ended")]
    Ended,
    #[error("a purchase needs at least one item")]
    NoItems,
    #[error("that item is not part of this purchase")]
    NotPart,
    #[error("items are still held; give them back first")]
    StillHeld,
    #[error("not every item is secured yet")]
    Incomplete,
}

impl Rejection for PurchaseError {
    fn field(&self) -> &'static str {
        "purchase"
    }
}

/// Where a purchase stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurchaseStatus {
    #[default]
    New,
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub id: String,
    pub cart_id: String,
    pub status: PurchaseStatus,
    pub items: Vec<String>,
    /// Items sold to this purchase and not given back.
    pub held: Vec<String>,
    pub refused: bool,
}

impl Aggregate for Purchase {
    const TYPE: &'static str = "Purchase";
    type Command = (String, PurchaseCommand);
    type Event = PurchaseEvent;
    type Error = PurchaseError;
    type Services = DropsServices;

    async fn handle(
        &mut self,
        (purchase_id, command): Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use PurchaseStatus::*;
        let running = match self.status {
            New if !matches!(command, PurchaseCommand::Start { .. }) => {
                Err(PurchaseError::NotStarted)
            }
            Completed | Failed => Err(PurchaseError::Ended),
            _ => Ok(()),
        };
        running?;
        let event = match command {
            PurchaseCommand::Start { cart_id, items } => {
                if self.status != New {
                    return Err(PurchaseError::AlreadyStarted);
                }
                if items.is_empty() {
                    return Err(PurchaseError::NoItems);
                }
                PurchaseEvent::PurchaseStarted {
                    purchase_id,
                    cart_id,
                    items,
                    started_at: services.clock.now(),
                }
            }
            PurchaseCommand::Secured { item_id } => {
                if !self.items.contains(&item_id) {
                    return Err(PurchaseError::NotPart);
                }
                PurchaseEvent::ItemSecured {
                    purchase_id,
                    item_id,
                }
            }
            PurchaseCommand::Refused { item_id, reason } => {
                if !self.items.contains(&item_id) {
                    return Err(PurchaseError::NotPart);
                }
                PurchaseEvent::ItemRefused {
                    purchase_id,
                    item_id,
                    reason,
                }
            }
            PurchaseCommand::Compensated { item_id } => {
                if !self.held.contains(&item_id) {
                    return Err(PurchaseError::NotPart);
                }
                PurchaseEvent::SaleCompensated {
                    purchase_id,
                    item_id,
                }
            }
            PurchaseCommand::Complete => {
                if self.refused || self.held.len() != self.items.len() {
                    return Err(PurchaseError::Incomplete);
                }
                PurchaseEvent::PurchaseCompleted { purchase_id }
            }
            PurchaseCommand::Fail { reason } => {
                if !self.held.is_empty() {
                    return Err(PurchaseError::StillHeld);
                }
                PurchaseEvent::PurchaseFailed {
                    purchase_id,
                    reason,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            PurchaseEvent::PurchaseStarted {
                purchase_id,
                cart_id,
                items,
                ..
            } => {
                self.id = purchase_id;
                self.cart_id = cart_id;
                self.items = items;
                self.status = PurchaseStatus::Running;
            }
            PurchaseEvent::ItemSecured { item_id, .. } => self.held.push(item_id),
            PurchaseEvent::ItemRefused { .. } => self.refused = true,
            PurchaseEvent::SaleCompensated { item_id, .. } => self.held.retain(|i| *i != item_id),
            PurchaseEvent::PurchaseCompleted { .. } => self.status = PurchaseStatus::Completed,
            PurchaseEvent::PurchaseFailed { .. } => self.status = PurchaseStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn services() -> DropsServices {
        DropsServices {
            clock: Clock::fixed(now()),
        }
    }

    fn create() -> CreateProduct {
        CreateProduct {
            sku: "SHU6000".into(),
            name: "Hop Man 3".into(),
            brand: "Snks 23".into(),
            color: "yellow/blue".into(),
            price_usd: 120,
            image_url: "/img/hop.png".into(),
            order: 0,
            items: vec![
                NewItem {
                    sku: "SHU6001".into(),
                    size: "6".into(),
                    available: 2,
                },
                NewItem {
                    sku: "SHU6002".into(),
                    size: "6.5".into(),
                    available: 0,
                },
            ],
        }
    }

    fn created() -> ProductEvent {
        ProductEvent::ProductCreated(ProductCreated {
            id: "SHU6000".into(),
            sku: "SHU6000".into(),
            name: "Hop Man 3".into(),
            brand: "Snks 23".into(),
            color: "yellow/blue".into(),
            price_usd: 120,
            image_url: "/img/hop.png".into(),
            order: 0,
            items: vec![
                CreatedItem {
                    id: "SHU6000-6".into(),
                    sku: "SHU6001".into(),
                    size: "6".into(),
                    available: 2,
                },
                CreatedItem {
                    id: "SHU6000-6.5".into(),
                    sku: "SHU6002".into(),
                    size: "6.5".into(),
                    available: 0,
                },
            ],
            created_at: now(),
        })
    }

    fn released() -> ProductEvent {
        ProductEvent::ProductReleased {
            product_id: "SHU6000".into(),
        }
    }

    fn sell(item: &str, purchase: Option<&str>) -> ProductCommand {
        ProductCommand::SellItem {
            item_id: item.into(),
            purchase_id: purchase.map(Into::into),
        }
    }

    fn sold(item: &str, available: u32, purchase: Option<&str>) -> ProductEvent {
        ProductEvent::ItemSold {
            product_id: "SHU6000".into(),
            item_id: item.into(),
            available,
            purchase_id: purchase.map(Into::into),
        }
    }

    fn product() -> TestFramework<Product> {
        TestFramework::<Product>::with(services())
    }

    #[test]
    fn levels_change_at_0_150_and_500() {
        assert_eq!(Level::of(0), Level::Out);
        assert_eq!(Level::of(1), Level::Low);
        assert_eq!(Level::of(149), Level::Low);
        assert_eq!(Level::of(150), Level::Medium);
        assert_eq!(Level::of(499), Level::Medium);
        assert_eq!(Level::of(500), Level::High);
        assert_eq!(Level::of(100_000), Level::High);
    }

    #[test]
    fn sizes_are_6_to_12_in_halves() {
        assert_eq!(all_sizes().len(), 13);
        assert!(is_valid_size("6") && is_valid_size("9.5") && is_valid_size("12"));
        assert!(
            !is_valid_size("5.5")
                && !is_valid_size("12.5")
                && !is_valid_size("7.0")
                && !is_valid_size("x")
        );
        assert_eq!(product_of(&item_id("SHU6000", "9.5")), Some("SHU6000"));
    }

    #[test]
    fn a_product_is_created_once_with_its_items() {
        product()
            .given_no_previous_events()
            .when(ProductCommand::CreateProduct(create()))
            .then_expect_events(vec![created()]);
        product()
            .given(vec![created()])
            .when(ProductCommand::CreateProduct(create()))
            .then_expect_error(ProductError::AlreadyExists);
        let mut bad = create();
        bad.sku = "no spaces".into();
        bad.price_usd = 0;
        bad.items.push(NewItem {
            sku: "X".into(),
            size: "6".into(),
            available: 1,
        });
        bad.items.push(NewItem {
            sku: "Y".into(),
            size: "13".into(),
            available: 1,
        });
        let Err(error) = product()
            .given_no_previous_events()
            .when(ProductCommand::CreateProduct(bad))
            .inspect_result()
        else {
            panic!("should be refused")
        };
        let fields: Vec<_> = error.errors().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["sku", "price_usd", "items", "items"]);
        let mut controls = create();
        controls.name = "Hop\0Man".into();
        controls.brand = "Snks\u{1b}".into();
        controls.image_url = "/img.png\r\n".into();
        let Err(error) = product()
            .given_no_previous_events()
            .when(ProductCommand::CreateProduct(controls))
            .inspect_result()
        else {
            panic!("should be refused")
        };
        let fields: Vec<_> = error.errors().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["name", "brand"], "the URL is trimmed first");
    }

    #[test]
    fn release_is_one_way() {
        product()
            .given(vec![created()])
            .when(ProductCommand::ReleaseProduct)
            .then_expect_events(vec![released()]);
        product()
            .given(vec![created(), released()])
            .when(ProductCommand::ReleaseProduct)
            .then_expect_error(ProductError::AlreadyReleased);
        product()
            .given_no_previous_events()
            .when(ProductCommand::ReleaseProduct)
            .then_expect_error(ProductError::NotFound);
    }

    #[test]
    fn selling_needs_a_released_product_and_stock() {
        product()
            .given(vec![created()])
            .when(sell("SHU6000-6", None))
            .then_expect_error(ProductError::NotReleased);
        product()
            .given(vec![created(), released()])
            .when(sell("SHU6000-6", None))
            .then_expect_events(vec![sold("SHU6000-6", 1, None)]);
        product()
            .given(vec![
                created(),
                released(),
                sold("SHU6000-6", 1, None),
                sold("SHU6000-6", 0, None),
            ])
            .when(sell("SHU6000-6", None))
            .then_expect_error_message("sold out");
        product()
            .given(vec![created(), released()])
            .when(sell("SHU6000-6.5", None))
            .then_expect_error(ProductError::SoldOut);
        product()
            .given(vec![created(), released()])
            .when(sell("SHU6000-7", None))
            .then_expect_error(ProductError::NoSuchItem);
    }

    #[test]
    fn restocking_adds_units() {
        let restock = |quantity| ProductCommand::RestockItem {
            item_id: "SHU6000-6.5".into(),
            quantity,
        };
        product()
            .given(vec![created()])
            .when(restock(500))
            .then_expect_events(vec![ProductEvent::ItemRestocked {
                product_id: "SHU6000".into(),
                item_id: "SHU6000-6.5".into(),
                quantity: 500,
                available: 500,
            }]);
        product()
            .given(vec![created()])
            .when(restock(0))
            .then_expect_error(ProductError::BadQuantity);
        product()
            .given(vec![created()])
            .when(restock(MAX_RESTOCK + 1))
            .then_expect_error(ProductError::BadQuantity);
    }

    #[test]
    fn only_a_checkouts_own_sale_can_be_undone_and_only_once() {
        let undo = |purchase: &str| ProductCommand::UndoSale {
            item_id: "SHU6000-6".into(),
            purchase_id: purchase.into(),
        };
        let history = vec![created(), released(), sold("SHU6000-6", 1, Some("p1"))];
        product()
            .given(history.clone())
            .when(undo("p1"))
            .then_expect_events(vec![ProductEvent::SaleUndone {
                product_id: "SHU6000".into(),
                item_id: "SHU6000-6".into(),
                available: 2,
                purchase_id: "p1".into(),
            }]);
        product()
            .given(history.clone())
            .when(undo("p2"))
            .then_expect_error(ProductError::NothingToUndo);
        let mut undone = history;
        undone.push(ProductEvent::SaleUndone {
            product_id: "SHU6000".into(),
            item_id: "SHU6000-6".into(),
            available: 2,
            purchase_id: "p1".into(),
        });
        product()
            .given(undone)
            .when(undo("p1"))
            .then_expect_error(ProductError::NothingToUndo);
    }

    fn cart() -> TestFramework<Cart> {
        TestFramework::<Cart>::with(CartServices)
    }

    fn added(item: &str) -> CartEvent {
        CartEvent::ItemAdded {
            cart_id: "c".into(),
            item_id: item.into(),
        }
    }

    #[test]
    fn a_cart_holds_up_to_10_distinct_items() {
        let add = |item: &str| {
            (
                "c".to_owned(),
                CartCommand::AddItem {
                    item_id: item.into(),
                },
            )
        };
        cart()
            .given_no_previous_events()
            .when(add("P-6"))
            .then_expect_events(vec![added("P-6")]);
        cart()
            .given(vec![added("P-6")])
            .when(add("P-6"))
            .then_expect_error(CartError::Duplicate);
        let ten: Vec<_> = all_sizes()
            .iter()
            .take(10)
            .map(|s| added(&item_id("P", s)))
            .collect();
        cart()
            .given(ten.clone())
            .when(add("P-11.5"))
            .then_expect_error(CartError::Full);
        cart()
            .given_no_previous_events()
            .when(add("nodash"))
            .then_expect_error(CartError::NoSuchItem);
        let remove = |item: &str| {
            (
                "c".to_owned(),
                CartCommand::RemoveItem {
                    item_id: item.into(),
                },
            )
        };
        cart()
            .given(vec![added("P-6")])
            .when(remove("P-6"))
            .then_expect_events(vec![CartEvent::ItemRemoved {
                cart_id: "c".into(),
                item_id: "P-6".into(),
            }]);
        cart()
            .given_no_previous_events()
            .when(remove("P-6"))
            .then_expect_error(CartError::NotInCart);
    }

    #[test]
    fn a_cart_has_one_checkout_at_a_time_and_does_not_change_during_it() {
        let command = |command: CartCommand| ("c".to_owned(), command);
        let begin = |p: &str| {
            command(CartCommand::BeginCheckout {
                purchase_id: p.into(),
                items: vec!["P-6".into()],
            })
        };
        let begun = |p: &str| CartEvent::CheckoutBegun {
            cart_id: "c".into(),
            purchase_id: p.into(),
        };
        cart()
            .given_no_previous_events()
            .when(begin("p"))
            .then_expect_error(CartError::Empty);
        cart()
            .given(vec![added("P-6")])
            .when(begin("p"))
            .then_expect_events(vec![begun("p")]);
        cart()
            .given(vec![added("P-6"), added("P-7")])
            .when(begin("p"))
            .then_expect_error(CartError::Changed);
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(begin("q"))
            .then_expect_error(CartError::CheckoutUnderWay);
        for change in [
            CartCommand::AddItem {
                item_id: "P-7".into(),
            },
            CartCommand::RemoveItem {
                item_id: "P-6".into(),
            },
        ] {
            cart()
                .given(vec![added("P-6"), begun("p")])
                .when(command(change))
                .then_expect_error(CartError::CheckoutUnderWay);
        }
        let check_out = |p: &str| {
            command(CartCommand::CheckOut {
                purchase_id: p.into(),
            })
        };
        cart()
            .given(vec![added("P-6")])
            .when(check_out("p"))
            .then_expect_error(CartError::NotCheckingOut);
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(check_out("q"))
            .then_expect_error(CartError::NotCheckingOut);
        let checked_out = CartEvent::CheckedOut {
            cart_id: "c".into(),
            purchase_id: "p".into(),
            items: vec!["P-6".into()],
        };
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(check_out("p"))
            .then_expect_events(vec![checked_out.clone()]);
        // Once completed, a checkout cannot be abandoned (recovery learns it completed).
        cart()
            .given(vec![added("P-6"), begun("p"), checked_out])
            .when(command(CartCommand::AbandonCheckout {
                purchase_id: "p".into(),
            }))
            .then_expect_error(CartError::AlreadyCheckedOut);
        let abandon = |p: &str| {
            command(CartCommand::AbandonCheckout {
                purchase_id: p.into(),
            })
        };
        let abandoned = CartEvent::CheckoutAbandoned {
            cart_id: "c".into(),
            purchase_id: "p".into(),
        };
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(abandon("q"))
            .then_expect_error(CartError::NotCheckingOut);
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(abandon("p"))
            .then_expect_events(vec![abandoned.clone()]);
        // Abandoned: the cart is free again, for changes and for the next checkout.
        cart()
            .given(vec![added("P-6"), begun("p"), abandoned.clone()])
            .when(begin("q"))
            .then_expect_events(vec![begun("q")]);
        cart()
            .given(vec![added("P-6"), begun("p"), abandoned])
            .when(command(CartCommand::RemoveItem {
                item_id: "P-6".into(),
            }))
            .then_expect_events(vec![CartEvent::ItemRemoved {
                cart_id: "c".into(),
                item_id: "P-6".into(),
            }]);
    }

    #[test]
    fn a_purchase_completes_only_with_everything_held_and_fails_only_with_nothing_held() {
        let p = |command| ("p".to_owned(), command);
        let started = PurchaseEvent::PurchaseStarted {
            purchase_id: "p".into(),
            cart_id: "c".into(),
            items: vec!["A-6".into(), "B-7".into()],
            started_at: now(),
        };
        let secured = |item: &str| PurchaseEvent::ItemSecured {
            purchase_id: "p".into(),
            item_id: item.into(),
        };
        let purchase = || TestFramework::<Purchase>::with(services());
        purchase()
            .given(vec![started.clone(), secured("A-6")])
            .when(p(PurchaseCommand::Complete))
            .then_expect_error(PurchaseError::Incomplete);
        purchase()
            .given(vec![started.clone(), secured("A-6"), secured("B-7")])
            .when(p(PurchaseCommand::Complete))
            .then_expect_events(vec![PurchaseEvent::PurchaseCompleted {
                purchase_id: "p".into(),
            }]);
        purchase()
            .given(vec![started.clone(), secured("A-6")])
            .when(p(PurchaseCommand::Fail { reason: "x".into() }))
            .then_expect_error(PurchaseError::StillHeld);
        purchase()
            .given(vec![
                started.clone(),
                secured("A-6"),
                PurchaseEvent::SaleCompensated {
                    purchase_id: "p".into(),
                    item_id: "A-6".into(),
                },
            ])
            .when(p(PurchaseCommand::Fail {
                reason: "sold out".into(),
            }))
            .then_expect_events(vec![PurchaseEvent::PurchaseFailed {
                purchase_id: "p".into(),
                reason: "sold out".into(),
            }]);
        purchase()
            .given(vec![
                started.clone(),
                PurchaseEvent::PurchaseCompleted {
                    purchase_id: "p".into(),
                },
            ])
            .when(p(PurchaseCommand::Secured {
                item_id: "A-6".into(),
            }))
            .then_expect_error(PurchaseError::Ended);
        purchase()
            .given_no_previous_events()
            .when(p(PurchaseCommand::Start {
                cart_id: "c".into(),
                items: vec![],
            }))
            .then_expect_error(PurchaseError::NoItems);
    }
}
