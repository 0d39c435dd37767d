//! Drops' JSON API. Creating, releasing and restocking need HTTP Basic `admin:<password>`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cinder_domain::drops::{
    product_of, CartCommand, CartError, CreateProduct, ProductCommand, ProductError,
};
use cinder_read_models::drops::ProductView;
use serde_json::{json, Value};

use super::admin::challenge;
use super::is_admin;
use crate::bus::CommandError;
use crate::process::checkout::{checkout as run_checkout, CheckoutError};
use crate::web::errors::{command_response, json_error};
use crate::web::AppState;

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

pub async fn products(State(app): State<AppState>) -> Response {
    match app.drops.products() {
        Ok(products) => {
            Json(json!({"products": products.iter().map(product_json).collect::<Vec<_>>()}))
                .into_response()
        }
        Err(error) => read_failed(error),
    }
}

pub async fn product(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match app.drops.product(&id) {
        Ok(Some(product)) => Json(json!({"product": product_json(&product)})).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no such product"),
        Err(error) => read_failed(error),
    }
}

/// `POST /api/drops/products` → 201 `{id, items: [{id, sku, size}]}`.
pub async fn create_product(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    let create: CreateProduct = match serde_json::from_slice(&body) {
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
    match app
        .bus
        .products
        .execute(&id, ProductCommand::CreateProduct(create))
        .await
    {
        Ok(committed) => {
            wait(&app, committed.last()).await;
            let items: Vec<Value> = committed
                .events
                .iter()
                .flat_map(|event| match event {
                    cinder_domain::drops::ProductEvent::ProductCreated(created) => {
                        created.items.clone()
                    }
                    _ => Vec::new(),
                })
                .map(|item| json!({"id": item.id, "sku": item.sku, "size": item.size}))
                .collect();
            (StatusCode::CREATED, Json(json!({"id": id, "items": items}))).into_response()
        }
        Err(CommandError::Rejected(ProductError::AlreadyExists)) => json_error(
            StatusCode::CONFLICT,
            "a product with this sku already exists",
        ),
        Err(error) => command_response(error),
    }
}

pub async fn release(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    product_command(&app, &id, ProductCommand::ReleaseProduct).await
}

pub async fn restock(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(item_id): Path<String>,
    body: Bytes,
) -> Response {
    if !is_admin(&headers, &app) {
        return challenge();
    }
    let quantity = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("quantity").and_then(Value::as_u64));
    let Some(quantity) = quantity.and_then(|q| u32::try_from(q).ok()) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "expected {\"quantity\": a whole number}",
        );
    };
    let Some(product_id) = product_of(&item_id) else {
        return json_error(StatusCode::NOT_FOUND, "no such item");
    };
    product_command(
        &app,
        product_id,
        ProductCommand::RestockItem {
            item_id: item_id.clone(),
            quantity,
        },
    )
    .await
}

async fn product_command(app: &AppState, product_id: &str, command: ProductCommand) -> Response {
    if !cinder_domain::drops::is_valid_sku(product_id) {
        return json_error(StatusCode::NOT_FOUND, "no such product or item");
    }
    match app.bus.products.execute(product_id, command).await {
        Ok(committed) => {
            wait(app, committed.last()).await;
            match app.drops.product(product_id) {
                Ok(Some(product)) => {
                    Json(json!({"product": product_json(&product)})).into_response()
                }
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

pub async fn add_to_cart(
    State(app): State<AppState>,
    Path(cart_id): Path<String>,
    body: Bytes,
) -> Response {
    let item_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("item_id").and_then(Value::as_str).map(str::to_owned));
    let Some(item_id) = item_id else {
        return json_error(StatusCode::BAD_REQUEST, "expected {\"item_id\": \"...\"}");
    };
    match app.drops.item(&item_id) {
        Ok(Some(_)) => {}
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "no such item"),
        Err(error) => return read_failed(error),
    }
    cart_command(&app, &cart_id, CartCommand::AddItem { item_id }).await
}

pub async fn remove_from_cart(
    State(app): State<AppState>,
    Path((cart_id, item_id)): Path<(String, String)>,
) -> Response {
    cart_command(&app, &cart_id, CartCommand::RemoveItem { item_id }).await
}

async fn cart_command(app: &AppState, cart_id: &str, command: CartCommand) -> Response {
    if !valid_cart_id(cart_id) {
        return json_error(StatusCode::NOT_FOUND, "no such cart");
    }
    match app
        .bus
        .carts
        .execute(&stored_cart(cart_id), (stored_cart(cart_id), command))
        .await
    {
        Ok(committed) => {
            wait(app, committed.last()).await;
            cart_response(app, cart_id)
        }
        Err(CommandError::Rejected(CartError::NotInCart)) => {
            json_error(StatusCode::NOT_FOUND, "that item is not in this cart")
        }
        Err(error) => command_response(error),
    }
}

fn cart_response(app: &AppState, cart_id: &str) -> Response {
    match app.drops.cart(&stored_cart(cart_id)) {
        Ok(items) => Json(json!({"cart": {"id": cart_id, "items": items}})).into_response(),
        Err(error) => read_failed(error),
    }
}

/// `POST /api/drops/carts/<cart_id>/checkout` → 200 `{"status": "complete"}` or 409/422.
pub async fn checkout(State(app): State<AppState>, Path(cart_id): Path<String>) -> Response {
    if !valid_cart_id(&cart_id) {
        return json_error(StatusCode::NOT_FOUND, "no such cart");
    }
    match run_checkout(&app, &stored_cart(&cart_id)).await {
        Ok(purchase_id) => {
            Json(json!({"status": "complete", "purchase_id": purchase_id})).into_response()
        }
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
                Json(json!({"status": "refused", "error": error.to_string()})),
            )
                .into_response()
        }
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

async fn wait(app: &AppState, cursor: Option<cinder_read_models::Cursor>) {
    if let Some(cursor) = cursor {
        app.progress.wait_for(cursor, Duration::from_secs(5)).await;
    }
}

fn read_failed(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "drops read model query failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "could not read the store",
    )
}
