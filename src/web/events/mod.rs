//! The event explorer: the global log, live; each aggregate's history, a page at a time; "as
//! of" views rebuilt by replaying an aggregate's events up to a chosen one; the `events:all`
//! feed and JSON API.
//!
//! Histories grow without bound (a busy room has tens of thousands of events), so nothing here
//! reads or answers a whole one: histories are paged, "as of" folds its events a page at a
//! time into a throwaway read model and shows a bounded part of it, every answer stays within
//! `CINDER_MAX_REPLY_BYTES` (pages within [`list_budget`]), and the heavy endpoints run a few
//! at a time ([`heavy`]).

mod api;
mod channel;
mod heavy;
mod pages;
mod viewer;
mod views;

use std::sync::Arc;

use axum::routing::get;
use cinder_read_models::{Projection, ProjectionError, StoredEvent};
use maud::Markup;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use channel::LogChannels;
pub use viewer::{redacted, Viewer};

use super::app::{App, Nav, Registration};
use super::live::LiveView;
#[cfg(doc)]
use super::paging::list_budget;
use super::session::Session;
use super::socket::ChannelFactory;
use super::AppState;

/// Events of one aggregate a history page or API page holds at most.
pub const HISTORY_PAGE: usize = 200;

/// The explorer, registered as apps are: it has pages, a topic and a nav entry, and no
/// aggregates or projections of its own (it reads the log, and asks the other apps what of it
/// is private and how to rebuild their aggregates "as of" an event).
pub static APP: Registration = Registration {
    name: "events",
    projections: &[],
    aggregates: |_| {},
    open: |_| Ok(Arc::new(Explorer)),
};

/// The event explorer on a node.
pub struct Explorer;

impl App for Explorer {
    fn nav(&self) -> Option<Nav> {
        Some(Nav {
            href: "/events",
            label: "Events",
            blurb: "The log behind it all",
        })
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        Vec::new()
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        let heavy = heavy::HeavyReads::new(heavy::HEAVY_READS, heavy::HEAVY_WAITING);
        let limited = OpenApiRouter::new()
            .route(
                "/events/{aggregate_type}/{aggregate_id}",
                get(pages::history),
            )
            .route(
                "/events/{aggregate_type}/{aggregate_id}/at/{position}",
                get(pages::as_of),
            )
            .routes(routes!(api::events))
            .routes(routes!(api::aggregate_events))
            .route_layer(axum::middleware::from_fn_with_state(heavy, heavy::limit));
        crate::web::openapi::tagged("events", "The event log and aggregate histories")
            .route("/events", get(pages::tail))
            .merge(limited)
    }

    fn channels(&self) -> Vec<Arc<dyn ChannelFactory>> {
        vec![Arc::new(LogChannels)]
    }

    /// The explorer's live view at `path` (`/events`, optionally `?type=<aggregate type>`, or
    /// an aggregate's page at its latest events).
    fn mount(&self, path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
        if path.starts_with("/events/") {
            return views::AggregateView::mount(app, Viewer::of(app, session, false), path)
                .map(|view| Box::new(view) as _);
        }
        let (base, query) = path.split_once('?').unwrap_or((path, ""));
        if base != "/events" {
            return None;
        }
        let filter = query
            .strip_prefix("type=")
            .filter(|t| is_aggregate_type(t))
            .map(str::to_owned);
        Some(Box::new(views::TailView::new(
            app.clone(),
            Viewer::of(app, session, false),
            filter,
        )))
    }
}

/// Whether `name` could be an aggregate type: 1–64 ASCII letters and digits.
pub fn is_aggregate_type(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `id` could be an aggregate id: 1–256 bytes with no control character (which no id
/// of ours has, and which Postgres would refuse to compare).
pub fn is_aggregate_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control)
}

/// An event's payload as `viewer` may see it: each app may hide what only some people may see
/// (private bookmarks; visitors' todo lists, carts and purchases; who voted for what).
pub fn shown_payload(app: &AppState, viewer: &Viewer, event: &StoredEvent) -> Value {
    app.apps
        .iter()
        .find_map(|each| each.redact(event, viewer))
        .unwrap_or_else(|| event.payload.clone())
}

/// When an event was recorded, for people: the date and time to the second (the exact instant
/// in `datetime`).
pub fn recorded_at(event: &StoredEvent) -> Markup {
    super::local_time::time(&event.recorded_at, super::local_time::Shown::Second)
}

/// An event of the log as the API and the `events:all` feed show it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LoggedEvent {
    /// Its place in the log (pass the last one you got as `after` to continue).
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// Its number in its aggregate's history, from 1.
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The event's data; another visitor's private data is shown as
    /// `{"<EventType>": {"redacted": "..."}}`.
    #[schema(value_type = Object)]
    pub payload: Value,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// `event` as `viewer` may see it.
pub fn logged_event(app: &AppState, viewer: &Viewer, event: &StoredEvent) -> LoggedEvent {
    LoggedEvent {
        position: event.position,
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
        event_type: event.event_type.clone(),
        event_version: event.event_version.clone(),
        payload: shown_payload(app, viewer, event),
        recorded_at: event.recorded_at,
    }
}

/// [`logged_event`] as JSON.
pub fn event_json(app: &AppState, viewer: &Viewer, event: &StoredEvent) -> Value {
    serde_json::to_value(logged_event(app, viewer, event)).unwrap_or_else(|_| json!({}))
}

/// An aggregate's view rebuilt on the side for "as of": fed its events a page at a time, in
/// order, then rendered within a byte budget. Each app that supports "as of" makes one over a
/// throwaway read model of its own.
pub trait AsOf: Send + Sync {
    /// Folds the next events of the aggregate, in sequence order.
    fn fold(&self, events: &[StoredEvent]) -> Result<(), ProjectionError>;

    /// The view as it stands, in at most about `budget` bytes of markup: a long one shows its
    /// latest part and says so.
    fn render(&self, budget: usize) -> Result<Markup, ProjectionError>;
}

/// How an app makes a new, empty [`AsOf`] view of one of its aggregates (given its id).
pub type NewAsOf = fn(&str) -> Result<Box<dyn AsOf>, ProjectionError>;

/// How aggregates of this type are rebuilt "as of" an event, if an app has such a view.
fn as_of_maker(app: &AppState, aggregate_type: &str) -> Option<NewAsOf> {
    app.apps.iter().find_map(|each| each.as_of(aggregate_type))
}

/// Whether aggregates of this type can be seen "as of" an event.
fn supports_as_of(app: &AppState, aggregate_type: &str) -> bool {
    as_of_maker(app, aggregate_type).is_some()
}

/// An empty "as of" view of one aggregate, if its type has one.
fn as_of_view(
    app: &AppState,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Option<Result<Box<dyn AsOf>, ProjectionError>> {
    as_of_maker(app, aggregate_type).map(|new| new(aggregate_id))
}

/// A sled database for a throwaway read model: deleted when dropped, with a small cache so
/// that a few rebuilds at once stay small in memory.
pub fn scratch_db() -> Result<sled::Db, ProjectionError> {
    Ok(sled::Config::new()
        .temporary(true)
        .cache_capacity(4 << 20)
        .open()?)
}
