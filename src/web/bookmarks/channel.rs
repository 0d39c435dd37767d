//! `bookmarks:firehose` and `bookmarks:tag:<tag>` for outside programs: the join reply holds
//! the 50 newest public bookmarks, then each new one is pushed as `bookmark_created`.

use async_trait::async_trait;
use cinder_read_models::bookmarks::{tag_topic, BookmarkChange, PUBLIC_TOPIC};
use cinder_read_models::Change;
use serde_json::{json, Value};

use super::is_tag;
use crate::web::socket::{reason, Channel, ChannelFactory, Joined, Push, SocketInfo};

const JOIN_BOOKMARKS: usize = 50;

pub struct BookmarkChannels;

#[async_trait]
impl ChannelFactory for BookmarkChannels {
    fn accepts(&self, topic: &str) -> bool {
        topic == "bookmarks:firehose" || topic.starts_with("bookmarks:tag:")
    }

    async fn join(
        &self,
        topic: &str,
        _payload: Value,
        socket: &SocketInfo,
    ) -> Result<Joined, Value> {
        let app = &socket.app;
        let tag = topic.strip_prefix("bookmarks:tag:");
        if tag.is_some_and(|t| !is_tag(t)) {
            return Err(reason("tags are 1–32 of a-z, 0-9, +, #, . and -"));
        }
        let follows = tag.map_or_else(|| PUBLIC_TOPIC.to_owned(), tag_topic);
        let subscription = app.pubsub.subscribe(&follows);
        let bookmarks = match tag {
            Some(tag) => app.bookmarks.tagged(tag, None, JOIN_BOOKMARKS),
            None => app.bookmarks.firehose(None, JOIN_BOOKMARKS),
        }
        .map_err(|_| reason("could not read bookmarks"))?;
        let bookmarks: Vec<Value> = bookmarks.iter().map(|b| b.public_json()).collect();
        Ok(Joined {
            channel: Box::new(BookmarkFeed { follows }),
            reply: json!({ "bookmarks": bookmarks }),
            subscriptions: vec![subscription],
        })
    }
}

struct BookmarkFeed {
    follows: String,
}

#[async_trait]
impl Channel for BookmarkFeed {
    async fn handle_in(&mut self, event: &str, _payload: Value) -> Result<Value, Value> {
        Err(reason(format!("this feed is read-only (got {event:?})")))
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Push> {
        match change {
            Change::Bookmarks(BookmarkChange::Added { topic, bookmark })
                if *topic == self.follows && bookmark.public =>
            {
                vec![Push {
                    event: "bookmark_created",
                    payload: bookmark.public_json(),
                }]
            }
            _ => Vec::new(),
        }
    }
}
