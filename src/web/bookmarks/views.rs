//! The bookmarks live views and their markup.

use async_trait::async_trait;
use cinder_domain::bookmarks::{
    check_new, comment_problems, AddBookmark, CommentOnBookmark, TagsInput,
};
use cinder_read_models::bookmarks::{
    comments_topic, owner_topic, tag_topic, Bookmark, BookmarkChange, Comment, PUBLIC_TOPIC,
};
use cinder_read_models::Change;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::context::{add_bookmark, comment_on_bookmark};
use crate::web::context::Context;
use crate::web::errors::{command_reply, field_errors};
use crate::web::forms::{error_id, error_slot};
use crate::web::live::{LiveView, Outcome, Patch, Run, ShownRun, ViewError, field};
use crate::web::local_time::{time, Shown};
use crate::web::paging::{self, list_budget};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::bookmarks::BookmarksReadModel;

/// Bookmarks a feed shows per page, at most (fewer if they would not fit in
/// `CINDER_MAX_REPLY_BYTES`).
pub const FEED: usize = 50;
/// Comments a discussion shows per page, at most (fewer if they would not fit).
pub const COMMENTS_PAGE: usize = 50;

/// The id prefix of the items of the list `#list`: the visitor's own list ("Yours") shows
/// bookmarks that are also in "Latest", and an id names one element per page.
fn item_prefix(list: &str) -> &'static str {
    match list {
        MINE => "mine",
        _ => "bookmark",
    }
}

/// The id of the visitor's own list on the firehose.
const MINE: &str = "my-bookmarks";

/// A page of `bookmarks` (newest first) within `bytes`: the list `#id`, and `#id-more` with a
/// link to the next page (`more_href` of the last bookmark shown) if there is one.
fn bookmark_page(
    bookmarks: impl Iterator<Item = Result<Bookmark, cinder_read_models::ProjectionError>>,
    bytes: usize,
    id: &str,
    more_href: impl Fn(&str) -> String,
) -> Result<(Markup, Markup), ViewError> {
    let prefix = item_prefix(id);
    let page = paging::rendered(bookmarks, FEED, bytes, |b| bookmark_item_as(b, prefix))?;
    let next = page
        .more
        .then(|| {
            page.items
                .last()
                .map(|(bookmark, _)| more_href(&bookmark.id))
        })
        .flatten();
    let list = html! {
        ol.bookmarks id=(id) { @for (_, item) in &page.items { (item) } }
    };
    let more = html! {
        div id={ (id) "-more" } {
            @if let Some(href) = next { p.more { a href=(href) { "Older bookmarks" } } }
        }
    };
    Ok((list, more))
}

/// A form's checkbox: present (any value but "false") means checked.
fn checked(value: &Value, name: &str) -> bool {
    value
        .get(name)
        .and_then(Value::as_str)
        .is_some_and(|v| v != "false")
}

/// The `AddBookmark` a visitor's form asks for.
pub fn new_bookmark(session: &Session, form: &Value) -> AddBookmark {
    AddBookmark {
        id: cinder_domain::bookmarks::new_id(rand::random()),
        owner: session.id.clone(),
        title: field(form, "title"),
        url: field(form, "url"),
        description: field(form, "description"),
        public: Some(checked(form, "public")),
        tags: TagsInput::Text(field(form, "tags")),
    }
}

/// What the add form's fields break: the rules `AddBookmark` is refused by.
fn add_problems(session: &Session, form: &Value) -> Value {
    match check_new(new_bookmark(session, form), chrono::Utc::now()) {
        Ok(_) => json!({}),
        Err(error) => field_errors(&[error]),
    }
}

/// Adds a bookmark from a page's form (the firehose and tag pages share it).
async fn add_from_page(app: &AppState, session: &Session, form: &Value) -> Result<Outcome, Value> {
    let ctx = Context::for_visitor(app, session);
    add_bookmark(&ctx, new_bookmark(session, form))
        .await
        .map_err(command_reply)?;
    // The reply comes once this node shows the bookmark, so its patch arrives first.
    Ok(Outcome::default())
}

