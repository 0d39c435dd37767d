//! Chat's JSON API.

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cinder_domain::chat::{is_valid_room_name, SendMessage};
use cinder_read_models::chat::{ChatReadModel, Message, RoomCursor, RoomSummary};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::web::context::Context;
use crate::web::errors::{command_response, json_error, ErrorBody, FieldErrors};
use crate::web::paging::{self, list_budget};
use crate::web::{params, AppState};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
const DEFAULT_ROOMS: usize = 100;

/// A page of the room directory.
#[derive(Serialize, ToSchema)]
pub struct RoomsPage {
    /// Most recently active first.
    rooms: Vec<RoomSummary>,
    /// Pass as `before` for the next page; `null` on the last.
    next_before: Option<String>,
}

/// A page of a room's messages.
#[derive(Serialize, ToSchema)]
pub struct MessagesPage {
    /// Oldest first.
    messages: Vec<Message>,
    /// The oldest id shown, to pass as `before` for older ones; `null` when there are none.
    next_before: Option<u64>,
}

/// A message sent: its id, and where its event is in the log.
#[derive(Serialize, ToSchema)]
pub struct SentMessage {
    /// The message's id in its room.
    id: Option<u64>,
    /// Its event's position in the log (`/api/events?after=` continues from it).
    position: Option<i64>,
}

/// `GET /api/chat/rooms?before=&limit=`: most recently active first, a page at a time (at most
/// `limit`, and what fits in `CINDER_MAX_REPLY_BYTES`); `next_before` continues.
#[utoipa::path(
    get,
    path = "/api/chat/rooms",
    tag = "chat",
    operation_id = "chat_rooms",
    params(
        ("before" = Option<String>, Query, pattern = r"^[0-9]{1,18}\.[a-z0-9-]{1,64}$", description = "A `next_before` of an earlier page"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Rooms at most (default 100)"),
    ),
    responses(
        (status = 200, description = "A page of rooms", body = RoomsPage),
        (status = 400, description = "A bad `before` or `limit`", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn rooms(
    State(app): State<AppState>,
    Extension(chat): Extension<ChatReadModel>,
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
        chat.rooms_after(after.as_ref()),
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
            Json(RoomsPage {
                rooms: page.items,
                next_before: next,
            })
            .into_response()
        }
        Err(error) => read_failed(error),
    }
}

/// `GET /api/chat/rooms/<room>/messages?before=&limit=`: oldest first; at most `limit`, and
/// what fits in `CINDER_MAX_REPLY_BYTES`; `next_before` continues with older ones.
#[utoipa::path(
    get,
    path = "/api/chat/rooms/{room}/messages",
    tag = "chat",
    operation_id = "chat_messages",
    params(
        ("room" = String, Path, description = "A room name: 1–64 of a-z, 0-9 and -"),
        ("before" = Option<u64>, Query, description = "Only messages older than this id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Messages at most (default 50)"),
    ),
    responses(
        (status = 200, description = "The latest messages (before `before`), oldest first", body = MessagesPage),
        (status = 400, description = "A bad `before` or `limit`", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn messages(
    State(app): State<AppState>,
    Extension(chat): Extension<ChatReadModel>,
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
    match chat.room(&room) {
        Ok(Some(_)) => {}
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "no such room"),
        Err(error) => return read_failed(error),
    }
    let page = paging::serialized(
        chat.newest_before(&room, before),
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
            Json(MessagesPage {
                messages,
                next_before: next,
            })
            .into_response()
        }
        Err(error) => read_failed(error),
    }
}

/// A message to send.
#[derive(Deserialize, ToSchema)]
pub struct NewMessage {
    /// 1–32 characters, no control characters.
    sender: String,
    /// 1–2000 characters after trimming.
    content: String,
}

/// `POST /api/chat/rooms/<room>/messages` `{sender, content}` → 201 `{id, position}`.
#[utoipa::path(
    post,
    path = "/api/chat/rooms/{room}/messages",
    tag = "chat",
    operation_id = "chat_send_message",
    params(("room" = String, Path, description = "A room name: 1–64 of a-z, 0-9 and - (a new one is created)")),
    request_body = NewMessage,
    responses(
        (status = 201, description = "Sent", body = SentMessage),
        (status = 400, description = "Not a JSON object `{sender, content}`", body = ErrorBody),
        (status = 404, description = "Not a room name", body = ErrorBody),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 422, description = "A rule broken (length, control characters, rate, duplicate)", body = FieldErrors),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
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
    let message = SendMessage {
        room,
        sender: body.sender,
        content: body.content,
    };
    match super::context::send_message(&Context::new(&app), message).await {
        Ok(sent) => (
            StatusCode::CREATED,
            Json(SentMessage {
                id: sent.id,
                position: sent.position,
            }),
        )
            .into_response(),
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
