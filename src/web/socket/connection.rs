//! One client connection, whatever carries it (a websocket, or a long poll session): decodes
//! frames, routes them to channels, and queues replies and pushes in an outbox bounded in
//! bytes (see `outbox.rs`) for the transport to write.
//!
//! Every joined topic runs as its own task, so a slow channel never blocks the others, and a
//! channel that fails is removed with `phx_error` while the connection lives on. Malformed input
//! closes only this connection, with the RFC 6455 code for what was wrong. A client that stops
//! reading fills its outbox and is dropped instead of growing the server's memory; pushes never
//! wait for it, so nobody else's are delayed. Frames waiting for a busy channel are held to the
//! same number of bytes. When the node stops, the connection closes with 1001 once its channels
//! have answered the frames they were handling.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::channel::{Channel, ChannelFactory, Push, Pusher, SocketInfo, Stalled};
use super::frame::{EncodedPush, Frame, PushFraming, Serializer};
use super::outbox::{Outbox, PATIENCE};
use crate::config::SocketSettings;
use crate::pubsub::{Published, Subscription};
use crate::shutdown::{Entered, InFlight, GRACE};

/// Close codes (RFC 6455 §7.4.1).
pub(super) const NORMAL: u16 = 1000;
pub(super) const GOING_AWAY: u16 = 1001;
pub(super) const PROTOCOL_ERROR: u16 = 1002;
pub(super) const UNSUPPORTED: u16 = 1003;
pub(super) const INVALID_DATA: u16 = 1007;
pub(super) const TOO_BIG: u16 = 1009;

