//! The event explorer: the global log, live; each aggregate's history; "as of" views rebuilt by
//! replaying an aggregate's events up to a chosen one; the `events:all` feed and JSON API.

mod api;
mod channel;
mod pages;
mod views;

use axum::routing::get;
use axum::Router;
use cinder_read_models::StoredEvent;
use serde_json::{json, Value};

pub use channel::LogChannels;

use super::live::LiveView;
use super::session::Session;
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(pages::tail))
        .route(
            "/events/{aggregate_type}/{aggregate_id}",
            get(pages::history),
        )
        .route(
            "/events/{aggregate_type}/{aggregate_id}/at/{position}",
            get(pages::as_of),
        )
        .route("/api/events", get(api::events))
        .route(
            "/api/aggregates/{aggregate_type}/{aggregate_id}/events",
            get(api::aggregate_events),
        )
}

/// The explorer's live view at `path` (`/events`, optionally `?type=<aggregate type>`).
pub fn mount(path: &str, _session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    if base != "/events" {
        return None;
    }
    let filter = query
        .strip_prefix("type=")
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned);
    Some(Box::new(views::TailView::new(app.clone(), filter)))
}

/// An event's payload as the explorer, the API and `events:all` show it: each app may hide
/// what only some people may see (private bookmarks).
pub fn shown_payload(app: &AppState, event: &StoredEvent) -> Value {
    match event.aggregate_type.as_str() {
        "Bookmark" => super::bookmarks::public_payload(app, event),
        _ => event.payload.clone(),
    }
}

/// An event as the API and the `events:all` feed show it.
pub fn event_json(app: &AppState, event: &StoredEvent) -> Value {
    json!({
        "position": event.position,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "sequence": event.sequence,
        "event_type": event.event_type,
        "event_version": event.event_version,
        "payload": shown_payload(app, event),
        "recorded_at": event.recorded_at,
    })
}
