//! Todos: TodoMVC, one list per visitor. The list is the aggregate; its commands are the
//! TodoMVC actions.
//!
//! The list numbers its todos itself (1, 2, 3, …, never reusing a number after a delete), so an
//! id in any event names one todo for good. It keeps each todo's title and state, which is all
//! its rules need: whether an id exists, whether an edit or toggle changes anything. A command
//! that would change nothing (clear with nothing done, an edit to the same title) emits nothing.
//! Events that touch several todos name them, so a projection can apply them one key at a time.

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::Rejection;

/// Longest todo title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TodoCommand {
    AddTodo(AddTodo),
    ToggleTodo(ToggleTodo),
    EditTodo(EditTodo),
    DeleteTodo(DeleteTodo),
    ToggleAll(ToggleAll),
    ClearCompleted,
}

/// Add a todo at the end of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddTodo {
    pub title: String,
}

/// Mark a todo done or not done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToggleTodo {
    pub id: u64,
    /// The state wanted (for programs that set it); `None` flips it, as a click does.
    pub completed: Option<bool>,
}

/// Rename a todo; an empty title deletes it, as TodoMVC does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditTodo {
    pub id: u64,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTodo {
    pub id: u64,
}

/// Mark every todo done or not done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToggleAll {
    /// The state wanted; `None` is TodoMVC's rule: all done, unless all already are, then all
    /// not done.
    pub completed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TodoEvent {
    TodoAdded(TodoAdded),
    TodoToggled(TodoToggled),
    TodoEdited(TodoEdited),
    TodoDeleted(TodoDeleted),
    AllTodosToggled(AllTodosToggled),
    CompletedTodosCleared(CompletedTodosCleared),
}

/// A todo was added, not done; `id` is one more than any the list has ever used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoAdded {
    pub id: u64,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoToggled {
    pub id: u64,
    pub completed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoEdited {
    pub id: u64,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoDeleted {
    pub id: u64,
}

/// The todos in `ids` (those whose state changed) are now all `completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllTodosToggled {
    pub completed: bool,
    pub ids: Vec<u64>,
}

/// The done todos, `ids`, were removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedTodosCleared {
    pub ids: Vec<u64>,
}

impl DomainEvent for TodoEvent {
    fn event_type(&self) -> String {
        match self {
            TodoEvent::TodoAdded(_) => "TodoAdded".into(),
            TodoEvent::TodoToggled(_) => "TodoToggled".into(),
            TodoEvent::TodoEdited(_) => "TodoEdited".into(),
            TodoEvent::TodoDeleted(_) => "TodoDeleted".into(),
            TodoEvent::AllTodosToggled(_) => "AllTodosToggled".into(),
            TodoEvent::CompletedTodosCleared(_) => "CompletedTodosCleared".into(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

/// Why a todo command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TodoError {
    #[error("a todo can't be empty")]
    EmptyTitle,
    #[error("a todo can be at most 500 characters")]
    TitleTooLong,
    #[error("a todo can't contain control characters")]
    ControlInTitle,
    #[error("no such todo")]
    NotFound,
}

impl Rejection for TodoError {
    fn field(&self) -> &'static str {
        match self {
            TodoError::EmptyTitle | TodoError::TitleTooLong | TodoError::ControlInTitle => "title",
            TodoError::NotFound => "id",
        }
    }
}

/// One todo as the list's rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Item {
    title: String,
    completed: bool,
}

/// A visitor's todo list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoList {
    /// The highest id ever given; the next todo gets one more.
    last_id: u64,
    todos: BTreeMap<u64, Item>,
}

impl TodoList {
    fn item(&self, id: u64) -> Result<&Item, TodoError> {
        self.todos.get(&id).ok_or(TodoError::NotFound)
    }

    /// What `command` changes, as events (none if nothing would change).
    fn decide(&self, command: TodoCommand) -> Result<Vec<TodoEvent>, TodoError> {
        let event = match command {
            TodoCommand::AddTodo(add) => TodoEvent::TodoAdded(TodoAdded {
                id: self.last_id + 1,
                title: title(&add.title)?.ok_or(TodoError::EmptyTitle)?,
            }),
            TodoCommand::ToggleTodo(toggle) => {
                let item = self.item(toggle.id)?;
                let completed = toggle.completed.unwrap_or(!item.completed);
                if completed == item.completed {
                    return Ok(Vec::new());
                }
                TodoEvent::TodoToggled(TodoToggled {
                    id: toggle.id,
                    completed,
                })
            }
            TodoCommand::EditTodo(edit) => {
                let item = self.item(edit.id)?;
                match title(&edit.title)? {
                    None => TodoEvent::TodoDeleted(TodoDeleted { id: edit.id }),
                    Some(title) if title == item.title => return Ok(Vec::new()),
                    Some(title) => TodoEvent::TodoEdited(TodoEdited { id: edit.id, title }),
                }
            }
            TodoCommand::DeleteTodo(delete) => {
                self.item(delete.id)?;
                TodoEvent::TodoDeleted(TodoDeleted { id: delete.id })
            }
            TodoCommand::ToggleAll(toggle) => {
                let all_done = self.todos.values().all(|item| item.completed);
                let completed = toggle.completed.unwrap_or(!all_done);
                let ids = self.ids_where(|item| item.completed != completed);
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                TodoEvent::AllTodosToggled(AllTodosToggled { completed, ids })
            }
            TodoCommand::ClearCompleted => {
                let ids = self.ids_where(|item| item.completed);
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                TodoEvent::CompletedTodosCleared(CompletedTodosCleared { ids })
            }
        };
        Ok(vec![event])
    }

