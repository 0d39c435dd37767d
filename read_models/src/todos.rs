//! The todos read model: every list's todos, and how many of each list are done.
//!
//! `todos.items` maps `list ++ 0x00 ++ id (u64 big-endian)` to a todo, so one list is one
//! contiguous, id-ordered range (TodoMVC shows todos in the order they were added).
//! `todos.counts` maps a list to its totals, so "N items left" and "clear completed" need no
//! scan, and a projection inside a sled transaction (which cannot scan) can keep them.

use cinder_domain::todos::TodoEvent;
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::codec::{abort, decode, encode, numbered_key};
use crate::projection::apply_each;
use crate::{
    Change, LogEvent, Projection, ProjectionError, RawEvent, StoredEvent, Trees, TxResult,
    WriteBuffer,
};

/// A todo as readers see it; also its JSON in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Todo {
    pub id: u64,
    pub title: String,
    pub completed: bool,
}

/// How many todos a list has, and how many of them are done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub completed: u64,
}

impl Counts {
    /// Todos not done yet: TodoMVC's "items left".
    pub fn active(&self) -> u64 {
        self.total.saturating_sub(self.completed)
    }
}

/// What one event did to one list: its todos that changed, and the list's counts after it.
#[derive(Debug, Clone, PartialEq)]
pub struct TodoChange {
    pub list: String,
    pub ops: Vec<TodoOp>,
    pub counts: Counts,
}

impl TodoChange {
    pub fn topic(&self) -> String {
        list_topic(&self.list)
    }
}

impl From<TodoChange> for Change {
    /// The change, announced on its topic.
    fn from(change: TodoChange) -> Change {
        Change::new(change.topic(), change)
    }
}

/// One todo's change. `Updated` says whether it was done before, so a view filtered by state
/// knows whether the todo was on it without remembering what it shows.
#[derive(Debug, Clone, PartialEq)]
pub enum TodoOp {
    Added(Todo),
    Updated { todo: Todo, was_completed: bool },
    Removed(u64),
}

/// The pubsub topic on which one list's changes are announced (only its owner's views follow
/// it).
pub fn list_topic(list: &str) -> String {
    format!("todos/list/{list}")
}

const ITEMS: usize = 0;
const COUNTS: usize = 1;

/// The todos projection and its queries.
#[derive(Clone)]
pub struct TodosReadModel {
    items: sled::Tree,
    counts: sled::Tree,
}

impl TodosReadModel {
    pub fn open(db: &sled::Db) -> Result<Self, ProjectionError> {
        Ok(Self {
            items: db.open_tree("todos.items")?,
            counts: db.open_tree("todos.counts")?,
        })
    }

    /// Every todo of `list`, in the order they were added.
    pub fn list(&self, list: &str) -> Result<Vec<Todo>, ProjectionError> {
        self.items
            .range(numbered_key(list, 0)..=numbered_key(list, u64::MAX))
            .map(|entry| decode(&entry?.1))
            .collect()
    }

    pub fn counts(&self, list: &str) -> Result<Counts, ProjectionError> {
        Ok(match self.counts.get(list.as_bytes())? {
            Some(value) => decode(&value)?,
            None => Counts::default(),
        })
    }
}

impl Projection for TodosReadModel {
    fn name(&self) -> &'static str {
        "todos"
    }

    fn version(&self) -> u32 {
        // 2: values stored in a compact binary form, no longer JSON. 3: in postcard's.
        3
    }

    fn trees(&self) -> Vec<sled::Tree> {
        vec![self.items.clone(), self.counts.clone()]
    }

    fn apply(
        &self,
        trees: &[TransactionalTree],
        event: &StoredEvent,
        changes: &mut Vec<Change>,
    ) -> TxResult<()> {
        fold(trees, event, changes)
    }

    fn apply_buffered(
        &self,
        trees: &WriteBuffer,
        events: &[RawEvent],
    ) -> Option<Result<(), ProjectionError>> {
        Some(apply_each(trees, events, |trees, event, changes| {
            fold(trees, event, changes)
        }))
    }
}

fn fold<T: Trees + ?Sized>(
    trees: &T,
    event: &impl LogEvent,
    changes: &mut Vec<Change>,
) -> TxResult<()> {
    if event.aggregate_type() != "TodoList" {
        return Ok(());
    }
    let decoded: TodoEvent = event
        .decode(&[])
        .map_err(|e| abort(ProjectionError::decode(event, e)))?;
    let list = ListTx {
        trees,
        list: event.aggregate_id(),
        position: event.position(),
    };
    let mut counts: Counts = match trees.get(COUNTS, list.list.as_bytes())? {
        Some(value) => decode(&value).map_err(abort)?,
        None => Counts::default(),
    };
    let mut ops = Vec::new();
    match decoded {
        TodoEvent::TodoAdded(added) => {
            let key = numbered_key(list.list, added.id);
            if trees.get(ITEMS, &key)?.is_some() {
                return Ok(()); // already applied
            }
            let todo = Todo {
                id: added.id,
                title: added.title,
                completed: false,
            };
            trees.insert(ITEMS, &key, &encode(&todo)?)?;
            counts.total += 1;
            ops.push(TodoOp::Added(todo));
        }
        TodoEvent::TodoToggled(toggled) => {
            ops.push(list.update(toggled.id, &mut counts, |todo| {
                todo.completed = toggled.completed
            })?);
        }
        TodoEvent::TodoEdited(edited) => {
            ops.push(list.update(edited.id, &mut counts, |todo| todo.title = edited.title)?);
        }
        TodoEvent::TodoDeleted(deleted) => {
            ops.push(list.remove(deleted.id, &mut counts)?);
        }
        TodoEvent::AllTodosToggled(all) => {
            for id in all.ids {
                ops.push(list.update(id, &mut counts, |todo| todo.completed = all.completed)?);
            }
        }
        TodoEvent::CompletedTodosCleared(cleared) => {
            for id in cleared.ids {
                ops.push(list.remove(id, &mut counts)?);
            }
        }
    }
    if counts.total == 0 {
        trees.remove(COUNTS, list.list.as_bytes())?;
    } else {
        trees.insert(COUNTS, list.list.as_bytes(), &encode(&counts)?)?;
    }
    changes.push(Change::from(TodoChange {
        list: list.list.to_owned(),
        ops,
        counts,
    }));
    Ok(())
}

