//! Todos' JSON API: the visitor's list (by their session cookie) and the HTTP twin of every
//! command. Each command answers 200 with the whole list as it is after the command, read
//! once this node's read model has it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cinder_domain::todos::{
    AddTodo, DeleteTodo, EditTodo, TodoError, ToggleAll, ToggleTodo,
};
use cinder_read_models::todos::{Todo, TodosReadModel};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{context, list_id};
use crate::web::body::{expected, object};
use crate::web::context::Context;
use super::views::counts_of;
use crate::bus::CommandError;
use crate::web::errors::{command_response, json_error, ErrorBody, FieldErrors};

/// The caller's list, as it is after the command.
#[derive(Serialize, ToSchema)]
pub struct TodoList {
    /// In the order they were added.
    pub todos: Vec<Todo>,
    /// Todos not done ("N items left").
    pub active: u64,
    /// Todos done.
    pub completed: u64,
}

/// A todo to add.
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct NewTodo {
    /// 1–500 characters after trimming.
    pub title: String,
}

/// What to change of a todo: its title (empty deletes it), whether it is done, or both.
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct TodoUpdate {
    pub title: Option<String>,
    pub completed: Option<bool>,
}

/// Toggle all: to `completed`, or (without it) TodoMVC's rule: all done unless all are.
// Described for the document; the handler reads the body field by field, so that each
// wrong field gets its own message.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct ToggleAllTodos {
    pub completed: Option<bool>,
}
use crate::web::session::Session;
use crate::web::AppState;

/// `GET /api/todos` → `{"todos": [{id, title, completed}], "active": n, "completed": n}`.
#[utoipa::path(
    get,
    path = "/api/todos",
    tag = "todos",
    operation_id = "todos_list",
    responses(
        (status = 200, description = "The caller's list (a new session's is empty)", body = TodoList),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
    )
)]
pub async fn list(
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
) -> Response {
    list_response(&todos, &session)
}

/// `POST /api/todos` `{"title"}`.
#[utoipa::path(
    post,
    path = "/api/todos",
    tag = "todos",
    operation_id = "todos_add",
    request_body = NewTodo,
    responses(
        (status = 200, description = "Added; the list", body = TodoList),
        (status = 400, description = "Not a JSON object with a string `title`", body = ErrorBody),
        (status = 422, description = "A rule broken (length, control characters)", body = FieldErrors),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn add(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Response {
    let Some(body) = object(&body) else {
        return expected("{\"title\"}");
    };
    let Some(Value::String(title)) = body.get("title") else {
        return json_error(StatusCode::BAD_REQUEST, "title must be a string");
    };
    let ctx = Context::for_visitor(&app, &session);
    let title = title.clone();
    answer(&todos, &session, context::add_todo(&ctx, AddTodo { title }).await)
}

/// `PATCH /api/todos/<id>` `{"title"?, "completed"?}`: rename (empty deletes) and/or set done;
/// `{}` changes nothing.
#[utoipa::path(
    patch,
    path = "/api/todos/{id}",
    tag = "todos",
    operation_id = "todos_update",
    params(("id" = u64, Path, description = "A todo's id in the caller's list")),
    request_body = TodoUpdate,
    responses(
        (status = 200, description = "Changed; the list", body = TodoList),
        (status = 400, description = "Not a JSON object, or a `title` that is not a string or a `completed` that is not a boolean", body = ErrorBody),
        (status = 404, description = "No such todo in the caller's list", body = ErrorBody),
        (status = 422, description = "A rule broken (length, control characters)", body = FieldErrors),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let Some(body) = object(&body) else {
        return expected("{\"title\"?, \"completed\"?}");
    };
    let title = match body.get("title") {
        None | Some(Value::Null) => None,
        Some(Value::String(title)) => Some(title.clone()),
        Some(_) => return json_error(StatusCode::BAD_REQUEST, "title must be a string"),
    };
    let completed = match body.get("completed") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(completed)) => Some(*completed),
        Some(_) => return json_error(StatusCode::BAD_REQUEST, "completed must be true or false"),
    };
    if title.is_none() && completed.is_none() {
        // Nothing to change (as a JSON merge patch `{}` is): the list, if the todo is there.
        return match todos.list(&list_id(&session)) {
            Ok(found) if found.iter().any(|todo| todo.id == id) => list_response(&todos, &session),
            Ok(_) => not_found(),
            Err(error) => {
                tracing::error!(%error, "todos read model query failed");
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "could not read the list")
            }
        };
    }
    let ctx = Context::for_visitor(&app, &session);
    if let Some(title) = title {
        if let Err(error) = context::edit_todo(&ctx, EditTodo { id, title }).await {
            return answer(&todos, &session, Err(error));
        }
    }
    if let Some(completed) = completed {
        let completed = Some(completed);
        let done = context::toggle_todo(&ctx, ToggleTodo { id, completed }).await;
        return answer(&todos, &session, done);
    }
    answer(&todos, &session, Ok(()))
}

