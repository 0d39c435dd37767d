//! The write side of a connection: frames queued for the client, within a budget of bytes.
//!
//! Counting frames bounds nothing: a thousand frames of a megabyte each are a gigabyte. So every
//! queued frame holds as many permits of the connection's byte budget
//! (`CINDER_SOCKET_OUTBOX_BYTES`) as it has bytes, until the writer has handed it to the kernel.
//! A frame that does not fit means the client is not reading: the connection is dropped, and
//! with it everything queued. Replies, which the client asked for, and history streamed as fast
//! as it reads wait a while for room instead ([`PATIENCE`]): a client that asks for more than it
//! reads is slowed down, and dropped only if it does not read at all. No single frame may be larger than `CINDER_MAX_REPLY_BYTES`: a
//! reply over it is answered with an error instead, a push over it is not sent (pages and
//! replies that could grow are paged, so neither should happen).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use super::frame::{EncodedPush, Frame, PushFraming, Serializer};

/// How long a reply (or streamed history) waits for the client to make room in its budget
/// before the client counts as stalled and is dropped.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A frame waiting for the writer, with the part of the budget it holds.
pub(super) struct Queued {
    pub message: Outgoing,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// The writer's end of the queue. Frames wait boxed: a queue allocates room for 32 entries up
/// front, for every connection, and idle connections are the many (8 bytes an entry, not 40).
pub(super) type Receiver = mpsc::UnboundedReceiver<Box<Queued>>;

/// The budget held by frames the writer has handed to the websocket layer but not yet flushed
/// to the kernel: one permit, not a list of them, so a writer keeps nothing allocated between
/// bursts.
#[derive(Default)]
pub(super) struct Held(Option<OwnedSemaphorePermit>);

impl Held {
    /// Holds `permit` too. Every permit of a connection comes from its outbox's one budget, so
    /// they merge (tokio panics on permits of two semaphores, which cannot meet here).
    pub fn add(&mut self, permit: Option<OwnedSemaphorePermit>) {
        match (&mut self.0, permit) {
            (Some(held), Some(permit)) => held.merge(permit),
            (held @ None, permit) => *held = permit,
            (Some(_), None) => {}
        }
    }

    /// Gives the budget back: the frames are the kernel's now.
    pub fn release(&mut self) {
        self.0 = None;
    }
}

/// What the transport sends: a frame's text, or the end of the connection (a websocket close
/// frame; a long poll session ends).
pub(super) enum Outgoing {
    Text(String),
    Close(u16, &'static str),
}

/// The write side of a connection, shared by its channels. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    queue: mpsc::UnboundedSender<Box<Queued>>,
    budget: Arc<Semaphore>,
    /// Notified when a frame did not fit: the connection drops the client.
    overflow: Arc<Notify>,
    max_frame: usize,
    /// How frames are written for this client.
    serializer: Serializer,
}

/// A frame did not fit in the budget (or the connection is closing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Outbox {
    /// An outbox of `budget` bytes whose frames are each at most `max_frame` bytes, written
    /// with `serializer`, and the receiving end for the writer.
    pub(super) fn new(
        budget: usize,
        max_frame: usize,
        serializer: Serializer,
    ) -> (Outbox, Receiver) {
        let (queue, queued) = mpsc::unbounded_channel();
        let outbox = Outbox {
            queue,
            budget: Arc::new(Semaphore::new(budget.min(Semaphore::MAX_PERMITS))),
            overflow: Arc::new(Notify::new()),
            max_frame,
            serializer,
        };
        (outbox, queued)
    }

    /// Queues `frame`, or, if the client's budget is spent, has the connection dropped.
    pub fn send(&self, frame: &Frame) {
        let _ = self.try_send(frame);
    }

    /// [`Outbox::send`], saying whether `frame` was queued.
    pub fn try_send(&self, frame: &Frame) -> Result<(), Full> {
        let Some(text) = self.encode(frame) else {
            return Ok(());
        };
        let permit = u32::try_from(text.len())
            .ok()
            .and_then(|bytes| self.budget.clone().try_acquire_many_owned(bytes).ok());
        let Some(permit) = permit else {
            self.overflow.notify_one();
            return Err(Full);
        };
        self.queue(Outgoing::Text(text), Some(permit))
    }

