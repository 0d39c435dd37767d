//! A bookmark "as of" an event, for the explorer: rebuilt in a throwaway read model from its
//! events up to the chosen one, shown as its card and the discussion as it stood.

use cinder_domain::StoredEvent;
use cinder_read_models::bookmarks::BookmarksReadModel;
use cinder_read_models::ProjectionError;
use maud::{html, Markup};

use super::views::{bookmark_item, comment_item, comment_list};
use crate::web::events::{scratch_db, AsOf};

/// An empty "as of" view of bookmark `id`.
pub fn new(id: &str) -> Result<Box<dyn AsOf>, ProjectionError> {
    let db = scratch_db()?;
    Ok(Box::new(BookmarkAsOf {
        bookmarks: BookmarksReadModel::open(&db)?,
        id: id.to_owned(),
        _db: db,
    }))
}

struct BookmarkAsOf {
    bookmarks: BookmarksReadModel,
    id: String,
    _db: sled::Db,
}

impl AsOf for BookmarkAsOf {
    fn fold(&self, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        cinder_read_models::fold(&self.bookmarks, events)
    }

    /// The card, and the latest comments that fit in `budget`, oldest first, with a note when
    /// the discussion held more.
    fn render(&self, budget: usize) -> Result<Markup, ProjectionError> {
        let Some(bookmark) = self.bookmarks.get(&self.id)? else {
            return Ok(html! { p.muted { "Nothing yet." } });
        };
        let card = bookmark_item(&bookmark);
        let mut bytes = card.0.len();
        let mut items = Vec::new();
        let mut total = 0;
        let mut full = false;
        for comment in self.bookmarks.comments_before(&self.id, None) {
            total += 1;
            if full {
                continue;
            }
            let item = comment_item(&comment?);
            if bytes + item.0.len() > budget {
                full = true;
                continue;
            }
            bytes += item.0.len();
            items.push(item);
        }
        items.reverse();
        Ok(html! {
            ol.bookmarks { (card) }
            h2 { "Discussion" }
            @if items.len() < total {
                p.muted.as-of-note { "The last " (items.len()) " of " (total) " comments." }
            }
            (comment_list(&items))
        })
    }
}
