//! Drops on the web: the store (`/drops`), the cart on every Drops page, checkout, the admin
//! dashboard (`/admin`), the `product:<id>` topic and the JSON API.

mod admin;
mod api;
mod as_of;
mod channel;
pub mod context;
mod image;
mod pages;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Extension;
use cinder_domain::drops::{Cart, CartServices, DropsServices, Product, Purchase};
use cinder_domain::StoredEvent;
use cinder_read_models::drops::DropsReadModel;
use cinder_read_models::Projection;
use cqrs_es::Aggregate;
use serde_json::Value;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use channel::ProductChannels;

use super::app::{App, Nav, Registration};
use super::events::{redacted, NewAsOf, Viewer};
use super::live::LiveView;
use super::session::Session;
use super::socket::ChannelFactory;
use super::AppState;
use crate::bus::CommandBus;
use crate::config::Config;
use crate::process::checkout::Shop;

/// Drops, as the platform registers it: products, carts and purchases.
pub static APP: Registration = Registration {
    name: "drops",
    projections: &["drops"],
    aggregates,
    open: |db| Ok(Arc::new(DropsReadModel::open(db)?)),
};

fn aggregates(bus: &mut CommandBus) {
    let clock = bus.clock().clone();
    bus.register::<Product>(
        DropsServices {
            clock: clock.clone(),
        },
        Vec::new(),
    )
    .register::<Cart>(CartServices, Vec::new())
    .register::<Purchase>(DropsServices { clock }, Vec::new());
}

/// How often abandoned purchases are looked for (and once at start-up).
const RECOVERY_EVERY: Duration = Duration::from_secs(30);

/// Drops on a node is its read model. Carts and purchases are their shopper's own.
impl App for DropsReadModel {
    fn nav(&self) -> Option<Nav> {
        Some(Nav {
            href: "/drops",
            label: "Drops",
            blurb: "Limited sneakers",
        })
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(self.clone())]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        crate::web::openapi::tagged(
            "drops",
            "Limited product launches: products, carts, checkout",
        )
        .route("/drops", get(pages::shop))
        .route("/drops/checkout", get(pages::checkout).post(pages::buy))
        .route("/drops/cart", post(pages::add_to_cart))
        .route("/drops/cart/remove", post(pages::remove_from_cart))
        .route("/drops/purchases/{id}", get(pages::purchase))
        .route("/drops/products/{id}/image.svg", get(image::image))
        .route("/admin", get(admin::page))
        .route("/admin/release", post(admin::release_form))
        .route("/admin/restock", post(admin::restock_form))
        .routes(routes!(api::products, api::create_product))
        .routes(routes!(api::product))
        .routes(routes!(api::release))
        .routes(routes!(api::restock))
        .routes(routes!(api::add_to_cart))
        .routes(routes!(api::remove_from_cart))
        .routes(routes!(api::checkout))
        .layer(Extension(self.clone()))
    }

    fn channels(&self) -> Vec<Arc<dyn ChannelFactory>> {
        vec![Arc::new(ProductChannels {
            drops: self.clone(),
        })]
    }

    fn mount(&self, path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
        let (app, drops, session) = (app.clone(), self.clone(), session.clone());
        match path {
            "/drops" => Some(Box::new(views::ShopView::new(app, drops, session))),
            "/drops/checkout" => Some(Box::new(views::CheckoutView::new(app, drops, session))),
            "/admin" => Some(Box::new(admin::AdminView::new(app, drops, session))),
            _ => None,
        }
    }

    fn as_of(&self, aggregate_type: &str) -> Option<NewAsOf> {
        (aggregate_type == Product::TYPE).then_some(as_of::new as NewAsOf)
    }

    fn owned_by(&self, session: &Session) -> Vec<String> {
        vec![cart_id(session)]
    }

    /// A cart is its shopper's; so is a purchase, which names its cart (in its first event,
    /// before the read model may know the purchase).
    fn redact(&self, event: &StoredEvent, viewer: &Viewer) -> Option<Value> {
        let (owner, what) = match event.aggregate_type.as_str() {
            Cart::TYPE => (Some(event.aggregate_id.clone()), "a visitor's cart"),
            Purchase::TYPE => (
                event
                    .payload
                    .pointer("/PurchaseStarted/cart_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| purchase_cart(self, &event.aggregate_id)),
                "a visitor's purchase",
            ),
            _ => return None,
        };
        let shown = viewer.is_admin() || owner.is_some_and(|cart| viewer.may_see(&cart));
        (!shown).then(|| redacted(event, what))
    }

    fn may_see(&self, aggregate_type: &str, aggregate_id: &str, viewer: &Viewer) -> bool {
        match aggregate_type {
            Cart::TYPE => viewer.may_see(aggregate_id),
            Purchase::TYPE => {
                viewer.is_admin()
                    || purchase_cart(self, aggregate_id).is_some_and(|cart| viewer.may_see(&cart))
            }
            _ => true,
        }
    }

    /// Finishes purchases a node left half way (at start-up, then every 30 s).
    fn spawn(&self, app: &AppState, _config: &Config) -> Vec<JoinHandle<()>> {
        vec![crate::process::checkout::spawn_recovery(
            shop(app, self),
            RECOVERY_EVERY,
        )]
    }
}

/// The cart purchase `purchase_id` was made from, if the read model knows it.
fn purchase_cart(drops: &DropsReadModel, purchase_id: &str) -> Option<String> {
    drops
        .purchase(purchase_id)
        .ok()
        .flatten()
        .map(|purchase| purchase.cart_id)
}

/// What the checkout process manager works with.
pub fn shop(app: &AppState, drops: &DropsReadModel) -> Shop {
    Shop {
        bus: app.bus.clone(),
        drops: drops.clone(),
        progress: app.progress.clone(),
    }
}

/// The cart of a visitor's session: shared by all their tabs and nodes, and not their session
/// id (carts show in the public event log).
pub fn cart_id(session: &Session) -> String {
    crate::opaque::opaque_id("cinder cart", &session.id, 16)
}
