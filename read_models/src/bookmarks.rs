//! Bookmark read models: the public firehose, tag feeds, each bookmark with its comments, each
//! owner's own list (private ones included), and uniform random picks.
//!
//! Public bookmarks get a dense number (1, 2, 3, … in commit order) in `bookmarks.public`: the
//! firehose is that tree read backwards, and a random pick is one lookup of a random number, no
//! scan. Private bookmarks never enter the public trees or topics.

use chrono::{DateTime, Utc};
use cinder_domain::bookmarks::BookmarkEvent;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sled::transaction::TransactionalTree;

use crate::codec::{abort, decode, encode, numbered_key, read_count};
use crate::projection::apply_each;
use crate::{
    Change, LogEvent, Projection, ProjectionError, RawEvent, StoredEvent, Trees, TxResult,
    WriteBuffer,
};

/// A bookmark as stored; `owner` never leaves the server (see [`Bookmark::public_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub url: String,
    pub description: String,
    pub public: bool,
    pub tags: Vec<String>,
    pub inserted_at: DateTime<Utc>,
    pub comment_count: u64,
    /// Its number among public bookmarks (none if private).
    pub public_seq: Option<u64>,
    /// Its number among all bookmarks, for owners' lists.
    pub seq: u64,
}

impl Bookmark {
    /// What API clients and channel subscribers see: `{id, title, description, url, public,
    /// tags, inserted_at}`.
    pub fn public(&self) -> PublicBookmark {
        PublicBookmark {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            url: self.url.clone(),
            public: self.public,
            tags: self.tags.clone(),
            inserted_at: self.inserted_at,
        }
    }

    /// [`Bookmark::public`] as JSON.
    pub fn public_json(&self) -> Value {
        serde_json::to_value(self.public()).unwrap_or_else(|_| json!({}))
    }

    /// Whether `viewer` (a session id) may see it.
    pub fn visible_to(&self, viewer: &str) -> bool {
        self.public || self.owner == viewer
    }
}

/// A bookmark as everyone may see it: no owner, no counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicBookmark {
    pub id: String,
    pub title: String,
    pub description: String,
    /// An absolute `http(s)` URL.
    pub url: String,
    pub public: bool,
    /// Lower-cased, at most 10.
    pub tags: Vec<String>,
    pub inserted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comment {
    pub bookmark_id: String,
    pub id: u64,
    pub author: String,
    pub content: String,
    pub inserted_at: DateTime<Utc>,
}

/// What the bookmarks projection changed. A new bookmark is announced once per topic that
/// should hear of it (the firehose, each tag, its owner), so each change has its own topic.
#[derive(Debug, Clone, PartialEq)]
pub enum BookmarkChange {
    Added { topic: String, bookmark: Bookmark },
    Commented(Comment),
}

impl BookmarkChange {
    pub fn topic(&self) -> String {
        match self {
            BookmarkChange::Added { topic, .. } => topic.clone(),
            BookmarkChange::Commented(comment) => comments_topic(&comment.bookmark_id),
        }
    }
}

impl From<BookmarkChange> for Change {
    /// The change, announced on its topic.
    fn from(change: BookmarkChange) -> Change {
        Change::new(change.topic(), change)
    }
}

/// Public bookmarks, newest first.
pub const PUBLIC_TOPIC: &str = "bookmarks/public";

pub fn tag_topic(tag: &str) -> String {
    format!("bookmarks/tag/{tag}")
}

pub fn owner_topic(owner: &str) -> String {
    format!("bookmarks/owner/{owner}")
}

pub fn comments_topic(bookmark_id: &str) -> String {
    format!("bookmarks/comments/{bookmark_id}")
}

const BY_ID: usize = 0;
const PUBLIC: usize = 1;
const TAGS: usize = 2;
const OWNERS: usize = 3;
const COMMENTS: usize = 4;
const COUNTERS: usize = 5;

const PUBLIC_COUNT: &[u8] = b"public";
const ALL_COUNT: &[u8] = b"all";

#[derive(Clone)]
pub struct BookmarksReadModel {
    by_id: sled::Tree,
    public: sled::Tree,
    tags: sled::Tree,
    owners: sled::Tree,
    comments: sled::Tree,
    counters: sled::Tree,
}

