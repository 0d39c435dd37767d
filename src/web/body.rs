//! JSON request bodies the API reads by hand rather than through a typed extractor, so that a
//! body of the wrong shape gets a 400 saying which shape is expected (and every field's problem
//! comes from the domain, not from serde).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::errors::json_error;

/// The body as a JSON object, if it is one.
pub fn object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// 400 for a body that is not the JSON object `shape`.
pub fn expected(shape: &str) -> Response {
    json_error(
        StatusCode::BAD_REQUEST,
        &format!("expected a JSON object {shape}"),
    )
}
