//! Chat on the web: pages, live views, the `chat:<room>` topic and the JSON API.

mod api;
mod channel;
pub mod context;
mod pages;
mod views;

use axum::routing::{get, post};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use channel::RoomChannels;

use super::live::LiveView;
use super::session::Session;
use super::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/chat", get(pages::lobby))
        .route("/chat/go", get(pages::go))
        .route("/chat/{room}", get(pages::room))
        .route("/chat/{room}/name", post(pages::set_name))
        .route("/chat/{room}/messages", post(pages::send_message))
        .routes(routes!(api::rooms))
        .routes(routes!(api::messages, api::send_message))
}

/// The chat live view at `path`, if it is one of chat's.
pub fn mount(path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
    match path.strip_prefix("/chat")? {
        "" => Some(Box::new(views::LobbyView::new(app.clone()))),
        rest => {
            let room = rest.strip_prefix('/')?;
            cinder_domain::chat::is_valid_room_name(room)
                .then(|| Box::new(views::RoomView::new(app.clone(), session, room)) as _)
        }
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