/// One list inside the projection's transaction.
struct ListTx<'a, T: ?Sized> {
    trees: &'a T,
    list: &'a str,
    position: i64,
}

impl<T: Trees + ?Sized> ListTx<'_, T> {
    /// The stored todo `id`. The aggregate only names todos it has, so a missing one means the
    /// read model does not match the log.
    fn get(&self, id: u64) -> TxResult<Todo> {
        match self.trees.get(ITEMS, &numbered_key(self.list, id))? {
            Some(value) => decode(&value).map_err(abort),
            None => Err(abort(ProjectionError::Corrupt(format!(
                "todo {id} of list {} unknown at position {}",
                self.list, self.position
            )))),
        }
    }

    fn update(
        &self,
        id: u64,
        counts: &mut Counts,
        change: impl FnOnce(&mut Todo),
    ) -> TxResult<TodoOp> {
        let mut todo = self.get(id)?;
        let was_completed = todo.completed;
        change(&mut todo);
        match (was_completed, todo.completed) {
            (false, true) => counts.completed += 1,
            (true, false) => counts.completed = counts.completed.saturating_sub(1),
            _ => {}
        }
        self.trees
            .insert(ITEMS, &numbered_key(self.list, id), &encode(&todo)?)?;
        Ok(TodoOp::Updated {
            todo,
            was_completed,
        })
    }

    fn remove(&self, id: u64, counts: &mut Counts) -> TxResult<TodoOp> {
        let todo = self.get(id)?;
        self.trees.remove(ITEMS, &numbered_key(self.list, id))?;
        counts.total = counts.total.saturating_sub(1);
        if todo.completed {
            counts.completed = counts.completed.saturating_sub(1);
        }
        Ok(TodoOp::Removed(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cinder_domain::todos::{AllTodosToggled, CompletedTodosCleared, TodoAdded, TodoToggled};
    use cqrs_es::DomainEvent;

    fn stored(position: i64, event: TodoEvent) -> StoredEvent {
        StoredEvent {
            position,
            tx: position as u64,
            aggregate_type: "TodoList".into(),
            aggregate_id: "list-a".into(),
            sequence: position,
            event_type: event.event_type(),
            event_version: event.event_version(),
            payload: serde_json::to_value(&event).unwrap(),
            metadata: serde_json::json!({}),
            recorded_at: chrono::Utc::now(),
        }
    }

    fn added(id: u64, title: &str) -> TodoEvent {
        TodoEvent::TodoAdded(TodoAdded {
            id,
            title: title.into(),
        })
    }

    #[test]
    fn lists_are_kept_in_order_with_their_counts() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let todos = TodosReadModel::open(&db).unwrap();
        let events = [
            added(1, "a"),
            added(2, "b"),
            added(3, "c"),
            TodoEvent::TodoToggled(TodoToggled {
                id: 2,
                completed: true,
            }),
            TodoEvent::AllTodosToggled(AllTodosToggled {
                completed: true,
                ids: vec![1],
            }),
            TodoEvent::CompletedTodosCleared(CompletedTodosCleared { ids: vec![1, 2] }),
        ];
        let stored: Vec<_> = (1..).zip(events).map(|(p, e)| stored(p, e)).collect();
        crate::fold(&todos, &stored).unwrap();
        let list = todos.list("list-a").unwrap();
        assert_eq!(
            list,
            vec![Todo {
                id: 3,
                title: "c".into(),
                completed: false
            }]
        );
        let counts = todos.counts("list-a").unwrap();
        assert_eq!((counts.total, counts.completed, counts.active()), (1, 0, 1));
        assert!(todos.list("list-b").unwrap().is_empty(), "lists are apart");
        assert_eq!(todos.counts("list-b").unwrap(), Counts::default());
    }

    #[test]
    fn a_change_names_each_todo_and_the_counts_after_it() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let todos = TodosReadModel::open(&db).unwrap();
        crate::fold(
            &todos,
            &[stored(1, added(1, "a")), stored(2, added(2, "b"))],
        )
        .unwrap();
        let all = stored(
            3,
            TodoEvent::AllTodosToggled(AllTodosToggled {
                completed: true,
                ids: vec![1, 2],
            }),
        );
        use sled::Transactional;
        let trees = todos.trees();
        let changes = trees
            .as_slice()
            .transaction(|views: &Vec<TransactionalTree>| {
                let mut changes = Vec::new();
                todos.apply(views, &all, &mut changes)?;
                Ok(changes)
            })
            .unwrap();
        assert_eq!(changes.len(), 1, "one todos change: {changes:?}");
        let Some(change) = changes[0].get::<TodoChange>() else {
            panic!("a todos change: {changes:?}")
        };
        assert_eq!(change.topic(), "todos/list/list-a");
        assert_eq!(
            change.counts,
            Counts {
                total: 2,
                completed: 2
            }
        );
        assert!(matches!(
            &change.ops[..],
            [
                TodoOp::Updated { todo: a, was_completed: false },
                TodoOp::Updated { todo: b, was_completed: false },
            ] if a.completed && b.completed && a.id == 1 && b.id == 2
        ));
    }
}
