//! Who is looking at the log, and what of it they may see.
//!
//! The log is public, but some aggregates belong to one visitor (a todo list, a cart, a
//! purchase, a vote): their events are shown redacted (type, sequence and time, not the
//! payload) to everyone but their owner (the session whose derived ids the apps list, see
//! [`crate::web::App::owned_by`] and `src/opaque.rs`) and the admin. Which events those are is
//! each app's to say ([`crate::web::App::redact`], [`crate::web::App::may_see`]).

use cinder_domain::StoredEvent;
use serde_json::{json, Value};

use crate::web::session::Session;
use crate::web::AppState;

/// Someone reading the log: the ids of the visitor's own aggregates, and whether they are the
/// admin.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// What the apps say the viewer's session owns (their todo list, their cart, …).
    owns: Vec<String>,
    admin: bool,
}

impl Viewer {
    /// Someone unknown: sees no visitor's aggregates.
    pub fn anyone() -> Self {
        Self::default()
    }

    /// The visitor of `session`; `admin` when they also proved the admin password.
    pub fn of(app: &AppState, session: &Session, admin: bool) -> Self {
        Self {
            owns: app
                .apps
                .iter()
                .flat_map(|each| each.owned_by(session))
                .collect(),
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

    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// Whether the viewer may see what belongs to `owner` (an id an app's `owned_by` gives):
    /// theirs, or they are the admin.
    pub fn may_see(&self, owner: &str) -> bool {
        self.admin || self.owns.iter().any(|own| own == owner)
    }

    /// Whether the viewer may see the events of this aggregate whole: every app agrees.
    pub fn may_see_aggregate(&self, app: &AppState, aggregate_type: &str, id: &str) -> bool {
        app.apps
            .iter()
            .all(|each| each.may_see(aggregate_type, id, self))
    }
}

/// `event`'s payload as shown to someone who may not see it: its event type and what it is
/// (`what`, as "a visitor's cart"), nothing else.
pub fn redacted(event: &StoredEvent, what: &str) -> Value {
    json!({ event.event_type.clone(): { "redacted": format!("{what}: only its owner sees it") } })
}
