//! The live tail of the log, and the markup the explorer's pages share.

use async_trait::async_trait;
use cinder_read_models::{Change, StoredEvent};

use crate::projections::{Logged, LOG_TOPIC};
use maud::{html, Markup};
use serde_json::{json, Value};

use super::Viewer;
use crate::web::live::{LiveView, Outcome, Patch, ViewError};
use crate::web::AppState;

/// Characters of one payload a history page shows before cutting it (no event of ours comes
/// near; this keeps one odd event from taking the page).
const PAYLOAD_SHOWN: usize = 64 * 1024;

/// Events the tail shows.
pub const TAIL: usize = 50;
/// Characters of a payload shown in the tail before it is cut.
const PREVIEW: usize = 240;

/// `/events`: the newest events first, optionally of one aggregate type, live.
pub struct TailView {
    app: AppState,
    viewer: Viewer,
    filter: Option<String>,
    /// Show the events before this position instead of the newest (paging without live).
    before: Option<i64>,
}

impl TailView {
    pub fn new(app: AppState, viewer: Viewer, filter: Option<String>) -> Self {
        Self {
            app,
            viewer,
            filter,
            before: None,
        }
    }

    /// The page of events older than position `before`.
    pub fn before(mut self, before: Option<i64>) -> Self {
        self.before = before;
        self
    }

    /// The table of the newest events (through the filter) and its pager, or what to show
    /// instead when the store cannot be read.
    async fn table_and_pager(&self) -> (Markup, Markup) {
        match self
            .app
            .log
            .latest(self.filter.as_deref(), self.before, TAIL)
            .await
        {
            Ok(events) => (
                event_table(&self.app, &self.viewer, &events),
                self.pager(&events),
            ),
            Err(error) => (
                html! {
                    div #events.table-wrap {
                        table.events { tbody #event-rows {} }
                        p.error { "The event store is unavailable: " (error.to_string()) }
                    }
                },
                html! { nav #events-pager.pager {} },
            ),
        }
    }

    /// "Older events" (if the page is full, there may be some) and "Newest events".
    fn pager(&self, events: &[StoredEvent]) -> Markup {
        let filter = self.filter.as_deref();
        let query = |before: Option<i64>| {
            let mut parts = Vec::new();
            if let Some(t) = filter {
                parts.push(format!("type={t}"));
            }
            if let Some(before) = before {
                parts.push(format!("before={before}"));
            }
            if parts.is_empty() {
                "/events".to_owned()
            } else {
                format!("/events?{}", parts.join("&"))
            }
        };
        let oldest = events.last().map(|e| e.position).filter(|p| *p > 1);
        html! {
            nav #events-pager.pager aria-label="Pages of events" {
                @if self.before.is_some() { a href=(query(None)) { "Newest events" } }
                @if let Some(oldest) = oldest.filter(|_| events.len() >= TAIL) {
                    a rel="next" href=(query(Some(oldest))) { "Older events" }
                }
            }
        }
    }
}

#[async_trait]
impl LiveView for TailView {
    fn title(&self) -> String {
        "Event log".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let (table, pager) = self.table_and_pager().await;
        Ok(html! {
            div.page-head {
                h1 { "Event log" }
                p.lead { "Every event every app has recorded, newest first"
                    @if self.before.is_none() { ", as it happens" } "." }
            }
            form.card.inline-form method="get" action="/events" {
                label for="event-type" { "Aggregate type" }
                input #event-type type="text" name="type" value=(self.filter.as_deref().unwrap_or_default())
                    placeholder=[self.app.bus.aggregate_types().first().map(|t| format!("e.g. {t}"))]
                    list="aggregate-types" autocomplete="off";
                datalist #aggregate-types {
                    @for t in self.app.bus.aggregate_types() { option value=(t) {} }
                }
                button type="submit" { "Filter" }
                @if self.filter.is_some() { a.button.secondary href="/events" { "All events" } }
            }
            (table)
            (pager)
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        let (table, pager) = self.table_and_pager().await;
        Ok(vec![
            Patch::replace("events", table),
            Patch::replace("events-pager", pager),
        ])
    }

    /// The rows are in the log: each event is prepended as it is recorded. The pager is not
    /// kept live ("older events" would have to follow the last row as new rows push it out),
    /// so it is sent whole, as the newest events now make it.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        let (_, pager) = self.table_and_pager().await;
        Some(Ok(vec![Patch::replace("events-pager", pager)]))
    }

