//! Checkout: buy everything in a cart, or nothing.
//!
//! The cart is checked in the order shoppers expect (empty, sold out, not released), then a
//! [`Purchase`] records the process. The cart itself admits one checkout at a time
//! (`BeginCheckout`): a second one, from a double click or another tab, is refused at once
//! with "a checkout of this cart is already under way" and takes nothing. Each item is then
//! sold by its product under the purchase's id and recorded as secured, and the cart is checked
//! out, which empties it in every tab. If anything on the way fails (a sale refused, the store
//! gone), every unit already taken is given back (compensating `SaleUndone` events) before the
//! shopper is answered, the purchase fails with one message, and the cart is free again as it
//! was.
//!
//! A node that dies midway leaves the purchase running. [`recover`] (at start-up, then
//! periodically) finishes such purchases: it first ends the cart's checkout (whoever reaches
//! the cart first decides, so a slow node and the recovery never both act), then gives back
//! whatever the purchase took, unless the cart shows it completed. Products remember which
//! units each purchase took, so giving back is exact and happens at most once, whatever was or
//! was not recorded before the crash.
//!
//! [`Purchase`]: cinder_domain::drops::Purchase

use std::sync::Arc;
use std::time::Duration;

use cinder_domain::drops::{
    product_of, CartCommand, CartError, ProductCommand, ProductError, PurchaseCommand,
};
use cinder_read_models::drops::{DropsReadModel, ProductView, PurchaseView};

use crate::bus::{CommandBus, CommandError};
use crate::projections::Progress;

/// What the checkout works with, and nothing more: the bus its commands go through, the Drops
/// read model it checks carts in and finds abandoned purchases with, and the projections'
/// progress, to see its own writes before it answers. Cheap to clone.
#[derive(Clone)]
pub struct Shop {
    pub bus: Arc<CommandBus>,
    pub drops: DropsReadModel,
    pub progress: Progress,
}

/// Why a checkout did not complete, in the words shown to the shopper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("Your cart is empty.")]
    EmptyCart,
    #[error("Sold out: {}. Remove it from your cart to check out.", .0.join(", "))]
    SoldOut(Vec<String>),
    #[error("Not released yet: {}.", .0.join(", "))]
    NotReleased(Vec<String>),
    #[error("Sorry, {0} sold out while we were completing your purchase. Nothing was bought; your cart is unchanged.")]
    Failed(String),
    #[error("A checkout of this cart is already under way.")]
    UnderWay,
    #[error(
        "Your cart changed while checking out; nothing was bought. Please check it and try again."
    )]
    CartChanged,
    #[error("The store is busy or unavailable; nothing was bought. Please try again.")]
    Unavailable,
}

/// Checks out cart `cart_id`; returns the completed purchase's id.
pub async fn checkout(shop: &Shop, cart_id: &str) -> Result<String, CheckoutError> {
    let items = shop
        .drops
        .cart(cart_id)
        .map_err(|_| CheckoutError::Unavailable)?;
    if items.is_empty() {
        return Err(CheckoutError::EmptyCart);
    }
    let mut sold_out = Vec::new();
    let mut unreleased = Vec::new();
    for item_id in &items {
        match shop.drops.item(item_id) {
            Ok(Some((product, item))) => {
                if item.available == 0 {
                    sold_out.push(describe(&product, item_id));
                } else if !product.released {
                    unreleased.push(describe(&product, item_id));
                }
            }
            Ok(None) => sold_out.push(item_id.clone()),
            Err(_) => return Err(CheckoutError::Unavailable),
        }
    }
    if !sold_out.is_empty() {
        return Err(CheckoutError::SoldOut(sold_out));
    }
    if !unreleased.is_empty() {
        return Err(CheckoutError::NotReleased(unreleased));
    }
    buy(shop, cart_id, items).await
}

/// Buys `items` for cart `cart_id` as one purchase, all or nothing; on success the cart is
/// emptied. (The checks of [`checkout`] come first; a sale can still be refused here when
/// another shopper takes the last unit in between.) Whatever the outcome, nothing this purchase
/// took is still held when it returns, unless the store failed while giving it back (then
/// [`recover`] does it).
pub async fn buy(shop: &Shop, cart_id: &str, items: Vec<String>) -> Result<String, CheckoutError> {
    let purchase_id = format!("{:024x}", rand::random::<u128>() >> 32);
    purchase(
        shop,
        &purchase_id,
        PurchaseCommand::Start {
            cart_id: cart_id.to_owned(),
            items: items.clone(),
        },
    )
    .await?;
    let begun = cart(
        shop,
        cart_id,
        CartCommand::BeginCheckout {
            purchase_id: purchase_id.clone(),
            items: items.clone(),
        },
    )
    .await;
    if let Err(error) = begun {
        let refusal = match error {
            CommandError::Rejected(CartError::CheckoutUnderWay) => CheckoutError::UnderWay,
            CommandError::Rejected(CartError::Empty) => CheckoutError::EmptyCart,
            CommandError::Rejected(CartError::Changed) => CheckoutError::CartChanged,
            other => {
                tracing::warn!(error = %other, purchase_id, "checkout: could not begin");
                CheckoutError::Unavailable
            }
        };
        // Nothing was taken; the purchase only needs to say how it ended.
        let _ = purchase(
            shop,
            &purchase_id,
            PurchaseCommand::Fail {
                reason: refusal.to_string(),
            },
        )
        .await;
        return Err(refusal);
    }
    let mut held = Vec::new();
    if let Err(error) = take_all(shop, cart_id, &purchase_id, &items, &mut held).await {
        give_back_all(shop, cart_id, &purchase_id, &held, &error.to_string()).await;
        return Err(error);
    }
    // The cart is checked out: the purchase is done, even if recording it fails now (recovery
    // sees the cart's checkout completed and records it).
    if purchase(shop, &purchase_id, PurchaseCommand::Complete)
        .await
        .is_err()
    {
        tracing::warn!(
            purchase_id,
            "checkout: completed, but not yet recorded as such"
        );
    }
    Ok(purchase_id)
}

