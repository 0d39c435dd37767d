//! Drops' JSON API. Creating, releasing and restocking need HTTP Basic `admin:<password>`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cinder_domain::drops::{
    product_of, CartError, CreateProduct, ProductError,
};
use cinder_read_models::drops::ProductView;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::admin::challenge;
use super::context;
use crate::web::context::Context;
use crate::web::admin::is_admin;
use crate::bus::CommandError;
use crate::process::checkout::CheckoutError;
use crate::web::errors::{command_response, json_error, ErrorBody, FieldErrors};

/// Every product, in display order.
#[derive(Serialize, ToSchema)]
pub struct Products {
    pub products: Vec<ProductView>,
}

/// One product, with its items' counts and levels.
#[derive(Serialize, ToSchema)]
pub struct OneProduct {
    pub product: ProductView,
}

/// A product created: its id (its sku) and its items' ids (`<sku>-<size>`).
#[derive(Serialize, ToSchema)]
pub struct CreatedProduct {
    pub id: String,
    pub items: Vec<CreatedItem>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedItem {
    pub id: String,
    pub sku: String,
    pub size: String,
}

/// Units to add to an item.
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct Restock {
    pub quantity: u32,
}

/// An item to put in a cart.
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct CartItem {
    /// An item's id, `<sku>-<size>`.
    pub item_id: String,
}

/// A cart, as it is after the command.
#[derive(Serialize, ToSchema)]
pub struct CartBody {
    pub cart: Cart,
}

#[derive(Serialize, ToSchema)]
pub struct Cart {
    /// The caller's own cart id.
    pub id: String,
    /// The ids of the items in it, at most 10.
    pub items: Vec<String>,
}

/// A checkout that completed.
#[derive(Serialize, ToSchema)]
pub struct CheckoutComplete {
    /// "complete"
    pub status: &'static str,
    pub purchase_id: String,
}

/// A checkout refused; nothing was taken.
#[derive(Serialize, ToSchema)]
pub struct CheckoutRefused {
    /// "refused"
    pub status: &'static str,
    /// Why, for a person.
    pub error: String,
}

/// The admin credentials were missing or wrong: `401` with `WWW-Authenticate: Basic`.
const ADMIN_ONLY: &str = "The admin password is needed (HTTP Basic, user `admin`)";
use crate::web::AppState;
use axum::Extension;
use cinder_read_models::drops::DropsReadModel;

/// A product as the API shows it: its items with counts and levels.
pub fn product_json(product: &ProductView) -> Value {
    json!({
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "brand": product.brand,
        "color": product.color,
        "price_usd": product.price_usd,
        "image_url": product.image_url,
        "order": product.order,
        "released": product.released,
        "items": product.items.iter().map(|item| json!({
            "id": item.id,
            "sku": item.sku,
            "size": item.size,
            "available": item.available,
            "level": item.level,
        })).collect::<Vec<_>>(),
    })
}

#[utoipa::path(
    get,
    path = "/api/drops/products",
    tag = "drops",
    operation_id = "drops_products",
    responses(
        (status = 200, description = "Every product, with items, counts and levels", body = Products),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn products(Extension(drops): Extension<DropsReadModel>) -> Response {
    match drops.products() {
        Ok(products) => Json(Products { products }).into_response(),
        Err(error) => read_failed(error),
    }
}

#[utoipa::path(
    get,
    path = "/api/drops/products/{id}",
    tag = "drops",
    operation_id = "drops_product",
    params(("id" = String, Path, description = "A product's id: its sku")),
    responses(
        (status = 200, description = "The product", body = OneProduct),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn product(
    Extension(drops): Extension<DropsReadModel>,
    Path(id): Path<String>,
) -> Response {
    match drops.product(&id) {
        Ok(Some(product)) => Json(OneProduct { product }).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no such product"),
        Err(error) => read_failed(error),
    }
}

/// `POST /api/drops/products` → 201 `{id, items: [{id, sku, size}]}`.
#[utoipa::path(
    post,
    path = "/api/drops/products",
    tag = "drops",
    operation_id = "drops_create_product",
    security(("admin" = [])),
    request_body = CreateProduct,
    responses(
        (status = 201, description = "Created, unreleased", body = CreatedProduct),
        (status = 400, description = "Not a product object", body = ErrorBody),
        (status = 401, description = ADMIN_ONLY, content_type = "text/plain", body = String),
        (status = 409, description = "A product with this sku exists, or conflicting writers", body = ErrorBody),
        (status = 422, description = "Rules broken, by field", body = FieldErrors),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn create_product(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    let create = serde_json::from_slice::<Value>(&body)
        .map(whole_numbers)
        .and_then(serde_json::from_value::<CreateProduct>);
    let create: CreateProduct = match create {
        Ok(create) => create,
        Err(error) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{sku, name, brand, color, price_usd, image_url, order, items: [{{sku, size, available}}]}}: {error}"),
            )
        }
    };
    let id = create.sku.clone();
    if !cinder_domain::drops::is_valid_sku(&id) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"errors": {"sku": ["must be 1–32 letters, digits, _ or -"]}})),
        )
            .into_response();
    }
    match context::create_product(&Context::new(&app), create).await {
        Ok(created) => {
            let items: Vec<CreatedItem> = created
                .into_iter()
                .map(|item| CreatedItem {
                    id: item.id,
                    sku: item.sku,
                    size: item.size,
                })
                .collect();
            (StatusCode::CREATED, Json(CreatedProduct { id, items })).into_response()
        }
        Err(CommandError::Rejected(ProductError::AlreadyExists)) => json_error(
            StatusCode::CONFLICT,
            "a product with this sku already exists",
        ),
        Err(error) => command_response(error),
    }
}