    fn topics(&self) -> Vec<String> {
        vec![LOG_TOPIC.to_owned()]
    }

    async fn handle_event(&mut self, event: &str, _value: Value) -> Result<Outcome, Value> {
        Err(json!({"reason": format!("unknown event {event:?}")}))
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change.get::<Logged>() {
            Some(Logged(event))
                if self
                    .filter
                    .as_deref()
                    .is_none_or(|t| t == event.aggregate_type) =>
            {
                vec![
                    Patch::prepend(
                        "event-rows",
                        event_row(&self.app, &self.viewer, event),
                        Some(TAIL),
                    ),
                    // The first event of an empty table: "No events yet" goes.
                    Patch::remove(NO_EVENTS),
                ]
            }
            _ => Vec::new(),
        }
    }
}

/// The id of the note an empty table shows.
const NO_EVENTS: &str = "no-events";

/// The table of events, in a wrapper of its own width (it scrolls inside, never the page).
pub fn event_table(app: &AppState, viewer: &Viewer, events: &[StoredEvent]) -> Markup {
    html! {
        div #events.table-wrap {
            table.events {
                thead { tr {
                    th scope="col" { "Position" } th scope="col" { "Recorded" }
                    th scope="col" { "Aggregate" } th scope="col" { "Event" } th scope="col" { "Payload" }
                } }
                tbody #event-rows {
                    @for event in events { (event_row(app, viewer, event)) }
                }
            }
            @if events.is_empty() { p.empty id=(NO_EVENTS) { "No events yet." } }
        }
    }
}

pub fn event_row(app: &AppState, viewer: &Viewer, event: &StoredEvent) -> Markup {
    let payload = super::shown_payload(app, viewer, event).to_string();
    let preview: String = payload.chars().take(PREVIEW).collect();
    html! {
        tr id={ "event-" (event.position) } {
            td.position { (event.position) }
            td.when { (super::recorded_at(event)) }
            td.aggregate {
                a href={ "/events/" (event.aggregate_type) "/" (event.aggregate_id) } {
                    span.type { (event.aggregate_type) } " " span.id { (event.aggregate_id) }
                }
                " " span.muted.seq { "event " (event.sequence) }
            }
            td.event { (event.event_type) " " span.muted { "v" (event.event_version) } }
            td.payload { code { (preview) @if preview.len() < payload.len() { "…" } } }
        }
    }
}

/// One event of an aggregate's history: its number in the aggregate, type, version, position,
/// time and whole payload (as the viewer may see it), and "as of this event" if `rebuildable`.
pub fn history_item(
    app: &AppState,
    viewer: &Viewer,
    event: &StoredEvent,
    rebuildable: bool,
) -> Markup {
    let payload =
        serde_json::to_string_pretty(&super::shown_payload(app, viewer, event)).unwrap_or_default();
    let cut: String = payload.chars().take(PAYLOAD_SHOWN).collect();
    html! {
        li.card id={ "event-" (event.position) } {
            div.history-head {
                span.seq { "#" (event.sequence) }
                strong.event-type { (event.event_type) }
                span.muted { "v" (event.event_version) " · position " (event.position) " · " (super::recorded_at(event)) }
                @if rebuildable {
                    a.as-of href={ "/events/" (event.aggregate_type) "/" (event.aggregate_id) "/at/" (event.position) } {
                        "as of this event"
                    }
                }
            }
            pre { code { (cut) @if cut.len() < payload.len() { "…" } } }
        }
    }
}

/// `/events/<type>/<id>` when it shows the latest events: the events recorded after the page's
/// last one (`since`, a sequence) appear below it as they happen. The page itself is rendered by
/// the history handler; this view keeps its live part ([`history_live`]), which a rejoin fills
/// again from the log.
pub struct AggregateView {
    app: AppState,
    viewer: Viewer,
    aggregate_type: String,
    aggregate_id: String,
    since: i64,
    rebuildable: bool,
}

