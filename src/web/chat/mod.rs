//! Chat on the web: pages, live views, the `chat:<room>` topic and the JSON API.

mod api;
mod channel;
pub mod context;
mod pages;
mod views;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Extension;
use cinder_domain::chat::{Room, RoomServices};
use cinder_read_models::chat::ChatReadModel;
use cinder_read_models::Projection;
use cqrs_es::Aggregate;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use channel::RoomChannels;

use super::app::{App, Nav, Registration};
use super::events::NewAsOf;
use super::live::LiveView;
use super::session::Session;
use super::socket::ChannelFactory;
use super::AppState;
use crate::bus::CommandBus;

/// Chat, as the platform registers it: its rooms, its `chat` projection, its pages and API.
pub static APP: Registration = Registration {
    name: "chat",
    projections: &["chat"],
    aggregates,
    open: |db| Ok(Arc::new(ChatReadModel::open(db)?)),
};

fn aggregates(bus: &mut CommandBus) {
    let clock = bus.clock().clone();
    bus.register::<Room>(RoomServices { clock }, cinder_domain::chat::upcasters());
}

/// Chat on a node is its read model: every page, view and channel of it reads there.
impl App for ChatReadModel {
    fn nav(&self) -> Option<Nav> {
        Some(Nav {
            href: "/chat",
            label: "Chat",
            blurb: "Rooms, live",
        })
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(self.clone())]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        crate::web::openapi::tagged("chat", "Rooms and messages")
            .route("/chat", get(pages::lobby))
            .route("/chat/go", get(pages::go))
            .route("/chat/{room}", get(pages::room))
            .route("/chat/{room}/name", post(pages::set_name))
            .route("/chat/{room}/messages", post(pages::send_message))
            .routes(routes!(api::rooms))
            .routes(routes!(api::messages, api::send_message))
            .layer(Extension(self.clone()))
    }

    fn channels(&self) -> Vec<Arc<dyn ChannelFactory>> {
        vec![Arc::new(RoomChannels { chat: self.clone() })]
    }

    fn mount(&self, path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
        match path.strip_prefix("/chat")? {
            "" => Some(Box::new(views::LobbyView::new(app.clone(), self.clone()))),
            rest => {
                let room = rest.strip_prefix('/')?;
                cinder_domain::chat::is_valid_room_name(room).then(|| {
                    Box::new(views::RoomView::new(app.clone(), self.clone(), session, room)) as _
                })
            }
        }
    }

    fn as_of(&self, aggregate_type: &str) -> Option<NewAsOf> {
        (aggregate_type == Room::TYPE).then_some(as_of as NewAsOf)
    }
}

/// Messages a room "as of" an event shows at most: the latest, as the room page does.
const AS_OF_MESSAGES: usize = 100;

/// A room rebuilt for the explorer's "as of", in a throwaway read model.
pub fn as_of(
    room: &str,
) -> Result<Box<dyn super::events::AsOf>, cinder_read_models::ProjectionError> {
    let db = super::events::scratch_db()?;
    let chat = cinder_read_models::chat::ChatReadModel::open(&db)?;
    Ok(Box::new(RoomAsOf {
        chat,
        room: room.to_owned(),
        _db: db,
    }))
}

struct RoomAsOf {
    chat: cinder_read_models::chat::ChatReadModel,
    room: String,
    _db: sled::Db,
}

impl super::events::AsOf for RoomAsOf {
    fn fold(
        &self,
        events: &[cinder_domain::StoredEvent],
    ) -> Result<(), cinder_read_models::ProjectionError> {
        cinder_read_models::fold(&self.chat, events)
    }

    /// The latest messages (at most [`AS_OF_MESSAGES`], and as many as fit in `budget`), with
    /// a note when the room held more.
    fn render(&self, budget: usize) -> Result<maud::Markup, cinder_read_models::ProjectionError> {
        let messages = self.chat.messages(&self.room, None, AS_OF_MESSAGES)?;
        let count = self.chat.room(&self.room)?.map_or(0, |r| r.message_count);
        let mut bytes = 0;
        let mut kept = 0;
        for message in messages.iter().rev() {
            let size = views::message_item(message).into_string().len();
            if kept > 0 && bytes + size > budget {
                break;
            }
            bytes += size;
            kept += 1;
        }
        let shown = &messages[messages.len() - kept..];
        Ok(maud::html! {
            @if (shown.len() as u64) < count {
                p.muted.as-of-note { "The last " (shown.len()) " of " (count) " messages." }
            }
            (views::message_list(shown))
        })
    }
}