#[utoipa::path(
    post,
    path = "/api/drops/products/{id}/release",
    tag = "drops",
    operation_id = "drops_release",
    security(("admin" = [])),
    params(("id" = String, Path, description = "A product's id: its sku")),
    responses(
        (status = 200, description = "Released; the product", body = OneProduct),
        (status = 401, description = ADMIN_ONLY, content_type = "text/plain", body = String),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 422, description = "Already released", body = FieldErrors),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 500, description = "Done, but not yet readable", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn release(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    if !cinder_domain::drops::is_valid_sku(&id) {
        return json_error(StatusCode::NOT_FOUND, "no such product or item");
    }
    let done = context::release_product(&Context::new(&app), &id).await;
    product_answer(&drops, &id, done)
}

#[utoipa::path(
    post,
    path = "/api/drops/items/{item_id}/restock",
    tag = "drops",
    operation_id = "drops_restock",
    security(("admin" = [])),
    params(("item_id" = String, Path, description = "An item's id: `<sku>-<size>`")),
    request_body = Restock,
    responses(
        (status = 200, description = "Restocked; the product", body = OneProduct),
        (status = 400, description = "Not `{\"quantity\": a whole number}`", body = ErrorBody),
        (status = 401, description = ADMIN_ONLY, content_type = "text/plain", body = String),
        (status = 404, description = "No such item", body = ErrorBody),
        (status = 422, description = "A rule broken", body = FieldErrors),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 500, description = "Done, but not yet readable", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn restock(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    headers: HeaderMap,
    Path(item_id): Path<String>,
    body: Bytes,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    let quantity = serde_json::from_slice::<Value>(&body)
        .ok()
        .map(whole_numbers)
        .and_then(|b| b.get("quantity").and_then(Value::as_u64));
    let Some(quantity) = quantity.and_then(|q| u32::try_from(q).ok()) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "expected {\"quantity\": a whole number}",
        );
    };
    let Some(product_id) = product_of(&item_id).filter(|id| cinder_domain::drops::is_valid_sku(id))
    else {
        return json_error(StatusCode::NOT_FOUND, "no such item");
    };
    let done = context::restock_item(&Context::new(&app), &item_id, quantity).await;
    product_answer(&drops, product_id, done)
}

/// The product once `done` (its context waited until this node shows it), or why not.
fn product_answer(
    drops: &DropsReadModel,
    product_id: &str,
    done: Result<(), CommandError<ProductError>>,
) -> Response {
    match done {
        Ok(()) => {
            match drops.product(product_id) {
                Ok(Some(product)) => Json(OneProduct { product }).into_response(),
                _ => json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "done, but not yet readable",
                ),
            }
        }
        Err(CommandError::Rejected(ProductError::NotFound | ProductError::NoSuchItem)) => {
            json_error(StatusCode::NOT_FOUND, "no such product or item")
        }
        Err(error) => command_response(error),
    }
}

#[utoipa::path(
    post,
    path = "/api/drops/carts/{cart_id}/items",
    tag = "drops",
    operation_id = "drops_add_to_cart",
    params(("cart_id" = String, Path, description = "The caller's own cart id, a secret: 1–64 of letters, digits, - and _")),
    request_body = CartItem,
    responses(
        (status = 200, description = "Added; the cart", body = CartBody),
        (status = 400, description = "Not `{\"item_id\": \"...\"}`", body = ErrorBody),
        (status = 404, description = "No such item, or not a cart id", body = ErrorBody),
        (status = 409, description = "A checkout of this cart is under way, or conflicting writers", body = ErrorBody),
        (status = 422, description = "A rule broken (already in the cart, an 11th item)", body = FieldErrors),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn add_to_cart(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    Path(cart_id): Path<String>,
    body: Bytes,
) -> Response {
    let item_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("item_id").and_then(Value::as_str).map(str::to_owned));
    let Some(item_id) = item_id else {
        return json_error(StatusCode::BAD_REQUEST, "expected {\"item_id\": \"...\"}");
    };
    match drops.item(&item_id) {
        Ok(Some(_)) => {}
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "no such item"),
        Err(error) => return read_failed(error),
    }
    if !valid_cart_id(&cart_id) {
        return json_error(StatusCode::NOT_FOUND, "no such cart");
    }
    let ctx = Context::new(&app);
    let done = context::add_item_to_cart(&ctx, &stored_cart(&cart_id), item_id).await;
    cart_answer(&drops, &cart_id, done)
}