impl AggregateView {
    /// The live path of an aggregate's page whose first paint ended at sequence `since`.
    pub fn path(aggregate_type: &str, aggregate_id: &str, since: i64) -> String {
        format!("/events/{aggregate_type}/{aggregate_id}?since={since}")
    }

    /// The view at a path made by [`AggregateView::path`], if it is one.
    pub fn mount(app: &AppState, viewer: Viewer, path: &str) -> Option<Self> {
        let (page, since) = path.strip_prefix("/events/")?.rsplit_once("?since=")?;
        let (aggregate_type, aggregate_id) = page.split_once('/')?;
        if !super::is_aggregate_type(aggregate_type) || !super::is_aggregate_id(aggregate_id) {
            return None;
        }
        let rebuildable = super::supports_as_of(app, aggregate_type)
            && viewer.may_see_aggregate(app, aggregate_type, aggregate_id);
        Some(Self {
            app: app.clone(),
            viewer,
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            since: since.parse().ok()?,
            rebuildable,
        })
    }

    /// The live part: the events after `since`, within the list budget (a long absence shows
    /// the first of them and links to the rest).
    async fn live_list(&self) -> Markup {
        let events = match self
            .app
            .log
            .stream_page(
                &self.aggregate_type,
                &self.aggregate_id,
                self.since,
                super::HISTORY_PAGE,
            )
            .await
        {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "explorer: could not read an aggregate's new events");
                Vec::new()
            }
        };
        let budget = crate::web::paging::list_budget(&self.app);
        let mut items = String::new();
        let mut last = None;
        for event in &events {
            let item = history_item(&self.app, &self.viewer, event, self.rebuildable).into_string();
            if last.is_some() && items.len() + item.len() > budget {
                break;
            }
            items.push_str(&item);
            last = Some(event.sequence);
        }
        // Cut by the budget, or a full page (there may be more): link to the rest.
        let cut = last != events.last().map(|e| e.sequence);
        let more = last.filter(|_| cut || events.len() >= super::HISTORY_PAGE);
        let newer = more.map(|to| {
            html! {
                p.more { a href={ "/events/" (self.aggregate_type) "/" (self.aggregate_id) "?after=" (to) } { "Newer events" } }
            }
        });
        history_live(self.since, maud::PreEscaped(items), newer)
    }
}

/// The live part of an aggregate's page: the events after the page's last (`since`), which
/// pushes append to `#history-live`, and past a page of them the link to the rest. One element,
/// the region a whole re-send replaces: a link beside the list would be left behind by each
/// re-send, and another added.
pub fn history_live(since: i64, items: Markup, newer: Option<Markup>) -> Markup {
    html! {
        div #(HISTORY_NEW) {
            ol #history-live.history start=(since + 1) aria-live="polite" { (items) }
            @if let Some(newer) = newer { (newer) }
        }
    }
}

/// The id of [`history_live`]'s region.
const HISTORY_NEW: &str = "history-new";

#[async_trait]
impl LiveView for AggregateView {
    fn title(&self) -> String {
        format!("{} {}", self.aggregate_type, self.aggregate_id)
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        Ok(self.live_list().await)
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        Ok(vec![Patch::replace(HISTORY_NEW, self.live_list().await)])
    }

    /// The aggregate's new events are in the log, each appended as it is recorded (those up to
    /// the page's last, `since`, are left out: the page shows them).
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        vec![LOG_TOPIC.to_owned()]
    }

    async fn handle_event(&mut self, event: &str, _value: Value) -> Result<Outcome, Value> {
        Err(json!({"reason": format!("unknown event {event:?}")}))
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change.get::<Logged>() {
            Some(Logged(event))
                if event.aggregate_type == self.aggregate_type
                    && event.aggregate_id == self.aggregate_id
                    && event.sequence > self.since =>
            {
                vec![Patch::append(
                    "history-live",
                    history_item(&self.app, &self.viewer, event, self.rebuildable),
                    Some(super::HISTORY_PAGE),
                )]
            }
            _ => Vec::new(),
        }
    }
}