    /// Queues `frame`, waiting up to `patience` for room in the budget (for history streamed as
    /// fast as the client reads). `Err` if the client did not make room in time.
    pub async fn send_waiting(&self, frame: &Frame, patience: Duration) -> Result<(), Full> {
        let Some(text) = self.encode(frame) else {
            return Ok(());
        };
        let bytes = u32::try_from(text.len()).map_err(|_| Full)?;
        let acquire = self.budget.clone().acquire_many_owned(bytes);
        match tokio::time::timeout(patience, acquire).await {
            Ok(Ok(permit)) => self.queue(Outgoing::Text(text), Some(permit)),
            _ => {
                self.overflow.notify_one();
                Err(Full)
            }
        }
    }

    /// Queues a channel's `push`, framed for it, or, if the client's budget is spent, has the
    /// connection dropped. The frame is built only if it will be sent.
    pub fn try_push(&self, framing: &PushFraming, push: &EncodedPush) -> Result<(), Full> {
        let Some(bytes) = self.push_bytes(framing, push) else {
            return Ok(());
        };
        let permit = self.budget.clone().try_acquire_many_owned(bytes).ok();
        let Some(permit) = permit else {
            self.overflow.notify_one();
            return Err(Full);
        };
        self.queue(Outgoing::Text(framing.frame(push)), Some(permit))
    }

    /// [`Outbox::try_push`], waiting up to `patience` for room (history streamed as fast as the
    /// client reads).
    pub async fn push_waiting(
        &self,
        framing: &PushFraming,
        push: &EncodedPush,
        patience: Duration,
    ) -> Result<(), Full> {
        let Some(bytes) = self.push_bytes(framing, push) else {
            return Ok(());
        };
        let acquire = self.budget.clone().acquire_many_owned(bytes);
        match tokio::time::timeout(patience, acquire).await {
            Ok(Ok(permit)) => self.queue(Outgoing::Text(framing.frame(push)), Some(permit)),
            _ => {
                self.overflow.notify_one();
                Err(Full)
            }
        }
    }

    /// The bytes of `push` framed, or `None` if it is over the largest frame allowed (it is
    /// not sent; pushes that could grow are paged, so this should not happen).
    fn push_bytes(&self, framing: &PushFraming, push: &EncodedPush) -> Option<u32> {
        let bytes = framing.len(push);
        if bytes <= self.max_frame {
            return u32::try_from(bytes).ok();
        }
        tracing::error!(
            bytes,
            limit = self.max_frame,
            "socket: a push over CINDER_MAX_REPLY_BYTES was not sent"
        );
        crate::metrics::oversized_frame();
        None
    }

    /// Queues the end of the connection with `code` and `reason` if its few bytes fit: a
    /// client that has filled its budget is not reading, and is hung up on instead.
    pub(super) fn close(&self, code: u16, reason: &'static str) -> Result<(), Full> {
        let permit = self
            .budget
            .clone()
            .try_acquire_many_owned(128)
            .map_err(|_| Full)?;
        self.queue(Outgoing::Close(code, reason), Some(permit))
    }

    /// Resolves when a frame did not fit.
    pub(super) async fn overflowed(&self) {
        self.overflow.notified().await
    }

    fn queue(&self, message: Outgoing, permit: Option<OwnedSemaphorePermit>) -> Result<(), Full> {
        self.queue
            .send(Box::new(Queued { message, permit }))
            .map_err(|_| Full)
    }

    /// `frame` as text, or what to send instead if it is over the largest frame allowed: an
    /// error reply to a reply, nothing for a push.
    fn encode(&self, frame: &Frame) -> Option<String> {
        let text = self.serializer.encode(frame);
        if text.len() <= self.max_frame {
            return Some(text);
        }
        tracing::error!(
            topic = frame.topic,
            event = frame.event,
            bytes = text.len(),
            limit = self.max_frame,
            "socket: a frame over CINDER_MAX_REPLY_BYTES was not sent"
        );
        crate::metrics::oversized_frame();
        if frame.event != "phx_reply" {
            return None;
        }
        let refused = Frame {
            join_ref: frame.join_ref.clone(),
            msg_ref: frame.msg_ref.clone(),
            topic: frame.topic.clone(),
            event: frame.event.clone(),
            payload: json!({"status": "error", "response": {"reason": "reply too large"}}),
        };
        Some(self.serializer.encode(&refused))
    }
}
