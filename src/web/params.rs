//! Query parameters of the JSON API, checked once: a bad one is a 400 with a clear message.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::errors::json_error;

/// A query parameter that is not what the endpoint takes: answered with 400 and the reason.
#[derive(Debug)]
pub struct BadParam(String);

impl IntoResponse for BadParam {
    fn into_response(self) -> Response {
        json_error(StatusCode::BAD_REQUEST, &self.0)
    }
}

/// `limit`: absent → `default`; otherwise a number from 1 to `max`.
pub fn limit(
    query: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<usize, BadParam> {
    match query.get("limit").map(|v| v.parse::<usize>()) {
        None => Ok(default),
        Some(Ok(limit)) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(BadParam(format!("limit must be a number from 1 to {max}"))),
    }
}

/// An optional whole number `name` ≥ 0; `what` says what it is in the error message.
pub fn number(
    query: &HashMap<String, String>,
    name: &str,
    what: &str,
) -> Result<Option<u64>, BadParam> {
    match query.get(name).map(|v| v.parse::<u64>()) {
        None => Ok(None),
        Some(Ok(n)) => Ok(Some(n)),
        Some(Err(_)) => Err(BadParam(format!("{name} must be {what} (a number ≥ 0)"))),
    }
}
