//! The bookmarks live views and their markup.

use async_trait::async_trait;
use cinder_domain::bookmarks::{AddBookmark, BookmarkCommand, CommentOnBookmark, TagsInput};
use cinder_read_models::bookmarks::{
    comments_topic, owner_topic, tag_topic, Bookmark, BookmarkChange, Comment, PUBLIC_TOPIC,
};
use cinder_read_models::Change;
use maud::{html, Markup};
use serde_json::{json, Value};

use crate::web::errors::command_reply;
use crate::web::live::{LiveView, Outcome, Patch, ViewError};
use crate::web::session::Session;
use crate::web::AppState;

/// Bookmarks a feed shows.
pub const FEED: usize = 50;

fn field(value: &Value, name: &str) -> String {
    value
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A form's checkbox: present (any value but "false") means checked.
fn checked(value: &Value, name: &str) -> bool {
    value
        .get(name)
        .and_then(Value::as_str)
        .is_some_and(|v| v != "false")
}

/// The `AddBookmark` a visitor's form asks for.
pub fn add_command(session: &Session, form: &Value) -> BookmarkCommand {
    BookmarkCommand::AddBookmark(AddBookmark {
        id: crate::simulators::bookmarks::new_id(&mut rand::rng()),
        owner: session.id.clone(),
        title: field(form, "title"),
        url: field(form, "url"),
        description: field(form, "description"),
        public: Some(checked(form, "public")),
        tags: TagsInput::Text(field(form, "tags")),
    })
}

/// Adds a bookmark from a page's form (the firehose and tag pages share it).
async fn add_from_page(app: &AppState, session: &Session, form: &Value) -> Result<Outcome, Value> {
    let command = add_command(session, form);
    let BookmarkCommand::AddBookmark(add) = &command else {
        return Err(json!({"reason": "unexpected command"}));
    };
    let id = add.id.clone();
    let committed = app
        .bus
        .bookmarks
        .execute(&id, command)
        .await
        .map_err(command_reply)?;
    Ok(Outcome {
        patches: Vec::new(),
        committed: committed.last(),
    })
}

/// `/bookmarks`: the add form, the public firehose, and the visitor's own bookmarks.
pub struct FirehoseView {
    app: AppState,
    session: Session,
}

impl FirehoseView {
    pub fn new(app: AppState, session: Session) -> Self {
        Self { app, session }
    }

    fn lists(&self) -> Result<(Markup, Markup), ViewError> {
        let public = self.app.bookmarks.firehose(None, FEED)?;
        let mine = self.app.bookmarks.owned_by(&self.session.id, FEED)?;
        Ok((
            bookmark_list("bookmarks", &public),
            bookmark_list("my-bookmarks", &mine),
        ))
    }
}

#[async_trait]
impl LiveView for FirehoseView {
    fn title(&self) -> String {
        "Bookmarks".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let (public, mine) = self.lists()?;
        Ok(html! {
            h1 { "Bookmarks" }
            p { a href="/bookmarks/random" { "Discover a random bookmark" } }
            (add_form(&self.app, &self.session, "", "/bookmarks"))
            h2 { "Latest" }
            (public)
            h2 { "Yours" }
            (mine)
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        let (public, mine) = self.lists()?;
        Ok(vec![
            Patch::replace("bookmarks", public),
            Patch::replace("my-bookmarks", mine),
        ])
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

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change {
            Change::Bookmarks(BookmarkChange::Added { topic, bookmark })
                if topic == PUBLIC_TOPIC =>
            {
                vec![Patch::prepend(
                    "bookmarks",
                    bookmark_item(bookmark),
                    Some(FEED),
                )]
            }
            Change::Bookmarks(BookmarkChange::Added { topic, bookmark })
                if *topic == owner_topic(&self.session.id) =>
            {
                vec![Patch::prepend(
                    "my-bookmarks",
                    bookmark_item(bookmark),
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
    session: Session,
    tag: String,
}

impl TagView {
    pub fn new(app: AppState, session: Session, tag: &str) -> Self {
        Self {
            app,
            session,
            tag: tag.to_owned(),
        }
    }

    fn list(&self) -> Result<Markup, ViewError> {
        Ok(bookmark_list(
            "bookmarks",
            &self.app.bookmarks.tagged(&self.tag, None, FEED)?,
        ))
    }
}

#[async_trait]
impl LiveView for TagView {
    fn title(&self) -> String {
        format!("Bookmarks tagged {}", self.tag)
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        Ok(html! {
            h1 { "Tagged " span.tag { (self.tag) } }
            p { a href="/bookmarks" { "All bookmarks" } }
            (add_form(&self.app, &self.session, &self.tag, &format!("/bookmarks/tags/{}", self.tag)))
            (self.list()?)
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        Ok(vec![Patch::replace("bookmarks", self.list()?)])
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

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change {
            Change::Bookmarks(BookmarkChange::Added { topic, bookmark })
                if *topic == tag_topic(&self.tag) =>
            {
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
    app: AppState,
}

impl RandomView {
    pub fn new(app: AppState, _session: Session) -> Self {
        Self { app }
    }

    fn pick(&self) -> Result<Markup, ViewError> {
        let bookmark = self.app.bookmarks.random(rand::random())?;
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
            h1 { "Discover" }
            (self.pick()?)
            form method="get" action="/bookmarks/random" {
                button type="submit" data-cinder-click="another" { "Another" }
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        Ok(vec![Patch::replace("random", self.pick()?)])
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

/// `/bookmarks/<id>`: one bookmark and its discussion, live.
pub struct BookmarkView {
    app: AppState,
    session: Session,
    id: String,
}

impl BookmarkView {
    pub fn new(app: AppState, session: Session, id: &str) -> Self {
        Self {
            app,
            session,
            id: id.to_owned(),
        }
    }

    /// The bookmark, if this visitor may see it.
    fn visible(&self) -> Result<Bookmark, ViewError> {
        self.app
            .bookmarks
            .get(&self.id)?
            .filter(|b| b.visible_to(&self.session.id))
            .ok_or(ViewError::NotFound)
    }
}

#[async_trait]
impl LiveView for BookmarkView {
    fn title(&self) -> String {
        "Bookmark".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let bookmark = self.visible()?;
        let comments = self.app.bookmarks.comments(&self.id)?;
        let csrf = self.app.signer.csrf_token(&self.session);
        Ok(html! {
            ol.bookmarks { (bookmark_item(&bookmark)) }
            h2 { "Discussion" }
            (comment_list(&comments))
            form #comment-form method="post" action={ "/bookmarks/" (self.id) "/comments" }
                data-cinder-submit="comment" data-cinder-keep {
                input type="hidden" name="_csrf" value=(csrf);
                input type="text" name="author" maxlength="32" required placeholder="Your name"
                    aria-label="Your name" value=(self.session.name.as_deref().unwrap_or_default());
                input type="text" name="content" maxlength="2000" required autocomplete="off"
                    placeholder="Say something" aria-label="Comment";
                button type="submit" { "Comment" }
                p.error data-cinder-error role="alert" {}
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        self.visible()?;
        Ok(vec![Patch::replace(
            "comments",
            comment_list(&self.app.bookmarks.comments(&self.id)?),
        )])
    }

    fn topics(&self) -> Vec<String> {
        vec![comments_topic(&self.id)]
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        if event != "comment" {
            return Err(json!({"reason": format!("unknown event {event:?}")}));
        }
        let command = BookmarkCommand::CommentOnBookmark(CommentOnBookmark {
            by: self.session.id.clone(),
            author: field(&value, "author"),
            content: field(&value, "content"),
        });
        let committed = self
            .app
            .bus
            .bookmarks
            .execute(&self.id, command)
            .await
            .map_err(command_reply)?;
        Ok(Outcome {
            patches: Vec::new(),
            committed: committed.last(),
        })
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change {
            Change::Bookmarks(BookmarkChange::Commented(comment))
                if comment.bookmark_id == self.id =>
            {
                vec![Patch::append("comments", comment_item(comment), None)]
            }
            _ => Vec::new(),
        }
    }
}

/// The add form; `tags` prefills the tags field, `back` is where a plain post returns.
fn add_form(app: &AppState, session: &Session, tags: &str, back: &str) -> Markup {
    html! {
        form #bookmark-form method="post" action="/bookmarks" data-cinder-submit="add_bookmark" {
            input type="hidden" name="_csrf" value=(app.signer.csrf_token(session));
            input type="hidden" name="back" value=(back);
            input type="text" name="title" maxlength="200" placeholder="Title" aria-label="Title";
            input type="url" name="url" placeholder="https://…" aria-label="URL";
            textarea name="description" maxlength="2000" placeholder="Why it's worth reading" aria-label="Description" {}
            input type="text" name="tags" value=(tags) placeholder="tags, comma, separated" aria-label="Tags";
            label { input type="checkbox" name="public" value="true" checked; " public" }
            button type="submit" { "Add bookmark" }
            p.error data-cinder-error role="alert" {}
        }
    }
}

pub fn bookmark_list(id: &str, bookmarks: &[Bookmark]) -> Markup {
    html! {
        ol.bookmarks id=(id) {
            @for bookmark in bookmarks { (bookmark_item(bookmark)) }
        }
    }
}

/// One bookmark. Its url passed the domain's http(s) check, so it is safe as a link.
pub fn bookmark_item(bookmark: &Bookmark) -> Markup {
    html! {
        li.bookmark id={ "bookmark-" (bookmark.id) } {
            a.title href=(bookmark.url) rel="nofollow noopener noreferrer" { (bookmark.title) }
            @if !bookmark.public { " " span.private { "private" } }
            p.description { (bookmark.description) }
            ul.tags {
                @for tag in &bookmark.tags {
                    li.tag { a href={ "/bookmarks/tags/" (tag) } { (tag) } }
                }
            }
            p.meta.muted {
                time datetime=(bookmark.inserted_at.to_rfc3339()) { (bookmark.inserted_at.format("%Y-%m-%d %H:%M")) }
                " · "
                a href={ "/bookmarks/" (bookmark.id) } { "discussion" }
            }
        }
    }
}

fn comment_list(comments: &[Comment]) -> Markup {
    html! {
        ol #comments.comments {
            @for comment in comments { (comment_item(comment)) }
        }
    }
}

fn comment_item(comment: &Comment) -> Markup {
    html! {
        li.comment id={ "comment-" (comment.id) } {
            span.author { (comment.author) }
            span.content { (comment.content) }
            time datetime=(comment.inserted_at.to_rfc3339()) { (comment.inserted_at.format("%H:%M")) }
        }
    }
}
