//! Who is looking at the log, and what of visitors' own aggregates they may see.
//!
//! A todo list, a cart and a purchase belong to one visitor: the log is public, so their events
//! are shown redacted (type, sequence and time, not the payload) to everyone but their owner
//! (the session whose derived id the aggregate carries, see `src/opaque.rs`) and the admin.

use cinder_domain::StoredEvent;
use serde_json::{json, Value};

use crate::web::session::Session;
use crate::web::AppState;

/// Someone reading the log: the visitor's own aggregate ids, and whether they are the admin.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The todo list and cart of the viewer's session.
    owns: Vec<String>,
    admin: bool,
}

impl Viewer {
    /// Someone unknown: sees no visitor's aggregates.
    pub fn anyone() -> Self {
        Self::default()
    }

    /// The visitor of `session`; `admin` when they also proved the admin password.
    pub fn of(session: &Session, admin: bool) -> Self {
        Self {
            owns: vec![
                crate::web::todos::list_id(session),
                crate::web::drops::cart_id(session),
            ],
            admin,
        }
    }

    /// Which of the views every viewer of its kind shares this one is: 0 for anyone (no
    /// visitor's aggregates), 1 for the admin (all of them); `None` for a visitor, who sees
    /// their own.
    pub fn shared_view(&self) -> Option<u64> {
        match (self.admin, self.owns.is_empty()) {
            (true, _) => Some(1),
            (false, true) => Some(0),
            (false, false) => None,
        }
    }

    /// Whether the viewer may see the per-visitor aggregate `id` (a list or cart id).
    fn may_see(&self, id: &str) -> bool {
        self.admin || self.owns.iter().any(|own| own == id)
    }

    /// Whether the viewer may see the events of this aggregate whole.
    pub fn may_see_aggregate(&self, app: &AppState, aggregate_type: &str, id: &str) -> bool {
        match aggregate_type {
            "TodoList" | "Cart" => self.may_see(id),
            "Purchase" => {
                self.admin
                    || app
                        .drops
                        .purchase(id)
                        .ok()
                        .flatten()
                        .is_some_and(|purchase| self.may_see(&purchase.cart_id))
            }
            _ => true,
        }
    }
}

/// What a visitor's aggregate is called in a redacted payload.
fn owned_kind(aggregate_type: &str) -> Option<&'static str> {
    match aggregate_type {
        "TodoList" => Some("a visitor's todo list"),
        "Cart" => Some("a visitor's cart"),
        "Purchase" => Some("a visitor's purchase"),
        _ => None,
    }
}

/// The payload of `event` as `viewer` may see it: whole, or (a visitor's aggregate they do not
/// own) only its event type and what it is.
pub fn visible_payload(app: &AppState, viewer: &Viewer, event: &StoredEvent) -> Value {
    let Some(kind) = owned_kind(&event.aggregate_type) else {
        return event.payload.clone();
    };
    let owner_sees = match event.aggregate_type.as_str() {
        // The first event names the cart, before the read model may know the purchase.
        "Purchase" => event
            .payload
            .pointer("/PurchaseStarted/cart_id")
            .and_then(Value::as_str)
            .map_or_else(
                || viewer.may_see_aggregate(app, "Purchase", &event.aggregate_id),
                |cart| viewer.may_see(cart),
            ),
        other => viewer.may_see_aggregate(app, other, &event.aggregate_id),
    };
    if owner_sees {
        return event.payload.clone();
    }
    json!({ event.event_type.clone(): { "redacted": format!("{kind}: only its owner sees it") } })
}
