//! Chat read models: the messages of each room, and the directory of rooms.
//!
//! `chat.messages` maps `room ++ 0x00 ++ id (u64 big-endian)` to a message, so one room's
//! messages are one contiguous, id-ordered range. `chat.rooms` maps a room name to its summary,
//! and `chat.rooms_by_activity` maps `last activity (µs, big-endian) ++ name` to it, so the
//! directory is read most recently active first, a page at a time, without sorting it all.

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: u64,
    pub room: String,
    pub sender: String,
    pub content: String,
    pub sent_at: DateTime<Utc>,
    /// Names @mentioned, lower-cased (absent when none).
    #[serde(default)]
    pub mentions: Vec<String>,
}

/// A line of the room directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

impl From<ChatChange> for Change {
    /// The change, announced on its topic.
    fn from(change: ChatChange) -> Change {
        Change::new(change.topic(), change)
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
const BY_ACTIVITY: usize = 2;

/// Where a page of the room directory continues: the last room shown, by its place in the
/// directory (its last activity then its name). Written `<µs since 1970>.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomCursor {
    pub micros: u64,
    pub name: String,
}

impl RoomCursor {
    /// The place of `summary` in the directory.
    pub fn of(summary: &RoomSummary) -> Self {
        Self {
            micros: u64::try_from(summary.last_activity.timestamp_micros()).unwrap_or(0),
            name: summary.name.clone(),
        }
    }

    /// `<µs>.<name>`, as [`RoomCursor`]'s `Display` writes it.
    pub fn parse(text: &str) -> Option<Self> {
        let (micros, name) = text.split_once('.')?;
        let micros = micros.parse().ok()?;
        if name.is_empty() || name.len() > MAX_ROOM_CHARS || name.contains('.') {
            return None;
        }
        Some(Self {
            micros,
            name: name.to_owned(),
        })
    }

    fn key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(8 + self.name.len());
        key.extend_from_slice(&self.micros.to_be_bytes());
        key.extend_from_slice(self.name.as_bytes());
        key
    }
}

impl std::fmt::Display for RoomCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.micros, self.name)
    }
}

/// The chat projection and its queries.
#[derive(Clone)]
pub struct ChatReadModel {
    messages: sled::Tree,
    rooms: sled::Tree,
    by_activity: sled::Tree,
    upcasters: std::sync::Arc<Vec<Box<dyn EventUpcaster>>>,
}

