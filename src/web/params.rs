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

/// An optional whole number `name` from 0 to `i64::MAX` (what ids, positions and sequences
/// are stored as; a larger one would wrap when read as one); `what` says what it is in the
/// error message.
pub fn number(
    query: &HashMap<String, String>,
    name: &str,
    what: &str,
) -> Result<Option<u64>, BadParam> {
    match query.get(name).map(|v| v.parse::<u64>()) {
        None => Ok(None),
        Some(Ok(n)) if i64::try_from(n).is_ok() => Ok(Some(n)),
        Some(_) => Err(BadParam(format!(
            "{name} must be {what} (a number from 0 to {})",
            i64::MAX
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_within_what_the_store_holds() {
        let query = |v: &str| HashMap::from([("after".to_owned(), v.to_owned())]);
        assert_eq!(
            number(&query("0"), "after", "a position").ok(),
            Some(Some(0))
        );
        let max = i64::MAX.to_string();
        assert_eq!(
            number(&query(&max), "after", "a position").ok(),
            Some(Some(i64::MAX as u64))
        );
        assert!(number(&query("9223372036854775808"), "after", "a position").is_err());
        assert!(number(&query("-1"), "after", "a position").is_err());
        assert!(number(&HashMap::new(), "after", "a position").is_ok_and(|n| n.is_none()));
    }
}
