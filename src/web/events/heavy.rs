//! The explorer's heavy reads (histories, "as of", the log API) run a few at a time.
//!
//! Each is bounded on its own, but many at once would still take every core and the store's
//! connections from everyone else. A request waits a moment for its turn; when the explorer
//! stays busy it is refused with 503 and `Retry-After`, and the rest of the server (pages,
//! commands, `/healthz`) never waits behind it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::web::errors::json_error;

/// Heavy explorer reads served at once (per node).
pub const HEAVY_READS: usize = 2;
/// How long a heavy read waits for its turn before it is refused.
const WAIT: Duration = Duration::from_secs(2);
/// What a refused client is told to wait, in seconds.
const RETRY_AFTER: &str = "1";

/// The turns of heavy reads. Cheap to clone.
#[derive(Clone)]
pub struct HeavyReads(Arc<Semaphore>);

impl HeavyReads {
    pub fn new(at_once: usize) -> Self {
        Self(Arc::new(Semaphore::new(at_once)))
    }
}

/// Runs the request in a turn of its own, or refuses it (503) if none frees up in time.
pub async fn limit(State(heavy): State<HeavyReads>, request: Request, next: Next) -> Response {
    let turn = tokio::time::timeout(WAIT, heavy.0.clone().acquire_owned()).await;
    let Ok(Ok(_turn)) = turn else {
        tracing::warn!(
            path = request.uri().path(),
            "explorer busy: a heavy read was refused"
        );
        let message = "The event explorer is busy; try again in a moment.";
        let mut response = if request.uri().path().starts_with("/api/") {
            json_error(StatusCode::SERVICE_UNAVAILABLE, message)
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
        };
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(RETRY_AFTER),
        );
        return response;
    };
    next.run(request).await
}
