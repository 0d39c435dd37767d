//! The polls live views and the markup they share with the plain pages and the explorer.
//!
//! What everyone sees alike (a poll in the list, its counts and bars, its closing) is rendered
//! once per change for every page that shows it; what is one visitor's (which option is their
//! vote, the close button of their own poll) is rendered for their pages alone, from the
//! changes on their own voter topic.

use async_trait::async_trait;
use chrono::Utc;
use cinder_domain::polls::{check_new, CreatePoll, MAX_QUESTION_CHARS};
use cinder_read_models::polls::{
    poll_topic, voter_topic, PollChange, PollsReadModel, PublicPoll, OPEN_TOPIC,
};
use cinder_read_models::Change;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::context::{self, NewPoll};
use super::voter_id;
use crate::pubsub::RenderKey;
use crate::web::context::Context;
use crate::web::errors::{command_reply, field_errors};
use crate::web::live::{LiveView, Outcome, Patch, ViewError, field};
use crate::web::local_time::{time, Shown};
use crate::web::paging::{self, list_budget};
use crate::web::session::Session;
use crate::web::AppState;

/// Open polls the list shows per page, at most (fewer if they would not fit in
/// `CINDER_MAX_REPLY_BYTES`).
pub const LIST_PAGE: usize = 50;

/// The create form as typed, and what was wrong with it (a plain form post that was refused).
#[derive(Debug, Clone, Default)]
pub struct Typed {
    pub question: String,
    /// The options' text, one per line.
    pub options: String,
    pub errors: Vec<(&'static str, String)>,
}

impl Typed {
    /// The form's fields (a page event's value, or a plain post's fields as JSON strings).
    pub fn from_fields(fields: &Value) -> Self {
        Typed {
            question: field(fields, "question"),
            options: field(fields, "options"),
            errors: Vec::new(),
        }
    }

    /// The poll the form asks for: one option per line.
    pub fn new_poll(&self) -> NewPoll {
        NewPoll {
            question: self.question.clone(),
            options: self.options.lines().map(str::to_owned).collect(),
        }
    }

    fn error(&self, name: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .errors
            .iter()
            .filter(|(field, _)| *field == name)
            .map(|(_, message)| message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join(" "))
    }
}

/// `/polls`: the create form and the open polls, newest first, a page at a time (the first
/// page is live: a new poll appears, counts change, a closed one leaves).
pub struct PollsView {
    app: AppState,
    polls: PollsReadModel,
    session: Session,
    /// Show the polls older than this one instead of the newest (paging without JavaScript).
    before: Option<String>,
    /// The form as a refused plain post left it.
    typed: Typed,
}

impl PollsView {
    pub fn new(app: AppState, polls: PollsReadModel, session: &Session) -> Self {
        Self {
            app,
            polls,
            session: session.clone(),
            before: None,
            typed: Typed::default(),
        }
    }

    /// The page of polls older than poll `before`.
    pub fn before(mut self, before: Option<String>) -> Self {
        self.before = before;
        self
    }

    /// The page with the create form as it was posted, saying what is wrong with it.
    pub fn refusing(mut self, typed: Typed) -> Self {
        self.typed = typed;
        self
    }

    /// The list and its "older polls" link.
    fn list(&self) -> Result<(Markup, Markup), ViewError> {
        let open = self
            .polls
            .open_before(self.before.as_deref())?
            .map(|poll| poll.map(|view| view.poll));
        let page = paging::rendered(open, LIST_PAGE, list_budget(&self.app), poll_item)?;
        let next = page
            .more
            .then(|| page.items.last().map(|(poll, _)| poll.id.clone()))
            .flatten();
        let list = html! {
            ol #polls.polls { @for (_, item) in &page.items { (item) } }
        };
        let more = html! {
            div #polls-more {
                @if let Some(next) = next {
                    p.more { a href={ "/polls?before=" (next) } { "Older polls" } }
                }
            }
        };
        Ok((list, more))
    }