/// What a transport hands the connection.
pub(super) enum Incoming {
    /// A text frame.
    Text(Utf8Bytes),
    /// Input the transport refused: close with this code and reason.
    Refused(u16, &'static str),
    /// The client went away: hang up.
    Gone,
    /// The client is there, with nothing to say (a websocket ping, a long poll request).
    Alive,
    /// Answered once everything before it has been handled (a long poll batch).
    Handled(oneshot::Sender<()>),
}

struct Joined {
    join_ref: Option<String>,
    /// Frames for the channel, each counted as busy until the channel has answered it.
    /// Boxed: a channel's queue allocates room for 32 entries up front, for every join.
    inbox: mpsc::Sender<Box<Inbound>>,
    task: tokio::task::JoinHandle<()>,
}

/// A frame waiting for its channel: counted as busy, and holding its bytes of the connection's
/// inbound budget, until the channel has answered it.
type Inbound = (Frame, Entered, OwnedSemaphorePermit);

/// A token bucket: `rate` per second, up to `burst` at once.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            rate,
            burst,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Runs one connection on `incoming` until it should close; its frames go to `outbox`.
/// Returns the close code and reason to send, or `None` to hang up without one.
pub(super) async fn run(
    incoming: &mut (impl Stream<Item = Incoming> + Unpin),
    outbox: Outbox,
    serializer: Serializer,
    factories: Arc<Vec<Arc<dyn ChannelFactory>>>,
    info: SocketInfo,
    settings: SocketSettings,
) -> Option<(u16, &'static str)> {
    let _open = crate::metrics::socket_opened();
    let _counted = info.app.sockets.enter();
    let draining = info.app.draining.clone();
    let budget = outbox_budget(&settings, &info);
    let mut connection = Connection {
        factories,
        info,
        serializer,
        joins: Bucket::new(settings.joins_per_second, settings.join_burst),
        events: Bucket::new(settings.events_per_second, settings.event_burst),
        channels: HashMap::new(),
        inbound: Arc::new(Semaphore::new(budget.min(Semaphore::MAX_PERMITS))),
        outbox,
        settings,
        draining,
        busy: InFlight::default(),
    };
    let close = connection.read(incoming).await;
    if matches!(close, Some((GOING_AWAY, _))) {
        // The node is stopping: commands the client sent finish and are answered first.
        connection.busy.idle(GRACE).await;
    }
    for (_, joined) in connection.channels.drain() {
        joined.task.abort();
    }
    close
}

/// The bytes queued for one client before it counts as too slow: at least a reply's.
pub(super) fn outbox_budget(settings: &SocketSettings, info: &SocketInfo) -> usize {
    settings.outbox_bytes.max(info.app.max_reply_bytes)
}

struct Connection {
    factories: Arc<Vec<Arc<dyn ChannelFactory>>>,
    info: SocketInfo,
    /// How the client writes its frames (and reads ours).
    serializer: Serializer,
    settings: SocketSettings,
    joins: Bucket,
    events: Bucket,
    channels: HashMap<String, Joined>,
    /// Bytes of frames waiting for their channels, within the same budget as the outbox.
    inbound: Arc<Semaphore>,
    outbox: Outbox,
    /// Turns true when the node stops: the connection closes with 1001.
    draining: watch::Receiver<bool>,
    /// Frames handed to channels and not answered yet.
    busy: InFlight,
}

/// The topic and join ref of a channel (boxed, like the inbox).
type ChannelId = Box<(String, Option<String>)>;

impl Connection {
    /// Reads frames until the connection should close; returns the close code and reason to
    /// send, or `None` to hang up without one.
    async fn read(
        &mut self,
        incoming: &mut (impl Stream<Item = Incoming> + Unpin),
    ) -> Option<(u16, &'static str)> {
        let outbox = self.outbox.clone();
        loop {
            let next = tokio::select! {
                biased;
                _ = outbox.overflowed() => {
                    tracing::warn!("socket: client too slow to read its pushes, dropping it");
                    crate::metrics::slow_client_dropped();
                    return None;
                }
                _ = drained(&mut self.draining) => {
                    return Some((GOING_AWAY, "server shutting down"));
                }
                next = tokio::time::timeout(self.settings.idle_timeout, incoming.next()) => next,
            };
            let text = match next {
                Err(_) => {
                    tracing::info!("socket: no frame within the idle timeout, closing");
                    return Some((NORMAL, "heartbeat timeout"));
                }
                Ok(None | Some(Incoming::Gone)) => {
                    tracing::debug!("socket: the client went away");
                    return None;
                }
                Ok(Some(Incoming::Refused(code, reason))) => {
                    tracing::warn!(code, reason, "socket: frame refused, closing");
                    return Some((code, reason));
                }
                Ok(Some(Incoming::Alive)) => continue,
                Ok(Some(Incoming::Handled(done))) => {
                    let _ = done.send(());
                    continue;
                }
                Ok(Some(Incoming::Text(text))) => text,
            };
            if text.len() > self.settings.max_frame {
                tracing::warn!(bytes = text.len(), "socket: frame too large, closing");
                return Some((TOO_BIG, "frame too large"));
            }
            match self.serializer.decode(text.as_str()) {
                // Boxed: handling a frame (a join above all: the factory's join, the reply
                // waiting for room) takes a large future for a moment. Inline, it would make
                // every connection's task that large for as long as it lives, idle or not.
                Ok(frame) => Box::pin(self.handle(frame, text.len())).await,
                Err(error) => {
                    tracing::warn!(%error, "socket: malformed frame, closing");
                    return Some((INVALID_DATA, "malformed frame"));
                }
            }
        }
    }

    /// Handles `frame`, which was `bytes` long on the wire.
    async fn handle(&mut self, frame: Frame, bytes: usize) {
        match (frame.topic.as_str(), frame.event.as_str()) {
            ("phoenix", "heartbeat") => self.outbox.send(&frame.reply(true, json!({}))),
            (_, "phx_join") => self.join(frame).await,
            (_, "phx_leave") => self.leave(frame),
            _ => self.dispatch(frame, bytes),
        }
    }

    async fn join(&mut self, frame: Frame) {
        let joined = self.try_join(frame).await;
        crate::metrics::join(joined);
    }

