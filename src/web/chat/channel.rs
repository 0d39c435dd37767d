//! The `chat:<room>` topic for outside programs (any Phoenix Channels client).
//!
//! Join reply: `{"messages": [the last 50]}`. Push: `message_sent` with the message. The client
//! may push `send_message` `{sender, content}`, answered ok `{id}` or error `{errors}`.

use std::time::Duration;

use async_trait::async_trait;
use cinder_domain::chat::{is_valid_room_name, RoomCommand, SendMessage};
use cinder_read_models::chat::{room_topic, ChatChange};
use cinder_read_models::Change;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::web::errors::command_reply;
use crate::web::socket::{reason, Channel, ChannelFactory, Joined, Push, SocketInfo};
use crate::web::AppState;

/// Messages in the join reply.
const JOIN_MESSAGES: usize = 50;

pub struct RoomChannels;

#[async_trait]
impl ChannelFactory for RoomChannels {
    fn accepts(&self, topic: &str) -> bool {
        topic.starts_with("chat:")
    }

    async fn join(
        &self,
        topic: &str,
        _payload: Value,
        socket: &SocketInfo,
    ) -> Result<Joined, Value> {
        let room = &topic["chat:".len()..];
        if !is_valid_room_name(room) {
            return Err(reason("room names are 1–64 characters of a-z, 0-9 and -"));
        }
        let app = &socket.app;
        let subscription = app.pubsub.subscribe(&room_topic(room));
        let messages = app
            .chat
            .messages(room, None, JOIN_MESSAGES)
            .map_err(|_| reason("could not read the room"))?;
        Ok(Joined {
            channel: Box::new(RoomChannel {
                app: app.clone(),
                room: room.to_owned(),
            }),
            reply: json!({ "messages": messages }),
            subscriptions: vec![subscription],
        })
    }
}

struct RoomChannel {
    app: AppState,
    room: String,
}

#[derive(Deserialize)]
struct SendPayload {
    #[serde(default)]
    sender: String,
    #[serde(default)]
    content: String,
}

#[async_trait]
impl Channel for RoomChannel {
    async fn handle_in(&mut self, event: &str, payload: Value) -> Result<Value, Value> {
        if event != "send_message" {
            return Err(reason(format!("unknown event {event:?}")));
        }
        let payload: SendPayload =
            serde_json::from_value(payload).map_err(|_| reason("expected {sender, content}"))?;
        let command = RoomCommand::SendMessage(SendMessage {
            room: self.room.clone(),
            sender: payload.sender,
            content: payload.content,
        });
        let committed = self
            .app
            .bus
            .rooms
            .execute(&self.room, command)
            .await
            .map_err(command_reply)?;
        if let Some(cursor) = committed.last() {
            self.app
                .progress
                .wait_for(cursor, Duration::from_secs(5))
                .await;
        }
        let id = super::message_id(&committed.events);
        Ok(json!({ "id": id }))
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Push> {
        match change {
            Change::Chat(ChatChange::MessageAdded(message)) if message.room == self.room => {
                vec![Push {
                    event: "message_sent",
                    payload: json!(message),
                }]
            }
            _ => Vec::new(),
        }
    }
}
