//! Chat read models: the messages of each room, and the directory of rooms.
//!
//! `chat.messages` keeps a room's messages sixteen to a key ([`crate::chunk`]: messages 0–15
//! under `room ++ 0x00 ++ 0 (u64 big-endian)`, 16–31 under `… 1`), so one room's messages are
//! one contiguous, id-ordered range, and a rebuild inserts a sixteenth as many keys.
//! `chat.rooms` maps a room name to its summary, and `chat.rooms_by_activity` maps `last activity
//! (µs, big-endian) ++ name` to it, so the directory is read most recently active first, a page
//! at a time, without sorting it all.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cinder_domain::chat::{upcasters, RoomEvent, MAX_ROOM_CHARS};
use cqrs_es::persist::EventUpcaster;
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::codec::{abort, decode, encode};
use crate::{
    chunk, Change, LogEvent, Projection, ProjectionError, RawEvent, StoredEvent, Trees, TxResult,
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

/// A message as `chat.messages` stores it: its time as seconds and nanoseconds, not the text
/// that chrono's serde writes (formatting that text, and parsing it back, took a tenth of a
/// rebuild's fold). Fields in [`Message`]'s order.
#[derive(Serialize, Deserialize)]
struct StoredMessage<'a> {
    id: u64,
    room: Cow<'a, str>,
    sender: Cow<'a, str>,
    content: Cow<'a, str>,
    sent_at: (i64, u32),
    mentions: Cow<'a, [String]>,
}

impl<'a> From<&'a Message> for StoredMessage<'a> {
    fn from(message: &'a Message) -> Self {
        Self {
            id: message.id,
            room: Cow::Borrowed(&message.room),
            sender: Cow::Borrowed(&message.sender),
            content: Cow::Borrowed(&message.content),
            sent_at: (
                message.sent_at.timestamp(),
                message.sent_at.timestamp_subsec_nanos(),
            ),
            mentions: Cow::Borrowed(&message.mentions),
        }
    }
}

impl StoredMessage<'_> {
    fn into_message(self) -> Result<Message, ProjectionError> {
        let (secs, nanos) = self.sent_at;
        let sent_at = DateTime::from_timestamp(secs, nanos).ok_or_else(|| {
            ProjectionError::Corrupt(format!("message {} has no time: {secs}.{nanos}", self.id))
        })?;
        Ok(Message {
            id: self.id,
            room: self.room.into_owned(),
            sender: self.sender.into_owned(),
            content: self.content.into_owned(),
            sent_at,
            mentions: self.mentions.into_owned(),
        })
    }
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
        let below = before.unwrap_or(u64::MAX);
        self.messages
            .range(chunk::keys_below(room, below))
            .rev()
            .flat_map(move |entry| match entry {
                Ok((_, chunk)) => newest_first(&chunk, below),
                Err(error) => vec![Err(error.into())],
            })
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
        // JSON. 4: in postcard's. 5: messages sixteen to a key, their times as numbers.
        5
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
            add_message(trees, &message)?;
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
        add_message(trees, &message)?;
        let stored = stored_summary(trees, &message)?;
        let summary = RoomSummary::after(stored.clone(), &message);
        store_summary(trees, stored.as_ref(), &summary)?;
        changes.push(Change::from(ChatChange::MessageAdded(message)));
        changes.push(Change::from(ChatChange::RoomUpdated(summary)));
        Ok(())
    }
}

/// Writes `message` into its room's chunk of messages.
fn add_message<T: Trees + ?Sized>(trees: &T, message: &Message) -> TxResult<()> {
    let key = chunk::key(&message.room, message.id);
    let stored = trees.get(MESSAGES, &key)?;
    let chunk = chunk::with(
        stored.as_deref(),
        message.id,
        &encode(&StoredMessage::from(message))?,
    )
    .map_err(abort)?;
    trees.insert(MESSAGES, &key, &chunk)
}

/// The messages of `chunk` with ids below `below`, newest first.
fn newest_first(chunk: &[u8], below: u64) -> Vec<Result<Message, ProjectionError>> {
    let mut messages: Vec<_> = chunk::entries(chunk)
        .filter(|entry| entry.as_ref().map_or(true, |&(id, _)| id < below))
        .map(|entry| decode::<StoredMessage>(entry?.1)?.into_message())
        .collect();
    messages.reverse();
    messages
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

    #[test]
    fn a_message_reads_back_as_it_was_sent_to_the_nanosecond() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let chat = ChatReadModel::open(&db).unwrap();
        let mut events = Vec::new();
        for (id, at) in [
            (1, "2026-03-01T12:00:00.123456789Z"),
            (2, "1969-07-20T20:17:40.5Z"),
        ] {
            let mut event = sent(id, "moon", id as u64, 0);
            event.payload["MessageSent"]["sent_at"] = at.into();
            event.payload["MessageSent"]["mentions"] = serde_json::json!(["bob"]);
            events.push(event);
        }
        crate::fold(&chat, &events).unwrap();
        let read: Vec<String> = chat
            .messages("moon", None, 10)
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m.mentions, ["bob"]);
                m.sent_at
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            })
            .collect();
        assert_eq!(
            read,
            ["2026-03-01T12:00:00.123456789Z", "1969-07-20T20:17:40.500Z"]
        );
    }

    #[test]
    fn a_room_pages_back_through_every_message_once_across_chunks() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let chat = ChatReadModel::open(&db).unwrap();
        // Ids 1..=40 over three chunks, sent out of order, beside a room whose name extends
        // this one's, and a message sent twice (the later one is kept).
        let mut events = Vec::new();
        for id in (1..=40).rev() {
            events.push(sent(events.len() as i64 + 1, "a", id, id as i64));
            events.push(sent(events.len() as i64 + 1, "ab", id, id as i64));
        }
        let mut again = sent(events.len() as i64 + 1, "a", 17, 0);
        again.payload["MessageSent"]["content"] = "edited".into();
        events.push(again);
        crate::fold(&chat, &events).unwrap();

        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = chat.messages("a", before, 7).unwrap();
            let Some(first) = page.first() else { break };
            before = Some(first.id);
            let ids: Vec<u64> = page.iter().map(|m| m.id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
            assert!(page.iter().all(|m| m.room == "a"));
            seen.splice(0..0, ids);
        }
        assert_eq!(seen, (1..=40).collect::<Vec<_>>());
        let page = chat.messages("a", Some(18), 1).unwrap();
        assert_eq!(page[0].content, "edited");
        assert_eq!(chat.messages("a", Some(0), 10).unwrap(), []);
        assert_eq!(chat.messages("a", Some(1), 10).unwrap(), []);
        assert_eq!(chat.messages("nobody", None, 10).unwrap(), []);
    }
}
