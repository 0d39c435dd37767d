//! Chat's commands, one function each: what the room page's live view, its form post, the JSON
//! API and the `chat:<room>` channel all call. Each validates (the room aggregate decides),
//! executes and waits for read-your-writes once (see [`Context::execute`]); callers only say the
//! outcome in their own terms (a patch, a redirect, a status, a reply).

use cinder_domain::chat::{ChatError, Room, RoomCommand, RoomEvent, SendMessage};

use crate::bus::CommandError;
use crate::web::context::Context;

/// A message that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The message's id in its room.
    pub id: Option<u64>,
    /// The global log position of its event.
    pub position: Option<i64>,
}

/// Sends `message` to its room; once this returns, this node's read models show it.
pub async fn send_message(
    ctx: &Context,
    message: SendMessage,
) -> Result<Sent, CommandError<ChatError>> {
    let room = message.room.clone();
    let committed = ctx
        .execute::<Room>(&room, RoomCommand::SendMessage(message))
        .await?;
    Ok(Sent {
        id: message_id(&committed.events),
        position: committed.position(),
    })
}

/// The id of the message a `SendMessage` committed.
fn message_id(events: &[RoomEvent]) -> Option<u64> {
    events
        .iter()
        .map(|event| match event {
            RoomEvent::MessageSent(sent) => sent.id,
        })
        .next()
}
