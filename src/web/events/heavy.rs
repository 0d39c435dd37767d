//! The explorer's heavy reads (histories, "as of", the log API) run a few at a time.
//!
//! Each is bounded on its own, but many at once would still take every core and the store's
//! connections from everyone else. A request waits for its turn (a few may wait, for a few
//! seconds); past that it is refused with 503 and `Retry-After`, and the rest of the server
//! (pages, commands, `/healthz`) never waits behind it.

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
/// Heavy reads that may wait for a turn; more are refused at once.
pub const HEAVY_WAITING: usize = 16;
/// How long a heavy read waits for its turn before it is refused.
const WAIT: Duration = Duration::from_secs(10);
/// What a refused client is told to wait, in seconds.
const RETRY_AFTER: &str = "1";

/// The turns of heavy reads, and the places in the queue for one. Cheap to clone.
#[derive(Clone)]
pub struct HeavyReads {
    turns: Arc<Semaphore>,
    /// Held from arrival until the read ends: running or waiting.
    places: Arc<Semaphore>,
}

impl HeavyReads {
    pub fn new(at_once: usize, waiting: usize) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(at_once)),
            places: Arc::new(Semaphore::new(at_once + waiting)),
        }
    }
}

/// Runs the request in a turn of its own, or refuses it (503) when the queue is full or no turn
/// frees up in time.
pub async fn limit(State(heavy): State<HeavyReads>, request: Request, next: Next) -> Response {
    let turn = match heavy.places.clone().try_acquire_owned() {
        Ok(place) => tokio::time::timeout(WAIT, heavy.turns.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|turn| (place, turn)),
        Err(_) => None,
    };
    let Some(_turn) = turn else {
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