/// Sells each of `items` to the purchase (noting in `held` each unit taken), then checks the
/// cart out, waiting until this node's read models show it empty (read-your-writes).
async fn take_all(
    shop: &Shop,
    cart_id: &str,
    purchase_id: &str,
    items: &[String],
    held: &mut Vec<String>,
) -> Result<(), CheckoutError> {
    for item_id in items {
        if let Err(reason) = sell(shop, item_id, purchase_id).await {
            tracing::info!(purchase_id, item_id, %reason, "checkout: a sale was refused, giving back");
            let _ = purchase(
                shop,
                purchase_id,
                PurchaseCommand::Refused {
                    item_id: item_id.clone(),
                    reason,
                },
            )
            .await;
            let name = shop.drops.item(item_id).ok().flatten().map_or_else(
                || item_id.clone(),
                |(product, _)| describe(&product, item_id),
            );
            return Err(CheckoutError::Failed(name));
        }
        held.push(item_id.clone());
        purchase(
            shop,
            purchase_id,
            PurchaseCommand::Secured {
                item_id: item_id.clone(),
            },
        )
        .await?;
    }
    let emptied = cart(
        shop,
        cart_id,
        CartCommand::CheckOut {
            purchase_id: purchase_id.to_owned(),
        },
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, purchase_id, "checkout: could not empty the cart");
        CheckoutError::Unavailable
    })?;
    shop.progress.read_your_writes(emptied.last()).await;
    Ok(())
}

/// The failure path: gives back every unit in `held`, fails the purchase with `reason` and
/// frees the cart. Each step is tried even if one before it failed; whatever the store did not
/// take is left to [`recover`].
async fn give_back_all(
    shop: &Shop,
    cart_id: &str,
    purchase_id: &str,
    held: &[String],
    reason: &str,
) {
    let given_back = give_back(shop, purchase_id, held).await;
    let failed = purchase(
        shop,
        purchase_id,
        PurchaseCommand::Fail {
            reason: reason.to_owned(),
        },
    )
    .await;
    let freed = cart(
        shop,
        cart_id,
        CartCommand::AbandonCheckout {
            purchase_id: purchase_id.to_owned(),
        },
    )
    .await;
    if given_back.is_err() || failed.is_err() || freed.is_err() {
        tracing::warn!(
            purchase_id,
            "checkout: could not finish giving back; the recovery sweep will"
        );
    } else if let Ok(freed) = freed {
        // The shopper's next look at the cart finds it free.
        shop.progress.read_your_writes(freed.last()).await;
    }
}

async fn cart(
    shop: &Shop,
    cart_id: &str,
    command: CartCommand,
) -> Result<crate::bus::Committed<cinder_domain::drops::CartEvent>, CommandError<CartError>> {
    shop.bus
        .execute::<cinder_domain::drops::Cart>(cart_id, (cart_id.to_owned(), command))
        .await
}

/// "Hop Man 3, size 9".
pub fn describe(product: &ProductView, item_id: &str) -> String {
    match product.item(item_id) {
        Some(item) => format!("{}, size {}", product.name, item.size),
        None => product.name.clone(),
    }
}

async fn sell(shop: &Shop, item_id: &str, purchase_id: &str) -> Result<(), String> {
    let Some(product_id) = product_of(item_id) else {
        return Err("no such item".into());
    };
    let command = ProductCommand::SellItem {
        item_id: item_id.to_owned(),
        purchase_id: Some(purchase_id.to_owned()),
    };
    shop.bus
        .execute::<cinder_domain::drops::Product>(product_id, command)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            CommandError::Rejected(rejection) => rejection.to_string(),
            other => other.to_string(),
        })
}