impl BookmarksReadModel {
    pub fn open(db: &sled::Db) -> Result<Self, ProjectionError> {
        Ok(Self {
            by_id: db.open_tree("bookmarks.by_id")?,
            public: db.open_tree("bookmarks.public")?,
            tags: db.open_tree("bookmarks.tags")?,
            owners: db.open_tree("bookmarks.owners")?,
            comments: db.open_tree("bookmarks.comments")?,
            counters: db.open_tree("bookmarks.counters")?,
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<Bookmark>, ProjectionError> {
        self.by_id
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Up to `limit` public bookmarks older than the bookmark `before` (newest first).
    pub fn firehose(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Bookmark>, ProjectionError> {
        self.firehose_before(before)?.take(limit).collect()
    }

    /// The public bookmarks older than the bookmark `before` (all if `None`), newest first,
    /// read as they are taken.
    pub fn firehose_before(
        &self,
        before: Option<&str>,
    ) -> Result<impl Iterator<Item = Result<Bookmark, ProjectionError>> + '_, ProjectionError> {
        let end = self.public_seq_of(before)?;
        let range = self.public.range(..end.to_be_bytes());
        Ok(self.resolve(range.rev()))
    }

    /// Up to `limit` public bookmarks tagged `tag`, older than `before`, newest first.
    pub fn tagged(
        &self,
        tag: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Bookmark>, ProjectionError> {
        self.tagged_before(tag, before)?.take(limit).collect()
    }

    /// The public bookmarks tagged `tag` older than `before`, newest first, read as taken.
    pub fn tagged_before(
        &self,
        tag: &str,
        before: Option<&str>,
    ) -> Result<impl Iterator<Item = Result<Bookmark, ProjectionError>> + '_, ProjectionError> {
        let end = self.public_seq_of(before)?;
        let range = self
            .tags
            .range(numbered_key(tag, 0)..numbered_key(tag, end));
        Ok(self.resolve(range.rev()))
    }

    /// The newest `limit` bookmarks of `owner`, private ones included.
    pub fn owned_by(&self, owner: &str, limit: usize) -> Result<Vec<Bookmark>, ProjectionError> {
        self.owned_before(owner, None)?.take(limit).collect()
    }

    /// The bookmarks of `owner` (private ones included) older than `owner`'s bookmark
    /// `before`, newest first, read as taken.
    pub fn owned_before(
        &self,
        owner: &str,
        before: Option<&str>,
    ) -> Result<impl Iterator<Item = Result<Bookmark, ProjectionError>> + '_, ProjectionError> {
        let end = match before {
            None => u64::MAX,
            Some(id) => self
                .get(id)?
                .filter(|b| b.owner == owner)
                .map_or(0, |b| b.seq),
        };
        let range = self
            .owners
            .range(numbered_key(owner, 0)..numbered_key(owner, end));
        Ok(self.resolve(range.rev()))
    }

    /// A public bookmark chosen by `pick` (any number; pass a random one): every public bookmark
    /// is equally likely, and it costs one lookup.
    pub fn random(&self, pick: u64) -> Result<Option<Bookmark>, ProjectionError> {
        let count = read_count(self.counters.get(PUBLIC_COUNT)?.as_deref());
        if count == 0 {
            return Ok(None);
        }
        let seq = pick % count + 1;
        match self.public.get(seq.to_be_bytes())? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// A bookmark's comments, oldest first.
    pub fn comments(&self, bookmark_id: &str) -> Result<Vec<Comment>, ProjectionError> {
        self.comments
            .range(numbered_key(bookmark_id, 0)..numbered_key(bookmark_id, u64::MAX))
            .map(|entry| decode(&entry?.1))
            .collect()
    }

    /// A bookmark's comments with ids below `before` (all if `None`), newest first, read as
    /// they are taken.
    pub fn comments_before(
        &self,
        bookmark_id: &str,
        before: Option<u64>,
    ) -> impl Iterator<Item = Result<Comment, ProjectionError>> {
        self.comments
            .range(
                numbered_key(bookmark_id, 0)..numbered_key(bookmark_id, before.unwrap_or(u64::MAX)),
            )
            .rev()
            .map(|entry| decode(&entry?.1))
    }

    /// The public number of bookmark `before`, as an exclusive upper bound (everything if none).
    fn public_seq_of(&self, before: Option<&str>) -> Result<u64, ProjectionError> {
        match before {
            None => Ok(u64::MAX),
            Some(id) => Ok(self.get(id)?.and_then(|b| b.public_seq).unwrap_or(0)),
        }
    }

    /// The bookmarks the ids of `entries` name (an index entry whose bookmark is missing is
    /// skipped).
    fn resolve<'a>(
        &'a self,
        entries: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + 'a,
    ) -> impl Iterator<Item = Result<Bookmark, ProjectionError>> + 'a {
        entries.filter_map(move |entry| match entry {
            Ok((_, id)) => self.get(&String::from_utf8_lossy(&id)).transpose(),
            Err(error) => Some(Err(error.into())),
        })
    }
}

impl Projection for BookmarksReadModel {
    fn name(&self) -> &'static str {
        "bookmarks"
    }

    fn version(&self) -> u32 {
        // 2: values stored in a compact binary form, no longer JSON. 3: in postcard's.
        3
    }

    fn trees(&self) -> Vec<sled::Tree> {
        vec![
            self.by_id.clone(),
            self.public.clone(),
            self.tags.clone(),
            self.owners.clone(),
            self.comments.clone(),
            self.counters.clone(),
        ]
    }

    fn apply(
        &self,
        trees: &[TransactionalTree],
        event: &StoredEvent,
        changes: &mut Vec<Change>,
    ) -> TxResult<()> {
        fold(trees, event, changes)
    }

    fn apply_buffered(
        &self,
        trees: &WriteBuffer,
        events: &[RawEvent],
    ) -> Option<Result<(), ProjectionError>> {
        Some(apply_each(trees, events, |trees, event, changes| {
            fold(trees, event, changes)
        }))
    }
}

fn fold<T: Trees + ?Sized>(
    trees: &T,
    event: &impl LogEvent,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    if event.aggregate_type() != "Bookmark" {
        return Ok(());
    }
    let decoded: BookmarkEvent = event
        .decode(&[])
        .map_err(|e| abort(ProjectionError::decode(event, e)))?;
    match decoded {
        BookmarkEvent::BookmarkAdded(added) => {
            if trees.get(BY_ID, added.id.as_bytes())?.is_some() {
                return Ok(());
            }
            let seq = bump(trees, ALL_COUNT)?;
            let public_seq = if added.public {
                Some(bump(trees, PUBLIC_COUNT)?)
            } else {
                None
            };
            let bookmark = Bookmark {
                id: added.id,
                owner: added.owner,
                title: added.title,
                url: added.url,
                description: added.description,
                public: added.public,
                tags: added.tags,
                inserted_at: added.inserted_at,
                comment_count: 0,
                public_seq,
                seq,
            };
            let id = bookmark.id.as_bytes();
            trees.insert(BY_ID, id, &encode(&bookmark)?)?;
            trees.insert(OWNERS, &numbered_key(&bookmark.owner, seq), id)?;
            if let Some(public_seq) = public_seq {
                trees.insert(PUBLIC, &public_seq.to_be_bytes(), id)?;
                for tag in &bookmark.tags {
                    trees.insert(TAGS, &numbered_key(tag, public_seq), id)?;
                }
                let mut topics = vec![PUBLIC_TOPIC.to_owned()];
                topics.extend(bookmark.tags.iter().map(|t| tag_topic(t)));
                for topic in topics {
                    changes.push(Change::from(BookmarkChange::Added {
                        topic,
                        bookmark: bookmark.clone(),
                    }));
                }
            }
            changes.push(Change::from(BookmarkChange::Added {
                topic: owner_topic(&bookmark.owner),
                bookmark,
            }));
        }
        BookmarkEvent::CommentAdded(added) => {
            let Some(value) = trees.get(BY_ID, added.bookmark_id.as_bytes())? else {
                return Err(abort(ProjectionError::Corrupt(format!(
                    "comment on unknown bookmark {} at position {}",
                    added.bookmark_id,
                    event.position()
                ))));
            };
            let mut bookmark: Bookmark = decode(&value).map_err(abort)?;
            let key = numbered_key(&added.bookmark_id, added.id);
            if trees.get(COMMENTS, &key)?.is_some() {
                return Ok(());
            }
            let comment = Comment {
                bookmark_id: added.bookmark_id,
                id: added.id,
                author: added.author,
                content: added.content,
                inserted_at: added.inserted_at,
            };
            trees.insert(COMMENTS, &key, &encode(&comment)?)?;
            bookmark.comment_count = bookmark.comment_count.max(comment.id);
            trees.insert(BY_ID, bookmark.id.as_bytes(), &encode(&bookmark)?)?;
            changes.push(Change::from(BookmarkChange::Commented(comment)));
        }
    }
    Ok(())
}

/// Adds one to counter `key` and returns the new value.
fn bump<T: Trees + ?Sized>(trees: &T, key: &[u8]) -> TxResult<u64> {
    let next = read_count(trees.get(COUNTERS, key)?.as_deref()) + 1;
    trees.insert(COUNTERS, key, &next.to_be_bytes())?;
    Ok(next)
}
