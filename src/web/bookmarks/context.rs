//! Bookmarks' commands, one function each: what the pages' live views, their form posts, the
//! JSON API all call. Each runs its command (the bookmark aggregate decides) and waits for
//! read-your-writes once (see [`Context::execute`]); callers only say the outcome in their own
//! terms (a patch, a redirect, a status).

use cinder_domain::bookmarks::{
    AddBookmark, Bookmark, BookmarkCommand, BookmarkError, BookmarkEvent, CommentOnBookmark,
};

use crate::bus::CommandError;
use crate::web::context::Context;

/// What a command wrote: the id of what it made, and the global position of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done<Id> {
    pub id: Id,
    pub position: Option<i64>,
}

/// Adds `bookmark`; once this returns, this node's read models show it.
pub async fn add_bookmark(
    ctx: &Context,
    bookmark: AddBookmark,
) -> Result<Done<String>, CommandError<BookmarkError>> {
    let id = bookmark.id.clone();
    let committed = ctx
        .execute::<Bookmark>(&id, BookmarkCommand::AddBookmark(bookmark))
        .await?;
    Ok(Done {
        id,
        position: committed.position(),
    })
}

/// Adds `comment` under bookmark `bookmark_id`; once this returns, this node's read models
/// show it. The id is the comment's number under its bookmark.
pub async fn comment_on_bookmark(
    ctx: &Context,
    bookmark_id: &str,
    comment: CommentOnBookmark,
) -> Result<Done<Option<u64>>, CommandError<BookmarkError>> {
    let committed = ctx
        .execute::<Bookmark>(bookmark_id, BookmarkCommand::CommentOnBookmark(comment))
        .await?;
    let id = committed.events.iter().find_map(|event| match event {
        BookmarkEvent::CommentAdded(added) => Some(added.id),
        BookmarkEvent::BookmarkAdded(_) => None,
    });
    Ok(Done {
        id,
        position: committed.position(),
    })
}
