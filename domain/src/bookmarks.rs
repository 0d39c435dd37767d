//! Bookmarks: each bookmark is an aggregate; adding it and commenting on it are its commands.
//!
//! Adding checks every field at once and reports every problem, as a form would want. A private
//! bookmark exists only for its owner: anyone else is told it does not exist. Comments are
//! rate-limited per author, as chat messages are per sender: the bookmark remembers who
//! commented in the last minute (fingerprints only), never its whole discussion.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{Clock, FieldErrors, Rejection};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_CHARS: usize = 32;
pub const MAX_AUTHOR_CHARS: usize = 32;
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Longest url, in characters (what browsers and crawlers reliably handle).
pub const MAX_URL_CHARS: usize = 2048;
/// Comments one author may add to one bookmark per [`COMMENT_RATE_WINDOW`].
pub const MAX_COMMENTS_PER_WINDOW: usize = 10;
/// The window of the comment rate limit.
pub const COMMENT_RATE_WINDOW: Duration = Duration::seconds(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookmarkCommand {
    AddBookmark(AddBookmark),
    CommentOnBookmark(CommentOnBookmark),
}

/// Tags as people give them: a list, or one comma-separated string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TagsInput {
    List(Vec<String>),
    Text(String),
}

impl Default for TagsInput {
    fn default() -> Self {
        TagsInput::List(Vec::new())
    }
}

/// A new bookmark's id, made of 64 random bits: 16 hex digits. The caller draws the bits (the
/// domain stays pure), be it a visitor's form, the JSON API or the simulator.
pub fn new_id(random: u64) -> String {
    format!("{random:016x}")
}

/// Save a link. `owner` is who adds it (a visitor's session or an API caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddBookmark {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub url: String,
    pub description: String,
    /// Defaults to public.
    pub public: Option<bool>,
    pub tags: TagsInput,
}

/// Say something under a bookmark. `by` is who comments (for the privacy check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentOnBookmark {
    pub by: String,
    pub author: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookmarkEvent {
    BookmarkAdded(BookmarkAdded),
    CommentAdded(CommentAdded),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookmarkAdded {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub url: String,
    pub description: String,
    pub public: bool,
    pub tags: Vec<String>,
    pub inserted_at: DateTime<Utc>,
}

/// A comment; `id` numbers the bookmark's comments from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentAdded {
    pub bookmark_id: String,
    pub id: u64,
    pub author: String,
    pub content: String,
    pub inserted_at: DateTime<Utc>,
}

