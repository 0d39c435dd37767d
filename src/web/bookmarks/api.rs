//! Bookmarks' JSON API.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cinder_domain::bookmarks::{
    AddBookmark, BookmarkCommand, BookmarkError, CommentOnBookmark, TagsInput,
};
use serde_json::{json, Value};

use super::{is_id, is_tag};
use crate::bus::CommandError;
use crate::web::errors::{command_response, json_error};
use crate::web::paging::{self, list_budget};
use crate::web::session::Session;
use crate::web::{params, AppState};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// `POST /api/bookmarks` `{"bookmark": {title, url, description, public, tags}}`.
pub async fn create(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Response {
    let params = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|body| body.get("bookmark").filter(|b| b.is_object()).cloned());
    let Some(params) = params else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "Invalid parameters. Expected 'bookmark' object in request body",
        );
    };
    let mut wrong_types = serde_json::Map::new();
    let text = |name: &str, wrong: &mut serde_json::Map<String, Value>| match params.get(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            wrong.insert(name.to_owned(), json!(["must be a string"]));
            String::new()
        }
    };
    let title = text("title", &mut wrong_types);
    let url = text("url", &mut wrong_types);
    let description = text("description", &mut wrong_types);
    let public = match params.get("public") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            wrong_types.insert("public".into(), json!(["must be true or false"]));
            None
        }
    };
    let tags = match params.get("tags") {
        None | Some(Value::Null) => TagsInput::default(),
        Some(tags) => serde_json::from_value(tags.clone()).unwrap_or_else(|_| {
            wrong_types.insert(
                "tags".into(),
                json!(["must be a list of strings or a comma-separated string"]),
            );
            TagsInput::default()
        }),
    };
    if !wrong_types.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "errors": wrong_types })),
        )
            .into_response();
    }
    let id = crate::simulators::bookmarks::new_id(&mut rand::rng());
    let command = BookmarkCommand::AddBookmark(AddBookmark {
        id: id.clone(),
        owner: session.id.clone(),
        title,
        url,
        description,
        public,
        tags,
    });
    match app.bus.bookmarks.execute(&id, command).await {
        Ok(committed) => {
            if let Some(cursor) = committed.last() {
                app.progress.wait_for(cursor, Duration::from_secs(5)).await;
            }
            match app.bookmarks.get(&id) {
                Ok(Some(bookmark)) => (
                    StatusCode::CREATED,
                    Json(json!({"bookmark": {
                        "data": bookmark.public_json(),
                        "message": "Bookmark created successfully",
                    }})),
                )
                    .into_response(),
                _ => json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "created, but not yet readable",
                ),
            }
        }
        Err(error) => command_response(error),
    }
}

/// `GET /api/bookmarks?tag=&before=&limit=`: public bookmarks, newest first; at most `limit`,
/// and what fits in `CINDER_MAX_REPLY_BYTES`; `next_before` continues.
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let limit = match params::limit(&query, DEFAULT_LIMIT, MAX_LIMIT) {
        Ok(limit) => limit,
        Err(bad) => return bad.into_response(),
    };
    let before = query.get("before").map(String::as_str);
    if before.is_some_and(|b| !is_id(b)) {
        return json_error(StatusCode::BAD_REQUEST, "before must be a bookmark id");
    }
    let found = match query.get("tag") {
        Some(tag) if !is_tag(tag) => return json_error(StatusCode::BAD_REQUEST, "not a tag"),
        Some(tag) => app.bookmarks.tagged_before(tag, before).and_then(|found| {
            paging::serialized(
                found.map(|b| b.map(|b| b.public_json())),
                limit,
                list_budget(&app),
            )
        }),
        None => app.bookmarks.firehose_before(before).and_then(|found| {
            paging::serialized(
                found.map(|b| b.map(|b| b.public_json())),
                limit,
                list_budget(&app),
            )
        }),
    };
    match found {
        Ok(page) => {
            let next = page
                .more
                .then(|| page.items.last().map(|b| b["id"].clone()))
                .flatten();
            Json(json!({"bookmarks": page.items, "next_before": next})).into_response()
        }
        Err(error) => read_failed(error),
    }
}

/// `GET /api/bookmarks/random`: one public bookmark, uniformly.
pub async fn random(State(app): State<AppState>) -> Response {
    match app.bookmarks.random(rand::random()) {
        Ok(Some(bookmark)) => Json(json!({"bookmark": bookmark.public_json()})).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no public bookmarks yet"),
        Err(error) => read_failed(error),
    }
}

/// `GET /api/bookmarks/<id>?before=&limit=`: the bookmark with a page of its comments, oldest
/// first (the latest, or those before the comment `before`; at most `limit`, and what fits in
/// `CINDER_MAX_REPLY_BYTES`); `next_before` continues with older ones. A private bookmark only
/// for its owner.
pub async fn show(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let before = match params::number(&query, "before", "a comment id") {
        Ok(before) => before,
        Err(bad) => return bad.into_response(),
    };
    let limit = match params::limit(&query, DEFAULT_LIMIT, MAX_LIMIT) {
        Ok(limit) => limit,
        Err(bad) => return bad.into_response(),
    };
    let bookmark = match app.bookmarks.get(&id) {
        Ok(Some(bookmark)) if bookmark.visible_to(&session.id) => bookmark,
        Ok(_) => return json_error(StatusCode::NOT_FOUND, "no such bookmark"),
        Err(error) => return read_failed(error),
    };
    let mut body = bookmark.public_json();
    let budget = list_budget(&app).saturating_sub(paging::json_size(&body));
    match paging::serialized(app.bookmarks.comments_before(&id, before), limit, budget) {
        Ok(page) => {
            let next = page
                .more
                .then(|| page.items.last().map(|comment| comment.id))
                .flatten();
            let mut comments = page.items;
            comments.reverse();
            body["comments"] = json!(comments);
            Json(json!({ "bookmark": body, "next_before": next })).into_response()
        }
        Err(error) => read_failed(error),
    }
}

/// `POST /api/bookmarks/<id>/comments` `{author, content}` → 201 `{id, position}`.
pub async fn comment(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if !is_id(&id) {
        return json_error(StatusCode::NOT_FOUND, "no such bookmark");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "expected a JSON object {\"author\", \"content\"}",
        );
    };
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let command = BookmarkCommand::CommentOnBookmark(CommentOnBookmark {
        by: session.id.clone(),
        author: text("author"),
        content: text("content"),
    });
    match app.bus.bookmarks.execute(&id, command).await {
        Ok(committed) => {
            if let Some(cursor) = committed.last() {
                app.progress.wait_for(cursor, Duration::from_secs(5)).await;
            }
            let comment_id = committed.events.iter().find_map(|e| match e {
                cinder_domain::bookmarks::BookmarkEvent::CommentAdded(c) => Some(c.id),
                _ => None,
            });
            (
                StatusCode::CREATED,
                Json(json!({"id": comment_id, "position": committed.position()})),
            )
                .into_response()
        }
        Err(CommandError::Rejected(BookmarkError::NotFound)) => {
            json_error(StatusCode::NOT_FOUND, "no such bookmark")
        }
        Err(error) => command_response(error),
    }
}

fn read_failed(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "bookmarks read model query failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "could not read bookmarks",
    )
}
