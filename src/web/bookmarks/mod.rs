//! Bookmarks on the web: the firehose, tag feeds, random discovery and discussions (all live),
//! the `bookmarks:*` topics and the JSON API.

mod api;
mod as_of;
mod channel;
pub mod context;
mod pages;
mod views;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Extension;
use cinder_domain::bookmarks::{Bookmark, BookmarkServices};
use cinder_domain::StoredEvent;
use cinder_read_models::bookmarks::BookmarksReadModel;
use cinder_read_models::Projection;
use cqrs_es::Aggregate;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use channel::BookmarkChannels;

use super::app::{App, Nav, Registration};
use super::events::{NewAsOf, Viewer};
use super::live::LiveView;
use super::session::Session;
use super::socket::ChannelFactory;
use super::AppState;
use crate::bus::CommandBus;
use crate::config::Config;

/// Bookmarks, as the platform registers it.
pub static APP: Registration = Registration {
    name: "bookmarks",
    projections: &["bookmarks"],
    aggregates,
    open: |db| Ok(Arc::new(BookmarksReadModel::open(db)?)),
};

fn aggregates(bus: &mut CommandBus) {
    let clock = bus.clock().clone();
    bus.register::<Bookmark>(BookmarkServices { clock }, Vec::new());
}

/// Bookmarks on a node is its read model: every page, view and feed of it reads there.
impl App for BookmarksReadModel {
    fn nav(&self) -> Option<Nav> {
        Some(Nav {
            href: "/bookmarks",
            label: "Bookmarks",
            blurb: "Links worth reading",
        })
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(self.clone())]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        crate::web::openapi::tagged("bookmarks", "Public bookmarks, tags and discussions")
            .route("/bookmarks", get(pages::firehose).post(pages::add))
            .route("/bookmarks/random", get(pages::random))
            .route("/bookmarks/tags/{tag}", get(pages::tag))
            .route("/bookmarks/{id}", get(pages::bookmark))
            .route("/bookmarks/{id}/comments", post(pages::comment))
            .routes(routes!(api::list, api::create))
            .routes(routes!(api::random))
            .routes(routes!(api::show))
            .routes(routes!(api::comment))
            .layer(Extension(self.clone()))
    }

    fn channels(&self) -> Vec<Arc<dyn ChannelFactory>> {
        vec![Arc::new(BookmarkChannels {
            bookmarks: self.clone(),
        })]
    }

    fn mount(&self, path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
        let rest = path.strip_prefix("/bookmarks")?;
        let (app, bookmarks, session) = (app.clone(), self.clone(), session.clone());
        match rest {
            "" => Some(Box::new(views::FirehoseView::new(app, bookmarks, session))),
            "/random" => Some(Box::new(views::RandomView::new(bookmarks))),
            _ => {
                let rest = rest.strip_prefix('/')?;
                if let Some(tag) = rest.strip_prefix("tags/") {
                    return is_tag(tag)
                        .then(|| Box::new(views::TagView::new(app, bookmarks, session, tag)) as _);
                }
                is_id(rest)
                    .then(|| Box::new(views::BookmarkView::new(app, bookmarks, session, rest)) as _)
            }
        }
    }

    fn as_of(&self, aggregate_type: &str) -> Option<NewAsOf> {
        (aggregate_type == Bookmark::TYPE).then_some(as_of::new as NewAsOf)
    }

    /// Owners are never shown, nor anything of a private bookmark (its addition, its comments),
    /// to anyone: a private bookmark is its owner's business, and the log is no place to read it.
    fn redact(&self, event: &StoredEvent, _viewer: &Viewer) -> Option<Value> {
        (event.aggregate_type == Bookmark::TYPE).then(|| public_payload(self, event))
    }

    fn may_see(&self, aggregate_type: &str, aggregate_id: &str, _viewer: &Viewer) -> bool {
        aggregate_type != Bookmark::TYPE
            || self
                .get(aggregate_id)
                .ok()
                .flatten()
                .is_none_or(|bookmark| bookmark.public)
    }

    fn spawn(&self, app: &AppState, config: &Config) -> Vec<JoinHandle<()>> {
        config
            .simulate_bookmarks
            .map(|every| crate::simulators::bookmarks::spawn(app.bus.clone(), every))
            .into_iter()
            .collect()
    }
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

/// A bookmark event's payload as the event explorer may show it to anyone: owners are never
/// shown, and neither is anything of a private bookmark (its addition or its comments).
fn public_payload(bookmarks: &BookmarksReadModel, event: &StoredEvent) -> Value {
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
        let public = bookmarks
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