    fn form(&self) -> Markup {
        let typed = &self.typed;
        let question_error = typed.error("question");
        let options_error = typed.error("options");
        html! {
            form #poll-form.stacked method="post" action="/polls"
                data-cinder-submit="create_poll" data-cinder-validate {
                input type="hidden" name="_csrf" value=(self.app.signer.csrf_token(&self.session));
                div.field {
                    label for="new-poll-question" { "Question" }
                    input #new-poll-question type="text" name="question"
                        maxlength=(MAX_QUESTION_CHARS) autocomplete="off"
                        placeholder="Tabs or spaces?" value=(typed.question)
                        aria-invalid=[question_error.as_ref().map(|_| "true")]
                        aria-describedby="poll-form-question-error";
                    p #poll-form-question-error.field-error data-cinder-error-for="question" {
                        (question_error.unwrap_or_default())
                    }
                }
                div.field {
                    label for="new-poll-options" {
                        "Options " span.optional { "(one per line, 2 to 10)" }
                    }
                    textarea #new-poll-options name="options" rows="4"
                        placeholder="Tabs\nSpaces"
                        aria-invalid=[options_error.as_ref().map(|_| "true")]
                        aria-describedby="poll-form-options-error" { (typed.options) }
                    p #poll-form-options-error.field-error data-cinder-error-for="options" {
                        (options_error.unwrap_or_default())
                    }
                }
                div.actions { button type="submit" { "Create poll" } }
                p.error data-cinder-error role="alert" { (typed.error("poll").unwrap_or_default()) }
            }
        }
    }
}

#[async_trait]
impl LiveView for PollsView {
    fn title(&self) -> String {
        "Polls".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let (list, more) = self.list()?;
        Ok(html! {
            div.page-head {
                h1 { "Polls" }
                p.lead { "Ask a question; everyone watching sees the votes come in." }
            }
            div.narrow {
                section.card.poll-new aria-labelledby="new-poll-heading" {
                    h2 #new-poll-heading { "Ask a question" }
                    (self.form())
                }
                h2 #open-polls-heading { "Open polls" }
                (list)
                (more)
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        let (list, more) = self.list()?;
        Ok(vec![
            Patch::replace("polls", list),
            Patch::replace("polls-more", more),
        ])
    }

    /// The list changes only by polls created, voted on and closed, all in the log.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        vec![OPEN_TOPIC.to_owned()]
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        match event {
            "create_poll" => {
                let ctx = Context::for_visitor(&self.app, &self.session);
                let poll = Typed::from_fields(&value).new_poll();
                context::create_poll(&ctx, poll)
                    .await
                    .map_err(command_reply)?;
                // The new poll reaches this page, like every other, as a patch of the list.
                Ok(Outcome::default())
            }
            _ => Err(json!({"reason": format!("unknown event {event:?}")})),
        }
    }

    fn flash(&self, event: &str, _value: &Value) -> Option<String> {
        (event == "create_poll").then(|| "Poll created".to_owned())
    }

    fn validate(&self, event: &str, value: &Value) -> Value {
        match event {
            "create_poll" => create_problems(&Typed::from_fields(value)),
            _ => json!({}),
        }
    }

    /// The list is the same for everyone: each change to it is rendered once.
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        match change.get::<PollChange>() {
            Some(PollChange::Listed(_) | PollChange::Unlisted { .. }) => {
                Some(RenderKey::new("lv:polls:list", 0))
            }
            _ => None,
        }
    }

    fn render_shared(&self, change: &Change) -> Vec<Patch> {
        list_patches(change)
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        list_patches(change)
    }
}

/// What a change of the open polls does to the list: a new poll goes on top, a poll's new
/// counts replace it where it is shown (no vote is ever taken back, so only a new poll has
/// none), a closed poll leaves.
fn list_patches(change: &Change) -> Vec<Patch> {
    match change.get::<PollChange>() {
        Some(PollChange::Listed(poll)) if poll.total == 0 => {
            vec![Patch::prepend("polls", poll_item(poll), Some(LIST_PAGE))]
        }
        Some(PollChange::Listed(poll)) => vec![Patch::replace(item_id(&poll.id), poll_item(poll))],
        Some(PollChange::Unlisted { id }) => vec![Patch::remove(item_id(id))],
        _ => Vec::new(),
    }
}

/// What the create form's fields break: the rules `CreatePoll` is refused by.
pub fn create_problems(typed: &Typed) -> Value {
    let poll = typed.new_poll();
    let create = CreatePoll {
        id: String::new(),
        creator: String::new(),
        question: poll.question,
        options: poll.options,
    };
    match check_new(create, Utc::now()) {
        Ok(_) => json!({}),
        Err(error) => field_errors(&[error]),
    }
}

/// `/polls/<id>`: the question, each option with its live result bar and count, a vote button
/// per option (the visitor's vote marked), and the close button for the poll's creator.
pub struct PollView {
    app: AppState,
    polls: PollsReadModel,
    session: Session,
    id: String,
    /// The visitor as a voter (and as the creator of their polls).
    voter: String,
    /// A refusal to show by the vote form (plain form posts).
    error: Option<String>,
}

impl PollView {
    pub fn new(app: AppState, polls: PollsReadModel, session: &Session, id: &str) -> Self {
        Self {
            app,
            polls,
            session: session.clone(),
            id: id.to_owned(),
            voter: voter_id(session),
            error: None,
        }
    }

