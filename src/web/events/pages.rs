//! The explorer's pages.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use maud::html;
use serde::Deserialize;

use crate::web::errors::not_found_page;
use crate::web::layout;
use crate::web::live::page;
use crate::web::session::Session;
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Filter {
    #[serde(rename = "type")]
    aggregate_type: Option<String>,
}

/// `/events`: the live tail.
pub async fn tail(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Query(filter): Query<Filter>,
) -> Response {
    let path = match filter.aggregate_type.as_deref().filter(|t| !t.is_empty()) {
        Some(t) if t.bytes().all(|b| b.is_ascii_alphanumeric()) => format!("/events?type={t}"),
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "aggregate types are letters and digits",
            )
                .into_response()
        }
        None => "/events".to_owned(),
    };
    match super::mount(&path, &session, &app) {
        Some(view) => page(&app, &session, &path, view.as_ref()).await,
        None => not_found_page(&app, &session),
    }
}

/// `/events/<type>/<id>`: one aggregate's whole history, each event with an "as of" link.
pub async fn history(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
) -> Response {
    let events = match app.log.stream(&aggregate_type, &aggregate_id).await {
        Ok(events) if !events.is_empty() => events,
        Ok(_) => return not_found_page(&app, &session),
        Err(error) => return unavailable(error),
    };
    let rebuildable = as_of_supported(&aggregate_type);
    let body = html! {
        h1 { (aggregate_type) " " (aggregate_id) }
        p.muted { (events.len()) " events. " @if rebuildable { "Pick one to see the " (aggregate_type.to_lowercase()) " as it stood right after it." } }
        ol.history {
            @for event in &events {
                li id={ "event-" (event.position) } {
                    strong { (event.sequence) ". " (event.event_type) } " "
                    span.muted { "v" (event.event_version) ", position " (event.position) ", " (event.recorded_at.to_rfc3339()) }
                    @if rebuildable {
                        " " a.as-of href={ "/events/" (aggregate_type) "/" (aggregate_id) "/at/" (event.position) } { "as of this event" }
                    }
                    pre { code { (serde_json::to_string_pretty(&super::shown_payload(&app, event)).unwrap_or_default()) } }
                }
            }
        }
    };
    html_page(
        &app,
        &session,
        &format!("{aggregate_type} {aggregate_id}"),
        body,
    )
}

/// `/events/<type>/<id>/at/<position>`: the aggregate's view rebuilt from its events up to and
/// including the one at `position`.
pub async fn as_of(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path((aggregate_type, aggregate_id, position)): Path<(String, String, i64)>,
) -> Response {
    let events = match app.log.stream(&aggregate_type, &aggregate_id).await {
        Ok(events) => events,
        Err(error) => return unavailable(error),
    };
    let Some(chosen) = events.iter().find(|e| e.position == position) else {
        return not_found_page(&app, &session);
    };
    let upto: Vec<_> = events
        .iter()
        .filter(|e| e.sequence <= chosen.sequence)
        .cloned()
        .collect();
    let rebuilt = match aggregate_type.as_str() {
        "Room" => crate::web::chat::as_of(&aggregate_id, &upto),
        "TodoList" => crate::web::todos::as_of(&aggregate_id, &upto),
        _ => return not_found_page(&app, &session),
    };
    let view = match rebuilt {
        Ok(view) => view,
        Err(error) => return crate::web::errors::internal_page(error),
    };
    let body = html! {
        h1 { (aggregate_type) " " (aggregate_id) " as of event " (chosen.sequence) }
        p.muted {
            "Rebuilt by replaying " (upto.len()) " of " (events.len()) " events, up to position " (position)
            " (" (chosen.recorded_at.to_rfc3339()) "). "
            a href={ "/events/" (aggregate_type) "/" (aggregate_id) } { "Whole history" }
        }
        section #as-of { (view) }
    };
    html_page(
        &app,
        &session,
        &format!("{aggregate_type} {aggregate_id} as of {position}"),
        body,
    )
}

fn as_of_supported(aggregate_type: &str) -> bool {
    matches!(aggregate_type, "Room" | "TodoList")
}

fn html_page(app: &AppState, session: &Session, title: &str, body: maud::Markup) -> Response {
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Html(layout::page(title, app, session, None, body).into_string()),
    )
        .into_response()
}

fn unavailable(error: impl std::fmt::Display) -> Response {
    tracing::warn!(%error, "explorer: event store unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The event store is unavailable; try again shortly.",
    )
        .into_response()
}
