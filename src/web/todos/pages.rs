//! Todos' pages and plain form posts: every TodoMVC action works without JavaScript. A post
//! returns to the filter page it came from once this node shows the change.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use cinder_domain::todos::{
    AddTodo, DeleteTodo, EditTodo, TodoError, ToggleAll, ToggleTodo,
};
use serde::Deserialize;

use super::views::TodosView;
use super::{context, Filter};
use crate::bus::CommandError;
use crate::web::context::Context;
use crate::web::errors::not_found_page;
use crate::web::forms::csrf_refusal;
use crate::web::live::{page, static_page};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::todos::TodosReadModel;

#[derive(Deserialize)]
pub struct Editing {
    edit: Option<u64>,
}

pub async fn all(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Query(editing): Query<Editing>,
) -> Response {
    show(app, todos, session, Filter::All, editing).await
}

pub async fn active(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Query(editing): Query<Editing>,
) -> Response {
    show(app, todos, session, Filter::Active, editing).await
}

pub async fn completed(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Query(editing): Query<Editing>,
) -> Response {
    show(app, todos, session, Filter::Completed, editing).await
}

/// A filter page, live; with `?edit=<id>` (editing without JavaScript) a plain page with that
/// todo's edit field open, not followed live (a re-sent list would close it).
async fn show(
    app: AppState,
    todos: TodosReadModel,
    session: Session, filter: Filter, editing: Editing) -> Response {
    let view = TodosView::new(app.clone(), todos, &session, filter).editing(editing.edit);
    match editing.edit {
        Some(_) => static_page(&app, &session, &view).await,
        None => page(&app, &session, filter.path(), &view).await,
    }
}

type Fields = Form<HashMap<String, String>>;

pub async fn add(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Form(form): Fields,
) -> Response {
    if let Some(refused) = refused(&app, &session, &form) {
        return refused;
    }
    let ctx = Context::for_visitor(&app, &session);
    let title = text(&form, "title");
    let done = context::add_todo(&ctx, AddTodo { title }).await;
    answer(&app, &todos, &session, &form, done).await
}

pub async fn toggle(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let Ok(id) = id.parse() else {
        return not_found_page(&app, &session);
    };
    if let Some(refused) = refused(&app, &session, &form) {
        return refused;
    }
    let ctx = Context::for_visitor(&app, &session);
    let completed = None;
    let done = context::toggle_todo(&ctx, ToggleTodo { id, completed }).await;
    answer(&app, &todos, &session, &form, done).await
}

pub async fn edit(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let Ok(id) = id.parse() else {
        return not_found_page(&app, &session);
    };
    if let Some(refused) = refused(&app, &session, &form) {
        return refused;
    }
    let ctx = Context::for_visitor(&app, &session);
    let title = text(&form, "title");
    let done = context::edit_todo(&ctx, EditTodo { id, title }).await;
    answer(&app, &todos, &session, &form, done).await
}

pub async fn delete(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let Ok(id) = id.parse() else {
        return not_found_page(&app, &session);
    };
    if let Some(refused) = refused(&app, &session, &form) {
        return refused;
    }
    let ctx = Context::for_visitor(&app, &session);
    let done = context::delete_todo(&ctx, DeleteTodo { id }).await;
    answer(&app, &todos, &session, &form, done).await
}

pub async fn toggle_all(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Form(form): Fields,
) -> Response {
    if let Some(refused) = refused(&app, &session, &form) {
        return refused;
    }
    let ctx = Context::for_visitor(&app, &session);
    let done = context::toggle_all(&ctx, ToggleAll { completed: None }).await;
    answer(&app, &todos, &session, &form, done).await
}

pub async fn clear_completed(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Form(form): Fields,
) -> Response {
    if let Some(refused) = refused(&app, &session, &form) {
        return refused;
    }
    let ctx = Context::for_visitor(&app, &session);
    let done = context::clear_completed(&ctx).await;
    answer(&app, &todos, &session, &form, done).await
}

/// The refusal to answer if the form does not carry the visitor's CSRF token.
fn refused(app: &AppState, session: &Session, form: &HashMap<String, String>) -> Option<Response> {
    csrf_refusal(app, session, form.get("_csrf").map(String::as_str))
}

/// Back to the page the form was on once `done`, or that page again with the refusal (422),
/// or 404 for an unknown todo.
async fn answer(
    app: &AppState,
    todos: &TodosReadModel,
    session: &Session,
    form: &HashMap<String, String>,
    done: context::Done,
) -> Response {
    let back = form
        .get("back")
        .and_then(|path| Filter::from_path(path))
        .unwrap_or(Filter::All);
    match done {
        Ok(()) => Redirect::to(back.path()).into_response(),
        Err(CommandError::Rejected(TodoError::NotFound)) => not_found_page(app, session),
        Err(error) => {
            let message = match &error {
                CommandError::Rejected(rejection) => rejection.to_string(),
                other => other.to_string(),
            };
            let view = TodosView::new(app.clone(), todos.clone(), session, back).with_error(message);
            let mut response = page(app, session, back.path(), &view).await;
            *response.status_mut() = match error {
                CommandError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
                CommandError::Conflict => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            response
        }
    }
}

fn text(form: &HashMap<String, String>, name: &str) -> String {
    form.get(name).cloned().unwrap_or_default()
}
