//! The explorer's pages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use super::views::{history_item, history_live, AggregateView, TailView};
use super::{
    as_of_view, is_aggregate_id, is_aggregate_type, supports_as_of, AsOf, Viewer, HISTORY_PAGE,
};
use crate::web::errors::not_found_page;
use crate::web::layout;
use crate::web::live::{live_markup_page, page, static_page};
use crate::web::paging::list_budget;
use crate::web::session::Session;
use crate::web::AppState;

/// Events "as of" reads from the store and folds at a time.
const FOLD_PAGE: usize = 500;

#[derive(Deserialize)]
pub struct Filter {
    #[serde(rename = "type")]
    aggregate_type: Option<String>,
    /// Older events: those before this position (a plain page, not followed live).
    before: Option<i64>,
}

/// `/events`: the live tail.
pub async fn tail(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Query(filter): Query<Filter>,
) -> Response {
    let path = match filter.aggregate_type.as_deref().filter(|t| !t.is_empty()) {
        Some(t) if is_aggregate_type(t) => format!("/events?type={t}"),
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "aggregate types are 1–64 letters and digits",
            )
                .into_response()
        }
        None => "/events".to_owned(),
    };
    if let Some(before) = filter.before {
        let filter = filter.aggregate_type.filter(|t| !t.is_empty());
        let view =
            TailView::new(app.clone(), Viewer::of(&app, &session, false), filter).before(Some(before));
        return static_page(&app, &session, &view).await;
    }
    match crate::web::live::mount(&path, &session, &app) {
        Some(view) => page(&app, &session, &path, view.as_ref()).await,
        None => not_found_page(&app, &session),
    }
}

/// `/events/<type>/<id>?after=<sequence>`: one page of an aggregate's history (the events
/// after `after`, oldest first, as many as fit in a page), each event with an "as of" link.
pub async fn history(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !is_aggregate_type(&aggregate_type) || !is_aggregate_id(&aggregate_id) {
        return not_found_page(&app, &session);
    }
    let after = match query.get("after").map(|a| a.parse::<u32>()) {
        None => 0,
        Some(Ok(after)) => i64::from(after),
        Some(Err(_)) => {
            return (StatusCode::BAD_REQUEST, "after must be a sequence number").into_response()
        }
    };
    // Read before the log: the page reflects at least this much of it (its rejoin is sent what
    // it missed since; the events up to `last` it shows are left out of that by their sequence).
    let at = app.progress.current();
    let last = match app.log.last_sequence(&aggregate_type, &aggregate_id).await {
        Ok(Some(last)) => last,
        Ok(None) => return not_found_page(&app, &session),
        Err(error) => return unavailable(error),
    };
    let events = match app
        .log
        .stream_page(&aggregate_type, &aggregate_id, after, HISTORY_PAGE)
        .await
    {
        Ok(events) => events,
        Err(error) => return unavailable(error),
    };
    let viewer = Viewer::of(&app, &session, crate::web::admin::is_admin(&headers, &app));
    let rebuildable = supports_as_of(&app, &aggregate_type)
        && viewer.may_see_aggregate(&app, &aggregate_type, &aggregate_id);
    let base = format!("/events/{aggregate_type}/{aggregate_id}");
    // Each event rendered on its own, so the page stops where the next would pass the budget.
    let mut items = String::new();
    let mut shown: usize = 0;
    for event in &events {
        let item = history_item(&app, &viewer, event, rebuildable).into_string();
        if shown > 0 && items.len() + item.len() > list_budget(&app) {
            break;
        }
        items.push_str(&item);
        shown += 1;
    }
    let first = events.first().map_or(after + 1, |e| e.sequence);
    let shown_last = shown
        .checked_sub(1)
        .and_then(|i| events.get(i))
        .map(|e| e.sequence);
    let latest = (last - HISTORY_PAGE as i64).max(0);
    let live_since = shown_last.filter(|to| *to == last);
    let body = html! {
        p.crumbs { a href="/events" { "Event log" } " / " a href={ "/events?type=" (aggregate_type) } { (aggregate_type) } }
        h1.aggregate-title { (aggregate_type) " " span.id { (aggregate_id) } }
        p.muted {
            (last) " events. "
            @match shown_last {
                Some(to) => { "Showing " (first) "–" (to) ". " }
                None => { "No events after " (after) ". " }
            }
            @if rebuildable { "Pick one to see the " (aggregate_type.to_lowercase()) " as it stood right after it." }
        }
        nav.pager {
            @if after > 0 { a href=(base) { "First events" } " " }
            @if let Some(to) = shown_last.filter(|to| *to < last) {
                a rel="next" href={ (base) "?after=" (to) } { "Next events" } " "
            }
            @if shown_last.is_none_or(|to| to < latest) { a href={ (base) "?after=" (latest) } { "Latest events" } }
        }
        ol.history start=(first) { (PreEscaped(items)) }
        @if live_since.is_some() { (history_live(last, html! {}, None)) }
    };
    let title = format!("{aggregate_type} {aggregate_id}");
    match live_since {
        // The page ends at the latest event: what comes next is shown as it happens.
        Some(since) => {
            let path = AggregateView::path(&aggregate_type, &aggregate_id, since);
            live_markup_page(&app, &session, &path, &title, body, at).await
        }
        None => html_page(&app, &session, &title, body),
    }
}

