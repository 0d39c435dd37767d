//! Drops: a store that launches limited sneakers. Three aggregates, one file each:
//! - [`Product`] (id = its sku, [`product`]) holds its sized items and their counts; no sale
//!   takes a count below zero, because every sale is decided by the one aggregate that owns the
//!   count.
//! - [`Cart`] (id = the shopper's session, [`cart`]) holds up to 10 distinct items, and has at
//!   most one checkout under way at a time.
//! - [`Purchase`] (id = a new id per checkout, [`purchase`]) is the checkout process manager's
//!   own record: which items it secured, which it gave back, how it ended. From it a restarted
//!   node knows what to compensate.
//!
//! This file holds what the three share: how items and sizes are named, the stock levels
//! shoppers see, and the services the aggregates that need the time take.

mod cart;
mod product;
mod purchase;

pub use cart::{Cart, CartCommand, CartError, CartEvent, CartServices, MAX_CART_ITEMS};
pub use product::{
    CreateProduct, CreatedItem, NewItem, Product, ProductCommand, ProductCreated, ProductError,
    ProductEvent, MAX_IMAGE_URL_CHARS, MAX_RESTOCK,
};
pub use purchase::{Purchase, PurchaseCommand, PurchaseError, PurchaseEvent, PurchaseStatus};

use serde::{Deserialize, Serialize};

use crate::Clock;

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

/// What [`Product`] and [`Purchase`] need from outside: the time their events record.
#[derive(Debug, Clone, Default)]
pub struct DropsServices {
    pub clock: Clock,
}

/// Fixed time and services for the aggregates' tests.
#[cfg(test)]
mod test_support {
    use chrono::{DateTime, TimeZone, Utc};

    use super::DropsServices;
    use crate::Clock;

    pub(super) fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    pub(super) fn services() -> DropsServices {
        DropsServices {
            clock: Clock::fixed(now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
