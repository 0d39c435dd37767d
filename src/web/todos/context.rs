//! Todos' commands, one function each: what the list's live view, its form posts and the JSON
//! API all call. Each acts on the list of the context's visitor (a list is its session's
//! alone), runs its command (the list aggregate decides) and waits for read-your-writes once
//! (see [`Context::execute`]).

use cinder_domain::todos::{
    AddTodo, DeleteTodo, EditTodo, TodoCommand, TodoError, TodoList, ToggleAll, ToggleTodo,
};

use super::list_id;
use crate::bus::CommandError;
use crate::web::context::Context;

/// What a todo command answers: nothing but success, or why not.
pub type Done = Result<(), CommandError<TodoError>>;

pub async fn add_todo(ctx: &Context, add: AddTodo) -> Done {
    run(ctx, TodoCommand::AddTodo(add)).await
}

pub async fn toggle_todo(ctx: &Context, toggle: ToggleTodo) -> Done {
    run(ctx, TodoCommand::ToggleTodo(toggle)).await
}

/// Renames a todo (an empty title deletes it, as TodoMVC does).
pub async fn edit_todo(ctx: &Context, edit: EditTodo) -> Done {
    run(ctx, TodoCommand::EditTodo(edit)).await
}

pub async fn delete_todo(ctx: &Context, delete: DeleteTodo) -> Done {
    run(ctx, TodoCommand::DeleteTodo(delete)).await
}

/// Marks every todo done, or (all done already, or `completed: Some(false)`) not done.
pub async fn toggle_all(ctx: &Context, toggle: ToggleAll) -> Done {
    run(ctx, TodoCommand::ToggleAll(toggle)).await
}

pub async fn clear_completed(ctx: &Context) -> Done {
    run(ctx, TodoCommand::ClearCompleted).await
}

/// Runs `command` on the visitor's list. A context for nobody has no list: nothing to do.
async fn run(ctx: &Context, command: TodoCommand) -> Done {
    let Some(visitor) = &ctx.visitor else {
        return Err(CommandError::Internal(
            "a todo list belongs to a visitor; this context has none".into(),
        ));
    };
    ctx.execute::<TodoList>(&list_id(visitor), command)
        .await
        .map(drop)
}
