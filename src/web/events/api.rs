//! The log over HTTP.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cinder_read_models::Cursor;
use serde_json::json;

use super::event_json;
use crate::web::errors::json_error;
use crate::web::{params, AppState};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// `GET /api/events?after=<position>&limit=`: events after the one at `after`, in log order.
/// Pass the last position you received as `after` to continue without gaps or repeats.
pub async fn events(
    State(app): State<AppState>,
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
    match app.log.read_after(cursor, limit).await {
        Ok(events) => Json(
            json!({ "events": events.iter().map(|e| event_json(&app, e)).collect::<Vec<_>>() }),
        )
        .into_response(),
        Err(error) => store_error(error),
    }
}

/// `GET /api/aggregates/<type>/<id>/events`: one aggregate's history, in sequence order.
pub async fn aggregate_events(
    State(app): State<AppState>,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
) -> Response {
    match app.log.stream(&aggregate_type, &aggregate_id).await {
        Ok(events) if events.is_empty() => json_error(StatusCode::NOT_FOUND, "no such aggregate"),
        Ok(events) => Json(
            json!({ "events": events.iter().map(|e| event_json(&app, e)).collect::<Vec<_>>() }),
        )
        .into_response(),
        Err(error) => store_error(error),
    }
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