#[utoipa::path(
    delete,
    path = "/api/drops/carts/{cart_id}/items/{item_id}",
    tag = "drops",
    operation_id = "drops_remove_from_cart",
    params(
        ("cart_id" = String, Path, description = "The caller's own cart id, a secret: 1–64 of letters, digits, - and _"),
        ("item_id" = String, Path, description = "An item's id: `<sku>-<size>`"),
    ),
    responses(
        (status = 200, description = "Removed; the cart", body = CartBody),
        (status = 404, description = "Not in this cart, or not a cart id", body = ErrorBody),
        (status = 409, description = "A checkout of this cart is under way, or conflicting writers", body = ErrorBody),
        (status = 422, description = "A rule broken (already in the cart, an 11th item)", body = FieldErrors),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn remove_from_cart(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    Path((cart_id, item_id)): Path<(String, String)>,
) -> Response {
    if !valid_cart_id(&cart_id) {
        return json_error(StatusCode::NOT_FOUND, "no such cart");
    }
    let ctx = Context::new(&app);
    let done = context::remove_item_from_cart(&ctx, &stored_cart(&cart_id), item_id).await;
    cart_answer(&drops, &cart_id, done)
}

/// The cart once `done` (its context waited until this node shows it), or why not.
fn cart_answer(
    drops: &DropsReadModel,
    cart_id: &str,
    done: Result<(), CommandError<CartError>>,
) -> Response {
    match done {
        Ok(()) => cart_response(drops, cart_id),
        Err(CommandError::Rejected(CartError::NotInCart)) => {
            json_error(StatusCode::NOT_FOUND, "that item is not in this cart")
        }
        Err(error) => command_response(error),
    }
}

fn cart_response(drops: &DropsReadModel, cart_id: &str) -> Response {
    match drops.cart(&stored_cart(cart_id)) {
        Ok(items) => Json(CartBody {
            cart: Cart {
                id: cart_id.to_owned(),
                items,
            },
        })
        .into_response(),
        Err(error) => read_failed(error),
    }
}

/// `POST /api/drops/carts/<cart_id>/checkout` → 200 `{"status": "complete"}` or 409/422.
#[utoipa::path(
    post,
    path = "/api/drops/carts/{cart_id}/checkout",
    tag = "drops",
    operation_id = "drops_checkout",
    params(("cart_id" = String, Path, description = "The caller's own cart id, a secret: 1–64 of letters, digits, - and _")),
    responses(
        (status = 200, description = "Bought; the cart is empty", body = CheckoutComplete),
        (status = 404, description = "Not a cart id", body = ErrorBody),
        (status = 409, description = "Refused: sold out, a checkout of this cart under way, the cart changed meanwhile, or the purchase failed", body = CheckoutRefused),
        (status = 422, description = "Refused: an empty cart, or an item not released yet", body = CheckoutRefused),
        (status = 503, description = "Refused: the event store is unavailable", body = CheckoutRefused),
    )
)]
pub async fn checkout(
    State(app): State<AppState>,
    Extension(drops): Extension<DropsReadModel>,
    Path(cart_id): Path<String>,
) -> Response {
    if !valid_cart_id(&cart_id) {
        return json_error(StatusCode::NOT_FOUND, "no such cart");
    }
    let ctx = Context::new(&app);
    match context::checkout(&ctx, &drops, &stored_cart(&cart_id)).await {
        Ok(purchase_id) => Json(CheckoutComplete {
            status: "complete",
            purchase_id,
        })
        .into_response(),
        Err(error) => {
            let status = match error {
                CheckoutError::EmptyCart | CheckoutError::NotReleased(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                CheckoutError::SoldOut(_)
                | CheckoutError::Failed(_)
                | CheckoutError::UnderWay
                | CheckoutError::CartChanged => StatusCode::CONFLICT,
                CheckoutError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            };
            (
                status,
                Json(CheckoutRefused {
                    status: "refused",
                    error: error.to_string(),
                }),
            )
                .into_response()
        }
    }
}

/// `value` with every number that is whole written as an integer: JSON Schema, and so the
/// document, counts `3.0` as the integer 3, so the API takes it as one too.
fn whole_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, whole_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The cart aggregate behind an API cart id. A program's cart id is its own secret; the stored
/// id (which the public event log shows) is derived from it, so nobody can reach a cart from
/// the log, and API carts never meet visitors' carts.
fn stored_cart(cart_id: &str) -> String {
    crate::opaque::opaque_id("cinder api cart", cart_id, 16)
}

/// An API cart id: 1–64 letters, digits, `-` or `_`.
fn valid_cart_id(cart_id: &str) -> bool {
    !cart_id.is_empty()
        && cart_id.len() <= 64
        && cart_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn read_failed(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "drops read model query failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "could not read the store",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_floats_become_integers_and_others_stay() {
        let body = json!({"quantity": 3.0, "items": [{"available": 2.0}, 1.5, -4.0], "sku": "x"});
        assert_eq!(
            whole_numbers(body),
            json!({"quantity": 3, "items": [{"available": 2}, 1.5, -4], "sku": "x"})
        );
    }
}