    /// Joins, or replies with why not; returns whether it joined.
    async fn try_join(&mut self, frame: Frame) -> bool {
        self.forget_ended();
        if !self.joins.take() {
            tracing::warn!(topic = frame.topic, "socket: join rate limit");
            self.outbox
                .send(&frame.reply(false, json!({"reason": "too many joins, slow down"})));
            return false;
        }
        if let Some(old) = self.channels.remove(&frame.topic) {
            old.task.abort();
            self.outbox.send(&close_frame(&frame.topic, &old.join_ref));
        }
        if self.channels.len() >= self.settings.max_channels {
            self.outbox
                .send(&frame.reply(false, json!({"reason": "too many channels"})));
            return false;
        }
        let Some(factory) = self.factories.iter().find(|f| f.accepts(&frame.topic)) else {
            self.outbox
                .send(&frame.reply(false, json!({"reason": "unmatched topic"})));
            return false;
        };
        let joined = match factory
            .join(&frame.topic, frame.payload.clone(), &self.info)
            .await
        {
            Ok(joined) => joined,
            Err(response) => {
                self.outbox.send(&frame.reply(false, response));
                return false;
            }
        };
        // The join reply (the channel's state, up to a page) waits for room: the client asked
        // for it. Frames after it are read once it is queued.
        if self
            .outbox
            .send_waiting(&frame.reply(true, joined.reply), PATIENCE)
            .await
            .is_err()
        {
            return false;
        }
        let (inbox, messages) = mpsc::channel(16);
        let framing = PushFraming::new(self.serializer, frame.join_ref.as_deref(), &frame.topic);
        let task = tokio::spawn(run_channel(
            joined.channel,
            Box::new((frame.topic.clone(), frame.join_ref.clone())),
            Arc::new(framing),
            messages,
            Subscriptions::new(joined.subscriptions),
            self.outbox.clone(),
        ));
        self.channels.insert(
            frame.topic,
            Joined {
                join_ref: frame.join_ref,
                inbox,
                task,
            },
        );
        true
    }

    fn leave(&mut self, frame: Frame) {
        self.forget_ended();
        match self.channels.remove(&frame.topic) {
            Some(joined) => {
                joined.task.abort();
                self.outbox.send(&frame.reply(true, json!({})));
                self.outbox
                    .send(&close_frame(&frame.topic, &joined.join_ref));
            }
            None => self.unmatched(frame),
        }
    }

    fn dispatch(&mut self, frame: Frame, bytes: usize) {
        let Some(joined) = self.channels.get(&frame.topic) else {
            return self.unmatched(frame);
        };
        if frame.join_ref.is_some() && frame.join_ref != joined.join_ref {
            return self.unmatched(frame);
        }
        if !self.events.take() {
            tracing::warn!(topic = frame.topic, "socket: event rate limit");
            return self
                .outbox
                .send(&frame.reply(false, json!({"reason": "too many events, slow down"})));
        }
        let busy = || json!({"reason": "busy, try again"});
        let permit = u32::try_from(bytes)
            .ok()
            .and_then(|bytes| self.inbound.clone().try_acquire_many_owned(bytes).ok());
        let Some(permit) = permit else {
            return self.outbox.send(&frame.reply(false, busy()));
        };
        match joined
            .inbox
            .try_send(Box::new((frame, self.busy.enter(), permit)))
        {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => {
                self.outbox.send(&message.0.reply(false, busy()))
            }
            // The channel ended on its own (it failed, and said so with `phx_error`).
            Err(mpsc::error::TrySendError::Closed(message)) => {
                let (frame, _, _) = *message;
                self.channels.remove(&frame.topic);
                self.unmatched(frame);
            }
        }
    }

    /// Forgets the channels that ended on their own (a channel that fails closes its inbox
    /// before it says `phx_error`), so they neither count against the channels allowed nor get
    /// a `phx_close` on a rejoin or an answer to a leave. Checked when it matters rather than
    /// reported: a queue for the reports would be one more allocation on every connection.
    fn forget_ended(&mut self) {
        self.channels.retain(|_, joined| !joined.inbox.is_closed());
    }