    fn ids_where(&self, test: impl Fn(&Item) -> bool) -> Vec<u64> {
        self.todos
            .iter()
            .filter(|(_, item)| test(item))
            .map(|(id, _)| *id)
            .collect()
    }

    fn set_completed(&mut self, ids: &[u64], completed: bool) {
        for id in ids {
            if let Some(item) = self.todos.get_mut(id) {
                item.completed = completed;
            }
        }
    }
}

/// A new todo's title as the list keeps it (trimmed), or why it cannot be one: what the new-todo
/// field shows as it is typed.
pub fn check_new_title(raw: &str) -> Result<String, TodoError> {
    title(raw)?.ok_or(TodoError::EmptyTitle)
}

/// A title trimmed: `None` if nothing is left, an error if it is too long.
fn title(raw: &str) -> Result<Option<String>, TodoError> {
    let title = raw.trim();
    if title.is_empty() {
        return Ok(None);
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(TodoError::TitleTooLong);
    }
    if crate::has_control(title, false) {
        return Err(TodoError::ControlInTitle);
    }
    Ok(Some(title.to_owned()))
}

impl Aggregate for TodoList {
    const TYPE: &'static str = "TodoList";
    type Command = TodoCommand;
    type Event = TodoEvent;
    type Error = TodoError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            TodoEvent::TodoAdded(added) => {
                self.last_id = self.last_id.max(added.id);
                let item = Item {
                    title: added.title,
                    completed: false,
                };
                self.todos.insert(added.id, item);
            }
            TodoEvent::TodoToggled(toggled) => self.set_completed(&[toggled.id], toggled.completed),
            TodoEvent::TodoEdited(edited) => {
                if let Some(item) = self.todos.get_mut(&edited.id) {
                    item.title = edited.title;
                }
            }
            TodoEvent::TodoDeleted(deleted) => {
                self.todos.remove(&deleted.id);
            }
            TodoEvent::AllTodosToggled(all) => self.set_completed(&all.ids, all.completed),
            TodoEvent::CompletedTodosCleared(cleared) => {
                for id in cleared.ids {
                    self.todos.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn list() -> TestFramework<TodoList> {
        TestFramework::<TodoList>::with(())
    }

    fn add(title: &str) -> TodoCommand {
        TodoCommand::AddTodo(AddTodo {
            title: title.into(),
        })
    }

    fn added(id: u64, title: &str) -> TodoEvent {
        TodoEvent::TodoAdded(TodoAdded {
            id,
            title: title.into(),
        })
    }

    fn toggle(id: u64, completed: Option<bool>) -> TodoCommand {
        TodoCommand::ToggleTodo(ToggleTodo { id, completed })
    }

    fn toggled(id: u64, completed: bool) -> TodoEvent {
        TodoEvent::TodoToggled(TodoToggled { id, completed })
    }

    fn edit(id: u64, title: &str) -> TodoCommand {
        TodoCommand::EditTodo(EditTodo {
            id,
            title: title.into(),
        })
    }

    fn deleted(id: u64) -> TodoEvent {
        TodoEvent::TodoDeleted(TodoDeleted { id })
    }

    fn toggle_all(completed: Option<bool>) -> TodoCommand {
        TodoCommand::ToggleAll(ToggleAll { completed })
    }

    /// Three todos; the second is done.
    fn three() -> Vec<TodoEvent> {
        vec![
            added(1, "milk"),
            added(2, "eggs"),
            added(3, "bread"),
            toggled(2, true),
        ]
    }

    #[test]
    fn todos_are_added_trimmed_and_numbered_from_1() {
        list()
            .given_no_previous_events()
            .when(add("  buy milk \n"))
            .then_expect_events(vec![added(1, "buy milk")]);
        list()
            .given(vec![added(1, "a"), added(2, "b")])
            .when(add("c"))
            .then_expect_events(vec![added(3, "c")]);
    }

    #[test]
    fn ids_are_never_reused_after_a_delete() {
        list()
            .given(vec![added(1, "a"), added(2, "b"), deleted(2), deleted(1)])
            .when(add("c"))
            .then_expect_events(vec![added(3, "c")]);
        let cleared = TodoEvent::CompletedTodosCleared(CompletedTodosCleared { ids: vec![1] });
        list()
            .given(vec![added(1, "a"), toggled(1, true), cleared])
            .when(add("b"))
            .then_expect_events(vec![added(2, "b")]);
    }

    #[test]
    fn a_title_is_1_to_500_characters_after_trimming() {
        for empty in ["", "   ", "\n\t "] {
            list()
                .given_no_previous_events()
                .when(add(empty))
                .then_expect_error(TodoError::EmptyTitle);
        }
        list()
            .given_no_previous_events()
            .when(add(&"x".repeat(501)))
            .then_expect_error_message("a todo can be at most 500 characters");
        let longest = "ü".repeat(500);
        list()
            .given_no_previous_events()
            .when(add(&format!("  {longest}  ")))
            .then_expect_events(vec![added(1, &longest)]);
        for bad in ["nul\0", "two\nlines", "esc\u{1b}[0m"] {
            list()
                .given_no_previous_events()
                .when(add(bad))
                .then_expect_error(TodoError::ControlInTitle);
        }
    }

    #[test]
    fn toggling_flips_a_todo_or_sets_the_state_asked_for() {
        list()
            .given(three())
            .when(toggle(1, None))
            .then_expect_events(vec![toggled(1, true)]);
        list()
            .given(three())
            .when(toggle(2, None))
            .then_expect_events(vec![toggled(2, false)]);
        list()
            .given(three())
            .when(toggle(3, Some(true)))
            .then_expect_events(vec![toggled(3, true)]);
        // Already in the state asked for: nothing to record.
        list()
            .given(three())
            .when(toggle(2, Some(true)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn commands_on_an_unknown_or_deleted_todo_are_refused() {
        let mut history = three();
        history.push(deleted(3));
        for command in [
            toggle(3, None),
            toggle(9, Some(true)),
            edit(3, "again"),
            edit(0, ""),
            TodoCommand::DeleteTodo(DeleteTodo { id: 3 }),
            TodoCommand::DeleteTodo(DeleteTodo { id: 4 }),
        ] {
            list()
                .given(history.clone())
                .when(command)
                .then_expect_error(TodoError::NotFound);
        }
        assert_eq!(TodoError::NotFound.field(), "id");
    }

    #[test]
    fn editing_renames_trimmed_and_an_unchanged_title_records_nothing() {
        list()
            .given(three())
            .when(edit(1, "  oat milk "))
            .then_expect_events(vec![TodoEvent::TodoEdited(TodoEdited {
                id: 1,
                title: "oat milk".into(),
            })]);
        list()
            .given(three())
            .when(edit(1, " milk "))
            .then_expect_events(vec![]);
        list()
            .given(three())
            .when(edit(1, &"y".repeat(501)))
            .then_expect_error(TodoError::TitleTooLong);
        assert_eq!(TodoError::TitleTooLong.field(), "title");
    }

    #[test]
    fn editing_to_empty_deletes_as_todomvc_does() {
        for empty in ["", "   "] {
            list()
                .given(three())
                .when(edit(2, empty))
                .then_expect_events(vec![deleted(2)]);
        }
    }

    #[test]
    fn deleting_removes_a_todo() {
        list()
            .given(three())
            .when(TodoCommand::DeleteTodo(DeleteTodo { id: 1 }))
            .then_expect_events(vec![deleted(1)]);
    }

    #[test]
    fn toggle_all_completes_everything_unless_all_are_done() {
        list()
            .given(three())
            .when(toggle_all(None))
            .then_expect_events(vec![TodoEvent::AllTodosToggled(AllTodosToggled {
                completed: true,
                ids: vec![1, 3],
            })]);
        let mut all_done = three();
        all_done.push(TodoEvent::AllTodosToggled(AllTodosToggled {
            completed: true,
            ids: vec![1, 3],
        }));
        list()
            .given(all_done.clone())
            .when(toggle_all(None))
            .then_expect_events(vec![TodoEvent::AllTodosToggled(AllTodosToggled {
                completed: false,
                ids: vec![1, 2, 3],
            })]);
        list()
            .given(all_done)
            .when(toggle_all(Some(true)))
            .then_expect_events(vec![]);
        list()
            .given(three())
            .when(toggle_all(Some(false)))
            .then_expect_events(vec![TodoEvent::AllTodosToggled(AllTodosToggled {
                completed: false,
                ids: vec![2],
            })]);
        list()
            .given_no_previous_events()
            .when(toggle_all(None))
            .then_expect_events(vec![]);
    }

    #[test]
    fn clear_completed_removes_the_done_todos_only() {
        let mut history = three();
        history.push(toggled(3, true));
        list()
            .given(history)
            .when(TodoCommand::ClearCompleted)
            .then_expect_events(vec![TodoEvent::CompletedTodosCleared(
                CompletedTodosCleared { ids: vec![2, 3] },
            )]);
        list()
            .given(vec![added(1, "a")])
            .when(TodoCommand::ClearCompleted)
            .then_expect_events(vec![]);
    }

    #[test]
    fn history_rebuilds_the_list() {
        let mut list = TodoList::default();
        for event in three() {
            list.apply(event);
        }
        list.apply(TodoEvent::CompletedTodosCleared(CompletedTodosCleared {
            ids: vec![2],
        }));
        list.apply(TodoEvent::TodoEdited(TodoEdited {
            id: 3,
            title: "rye".into(),
        }));
        assert_eq!(list.last_id, 3);
        let titles: Vec<_> = list.todos.values().map(|i| i.title.as_str()).collect();
        assert_eq!(titles, vec!["milk", "rye"]);
    }
}
