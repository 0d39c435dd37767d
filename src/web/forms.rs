//! Forms: the CSRF check every plain HTML form post makes (pages work without JavaScript), and
//! the place by each field where its error shows.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

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

/// The id of the error slot of field `name` in the form `#form`: the id cinder.js gives a slot
/// it makes, so it fills the one rendered here. The field names it in `aria-describedby`.
pub fn error_id(form: &str, name: &str) -> String {
    format!("{form}-{name}-error")
}

/// The error slot of field `name` in the form `#form`, rendered with the form so that its line
/// is taken before any error shows (`.field-error` in cinder.css): an error that appears or goes
/// as the visitor types moves nothing below it, such as the button they are pressing.
pub fn error_slot(form: &str, name: &str) -> Markup {
    html! { p.field-error id=(error_id(form, name)) data-cinder-error-for=(name) {} }
}

/// Whether `target` is safe to redirect to: a path on this site (`/` then not `/` or `\`,
/// which browsers read as another host) of visible ASCII only, so it can neither leave the
/// site nor break the `Location` header (CR, LF) it goes into.
pub fn is_same_site_path(target: &str) -> bool {
    target.starts_with('/')
        && !target.starts_with("//")
        && !target.starts_with("/\\")
        && target.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::is_same_site_path;

    #[test]
    fn only_plain_paths_of_this_site_are_redirect_targets() {
        for good in ["/", "/bookmarks", "/bookmarks/tags/rust?x=1#top"] {
            assert!(is_same_site_path(good), "{good:?}");
        }
        for bad in [
            "",
            "bookmarks",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "/bookmarks\r\nSet-Cookie: x=1",
            "/bookmarks\n",
            "/with space",
            "/caf\u{e9}",
        ] {
            assert!(!is_same_site_path(bad), "{bad:?}");
        }
    }
}
