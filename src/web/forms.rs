//! Plain HTML form posts (pages work without JavaScript): the CSRF check every one makes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::session::Session;
use super::AppState;

/// `None` if `token` is this session's CSRF token; otherwise the 403 to answer with.
pub fn csrf_refusal(app: &AppState, session: &Session, token: Option<&str>) -> Option<Response> {
    match token {
        Some(token) if app.signer.check_csrf(session, token) => None,
        _ => Some(
            (
                StatusCode::FORBIDDEN,
                "This form has expired. Go back, reload the page and try again.",
            )
                .into_response(),
        ),
    }
}
