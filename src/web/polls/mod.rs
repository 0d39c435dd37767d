//! Polls on the web: the open polls and a poll's live results (pages that work without
//! JavaScript), the `polls:<id>` topic and the JSON API.
//!
//! A visitor is known by an id derived from their session ([`voter_id`]): it is the voter of
//! their votes and the creator of their polls, so they have one vote per poll and close only
//! their own. Who voted for what is theirs alone: the explorer shows a `VoteCast` whole only to
//! its voter (and the admin), and a `PollCreated` without its creator to anyone else. Counts
//! are public.

mod api;
mod as_of;
mod channel;
pub mod context;
mod pages;
mod views;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Extension;
use cinder_domain::polls::{is_id, Poll, PollServices};
use cinder_domain::StoredEvent;
use cinder_read_models::polls::PollsReadModel;
use cinder_read_models::Projection;
use cqrs_es::Aggregate;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use channel::PollChannels;

use super::app::{App, Nav, Registration};
use super::events::{redacted, NewAsOf, Viewer};
use super::live::LiveView;
use super::session::Session;
use super::socket::ChannelFactory;
use super::AppState;
use crate::bus::CommandBus;

/// Polls, as the platform registers it.
pub static APP: Registration = Registration {
    name: "polls",
    projections: &["polls"],
    aggregates,
    open: |db| Ok(Arc::new(PollsReadModel::open(db)?)),
};

fn aggregates(bus: &mut CommandBus) {
    let clock = bus.clock().clone();
    bus.register::<Poll>(PollServices { clock }, Vec::new());
}

/// Polls on a node is its read model: every page, view and channel of it reads there.
impl App for PollsReadModel {
    fn nav(&self) -> Option<Nav> {
        Some(Nav {
            href: "/polls",
            label: "Polls",
            blurb: "Ask, vote, watch it count",
        })
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(self.clone())]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        crate::web::openapi::tagged(
            "polls",
            "Polls: open polls, a poll's counts, and the caller's vote (by its session cookie)",
        )
        .route("/polls", get(pages::list).post(pages::create))
        .route("/polls/{id}", get(pages::poll))
        .route("/polls/{id}/votes", post(pages::vote))
        .route("/polls/{id}/close", post(pages::close))
        .routes(routes!(api::list, api::create))
        .routes(routes!(api::show))
        .routes(routes!(api::vote))
        .routes(routes!(api::close))
        .layer(Extension(self.clone()))
    }

    fn styles(&self) -> &'static str {
        include_str!("polls.css")
    }

    fn channels(&self) -> Vec<Arc<dyn ChannelFactory>> {
        vec![Arc::new(PollChannels {
            polls: self.clone(),
        })]
    }

    /// `/polls` and `/polls/<id>`.
    fn mount(&self, path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
        match path.strip_prefix("/polls")? {
            "" => Some(Box::new(views::PollsView::new(
                app.clone(),
                self.clone(),
                session,
            ))),
            rest => {
                let id = rest.strip_prefix('/')?;
                is_id(id).then(|| {
                    Box::new(views::PollView::new(app.clone(), self.clone(), session, id)) as _
                })
            }
        }
    }

    fn as_of(&self, aggregate_type: &str) -> Option<NewAsOf> {
        (aggregate_type == Poll::TYPE).then_some(as_of::new as NewAsOf)
    }

    /// The visitor's voter id: their votes and the creator of their polls.
    fn owned_by(&self, session: &Session) -> Vec<String> {
        vec![voter_id(session)]
    }

    /// A vote is shown whole to its voter and the admin, redacted to everyone else; a poll's
    /// creation shows its creator only to them.
    fn redact(&self, event: &StoredEvent, viewer: &Viewer) -> Option<Value> {
        if event.aggregate_type != Poll::TYPE {
            return None;
        }
        let person = |event_type: &str, field: &str| {
            event.payload[event_type][field]
                .as_str()
                .map(str::to_owned)
        };
        match event.event_type.as_str() {
            "VoteCast" => match person("VoteCast", "voter") {
                Some(voter) if viewer.may_see(&voter) => None,
                _ => Some(redacted(event, "a visitor's vote")),
            },
            "PollCreated" => match person("PollCreated", "creator") {
                Some(creator) if viewer.may_see(&creator) => None,
                _ => {
                    let mut payload = event.payload.clone();
                    if let Some(created) = payload
                        .get_mut("PollCreated")
                        .and_then(Value::as_object_mut)
                    {
                        created.remove("creator");
                    }
                    Some(payload)
                }
            },
            _ => None,
        }
    }
}

/// The id a visitor votes and creates polls by: a hash of their session id, so the log (which
/// the explorer shows) never carries the session id itself.
pub fn voter_id(session: &Session) -> String {
    crate::opaque::opaque_id("cinder polls voter", &session.id, 16)
}
