//! The [`Product`] aggregate (id = its sku): a product's sized items and their counts. Every
//! sale of an item is decided here, by the one aggregate that owns its count, so no sale takes
//! a count below zero; a failed checkout's sales are given back here too, each once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::{is_valid_size, is_valid_sku, item_id, DropsServices};
use crate::{FieldErrors, Rejection};

/// Longest product image URL, in characters.
pub const MAX_IMAGE_URL_CHARS: usize = 2000;
/// Most units one restock adds.
pub const MAX_RESTOCK: u32 = 100_000;

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

/// One sized item's count, as the product keeps it.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drops::test_support::{now, services};
    use cqrs_es::test::TestFramework;

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
}
