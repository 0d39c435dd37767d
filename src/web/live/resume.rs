//! Resuming a live page without loss: a page carries the log position its content reflects (in
//! `data-cinder-at`, then in each join reply and patch that moves it), and a join that gives it
//! back is sent only the patches for what changed since, on this node or another on the same
//! log, instead of every region whole.
//!
//! Sending every region is always right, so it is what happens whenever the node cannot tell what
//! the page missed: no position or a malformed one, one older than this node remembers (see
//! [`crate::recent_changes`]), one this node has not reached within [`WAIT_FOR_POSITION`] (a
//! page from a node that is ahead, or from another log), more than [`MISSED_AT_MOST`] changes,
//! patches bigger than the reply budget, or a view that shows more than its changes say (see
//! [`LiveView::unlogged_regions`]). A page on the log itself is told the events it missed from
//! the store (see [`with_log`]).

use std::time::Duration;

use cinder_read_models::{Change, Cursor};

use super::{LiveView, Patch, ViewError};
use crate::projections::{Logged, LOG_TOPIC};
use crate::recent_changes::Missed;
use crate::web::AppState;

/// Missed changes replayed at most; past this the page is sent whole.
pub const MISSED_AT_MOST: usize = 64;

/// How long a join waits for this node's read models to reach a page's position (the page may
/// come from a node that is ahead) before it sends the page whole instead.
pub const WAIT_FOR_POSITION: Duration = Duration::from_secs(3);

/// A position as pages and the socket carry it: `"<transaction>.<position>"`.
pub fn encode(cursor: Cursor) -> String {
    format!("{}.{}", cursor.tx, cursor.position)
}

/// A position from a page; `None` if it is not one.
pub fn decode(text: &str) -> Option<Cursor> {
    let (tx, position) = text.split_once('.')?;
    Some(Cursor {
        tx: tx.parse().ok()?,
        position: position.parse().ok()?,
    })
}

/// The position a joining page gave (`"at"` in the join payload), once this node has reached it;
/// `None` if it gave none, gave a malformed one, or this node did not get there in time.
pub async fn position(app: &AppState, payload: &serde_json::Value) -> Option<Cursor> {
    let at = decode(payload.get("at")?.as_str()?)?;
    if app.progress.current() >= at {
        return Some(at);
    }
    app.progress
        .wait_for(at, WAIT_FOR_POSITION)
        .await
        .then_some(at)
}

/// What a page that follows the log itself ([`LOG_TOPIC`]: the explorer's) missed besides. The
/// pubsub does not remember the log's own announcements (a [`Logged`] per event: keeping them
/// would cost each node a copy of every event, and a share of what the other pages resume
/// from), so the events after the page's position are read from the store, the record of
/// them, up to `latest`, what this node had announced when the view subscribed; those after
/// reach the view as pushes. More than [`MISSED_AT_MOST`] in all, or a store that cannot be
/// read: the page is sent whole.
pub async fn with_log(
    app: &AppState,
    topics: &[String],
    at: Option<Cursor>,
    latest: Option<Cursor>,
    missed: Missed<Change>,
) -> Missed<Change> {
    let Missed::Changes(mut changes) = missed else {
        return missed;
    };
    if !topics.iter().any(|topic| topic == LOG_TOPIC) {
        return Missed::Changes(changes);
    }
    let (Some(at), Some(latest)) = (at, latest) else {
        return Missed::Unknown;
    };
    let room = MISSED_AT_MOST.saturating_sub(changes.len());
    let events = match app.log.read_after(at, room + 1).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, "a page on the log could not be told what it missed");
            return Missed::Unknown;
        }
    };
    let logged: Vec<Change> = events
        .into_iter()
        .filter(|event| event.cursor() <= latest)
        .map(|event| Change::new(LOG_TOPIC, Logged(event)))
        .collect();
    if logged.len() > room {
        return Missed::TooMany;
    }
    changes.extend(logged);
    Missed::Changes(changes)
}

/// The patches a join replies with: what the page missed, replayed through the view as live
/// pushes are, with the regions it shows beyond the log; or every region whole.
pub async fn join_patches(
    app: &AppState,
    view: &mut dyn LiveView,
    missed: Missed<Change>,
) -> Result<Vec<Patch>, ViewError> {
    if let Missed::Changes(changes) = missed {
        // Replayed first: what a view sends besides may depend on what the replay changed (a
        // list that dropped its oldest items shows "load older").
        let mut patches = replay(view, &changes);
        if let Some(unlogged) = view.unlogged_regions().await {
            patches.extend(unlogged?);
            let bytes = serde_json::to_vec(&patches).map_or(usize::MAX, |json| json.len());
            if bytes <= app.max_reply_bytes {
                return Ok(patches);
            }
        }
    }
    view.regions().await
}

/// The patches `changes` make, in order, as the view makes them for live pushes.
fn replay(view: &mut dyn LiveView, changes: &[Change]) -> Vec<Patch> {
    let mut patches = Vec::new();
    for change in changes {
        match view.shared_key(change) {
            Some(_) => patches.extend(view.render_shared(change)),
            None => patches.extend(view.handle_change(change)),
        }
    }
    patches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_anything_else_is_none() {
        let cursor = Cursor {
            tx: 18_446_744_073_709_551_615,
            position: 42,
        };
        assert_eq!(decode(&encode(cursor)), Some(cursor));
        assert_eq!(encode(Cursor { tx: 7, position: 9 }), "7.9");
        for bad in ["", "7", "7.", ".9", "x.9", "7.9.1", "-1.9", "7.9x"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
