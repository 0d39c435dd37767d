//! Chat's plain HTTP pages and form posts: everything works without JavaScript.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use cinder_domain::chat::{check_sender, is_valid_room_name, SendMessage};
use cinder_read_models::chat::RoomCursor;
use serde::Deserialize;

use super::views::{LobbyView, RoomView};
use crate::bus::CommandError;
use crate::web::context::Context;
use crate::web::errors::not_found_page;
use crate::web::forms::csrf_refusal;
use crate::web::live::{page, static_page};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::chat::ChatReadModel;

#[derive(Deserialize)]
pub struct LobbyPaging {
    before: Option<String>,
}

pub async fn lobby(
    State(app): State<AppState>,
    Extension(chat): Extension<ChatReadModel>,
    Extension(session): Extension<Session>,
    Query(paging): Query<LobbyPaging>,
) -> Response {
    match paging.before.as_deref() {
        None => page(&app, &session, "/chat", &LobbyView::new(app.clone(), chat.clone())).await,
        // Less recently active rooms, reached without JavaScript: a plain page, not live.
        Some(before) => match RoomCursor::parse(before) {
            Some(cursor) => {
                let view = LobbyView::new(app.clone(), chat.clone()).after(Some(cursor));
                static_page(&app, &session, &view).await
            }
            None => Redirect::to("/chat").into_response(),
        },
    }
}

#[derive(Deserialize)]
pub struct Go {
    #[serde(default)]
    room: String,
}

/// The lobby's "open room" form: to the room, or back to the lobby saying why the name cannot
/// be one (422), with what was typed still in the field.
pub async fn go(
    State(app): State<AppState>,
    Extension(chat): Extension<ChatReadModel>,
    Extension(session): Extension<Session>,
    Query(go): Query<Go>,
) -> Response {
    let room = go.room.trim().to_lowercase();
    if is_valid_room_name(&room) {
        return Redirect::to(&format!("/chat/{room}")).into_response();
    }
    let view = LobbyView::new(app.clone(), chat.clone()).refusing(&go.room);
    refused(page(&app, &session, "/chat", &view).await)
}

#[derive(Deserialize)]
pub struct Paging {
    before: Option<u64>,
}

pub async fn room(
    State(app): State<AppState>,
    Extension(chat): Extension<ChatReadModel>,
    Extension(session): Extension<Session>,
    Path(room): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    if !is_valid_room_name(&room) {
        return not_found_page(&app, &session);
    }
    let view = RoomView::new(app.clone(), chat.clone(), &session, &room).before(paging.before);
    match paging.before {
        // Older history, reached without JavaScript: a plain page, not followed live.
        Some(_) => static_page(&app, &session, &view).await,
        None => page(&app, &session, &format!("/chat/{room}"), &view).await,
    }
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// Keeps the visitor's display name in their session cookie.
pub async fn set_name(
    State(app): State<AppState>,
    Extension(chat): Extension<ChatReadModel>,
    Extension(mut session): Extension<Session>,
    Path(room): Path<String>,
    Form(form): Form<NameForm>,
) -> Response {
    if !is_valid_room_name(&room) {
        return not_found_page(&app, &session);
    }
    if let Some(refused) = csrf_refusal(&app, &session, Some(&form.csrf)) {
        return refused;
    }
    let name = match check_sender(&form.name) {
        Ok(name) => name,
        Err(refusal) => {
            let view = RoomView::new(app.clone(), chat.clone(), &session, &room).with_error(refusal.to_string());
            return refused(page(&app, &session, &format!("/chat/{room}"), &view).await);
        }
    };
    session.name = Some(name.to_owned());
    (
        [(header::SET_COOKIE, session.cookie(&app.signer))],
        Redirect::to(&format!("/chat/{room}")),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    content: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// The send form without JavaScript: post, then back to the room.
pub async fn send_message(
    State(app): State<AppState>,
    Extension(chat): Extension<ChatReadModel>,
    Extension(session): Extension<Session>,
    Path(room): Path<String>,
    Form(form): Form<MessageForm>,
) -> Response {
    if !is_valid_room_name(&room) {
        return not_found_page(&app, &session);
    }
    if let Some(refused) = csrf_refusal(&app, &session, Some(&form.csrf)) {
        return refused;
    }
    let Some(sender) = session.name.clone() else {
        return Redirect::to(&format!("/chat/{room}")).into_response();
    };
    let message = SendMessage {
        room: room.clone(),
        sender,
        content: form.content,
    };
    match super::context::send_message(&Context::for_visitor(&app, &session), message).await {
        Ok(_) => Redirect::to(&format!("/chat/{room}")).into_response(),
        Err(error) => {
            let message = match &error {
                CommandError::Rejected(rejection) => rejection.to_string(),
                other => other.to_string(),
            };
            let view = RoomView::new(app.clone(), chat.clone(), &session, &room).with_error(message);
            refused(page(&app, &session, &format!("/chat/{room}"), &view).await)
        }
    }
}

fn refused(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}
