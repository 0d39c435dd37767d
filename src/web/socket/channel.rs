//! Channels: what a joined topic does. Each app registers a [`ChannelFactory`] for its topics;
//! the connection runs each joined channel as its own task (see `connection.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use cinder_read_models::{Change, Cursor};
use serde_json::Value;

use super::frame::{EncodedPush, PushFraming};
use crate::pubsub::{RenderKey, Subscription};
use crate::web::AppState;

/// What a channel may know of its socket: the connect parameters and the application.
#[derive(Clone)]
pub struct SocketInfo {
    /// Query parameters given at connect (Phoenix `params`).
    pub params: Vec<(String, String)>,
    pub app: AppState,
}

/// A server push on a channel's topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    pub event: &'static str,
    pub payload: Value,
}

/// A successful join: the channel, its reply, and the pubsub topics it follows (subscribed
/// before its state was read, so nothing falls between the reply and the first push).
pub struct Joined {
    pub channel: Box<dyn Channel>,
    pub reply: Value,
    pub subscriptions: Vec<Subscription>,
}

#[async_trait]
pub trait ChannelFactory: Send + Sync {
    /// Whether this factory serves `topic`.
    fn accepts(&self, topic: &str) -> bool;

    /// Joins `topic`. An `Err` is sent as the join's error response, e.g. `{"reason": "..."}`.
    async fn join(&self, topic: &str, payload: Value, socket: &SocketInfo)
        -> Result<Joined, Value>;
}

#[async_trait]
pub trait Channel: Send {
    /// An event the client sent; `Ok` and `Err` become the ok and error replies.
    async fn handle_in(&mut self, event: &str, payload: Value) -> Result<Value, Value>;

    /// A change on a followed topic; returns what to push to the client.
    fn handle_change(&mut self, change: &Change) -> Vec<Push>;

    /// Called before each change is handed to the channel, with where the log was before the
    /// batch that caused it (`None` for changes the log did not cause: see
    /// [`crate::pubsub::Published::reached`]). Live views tell their page, so it can say where
    /// it was when it reconnects.
    fn reached(&mut self, _position: Option<Cursor>) {}

    /// For a change that channels of this kind push alike (every member of a room gets the same
    /// `message_sent`): the key its pushes are rendered and encoded under, once for all of them
    /// (see [`crate::pubsub::RenderKey`]), after noting what this channel keeps of it. `None`,
    /// the default, has [`Channel::handle_change`] make this channel's own pushes.
    fn shared_key(&mut self, _change: &Change) -> Option<RenderKey> {
        None
    }

    /// The pushes for `change` under the key [`Channel::shared_key`] gave: the same for every
    /// channel that gives that key, so they depend on nothing else of this one.
    fn render_shared(&self, _change: &Change) -> Vec<Push> {
        Vec::new()
    }

    /// Changes were missed (the client fell behind); returns pushes that bring it up to date.
    fn resync(&mut self) -> Vec<Push> {
        Vec::new()
    }

    /// Runs right after the join reply (`missed` false) and whenever changes were missed
    /// (`missed` true), before anything else reaches the channel. Channels that stream history
    /// override it and push through `pusher`, which waits for the client to read; the default
    /// pushes [`Channel::resync`] when something was missed.
    async fn catch_up(&mut self, pusher: &Pusher, missed: bool) -> Result<(), Stalled> {
        if missed {
            for push in self.resync() {
                pusher.push(push).await?;
            }
        }
        Ok(())
    }
}

/// The client did not read its pushes in time; the connection is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled;

/// Pushes on one channel's topic, waiting (a bounded time) for room in the client's budget.
pub struct Pusher {
    pub(super) framing: Arc<PushFraming>,
    pub(super) outbox: super::outbox::Outbox,
}

impl Pusher {
    pub async fn push(&self, push: Push) -> Result<(), Stalled> {
        crate::metrics::push_rendered();
        let push = EncodedPush::new(push.event, &push.payload);
        match self
            .outbox
            .push_waiting(&self.framing, &push, super::outbox::PATIENCE)
            .await
        {
            Ok(()) => {
                crate::metrics::pushed();
                Ok(())
            }
            Err(_) => Err(Stalled),
        }
    }
}