    pub fn with_error(mut self, error: String) -> Self {
        self.error = Some(error);
        self
    }

    /// The poll, its creator, and the visitor's vote in it.
    fn read(&self) -> Result<(PublicPoll, bool, Option<usize>), ViewError> {
        let view = self.polls.get(&self.id)?.ok_or(ViewError::NotFound)?;
        let vote = self.polls.vote_of(&self.id, &self.voter)?;
        Ok((view.poll, view.creator == self.voter, vote))
    }

    fn csrf(&self) -> String {
        self.app.signer.csrf_token(&self.session)
    }

    /// The options: each with its text, the visitor's mark, its result and its vote button.
    fn options(&self, poll: &PublicPoll, vote: Option<usize>) -> Markup {
        html! {
            ol #poll-options.poll-options {
                @for (n, text) in poll.options.iter().enumerate() {
                    li.poll-option id={ "option-" (n) } {
                        div.poll-option-head {
                            span.option-text id={ "option-" (n) "-text" } { (text) }
                            (your_mark(n, vote))
                        }
                        (result(poll, n, true))
                        @if poll.closed { (no_vote_button(n)) } @else { (vote_button(n, vote)) }
                    }
                }
            }
        }
    }

    /// The close button, for the creator of an open poll; an empty place for everyone else.
    fn close_control(&self, poll: &PublicPoll, creator: bool) -> Markup {
        html! {
            div #poll-close {
                @if creator && !poll.closed {
                    form.actions method="post" action={ "/polls/" (self.id) "/close" } {
                        input type="hidden" name="_csrf" value=(self.csrf());
                        button.secondary type="submit" data-cinder-click="close" { "Close poll" }
                        span.muted { "You asked this: only you can close it." }
                    }
                }
            }
        }
    }

    /// The visitor's own vote moved: their mark and the pressed button follow it.
    fn vote_patches(&self, options: usize, vote: usize) -> Vec<Patch> {
        (0..options)
            .flat_map(|n| {
                [
                    Patch::replace(format!("your-{n}"), your_mark(n, Some(vote))),
                    Patch::replace(format!("vote-{n}"), vote_button(n, Some(vote))),
                ]
            })
            .collect()
    }
}

