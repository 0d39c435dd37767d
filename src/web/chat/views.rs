//! The chat live views and the markup they share with the plain pages.

use async_trait::async_trait;
use cinder_domain::chat::{check_content, SendMessage};
use cinder_read_models::chat::{
    room_topic, ChatChange, Message, RoomCursor, RoomSummary, ROOMS_TOPIC,
};
use cinder_read_models::Change;
use maud::{html, Markup};
use serde_json::{json, Value};

use crate::presence::{pubsub_topic, PresenceChanged, Tracked};
use crate::pubsub::RenderKey;
use crate::web::context::Context;
use crate::web::errors::{command_reply, field_errors};
use crate::web::live::{LiveView, Outcome, Patch, Run, ShownRun, ViewError, field};
use crate::web::local_time::{time, Shown};
use crate::web::paging::{self, list_budget};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::chat::ChatReadModel;

/// Messages a room page shows at first, and loads per "load older", at most (fewer if they
/// would not fit in `CINDER_MAX_REPLY_BYTES`).
pub const PAGE: usize = 100;
/// Rooms the lobby lists per page, at most.
pub const LOBBY_PAGE: usize = 100;
/// Names "who's here" lists, at most; the rest are counted.
const HERE_SHOWN: usize = 100;

/// `/chat/<room>`: the room's messages, live, and the form to send one.
pub struct RoomView {
    app: AppState,
    chat: ChatReadModel,
    session: Session,
    room: String,
    /// The messages the page shows, as the page keeps them (set by `regions` too, which takes
    /// `&self`).
    shown: std::sync::Mutex<ShownRun>,
    /// A refusal to show by the form (plain form posts).
    error: Option<String>,
    /// Show the messages before this id instead of the latest (paging without JavaScript).
    before: Option<u64>,
    /// The visitor in the room's presence, while the page is joined (with a name).
    present: Option<Tracked>,
    /// The "who's here" names last sent to the page, so unchanged lists are not sent again
    /// (set by `regions`, which takes `&self`).
    here: std::sync::Mutex<Vec<String>>,
}

impl RoomView {
    pub fn new(app: AppState, chat: ChatReadModel, session: &Session, room: &str) -> Self {
        Self {
            app,
            chat,
            session: session.clone(),
            room: room.to_owned(),
            shown: std::sync::Mutex::new(ShownRun::page(None, PAGE)),
            error: None,
            before: None,
            present: None,
            here: Default::default(),
        }
    }

    /// The presence topic of the room: the same as its channel's, so Phoenix clients joined to
    /// `chat:<room>` and visitors of the page see each other.
    fn presence_topic(&self) -> String {
        format!("chat:{}", self.room)
    }

    /// The "who's here" list if its names differ from what the page was last sent.
    fn here_changed(&self) -> Option<Markup> {
        let names = self.names();
        let mut here = self.here.lock().unwrap_or_else(|p| p.into_inner());
        if *here == names {
            return None;
        }
        *here = names;
        Some(here_list(&here))
    }

    /// "Who's here", whole, noted as what the page was last sent.
    fn here_region(&self) -> Patch {
        let names = self.names();
        let list = here_list(&names);
        *self.here.lock().unwrap_or_else(|p| p.into_inner()) = names;
        Patch::replace("present", list)
    }

    /// The distinct names present in the room, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .app
            .presence
            .list(&self.presence_topic())
            .into_iter()
            .map(|p| p.key)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The page of messages before `id`, for "load older" without JavaScript.
    pub fn before(mut self, id: Option<u64>) -> Self {
        self.before = id;
        self
    }

    pub fn with_error(mut self, error: String) -> Self {
        self.error = Some(error);
        self
    }

    fn send(&self, content: String) -> Option<SendMessage> {
        Some(SendMessage {
            room: self.room.clone(),
            sender: self.session.name.clone()?,
            content,
        })
    }