    fn unmatched(&self, frame: Frame) {
        let mut reply = frame.reply(false, json!({"reason": "unmatched topic"}));
        reply.join_ref = None;
        self.outbox.send(&reply);
    }
}

/// Resolves once the node starts stopping (never, if nobody can tell it to).
async fn drained(draining: &mut watch::Receiver<bool>) {
    if draining.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `phx_close` (or `phx_error`) carry the channel's join ref as both refs, as Phoenix does.
fn close_frame(topic: &str, join_ref: &Option<String>) -> Frame {
    Frame {
        join_ref: join_ref.clone(),
        msg_ref: join_ref.clone(),
        topic: topic.to_owned(),
        event: "phx_close".into(),
        payload: json!({}),
    }
}

/// The pubsub receivers of one channel, read as one stream in the order the changes were
/// published (a live page's position is only right if it got every earlier change first).
struct Subscriptions {
    receivers: Vec<Subscription>,
    /// A change taken from each receiver and not yet handed out.
    waiting: Vec<Option<Arc<Published>>>,
}

/// Changes were missed.
struct Lagged;

impl Subscriptions {
    fn new(receivers: Vec<Subscription>) -> Self {
        let waiting = receivers.iter().map(|_| None).collect();
        Self { receivers, waiting }
    }

    async fn next(&mut self) -> Result<Arc<Published>, Lagged> {
        loop {
            if let Some(ready) = self.ready() {
                return ready;
            }
            if self.receivers.is_empty() {
                return std::future::pending().await;
            }
            let receivers = self.receivers.iter_mut().map(|r| Box::pin(r.recv()));
            let (result, index, _) = futures_util::future::select_all(receivers).await;
            match result {
                // Kept, not returned: another receiver may hold an earlier change.
                Ok(change) => self.waiting[index] = Some(change),
                Err(broadcast::error::RecvError::Lagged(_)) => return Err(Lagged),
                Err(broadcast::error::RecvError::Closed) => {
                    self.receivers.swap_remove(index);
                    self.waiting.swap_remove(index);
                }
            }
        }
    }

    /// The earliest change that is already waiting, without waiting for one.
    fn ready(&mut self) -> Option<Result<Arc<Published>, Lagged>> {
        for (receiver, waiting) in self.receivers.iter_mut().zip(&mut self.waiting) {
            if waiting.is_none() {
                match receiver.try_recv() {
                    Ok(change) => *waiting = Some(change),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => return Some(Err(Lagged)),
                    Err(_) => {}
                }
            }
        }
        let earliest = self
            .waiting
            .iter()
            .enumerate()
            .filter_map(|(index, change)| change.as_ref().map(|c| (c.order, index)))
            .min()?;
        self.waiting[earliest.1].take().map(Ok)
    }
}

/// Runs one joined channel (`id`: its topic and join ref) until it is left, the connection
/// ends, or it fails.
async fn run_channel(
    mut channel: Box<dyn Channel>,
    id: ChannelId,
    framing: Arc<PushFraming>,
    mut messages: mpsc::Receiver<Box<Inbound>>,
    mut subscriptions: Subscriptions,
    outbox: Outbox,
) {
    let send = |push: &EncodedPush| {
        if outbox.try_push(&framing, push).is_ok() {
            crate::metrics::pushed();
        }
    };
    // A change's pushes: rendered and encoded once for every channel that shares them, or
    // by this channel alone; either way only the framing is this channel's.
    let push = |channel: &mut Box<dyn Channel>, published: &Published| {
        let change = &published.change;
        channel.reached(published.reached);
        match channel.shared_key(change) {
            Some(key) => {
                let pushes = published.rendered(key, || encoded(channel.render_shared(change)));
                pushes.iter().for_each(send);
            }
            None => encoded(channel.handle_change(change)).iter().for_each(send),
        }
    };
    let pusher = Pusher {
        framing: framing.clone(),
        outbox: outbox.clone(),
    };
    let run = AssertUnwindSafe(async {
        if channel.catch_up(&pusher, false).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                frame = messages.recv() => {
                    let Some(message) = frame else { return };
                    // Boxed: answering a frame (the command, the reply waiting for room) takes
                    // a large future for a moment. Inline, it would make every channel's task
                    // that large for as long as it lives, idle or not.
                    let answered = Box::pin(answer(
                        &mut channel,
                        *message,
                        &mut subscriptions,
                        &pusher,
                        &outbox,
                        &push,
                    ));
                    if answered.await.is_err() {
                        return;
                    }
                }
                change = subscriptions.next() => match change {
                    Ok(change) => push(&mut channel, &change),
                    Err(Lagged) => {
                        if channel.catch_up(&pusher, true).await.is_err() {
                            return;
                        }
                    }
                },
            }
        }
    })
    .catch_unwind()
    .await;
    if run.is_err() {
        // Closed first: from the moment the client can read `phx_error`, its frames for this
        // join are refused as unmatched (see `Connection::forget_ended`).
        messages.close();
        let (topic, join_ref) = &*id;
        tracing::error!(topic, "channel crashed");
        let mut error = close_frame(topic, join_ref);
        error.event = "phx_error".into();
        outbox.send(&error);
    }
}

