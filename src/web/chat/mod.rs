//! Chat on the web: pages, live views, the `chat:<room>` topic and the JSON API.

mod api;
mod channel;
mod pages;
mod views;

use axum::routing::{get, post};
use axum::Router;

pub use channel::RoomChannels;

use super::live::LiveView;
use super::session::Session;
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/chat", get(pages::lobby))
        .route("/chat/go", get(pages::go))
        .route("/chat/{room}", get(pages::room))
        .route("/chat/{room}/name", post(pages::set_name))
        .route("/chat/{room}/messages", post(pages::send_message))
        .route("/api/chat/rooms", get(api::rooms))
        .route(
            "/api/chat/rooms/{room}/messages",
            get(api::messages).post(api::send_message),
        )
}

/// The id of the message a `SendMessage` committed.
fn message_id(events: &[cinder_domain::chat::RoomEvent]) -> Option<u64> {
    events
        .iter()
        .map(|event| match event {
            cinder_domain::chat::RoomEvent::MessageSent(sent) => sent.id,
        })
        .next()
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

/// A room as it stood after `events` (its own, in order): replayed into a throwaway read model.
pub fn as_of(
    room: &str,
    events: &[cinder_read_models::StoredEvent],
) -> Result<maud::Markup, cinder_read_models::ProjectionError> {
    let db = sled::Config::new().temporary(true).open()?;
    let chat = cinder_read_models::chat::ChatReadModel::open(&db)?;
    cinder_read_models::fold(&chat, events)?;
    let messages = chat.messages(room, None, usize::MAX)?;
    Ok(views::message_list(&messages))
}
