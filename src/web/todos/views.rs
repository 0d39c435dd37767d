//! The todos live view and its markup (TodoMVC's, so its behaviours are the ones people know).
//!
//! Every action is a form that posts without JavaScript; with cinder.js its button or submit is
//! pushed over the socket instead. Editing uses cinder.js' generic edit-in-place attributes:
//! double-click a todo (`data-cinder-dblclick`), Enter or leaving the field saves
//! (`data-cinder-blur`), Escape cancels (`data-cinder-escape`).

use async_trait::async_trait;
use cinder_domain::todos::{
    check_new_title, AddTodo, DeleteTodo, EditTodo, ToggleAll, ToggleTodo,
    MAX_TITLE_CHARS,
};
use cinder_read_models::todos::{list_topic, Counts, Todo, TodoChange, TodoOp};
use cinder_read_models::Change;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::{context, list_id, Filter};
use crate::web::context::Context;
use crate::web::errors::{command_reply, field_errors};
use crate::web::forms::{error_id, error_slot};
use crate::web::live::{LiveView, Outcome, Patch, ViewError, field};
use crate::web::session::Session;
use crate::web::AppState;
use cinder_read_models::todos::TodosReadModel;

/// `/todos`, `/todos/active`, `/todos/completed`: the visitor's list through one filter.
pub struct TodosView {
    app: AppState,
    todos: TodosReadModel,
    session: Session,
    list: String,
    filter: Filter,
    /// What every form in a patch carries, for its plain-POST fallback.
    csrf: String,
    /// The todo shown being edited (the edit page without JavaScript).
    editing: Option<u64>,
    /// A refusal to show by the new-todo form (plain form posts).
    error: Option<String>,
}

impl TodosView {
    pub fn new(app: AppState, todos: TodosReadModel, session: &Session, filter: Filter) -> Self {
        let csrf = app.signer.csrf_token(session);
        Self {
            app,
            todos,
            session: session.clone(),
            list: list_id(session),
            filter,
            csrf,
            editing: None,
            error: None,
        }
    }

    pub fn editing(mut self, id: Option<u64>) -> Self {
        self.editing = id;
        self
    }

    pub fn with_error(mut self, error: String) -> Self {
        self.error = Some(error);
        self
    }

    /// The list's regions, rendered from one read of the list so they agree.
    fn regions_markup(&self) -> Result<(Markup, Markup, Markup), ViewError> {
        let todos = self.todos.list(&self.list)?;
        let counts = counts_of(&todos);
        Ok((
            self.toggle_all(counts),
            self.todo_list(&todos),
            self.footer(counts),
        ))
    }

    /// The hidden fields of every form: the CSRF token and the page to return to.
    fn hidden(&self) -> Markup {
        html! {
            input type="hidden" name="_csrf" value=(self.csrf);
            input type="hidden" name="back" value=(self.filter.path());
        }
    }

    fn toggle_all(&self, counts: Counts) -> Markup {
        let all_done = counts.total > 0 && counts.active() == 0;
        html! {
            form #toggle-all.toggle-all-form method="post" action="/todos/toggle-all" hidden[counts.total == 0] {
                (self.hidden())
                button.toggle-all type="submit" role="checkbox" aria-checked=(all_done)
                    data-cinder-click="toggle_all" aria-label="Mark all as complete"
                    title="Mark all as complete" { "❯" }
            }
        }
    }

    fn todo_list(&self, todos: &[Todo]) -> Markup {
        html! {
            ul #todo-list.todo-list {
                @for todo in todos.iter().filter(|t| self.filter.shows(t.completed)) {
                    (self.item(todo))
                }
            }
        }
    }

    fn item(&self, todo: &Todo) -> Markup {
        let id = todo.id;
        let editing = self.editing == Some(id);
        html! {
            li.todo.completed[todo.completed].editing[editing] id=(item_id(id))
                data-cinder-dblclick="editing" {
                div.view {
                    form method="post" action={ "/todos/" (id) "/toggle" } {
                        (self.hidden())
                        button.toggle type="submit" role="checkbox" aria-checked=(todo.completed)
                            data-cinder-click="toggle" value=(id)
                            aria-label=(if todo.completed { "Mark as not done" } else { "Mark as done" }) {}
                    }
                    label.title { (todo.title) }
                    a.edit-link.cinder-nojs href={ (self.filter.path()) "?edit=" (id) } { "edit" }
                    form method="post" action={ "/todos/" (id) "/delete" } {
                        (self.hidden())
                        button.destroy type="submit" data-cinder-click="delete" value=(id)
                            aria-label="Delete" title="Delete" { "×" }
                    }
                }
                form.edit-form id={ "edit-form-" (id) } method="post" action={ "/todos/" (id) "/edit" }
                    data-cinder-submit="edit" {
                    (self.hidden())
                    input type="hidden" name="id" value=(id);
                    input.edit type="text" name="title" value=(todo.title) maxlength=(MAX_TITLE_CHARS)
                        autocomplete="off" aria-label="Edit todo" autofocus[editing]
                        data-cinder-escape data-cinder-blur="submit";
                    p.error data-cinder-error role="alert" {}
                }
            }
        }
    }

    fn footer(&self, counts: Counts) -> Markup {
        html! {
            footer #todo-footer.footer hidden[counts.total == 0] {
                (items_left(counts))
                ul.filters {
                    @for filter in Filter::EVERY {
                        li {
                            a href=(filter.path())
                                class=[(filter == self.filter).then_some("selected")]
                                aria-current=[(filter == self.filter).then_some("page")] {
                                (filter_name(filter))
                            }
                        }
                    }
                }
                @if counts.completed > 0 {
                    form.clear-form method="post" action="/todos/clear-completed" {
                        (self.hidden())
                        button.clear-completed type="submit" data-cinder-click="clear_completed" {
                            "Clear completed"
                        }
                    }
                }
            }
        }
    }
}

