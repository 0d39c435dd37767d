//! The live tail of the log, and the markup the explorer's pages share.

use async_trait::async_trait;
use cinder_read_models::{Change, StoredEvent, LOG_TOPIC};
use maud::{html, Markup};
use serde_json::{json, Value};

use super::Viewer;
use crate::web::live::{LiveView, Outcome, Patch, ViewError};
use crate::web::AppState;

/// Events the tail shows.
pub const TAIL: usize = 50;
/// Characters of a payload shown in the tail before it is cut.
const PREVIEW: usize = 240;

/// `/events`: the newest events first, optionally of one aggregate type, live.
pub struct TailView {
    app: AppState,
    viewer: Viewer,
    filter: Option<String>,
}

impl TailView {
    pub fn new(app: AppState, viewer: Viewer, filter: Option<String>) -> Self {
        Self {
            app,
            viewer,
            filter,
        }
    }

    async fn rows(&self) -> Markup {
        match self
            .app
            .log
            .latest(self.filter.as_deref(), None, TAIL)
            .await
        {
            Ok(events) => event_table(&self.app, &self.viewer, &events),
            Err(error) => html! {
                table #events { tbody #event-rows {} }
                p.error { "The event store is unavailable: " (error.to_string()) }
            },
        }
    }
}

#[async_trait]
impl LiveView for TailView {
    fn title(&self) -> String {
        "Event log".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        Ok(html! {
            h1 { "Event log" }
            form method="get" action="/events" {
                input type="text" name="type" value=(self.filter.as_deref().unwrap_or_default())
                    placeholder="Aggregate type, e.g. Room" aria-label="Aggregate type";
                button type="submit" { "Filter" }
            }
            (self.rows().await)
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        Ok(vec![Patch::replace("events", self.rows().await)])
    }

    fn topics(&self) -> Vec<String> {
        vec![LOG_TOPIC.to_owned()]
    }

    async fn handle_event(&mut self, event: &str, _value: Value) -> Result<Outcome, Value> {
        Err(json!({"reason": format!("unknown event {event:?}")}))
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        match change {
            Change::Logged(event)
                if self
                    .filter
                    .as_deref()
                    .is_none_or(|t| t == event.aggregate_type) =>
            {
                vec![Patch::prepend(
                    "event-rows",
                    event_row(&self.app, &self.viewer, event),
                    Some(TAIL),
                )]
            }
            _ => Vec::new(),
        }
    }
}

pub fn event_table(app: &AppState, viewer: &Viewer, events: &[StoredEvent]) -> Markup {
    html! {
        table #events.events {
            thead { tr { th { "#" } th { "recorded" } th { "aggregate" } th { "seq" } th { "event" } th { "payload" } } }
            tbody #event-rows {
                @for event in events { (event_row(app, viewer, event)) }
            }
        }
    }
}

pub fn event_row(app: &AppState, viewer: &Viewer, event: &StoredEvent) -> Markup {
    let payload = super::shown_payload(app, viewer, event).to_string();
    let preview: String = payload.chars().take(PREVIEW).collect();
    html! {
        tr id={ "event-" (event.position) } {
            td { (event.position) }
            td { time datetime=(event.recorded_at.to_rfc3339()) { (event.recorded_at.format("%H:%M:%S")) } }
            td { a href={ "/events/" (event.aggregate_type) "/" (event.aggregate_id) } { (event.aggregate_type) " " (event.aggregate_id) } }
            td { (event.sequence) }
            td { (event.event_type) " " span.muted { "v" (event.event_version) } }
            td { code { (preview) @if preview.len() < payload.len() { "…" } } }
        }
    }
}
