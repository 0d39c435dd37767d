//! Chat: each room is an aggregate, and sending a message is its one command.
//!
//! The room remembers only what its rules need: how many messages it holds (to number the next
//! one) and the messages of the last minute (for the rate limit and the duplicate check). Its
//! state stays small however long the history grows.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::recent::Recent;
use crate::{fingerprint, Clock, Rejection};

/// Longest sender name, in characters.
pub const MAX_SENDER_CHARS: usize = 32;
/// Longest message, in characters, after trimming.
pub const MAX_CONTENT_CHARS: usize = 2000;
/// Messages one sender may send to one room per [`RATE_WINDOW`].
pub const MAX_MESSAGES_PER_WINDOW: usize = 10;
/// The window of the rate limit.
pub const RATE_WINDOW: Duration = Duration::seconds(60);
/// The same content from the same sender within this long is a duplicate.
pub const DUPLICATE_WINDOW: Duration = Duration::seconds(5);
/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;

/// Whether `name` is a valid room name: 1–64 of `a-z`, `0-9` and `-`.
pub fn is_valid_room_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ROOM_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A display name as chat keeps it (trimmed), or why it cannot be one: 1–32 characters, no
/// control characters. Names reach the log and the presence shared by every node, so the name
/// form and a channel's join check them with this too.
pub fn check_sender(name: &str) -> Result<&str, ChatError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_SENDER_CHARS {
        return Err(ChatError::InvalidSender);
    }
    if crate::has_control(name, false) {
        return Err(ChatError::ControlInSender);
    }
    Ok(name)
}

/// A message's content as the room keeps it (trimmed), or why it cannot be one: 1–2000
/// characters, no control characters but line breaks and tabs.
pub fn check_content(content: &str) -> Result<&str, ChatError> {
    let content = content.trim();
    if crate::has_control(content, true) {
        return Err(ChatError::ControlInContent);
    }
    if content.is_empty() {
        return Err(ChatError::EmptyContent);
    }
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(ChatError::ContentTooLong);
    }
    Ok(content)
}

/// Every rule of a message that needs no room to check, one refusal per field (room, sender,
/// content): what a form shows as it is filled in, and a command broken in several fields is
/// refused with all of them ([`ChatError::Several`]).
pub fn message_problems(command: &SendMessage) -> Vec<ChatError> {
    let mut problems = Vec::new();
    if !is_valid_room_name(&command.room) {
        problems.push(ChatError::InvalidRoom);
    }
    if let Err(problem) = check_sender(&command.sender) {
        problems.push(problem);
    }
    if let Err(problem) = check_content(&command.content) {
        problems.push(problem);
    }
    problems
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomCommand {
    SendMessage(SendMessage),
}

/// Post `content` to `room` as `sender`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    pub room: String,
    pub sender: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomEvent {
    MessageSent(MessageSent),
}

/// A message was posted. `id` numbers the room's messages from 1, in order.
///
/// Version 2.0 added `mentions`, the names the message @mentions. Version 1.0 events are still
/// in the log as they were written: [`upcasters`] derives their mentions when they are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSent {
    pub id: u64,
    pub room: String,
    pub sender: String,
    pub content: String,
    pub sent_at: DateTime<Utc>,
    pub mentions: Vec<String>,
}

/// The current version of `MessageSent`.
pub const MESSAGE_SENT_VERSION: &str = "2.0.0";

/// The names `@mentioned` in `content` (letters, digits, `_` and `-`), lower-cased, each once,
/// in order of first mention.
pub fn mentions(content: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (at, _) in content.match_indices('@') {
        let name: String = content[at + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .flat_map(char::to_lowercase)
            .collect();
        if !name.is_empty() && !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

/// Reads older versions of the room's events as the current ones.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(SemanticVersionEventUpcaster::new(
        "MessageSent",
        MESSAGE_SENT_VERSION,
        Box::new(add_mentions),
    ))]
}

/// MessageSent 1.x → 2.0: derive `mentions` from the content, as the aggregate now does.
fn add_mentions(mut payload: Value) -> Value {
    if let Some(sent) = payload
        .get_mut("MessageSent")
        .and_then(Value::as_object_mut)
    {
        let content = sent
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let found = mentions(content);
        sent.insert("mentions".into(), json!(found));
    }
    payload
}

