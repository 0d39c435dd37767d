//! `events:all`: every event after a position, then live, without a gap or a repeat.
//!
//! Join with `{"after": n}` (0 for the whole log; absent for only what comes next). The channel
//! follows the live tail first, then reads history from the store and pushes it, waiting for
//! the client to read (a client that stalls is disconnected, so memory stays bounded). Live
//! events at or before the last one pushed are dropped; if live events were missed while the
//! client was slow, it reads from the store again where it left off.
//!
//! Visitors' todo lists, carts and purchases are redacted (see [`super::Viewer`]) unless the
//! join carries a live view token (`{"token": ...}`, or the socket's connect parameter): then
//! that token's visitor sees their own, and an `/admin` token sees all.

use async_trait::async_trait;
use cinder_read_models::{Change, Cursor};

use crate::projections::{Logged, LOG_TOPIC};
use serde_json::Value;

use super::{event_json, Viewer};
use crate::pubsub::RenderKey;
use crate::web::socket::{
    reason, Channel, ChannelFactory, Joined, Push, Pusher, SocketInfo, Stalled,
};
use crate::web::AppState;

/// Events read from the store per batch while catching up.
const BATCH: usize = 500;

pub struct LogChannels;

#[async_trait]
impl ChannelFactory for LogChannels {
    fn accepts(&self, topic: &str) -> bool {
        topic == "events:all"
    }

    async fn join(
        &self,
        _topic: &str,
        payload: Value,
        socket: &SocketInfo,
    ) -> Result<Joined, Value> {
        let app = &socket.app;
        let token = payload
            .get("token")
            .and_then(Value::as_str)
            .or_else(|| crate::web::live::connect_token(&socket.params));
        let viewer = match token {
            None => Viewer::anyone(),
            Some(token) => {
                let (session, admin) = crate::web::live::token_holder(app, token)
                    .map_err(|error| reason(error.to_string()))?;
                Viewer::of(app, &session, admin)
            }
        };
        let subscription = app.pubsub.subscribe(LOG_TOPIC);
        let sent = match payload.get("after") {
            None | Some(Value::Null) => None,
            Some(after) => {
                let after = after
                    .as_i64()
                    .filter(|a| *a >= 0)
                    .ok_or_else(|| reason("after must be a position (a number ≥ 0)"))?;
                let cursor = super::api::resolve(app, after)
                    .await
                    .map_err(|_| reason("the event store is unavailable"))?
                    .ok_or_else(|| reason("no event at that position"))?;
                Some(cursor)
            }
        };
        Ok(Joined {
            channel: Box::new(LogChannel {
                app: app.clone(),
                viewer,
                sent,
            }),
            reply: serde_json::json!({}),
            subscriptions: vec![subscription],
        })
    }
}

struct LogChannel {
    app: AppState,
    viewer: Viewer,
    /// The last event pushed; `None` until the first (live-only joins start with the next).
    sent: Option<Cursor>,
}

#[async_trait]
impl Channel for LogChannel {
    async fn handle_in(&mut self, event: &str, _payload: Value) -> Result<Value, Value> {
        Err(reason(format!("events:all is read-only (got {event:?})")))
    }

    /// A new event is the same push for every follower who sees the same of it: anyone (the
    /// public log) or the admin, rendered once for each; a visitor who sees their own todo
    /// list and cart gets pushes of their own.
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        let variant = self.viewer.shared_view()?;
        let Logged(event) = change.get::<Logged>()?;
        if self.sent.is_some_and(|sent| event.cursor() <= sent) {
            return None;
        }
        self.sent = Some(event.cursor());
        Some(RenderKey::new("events:all:event", variant))
    }

    fn render_shared(&self, change: &Change) -> Vec<Push> {
        match change.get::<Logged>() {
            Some(Logged(event)) => vec![Push {
                event: "event",
                payload: event_json(&self.app, &self.viewer, event),
            }],
            _ => Vec::new(),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Push> {
        let Some(Logged(event)) = change.get::<Logged>() else {
            return Vec::new();
        };
        if self.sent.is_some_and(|sent| event.cursor() <= sent) {
            return Vec::new();
        }
        self.sent = Some(event.cursor());
        vec![Push {
            event: "event",
            payload: event_json(&self.app, &self.viewer, event),
        }]
    }

    async fn catch_up(&mut self, pusher: &Pusher, _missed: bool) -> Result<(), Stalled> {
        let Some(mut cursor) = self.sent else {
            return Ok(());
        };
        loop {
            let batch = match self.app.log.read_after(cursor, BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "events:all could not read the log");
                    return Err(Stalled);
                }
            };
            let Some(last) = batch.last().map(|e| e.cursor()) else {
                return Ok(());
            };
            for event in &batch {
                pusher
                    .push(Push {
                        event: "event",
                        payload: event_json(&self.app, &self.viewer, event),
                    })
                    .await?;
            }
            cursor = last;
            self.sent = Some(cursor);
        }
    }
}
