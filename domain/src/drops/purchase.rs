//! The [`Purchase`] aggregate (id = a new id per checkout): the checkout process manager's
//! own record of which items it secured, which it gave back and how it ended. From it a
//! restarted node knows what to compensate.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::DropsServices;
use crate::Rejection;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PurchaseCommand {
    Start {
        cart_id: String,
        items: Vec<String>,
    },
    /// The product sold one unit of `item_id` to this purchase.
    Secured {
        item_id: String,
    },
    /// `item_id` could not be sold; the purchase will not complete.
    Refused {
        item_id: String,
        reason: String,
    },
    /// A unit this purchase took was given back.
    Compensated {
        item_id: String,
    },
    Complete,
    Fail {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PurchaseEvent {
    PurchaseStarted {
        purchase_id: String,
        cart_id: String,
        items: Vec<String>,
        started_at: DateTime<Utc>,
    },
    ItemSecured {
        purchase_id: String,
        item_id: String,
    },
    ItemRefused {
        purchase_id: String,
        item_id: String,
        reason: String,
    },
    SaleCompensated {
        purchase_id: String,
        item_id: String,
    },
    PurchaseCompleted {
        purchase_id: String,
    },
    PurchaseFailed {
        purchase_id: String,
        reason: String,
    },
}

impl DomainEvent for PurchaseEvent {
    fn event_type(&self) -> String {
        match self {
            PurchaseEvent::PurchaseStarted { .. } => "PurchaseStarted",
            PurchaseEvent::ItemSecured { .. } => "ItemSecured",
            PurchaseEvent::ItemRefused { .. } => "ItemRefused",
            PurchaseEvent::SaleCompensated { .. } => "SaleCompensated",
            PurchaseEvent::PurchaseCompleted { .. } => "PurchaseCompleted",
            PurchaseEvent::PurchaseFailed { .. } => "PurchaseFailed",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseError {
    #[error("this purchase already started")]
    AlreadyStarted,
    #[error("no such purchase")]
    NotStarted,
    #[error("this purchase already ended")]
    Ended,
    #[error("a purchase needs at least one item")]
    NoItems,
    #[error("that item is not part of this purchase")]
    NotPart,
    #[error("items are still held; give them back first")]
    StillHeld,
    #[error("not every item is secured yet")]
    Incomplete,
}

impl Rejection for PurchaseError {
    fn field(&self) -> &'static str {
        "purchase"
    }
}

/// Where a purchase stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurchaseStatus {
    #[default]
    New,
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub id: String,
    pub cart_id: String,
    pub status: PurchaseStatus,
    pub items: Vec<String>,
    /// Items sold to this purchase and not given back.
    pub held: Vec<String>,
    pub refused: bool,
}

impl Aggregate for Purchase {
    const TYPE: &'static str = "Purchase";
    type Command = (String, PurchaseCommand);
    type Event = PurchaseEvent;
    type Error = PurchaseError;
    type Services = DropsServices;

    async fn handle(
        &mut self,
        (purchase_id, command): Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use PurchaseStatus::*;
        let running = match self.status {
            New if !matches!(command, PurchaseCommand::Start { .. }) => {
                Err(PurchaseError::NotStarted)
            }
            Completed | Failed => Err(PurchaseError::Ended),
            _ => Ok(()),
        };
        running?;
        let event = match command {
            PurchaseCommand::Start { cart_id, items } => {
                if self.status != New {
                    return Err(PurchaseError::AlreadyStarted);
                }
                if items.is_empty() {
                    return Err(PurchaseError::NoItems);
                }
                PurchaseEvent::PurchaseStarted {
                    purchase_id,
                    cart_id,
                    items,
                    started_at: services.clock.now(),
                }
            }
            PurchaseCommand::Secured { item_id } => {
                if !self.items.contains(&item_id) {
                    return Err(PurchaseError::NotPart);
                }
                PurchaseEvent::ItemSecured {
                    purchase_id,
                    item_id,
                }
            }
            PurchaseCommand::Refused { item_id, reason } => {
                if !self.items.contains(&item_id) {
                    return Err(PurchaseError::NotPart);
                }
                PurchaseEvent::ItemRefused {
                    purchase_id,
                    item_id,
                    reason,
                }
            }
            PurchaseCommand::Compensated { item_id } => {
                if !self.held.contains(&item_id) {
                    return Err(PurchaseError::NotPart);
                }
                PurchaseEvent::SaleCompensated {
                    purchase_id,
                    item_id,
                }
            }
            PurchaseCommand::Complete => {
                if self.refused || self.held.len() != self.items.len() {
                    return Err(PurchaseError::Incomplete);
                }
                PurchaseEvent::PurchaseCompleted { purchase_id }
            }
            PurchaseCommand::Fail { reason } => {
                if !self.held.is_empty() {
                    return Err(PurchaseError::StillHeld);
                }
                PurchaseEvent::PurchaseFailed {
                    purchase_id,
                    reason,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            PurchaseEvent::PurchaseStarted {
                purchase_id,
                cart_id,
                items,
                ..
            } => {
                self.id = purchase_id;
                self.cart_id = cart_id;
                self.items = items;
                self.status = PurchaseStatus::Running;
            }
            PurchaseEvent::ItemSecured { item_id, .. } => self.held.push(item_id),
            PurchaseEvent::ItemRefused { .. } => self.refused = true,
            PurchaseEvent::SaleCompensated { item_id, .. } => self.held.retain(|i| *i != item_id),
            PurchaseEvent::PurchaseCompleted { .. } => self.status = PurchaseStatus::Completed,
            PurchaseEvent::PurchaseFailed { .. } => self.status = PurchaseStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drops::test_support::{now, services};
    use cqrs_es::test::TestFramework;

    #[test]
    fn a_purchase_completes_only_with_everything_held_and_fails_only_with_nothing_held() {
        let p = |command| ("p".to_owned(), command);
        let started = PurchaseEvent::PurchaseStarted {
            purchase_id: "p".into(),
            cart_id: "c".into(),
            items: vec!["A-6".into(), "B-7".into()],
            started_at: now(),
        };
        let secured = |item: &str| PurchaseEvent::ItemSecured {
            purchase_id: "p".into(),
            item_id: item.into(),
        };
        let purchase = || TestFramework::<Purchase>::with(services());
        purchase()
            .given(vec![started.clone(), secured("A-6")])
            .when(p(PurchaseCommand::Complete))
            .then_expect_error(PurchaseError::Incomplete);
        purchase()
            .given(vec![started.clone(), secured("A-6"), secured("B-7")])
            .when(p(PurchaseCommand::Complete))
            .then_expect_events(vec![PurchaseEvent::PurchaseCompleted {
                purchase_id: "p".into(),
            }]);
        purchase()
            .given(vec![started.clone(), secured("A-6")])
            .when(p(PurchaseCommand::Fail { reason: "x".into() }))
            .then_expect_error(PurchaseError::StillHeld);
        purchase()
            .given(vec![
                started.clone(),
                secured("A-6"),
                PurchaseEvent::SaleCompensated {
                    purchase_id: "p".into(),
                    item_id: "A-6".into(),
                },
            ])
            .when(p(PurchaseCommand::Fail {
                reason: "sold out".into(),
            }))
            .then_expect_events(vec![PurchaseEvent::PurchaseFailed {
                purchase_id: "p".into(),
                reason: "sold out".into(),
            }]);
        purchase()
            .given(vec![
                started.clone(),
                PurchaseEvent::PurchaseCompleted {
                    purchase_id: "p".into(),
                },
            ])
            .when(p(PurchaseCommand::Secured {
                item_id: "A-6".into(),
            }))
            .then_expect_error(PurchaseError::Ended);
        purchase()
            .given_no_previous_events()
            .when(p(PurchaseCommand::Start {
                cart_id: "c".into(),
                items: vec![],
            }))
            .then_expect_error(PurchaseError::NoItems);
    }
}