#[async_trait]
impl LiveView for PollView {
    fn title(&self) -> String {
        match self.polls.get(&self.id) {
            Ok(Some(view)) => view.poll.question,
            _ => "Poll".into(),
        }
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let (poll, creator, vote) = self.read()?;
        Ok(html! {
            p.crumbs { a href="/polls" { "All polls" } }
            div.page-head {
                h1 { (poll.question) }
                (status(&poll))
            }
            div.narrow {
                form #vote-form.card method="post" action={ "/polls/" (self.id) "/votes" } {
                    input type="hidden" name="_csrf" value=(self.csrf());
                    (self.options(&poll, vote))
                    p #vote-error.error data-cinder-flash role="alert" {
                        (self.error.as_deref().unwrap_or_default())
                    }
                }
                (self.close_control(&poll, creator))
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        let (poll, creator, vote) = self.read()?;
        Ok(vec![
            Patch::replace("poll-status", status(&poll)),
            Patch::replace("poll-options", self.options(&poll, vote)),
            Patch::replace("poll-close", self.close_control(&poll, creator)),
        ])
    }

    /// Counts, closing and the visitor's own votes are all in the log.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        vec![poll_topic(&self.id), voter_topic(&self.voter)]
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        let ctx = Context::for_visitor(&self.app, &self.session);
        let done = match event {
            "vote" => {
                let option = option(&value)?;
                context::cast_vote(&ctx, &self.id, option).await
            }
            "close" => context::close_poll(&ctx, &self.id).await,
            _ => return Err(json!({"reason": format!("unknown event {event:?}")})),
        };
        done.map_err(command_reply)?;
        // The new counts (and the visitor's mark) reach this page as patches, which the
        // context waited for.
        Ok(Outcome::default())
    }

    fn flash(&self, event: &str, _value: &Value) -> Option<String> {
        match event {
            "vote" => Some("Vote counted".into()),
            "close" => Some("Poll closed".into()),
            _ => None,
        }
    }

