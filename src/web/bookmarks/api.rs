//! Bookmarks' JSON API.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cinder_domain::bookmarks::{
    AddBookmark, BookmarkError, CommentOnBookmark, TagsInput,
};
use cinder_read_models::bookmarks::{Comment, PublicBookmark};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{is_id, is_tag};
use crate::bus::CommandError;
use crate::web::context::Context;
use crate::web::errors::{command_response, json_error, ErrorBody, FieldErrors};
use crate::web::paging::{self, list_budget};
use crate::web::session::Session;
use crate::web::{params, AppState};
use cinder_read_models::bookmarks::BookmarksReadModel;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// The body of `POST /api/bookmarks`. (The handler reads it field by field, so that a field of
/// the wrong type is reported with the others, as a 422.)
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct NewBookmarkRequest {
    pub bookmark: NewBookmark,
}

/// A bookmark to add: every rule is checked at once, and every problem reported.
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct NewBookmark {
    /// 1–200 characters.
    pub title: Option<String>,
    /// An absolute `http://` or `https://` URL with a host, at most 2048 characters.
    pub url: Option<String>,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// Listed for everyone (default), or for its owner (the session) only.
    pub public: Option<bool>,
    /// A list, or one comma-separated string: at most 10, each 1–32 of `a-z 0-9 + # . -`
    /// (lower-cased, trimmed, de-duplicated).
    pub tags: Option<TagsInput>,
}

