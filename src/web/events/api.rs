//! The log over HTTP.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cinder_domain::{Cursor, StoredEvent};
use serde::Serialize;
use utoipa::ToSchema;

use super::LoggedEvent;
use super::{is_aggregate_id, is_aggregate_type, logged_event, Viewer, HISTORY_PAGE};
use crate::web::errors::{json_error, ErrorBody};

/// A page of the log, in log order; never empty unless nothing follows `after`.
#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<LoggedEvent>,
}

/// A page of one aggregate's history, in sequence order.
#[derive(Serialize, ToSchema)]
pub struct HistoryPage {
    pub events: Vec<LoggedEvent>,
    /// The last sequence shown, to pass as `after` for the next page; `null` on the last.
    pub next: Option<i64>,
}
use crate::web::session::Session;
use crate::web::{params, AppState};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Most events one page of `/api/aggregates/...` holds.
const MAX_HISTORY_LIMIT: usize = 500;
/// Room left in `CINDER_MAX_REPLY_BYTES` for what surrounds the events (`{"events": [...]}`, `next`).
const ENVELOPE_BYTES: usize = 256;

/// `GET /api/events?after=<position>&limit=`: events after the one at `after`, in log order.
/// Pass the last position you received as `after` to continue without gaps or repeats. A page
/// is cut short (never empty) where its body would pass `CINDER_MAX_REPLY_BYTES`.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    operation_id = "events_log",
    params(
        ("after" = Option<u64>, Query, description = "A position: events after it in log order (default 0: from the start)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Events at most (default 100); fewer when the page would pass CINDER_MAX_REPLY_BYTES"),
    ),
    responses(
        (status = 200, description = "The events after `after`", body = EventsPage),
        (status = 400, description = "A bad `after` or `limit`", body = ErrorBody),
        (status = 404, description = "No event at position `after`", body = ErrorBody),
        (status = 500, description = "The log could not be read", body = ErrorBody),
        (status = 503, description = "The explorer is busy (`Retry-After: 1`), or the event store is unavailable", body = ErrorBody),
    )
)]
pub async fn events(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let after = match params::number(&query, "after", "a position") {
        Ok(after) => after.unwrap_or(0) as i64,
        Err(bad) => return bad.into_response(),
    };
    let limit = match params::limit(&query, DEFAULT_LIMIT, MAX_LIMIT) {
        Ok(limit) => limit,
        Err(bad) => return bad.into_response(),
    };
    let cursor = match resolve(&app, after).await {
        Ok(Some(cursor)) => cursor,
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "no event at that position"),
        Err(response) => return response,
    };
    let viewer = Viewer::of(&app, &session, crate::web::admin::is_admin(&headers, &app));
    match app.log.read_after(cursor, limit).await {
        Ok(events) => {
            let (shown, _) = within_budget(&app, &viewer, &events);
            Json(EventsPage { events: shown }).into_response()
        }
        Err(error) => store_error(error),
    }
}

/// `GET /api/aggregates/<type>/<id>/events?after=<sequence>&limit=`: one page of an aggregate's
/// history, in sequence order: `{"events": [...], "next": <sequence> | null}`; pass `next` as
/// `after` for the following page (`null`: this was the last).
#[utoipa::path(
    get,
    path = "/api/aggregates/{aggregate_type}/{aggregate_id}/events",
    tag = "events",
    operation_id = "events_history",
    params(
        ("aggregate_type" = String, Path, description = "An aggregate type (as `aggregate_type` in `GET /api/events`)"),
        ("aggregate_id" = String, Path, description = "An aggregate's id"),
        ("after" = Option<u64>, Query, description = "A sequence: events after it (default 0: from the first)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Events at most (default 200); fewer when the page would pass CINDER_MAX_REPLY_BYTES"),
    ),
    responses(
        (status = 200, description = "A page of the aggregate's history", body = HistoryPage),
        (status = 400, description = "A bad `after` or `limit`", body = ErrorBody),
        (status = 404, description = "No such aggregate", body = ErrorBody),
        (status = 500, description = "The log could not be read", body = ErrorBody),
        (status = 503, description = "The explorer is busy (`Retry-After: 1`), or the event store is unavailable", body = ErrorBody),
    )
)]
pub async fn aggregate_events(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !is_aggregate_type(&aggregate_type) || !is_aggregate_id(&aggregate_id) {
        return json_error(StatusCode::NOT_FOUND, "no such aggregate");
    }
    let after = match params::number(&query, "after", "a sequence") {
        Ok(after) => after.unwrap_or(0).min(i64::MAX as u64) as i64,
        Err(bad) => return bad.into_response(),
    };
    let limit = match params::limit(&query, HISTORY_PAGE, MAX_HISTORY_LIMIT) {
        Ok(limit) => limit,
        Err(bad) => return bad.into_response(),
    };
    let last = match app.log.last_sequence(&aggregate_type, &aggregate_id).await {
        Ok(Some(last)) => last,
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "no such aggregate"),
        Err(error) => return store_error(error),
    };
    let page = match app
        .log
        .stream_page(&aggregate_type, &aggregate_id, after, limit)
        .await
    {
        Ok(page) => page,
        Err(error) => return store_error(error),
    };
    let viewer = Viewer::of(&app, &session, crate::web::admin::is_admin(&headers, &app));
    let (shown, count) = within_budget(&app, &viewer, &page);
    let next = count
        .checked_sub(1)
        .map(|i| page[i].sequence)
        .filter(|shown_last| *shown_last < last);
    Json(HistoryPage {
        events: shown,
        next,
    })
    .into_response()
}

/// The events of `events`, in order, that fit in one answer (at least one): as JSON, and how
/// many they are.
fn within_budget(
    app: &AppState,
    viewer: &Viewer,
    events: &[StoredEvent],
) -> (Vec<LoggedEvent>, usize) {
    let mut shown = Vec::new();
    let mut bytes = ENVELOPE_BYTES;
    for event in events {
        let json = logged_event(app, viewer, event);
        // A comma between events.
        let size = crate::web::paging::json_size(&json) + 1;
        if !shown.is_empty() && bytes + size > app.max_reply_bytes {
            break;
        }
        bytes += size;
        shown.push(json);
    }
    let count = shown.len();
    (shown, count)
}

/// The log cursor of position `after` (0 is the start of the log).
pub async fn resolve(app: &AppState, after: i64) -> Result<Option<Cursor>, Response> {
    if after == 0 {
        return Ok(Some(Cursor::START));
    }
    app.log.cursor_at(after).await.map_err(store_error)
}

fn store_error(error: crate::store::StoreError) -> Response {
    match error {
        crate::store::StoreError::Unavailable(_) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the event store is unavailable",
        ),
        other => {
            tracing::error!(error = %other, "reading the log failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "could not read the log")
        }
    }
}