/// `/events/<type>/<id>/at/<position>`: the aggregate's view rebuilt from its events up to and
/// including the one at `position`, folded a page at a time into a throwaway read model and
/// shown within the page budget.
pub async fn as_of(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Path((aggregate_type, aggregate_id, position)): Path<(String, String, i64)>,
) -> Response {
    if !is_aggregate_type(&aggregate_type) || !is_aggregate_id(&aggregate_id) {
        return not_found_page(&app, &session);
    }
    let chosen = match app.log.event_at(position).await {
        Ok(Some(chosen))
            if chosen.aggregate_type == aggregate_type && chosen.aggregate_id == aggregate_id =>
        {
            chosen
        }
        Ok(_) => return not_found_page(&app, &session),
        Err(error) => return unavailable(error),
    };
    let rebuilt: Arc<dyn AsOf> = match as_of_view(&app, &aggregate_type, &aggregate_id) {
        Some(Ok(rebuilt)) => Arc::from(rebuilt),
        Some(Err(error)) => return crate::web::errors::internal_page(error),
        None => return not_found_page(&app, &session),
    };
    let viewer = Viewer::of(&app, &session, crate::web::admin::is_admin(&headers, &app));
    if !viewer.may_see_aggregate(&app, &aggregate_type, &aggregate_id) {
        return private_page(&app, &session, &aggregate_type);
    }
    let mut after = 0;
    while after < chosen.sequence {
        let mut events = match app
            .log
            .stream_page(&aggregate_type, &aggregate_id, after, FOLD_PAGE)
            .await
        {
            Ok(events) => events,
            Err(error) => return unavailable(error),
        };
        events.retain(|e| e.sequence <= chosen.sequence);
        let Some(last) = events.last().map(|e| e.sequence) else {
            break;
        };
        // Folding is sled work: off the async threads, so other requests go on meanwhile.
        let model = rebuilt.clone();
        match tokio::task::spawn_blocking(move || model.fold(&events)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return crate::web::errors::internal_page(error),
            Err(error) => return crate::web::errors::internal_page(error),
        }
        after = last;
    }
    let total = match app.log.last_sequence(&aggregate_type, &aggregate_id).await {
        Ok(total) => total.unwrap_or(chosen.sequence),
        Err(error) => return unavailable(error),
    };
    let model = rebuilt.clone();
    let budget = list_budget(&app);
    let view = match tokio::task::spawn_blocking(move || model.render(budget)).await {
        Ok(Ok(view)) => view,
        Ok(Err(error)) => return crate::web::errors::internal_page(error),
        Err(error) => return crate::web::errors::internal_page(error),
    };
    let base = format!("/events/{aggregate_type}/{aggregate_id}");
    let page_of_chosen = (chosen.sequence - 1).max(0) / HISTORY_PAGE as i64 * HISTORY_PAGE as i64;
    let body = html! {
        p.crumbs { a href="/events" { "Event log" } " / " a href=(base) { (aggregate_type) " " (aggregate_id) } }
        h1.aggregate-title { (aggregate_type) " " span.id { (aggregate_id) } " as of event " (chosen.sequence) }
        p.muted {
            "Rebuilt by replaying " (chosen.sequence) " of " (total) " events, up to position " (position)
            " (" (super::recorded_at(&chosen)) "). "
            a href={ (base) "?after=" (page_of_chosen) } { "History" }
        }
        section #as-of.card { (view) }
    };
    html_page(
        &app,
        &session,
        &format!("{aggregate_type} {aggregate_id} as of {position}"),
        body,
    )
}

/// 403 for "as of" a visitor's aggregate that is not the viewer's.
fn private_page(app: &AppState, session: &Session, aggregate_type: &str) -> Response {
    let body = html! {
        h1 { "Private" }
        p { "This " (aggregate_type) " belongs to another visitor: only they (and the admin) see it as it stood." }
    };
    let mut response = html_page(app, session, "Private", body);
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

fn html_page(app: &AppState, session: &Session, title: &str, body: Markup) -> Response {
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Html(layout::page(title, app, session, None, body).into_string()),
    )
        .into_response()
}

fn unavailable(error: impl std::fmt::Display) -> Response {
    tracing::warn!(%error, "explorer: event store unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The event store is unavailable; try again shortly.",
    )
        .into_response()
}
