//! The client script and stylesheet, compiled into the binary: running Cinder needs no Node.

use axum::http::header;
use axum::response::IntoResponse;

const SCRIPT: &str = include_str!("assets/cinder.js");
const STYLE: &str = include_str!("assets/cinder.css");

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        SCRIPT,
    )
}

pub async fn style() -> impl IntoResponse {
    css(STYLE)
}

/// A stylesheet, as every one is served.
pub fn css(text: impl IntoResponse) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        text,
    )
}
