//! Drops on the web: the store (`/drops`), the cart on every Drops page, checkout, the admin
//! dashboard (`/admin`), the `product:<id>` topic and the JSON API.

mod admin;
mod api;
mod channel;
mod image;
mod pages;
mod views;

use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use channel::ProductChannels;

use super::live::LiveView;
use super::session::Session;
use super::AppState;
use crate::process::checkout::Shop;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
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
}

/// The Drops live view at `path`, if it is one of Drops'.
pub fn mount(path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
    match path {
        "/drops" => Some(Box::new(views::ShopView::new(app.clone(), session.clone()))),
        "/drops/checkout" => Some(Box::new(views::CheckoutView::new(
            app.clone(),
            session.clone(),
        ))),
        "/admin" => Some(Box::new(admin::AdminView::new(
            app.clone(),
            session.clone(),
        ))),
        _ => None,
    }
}

/// What the checkout process manager works with, taken from the node's state.
pub fn shop(app: &AppState) -> Shop {
    Shop {
        bus: app.bus.clone(),
        drops: app.drops.clone(),
        progress: app.progress.clone(),
    }
}

/// The cart of a visitor's session: shared by all their tabs and nodes, and not their session
/// id (carts show in the public event log).
pub fn cart_id(session: &Session) -> String {
    crate::opaque::opaque_id("cinder cart", &session.id, 16)
}

/// Whether the request carries HTTP Basic credentials `admin:<password>`.
pub fn is_admin(headers: &HeaderMap, app: &AppState) -> bool {
    let Some(credentials) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
    else {
        return false;
    };
    let expected = format!("admin:{}", app.admin_password);
    // Compare in constant time: a timing difference must not reveal the password.
    credentials.len() == expected.len()
        && credentials
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
