//! Todos' pages and plain form posts: every TodoMVC action works without JavaScript. A post
//! returns to the filter page it came from once this node shows the change.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use cinder_domain::todos::{
    AddTodo, DeleteTodo, EditTodo, TodoCommand, TodoError, ToggleAll, ToggleTodo,
};
use serde::Deserialize;

use super::views::TodosView;
use super::{list_id, Filter};
use crate::bus::CommandError;
use crate::web::context::Context;
use crate::web::errors::not_found_page;
use crate::web::forms::csrf_refusal;
use crate::web::live::{page, static_page};
use crate::web::session::Session;
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Editing {
    edit: Option<u64>,
}

pub async fn all(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Query(editing): Query<Editing>,
) -> Response {
    show(app, session, Filter::All, editing).await
}

pub async fn active(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Query(editing): Query<Editing>,
) -> Response {
    show(app, session, Filter::Active, editing).await
}

pub async fn completed(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Query(editing): Query<Editing>,
) -> Response {
    show(app, session, Filter::Completed, editing).await
}

/// A filter page, live; with `?edit=<id>` (editing without JavaScript) a plain page with that
/// todo's edit field open, not followed live (a re-sent list would close it).
async fn show(app: AppState, session: Session, filter: Filter, editing: Editing) -> Response {
    let view = TodosView::new(app.clone(), &session, filter).editing(editing.edit);
    match editing.edit {
        Some(_) => static_page(&app, &session, &view).await,
        None => page(&app, &session, filter.path(), &view).await,
    }
}

type Fields = Form<HashMap<String, String>>;

pub async fn add(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Fields,
) -> Response {
    let title = text(&form, "title");
    let command = TodoCommand::AddTodo(AddTodo { title });
    finish(&app, &session, &form, command).await
}

pub async fn toggle(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let Ok(id) = id.parse() else {
        return not_found_page(&app, &session);
    };
    let command = TodoCommand::ToggleTodo(ToggleTodo {
        id,
        completed: None,
    });
    finish(&app, &session, &form, command).await
}

pub async fn edit(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let Ok(id) = id.parse() else {
        return not_found_page(&app, &session);
    };
    let title = text(&form, "title");
    finish(
        &app,
        &session,
        &form,
        TodoCommand::EditTodo(EditTodo { id, title }),
    )
    .await
}

pub async fn delete(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let Ok(id) = id.parse() else {
        return not_found_page(&app, &session);
    };
    let command = TodoCommand::DeleteTodo(DeleteTodo { id });
    finish(&app, &session, &form, command).await
}

pub async fn toggle_all(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Fields,
) -> Response {
    let command = TodoCommand::ToggleAll(ToggleAll { completed: None });
    finish(&app, &session, &form, command).await
}

pub async fn clear_completed(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Fields,
) -> Response {
    finish(&app, &session, &form, TodoCommand::ClearCompleted).await
}

/// Runs `command` on the visitor's list if the form carries their CSRF token; then back to the
/// page the form was on, or that page again with the refusal (422), or 404 for an unknown todo.
async fn finish(
    app: &AppState,
    session: &Session,
    form: &HashMap<String, String>,
    command: TodoCommand,
) -> Response {
    if let Some(refused) = csrf_refusal(app, session, form.get("_csrf").map(String::as_str)) {
        return refused;
    }
    let back = form
        .get("back")
        .and_then(|path| Filter::from_path(path))
        .unwrap_or(Filter::All);
    match Context::new(app)
        .execute(&app.bus.todos, &list_id(session), command)
        .await
    {
        Ok(_) => Redirect::to(back.path()).into_response(),
        Err(CommandError::Rejected(TodoError::NotFound)) => not_found_page(app, session),
        Err(error) => {
            let message = match &error {
                CommandError::Rejected(rejection) => rejection.to_string(),
                other => other.to_string(),
            };
            let view = TodosView::new(app.clone(), session, back).with_error(message);
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
