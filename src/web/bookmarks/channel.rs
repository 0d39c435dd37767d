//! `bookmarks:firehose` and `bookmarks:tag:<tag>` for outside programs: the join reply holds
//! the 50 newest public bookmarks (fewer if they would not fit in `CINDER_MAX_REPLY_BYTES`;
//! older ones are paged over HTTP), then each new one is pushed as `bookmark_created`.

use async_trait::async_trait;
use cinder_read_models::bookmarks::{tag_topic, BookmarkChange, BookmarksReadModel, PUBLIC_TOPIC};
use cinder_read_models::Change;
use serde_json::{json, Value};

use super::is_tag;
use crate::pubsub::RenderKey;
use crate::web::socket::{reason, Channel, ChannelFactory, Joined, Push, SocketInfo};

const JOIN_BOOKMARKS: usize = 50;

pub struct BookmarkChannels {
    pub bookmarks: BookmarksReadModel,
}

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
        // The 50 newest, or fewer if they would not fit in the reply.
        let budget = crate::web::paging::list_budget(app);
        let page = |found: Box<dyn Iterator<Item = _> + '_>| {
            crate::web::paging::serialized(
                found.map(|b: Result<cinder_read_models::bookmarks::Bookmark, _>| {
                    b.map(|b| b.public_json())
                }),
                JOIN_BOOKMARKS,
                budget,
            )
        };
        let bookmarks: Vec<Value> = match tag {
            Some(tag) => self
                .bookmarks
                .tagged_before(tag, None)
                .and_then(|found| page(Box::new(found))),
            None => self
                .bookmarks
                .firehose_before(None)
                .and_then(|found| page(Box::new(found))),
        }
        .map_err(|_| reason("could not read bookmarks"))?
        .items;
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

impl BookmarkFeed {
    fn handle(&self, change: &Change) -> Vec<Push> {
        match change.get::<BookmarkChange>() {
            Some(BookmarkChange::Added { topic, bookmark })
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

#[async_trait]
impl Channel for BookmarkFeed {
    async fn handle_in(&mut self, event: &str, _payload: Value) -> Result<Value, Value> {
        Err(reason(format!("this feed is read-only (got {event:?})")))
    }

    /// A new public bookmark is the same push for everyone following its feed: rendered once.
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        match change.get::<BookmarkChange>() {
            Some(BookmarkChange::Added { topic, bookmark })
                if *topic == self.follows && bookmark.public =>
            {
                Some(RenderKey::new("bookmarks:bookmark_created", 0))
            }
            _ => None,
        }
    }

    fn render_shared(&self, change: &Change) -> Vec<Push> {
        self.handle(change)
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Push> {
        self.handle(change)
    }
}
