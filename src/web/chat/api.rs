//! Chat's JSON API.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cinder_domain::chat::{is_valid_room_name, RoomCommand, SendMessage};
use cinder_read_models::chat::RoomCursor;
use serde::Deserialize;
use serde_json::json;

use crate::web::errors::{command_response, json_error};
use crate::web::paging::{self, list_budget};
use crate::web::{params, AppState};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
const DEFAULT_ROOMS: usize = 100;

/// `GET /api/chat/rooms?before=&limit=`: most recently active first, a page at a time (at most
/// `limit`, and what fits in `CINDER_MAX_REPLY_BYTES`); `next_before` continues.
pub async fn rooms(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let limit = match params::limit(&query, DEFAULT_ROOMS, MAX_LIMIT) {
        Ok(limit) => limit,
        Err(bad) => return bad.into_response(),
    };
    let after = match query.get("before").map(|b| RoomCursor::parse(b)) {
        None => None,
        Some(Some(cursor)) => Some(cursor),
        Some(None) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "before must be a next_before of an earlier page",
            )
        }
    };
    let page = paging::serialized(
        app.chat.rooms_after(after.as_ref()),
        limit,
        list_budget(&app),
    );
    match page {
        Ok(page) => {
            let next = page
                .more
                .then(|| {
                    page.items
                        .last()
                        .map(|room| RoomCursor::of(room).to_string())
                })
                .flatten();
            Json(json!({ "rooms": page.items, "next_before": next })).into_response()
        }
        Err(error) => read_failed(error),
    }
}

/// `GET /api/chat/rooms/<room>/messages?before=&limit=`: oldest first; at most `limit`, and
/// what fits in `CINDER_MAX_REPLY_BYTES`; `next_before` continues with older ones.
pub async fn messages(
    State(app): State<AppState>,
    Path(room): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !is_valid_room_name(&room) {
        return json_error(StatusCode::NOT_FOUND, "no such room");
    }
    let before = match params::number(&query, "before", "a message id") {
        Ok(before) => before,
        Err(bad) => return bad.into_response(),
    };
    let limit = match params::limit(&query, DEFAULT_LIMIT, MAX_LIMIT) {
        Ok(limit) => limit,
        Err(bad) => return bad.into_response(),
    };
    match app.chat.room(&room) {
        Ok(Some(_)) => {}
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "no such room"),
        Err(error) => return read_failed(error),
    }
    let page = paging::serialized(
        app.chat.newest_before(&room, before),
        limit,
        list_budget(&app),
    );
    match page {
        Ok(page) => {
            let next = page
                .more
                .then(|| page.items.last().map(|message| message.id))
                .flatten();
            let mut messages = page.items;
            messages.reverse();
            Json(json!({ "messages": messages, "next_before": next })).into_response()
        }
        Err(error) => read_failed(error),
    }
}

#[derive(Deserialize)]
pub struct NewMessage {
    sender: String,
    content: String,
}

/// `POST /api/chat/rooms/<room>/messages` `{sender, content}` → 201 `{id, position}`.
pub async fn send_message(
    State(app): State<AppState>,
    Path(room): Path<String>,
    body: Result<Json<NewMessage>, JsonRejection>,
) -> Response {
    if !is_valid_room_name(&room) {
        return json_error(
            StatusCode::NOT_FOUND,
            "no such room: room names are 1–64 characters of a-z, 0-9 and -",
        );
    }
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "expected a JSON object {{\"sender\", \"content\"}}: {}",
                    rejection.body_text()
                ),
            )
        }
    };
    let command = RoomCommand::SendMessage(SendMessage {
        room: room.clone(),
        sender: body.sender,
        content: body.content,
    });
    match app.bus.rooms.execute(&room, command).await {
        Ok(committed) => {
            if let Some(cursor) = committed.last() {
                app.progress.wait_for(cursor, Duration::from_secs(5)).await;
            }
            let id = super::message_id(&committed.events);
            (
                StatusCode::CREATED,
                Json(json!({ "id": id, "position": committed.position() })),
            )
                .into_response()
        }
        Err(error) => command_response(error),
    }
}

fn read_failed(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "read model query failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "could not read the read model",
    )
}
