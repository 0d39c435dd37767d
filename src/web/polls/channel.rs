//! `polls:<id>` for outside programs (any Phoenix Channels client): the join reply is
//! `{"poll": {id, question, options, counts, total, closed, created_at}}`, then each counted
//! vote is pushed as `vote_counted` and the closing as `poll_closed`, both
//! `{poll_id, counts, total}`. An unknown poll is an error reply. The topic is read-only: votes
//! are a visitor's, cast from their page or with their session over HTTP.

use async_trait::async_trait;
use cinder_domain::polls::is_id;
use cinder_read_models::polls::{poll_topic, PollChange, PollsReadModel, PublicPoll};
use cinder_read_models::Change;
use serde_json::{json, Value};

use crate::pubsub::RenderKey;
use crate::web::socket::{reason, Channel, ChannelFactory, Joined, Push, SocketInfo};

pub struct PollChannels {
    pub polls: PollsReadModel,
}

#[async_trait]
impl ChannelFactory for PollChannels {
    fn accepts(&self, topic: &str) -> bool {
        topic.starts_with("polls:")
    }

    async fn join(
        &self,
        topic: &str,
        _payload: Value,
        socket: &SocketInfo,
    ) -> Result<Joined, Value> {
        let id = &topic["polls:".len()..];
        if !is_id(id) {
            return Err(reason("no such poll: poll ids are 16 of 0-9 and a-f"));
        }
        // Subscribed before the poll is read, so no vote falls between the reply and the first
        // push.
        let subscription = socket.app.pubsub.subscribe(&poll_topic(id));
        let poll = match self.polls.get(id) {
            Ok(Some(view)) => view.poll,
            Ok(None) => return Err(reason("no such poll")),
            Err(_) => return Err(reason("could not read the poll")),
        };
        Ok(Joined {
            channel: Box::new(PollChannel {
                polls: self.polls.clone(),
                id: id.to_owned(),
            }),
            reply: json!({ "poll": poll }),
            subscriptions: vec![subscription],
        })
    }
}

struct PollChannel {
    polls: PollsReadModel,
    id: String,
}

#[async_trait]
impl Channel for PollChannel {
    async fn handle_in(&mut self, event: &str, _payload: Value) -> Result<Value, Value> {
        Err(reason(format!("this topic is read-only (got {event:?})")))
    }

    /// New counts are the same push for everyone following the poll: rendered once.
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        match change.get::<PollChange>() {
            Some(PollChange::Updated(poll)) if poll.id == self.id => {
                Some(RenderKey::new("polls:counts", 0))
            }
            _ => None,
        }
    }

    fn render_shared(&self, change: &Change) -> Vec<Push> {
        match change.get::<PollChange>() {
            Some(PollChange::Updated(poll)) => vec![counts(poll)],
            _ => Vec::new(),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Push> {
        match change.get::<PollChange>() {
            Some(PollChange::Updated(poll)) if poll.id == self.id => vec![counts(poll)],
            _ => Vec::new(),
        }
    }

    /// Changes were missed: the counts as they are now.
    fn resync(&mut self) -> Vec<Push> {
        match self.polls.get(&self.id) {
            Ok(Some(view)) => vec![counts(&view.poll)],
            Ok(None) => Vec::new(),
            Err(error) => {
                tracing::warn!(%error, "polls: could not read the poll to resync");
                Vec::new()
            }
        }
    }
}

/// `vote_counted` or, once the poll is closed, `poll_closed`, with the counts.
fn counts(poll: &PublicPoll) -> Push {
    Push {
        event: if poll.closed {
            "poll_closed"
        } else {
            "vote_counted"
        },
        payload: json!({ "poll_id": poll.id, "counts": poll.counts, "total": poll.total }),
    }
}