    /// What the page shows of the room's messages.
    fn shown(&self) -> ShownRun {
        *self.shown.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest page of messages within the reply budget, rendered, oldest first, noted as
    /// what the page shows.
    fn latest(&self) -> Result<Vec<Markup>, cinder_read_models::ProjectionError> {
        let (items, run) = self.page_before(None)?;
        *self.shown.lock().unwrap_or_else(|p| p.into_inner()) = ShownRun::page(run, PAGE);
        Ok(items)
    }

    /// A page of messages before `before` (the latest if `None`) within the reply budget,
    /// rendered, oldest first, and the ids of its oldest and newest.
    fn page_before(
        &self,
        before: Option<u64>,
    ) -> Result<(Vec<Markup>, Option<Run>), cinder_read_models::ProjectionError> {
        let page = paging::rendered(
            self.chat.newest_before(&self.room, before),
            PAGE,
            list_budget(&self.app),
            message_item,
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

    /// "Load older messages" (a plain GET without JavaScript), continuing before `older_than`.
    /// `message` appended to the page, which then drops its oldest beyond what it keeps.
    fn append(&self, message: &Message) -> Patch {
        Patch::append(
            "messages",
            message_item(message),
            Some(self.shown().limit()),
        )
    }

    fn older_control(&self, older_than: Option<u64>) -> Markup {
        html! {
            div #older {
                @if let Some(oldest) = older_than {
                    form method="get" action={ "/chat/" (self.room) } {
                        button.link type="submit" name="before" value=(oldest)
                            data-cinder-click="load_older" { "Load older messages" }
                    }
                }
            }
        }
    }
}

#[async_trait]
impl LiveView for RoomView {
    fn title(&self) -> String {
        format!("#{}", self.room)
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let (messages, run) = self.page_before(self.before)?;
        let older_than = ShownRun::page(run, PAGE).older_than();
        let csrf = self.app.signer.csrf_token(&self.session);
        Ok(html! {
            div.page-head.room-head {
                h1 { "#" (self.room) }
                div.here { span.muted { "Here now" } (here_list(&self.names())) }
            }
            (self.older_control(older_than))
            (rendered_list(&messages))
            @match &self.session.name {
                Some(name) => {
                    form #send-form.composer method="post" action={ "/chat/" (self.room) "/messages" }
                        data-cinder-submit="send_message" data-cinder-validate {
                        input type="hidden" name="_csrf" value=(csrf);
                        input type="text" name="content" maxlength="2000" autocomplete="off"
                            placeholder="Say something" aria-label="Message" autofocus;
                        button type="submit" { "Send" }
                        p.error data-cinder-error role="alert" { (self.error.as_deref().unwrap_or_default()) }
                    }
                    p.muted { "Posting as " strong { (name) } }
                }
                None => {
                    form #name-form.composer method="post" action={ "/chat/" (self.room) "/name" } {
                        input type="hidden" name="_csrf" value=(csrf);
                        input type="text" name="name" maxlength="32" required
                            placeholder="Pick a display name" aria-label="Display name";
                        button type="submit" { "Join the room" }
                        p.error role="alert" { (self.error.as_deref().unwrap_or_default()) }
                    }
                }
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        // The latest page, whatever was shown before: the view's paging starts again with it.
        let messages = self.latest()?;
        Ok(vec![
            Patch::replace("older", self.older_control(self.shown().older_than())),
            Patch::replace("messages", rendered_list(&messages)),
            self.here_region(),
        ])
    }

    /// Messages are in the log; who is here is not, and is sent whole. So is "load older" after
    /// messages were replayed: they may have pushed the page's oldest out, which the view
    /// (joined with the latest page) cannot tell from a page that had nothing older.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        let shown = self.shown();
        let mut patches = vec![self.here_region()];
        if shown.appended_any() {
            patches.push(Patch::replace("older", self.older_control(shown.older_than())));
        }
        Some(Ok(patches))
    }

    fn topics(&self) -> Vec<String> {
        vec![room_topic(&self.room), pubsub_topic(&self.presence_topic())]
    }

    fn joined(&mut self) {
        // The page shows the latest messages (with those it missed, replayed or sent whole).
        if let Err(error) = self.latest() {
            tracing::warn!(%error, "chat room could not read its latest page");
        }
        if let Some(name) = self.session.name.clone() {
            self.present = Some(self.app.presence.track(
                &self.presence_topic(),
                &name,
                json!({ "name": name, "online_at": chrono::Utc::now().timestamp() }),
            ));
        }
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        match event {
            "send_message" => {
                let content = field(&value, "content");
                let message = self
                    .send(content)
                    .ok_or_else(|| json!({"errors": {"sender": ["pick a display name first"]}}))?;
                let ctx = Context::for_visitor(&self.app, &self.session);
                super::context::send_message(&ctx, message)
                    .await
                    .map_err(command_reply)?;
                Ok(Outcome::default())
            }
            "load_older" => {
                let before = self
                    .shown()
                    .older_than_or(&field(&value, "value"))
                    .ok_or_else(|| json!({"reason": "bad message id"}))?;
                let (older, run) = self
                    .page_before(Some(before))
                    .map_err(|_| json!({"reason": "could not load messages"}))?;
                let shown = self.shown.get_mut().unwrap_or_else(|p| p.into_inner());
                if let Some((oldest, _)) = run {
                    shown.loaded(oldest, older.len());
                }
                let older_than = shown.older_than();
                let items = html! { @for item in &older { (item) } };
                Ok(Outcome {
                    patches: vec![
                        Patch::prepend("messages", items, None),
                        Patch::replace("older", self.older_control(older_than)),
                    ],
                    committed: None,
                })
            }
            _ => Err(json!({"reason": format!("unknown event {event:?}")})),
        }
    }

    fn validate(&self, event: &str, value: &Value) -> Value {
        match event {
            "send_message" => match check_content(&field(value, "content")) {
                Ok(_) => json!({}),
                Err(problem) => field_errors(&[problem]),
            },
            _ => json!({}),
        }
    }

    /// A new message is the same append for everyone on the room's page who keeps as many
    /// messages: rendered once for all of them. A page it makes drop its first message is the
    /// exception, once: it also needs "load older", sent by `handle_change`.
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        match change.get::<ChatChange>() {
            Some(ChatChange::MessageAdded(message)) if message.room == self.room => {
                let shown = self.shown.get_mut().unwrap_or_else(|p| p.into_inner());
                if shown.appended(message.id) {
                    return None;
                }
                Some(RenderKey::new("lv:chat-room:message", shown.limit() as u64))
            }
            _ => None,
        }
    }

    fn render_shared(&self, change: &Change) -> Vec<Patch> {
        match change.get::<ChatChange>() {
            Some(ChatChange::MessageAdded(message)) => vec![self.append(message)],
            _ => Vec::new(),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        // A message here has been counted by `shared_key`, which sends it here only when it
        // made the page drop its first message.
        if let Some(ChatChange::MessageAdded(message)) = change.get::<ChatChange>() {
            if message.room == self.room {
                let older_than = self.shown().older_than();
                return vec![
                    self.append(message),
                    Patch::replace("older", self.older_control(older_than)),
                ];
            }
        }
        match change.get::<PresenceChanged>() {
            Some(PresenceChanged { topic }) if *topic == self.presence_topic() => self
                .here_changed()
                .map(|list| vec![Patch::replace("present", list)])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// `/chat`: the rooms, most recently active first, a page at a time; the first page is live.
pub struct LobbyView {
    app: AppState,
    chat: ChatReadModel,
    /// Show the rooms after this one instead of the first page (paging without JavaScript).
    after: Option<RoomCursor>,
    /// A room name the "open room" form refused, shown back with the reason.
    refused: Option<String>,
}

impl LobbyView {
    pub fn new(app: AppState, chat: ChatReadModel) -> Self {
        Self {
            app,
            chat,
            after: None,
            refused: None,
        }
    }

    /// The lobby showing why `typed` cannot name a room (and the name it could be).
    pub fn refusing(mut self, typed: &str) -> Self {
        self.refused = Some(typed.to_owned());
        self
    }

    /// The page of rooms after `cursor`, for "older rooms" without JavaScript.
    pub fn after(mut self, cursor: Option<RoomCursor>) -> Self {
        self.after = cursor;
        self
    }

    /// A room that was active moves to the top of the first page.
    fn lobby_patches(&self, change: &Change) -> Vec<Patch> {
        match change.get::<ChatChange>() {
            Some(ChatChange::RoomUpdated(summary)) => vec![
                Patch::remove(room_id(&summary.name)),
                Patch::prepend("rooms", room_item(summary), Some(LOBBY_PAGE)),
            ],
            _ => Vec::new(),
        }
    }

    /// The page of rooms: the list, and the link to the next page.
    fn rooms(&self) -> Result<(Markup, Markup), ViewError> {
        let page = paging::rendered(
            self.chat.rooms_after(self.after.as_ref()),
            LOBBY_PAGE,
            list_budget(&self.app),
            room_item,
        )?;
        let next = page
            .more
            .then(|| page.items.last().map(|(room, _)| RoomCursor::of(room)))
            .flatten();
        let list = html! {
            ul #rooms.rooms { @for (_, item) in &page.items { (item) } }
        };
        let more = html! {
            div #rooms-more {
                @if let Some(next) = next {
                    p { a href={ "/chat?before=" (next) } { "Less recently active rooms" } }
                }
            }
        };
        Ok((list, more))
    }
}

#[async_trait]
impl LiveView for LobbyView {
    fn title(&self) -> String {
        "Chat".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let (list, more) = self.rooms()?;
        let suggestion = self.refused.as_deref().and_then(room_suggestion);
        Ok(html! {
            div.page-head {
                h1 { "Chat rooms" }
                p.lead { "Pick a room or open a new one: everyone in it sees each message as it is sent." }
            }
            form #open-room.card.inline-form method="get" action="/chat/go" {
                label for="room-name" { "Room" }
                // `\-`: a dash in a class must be escaped under the `v` flag Chrome compiles
                // patterns with (an unescaped one makes the whole pattern invalid).
                input #room-name type="text" name="room" required maxlength="64"
                    pattern="[A-Za-z0-9\\-]{1,64}" title=(ROOM_RULE)
                    value=(self.refused.as_deref().unwrap_or_default())
                    aria-invalid=[self.refused.as_ref().map(|_| "true")]
                    aria-describedby="room-name-error"
                    placeholder="room-name" autocomplete="off";
                button type="submit" { "Open room" }
                p #room-name-error.error role="alert" {
                    @if self.refused.is_some() {
                        (ROOM_RULE) "."
                        @if let Some(name) = &suggestion {
                            " " a href={ "/chat/" (name) } { "Open #" (name) } "?"
                        }
                    }
                }
            }
            (list)
            (more)
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        let (list, more) = self.rooms()?;
        Ok(vec![
            Patch::replace("rooms", list),
            Patch::replace("rooms-more", more),
        ])
    }

    /// Every change the lobby shows is a room's summary, from the log.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        vec![ROOMS_TOPIC.to_owned()]
    }

    async fn handle_event(&mut self, event: &str, _value: Value) -> Result<Outcome, Value> {
        Err(json!({"reason": format!("unknown event {event:?}")}))
    }

    /// A room's new summary is the same for everyone on the lobby: rendered once.
    fn shared_key(&mut self, change: &Change) -> Option<RenderKey> {
        match change.get::<ChatChange>() {
            Some(ChatChange::RoomUpdated(_)) => Some(RenderKey::new("lv:chat-lobby:room", 0)),
            _ => None,
        }
    }

    fn render_shared(&self, change: &Change) -> Vec<Patch> {
        self.lobby_patches(change)
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        self.lobby_patches(change)
    }
}

/// What a room name may be, as the lobby's form says it.
const ROOM_RULE: &str = "Room names are 1–64 lowercase letters, digits and dashes, like my-room";

/// The room name `typed` probably meant ("My Room!" → "my-room"), if it makes one.
fn room_suggestion(typed: &str) -> Option<String> {
    let mut name = String::new();
    for c in typed.trim().chars() {
        match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => name.push(c),
            _ if !name.ends_with('-') && !name.is_empty() => name.push('-'),
            _ => {}
        }
    }
    let name: String = name.trim_end_matches('-').chars().take(64).collect();
    let name = name.trim_end_matches('-').to_owned();
    cinder_domain::chat::is_valid_room_name(&name).then_some(name)
}

/// "Who's here": the names present in the room (the first hundred, and how many more), live.
fn here_list(names: &[String]) -> Markup {
    html! {
        ul #present.present aria-label="Who's here" aria-live="polite" {
            @for name in names.iter().take(HERE_SHOWN) { li { (name) } }
            @if names.len() > HERE_SHOWN {
                li.muted { "and " (names.len() - HERE_SHOWN) " more" }
            }
        }
    }
}

pub fn message_list(messages: &[Message]) -> Markup {
    rendered_list(&messages.iter().map(message_item).collect::<Vec<_>>())
}

/// The message list of messages already rendered, oldest first.
fn rendered_list(items: &[Markup]) -> Markup {
    html! {
        ol #messages.messages data-cinder-scroll="bottom" aria-live="polite" {
            @for item in items { (item) }
        }
    }
}

pub fn message_item(message: &Message) -> Markup {
    html! {
        li.message id={ "message-" (message.id) } {
            span.sender { (message.sender) }
            span.content { (message.content) }
            (time(&message.sent_at, Shown::Time))
        }
    }
}

fn room_id(name: &str) -> String {
    format!("room-{name}")
}

fn room_item(room: &RoomSummary) -> Markup {
    html! {
        li.room id=(room_id(&room.name)) {
            a href={ "/chat/" (room.name) } { "#" (room.name) }
            " "
            span.muted.room-meta {
                (room.message_count) @if room.message_count == 1 { " message" } @else { " messages" }
                ", last at "
                (time(&room.last_activity, Shown::Minute))
            }
        }
    }
}