impl ChatReadModel {
    pub fn open(db: &sled::Db) -> Result<Self, ProjectionError> {
        Ok(Self {
            messages: db.open_tree("chat.messages")?,
            rooms: db.open_tree("chat.rooms")?,
            by_activity: db.open_tree("chat.rooms_by_activity")?,
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
        let mut newest_first = Vec::with_capacity(limit.min(1024));
        for message in self.newest_before(room, before).take(limit) {
            newest_first.push(message?);
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    /// The messages of `room` with ids below `before` (all if `None`), newest first, read as
    /// they are taken: a caller that stops early (a page full) reads no more.
    pub fn newest_before(
        &self,
        room: &str,
        before: Option<u64>,
    ) -> impl Iterator<Item = Result<Message, ProjectionError>> {
        let start = numbered_key(room, 0);
        let end = numbered_key(room, before.unwrap_or(u64::MAX));
        self.messages
            .range(start..end)
            .rev()
            .map(|entry| decode::<Message>(&entry?.1))
    }

    /// Every room, most recently active first.
    pub fn rooms(&self) -> Result<Vec<RoomSummary>, ProjectionError> {
        self.rooms_after(None).collect()
    }

    /// The rooms after `cursor` in the directory (from the top if `None`), most recently
    /// active first, read as they are taken.
    pub fn rooms_after(
        &self,
        cursor: Option<&RoomCursor>,
    ) -> impl Iterator<Item = Result<RoomSummary, ProjectionError>> {
        let end = cursor.map(RoomCursor::key);
        let range = match end {
            Some(end) => self.by_activity.range(..end),
            None => self.by_activity.iter(),
        };
        range.rev().map(|entry| decode::<RoomSummary>(&entry?.1))
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
        // 2: the directory by activity. 3: values stored in a compact binary form, no longer
        // JSON. 4: in postcard's.
        4
    }

    fn trees(&self) -> Vec<sled::Tree> {
        vec![
            self.messages.clone(),
            self.rooms.clone(),
            self.by_activity.clone(),
        ]
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
        // Each room's summary once per batch, however many messages it got, with the stored
        // one it replaces (whose directory entry goes).
        type Folded = (Option<RoomSummary>, RoomSummary);
        let mut rooms: HashMap<String, Folded> = HashMap::new();
        let fold = |event: &RawEvent, rooms: &mut HashMap<String, Folded>| {
            let Some(message) = self.message(event)? else {
                return Ok(());
            };
            trees.insert(
                MESSAGES,
                &numbered_key(&message.room, message.id),
                &encode(&message)?,
            )?;
            match rooms.get_mut(message.room.as_str()) {
                Some((_, summary)) => summary.record(&message),
                None => {
                    let stored = stored_summary(trees, &message)?;
                    let summary = RoomSummary::after(stored.clone(), &message);
                    rooms.insert(message.room, (stored, summary));
                }
            }
            Ok(())
        };
        let folded = events
            .iter()
            .try_for_each(|event| fold(event, &mut rooms))
            .and_then(|()| {
                rooms.values().try_for_each(|(stored, summary)| {
                    store_summary(trees, stored.as_ref(), summary)
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
        let stored = stored_summary(trees, &message)?;
        let summary = RoomSummary::after(stored.clone(), &message);
        store_summary(trees, stored.as_ref(), &summary)?;
        changes.push(Change::from(ChatChange::MessageAdded(message)));
        changes.push(Change::from(ChatChange::RoomUpdated(summary)));
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

/// Writes `summary` over `stored` (none for a new room), in the directory and its index by
/// activity.
fn store_summary<T: Trees + ?Sized>(
    trees: &T,
    stored: Option<&RoomSummary>,
    summary: &RoomSummary,
) -> TxResult<()> {
    let value = encode(summary)?;
    trees.insert(ROOMS, summary.name.as_bytes(), &value)?;
    let key = RoomCursor::of(summary).key();
    if let Some(stored) = stored {
        let old = RoomCursor::of(stored).key();
        if old != key {
            trees.remove(BY_ACTIVITY, &old)?;
        }
    }
    trees.insert(BY_ACTIVITY, &key, &value)
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cinder_domain::chat::MessageSent;
    use cqrs_es::DomainEvent;

    use super::*;

    fn sent(position: i64, room: &str, id: u64, second: i64) -> StoredEvent {
        let event = RoomEvent::MessageSent(MessageSent {
            id,
            room: room.into(),
            sender: "ada".into(),
            content: format!("message {id}"),
            sent_at: Utc.timestamp_opt(1_767_225_600 + second, 0).unwrap(),
            mentions: vec![],
        });
        StoredEvent {
            position,
            tx: position as u64,
            aggregate_type: "Room".into(),
            aggregate_id: room.into(),
            sequence: id as i64,
            event_type: event.event_type(),
            event_version: event.event_version(),
            payload: serde_json::to_value(&event).unwrap(),
            metadata: serde_json::json!({}),
            recorded_at: Utc::now(),
        }
    }

    fn names(rooms: impl Iterator<Item = Result<RoomSummary, ProjectionError>>) -> Vec<String> {
        rooms.map(|room| room.unwrap().name).collect()
    }

    #[test]
    fn the_directory_pages_most_recently_active_first_and_keeps_one_entry_per_room() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let chat = ChatReadModel::open(&db).unwrap();
        let events = [
            sent(1, "a", 1, 10),
            sent(2, "b", 1, 20),
            sent(3, "c", 1, 30),
            // `a` becomes the most recent; a message stamped earlier moves nothing.
            sent(4, "a", 2, 40),
            sent(5, "b", 2, 5),
        ];
        crate::fold(&chat, &events).unwrap();
        assert_eq!(names(chat.rooms_after(None)), ["a", "c", "b"]);
        let first = chat.rooms_after(None).next().unwrap().unwrap();
        let cursor = RoomCursor::parse(&RoomCursor::of(&first).to_string()).unwrap();
        assert_eq!(names(chat.rooms_after(Some(&cursor))), ["c", "b"]);
        assert_eq!(chat.rooms().unwrap().len(), 3);
        assert_eq!(RoomCursor::parse("12"), None);
        assert_eq!(RoomCursor::parse("x.lobby"), None);
    }
}