#[async_trait]
impl LiveView for TodosView {
    fn title(&self) -> String {
        "Todos".into()
    }

    async fn render(&self) -> Result<Markup, ViewError> {
        let (toggle_all, list, footer) = self.regions_markup()?;
        Ok(html! {
            section.todoapp {
                header.header {
                    h1 { "todos" }
                    form #new-todo method="post" action="/todos" data-cinder-submit="add" data-cinder-validate {
                        (self.hidden())
                        input.new-todo type="text" name="title" maxlength=(MAX_TITLE_CHARS)
                            placeholder="What needs to be done?" aria-label="New todo"
                            aria-describedby=(error_id("new-todo", "title"))
                            autocomplete="off" autofocus[self.editing.is_none()];
                        (error_slot("new-todo", "title"))
                        p.error data-cinder-error role="alert" { (self.error.as_deref().unwrap_or_default()) }
                    }
                }
                section.main {
                    (toggle_all)
                    (list)
                }
                (footer)
                p.error data-cinder-flash role="alert" {}
            }
        })
    }

    async fn regions(&self) -> Result<Vec<Patch>, ViewError> {
        let (toggle_all, list, footer) = self.regions_markup()?;
        Ok(vec![
            Patch::replace("toggle-all", toggle_all),
            Patch::replace("todo-list", list),
            Patch::replace("todo-footer", footer),
        ])
    }

    /// Everything the page shows is the list, and every change to it is in the log: each op of
    /// a change says what it did to one todo, and the change carries the list's counts (the
    /// toggle-all and the footer). A todo that comes into this filter's view is sent with the
    /// list whole, read when the change is handled: in a replay, the list as it is now; the
    /// later changes' patches then each leave a todo as its last change left it, which is how
    /// the list shows it.
    async fn unlogged_regions(&self) -> Option<Result<Vec<Patch>, ViewError>> {
        Some(Ok(Vec::new()))
    }

    fn topics(&self) -> Vec<String> {
        vec![list_topic(&self.list)]
    }

    async fn handle_event(&mut self, event: &str, value: Value) -> Result<Outcome, Value> {
        let ctx = Context::for_visitor(&self.app, &self.session);
        let done = match event {
            "add" => {
                let title = field(&value, "title");
                context::add_todo(&ctx, AddTodo { title }).await
            }
            "toggle" => {
                let id = id(&value, "value")?;
                let completed = None;
                context::toggle_todo(&ctx, ToggleTodo { id, completed }).await
            }
            "delete" => context::delete_todo(&ctx, DeleteTodo { id: id(&value, "value")? }).await,
            "edit" => {
                let (id, title) = (id(&value, "id")?, field(&value, "title"));
                context::edit_todo(&ctx, EditTodo { id, title }).await
            }
            "toggle_all" => context::toggle_all(&ctx, ToggleAll { completed: None }).await,
            "clear_completed" => context::clear_completed(&ctx).await,
            _ => return Err(json!({"reason": format!("unknown event {event:?}")})),
        };
        done.map_err(command_reply)?;
        // Nothing to send back: the change reaches this page, like every tab of the list, as a
        // patch from the read model, which the context waited for.
        Ok(Outcome::default())
    }

    fn validate(&self, event: &str, value: &Value) -> Value {
        match event {
            "add" => match check_new_title(&field(value, "title")) {
                Ok(_) => json!({}),
                Err(problem) => field_errors(&[problem]),
            },
            _ => json!({}),
        }
    }

    fn handle_change(&mut self, change: &Change) -> Vec<Patch> {
        let Some(change) = change.get::<TodoChange>() else {
            return Vec::new();
        };
        if change.list != self.list {
            return Vec::new();
        }
        self.patches(change)
    }
}

