//! The admin: whoever shows HTTP Basic credentials `admin:<CINDER_ADMIN_PASSWORD>`. Apps give
//! the admin their dashboards and write endpoints; the explorer shows the admin every visitor's
//! events whole.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::AppState;

/// Whether the request carries HTTP Basic credentials `admin:<password>`.
pub fn is_admin(headers: &HeaderMap, app: &AppState) -> bool {
    let Some(credentials) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
    else {
        return false;
    };
    let expected = format!("admin:{}", app.admin_password);
    // Compare in constant time: a timing difference must not reveal the password.
    credentials.len() == expected.len()
        && credentials
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
