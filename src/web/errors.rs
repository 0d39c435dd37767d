//! How refusals and failures reach people and programs: JSON bodies with the right status for
//! the API, error replies for sockets, plain pages for browsers.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use cinder_domain::Rejection;
use serde_json::{json, Value};

use super::layout;
use super::session::Session;
use super::AppState;
use crate::bus::CommandError;

/// `{"errors": {field: [message]}}`, the shape of every rule broken.
pub fn rejection_body<E: Rejection>(error: &E) -> Value {
    let mut fields = serde_json::Map::new();
    for (field, message) in error.errors() {
        if let Value::Array(messages) = fields.entry(field).or_insert_with(|| json!([])) {
            messages.push(Value::String(message));
        }
    }
    json!({ "errors": fields })
}

/// `{field: [message]}` of the refusals `problems`: what a form's fields break.
pub fn field_errors<E: Rejection>(problems: &[E]) -> Value {
    let mut fields = serde_json::Map::new();
    for (field, message) in problems.iter().flat_map(Rejection::errors) {
        if let Value::Array(messages) = fields.entry(field).or_insert_with(|| json!([])) {
            messages.push(Value::String(message));
        }
    }
    Value::Object(fields)
}

/// A command's failure over HTTP: 422 for a broken rule, 409 for a conflict retries could not
/// settle, 503 when the event store is down.
pub fn command_response<E: Rejection>(error: CommandError<E>) -> Response {
    match &error {
        CommandError::Rejected(rejection) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(rejection_body(rejection)),
        )
            .into_response(),
        CommandError::Conflict => json_error(StatusCode::CONFLICT, &error.to_string()),
        CommandError::Unavailable => {
            json_error(StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
        }
        CommandError::Internal(_) => {
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// A command's failure as a socket error reply: `errors` by field, and `message`, one sentence
/// naming the fields, which pages show.
pub fn command_reply<E: Rejection>(error: CommandError<E>) -> Value {
    match &error {
        CommandError::Rejected(rejection) => {
            let mut body = rejection_body(rejection);
            body["message"] = Value::String(rejection.to_string());
            body
        }
        CommandError::Internal(_) => json!({ "reason": "something went wrong" }),
        _ => json!({ "reason": error.to_string() }),
    }
}

/// `{"error": "..."}`: a request the API cannot serve, said in one sentence.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// `{"errors": {field: [message]}}`: every rule a command broke, by field (422).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FieldErrors {
    /// Messages by field name.
    pub errors: std::collections::BTreeMap<String, Vec<String>>,
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.to_owned(),
        }),
    )
        .into_response()
}

pub fn not_found_page(app: &AppState, session: &Session) -> Response {
    let body = maud::html! {
        section.not-found {
            p.code { "404" }
            h1 { "Nothing here" }
            p.lead { "The page you asked for does not exist, or is not yours to see." }
            ul.app-links {
                @for nav in app.apps.nav() {
                    li { a href=(nav.href) { strong { (nav.label) } span { (nav.blurb) } } }
                }
            }
        }
    };
    (
        StatusCode::NOT_FOUND,
        Html(layout::page("Not found", app, session, None, body).into_string()),
    )
        .into_response()
}

pub fn internal_page(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.").into_response()
}