/// `POST /api/bookmarks` answered: the bookmark as everyone sees it.
#[derive(Serialize, ToSchema)]
pub struct BookmarkCreated {
    pub bookmark: CreatedBookmark,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedBookmark {
    pub data: PublicBookmark,
    /// "Bookmark created successfully"
    pub message: &'static str,
}

/// A page of public bookmarks, newest first.
#[derive(Serialize, ToSchema)]
pub struct BookmarksPage {
    pub bookmarks: Vec<PublicBookmark>,
    /// The last id shown, to pass as `before` for older ones; `null` on the last page.
    pub next_before: Option<String>,
}

/// One bookmark.
#[derive(Serialize, ToSchema)]
pub struct OneBookmark {
    pub bookmark: PublicBookmark,
}

/// A bookmark and a page of its discussion.
#[derive(Serialize, ToSchema)]
pub struct BookmarkPage {
    pub bookmark: Discussion,
    /// The oldest comment id shown, to pass as `before` for older ones; `null` when there are
    /// none.
    pub next_before: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct Discussion {
    #[serde(flatten)]
    pub bookmark: PublicBookmark,
    /// Oldest first.
    pub comments: Vec<Comment>,
}

/// A comment to add.
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct NewComment {
    /// 1–32 characters.
    pub author: String,
    /// 1–2000 characters after trimming; at most 10 comments a minute per author.
    pub content: String,
}

/// A comment added: its id, and where its event is in the log.
#[derive(Serialize, ToSchema)]
pub struct AddedComment {
    pub id: Option<u64>,
    pub position: Option<i64>,
}

/// `POST /api/bookmarks` `{"bookmark": {title, url, description, public, tags}}`.
#[utoipa::path(
    post,
    path = "/api/bookmarks",
    tag = "bookmarks",
    operation_id = "bookmarks_create",
    request_body = NewBookmarkRequest,
    responses(
        (status = 201, description = "Added; owned by the caller's session", body = BookmarkCreated),
        (status = 400, description = "No `bookmark` object in the body", body = ErrorBody),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 422, description = "Rules broken, every one by field", body = FieldErrors),
        (status = 500, description = "Added, but not yet readable", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    Extension(bookmarks): Extension<BookmarksReadModel>,
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
    let add = AddBookmark {
        id: cinder_domain::bookmarks::new_id(rand::random()),
        owner: session.id.clone(),
        title,
        url,
        description,
        public,
        tags,
    };
    match super::context::add_bookmark(&Context::for_visitor(&app, &session), add).await {
        Ok(added) => match bookmarks.get(&added.id) {
            Ok(Some(bookmark)) => (
                StatusCode::CREATED,
                Json(BookmarkCreated {
                    bookmark: CreatedBookmark {
                        data: bookmark.public(),
                        message: "Bookmark created successfully",
                    },
                }),
            )
                .into_response(),
            _ => json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "created, but not yet readable",
            ),
        },
        Err(error) => command_response(error),
    }
}

/// `GET /api/bookmarks?tag=&before=&limit=`: public bookmarks, newest first; at most `limit`,
/// and what fits in `CINDER_MAX_REPLY_BYTES`; `next_before` continues.
#[utoipa::path(
    get,
    path = "/api/bookmarks",
    tag = "bookmarks",
    operation_id = "bookmarks_list",
    params(
        ("tag" = Option<String>, Query, pattern = r"^[a-z0-9+#.-]{1,32}$", description = "Only bookmarks with this tag"),
        ("before" = Option<String>, Query, pattern = r"^[A-Za-z0-9-]{1,64}$", description = "A `next_before` of an earlier page"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Bookmarks at most (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of public bookmarks", body = BookmarksPage),
        (status = 400, description = "A bad `tag`, `before` or `limit`", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Extension(bookmarks): Extension<BookmarksReadModel>,
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
        Some(tag) => bookmarks.tagged_before(tag, before).and_then(|found| {
            paging::serialized(
                found.map(|b| b.map(|b| b.public())),
                limit,
                list_budget(&app),
            )
        }),
        None => bookmarks.firehose_before(before).and_then(|found| {
            paging::serialized(
                found.map(|b| b.map(|b| b.public())),
                limit,
                list_budget(&app),
            )
        }),
    };
    match found {
        Ok(page) => {
            let next = page
                .more
                .then(|| page.items.last().map(|b| b.id.clone()))
                .flatten();
            Json(BookmarksPage {
                bookmarks: page.items,
                next_before: next,
            })
            .into_response()
        }
        Err(error) => read_failed(error),
    }
}

/// `GET /api/bookmarks/random`: one public bookmark, uniformly.
#[utoipa::path(
    get,
    path = "/api/bookmarks/random",
    tag = "bookmarks",
    operation_id = "bookmarks_random",
    responses(
        (status = 200, description = "A public bookmark, picked uniformly", body = OneBookmark),
        (status = 404, description = "There are no public bookmarks yet", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn random(Extension(bookmarks): Extension<BookmarksReadModel>) -> Response {
    match bookmarks.random(rand::random()) {
        Ok(Some(bookmark)) => Json(OneBookmark {
            bookmark: bookmark.public(),
        })
        .into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no public bookmarks yet"),
        Err(error) => read_failed(error),
    }
}

/// `GET /api/bookmarks/<id>?before=&limit=`: the bookmark with a page of its comments, oldest
/// first (the latest, or those before the comment `before`; at most `limit`, and what fits in
/// `CINDER_MAX_REPLY_BYTES`); `next_before` continues with older ones. A private bookmark only
/// for its owner.
#[utoipa::path(
    get,
    path = "/api/bookmarks/{id}",
    tag = "bookmarks",
    operation_id = "bookmarks_show",
    params(
        ("id" = String, Path, description = "A bookmark id"),
        ("before" = Option<u64>, Query, description = "Only comments older than this id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Comments at most (default 50)"),
    ),
    responses(
        (status = 200, description = "The bookmark and the latest comments (before `before`), oldest first", body = BookmarkPage),
        (status = 400, description = "A bad `before` or `limit`", body = ErrorBody),
        (status = 404, description = "No such bookmark (or a private one of someone else)", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn show(
    State(app): State<AppState>,
    Extension(bookmarks): Extension<BookmarksReadModel>,
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
    let bookmark = match bookmarks.get(&id) {
        Ok(Some(bookmark)) if bookmark.visible_to(&session.id) => bookmark,
        Ok(_) => return json_error(StatusCode::NOT_FOUND, "no such bookmark"),
        Err(error) => return read_failed(error),
    };
    let public = bookmark.public();
    let budget = list_budget(&app).saturating_sub(paging::json_size(&public));
    match paging::serialized(bookmarks.comments_before(&id, before), limit, budget) {
        Ok(page) => {
            let next = page
                .more
                .then(|| page.items.last().map(|comment| comment.id))
                .flatten();
            let mut comments = page.items;
            comments.reverse();
            Json(BookmarkPage {
                bookmark: Discussion {
                    bookmark: public,
                    comments,
                },
                next_before: next,
            })
            .into_response()
        }
        Err(error) => read_failed(error),
    }
}

/// `POST /api/bookmarks/<id>/comments` `{author, content}` → 201 `{id, position}`.
#[utoipa::path(
    post,
    path = "/api/bookmarks/{id}/comments",
    tag = "bookmarks",
    operation_id = "bookmarks_comment",
    params(("id" = String, Path, description = "A bookmark id")),
    request_body = NewComment,
    responses(
        (status = 201, description = "Added", body = AddedComment),
        (status = 400, description = "Not a JSON object", body = ErrorBody),
        (status = 404, description = "No such bookmark", body = ErrorBody),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 422, description = "A rule broken (length, control characters, rate)", body = FieldErrors),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
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
    let comment = CommentOnBookmark {
        by: session.id.clone(),
        author: text("author"),
        content: text("content"),
    };
    let ctx = Context::for_visitor(&app, &session);
    match super::context::comment_on_bookmark(&ctx, &id, comment).await {
        Ok(added) => (
            StatusCode::CREATED,
            Json(AddedComment {
                id: added.id,
                position: added.position,
            }),
        )
            .into_response(),
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