/// `/bookmarks`: the add form, the public firehose, and the visitor's own bookmarks, each a
/// page at a time (the first pages are live).
pub struct FirehoseView {
    app: AppState,
    bookmarks: BookmarksReadModel,
    session: Session,
    /// Show the public bookmarks older than this one (paging without JavaScript).
    before: Option<String>,
    /// Show the visitor's bookmarks older than this one.
    mine_before: Option<String>,
}

impl FirehoseView {
    pub fn new(app: AppState, bookmarks: BookmarksReadModel, session: Session) -> Self {
        Self {
            app,
            bookmarks,
            session,
            before: None,
            mine_before: None,
        }
    }

    /// The pages older than `before` (public) and `mine_before` (the visitor's own).
    pub fn before(mut self, before: Option<String>, mine_before: Option<String>) -> Self {
        self.before = before;
        self.mine_before = mine_before;
        self
    }

    /// Each list with its "older" link; the two share the page's budget.
    fn lists(&self) -> Result<[(Markup, Markup); 2], ViewError> {
        let bytes = list_budget(&self.app) / 2;
        let mine_before = self.mine_before.clone();
        let public = bookmark_page(
            self.bookmarks.firehose_before(self.before.as_deref())?,
            bytes,
            "bookmarks",
            |id| match &mine_before {
                Some(mine) => format!("/bookmarks?before={id}&mine_before={mine}"),
                None => format!("/bookmarks?before={id}"),
            },
        )?;
        let before = self.before.clone();
        let mine = bookmark_page(
            self.bookmarks
                .owned_before(&self.session.id, self.mine_before.as_deref())?,
            bytes,
            MINE,
            |id| match &before {
                Some(public) => format!("/bookmarks?before={public}&mine_before={id}"),
                None => format!("/bookmarks?mine_before={id}"),
            },
        )?;
        Ok([public, mine])
    }
}