impl DomainEvent for BookmarkEvent {
    fn event_type(&self) -> String {
        match self {
            BookmarkEvent::BookmarkAdded(_) => "BookmarkAdded".into(),
            BookmarkEvent::CommentAdded(_) => "CommentAdded".into(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

/// Why a bookmark command was refused. `Invalid` lists every broken rule of an `AddBookmark`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookmarkError {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("this bookmark already exists")]
    AlreadyExists,
    #[error("no such bookmark")]
    NotFound,
    #[error("your name must be 1–32 characters")]
    InvalidAuthor,
    #[error("a comment can't be empty")]
    EmptyComment,
    #[error("a comment can be at most 2000 characters")]
    CommentTooLong,
    #[error("your name can't contain control characters")]
    ControlInAuthor,
    #[error("a comment can't contain control characters (other than line breaks and tabs)")]
    ControlInComment,
    #[error("slow down: at most 10 comments a minute on one bookmark")]
    CommentRateLimited,
}

impl Rejection for BookmarkError {
    fn field(&self) -> &'static str {
        match self {
            BookmarkError::Invalid(errors) => errors.first_field("bookmark"),
            BookmarkError::AlreadyExists | BookmarkError::NotFound => "bookmark",
            BookmarkError::InvalidAuthor | BookmarkError::ControlInAuthor => "author",
            BookmarkError::EmptyComment
            | BookmarkError::CommentTooLong
            | BookmarkError::ControlInComment
            | BookmarkError::CommentRateLimited => "content",
        }
    }

    fn errors(&self) -> Vec<(&'static str, String)> {
        match self {
            BookmarkError::Invalid(errors) => errors.0.clone(),
            other => vec![(other.field(), other.to_string())],
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BookmarkServices {
    pub clock: Clock,
}

/// A bookmark: whether it exists, whose it is, how many comments it has, and who commented in
/// the last [`COMMENT_RATE_WINDOW`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    id: String,
    owner: Option<String>,
    public: bool,
    comments: u64,
    /// Comments of the last window, oldest first: a fingerprint of the author, and when.
    #[serde(default)]
    recent: VecDeque<(u64, DateTime<Utc>)>,
}

impl Aggregate for Bookmark {
    const TYPE: &'static str = "Bookmark";
    type Command = BookmarkCommand;
    type Event = BookmarkEvent;
    type Error = BookmarkError;
    type Services = BookmarkServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let now = services.clock.now();
        let event = match command {
            BookmarkCommand::AddBookmark(add) => {
                if self.owner.is_some() {
                    return Err(BookmarkError::AlreadyExists);
                }
                BookmarkEvent::BookmarkAdded(check_new(add, now)?)
            }
            BookmarkCommand::CommentOnBookmark(comment) => {
                let owner = self.owner.as_deref().ok_or(BookmarkError::NotFound)?;
                if !self.public && owner != comment.by {
                    return Err(BookmarkError::NotFound);
                }
                BookmarkEvent::CommentAdded(self.check_comment(comment, now)?)
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            BookmarkEvent::BookmarkAdded(added) => {
                self.id = added.id;
                self.owner = Some(added.owner);
                self.public = added.public;
            }
            BookmarkEvent::CommentAdded(comment) => {
                self.comments = self.comments.max(comment.id);
                let horizon = comment.inserted_at - COMMENT_RATE_WINDOW;
                while self.recent.front().is_some_and(|(_, at)| *at <= horizon) {
                    self.recent.pop_front();
                }
                self.recent
                    .push_back((crate::fingerprint(&comment.author), comment.inserted_at));
            }
        }
    }
}

/// Every rule of a comment that needs no bookmark to check, one refusal per field (author,
/// content): what the comment form shows as it is filled in. A comment command is refused with
/// the first.
pub fn comment_problems(author: &str, content: &str) -> Vec<BookmarkError> {
    let mut problems = Vec::new();
    let author = author.trim();
    if author.is_empty() || author.chars().count() > MAX_AUTHOR_CHARS {
        problems.push(BookmarkError::InvalidAuthor);
    } else if crate::has_control(author, false) {
        problems.push(BookmarkError::ControlInAuthor);
    }
    let content = content.trim();
    if crate::has_control(content, true) {
        problems.push(BookmarkError::ControlInComment);
    } else if content.is_empty() {
        problems.push(BookmarkError::EmptyComment);
    } else if content.chars().count() > MAX_COMMENT_CHARS {
        problems.push(BookmarkError::CommentTooLong);
    }
    problems
}

impl Bookmark {
    fn check_comment(
        &self,
        comment: CommentOnBookmark,
        now: DateTime<Utc>,
    ) -> Result<CommentAdded, BookmarkError> {
        if let Some(problem) = comment_problems(&comment.author, &comment.content)
            .into_iter()
            .next()
        {
            return Err(problem);
        }
        let author = comment.author.trim();
        let content = comment.content.trim();
        let who = crate::fingerprint(author);
        let theirs = self
            .recent
            .iter()
            .filter(|(by, at)| *by == who && now - *at < COMMENT_RATE_WINDOW)
            .count();
        if theirs >= MAX_COMMENTS_PER_WINDOW {
            return Err(BookmarkError::CommentRateLimited);
        }
        Ok(CommentAdded {
            bookmark_id: self.id.clone(),
            id: self.comments + 1,
            author: author.to_owned(),
            content: content.to_owned(),
            inserted_at: now,
        })
    }
}

/// Checks every field of a new bookmark, collecting every problem.
/// The bookmark an `AddBookmark` adds, or every rule it breaks (title, url, description, tags):
/// what the add form shows as it is filled in, and what the command is refused with.
pub fn check_new(add: AddBookmark, now: DateTime<Utc>) -> Result<BookmarkAdded, BookmarkError> {
    let mut errors = Vec::new();
    let title = add.title.trim();
    if title.is_empty() {
        errors.push(("title", "can't be blank".to_owned()));
    } else if title.chars().count() > MAX_TITLE_CHARS {
        errors.push(("title", "should be at most 200 characters".to_owned()));
    } else if crate::has_control(title, false) {
        errors.push(("title", crate::NO_CONTROL.to_owned()));
    }
    let url = add.url.trim();
    if crate::has_control(url, false) {
        errors.push(("url", crate::NO_CONTROL.to_owned()));
    } else if let Err(message) = check_url(url) {
        errors.push(("url", message.to_owned()));
    }
    let description = add.description.trim();
    if crate::has_control(description, true) {
        errors.push(("description", crate::NO_CONTROL_MULTILINE.to_owned()));
    } else if description.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push((
            "description",
            "should be at most 2000 characters".to_owned(),
        ));
    }
    let tags = match normalize_tags(&add.tags) {
        Ok(tags) => tags,
        Err(message) => {
            errors.push(("tags", message));
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(BookmarkError::Invalid(FieldErrors(errors)));
    }
    Ok(BookmarkAdded {
        id: add.id,
        owner: add.owner,
        title: title.to_owned(),
        url: url.to_owned(),
        description: description.to_owned(),
        public: add.public.unwrap_or(true),
        tags,
        inserted_at: now,
    })
}

/// An absolute http(s) URL with a host.
pub fn check_url(url: &str) -> Result<(), &'static str> {
    if url.is_empty() {
        return Err("can't be blank");
    }
    if url.chars().count() > MAX_URL_CHARS {
        return Err("should be at most 2048 characters");
    }
    // As typed, not only as parsed: the URL standard would read `http:example.com` or
    // `http:///path` as having a host, which is not what the person meant.
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err("must start with http:// or https://");
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err("must have a host");
    }
    let parsed = url::Url::parse(url).map_err(|_| "must be an absolute http(s) URL")?;
    match parsed.host_str() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err("must have a host"),
    }
}

/// Tags trimmed, lower-cased and de-duplicated (first occurrence kept); empty entries of a
/// comma-separated string are skipped. At most 10, each 1–32 of `a-z 0-9 + # . -`.
pub fn normalize_tags(input: &TagsInput) -> Result<Vec<String>, String> {
    let raw: Vec<&str> = match input {
        TagsInput::List(list) => list.iter().map(String::as_str).collect(),
        TagsInput::Text(text) => text.split(',').filter(|t| !t.trim().is_empty()).collect(),
    };
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err("each tag must be 1–32 characters".to_owned());
        }
        if !tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+#.-".contains(&b))
        {
            return Err(format!("{tag:?} may only use a-z, 0-9, +, #, . and -"));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err("at most 10 tags".to_owned());
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn services() -> BookmarkServices {
        BookmarkServices {
            clock: Clock::fixed(now()),
        }
    }

    fn add(title: &str, url: &str, tags: TagsInput) -> BookmarkCommand {
        BookmarkCommand::AddBookmark(AddBookmark {
            id: "b1".into(),
            owner: "ada".into(),
            title: title.into(),
            url: url.into(),
            description: "  a description ".into(),
            public: None,
            tags,
        })
    }

    fn added(public: bool, tags: &[&str]) -> BookmarkEvent {
        BookmarkEvent::BookmarkAdded(BookmarkAdded {
            id: "b1".into(),
            owner: "ada".into(),
            title: "Ripgrep".into(),
            url: "https://example.com/rg".into(),
            description: "a description".into(),
            public,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            inserted_at: now(),
        })
    }

    fn text(tags: &str) -> TagsInput {
        TagsInput::Text(tags.into())
    }

    #[test]
    fn a_bookmark_is_added_trimmed_public_by_default_with_normalised_tags() {
        TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(add(
                " Ripgrep ",
                "https://example.com/rg",
                text("Rust, rust , CLI"),
            ))
            .then_expect_events(vec![added(true, &["rust", "cli"])]);
        let list = TagsInput::List(vec![" RUST".into(), "cli".into(), "rust".into()]);
        TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(add("Ripgrep", "https://example.com/rg", list))
            .then_expect_events(vec![added(true, &["rust", "cli"])]);
    }

    #[test]
    fn private_is_kept() {
        let mut command = AddBookmark {
            id: "b1".into(),
            owner: "ada".into(),
            title: "Ripgrep".into(),
            url: "https://example.com/rg".into(),
            description: "a description".into(),
            public: Some(false),
            tags: TagsInput::default(),
        };
        TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(BookmarkCommand::AddBookmark(command.clone()))
            .then_expect_events(vec![added(false, &[])]);
        command.public = Some(true);
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(false, &[])])
            .when(BookmarkCommand::AddBookmark(command))
            .then_expect_error(BookmarkError::AlreadyExists);
    }

    #[test]
    fn urls_must_be_absolute_http_with_a_host() {
        for good in [
            "http://example.com",
            "https://example.com/a?b=c#d",
            "HTTPS://EXAMPLE.COM",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "example.com",
            "/relative",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://",
            "mailto:a@b.c",
            "http:///path",
        ] {
            assert!(check_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn tags_are_checked() {
        assert_eq!(
            normalize_tags(&text("c++, C#, node.js, a-b")).unwrap(),
            vec!["c++", "c#", "node.js", "a-b"]
        );
        assert_eq!(normalize_tags(&text("")).unwrap(), Vec::<String>::new());
        assert_eq!(normalize_tags(&text("rust,")).unwrap(), vec!["rust"]);
        assert!(normalize_tags(&text("has space")).is_err());
        assert!(normalize_tags(&text("émoji")).is_err());
        assert!(normalize_tags(&TagsInput::List(vec!["  ".into()])).is_err());
        assert!(normalize_tags(&text(&"x".repeat(33))).is_err());
        assert!(normalize_tags(&text(&"x".repeat(32))).is_ok());
        let eleven = (0..11)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            normalize_tags(&text(&eleven)),
            Err("at most 10 tags".into())
        );
        let ten_after_dedupe = format!("{eleven},T0,t1");
        assert!(normalize_tags(&text(&ten_after_dedupe)).is_err());
        let ten = (0..10)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(", T");
        assert!(normalize_tags(&text(&ten)).is_ok());
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let result = TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(add("", "nope", text("bad tag")))
            .inspect_result();
        let Err(error) = result else {
            panic!("should be refused")
        };
        let fields: Vec<_> = error.errors().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec!["title", "url", "tags"]);
        let long = add(&"t".repeat(201), "https://example.com", text(""));
        let Err(error) = TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(long)
            .inspect_result()
        else {
            panic!("should be refused")
        };
        assert_eq!(
            error.errors(),
            vec![("title", "should be at most 200 characters".to_owned())]
        );
        let mut long_description = AddBookmark {
            id: "b1".into(),
            owner: "ada".into(),
            title: "t".repeat(200),
            url: "https://example.com".into(),
            description: "d".repeat(2001),
            public: None,
            tags: TagsInput::default(),
        };
        let Err(error) = TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(BookmarkCommand::AddBookmark(long_description.clone()))
            .inspect_result()
        else {
            panic!("should be refused")
        };
        assert_eq!(error.field(), "description");
        long_description.description = "d".repeat(2000);
        assert!(TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(BookmarkCommand::AddBookmark(long_description))
            .inspect_result()
            .is_ok());
    }

    fn comment(by: &str, author: &str, content: &str) -> BookmarkCommand {
        BookmarkCommand::CommentOnBookmark(CommentOnBookmark {
            by: by.into(),
            author: author.into(),
            content: content.into(),
        })
    }

    fn commented(id: u64, author: &str, content: &str) -> BookmarkEvent {
        BookmarkEvent::CommentAdded(CommentAdded {
            bookmark_id: "b1".into(),
            id,
            author: author.into(),
            content: content.into(),
            inserted_at: now(),
        })
    }

    #[test]
    fn comments_are_numbered_and_checked() {
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(true, &[]), commented(1, "bob", "first")])
            .when(comment("someone", " carol ", " nice "))
            .then_expect_events(vec![commented(2, "carol", "nice")]);
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(true, &[])])
            .when(comment("x", "", "hi"))
            .then_expect_error(BookmarkError::InvalidAuthor);
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(true, &[])])
            .when(comment("x", "bob", "  "))
            .then_expect_error(BookmarkError::EmptyComment);
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(true, &[])])
            .when(comment("x", "bob", &"c".repeat(2001)))
            .then_expect_error(BookmarkError::CommentTooLong);
        TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(comment("x", "bob", "hi"))
            .then_expect_error(BookmarkError::NotFound);
    }

    fn commented_at(id: u64, author: &str, seconds: i64) -> BookmarkEvent {
        BookmarkEvent::CommentAdded(CommentAdded {
            bookmark_id: "b1".into(),
            id,
            author: author.into(),
            content: format!("comment {id}"),
            inserted_at: now() + Duration::seconds(seconds),
        })
    }

    #[test]
    fn an_author_may_comment_ten_times_a_minute_on_one_bookmark() {
        let mut history = vec![added(true, &[])];
        history.extend((1..=10).map(|n| commented_at(n, "bob", n as i64 - 30)));
        TestFramework::<Bookmark>::with(services())
            .given(history.clone())
            .when(comment("x", "bob", "one more"))
            .then_expect_error(BookmarkError::CommentRateLimited);
        // Someone else may, and so may bob once the minute has passed.
        TestFramework::<Bookmark>::with(services())
            .given(history.clone())
            .when(comment("y", "carol", "hi"))
            .then_expect_events(vec![commented(11, "carol", "hi")]);
        let later = BookmarkServices {
            clock: Clock::fixed(now() + Duration::seconds(31)),
        };
        let mut expected = commented(11, "bob", "one more");
        if let BookmarkEvent::CommentAdded(c) = &mut expected {
            c.inserted_at = now() + Duration::seconds(31);
        }
        TestFramework::<Bookmark>::with(later)
            .given(history)
            .when(comment("x", "bob", "one more"))
            .then_expect_events(vec![expected]);
    }

    #[test]
    fn urls_are_at_most_2048_characters() {
        let long = format!("https://example.com/{}", "a".repeat(2048 - 20));
        assert_eq!(check_url(&long), Ok(()));
        assert!(check_url(&format!("{long}a")).is_err());
    }

    #[test]
    fn only_the_owner_may_comment_on_a_private_bookmark() {
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(false, &[])])
            .when(comment("mallory", "mallory", "hi"))
            .then_expect_error(BookmarkError::NotFound);
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(false, &[])])
            .when(comment("ada", "Ada", "note to self"))
            .then_expect_events(vec![commented(1, "Ada", "note to self")]);
    }

    #[test]
    fn text_fields_refuse_control_characters_but_descriptions_and_comments_keep_line_breaks() {
        let invalid = |errors: Vec<(&'static str, &str)>| {
            BookmarkError::Invalid(FieldErrors(
                errors.into_iter().map(|(f, m)| (f, m.to_owned())).collect(),
            ))
        };
        TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(add(
                "Evil\0",
                "https://example.com/\r\nSet-Cookie:x",
                text(""),
            ))
            .then_expect_error(invalid(vec![
                ("title", crate::NO_CONTROL),
                ("url", crate::NO_CONTROL),
            ]));
        let with_description = |description: &str| {
            BookmarkCommand::AddBookmark(AddBookmark {
                id: "b1".into(),
                owner: "ada".into(),
                title: "Ripgrep".into(),
                url: "https://example.com/rg".into(),
                description: description.into(),
                public: None,
                tags: text(""),
            })
        };
        TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(with_description("bell\u{7}"))
            .then_expect_error(invalid(vec![("description", crate::NO_CONTROL_MULTILINE)]));
        let mut two_lines = added(true, &[]);
        if let BookmarkEvent::BookmarkAdded(added) = &mut two_lines {
            added.description = "two\r\nlines".into();
        }
        TestFramework::<Bookmark>::with(services())
            .given_no_previous_events()
            .when(with_description("two\r\nlines"))
            .then_expect_events(vec![two_lines]);
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(true, &[])])
            .when(comment("x", "bob\0", "hi"))
            .then_expect_error(BookmarkError::ControlInAuthor);
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(true, &[])])
            .when(comment("x", "bob", "esc\u{1b}[2J"))
            .then_expect_error(BookmarkError::ControlInComment);
        TestFramework::<Bookmark>::with(services())
            .given(vec![added(true, &[])])
            .when(comment("x", "bob", "one\r\ntwo"))
            .then_expect_events(vec![commented(1, "bob", "one\r\ntwo")]);
    }
}