/// Answers one frame on a channel: the channel handles it, the changes that arrived meanwhile
/// (the command's own, say) are pushed, then the reply, so the sender sees its change when the
/// reply comes. `Err` when the client did not make room for them in time.
async fn answer(
    channel: &mut Box<dyn Channel>,
    // `_busy` counts the frame until its reply is queued.
    (frame, _busy, _bytes): Inbound,
    subscriptions: &mut Subscriptions,
    pusher: &Pusher,
    outbox: &Outbox,
    push: &impl Fn(&mut Box<dyn Channel>, &Published),
) -> Result<(), Stalled> {
    let outcome = channel.handle_in(&frame.event, frame.payload.clone()).await;
    while let Some(change) = subscriptions.ready() {
        match change {
            Ok(change) => push(channel, &change),
            Err(Lagged) => channel.catch_up(pusher, true).await?,
        }
    }
    let (ok, response) = match outcome {
        Ok(response) => (true, response),
        Err(response) => (false, response),
    };
    outbox
        .send_waiting(&frame.reply(ok, response), PATIENCE)
        .await
        .map_err(|_| Stalled)
}

/// Pushes encoded, ready to be framed for any channel.
fn encoded(pushes: Vec<Push>) -> Vec<EncodedPush> {
    pushes
        .iter()
        .map(|push| {
            crate::metrics::push_rendered();
            EncodedPush::new(push.event, &push.payload)
        })
        .collect()
}

/// Turns an `Err` payload of a join into the usual `{"reason": ...}` shape.
pub fn reason(text: impl Into<String>) -> Value {
    json!({"reason": text.into()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::PubSub;
    use cinder_read_models::{Change, Cursor};

    fn on(topic: &str) -> Change {
        Change::new(topic.to_owned(), ())
    }

    fn topic(published: Option<Arc<Published>>) -> Option<String> {
        published.map(|p| p.change.topic().to_owned())
    }

    #[tokio::test]
    async fn a_channel_takes_the_changes_of_all_its_topics_in_the_order_they_were_published() {
        let pubsub = PubSub::default();
        let mut subscriptions =
            Subscriptions::new(vec![pubsub.subscribe("a"), pubsub.subscribe("b")]);
        let at = Cursor { tx: 1, position: 1 };
        pubsub.publish_batch(at, at, vec![on("b"), on("a")]);
        pubsub.publish(on("b"));
        let mut topics = Vec::new();
        while let Some(Ok(published)) = subscriptions.ready() {
            topics.extend(topic(Some(published)));
        }
        assert_eq!(topics, ["b", "a", "b"]);

        pubsub.publish(on("b"));
        pubsub.publish(on("a"));
        let first = topic(subscriptions.next().await.ok());
        let second = topic(subscriptions.next().await.ok());
        assert_eq!(
            (first.as_deref(), second.as_deref()),
            (Some("b"), Some("a"))
        );
    }
}
