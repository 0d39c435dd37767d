//! Bookmarks on the web: the firehose, tag feeds, random discovery and discussions (all live),
//! the `bookmarks:*` topics and the JSON API.

mod api;
mod channel;
mod pages;
mod views;

use axum::routing::{get, post};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use channel::BookmarkChannels;

use super::live::LiveView;
use super::session::Session;
use super::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/bookmarks", get(pages::firehose).post(pages::add))
        .route("/bookmarks/random", get(pages::random))
        .route("/bookmarks/tags/{tag}", get(pages::tag))
        .route("/bookmarks/{id}", get(pages::bookmark))
        .route("/bookmarks/{id}/comments", post(pages::comment))
        .routes(routes!(api::list, api::create))
        .routes(routes!(api::random))
        .routes(routes!(api::show))
        .routes(routes!(api::comment))
}

/// Whether `tag` could be a tag (so it can name a page or topic).
pub fn is_tag(tag: &str) -> bool {
    cinder_domain::bookmarks::normalize_tags(&cinder_domain::bookmarks::TagsInput::List(vec![
        tag.to_owned()
    ]))
    .is_ok_and(|tags| tags.first().map(String::as_str) == Some(tag))
}

/// Whether `id` could be a bookmark id.
pub fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The bookmarks live view at `path`, if it is one of bookmarks'.
pub fn mount(path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
    let rest = path.strip_prefix("/bookmarks")?;
    let app = app.clone();
    let session = session.clone();
    match rest {
        "" => Some(Box::new(views::FirehoseView::new(app, session))),
        "/random" => Some(Box::new(views::RandomView::new(app, session))),
        _ => {
            let rest = rest.strip_prefix('/')?;
            if let Some(tag) = rest.strip_prefix("tags/") {
                return is_tag(tag).then(|| Box::new(views::TagView::new(app, session, tag)) as _);
            }
            is_id(rest).then(|| Box::new(views::BookmarkView::new(app, session, rest)) as _)
        }
    }
}

/// A bookmark event's payload as the event explorer may show it to anyone: owners are never
/// shown, and neither is anything of a private bookmark (its addition or its comments).
pub fn public_payload(app: &AppState, event: &cinder_domain::StoredEvent) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut payload = event.payload.clone();
    if let Some(added) = payload
        .get_mut("BookmarkAdded")
        .and_then(Value::as_object_mut)
    {
        added.remove("owner");
        if added.get("public") != Some(&Value::Bool(true)) {
            return json!({"BookmarkAdded": {"id": added.get("id"), "public": false, "redacted": "a private bookmark"}});
        }
    }
    if let Some(comment) = payload.get("CommentAdded") {
        let bookmark_id = comment
            .get("bookmark_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let public = app
            .bookmarks
            .get(bookmark_id)
            .ok()
            .flatten()
            .is_some_and(|b| b.public);
        if !public {
            return json!({"CommentAdded": {"bookmark_id": bookmark_id, "redacted": "a comment on a private bookmark"}});
        }
    }
    payload
}
