//! The [`Cart`] aggregate (id = the shopper's session, so every tab shares it): up to
//! [`MAX_CART_ITEMS`] distinct items, and at most one checkout under way at a time, during
//! which the cart does not change.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::is_valid_item_id;
use crate::Rejection;

/// Most items one cart holds.
pub const MAX_CART_ITEMS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartCommand {
    AddItem {
        item_id: String,
    },
    RemoveItem {
        item_id: String,
    },
    /// Purchase `purchase_id` starts buying `items`, which must be what the cart holds:
    /// refused while another checkout of this cart is under way. Until it ends, the cart does
    /// not change.
    BeginCheckout {
        purchase_id: String,
        items: Vec<String>,
    },
    /// The purchase of everything in the cart completed: empty it.
    CheckOut {
        purchase_id: String,
    },
    /// Purchase `purchase_id` ended without buying anything: the cart is as it was, free for
    /// another checkout.
    AbandonCheckout {
        purchase_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartEvent {
    ItemAdded {
        cart_id: String,
        item_id: String,
    },
    ItemRemoved {
        cart_id: String,
        item_id: String,
    },
    CheckedOut {
        cart_id: String,
        purchase_id: String,
        items: Vec<String>,
    },
    CheckoutBegun {
        cart_id: String,
        purchase_id: String,
    },
    CheckoutAbandoned {
        cart_id: String,
        purchase_id: String,
    },
}

impl DomainEvent for CartEvent {
    fn event_type(&self) -> String {
        match self {
            CartEvent::ItemAdded { .. } => "ItemAdded",
            CartEvent::ItemRemoved { .. } => "ItemRemoved",
            CartEvent::CheckedOut { .. } => "CheckedOut",
            CartEvent::CheckoutBegun { .. } => "CheckoutBegun",
            CartEvent::CheckoutAbandoned { .. } => "CheckoutAbandoned",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("that size is already in your cart")]
    Duplicate,
    #[error("your cart holds at most 10 items")]
    Full,
    #[error("that item is not in your cart")]
    NotInCart,
    #[error("your cart is empty")]
    Empty,
    #[error("no such item")]
    NoSuchItem,
    #[error("a checkout of this cart is already under way")]
    CheckoutUnderWay,
    #[error("that checkout is not under way for this cart")]
    NotCheckingOut,
    #[error("that checkout already completed")]
    AlreadyCheckedOut,
    #[error("your cart changed; check it and try again")]
    Changed,
}

impl Rejection for CartError {
    fn field(&self) -> &'static str {
        match self {
            CartError::Empty
            | CartError::CheckoutUnderWay
            | CartError::NotCheckingOut
            | CartError::AlreadyCheckedOut
            | CartError::Changed => "cart",
            _ => "item_id",
        }
    }
}

/// A shopper's cart. Its id is the shopper's session, so every tab shares it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    id: String,
    items: Vec<String>,
    /// The purchase whose checkout is under way, if one is.
    checkout: Option<String>,
    /// The purchase of the last checkout that completed.
    checked_out: Option<String>,
}

/// What the cart's rules need from outside: the cart's own id (its aggregate id).
#[derive(Debug, Clone, Default)]
pub struct CartServices;

impl Aggregate for Cart {
    const TYPE: &'static str = "Cart";
    type Command = (String, CartCommand);
    type Event = CartEvent;
    type Error = CartError;
    type Services = CartServices;

    async fn handle(
        &mut self,
        (cart_id, command): Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let under_way = |purchase_id: &str| {
            if self.checkout.as_deref() == Some(purchase_id) {
                Ok(())
            } else if self.checked_out.as_deref() == Some(purchase_id) {
                Err(CartError::AlreadyCheckedOut)
            } else {
                Err(CartError::NotCheckingOut)
            }
        };
        let event = match command {
            CartCommand::AddItem { .. } | CartCommand::RemoveItem { .. }
                if self.checkout.is_some() =>
            {
                return Err(CartError::CheckoutUnderWay)
            }
            CartCommand::AddItem { item_id } => {
                if !is_valid_item_id(&item_id) {
                    return Err(CartError::NoSuchItem);
                }
                if self.items.contains(&item_id) {
                    return Err(CartError::Duplicate);
                }
                if self.items.len() >= MAX_CART_ITEMS {
                    return Err(CartError::Full);
                }
                CartEvent::ItemAdded { cart_id, item_id }
            }
            CartCommand::RemoveItem { item_id } => {
                if !self.items.contains(&item_id) {
                    return Err(CartError::NotInCart);
                }
                CartEvent::ItemRemoved { cart_id, item_id }
            }
            CartCommand::BeginCheckout { purchase_id, items } => {
                if self.checkout.is_some() {
                    return Err(CartError::CheckoutUnderWay);
                }
                if self.items.is_empty() {
                    return Err(CartError::Empty);
                }
                let mut ours = self.items.clone();
                let mut theirs = items;
                ours.sort();
                theirs.sort();
                if ours != theirs {
                    return Err(CartError::Changed);
                }
                CartEvent::CheckoutBegun {
                    cart_id,
                    purchase_id,
                }
            }
            CartCommand::CheckOut { purchase_id } => {
                under_way(&purchase_id)?;
                CartEvent::CheckedOut {
                    cart_id,
                    purchase_id,
                    items: self.items.clone(),
                }
            }
            CartCommand::AbandonCheckout { purchase_id } => {
                under_way(&purchase_id)?;
                CartEvent::CheckoutAbandoned {
                    cart_id,
                    purchase_id,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            CartEvent::ItemAdded { cart_id, item_id } => {
                self.id = cart_id;
                self.items.push(item_id);
            }
            CartEvent::ItemRemoved { item_id, .. } => self.items.retain(|i| *i != item_id),
            CartEvent::CheckedOut { purchase_id, .. } => {
                self.items.clear();
                self.checkout = None;
                self.checked_out = Some(purchase_id);
            }
            CartEvent::CheckoutBegun { purchase_id, .. } => self.checkout = Some(purchase_id),
            CartEvent::CheckoutAbandoned { .. } => self.checkout = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drops::{all_sizes, item_id};
    use cqrs_es::test::TestFramework;

    fn cart() -> TestFramework<Cart> {
        TestFramework::<Cart>::with(CartServices)
    }

    fn added(item: &str) -> CartEvent {
        CartEvent::ItemAdded {
            cart_id: "c".into(),
            item_id: item.into(),
        }
    }

    #[test]
    fn a_cart_holds_up_to_10_distinct_items() {
        let add = |item: &str| {
            (
                "c".to_owned(),
                CartCommand::AddItem {
                    item_id: item.into(),
                },
            )
        };
        cart()
            .given_no_previous_events()
            .when(add("P-6"))
            .then_expect_events(vec![added("P-6")]);
        cart()
            .given(vec![added("P-6")])
            .when(add("P-6"))
            .then_expect_error(CartError::Duplicate);
        let ten: Vec<_> = all_sizes()
            .iter()
            .take(10)
            .map(|s| added(&item_id("P", s)))
            .collect();
        cart()
            .given(ten.clone())
            .when(add("P-11.5"))
            .then_expect_error(CartError::Full);
        cart()
            .given_no_previous_events()
            .when(add("nodash"))
            .then_expect_error(CartError::NoSuchItem);
        let remove = |item: &str| {
            (
                "c".to_owned(),
                CartCommand::RemoveItem {
                    item_id: item.into(),
                },
            )
        };
        cart()
            .given(vec![added("P-6")])
            .when(remove("P-6"))
            .then_expect_events(vec![CartEvent::ItemRemoved {
                cart_id: "c".into(),
                item_id: "P-6".into(),
            }]);
        cart()
            .given_no_previous_events()
            .when(remove("P-6"))
            .then_expect_error(CartError::NotInCart);
    }

    #[test]
    fn a_cart_has_one_checkout_at_a_time_and_does_not_change_during_it() {
        let command = |command: CartCommand| ("c".to_owned(), command);
        let begin = |p: &str| {
            command(CartCommand::BeginCheckout {
                purchase_id: p.into(),
                items: vec!["P-6".into()],
            })
        };
        let begun = |p: &str| CartEvent::CheckoutBegun {
            cart_id: "c".into(),
            purchase_id: p.into(),
        };
        cart()
            .given_no_previous_events()
            .when(begin("p"))
            .then_expect_error(CartError::Empty);
        cart()
            .given(vec![added("P-6")])
            .when(begin("p"))
            .then_expect_events(vec![begun("p")]);
        cart()
            .given(vec![added("P-6"), added("P-7")])
            .when(begin("p"))
            .then_expect_error(CartError::Changed);
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(begin("q"))
            .then_expect_error(CartError::CheckoutUnderWay);
        for change in [
            CartCommand::AddItem {
                item_id: "P-7".into(),
            },
            CartCommand::RemoveItem {
                item_id: "P-6".into(),
            },
        ] {
            cart()
                .given(vec![added("P-6"), begun("p")])
                .when(command(change))
                .then_expect_error(CartError::CheckoutUnderWay);
        }
        let check_out = |p: &str| {
            command(CartCommand::CheckOut {
                purchase_id: p.into(),
            })
        };
        cart()
            .given(vec![added("P-6")])
            .when(check_out("p"))
            .then_expect_error(CartError::NotCheckingOut);
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(check_out("q"))
            .then_expect_error(CartError::NotCheckingOut);
        let checked_out = CartEvent::CheckedOut {
            cart_id: "c".into(),
            purchase_id: "p".into(),
            items: vec!["P-6".into()],
        };
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(check_out("p"))
            .then_expect_events(vec![checked_out.clone()]);
        // Once completed, a checkout cannot be abandoned (recovery learns it completed).
        cart()
            .given(vec![added("P-6"), begun("p"), checked_out])
            .when(command(CartCommand::AbandonCheckout {
                purchase_id: "p".into(),
            }))
            .then_expect_error(CartError::AlreadyCheckedOut);
        let abandon = |p: &str| {
            command(CartCommand::AbandonCheckout {
                purchase_id: p.into(),
            })
        };
        let abandoned = CartEvent::CheckoutAbandoned {
            cart_id: "c".into(),
            purchase_id: "p".into(),
        };
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(abandon("q"))
            .then_expect_error(CartError::NotCheckingOut);
        cart()
            .given(vec![added("P-6"), begun("p")])
            .when(abandon("p"))
            .then_expect_events(vec![abandoned.clone()]);
        // Abandoned: the cart is free again, for changes and for the next checkout.
        cart()
            .given(vec![added("P-6"), begun("p"), abandoned.clone()])
            .when(begin("q"))
            .then_expect_events(vec![begun("q")]);
        cart()
            .given(vec![added("P-6"), begun("p"), abandoned])
            .when(command(CartCommand::RemoveItem {
                item_id: "P-6".into(),
            }))
            .then_expect_events(vec![CartEvent::ItemRemoved {
                cart_id: "c".into(),
                item_id: "P-6".into(),
            }]);
    }
}
