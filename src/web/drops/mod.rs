//! Drops on the web: the store (`/drops`), the cart on every Drops page, checkout, the admin
//! dashboard (`/admin`), the `product:<id>` topic and the JSON API.

mod admin;
mod api;
mod channel;
mod image;
mod pages;
mod views;

use axum::http::{header, HeaderMap};
use axum::routing::{delete, get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub use channel::ProductChannels;

use super::live::LiveView;
use super::session::Session;
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/drops", get(pages::shop))
        .route("/drops/checkout", get(pages::checkout).post(pages::buy))
        .route("/drops/cart", post(pages::add_to_cart))
        .route("/drops/cart/remove", post(pages::remove_from_cart))
        .route("/drops/purchases/{id}", get(pages::purchase))
        .route("/drops/products/{id}/image.svg", get(image::image))
        .route("/admin", get(admin::page))
        .route("/admin/release", post(admin::release_form))
        .route("/admin/restock", post(admin::restock_form))
        .route(
            "/api/drops/products",
            get(api::products).post(api::create_product),
        )
        .route("/api/drops/products/{id}", get(api::product))
        .route("/api/drops/products/{id}/release", post(api::release))
        .route("/api/drops/items/{item_id}/restock", post(api::restock))
        .route("/api/drops/carts/{cart_id}/items", post(api::add_to_cart))
        .route(
            "/api/drops/carts/{cart_id}/items/{item_id}",
            delete(api::remove_from_cart),
        )
        .route("/api/drops/carts/{cart_id}/checkout", post(api::checkout))
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