impl TodosView {
    /// What one change does to this page: each todo added, updated or removed where this
    /// filter shows it; the toggle-all and the footer from the counts the change carries.
    fn patches(&self, change: &TodoChange) -> Vec<Patch> {
        let mut patches = Vec::new();
        let mut relist = false;
        for op in &change.ops {
            match op {
                TodoOp::Added(todo) if self.filter.shows(todo.completed) => {
                    // The newest todo has the highest id: it goes last.
                    patches.push(Patch::append("todo-list", self.item(todo), None));
                }
                TodoOp::Added(_) => {}
                TodoOp::Updated {
                    todo,
                    was_completed,
                } => match (
                    self.filter.shows(*was_completed),
                    self.filter.shows(todo.completed),
                ) {
                    (true, true) => patches.push(Patch::replace(item_id(todo.id), self.item(todo))),
                    (true, false) => patches.push(Patch::remove(item_id(todo.id))),
                    // It joins this page somewhere in the middle: the list is sent whole.
                    (false, true) => relist = true,
                    (false, false) => {}
                },
                TodoOp::Removed(id) => patches.push(Patch::remove(item_id(*id))),
            }
        }
        if relist {
            match self.todos.list(&self.list) {
                Ok(todos) => {
                    patches.retain(|p| !matches!(p, Patch::Replace { .. } | Patch::Append { .. }));
                    patches.push(Patch::replace("todo-list", self.todo_list(&todos)));
                }
                Err(error) => tracing::warn!(%error, "todos: could not read the list"),
            }
        }
        patches.push(Patch::replace("toggle-all", self.toggle_all(change.counts)));
        patches.push(Patch::replace("todo-footer", self.footer(change.counts)));
        patches
    }
}

/// A list as the event explorer's "as of" shows it: read only, the todos that fit in `budget`
/// bytes in order (with a note when some are left out), and the whole list's counts.
pub fn read_only_list(todos: &[Todo], counts: Counts, budget: usize) -> Markup {
    let mut items = String::new();
    let mut shown = 0;
    for todo in todos {
        let item = html! {
            li.todo.completed[todo.completed] id=(item_id(todo.id)) {
                span.check aria-label=(if todo.completed { "done" } else { "not done" }) {
                    @if todo.completed { "✓" }
                }
                " "
                span.title { (todo.title) }
            }
        }
        .into_string();
        if shown > 0 && items.len() + item.len() > budget {
            break;
        }
        items.push_str(&item);
        shown += 1;
    }
    html! {
        @if shown < todos.len() {
            p.muted.as-of-note { "The first " (shown) " of " (todos.len()) " todos." }
        }
        ul.todo-list.read-only { (maud::PreEscaped(items)) }
        (items_left(counts))
    }
}

/// "N items left", with the right plural.
fn items_left(counts: Counts) -> Markup {
    let left = counts.active();
    html! {
        span.todo-count { strong { (left) } @if left == 1 { " item left" } @else { " items left" } }
    }
}

fn filter_name(filter: Filter) -> &'static str {
    match filter {
        Filter::All => "All",
        Filter::Active => "Active",
        Filter::Completed => "Completed",
    }
}

pub fn counts_of(todos: &[Todo]) -> Counts {
    Counts {
        total: todos.len() as u64,
        completed: todos.iter().filter(|t| t.completed).count() as u64,
    }
}

fn item_id(id: u64) -> String {
    format!("todo-{id}")
}

/// A todo id from a page event; a missing or bad one is answered like an unknown todo.
fn id(value: &Value, name: &str) -> Result<u64, Value> {
    field(value, name)
        .parse()
        .map_err(|_| json!({"errors": {"id": ["no such todo"]}, "message": "no such todo"}))
}