/// `DELETE /api/todos/<id>`.
#[utoipa::path(
    delete,
    path = "/api/todos/{id}",
    tag = "todos",
    operation_id = "todos_delete",
    params(("id" = u64, Path, description = "A todo's id in the caller's list")),
    responses(
        (status = 200, description = "Deleted; the list", body = TodoList),
        (status = 404, description = "No such todo in the caller's list", body = ErrorBody),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let ctx = Context::for_visitor(&app, &session);
    answer(&todos, &session, context::delete_todo(&ctx, DeleteTodo { id }).await)
}

/// `POST /api/todos/toggle-all`, optionally `{"completed": bool}` (default: TodoMVC's rule).
#[utoipa::path(
    post,
    path = "/api/todos/toggle-all",
    tag = "todos",
    operation_id = "todos_toggle_all",
    request_body(content = Option<ToggleAllTodos>, description = "Optional: without a body, all are done unless all are"),
    responses(
        (status = 200, description = "Toggled; the list", body = TodoList),
        (status = 400, description = "A body that is not a JSON object with a boolean `completed`", body = ErrorBody),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn toggle_all(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Response {
    // No body, or `null`, is no choice: TodoMVC's rule.
    let completed = if body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<Value>(&body).is_ok_and(|v| v.is_null())
    {
        None
    } else {
        let Some(body) = object(&body) else {
            return expected("{\"completed\"?}");
        };
        match body.get("completed") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(completed)) => Some(*completed),
            Some(_) => {
                return json_error(StatusCode::BAD_REQUEST, "completed must be true or false")
            }
        }
    };
    let ctx = Context::for_visitor(&app, &session);
    answer(&todos, &session, context::toggle_all(&ctx, ToggleAll { completed }).await)
}

/// `POST /api/todos/clear-completed`.
#[utoipa::path(
    post,
    path = "/api/todos/clear-completed",
    tag = "todos",
    operation_id = "todos_clear_completed",
    responses(
        (status = 200, description = "Done todos deleted; the list", body = TodoList),
        (status = 409, description = "Conflicting writers that retries could not settle", body = ErrorBody),
        (status = 500, description = "The read model could not be read", body = ErrorBody),
        (status = 503, description = "The event store is unavailable", body = ErrorBody),
    )
)]
pub async fn clear_completed(
    State(app): State<AppState>,
    Extension(todos): Extension<TodosReadModel>,
    Extension(session): Extension<Session>,
) -> Response {
    let ctx = Context::for_visitor(&app, &session);
    answer(&todos, &session, context::clear_completed(&ctx).await)
}

/// The list once `done` (its context waited until this node shows it), or why not.
fn answer(todos: &TodosReadModel, session: &Session, done: context::Done) -> Response {
    match done {
        Ok(()) => list_response(todos, session),
        Err(CommandError::Rejected(TodoError::NotFound)) => not_found(),
        Err(error) => command_response(error),
    }
}

fn list_response(todos: &TodosReadModel, session: &Session) -> Response {
    match todos.list(&list_id(session)) {
        Ok(todos) => {
            let counts = counts_of(&todos);
            Json(TodoList {
                todos,
                active: counts.active(),
                completed: counts.completed,
            })
            .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "todos read model query failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "could not read the list")
        }
    }
}

fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such todo")
}
