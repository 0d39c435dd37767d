//! The web edge: HTTP pages and API, the socket, live views and assets.

mod assets;
pub mod bookmarks;
pub mod chat;
pub mod drops;
pub mod errors;
pub mod events;
mod layout;
pub mod live;
mod params;
pub mod session;
pub mod socket;
pub mod todos;

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use axum::routing::get;
use axum::Router;
use cinder_read_models::bookmarks::BookmarksReadModel;
use cinder_read_models::chat::ChatReadModel;
use cinder_read_models::drops::DropsReadModel;
use cinder_read_models::todos::TodosReadModel;

use crate::bus::CommandBus;
use crate::projections::Progress;
use crate::pubsub::PubSub;
use crate::store::EventLog;
use session::{Session, Signer};
use socket::{ChannelFactory, SocketSettings};

/// Everything a request, channel or live view may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    pub bus: CommandBus,
    pub log: EventLog,
    pub pubsub: PubSub,
    pub progress: Progress,
    pub signer: Signer,
    pub socket: SocketSettings,
    /// Hosts, besides the one a request names itself, whose pages may open sockets.
    pub allowed_hosts: Arc<Vec<String>>,
    pub channels: Arc<Vec<Arc<dyn ChannelFactory>>>,
    pub chat: ChatReadModel,
    pub bookmarks: BookmarksReadModel,
    pub todos: TodosReadModel,
    pub drops: DropsReadModel,
    pub presence: crate::presence::Presence,
    /// The password of `/admin` and the admin API (user `admin`).
    pub admin_password: String,
}

impl AppState {
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// Every topic family the socket serves.
pub fn channel_factories() -> Vec<Arc<dyn ChannelFactory>> {
    vec![
        Arc::new(live::LiveChannels),
        Arc::new(chat::RoomChannels),
        Arc::new(events::LogChannels),
        Arc::new(bookmarks::BookmarkChannels),
        Arc::new(drops::ProductChannels),
    ]
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/chat") }))
        .route("/socket/websocket", get(socket::upgrade))
        .route("/assets/cinder.js", get(assets::script))
        .route("/assets/cinder.css", get(assets::style))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(chat::routes())
        .merge(events::routes())
        .merge(bookmarks::routes())
        .merge(todos::routes())
        .merge(drops::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            with_session,
        ))
        .with_state(state)
}

/// Ready when the event store answers. (A node only starts listening once its projections
/// have caught up with the log, rebuilding any that need it.)
async fn readyz(State(app): State<AppState>) -> Response {
    use axum::response::IntoResponse;
    match app.log.ping().await {
        Ok(()) => "ready".into_response(),
        Err(error) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {error}"),
        )
            .into_response(),
    }
}

/// Gives every request a [`Session`] (as an extension): the one in its signed cookie, or a new
/// one, which is then set as the cookie unless the handler set one itself.
async fn with_session(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let found = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| Session::from_cookie_header(value, &app.signer));
    let (session, fresh) = match found {
        Some(session) => (session, false),
        None => (Session::fresh(), true),
    };
    request.extensions_mut().insert(session.clone());
    let mut response = next.run(request).await;
    if fresh && !response.headers().contains_key(header::SET_COOKIE) {
        if let Ok(cookie) = session.cookie(&app.signer).parse() {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    response
}