    /// New counts and the closing are the same for everyone on the poll's page: rendered once.
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        match change.get::<PollChange>() {
            Some(PollChange::Updated(poll)) if poll.id == self.id => {
                Some(RenderKey::new("lv:polls:poll", 0))
            }
            _ => None,
        }
    }

    fn render_shared(&self, change: &Change) -> Vec<Patch> {
        match change.get::<PollChange>() {
            Some(PollChange::Updated(poll)) => poll_patches(poll),
            _ => Vec::new(),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change.get::<PollChange>() {
            Some(PollChange::Updated(poll)) if poll.id == self.id => poll_patches(poll),
            Some(PollChange::Voted {
                poll_id,
                voter,
                option,
            }) if *poll_id == self.id && *voter == self.voter => {
                match self.polls.get(&self.id) {
                    Ok(Some(view)) => self.vote_patches(view.poll.options.len(), *option),
                    Ok(None) => Vec::new(),
                    Err(error) => {
                        tracing::warn!(%error, "polls: could not read the poll");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        }
    }
}

/// What a poll's new counts (or its closing) do to its page, for every viewer alike: the
/// status line and each result; once closed, no vote buttons and no close button.
fn poll_patches(poll: &PublicPoll) -> Vec<Patch> {
    let mut patches = vec![Patch::replace("poll-status", status(poll))];
    for n in 0..poll.options.len() {
        patches.push(Patch::replace(format!("result-{n}"), result(poll, n, true)));
        if poll.closed {
            patches.push(Patch::replace(format!("vote-{n}"), no_vote_button(n)));
        }
    }
    if poll.closed {
        patches.push(Patch::replace("poll-close", html! { div #poll-close {} }));
    }
    patches
}

/// Whether the poll takes votes, how many it has, and since when it is asked.
fn status(poll: &PublicPoll) -> Markup {
    html! {
        div #poll-status {
            @if poll.closed {
                p.poll-closed role="status" {
                    strong { "Closed." }
                    " Votes are no longer counted. Final count: " (votes(poll.total)) "."
                }
            } @else {
                p.muted {
                    span.badge { "open" } " " (votes(poll.total)) " · asked "
                    (time(&poll.created_at, Shown::Minute))
                }
            }
        }
    }
}

/// Option `n`'s result: a bar, its count and its share. `live` gives it the id patches
/// replace it by (the explorer's "as of" shows results that are not live).
pub fn result(poll: &PublicPoll, n: usize, live: bool) -> Markup {
    let count = poll.counts.get(n).copied().unwrap_or(0);
    let share = percent(count, poll.total);
    html! {
        div.poll-result id=[live.then(|| format!("result-{n}"))] {
            meter min="0" max=(poll.total.max(1)) value=(count)
                aria-labelledby=[live.then(|| format!("option-{n}-text"))] { (share) "%" }
            span.poll-count { (votes(count)) " · " (share) "%" }
        }
    }
}

/// The visitor's mark on option `n`: "Your vote" if it is theirs.
fn your_mark(n: usize, vote: Option<usize>) -> Markup {
    html! {
        span id={ "your-" (n) } {
            @if vote == Some(n) { span.badge.your-vote { "Your vote" } }
        }
    }
}

/// Option `n`'s vote button (pressed if it is the visitor's vote): a plain submit of the vote
/// form without JavaScript.
fn vote_button(n: usize, vote: Option<usize>) -> Markup {
    let chosen = vote == Some(n);
    html! {
        div.poll-vote id={ "vote-" (n) } {
            button type="submit" name="option" value=(n) data-cinder-click="vote"
                class=[(!chosen).then_some("secondary")] aria-pressed=(chosen)
                aria-describedby={ "option-" (n) "-text" } { "Vote" }
        }
    }
}

/// Where option `n`'s vote button was, on a closed poll.
fn no_vote_button(n: usize) -> Markup {
    html! { div.poll-vote id={ "vote-" (n) } {} }
}

/// One open poll in the list: its question (a link to it), its options and votes so far.
pub fn poll_item(poll: &PublicPoll) -> Markup {
    html! {
        li.card.poll-item id=(item_id(&poll.id)) {
            a.poll-question href={ "/polls/" (poll.id) } { (poll.question) }
            p.muted.poll-meta {
                (poll.options.len()) " options · " (votes(poll.total))
                @if let Some(leader) = leader(poll) { " · " (leader) }
                " · " (time(&poll.created_at, Shown::Minute))
            }
        }
    }
}

/// Who leads: "leading: Tabs", "tied", or nothing before the first vote.
fn leader(poll: &PublicPoll) -> Option<Markup> {
    let most = poll.counts.iter().copied().max().filter(|most| *most > 0)?;
    let mut leaders = poll.counts.iter().enumerate().filter(|(_, c)| **c == most);
    let (first, _) = leaders.next()?;
    Some(match leaders.next() {
        Some(_) => html! { "tied" },
        None => html! { "leading: " strong { (poll.options.get(first).map_or("", String::as_str)) } },
    })
}

/// The results of a poll as the explorer's "as of" shows them: read only.
pub fn read_only_results(poll: &PublicPoll) -> Markup {
    html! {
        h2 { (poll.question) }
        @if poll.closed { p.poll-closed { strong { "Closed." } " Final count: " (votes(poll.total)) "." } }
        @else { p.muted { span.badge { "open" } " " (votes(poll.total)) } }
        ol.poll-options {
            @for (n, text) in poll.options.iter().enumerate() {
                li.poll-option {
                    div.poll-option-head { span.option-text { (text) } }
                    (result(poll, n, false))
                }
            }
        }
    }
}

/// "1 vote", "3 votes".
fn votes(count: u64) -> String {
    match count {
        1 => "1 vote".to_owned(),
        n => format!("{n} votes"),
    }
}

/// `count` of `total` in whole percent, rounded (0 when nobody voted).
fn percent(count: u64, total: u64) -> u64 {
    match total {
        0 => 0,
        total => (count * 100 + total / 2) / total,
    }
}

fn item_id(id: &str) -> String {
    format!("poll-{id}")
}

/// The option of a vote from a page event (a click's `value`, or a form's `option`); a missing
/// or bad one is refused as an unknown option.
fn option(value: &Value) -> Result<usize, Value> {
    let raw = value
        .get("value")
        .or_else(|| value.get("option"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    raw.trim().parse().map_err(|_| {
        json!({"errors": {"option": ["no such option"]}, "message": "no such option"})
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_whole_percents_that_round() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(3, 3), 100);
    }

    #[test]
    fn one_option_per_line_with_blank_lines_left_to_the_domain() {
        let typed = Typed {
            question: "Tabs?".into(),
            options: "Tabs\r\n\r\nSpaces\n".into(),
            errors: Vec::new(),
        };
        assert_eq!(typed.new_poll().options, ["Tabs", "", "Spaces"]);
        assert_eq!(create_problems(&typed), json!({}));
        let one = Typed {
            options: "Tabs".into(),
            ..typed
        };
        assert_eq!(
            create_problems(&one),
            json!({"options": ["give at least 2 options"]})
        );
    }
}
