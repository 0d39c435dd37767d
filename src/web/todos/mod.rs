//! Todos on the web: TodoMVC per visitor, live across the visitor's tabs, with plain form
//! posts for every action and a JSON API for programs.
//!
//! A visitor's list is theirs alone: its id is derived from their session (see [`list_id`]),
//! the page's `lv:` token carries that session, and the list's pubsub topic is only followed by
//! views mounted for it. So no visitor can mount, read or change another's list.

mod api;
pub mod context;
mod pages;
mod views;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Extension;
use cinder_domain::todos::TodoList;
use cinder_domain::StoredEvent;
use cinder_read_models::todos::TodosReadModel;
use cinder_read_models::Projection;
use cqrs_es::Aggregate;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::app::{App, Nav, Registration};
use super::events::{redacted, NewAsOf, Viewer};
use super::live::LiveView;
use super::session::Session;
use super::AppState;
use crate::bus::CommandBus;

/// Todos, as the platform registers it.
pub static APP: Registration = Registration {
    name: "todos",
    projections: &["todos"],
    aggregates,
    open: |db| Ok(Arc::new(TodosReadModel::open(db)?)),
};

fn aggregates(bus: &mut CommandBus) {
    bus.register::<TodoList>((), Vec::new());
}

/// Todos on a node is its read model. A list is its visitor's alone, in the log too.
impl App for TodosReadModel {
    fn nav(&self) -> Option<Nav> {
        Some(Nav {
            href: "/todos",
            label: "Todos",
            blurb: "Your list",
        })
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(self.clone())]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        crate::web::openapi::tagged("todos", "The caller's todo list (by its session cookie)")
            .route("/todos", get(pages::all).post(pages::add))
            .route("/todos/active", get(pages::active))
            .route("/todos/completed", get(pages::completed))
            .route("/todos/toggle-all", post(pages::toggle_all))
            .route("/todos/clear-completed", post(pages::clear_completed))
            .route("/todos/{id}/toggle", post(pages::toggle))
            .route("/todos/{id}/edit", post(pages::edit))
            .route("/todos/{id}/delete", post(pages::delete))
            .routes(routes!(api::list, api::add))
            .routes(routes!(api::toggle_all))
            .routes(routes!(api::clear_completed))
            .routes(routes!(api::update, api::delete))
            .layer(Extension(self.clone()))
    }

    /// `/todos`, `/todos/active`, `/todos/completed`: always the session's own list.
    fn mount(&self, path: &str, session: &Session, app: &AppState) -> Option<Box<dyn LiveView>> {
        let filter = Filter::from_path(path)?;
        Some(Box::new(views::TodosView::new(
            app.clone(),
            self.clone(),
            session,
            filter,
        )))
    }

    fn as_of(&self, aggregate_type: &str) -> Option<NewAsOf> {
        (aggregate_type == TodoList::TYPE).then_some(as_of as NewAsOf)
    }

    fn owned_by(&self, session: &Session) -> Vec<String> {
        vec![list_id(session)]
    }

    fn redact(&self, event: &StoredEvent, viewer: &Viewer) -> Option<Value> {
        (event.aggregate_type == TodoList::TYPE && !viewer.may_see(&event.aggregate_id))
            .then(|| redacted(event, "a visitor's todo list"))
    }

    fn may_see(&self, aggregate_type: &str, aggregate_id: &str, viewer: &Viewer) -> bool {
        aggregate_type != TodoList::TYPE || viewer.may_see(aggregate_id)
    }
}

/// Which todos a page shows; it comes from the URL, as in TodoMVC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    Active,
    Completed,
}

impl Filter {
    pub const EVERY: [Filter; 3] = [Filter::All, Filter::Active, Filter::Completed];

    /// The page of this filter, which is also its live view's path.
    pub fn path(self) -> &'static str {
        match self {
            Filter::All => "/todos",
            Filter::Active => "/todos/active",
            Filter::Completed => "/todos/completed",
        }
    }

    pub fn from_path(path: &str) -> Option<Filter> {
        Filter::EVERY.into_iter().find(|f| f.path() == path)
    }

    /// Whether a todo that is (or is not) done belongs on this page.
    pub fn shows(self, completed: bool) -> bool {
        match self {
            Filter::All => true,
            Filter::Active => !completed,
            Filter::Completed => completed,
        }
    }
}

/// The id of a visitor's list: a hash of their session id, one list per session. The log is
/// public (the event explorer shows every aggregate id), so it carries this rather than the
/// session id itself, which nothing else ever shows.
pub fn list_id(session: &Session) -> String {
    crate::opaque::opaque_id("cinder todo list", &session.id, 16)
}

/// A list rebuilt for the explorer's "as of", in a throwaway read model.
pub fn as_of(
    list: &str,
) -> Result<Box<dyn super::events::AsOf>, cinder_read_models::ProjectionError> {
    let db = super::events::scratch_db()?;
    let todos = cinder_read_models::todos::TodosReadModel::open(&db)?;
    Ok(Box::new(ListAsOf {
        todos,
        list: list.to_owned(),
        _db: db,
    }))
}

struct ListAsOf {
    todos: cinder_read_models::todos::TodosReadModel,
    list: String,
    _db: sled::Db,
}

impl super::events::AsOf for ListAsOf {
    fn fold(
        &self,
        events: &[cinder_domain::StoredEvent],
    ) -> Result<(), cinder_read_models::ProjectionError> {
        cinder_read_models::fold(&self.todos, events)
    }

    /// The todos that fit in `budget`, in order, with the list's counts and a note when some
    /// were left out.
    fn render(&self, budget: usize) -> Result<maud::Markup, cinder_read_models::ProjectionError> {
        let todos = self.todos.list(&self.list)?;
        let counts = self.todos.counts(&self.list)?;
        Ok(views::read_only_list(&todos, counts, budget))
    }
}
