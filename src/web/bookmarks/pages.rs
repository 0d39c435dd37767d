//! Bookmarks' pages and plain form posts (everything works without JavaScript).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use cinder_domain::bookmarks::CommentOnBookmark;
use serde::Deserialize;
use serde_json::Value;

use super::context::{add_bookmark, comment_on_bookmark};
use super::views::{new_bookmark, BookmarkView, FirehoseView, RandomView, TagView};
use super::{is_id, is_tag};
use crate::bus::CommandError;
use crate::web::context::Context;
use crate::web::errors::not_found_page;
use crate::web::forms::csrf_refusal;
use crate::web::live::{page, static_page};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::bookmarks::BookmarksReadModel;

/// Where a list continues: `?before=<bookmark id>` (and, on the firehose, `?mine_before=`).
#[derive(Deserialize)]
pub struct Paging {
    before: Option<String>,
    mine_before: Option<String>,
}

impl Paging {
    /// Whether every cursor given could be a bookmark id.
    fn valid(&self) -> bool {
        [&self.before, &self.mine_before]
            .into_iter()
            .flatten()
            .all(|id| is_id(id))
    }

    fn paged(&self) -> bool {
        self.before.is_some() || self.mine_before.is_some()
    }
}

pub async fn firehose(
    State(app): State<AppState>,
    Extension(bookmarks): Extension<BookmarksReadModel>,
    Extension(session): Extension<Session>,
    Query(paging): Query<Paging>,
) -> Response {
    if !paging.valid() {
        return Redirect::to("/bookmarks").into_response();
    }
    let paged = paging.paged();
    let view =
        FirehoseView::new(app.clone(), bookmarks.clone(), session.clone()).before(paging.before, paging.mine_before);
    match paged {
        // Older bookmarks, reached without JavaScript: a plain page, not followed live.
        true => static_page(&app, &session, &view).await,
        false => page(&app, &session, "/bookmarks", &view).await,
    }
}

pub async fn tag(
    State(app): State<AppState>,
    Extension(bookmarks): Extension<BookmarksReadModel>,
    Extension(session): Extension<Session>,
    Path(tag): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    if !is_tag(&tag) {
        return not_found_page(&app, &session);
    }
    if !paging.valid() {
        return Redirect::to(&format!("/bookmarks/tags/{tag}")).into_response();
    }
    let paged = paging.paged();
    let view = TagView::new(app.clone(), bookmarks.clone(), session.clone(), &tag).before(paging.before);
    match paged {
        true => static_page(&app, &session, &view).await,
        false => page(&app, &session, &format!("/bookmarks/tags/{tag}"), &view).await,
    }
}

pub async fn random(
    State(app): State<AppState>,
    Extension(bookmarks): Extension<BookmarksReadModel>,
    Extension(session): Extension<Session>,
) -> Response {
    let view = RandomView::new(bookmarks.clone());
    page(&app, &session, "/bookmarks/random", &view).await
}

pub async fn bookmark(
    State(app): State<AppState>,
    Extension(bookmarks): Extension<BookmarksReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(older): Query<OlderComments>,
) -> Response {
    if !is_id(&id) {
        return not_found_page(&app, &session);
    }
    let view = BookmarkView::new(app.clone(), bookmarks.clone(), session.clone(), &id).before(older.before);
    match older.before {
        // Older comments, reached without JavaScript: a plain page, not followed live.
        Some(_) => static_page(&app, &session, &view).await,
        None => page(&app, &session, &format!("/bookmarks/{id}"), &view).await,
    }
}

/// `?before=<comment id>`: the comments before that one.
#[derive(Deserialize)]
pub struct OlderComments {
    before: Option<u64>,
}

/// The add form without JavaScript: post, then back to the page it came from.
pub async fn add(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = csrf_refusal(&app, &session, form.get("_csrf").map(String::as_str)) {
        return refused;
    }
    // Checked before anything runs: a bad target must not cost a saved bookmark its answer.
    let back = match form.get("back") {
        None => "/bookmarks".to_owned(),
        Some(back)
            if crate::web::forms::is_same_site_path(back) && back.starts_with("/bookmarks") =>
        {
            back.clone()
        }
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "back must be a path of the bookmarks pages",
            )
                .into_response()
        }
    };
    let fields = Value::Object(
        form.into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    );
    let ctx = Context::for_visitor(&app, &session);
    let added = add_bookmark(&ctx, new_bookmark(&session, &fields)).await;
    finish(added.map(drop), &back)
}

/// The comment form without JavaScript.
pub async fn comment(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !is_id(&id) {
        return not_found_page(&app, &session);
    }
    if let Some(refused) = csrf_refusal(&app, &session, form.get("_csrf").map(String::as_str)) {
        return refused;
    }
    let comment = CommentOnBookmark {
        by: session.id.clone(),
        author: form.get("author").cloned().unwrap_or_default(),
        content: form.get("content").cloned().unwrap_or_default(),
    };
    let ctx = Context::for_visitor(&app, &session);
    let added = comment_on_bookmark(&ctx, &id, comment).await;
    finish(added.map(drop), &format!("/bookmarks/{id}"))
}

/// Back to `back` (the command's context waited until this node shows the change), or a
/// plain page saying what was refused.
fn finish<E: cinder_domain::Rejection>(outcome: Result<(), CommandError<E>>, back: &str) -> Response {
    match outcome {
        Ok(()) => Redirect::to(back).into_response(),
        Err(CommandError::Rejected(rejection)) => {
            let lines: Vec<String> = rejection
                .errors()
                .into_iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::response::Html(
                    maud::html! {
                        h1 { "Not saved" }
                        ul { @for line in &lines { li { (line) } } }
                        p { a href=(back) { "Back" } }
                    }
                    .into_string(),
                ),
            )
                .into_response()
        }
        Err(other) => (StatusCode::SERVICE_UNAVAILABLE, other.to_string()).into_response(),
    }
}
