//! Todos' JSON API: the visitor's list (by their session cookie) and the HTTP twin of every
//! command. Each command answers 200 with the whole list as it is after the command, read
//! once this node's read model has it.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cinder_domain::todos::{
    AddTodo, DeleteTodo, EditTodo, TodoCommand, TodoError, ToggleAll, ToggleTodo,
};
use serde_json::{json, Map, Value};

use super::list_id;
use super::views::counts_of;
use crate::bus::CommandError;
use crate::web::errors::{command_response, json_error};
use crate::web::session::Session;
use crate::web::AppState;

/// `GET /api/todos` → `{"todos": [{id, title, completed}], "active": n, "completed": n}`.
pub async fn list(State(app): State<AppState>, Extension(session): Extension<Session>) -> Response {
    list_response(&app, &session)
}

/// `POST /api/todos` `{"title"}`.
pub async fn add(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Response {
    let Some(body) = object(&body) else {
        return expected("{\"title\"}");
    };
    let Some(Value::String(title)) = body.get("title") else {
        return json_error(StatusCode::BAD_REQUEST, "title must be a string");
    };
    let command = TodoCommand::AddTodo(AddTodo {
        title: title.clone(),
    });
    run(&app, &session, vec![command]).await
}

/// `PATCH /api/todos/<id>` `{"title"?, "completed"?}`: rename (empty deletes) and/or set done.
pub async fn update(
    State(app): State<AppState>,
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
    let mut commands = Vec::new();
    match body.get("title") {
        None => {}
        Some(Value::String(title)) => commands.push(TodoCommand::EditTodo(EditTodo {
            id,
            title: title.clone(),
        })),
        Some(_) => return json_error(StatusCode::BAD_REQUEST, "title must be a string"),
    }
    match body.get("completed") {
        None => {}
        Some(Value::Bool(completed)) => commands.push(TodoCommand::ToggleTodo(ToggleTodo {
            id,
            completed: Some(*completed),
        })),
        Some(_) => return json_error(StatusCode::BAD_REQUEST, "completed must be true or false"),
    }
    if commands.is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "expected a JSON object with \"title\" and/or \"completed\"",
        );
    }
    run(&app, &session, commands).await
}

/// `DELETE /api/todos/<id>`.
pub async fn delete(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let command = TodoCommand::DeleteTodo(DeleteTodo { id });
    run(&app, &session, vec![command]).await
}

/// `POST /api/todos/toggle-all`, optionally `{"completed": bool}` (default: TodoMVC's rule).
pub async fn toggle_all(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Response {
    let completed = if body.iter().all(u8::is_ascii_whitespace) {
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
    let command = TodoCommand::ToggleAll(ToggleAll { completed });
    run(&app, &session, vec![command]).await
}

/// `POST /api/todos/clear-completed`.
pub async fn clear_completed(
    State(app): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    run(&app, &session, vec![TodoCommand::ClearCompleted]).await
}

/// Runs `commands` in order on the visitor's list, then answers with the list.
async fn run(app: &AppState, session: &Session, commands: Vec<TodoCommand>) -> Response {
    let list = list_id(session);
    let mut last = None;
    for command in commands {
        match app.bus.todos.execute(&list, command).await {
            Ok(committed) => last = committed.last().or(last),
            Err(CommandError::Rejected(TodoError::NotFound)) => return not_found(),
            Err(error) => return command_response(error),
        }
    }
    if let Some(cursor) = last {
        app.progress.wait_for(cursor, Duration::from_secs(5)).await;
    }
    list_response(app, session)
}

fn list_response(app: &AppState, session: &Session) -> Response {
    match app.todos.list(&list_id(session)) {
        Ok(todos) => {
            let counts = counts_of(&todos);
            Json(json!({
                "todos": todos,
                "active": counts.active(),
                "completed": counts.completed,
            }))
            .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "todos read model query failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "could not read the list")
        }
    }
}

/// The body as a JSON object, if it is one.
fn object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// 400 for a body that is not the JSON object `shape`.
fn expected(shape: &str) -> Response {
    json_error(
        StatusCode::BAD_REQUEST,
        &format!("expected a JSON object {shape}"),
    )
}

fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such todo")
}
