//! Chat read models: the messages of each room, and the directory of rooms.
//!
//! `chat.messages` maps `room ++ 0x00 ++ id (u64 big-endian)` to a message, so one room's
//! messages are one contiguous, id-ordered range. `chat.rooms` maps a room name to its summary.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cinder_domain::chat::{upcasters, RoomEvent, MAX_ROOM_CHARS};
use cqrs_es::persist::EventUpcaster;
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::codec::{abort, decode, encode, numbered_key};
use crate::{
    Change, LogEvent, Projection, ProjectionError, RawEvent, StoredEvent, Trees, TxResult,
    WriteBuffer,
};

/// A message as readers see it; also the `message_sent` payload of the `chat:<room>` topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: u64,
    pub room: String,
    pub sender: String,
    pub content: String,
    pub sent_at: DateTime<Utc>,
    /// Names @mentioned, lower-cased (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

/// A line of the room directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub name: String,
    pub message_count: u64,
    pub last_activity: DateTime<Utc>,
}

/// What the chat projection changed.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatChange {
    MessageAdded(Message),
    RoomUpdated(RoomSummary),
}

impl ChatChange {
    pub fn topic(&self) -> String {
        match self {
            ChatChange::MessageAdded(message) => room_topic(&message.room),
            ChatChange::RoomUpdated(_) => ROOMS_TOPIC.to_owned(),
        }
    }
}

/// The pubsub topic on which a room's new messages are announced.
pub fn room_topic(room: &str) -> String {
    format!("chat/room/{room}")
}

/// The pubsub topic on which the room directory's changes are announced.
pub const ROOMS_TOPIC: &str = "chat/rooms";

const MESSAGES: usize = 0;
const ROOMS: usize = 1;

/// The chat projection and its queries.
#[derive(Clone)]
pub struct ChatReadModel {
    messages: sled::Tree,
    rooms: sled::Tree,
    upcasters: std::sync::Arc<Vec<Box<dyn EventUpcaster>>>,
}

impl ChatReadModel {
    pub fn open(db: &sled::Db) -> Result<Self, ProjectionError> {
        Ok(Self {
            messages: db.open_tree("chat.messages")?,
            rooms: db.open_tree("chat.rooms")?,
            upcasters: std::sync::Arc::new(upcasters()),
        })
    }

    /// Up to `limit` messages of `room` with ids below `before` (all if `None`), oldest first.
    pub fn messages(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, ProjectionError> {
        let start = numbered_key(room, 0);
        let end = numbered_key(room, before.unwrap_or(u64::MAX));
        let mut newest_first = Vec::with_capacity(limit.min(1024));
        for entry in self.messages.range(start..end).rev().take(limit) {
            let (_, value) = entry?;
            newest_first.push(decode::<Message>(&value)?);
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    /// Every room, most recently active first.
    pub fn rooms(&self) -> Result<Vec<RoomSummary>, ProjectionError> {
        let mut rooms = Vec::new();
        for entry in self.rooms.iter() {
            let (_, value) = entry?;
            rooms.push(decode::<RoomSummary>(&value)?);
        }
        rooms.sort_by(|a, b| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(rooms)
    }

    pub fn room(&self, room: &str) -> Result<Option<RoomSummary>, ProjectionError> {
        self.rooms
            .get(room.as_bytes())?
            .map(|value| decode(&value))
            .transpose()
    }
}

impl Projection for ChatReadModel {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn version(&self) -> u32 {
        1
    }

    fn trees(&self) -> Vec<sled::Tree> {
        vec![self.messages.clone(), self.rooms.clone()]
    }

    fn apply(
        &self,
        trees: &[TransactionalTree],
        event: &StoredEvent,
        changes: &mut Vec<Change>,
    ) -> TxResult<()> {
        self.fold(trees, event, changes)
    }

    fn apply_buffered(
        &self,
        trees: &WriteBuffer,
        events: &[RawEvent],
    ) -> Option<Result<(), ProjectionError>> {
        // Each room's summary once per batch, however many messages it got.
        let mut rooms: HashMap<String, RoomSummary> = HashMap::new();
        let fold = |event: &RawEvent, rooms: &mut HashMap<String, RoomSummary>| {
            let Some(message) = self.message(event)? else {
                return Ok(());
            };
            trees.insert(
                MESSAGES,
                &numbered_key(&message.room, message.id),
                &encode(&message)?,
            )?;
            match rooms.get_mut(message.room.as_str()) {
                Some(summary) => summary.record(&message),
                None => {
                    let summary = RoomSummary::after(stored_summary(trees, &message)?, &message);
                    rooms.insert(message.room, summary);
                }
            }
            Ok(())
        };
        let folded = events
            .iter()
            .try_for_each(|event| fold(event, &mut rooms))
            .and_then(|()| {
                rooms.values().try_for_each(|summary| {
                    trees.insert(ROOMS, summary.name.as_bytes(), &encode(summary)?)
                })
            });
        Some(folded.map_err(crate::projection::aborted))
    }
}

impl ChatReadModel {
    /// The message `event` sent, if it is a room's event.
    fn message(&self, event: &impl LogEvent) -> TxResult<Option<Message>> {
        if event.aggregate_type() != "Room" {
            return Ok(None);
        }
        let RoomEvent::MessageSent(sent) = event
            .decode(&self.upcasters)
            .map_err(|e| abort(ProjectionError::decode(event, e)))?;
        if sent.room.len() > MAX_ROOM_CHARS {
            return Err(abort(ProjectionError::Corrupt(format!(
                "room name too long at position {}",
                event.position()
            ))));
        }
        Ok(Some(Message {
            id: sent.id,
            room: sent.room,
            sender: sent.sender,
            content: sent.content,
            sent_at: sent.sent_at,
            mentions: sent.mentions,
        }))
    }

    fn fold<T: Trees + ?Sized>(
        &self,
        trees: &T,
        event: &impl LogEvent,
        changes: &mut Vec<Change>,
    ) -> TxResult<()> {
        let Some(message) = self.message(event)? else {
            return Ok(());
        };
        trees.insert(
            MESSAGES,
            &numbered_key(&message.room, message.id),
            &encode(&message)?,
        )?;
        let summary = RoomSummary::after(stored_summary(trees, &message)?, &message);
        trees.insert(ROOMS, summary.name.as_bytes(), &encode(&summary)?)?;
        changes.push(Change::Chat(ChatChange::MessageAdded(message)));
        changes.push(Change::Chat(ChatChange::RoomUpdated(summary)));
        Ok(())
    }
}

/// The stored summary of `message`'s room, if it has one.
fn stored_summary<T: Trees + ?Sized>(
    trees: &T,
    message: &Message,
) -> TxResult<Option<RoomSummary>> {
    match trees.get(ROOMS, message.room.as_bytes())? {
        Some(value) => Ok(Some(decode(&value).map_err(abort)?)),
        None => Ok(None),
    }
}

impl RoomSummary {
    /// A room's summary once `message` is in: `old` (none for a new room) updated.
    fn after(old: Option<RoomSummary>, message: &Message) -> RoomSummary {
        match old {
            Some(mut summary) => {
                summary.record(message);
                summary
            }
            None => RoomSummary {
                name: message.room.clone(),
                message_count: message.id,
                last_activity: message.sent_at,
            },
        }
    }

    fn record(&mut self, message: &Message) {
        self.message_count = self.message_count.max(message.id);
        self.last_activity = self.last_activity.max(message.sent_at);
    }
}
