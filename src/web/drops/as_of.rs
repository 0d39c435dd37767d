//! A product "as of" an event, for the explorer: rebuilt in a throwaway read model from its
//! events up to the chosen one, shown as it stood: released or not, and each size's stock.

use cinder_domain::StoredEvent;
use cinder_read_models::drops::DropsReadModel;
use cinder_read_models::ProjectionError;
use maud::{html, Markup};

use super::views::level_label;
use crate::web::events::{scratch_db, AsOf};

/// An empty "as of" view of product `id`.
pub fn new(id: &str) -> Result<Box<dyn AsOf>, ProjectionError> {
    let db = scratch_db()?;
    Ok(Box::new(ProductAsOf {
        drops: DropsReadModel::open(&db)?,
        id: id.to_owned(),
        _db: db,
    }))
}

struct ProductAsOf {
    drops: DropsReadModel,
    id: String,
    _db: sled::Db,
}

impl AsOf for ProductAsOf {
    fn fold(&self, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        cinder_read_models::fold(&self.drops, events)
    }

    /// The product and a row per size (at most 13, so always within any budget).
    fn render(&self, _budget: usize) -> Result<Markup, ProjectionError> {
        let Some(product) = self.drops.product(&self.id)? else {
            return Ok(html! { p.muted { "Nothing yet." } });
        };
        let units: u64 = product.items.iter().map(|i| u64::from(i.available)).sum();
        Ok(html! {
            div.as-of-product {
                h2 { (product.name) }
                p.product-meta {
                    span.brand { (product.brand) } " · " (product.color) " · $" (product.price_usd)
                }
                p {
                    @if product.released { span.badge { "released" } }
                    @else { span.badge.muted { "coming soon" } }
                    " " (units) " units in stock"
                }
                table.as-of-sizes {
                    thead { tr { th { "Size" } th { "Available" } th { "Level" } } }
                    tbody {
                        @for item in &product.items {
                            tr data-level=(item.level.as_str()) {
                                td { (item.size) }
                                td.number { (item.available) }
                                td { (level_label(item.level)) }
                            }
                        }
                    }
                }
            }
        })
    }
}