impl DomainEvent for RoomEvent {
    fn event_type(&self) -> String {
        match self {
            RoomEvent::MessageSent(_) => "MessageSent".into(),
        }
    }

    fn event_version(&self) -> String {
        match self {
            RoomEvent::MessageSent(_) => MESSAGE_SENT_VERSION.into(),
        }
    }
}

/// Why a message was refused. Each says, in words a person can act on, what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("room names are 1–64 characters of a-z, 0-9 and -")]
    InvalidRoom,
    #[error("the room in the message is not this room")]
    WrongRoom,
    #[error("your name must be 1–32 characters")]
    InvalidSender,
    #[error("your name can't contain control characters")]
    ControlInSender,
    #[error("a message can't contain control characters (other than line breaks and tabs)")]
    ControlInContent,
    #[error("a message can't be empty")]
    EmptyContent,
    #[error("a message can be at most 2000 characters")]
    ContentTooLong,
    #[error("slow down: at most 10 messages a minute in one room")]
    RateLimited,
    #[error("you just sent that message")]
    Duplicate,
    /// More than one field broken at once: each of them.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<ChatError>),
}

impl Rejection for ChatError {
    fn field(&self) -> &'static str {
        match self {
            ChatError::InvalidRoom | ChatError::WrongRoom => "room",
            ChatError::InvalidSender | ChatError::ControlInSender => "sender",
            ChatError::ControlInContent
            | ChatError::EmptyContent
            | ChatError::ContentTooLong
            | ChatError::RateLimited
            | ChatError::Duplicate => "content",
            ChatError::Several(problems) => problems.first().map_or("content", |p| p.field()),
        }
    }

    fn errors(&self) -> Vec<(&'static str, String)> {
        match self {
            ChatError::Several(problems) => problems.iter().flat_map(|p| p.errors()).collect(),
            other => vec![(other.field(), other.to_string())],
        }
    }
}

/// What the room's rules need from its services.
#[derive(Debug, Clone, Default)]
pub struct RoomServices {
    pub clock: Clock,
}

/// A message of the last minute, as much of it as the rate limit and the duplicate check need:
/// fingerprints of who sent it and what they wrote. The bus copies a room's state for every
/// command (the copy becomes the room only if the command commits), and a busy room holds
/// thousands of these, so they are small, and kept in a [`Recent`] whose copy shares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct RecentMessage {
    sender: u64,
    content: u64,
    sent_at: DateTime<Utc>,
}

/// A chat room.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Messages sent so far; the next message's id is one more.
    messages: u64,
    /// Messages of the last [`RATE_WINDOW`], oldest first.
    recent: Recent<RecentMessage>,
}

impl Room {
    /// How many messages the room holds.
    pub fn message_count(&self) -> u64 {
        self.messages
    }

    fn check(&self, command: &SendMessage, now: DateTime<Utc>) -> Result<MessageSent, ChatError> {
        let mut problems = message_problems(command);
        match problems.len() {
            0 => {}
            1 => return Err(problems.remove(0)),
            _ => return Err(ChatError::Several(problems)),
        }
        let sender = check_sender(&command.sender)?;
        let content = check_content(&command.content)?;
        let (who, what) = (fingerprint(sender), fingerprint(content));
        let mine = || self.recent.iter().filter(|m| m.sender == who);
        if mine().any(|m| m.content == what && now - m.sent_at < DUPLICATE_WINDOW) {
            return Err(ChatError::Duplicate);
        }
        if mine().filter(|m| now - m.sent_at < RATE_WINDOW).count() >= MAX_MESSAGES_PER_WINDOW {
            return Err(ChatError::RateLimited);
        }
        Ok(MessageSent {
            id: self.messages + 1,
            room: command.room.clone(),
            sender: sender.to_owned(),
            content: content.to_owned(),
            sent_at: now,
            mentions: mentions(content),
        })
    }
}