async fn purchase(
    shop: &Shop,
    purchase_id: &str,
    command: PurchaseCommand,
) -> Result<(), CheckoutError> {
    shop.bus
        .execute::<cinder_domain::drops::Purchase>(purchase_id, (purchase_id.to_owned(), command))
        .await
        .map(|_| ())
        .map_err(|error| {
            tracing::warn!(%error, purchase_id, "checkout: could not record the purchase");
            CheckoutError::Unavailable
        })
}

/// Gives back every unit in `items` that purchase `purchase_id` took, recording each. One
/// that fails does not stop the others; the first failure is returned.
async fn give_back(shop: &Shop, purchase_id: &str, items: &[String]) -> Result<(), CheckoutError> {
    let mut outcome = Ok(());
    for item_id in items {
        let recorded = match undo(shop, purchase_id, item_id).await {
            Ok(_) => {
                purchase(
                    shop,
                    purchase_id,
                    PurchaseCommand::Compensated {
                        item_id: item_id.clone(),
                    },
                )
                .await
            }
            Err(error) => Err(error),
        };
        outcome = outcome.and(recorded);
    }
    outcome
}

/// Gives back the unit `purchase_id` took of `item_id`, if it still holds one. Returns whether
/// a unit was given back now.
async fn undo(shop: &Shop, purchase_id: &str, item_id: &str) -> Result<bool, CheckoutError> {
    let Some(product_id) = product_of(item_id) else {
        return Ok(false);
    };
    let command = ProductCommand::UndoSale {
        item_id: item_id.to_owned(),
        purchase_id: purchase_id.to_owned(),
    };
    match shop
        .bus
        .execute::<cinder_domain::drops::Product>(product_id, command)
        .await
    {
        Ok(_) => Ok(true),
        Err(CommandError::Rejected(
            ProductError::NothingToUndo | ProductError::NoSuchItem | ProductError::NotFound,
        )) => Ok(false),
        Err(error) => {
            tracing::warn!(%error, purchase_id, item_id, "checkout: could not give a unit back");
            Err(CheckoutError::Unavailable)
        }
    }
}

/// Purchases running for longer than this are taken to be abandoned by a node that died.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(10);

/// Finishes purchases that a crashed node left running: gives back every unit they took and
/// fails them. Returns how many it finished.
pub async fn recover(shop: &Shop, older_than: Duration) -> usize {
    let Ok(unfinished) = shop.drops.unfinished_purchases() else {
        return 0;
    };
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(older_than).unwrap_or_default();
    let mut finished = 0;
    for stuck in unfinished.into_iter().filter(|p| p.started_at <= cutoff) {
        match finish_abandoned(shop, &stuck).await {
            Ok(()) => finished += 1,
            Err(error) => {
                tracing::warn!(%error, purchase_id = stuck.id, "could not finish an abandoned purchase")
            }
        }
    }
    finished
}

async fn finish_abandoned(shop: &Shop, stuck: &PurchaseView) -> Result<(), CheckoutError> {
    // The cart first: once its checkout is ended here, a slow node still working on this
    // purchase can no longer check the cart out (and gives back too).
    let ended = cart(
        shop,
        &stuck.cart_id,
        CartCommand::AbandonCheckout {
            purchase_id: stuck.id.clone(),
        },
    )
    .await;
    match ended {
        Ok(_) | Err(CommandError::Rejected(CartError::NotCheckingOut)) => {}
        Err(CommandError::Rejected(CartError::AlreadyCheckedOut)) => {
            tracing::info!(
                purchase_id = stuck.id,
                "finishing an interrupted purchase: it had completed"
            );
            return purchase(shop, &stuck.id, PurchaseCommand::Complete).await;
        }
        Err(error) => {
            tracing::warn!(%error, purchase_id = stuck.id, "could not end a cart's checkout");
            return Err(CheckoutError::Unavailable);
        }
    }
    tracing::info!(
        purchase_id = stuck.id,
        "finishing an abandoned purchase: giving back what it took"
    );
    for item_id in &stuck.items {
        let given_back = undo(shop, &stuck.id, item_id).await?;
        let recorded_held = stuck.held.contains(item_id);
        if given_back && !recorded_held {
            // Sold before the crash, but not yet recorded: record both halves.
            purchase(
                shop,
                &stuck.id,
                PurchaseCommand::Secured {
                    item_id: item_id.clone(),
                },
            )
            .await?;
        }
        if given_back || recorded_held {
            purchase(
                shop,
                &stuck.id,
                PurchaseCommand::Compensated {
                    item_id: item_id.clone(),
                },
            )
            .await?;
        }
    }
    purchase(
        shop,
        &stuck.id,
        PurchaseCommand::Fail {
            reason: "interrupted: nothing was bought".into(),
        },
    )
    .await
}

/// Runs [`recover`] now and then every `every`, until the task is stopped.
pub fn spawn_recovery(shop: Shop, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let finished = recover(&shop, ABANDONED_AFTER).await;
            if finished > 0 {
                tracing::info!(finished, "abandoned purchases finished");
            }
            tokio::time::sleep(every).await;
        }
    })
}
