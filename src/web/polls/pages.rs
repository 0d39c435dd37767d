//! Polls' pages and plain form posts: everything works without JavaScript. A post that
//! succeeds redirects to the poll; one that is refused shows the page again with the reason
//! by its form, and the status of the API's answer.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use cinder_domain::polls::{is_id, PollError};
use cinder_domain::Rejection;
use cinder_read_models::polls::PollsReadModel;
use serde::Deserialize;
use serde_json::Value;

use super::api::refusal_status;
use super::context::{self, Outcome};
use super::views::{PollView, PollsView, Typed};
use crate::bus::CommandError;
use crate::web::context::Context;
use crate::web::errors::not_found_page;
use crate::web::forms::csrf_refusal;
use crate::web::live::{page, static_page};
use crate::web::session::Session;
use crate::web::AppState;

/// `?before=<poll id>`: the open polls older than that one.
#[derive(Deserialize)]
pub struct Paging {
    before: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    Query(paging): Query<Paging>,
) -> Response {
    match paging.before {
        None => page(&app, &session, "/polls", &PollsView::new(app.clone(), polls, &session)).await,
        // Older polls, reached without JavaScript: a plain page, not followed live.
        Some(before) if is_id(&before) => {
            let view = PollsView::new(app.clone(), polls, &session).before(Some(before));
            static_page(&app, &session, &view).await
        }
        Some(_) => Redirect::to("/polls").into_response(),
    }
}

/// The create form without JavaScript: to the new poll, or back to the form with every broken
/// rule by its field (422) and what was typed still there.
pub async fn create(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = csrf_refusal(&app, &session, form.get("_csrf").map(String::as_str)) {
        return refused;
    }
    let fields = Value::Object(
        form.into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    );
    let mut typed = Typed::from_fields(&fields);
    let ctx = Context::for_visitor(&app, &session);
    let error = match context::create_poll(&ctx, typed.new_poll()).await {
        Ok(done) => return Redirect::to(&format!("/polls/{}", done.poll_id)).into_response(),
        Err(error) => error,
    };
    let status = match &error {
        CommandError::Rejected(rejection) => {
            typed.errors = rejection.errors();
            refusal_status(rejection)
        }
        other => {
            typed.errors = vec![("poll", other.to_string())];
            failure_status(other)
        }
    };
    let view = PollsView::new(app.clone(), polls, &session).refusing(typed);
    with_status(status, page(&app, &session, "/polls", &view).await)
}

pub async fn poll(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    if !is_id(&id) {
        return not_found_page(&app, &session);
    }
    let view = PollView::new(app.clone(), polls, &session, &id);
    page(&app, &session, &format!("/polls/{id}"), &view).await
}

#[derive(Deserialize)]
pub struct VoteForm {
    #[serde(default)]
    option: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// A vote button without JavaScript: the vote, then back to the poll.
pub async fn vote(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<VoteForm>,
) -> Response {
    if !is_id(&id) {
        return not_found_page(&app, &session);
    }
    if let Some(refused) = csrf_refusal(&app, &session, Some(&form.csrf)) {
        return refused;
    }
    let outcome = match form.option.trim().parse::<usize>() {
        Ok(option) => {
            let ctx = Context::for_visitor(&app, &session);
            context::cast_vote(&ctx, &id, option).await
        }
        Err(_) => Err(CommandError::Rejected(PollError::UnknownOption)),
    };
    finish(&app, polls, &session, &id, outcome).await
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// The close button without JavaScript.
pub async fn close(
    State(app): State<AppState>,
    Extension(polls): Extension<PollsReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<CloseForm>,
) -> Response {
    if !is_id(&id) {
        return not_found_page(&app, &session);
    }
    if let Some(refused) = csrf_refusal(&app, &session, Some(&form.csrf)) {
        return refused;
    }
    let ctx = Context::for_visitor(&app, &session);
    let outcome = context::close_poll(&ctx, &id).await;
    finish(&app, polls, &session, &id, outcome).await
}

/// Back to the poll (its context waited until this node shows the change), or the poll's page
/// saying by its vote form why not, with the API's status for it.
async fn finish(
    app: &AppState,
    polls: PollsReadModel,
    session: &Session,
    id: &str,
    outcome: Outcome,
) -> Response {
    let error = match outcome {
        Ok(_) => return Redirect::to(&format!("/polls/{id}")).into_response(),
        Err(CommandError::Rejected(PollError::NotFound)) => return not_found_page(app, session),
        Err(error) => error,
    };
    let status = match &error {
        CommandError::Rejected(rejection) => refusal_status(rejection),
        other => failure_status(other),
    };
    let view = PollView::new(app.clone(), polls, session, id).with_error(error.to_string());
    with_status(status, page(app, session, &format!("/polls/{id}"), &view).await)
}

/// The status of a command that failed for a reason other than the poll's rules.
fn failure_status(error: &CommandError<PollError>) -> StatusCode {
    match error {
        CommandError::Conflict => StatusCode::CONFLICT,
        CommandError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `response` with `status`, unless it already says something worse (a 404 page, a failure).
fn with_status(status: StatusCode, mut response: Response) -> Response {
    if response.status().is_success() {
        *response.status_mut() = status;
    }
    response
}
