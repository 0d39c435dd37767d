//! The `chat:<room>` topic for outside programs (any Phoenix Channels client).
//!
//! Join with `{"name": "<display name>"}` to be present in the room (without a name the client
//! only watches). Join reply: `{"messages": [the last 50]}` (fewer if they would not fit in
//! `CINDER_MAX_REPLY_BYTES`; older ones are paged over HTTP); then the room's presence as
//! `presence_state` and `presence_diff` (the Phoenix Presence shapes, keyed by name, metas
//! `{phx_ref, name, online_at}`). Push: `message_sent` with the message. The client may push
//! `send_message` `{sender, content}`, answered ok `{id}` or error `{errors}`.

use async_trait::async_trait;
use cinder_domain::chat::{check_sender, is_valid_room_name, SendMessage, MAX_SENDER_CHARS};
use cinder_read_models::chat::{room_topic, ChatChange};
use cinder_read_models::Change;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::presence::{pubsub_topic, PresenceChanged, Shown, Tracked};
use crate::pubsub::RenderKey;
use crate::web::context::Context;
use crate::web::errors::command_reply;
use crate::web::socket::{
    reason, Channel, ChannelFactory, Joined, Push, Pusher, SocketInfo, Stalled,
};
use crate::web::AppState;
use cinder_read_models::chat::ChatReadModel;

/// Messages in the join reply.
const JOIN_MESSAGES: usize = 50;

pub struct RoomChannels {
    pub chat: ChatReadModel,
}

#[async_trait]
impl ChannelFactory for RoomChannels {
    fn accepts(&self, topic: &str) -> bool {
        topic.starts_with("chat:")
    }

    async fn join(
        &self,
        topic: &str,
        payload: Value,
        socket: &SocketInfo,
    ) -> Result<Joined, Value> {
        let room = &topic["chat:".len()..];
        if !is_valid_room_name(room) {
            return Err(reason("room names are 1–64 characters of a-z, 0-9 and -"));
        }
        let name = match payload.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(
                check_sender(name)
                    .map_err(|refusal| reason(refusal.to_string()))?
                    .to_owned(),
            ),
            Some(_) => return Err(reason(format!("a name is 1–{MAX_SENDER_CHARS} characters"))),
        };
        let app = &socket.app;
        let subscription = app.pubsub.subscribe(&room_topic(room));
        let presence = app.pubsub.subscribe(&pubsub_topic(topic));
        // The latest 50, or fewer if they would not fit in the reply.
        let mut messages = crate::web::paging::serialized(
            self.chat.newest_before(room, None),
            JOIN_MESSAGES,
            crate::web::paging::list_budget(app),
        )
        .map_err(|_| reason("could not read the room"))?
        .items;
        messages.reverse();
        let present = name.map(|name| {
            app.presence.track(
                topic,
                &name,
                json!({ "name": name, "online_at": chrono::Utc::now().timestamp() }),
            )
        });
        Ok(Joined {
            channel: Box::new(RoomChannel {
                app: app.clone(),
                room: room.to_owned(),
                topic: topic.to_owned(),
                shown: Shown::default(),
                _present: present,
            }),
            reply: json!({ "messages": messages }),
            subscriptions: vec![subscription, presence],
        })
    }
}

struct RoomChannel {
    app: AppState,
    room: String,
    topic: String,
    /// The room's presence as last pushed to this client.
    shown: Shown,
    /// This client in the room's presence, while the channel lives.
    _present: Option<Tracked>,
}

impl RoomChannel {
    fn presence_state(&mut self) -> Push {
        let entries = self.app.presence.list(&self.topic);
        Push {
            event: "presence_state",
            payload: self.shown.state(&entries),
        }
    }
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
        let message = SendMessage {
            room: self.room.clone(),
            sender: payload.sender,
            content: payload.content,
        };
        let sent = super::context::send_message(&Context::new(&self.app), message)
            .await
            .map_err(command_reply)?;
        Ok(json!({ "id": sent.id }))
    }

    /// A new message is the same push for every member of the room: rendered once.
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        match change.get::<ChatChange>() {
            Some(ChatChange::MessageAdded(message)) if message.room == self.room => {
                Some(RenderKey::new("chat:message_sent", 0))
            }
            _ => None,
        }
    }

    fn render_shared(&self, change: &Change) -> Vec<Push> {
        match change.get::<ChatChange>() {
            Some(ChatChange::MessageAdded(message)) => vec![Push {
                event: "message_sent",
                payload: json!(message),
            }],
            _ => Vec::new(),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Push> {
        match change.get::<PresenceChanged>() {
            Some(PresenceChanged { topic }) if *topic == self.topic => {
                let entries = self.app.presence.list(&self.topic);
                match self.shown.diff(&entries) {
                    Some(diff) => vec![Push {
                        event: "presence_diff",
                        payload: diff,
                    }],
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// After the join reply, and whenever changes were missed: the whole presence state (the
    /// JS `Presence` helper works out the joins and leaves from it).
    async fn catch_up(&mut self, pusher: &Pusher, _missed: bool) -> Result<(), Stalled> {
        let state = self.presence_state();
        pusher.push(state).await
    }
}
