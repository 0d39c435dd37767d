//! Drops' commands, one function each: what the store's live views, their form posts, the
//! admin dashboard and the JSON API all call. Each runs its command (the product, cart or
//! purchase decides) and waits for read-your-writes once (see [`Context::execute`]); the
//! checkout runs the process manager, which does the same for each step. Who may call the
//! admin's commands is the transport's to check (HTTP Basic, an admin page's token).

use cinder_domain::drops::{
    product_of, Cart, CartCommand, CartError, CreateProduct, CreatedItem, Product,
    ProductCommand, ProductError, ProductEvent,
};
use cinder_read_models::drops::DropsReadModel;

use crate::bus::CommandError;
use crate::process::checkout::CheckoutError;
use crate::web::context::Context;

/// Creates a product, unreleased; returns its sizes with their item ids.
pub async fn create_product(
    ctx: &Context,
    create: CreateProduct,
) -> Result<Vec<CreatedItem>, CommandError<ProductError>> {
    let id = create.sku.clone();
    let committed = ctx
        .execute::<Product>(&id, ProductCommand::CreateProduct(create))
        .await?;
    Ok(committed
        .events
        .into_iter()
        .flat_map(|event| match event {
            ProductEvent::ProductCreated(created) => created.items,
            _ => Vec::new(),
        })
        .collect())
}

/// Releases product `product_id`: its sizes go on sale, live.
pub async fn release_product(
    ctx: &Context,
    product_id: &str,
) -> Result<(), CommandError<ProductError>> {
    ctx.execute::<Product>(product_id, ProductCommand::ReleaseProduct)
        .await
        .map(drop)
}

/// Adds `quantity` units of item `item_id` (its product is named by the item id).
pub async fn restock_item(
    ctx: &Context,
    item_id: &str,
    quantity: u32,
) -> Result<(), CommandError<ProductError>> {
    let Some(product_id) = product_of(item_id) else {
        return Err(CommandError::Rejected(ProductError::NoSuchItem));
    };
    let command = ProductCommand::RestockItem {
        item_id: item_id.to_owned(),
        quantity,
    };
    ctx.execute::<Product>(product_id, command).await.map(drop)
}

/// Puts item `item_id` in cart `cart_id`.
pub async fn add_item_to_cart(
    ctx: &Context,
    cart_id: &str,
    item_id: String,
) -> Result<(), CommandError<CartError>> {
    change_cart(ctx, cart_id, CartCommand::AddItem { item_id }).await
}

/// Takes item `item_id` out of cart `cart_id`.
pub async fn remove_item_from_cart(
    ctx: &Context,
    cart_id: &str,
    item_id: String,
) -> Result<(), CommandError<CartError>> {
    change_cart(ctx, cart_id, CartCommand::RemoveItem { item_id }).await
}

async fn change_cart(
    ctx: &Context,
    cart_id: &str,
    command: CartCommand,
) -> Result<(), CommandError<CartError>> {
    ctx.execute::<Cart>(cart_id, (cart_id.to_owned(), command))
        .await
        .map(drop)
}

/// Buys everything in cart `cart_id`, or nothing (see [`crate::process::checkout`]); returns
/// the completed purchase's id.
pub async fn checkout(
    ctx: &Context,
    drops: &DropsReadModel,
    cart_id: &str,
) -> Result<String, CheckoutError> {
    crate::process::checkout::checkout(&super::shop(&ctx.app, drops), cart_id).await
}