#[async_trait]
impl LiveView for FirehoseView {
    fn title(&self) -> String {
        "Bookmarks".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let [(public, public_more), (mine, mine_more)] = self.lists()?;
        Ok(html! {
            div.page-head {
                h1 { "Bookmarks" }
                p.lead { "Links worth reading, shared as they are added. "
                    a href="/bookmarks/random" { "Discover a random one" } }
            }
            div.bookmarks-page {
                section.add-bookmark.card aria-labelledby="add-heading" {
                    h2 #add-heading { "Add a bookmark" }
                    (add_form(&self.app, &self.session, "", "/bookmarks"))
                }
                section.latest aria-labelledby="latest-heading" {
                    h2 #latest-heading { "Latest" }
                    (public)
                    (public_more)
                }
                section.yours aria-labelledby="yours-heading" {
                    h2 #yours-heading { "Yours" }
                    (mine)
                    (mine_more)
                }
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        let [(public, public_more), (mine, mine_more)] = self.lists()?;
        Ok(vec![
            Patch::replace("bookmarks", public),
            Patch::replace("bookmarks-more", public_more),
            Patch::replace(MINE, mine),
            Patch::replace(format!("{MINE}-more"), mine_more),
        ])
    }

    /// Both lists grow only by the bookmarks added, which are in the log.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        vec![PUBLIC_TOPIC.to_owned(), owner_topic(&self.session.id)]
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        match event {
            "add_bookmark" => add_from_page(&self.app, &self.session, &value).await,
            _ => Err(json!({"reason": format!("unknown event {event:?}")})),
        }
    }

    fn flash(&self, event: &str, _value: &Value) -> Option<String> {
        (event == "add_bookmark").then(|| "Bookmark added".to_owned())
    }

    fn validate(&self, event: &str, value: &Value) -> Value {
        match event {
            "add_bookmark" => add_problems(&self.session, value),
            _ => json!({}),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change.get::<BookmarkChange>() {
            Some(BookmarkChange::Added { topic, bookmark }) if topic == PUBLIC_TOPIC => {
                vec![Patch::prepend(
                    "bookmarks",
                    bookmark_item(bookmark),
                    Some(FEED),
                )]
            }
            Some(BookmarkChange::Added { topic, bookmark })
                if *topic == owner_topic(&self.session.id) =>
            {
                vec![Patch::prepend(
                    MINE,
                    bookmark_item_as(bookmark, item_prefix(MINE)),
                    Some(FEED),
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// `/bookmarks/tags/<tag>`: public bookmarks with one tag, and the add form.
pub struct TagView {
    app: AppState,
    bookmarks: BookmarksReadModel,
    session: Session,
    tag: String,
    /// Show the bookmarks older than this one (paging without JavaScript).
    before: Option<String>,
}

impl TagView {
    pub fn new(app: AppState, bookmarks: BookmarksReadModel, session: Session, tag: &str) -> Self {
        Self {
            app,
            bookmarks,
            session,
            tag: tag.to_owned(),
            before: None,
        }
    }

    /// The page older than the bookmark `before`.
    pub fn before(mut self, before: Option<String>) -> Self {
        self.before = before;
        self
    }

    fn list(&self) -> Result<(Markup, Markup), ViewError> {
        let tag = &self.tag;
        bookmark_page(
            self.bookmarks
                .tagged_before(tag, self.before.as_deref())?,
            list_budget(&self.app),
            "bookmarks",
            |id| format!("/bookmarks/tags/{tag}?before={id}"),
        )
    }
}

#[async_trait]
impl LiveView for TagView {
    fn title(&self) -> String {
        format!("Bookmarks tagged {}", self.tag)
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let (list, more) = self.list()?;
        Ok(html! {
            div.page-head {
                h1 { "Tagged " span.tag { (self.tag) } }
                p.lead { a href="/bookmarks" { "All bookmarks" } }
            }
            div.bookmarks-page {
                section.add-bookmark.card aria-labelledby="add-heading" {
                    h2 #add-heading { "Add a bookmark" }
                    (add_form(&self.app, &self.session, &self.tag, &format!("/bookmarks/tags/{}", self.tag)))
                }
                section.latest {
                    (list)
                    (more)
                }
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        let (list, more) = self.list()?;
        Ok(vec![
            Patch::replace("bookmarks", list),
            Patch::replace("bookmarks-more", more),
        ])
    }

    /// The list grows only by the bookmarks added with the tag, which are in the log.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        vec![tag_topic(&self.tag)]
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        match event {
            "add_bookmark" => add_from_page(&self.app, &self.session, &value).await,
            _ => Err(json!({"reason": format!("unknown event {event:?}")})),
        }
    }

    fn flash(&self, event: &str, _value: &Value) -> Option<String> {
        (event == "add_bookmark").then(|| "Bookmark added".to_owned())
    }

    fn validate(&self, event: &str, value: &Value) -> Value {
        match event {
            "add_bookmark" => add_problems(&self.session, value),
            _ => json!({}),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change.get::<BookmarkChange>() {
            Some(BookmarkChange::Added { topic, bookmark }) if *topic == tag_topic(&self.tag) => {
                vec![Patch::prepend(
                    "bookmarks",
                    bookmark_item(bookmark),
                    Some(FEED),
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// `/bookmarks/random`: one public bookmark, picked uniformly, and "another".
pub struct RandomView {
    bookmarks: BookmarksReadModel,
}

impl RandomView {
    pub fn new(bookmarks: BookmarksReadModel) -> Self {
        Self { bookmarks }
    }

    fn pick(&self) -> Result<Markup, ViewError> {
        let bookmark = self.bookmarks.random(rand::random())?;
        Ok(html! {
            div #random {
                @match &bookmark {
                    Some(bookmark) => ol.bookmarks { (bookmark_item(bookmark)) },
                    None => p.muted { "No public bookmarks yet." },
                }
            }
        })
    }
}

#[async_trait]
impl LiveView for RandomView {
    fn title(&self) -> String {
        "A random bookmark".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        Ok(html! {
            div.page-head {
                h1 { "Discover" }
                p.lead { "One public bookmark, picked at random. " a href="/bookmarks" { "All bookmarks" } }
            }
            div.narrow {
                (self.pick()?)
                form.actions method="get" action="/bookmarks/random" {
                    button type="submit" data-cinder-click="another" { "Another" }
                }
                p data-cinder-flash role="alert" {}
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        Ok(vec![Patch::replace("random", self.pick()?)])
    }

    /// Nothing here changes with the log (a bookmark is never edited or removed), so a page
    /// that reconnects keeps the bookmark it shows instead of being dealt another.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        Vec::new()
    }

    async fn handle_event(&mut self, event: &str, _value: Value) -> Result<Outcome, Value> {
        match event {
            "another" => Ok(Outcome {
                patches: vec![Patch::replace(
                    "random",
                    self.pick().map_err(|e| json!({"reason": e.to_string()}))?,
                )],
                committed: None,
            }),
            _ => Err(json!({"reason": format!("unknown event {event:?}")})),
        }
    }

    fn handle_change(&mut self, _change: &Change) -> Vec<Patch> {
        Vec::new()
    }
}

/// `/bookmarks/<id>`: one bookmark and its discussion, live: the latest page of comments, with
/// "older comments".
pub struct BookmarkView {
    app: AppState,
    bookmarks: BookmarksReadModel,
    session: Session,
    id: String,
    /// Show the comments before this id instead of the latest (paging without JavaScript).
    before: Option<u64>,
    /// The comments the page shows, as the page keeps them (set by `regions` too, which takes
    /// `&self`).
    shown: std::sync::Mutex<ShownRun>,
}

impl BookmarkView {
    pub fn new(app: AppState, bookmarks: BookmarksReadModel, session: Session, id: &str) -> Self {
        Self {
            app,
            bookmarks,
            session,
            id: id.to_owned(),
            before: None,
            shown: std::sync::Mutex::new(ShownRun::page(None, COMMENTS_PAGE)),
        }
    }

    /// The page of comments before `id`, for "older comments" without JavaScript.
    pub fn before(mut self, id: Option<u64>) -> Self {
        self.before = id;
        self
    }

    /// The bookmark, if this visitor may see it.
    fn visible(&self) -> Result<Bookmark, ViewError> {
        self.bookmarks
            .get(&self.id)?
            .filter(|b| b.visible_to(&self.session.id))
            .ok_or(ViewError::NotFound)
    }

    /// What the page shows of the discussion.
    fn shown(&self) -> ShownRun {
        *self.shown.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest page of comments within the reply budget, rendered, oldest first, noted as
    /// what the page shows.
    fn latest(&self) -> Result<Vec<Markup>, cinder_read_models::ProjectionError> {
        let (items, run) = self.page_before(None)?;
        *self.shown.lock().unwrap_or_else(|p| p.into_inner()) = ShownRun::page(run, COMMENTS_PAGE);
        Ok(items)
    }

    /// A page of comments before `before` (the latest if `None`) within the reply budget,
    /// rendered, oldest first, and the ids of its oldest and newest.
    fn page_before(
        &self,
        before: Option<u64>,
    ) -> Result<(Vec<Markup>, Option<Run>), cinder_read_models::ProjectionError> {
        let page = paging::rendered(
            self.bookmarks.comments_before(&self.id, before),
            COMMENTS_PAGE,
            list_budget(&self.app),
            comment_item,
        )?;
        let run = page
            .items
            .last()
            .zip(page.items.first())
            .map(|((oldest, _), (newest, _))| (oldest.id, newest.id));
        Ok((
            page.items.into_iter().rev().map(|(_, html)| html).collect(),
            run,
        ))
    }

    /// "Older comments" (a plain GET without JavaScript), continuing before `older_than`.
    fn older_control(&self, older_than: Option<u64>) -> Markup {
        html! {
            div #older-comments {
                @if let Some(oldest) = older_than {
                    form method="get" action={ "/bookmarks/" (self.id) } {
                        button.link type="submit" name="before" value=(oldest)
                            data-cinder-click="older_comments" { "Older comments" }
                    }
                }
            }
        }
    }
}

#[async_trait]
impl LiveView for BookmarkView {
    fn title(&self) -> String {
        "Bookmark".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let bookmark = self.visible()?;
        let (comments, run) = self.page_before(self.before)?;
        let older_than = ShownRun::page(run, COMMENTS_PAGE).older_than();
        let csrf = self.app.signer.csrf_token(&self.session);
        Ok(html! {
            p.crumbs { a href="/bookmarks" { "Bookmarks" } }
            div.narrow {
                ol.bookmarks { (bookmark_item(&bookmark)) }
                h2 { "Discussion" }
                (self.older_control(older_than))
                (comment_list(&comments))
                form.card.stacked id=(COMMENT_FORM) method="post" action={ "/bookmarks/" (self.id) "/comments" }
                    data-cinder-submit="comment" data-cinder-validate data-cinder-keep {
                    input type="hidden" name="_csrf" value=(csrf);
                    div.field {
                        label for="comment-author" { "Your name" }
                        input #comment-author type="text" name="author" maxlength="32" required
                            autocomplete="nickname" aria-describedby=(error_id(COMMENT_FORM, "author"))
                            value=(self.session.name.as_deref().unwrap_or_default());
                        (error_slot(COMMENT_FORM, "author"))
                    }
                    div.field {
                        label for="comment-content" { "Comment" }
                        textarea #comment-content name="content" maxlength="2000" required rows="3"
                            aria-describedby=(error_id(COMMENT_FORM, "content"))
                            placeholder="Say something" data-cinder-clear {}
                        (error_slot(COMMENT_FORM, "content"))
                    }
                    div.actions {
                        button type="submit" { "Comment" }
                    }
                    p.error data-cinder-error role="alert" {}
                }
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        self.visible()?;
        // The latest page, whatever was shown before: the view's paging starts again with it.
        let comments = self.latest()?;
        Ok(vec![
            Patch::replace("older-comments", self.older_control(self.shown().older_than())),
            Patch::replace("comments", comment_list(&comments)),
        ])
    }

    /// The bookmark never changes and the discussion grows only by the comments, which are in
    /// the log; "older comments" is sent whole after comments were replayed, since they may
    /// have pushed the page's oldest out, which the view (joined with the latest page) cannot
    /// tell from a page that had nothing older. (Only for a visitor who may see it, as
    /// `regions`.)
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        let shown = self.shown();
        Some(self.visible().map(|_| {
            shown
                .appended_any()
                .then(|| Patch::replace("older-comments", self.older_control(shown.older_than())))
                .into_iter()
                .collect()
        }))
    }

    fn topics(&self) -> Vec<String> {
        vec![comments_topic(&self.id)]
    }

    fn joined(&mut self) {
        // The page shows the latest comments (with those it missed, replayed or sent whole).
        self.before = None;
        if let Err(error) = self.latest() {
            tracing::warn!(%error, "discussion could not read its latest page");
        }
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        match event {
            "comment" => {
                let comment = CommentOnBookmark {
                    by: self.session.id.clone(),
                    author: field(&value, "author"),
                    content: field(&value, "content"),
                };
                let ctx = Context::for_visitor(&self.app, &self.session);
                comment_on_bookmark(&ctx, &self.id, comment)
                    .await
                    .map_err(command_reply)?;
                Ok(Outcome::default())
            }
            "older_comments" => {
                if self.visible().is_err() {
                    return Err(json!({"reason": "no such bookmark"}));
                }
                let before = self
                    .shown()
                    .older_than_or(&field(&value, "value"))
                    .ok_or_else(|| json!({"reason": "bad comment id"}))?;
                let (older, run) = self
                    .page_before(Some(before))
                    .map_err(|_| json!({"reason": "could not load comments"}))?;
                let shown = self.shown.get_mut().unwrap_or_else(|p| p.into_inner());
                if let Some((oldest, _)) = run {
                    shown.loaded(oldest, older.len());
                }
                let older_than = shown.older_than();
                let items = html! { @for item in &older { (item) } };
                Ok(Outcome {
                    patches: vec![
                        Patch::prepend("comments", items, None),
                        Patch::replace("older-comments", self.older_control(older_than)),
                    ],
                    committed: None,
                })
            }
            _ => Err(json!({"reason": format!("unknown event {event:?}")})),
        }
    }

    fn flash(&self, event: &str, _value: &Value) -> Option<String> {
        (event == "comment").then(|| "Comment posted".to_owned())
    }

    fn validate(&self, event: &str, value: &Value) -> Value {
        match event {
            "comment" => field_errors(&comment_problems(
                &field(value, "author"),
                &field(value, "content"),
            )),
            _ => json!({}),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change.get::<BookmarkChange>() {
            Some(BookmarkChange::Commented(comment)) if comment.bookmark_id == self.id => {
                let shown = self.shown.get_mut().unwrap_or_else(|p| p.into_inner());
                let revealed = shown.appended(comment.id);
                let (limit, older_than) = (shown.limit(), shown.older_than());
                let mut patches = vec![Patch::append(
                    "comments",
                    comment_item(comment),
                    Some(limit),
                )];
                if revealed {
                    patches.push(Patch::replace(
                        "older-comments",
                        self.older_control(older_than),
                    ));
                }
                patches
            }
            _ => Vec::new(),
        }
    }
}

/// The id of the add form.
const ADD_FORM: &str = "bookmark-form";
/// The id of a discussion's comment form.
const COMMENT_FORM: &str = "comment-form";

/// The add form; `tags` prefills the tags field, `back` is where a plain post returns.
fn add_form(app: &AppState, session: &Session, tags: &str, back: &str) -> Markup {
    html! {
        form.stacked id=(ADD_FORM) method="post" action="/bookmarks" data-cinder-submit="add_bookmark"
            data-cinder-validate {
            input type="hidden" name="_csrf" value=(app.signer.csrf_token(session));
            input type="hidden" name="back" value=(back);
            div.field {
                label for="bookmark-title" { "Title" }
                input #bookmark-title type="text" name="title" maxlength="200" autocomplete="off"
                    aria-describedby=(error_id(ADD_FORM, "title"));
                (error_slot(ADD_FORM, "title"))
            }
            div.field {
                label for="bookmark-url" { "URL" }
                input #bookmark-url type="url" name="url" placeholder="https://…" autocomplete="off"
                    aria-describedby=(error_id(ADD_FORM, "url"));
                (error_slot(ADD_FORM, "url"))
            }
            div.field {
                label for="bookmark-description" { "Why it's worth reading " span.optional { "(optional)" } }
                textarea #bookmark-description name="description" maxlength="2000" rows="3"
                    aria-describedby=(error_id(ADD_FORM, "description")) {}
                (error_slot(ADD_FORM, "description"))
            }
            div.field {
                label for="bookmark-tags" { "Tags " span.optional { "(comma separated)" } }
                input #bookmark-tags type="text" name="tags" value=(tags) placeholder="rust, cli" autocomplete="off"
                    aria-describedby=(error_id(ADD_FORM, "tags"));
                (error_slot(ADD_FORM, "tags"))
            }
            label.check { input type="checkbox" name="public" value="true" checked; " Public: anyone can see it" }
            div.actions {
                button type="submit" { "Add bookmark" }
            }
            p.error data-cinder-error role="alert" {}
        }
    }
}

/// One bookmark, as "Latest", a tag feed and its own page show it.
pub fn bookmark_item(bookmark: &Bookmark) -> Markup {
    bookmark_item_as(bookmark, "bookmark")
}

/// One bookmark with the element id `<prefix>-<id>`. Its url passed the domain's http(s)
/// check, so it is safe as a link.
fn bookmark_item_as(bookmark: &Bookmark, prefix: &str) -> Markup {
    html! {
        li.bookmark.card id={ (prefix) "-" (bookmark.id) } {
            div.bookmark-head {
                a.title href=(bookmark.url) rel="nofollow noopener noreferrer" { (bookmark.title) }
                @if !bookmark.public { " " span.badge.private { "private" } }
            }
            p.host { (host_of(&bookmark.url)) }
            @if !bookmark.description.is_empty() {
                p.description { (bookmark.description) }
            }
            ul.tags aria-label="Tags" {
                @for tag in &bookmark.tags {
                    li.tag { a href={ "/bookmarks/tags/" (tag) } { (tag) } }
                }
            }
            p.meta.muted {
                (time(&bookmark.inserted_at, Shown::Minute))
                " · "
                a href={ "/bookmarks/" (bookmark.id) } { "discussion" }
            }
        }
    }
}

/// The host part of an http(s) url ("https://example.com/a" → "example.com"), for the card.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    host.rsplit_once('@').map_or(host, |(_, host)| host)
}

/// The comment list of comments already rendered, oldest first.
pub(super) fn comment_list(items: &[Markup]) -> Markup {
    html! {
        ol #comments.comments {
            @for item in items { (item) }
        }
    }
}

pub(super) fn comment_item(comment: &Comment) -> Markup {
    html! {
        li.comment id={ "comment-" (comment.id) } {
            div.comment-head {
                span.author { (comment.author) }
                (time(&comment.inserted_at, Shown::Time))
            }
            p.content { (comment.content) }
        }
    }
}