impl Aggregate for Room {
    const TYPE: &'static str = "Room";
    type Command = RoomCommand;
    type Event = RoomEvent;
    type Error = ChatError;
    type Services = RoomServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            RoomCommand::SendMessage(command) => {
                let sent = self.check(&command, services.clock.now())?;
                sink.write(RoomEvent::MessageSent(sent), self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            RoomEvent::MessageSent(sent) => {
                self.messages = self.messages.max(sent.id);
                let horizon = sent.sent_at - RATE_WINDOW;
                self.recent.drop_while(|m| m.sent_at <= horizon);
                self.recent.push(RecentMessage {
                    sender: fingerprint(&sent.sender),
                    content: fingerprint(&sent.content),
                    sent_at: sent.sent_at,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn at(seconds: i64) -> RoomServices {
        RoomServices {
            clock: Clock::fixed(t0() + Duration::seconds(seconds)),
        }
    }

    fn send(sender: &str, content: &str) -> RoomCommand {
        RoomCommand::SendMessage(SendMessage {
            room: "lobby".into(),
            sender: sender.into(),
            content: content.into(),
        })
    }

    fn sent(id: u64, sender: &str, content: &str, seconds: i64) -> RoomEvent {
        RoomEvent::MessageSent(MessageSent {
            id,
            room: "lobby".into(),
            sender: sender.into(),
            content: content.into(),
            sent_at: t0() + Duration::seconds(seconds),
            mentions: mentions(content),
        })
    }

    #[test]
    fn a_message_broken_in_several_fields_names_each() {
        let error = ChatError::Several(vec![ChatError::InvalidSender, ChatError::EmptyContent]);
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send(" ", "  "))
            .then_expect_error(error.clone());
        assert_eq!(
            error.errors(),
            vec![
                ("sender", "your name must be 1–32 characters".to_owned()),
                ("content", "a message can't be empty".to_owned()),
            ]
        );
    }

    #[test]
    fn first_message_is_number_one_and_trimmed() {
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send("  ada ", "  hello  "))
            .then_expect_events(vec![sent(1, "ada", "hello", 0)]);
    }

    #[test]
    fn ids_continue_from_history() {
        TestFramework::<Room>::with(at(10))
            .given(vec![sent(1, "ada", "a", 0), sent(2, "bob", "b", 1)])
            .when(send("ada", "c"))
            .then_expect_events(vec![sent(3, "ada", "c", 10)]);
    }

    #[test]
    fn sender_must_be_1_to_32_characters() {
        for bad in ["", "   ", &"x".repeat(33)] {
            TestFramework::<Room>::with(at(0))
                .given_no_previous_events()
                .when(send(bad, "hi"))
                .then_expect_error(ChatError::InvalidSender);
        }
        let longest = "é".repeat(32);
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send(&longest, "hi"))
            .then_expect_events(vec![sent(1, &longest, "hi", 0)]);
    }

    #[test]
    fn content_must_be_1_to_2000_characters_after_trimming() {
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send("ada", " \n\t "))
            .then_expect_error_message("a message can't be empty");
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send("ada", &"x".repeat(2001)))
            .then_expect_error(ChatError::ContentTooLong);
        let longest = format!("  {}  ", "ü".repeat(2000));
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send("ada", &longest))
            .then_expect_events(vec![sent(1, "ada", &"ü".repeat(2000), 0)]);
    }

    #[test]
    fn names_and_messages_refuse_control_characters_but_messages_keep_line_breaks() {
        for name in ["evil\0", "bell\u{7}", "two\nlines"] {
            TestFramework::<Room>::with(at(0))
                .given_no_previous_events()
                .when(send(name, "hi"))
                .then_expect_error(ChatError::ControlInSender);
        }
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send("ada", "nul\0here"))
            .then_expect_error(ChatError::ControlInContent);
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send("ada", "line one\r\n\tline two"))
            .then_expect_events(vec![sent(1, "ada", "line one\r\n\tline two", 0)]);
        assert_eq!(check_sender("  ada "), Ok("ada"));
        assert_eq!(check_sender("ada\0"), Err(ChatError::ControlInSender));
    }

    #[test]
    fn room_name_must_be_lowercase_letters_digits_and_dashes() {
        for bad in ["", "Lobby", "a b", "a/b", &"a".repeat(65)] {
            let command = RoomCommand::SendMessage(SendMessage {
                room: bad.into(),
                sender: "ada".into(),
                content: "hi".into(),
            });
            TestFramework::<Room>::with(at(0))
                .given_no_previous_events()
                .when(command)
                .then_expect_error(ChatError::InvalidRoom);
        }
        assert!(is_valid_room_name("rust-2026"));
        assert!(is_valid_room_name(&"a".repeat(64)));
    }

    #[test]
    fn same_content_from_same_sender_within_5_seconds_is_a_duplicate() {
        TestFramework::<Room>::with(at(4))
            .given(vec![sent(1, "ada", "hello", 0)])
            .when(send("ada", " hello "))
            .then_expect_error(ChatError::Duplicate);
        TestFramework::<Room>::with(at(5))
            .given(vec![sent(1, "ada", "hello", 0)])
            .when(send("ada", "hello"))
            .then_expect_events(vec![sent(2, "ada", "hello", 5)]);
        TestFramework::<Room>::with(at(1))
            .given(vec![sent(1, "ada", "hello", 0)])
            .when(send("bob", "hello"))
            .then_expect_events(vec![sent(2, "bob", "hello", 1)]);
    }

    #[test]
    fn at_most_10_messages_per_sender_per_minute() {
        let ten: Vec<_> = (0..10)
            .map(|i| sent(i + 1, "ada", &format!("m{i}"), i as i64))
            .collect();
        TestFramework::<Room>::with(at(30))
            .given(ten.clone())
            .when(send("ada", "one more"))
            .then_expect_error_message("slow down: at most 10 messages a minute in one room");
        // Another sender is not limited by ada's messages.
        TestFramework::<Room>::with(at(30))
            .given(ten.clone())
            .when(send("bob", "hi"))
            .then_expect_events(vec![sent(11, "bob", "hi", 30)]);
        // A minute after the first, one slot is free again.
        TestFramework::<Room>::with(at(60))
            .given(ten)
            .when(send("ada", "again"))
            .then_expect_events(vec![sent(11, "ada", "again", 60)]);
    }

    #[test]
    fn old_messages_are_forgotten_so_state_stays_small() {
        let mut room = Room::default();
        for i in 0..1000u64 {
            room.apply(sent(i + 1, "ada", "x", i as i64 * 10));
        }
        assert_eq!(room.message_count(), 1000);
        assert!(room.recent.len() <= 6, "kept {}", room.recent.len());
    }

    #[test]
    fn mentions_are_found_once_each_and_lower_cased() {
        assert_eq!(
            mentions("hi @Ada and @bob-2, @ada again"),
            vec!["ada", "bob-2"]
        );
        assert_eq!(mentions("mail me at a@ b@c"), vec!["c"]);
        assert!(mentions("no one").is_empty());
        TestFramework::<Room>::with(at(0))
            .given_no_previous_events()
            .when(send("bob", "ping @Ada"))
            .then_expect_events(vec![sent(1, "bob", "ping @Ada", 0)]);
    }

    #[test]
    fn version_1_payloads_are_upcast_to_the_current_shape() {
        use cqrs_es::persist::SerializedEvent;
        let stored = SerializedEvent::new(
            "lobby".into(),
            1,
            "Room".into(),
            "MessageSent".into(),
            "1.0".into(),
            json!({"MessageSent": {
                "id": 1, "room": "lobby", "sender": "bob",
                "content": "hello @Ada", "sent_at": "2026-01-01T00:00:00Z"
            }}),
            json!({}),
        );
        let upcaster = &upcasters()[0];
        assert!(upcaster.can_upcast("MessageSent", "1.0"));
        assert!(!upcaster.can_upcast("MessageSent", "2.0.0"));
        let current = upcaster.upcast(stored);
        assert_eq!(current.event_version, "2.0.0");
        let RoomEvent::MessageSent(sent) = serde_json::from_value(current.payload).unwrap();
        assert_eq!(sent.mentions, vec!["ada"]);
        assert_eq!(sent.content, "hello @Ada");
    }

    #[test]
    fn every_refusal_names_a_field() {
        assert_eq!(ChatError::InvalidSender.field(), "sender");
        assert_eq!(ChatError::RateLimited.field(), "content");
        assert_eq!(ChatError::InvalidRoom.field(), "room");
    }
}
