//! Where a projection reads and writes while it folds events.
//!
//! On the live tail that is a sled transaction over the projection's trees and its checkpoint
//! (`[TransactionalTree]`), so a batch and its checkpoint commit together. A rebuild from the
//! start of the log writes through a [`WriteBuffer`] instead: the writes of many batches are
//! gathered in memory (reads see them, as in a transaction), coalesced per key (a counter
//! changed by a thousand events is written once), and written to the trees in key order,
//! without a transaction, by a thread of their own. A projection writes the same code against
//! both through [`Trees`], so a rebuilt read model is the same, byte for byte, as one built on
//! the tail.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use sled::transaction::TransactionalTree;
use sled::IVec;

use crate::{ProjectionError, TxResult};

/// A projection's trees, by their index in [`crate::Projection::trees`].
pub trait Trees {
    fn get(&self, tree: usize, key: &[u8]) -> TxResult<Option<IVec>>;
    fn insert(&self, tree: usize, key: &[u8], value: &[u8]) -> TxResult<()>;
    fn remove(&self, tree: usize, key: &[u8]) -> TxResult<()>;
}

impl Trees for [TransactionalTree] {
    fn get(&self, tree: usize, key: &[u8]) -> TxResult<Option<IVec>> {
        Ok(self[tree].get(key)?)
    }

    fn insert(&self, tree: usize, key: &[u8], value: &[u8]) -> TxResult<()> {
        self[tree].insert(key, value)?;
        Ok(())
    }

    fn remove(&self, tree: usize, key: &[u8]) -> TxResult<()> {
        self[tree].remove(key)?;
        Ok(())
    }
}

/// The writes to each tree: key → new value (`None`: removed).
type Layer = Vec<HashMap<IVec, Option<IVec>>>;

/// A rebuild's writes to a projection's trees, held until [`WriteBuffer::write`] and then
/// written by a thread of their own, while the projection goes on folding into an empty buffer
/// (which reads see first, then what is being written, then the trees).
///
/// Not atomic: a crash while writing leaves some writes out. The runner marks a projection as
/// being rebuilt before it writes through a buffer, and a projection found so marked at
/// start-up is wiped and rebuilt again.
pub struct WriteBuffer {
    trees: Vec<sled::Tree>,
    current: RefCell<Layer>,
    /// The bytes of the keys and values in `current`.
    bytes: std::cell::Cell<usize>,
    /// The previous writes, while a thread writes them.
    writing: RefCell<Option<Writing>>,
}

struct Writing {
    layer: Arc<Layer>,
    done: std::thread::JoinHandle<Result<(), ProjectionError>>,
}

impl WriteBuffer {
    /// A buffer over `trees` (a projection's [`crate::Projection::trees`], same order).
    pub fn new(trees: Vec<sled::Tree>) -> Self {
        let current = RefCell::new(trees.iter().map(|_| HashMap::new()).collect());
        Self {
            trees,
            current,
            bytes: std::cell::Cell::new(0),
            writing: RefCell::new(None),
        }
    }

    /// How many keys are buffered and not being written yet.
    pub fn len(&self) -> usize {
        self.current.borrow().iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many bytes of keys and values are buffered and not being written yet: what a
    /// rebuild budgets (one key may hold a kilobyte or two, like a chunk of chat messages).
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }

    /// Starts writing what is buffered, each tree in key order, once the previous writes are
    /// done, and empties the buffer. Returns the error of the previous writes, if they failed.
    pub fn write(&self) -> Result<(), ProjectionError> {
        self.wait()?;
        if self.is_empty() {
            return Ok(());
        }
        // The next writes are likely as many as these: no growing the maps again.
        let mut current = self.current.borrow_mut();
        let next = current
            .iter()
            .map(|w| HashMap::with_capacity(w.len()))
            .collect();
        let layer = Arc::new(std::mem::replace(&mut *current, next));
        drop(current);
        self.bytes.set(0);
        let trees = self.trees.clone();
        let writes = layer.clone();
        let done = std::thread::Builder::new()
            .name("rebuild-writer".into())
            .spawn(move || write_layer(&trees, &writes))
            .map_err(|e| ProjectionError::Corrupt(format!("cannot start a writer: {e}")))?;
        *self.writing.borrow_mut() = Some(Writing { layer, done });
        Ok(())
    }

    /// Writes everything buffered and waits until it is written.
    pub fn finish(&self) -> Result<(), ProjectionError> {
        self.write()?;
        self.wait()
    }

    /// Forgets what is buffered and not being written yet.
    pub fn discard(&self) {
        for writes in self.current.borrow_mut().iter_mut() {
            writes.clear();
        }
        self.bytes.set(0);
    }

    /// Waits for the writes in progress.
    fn wait(&self) -> Result<(), ProjectionError> {
        let Some(writing) = self.writing.borrow_mut().take() else {
            return Ok(());
        };
        match writing.done.join() {
            Ok(written) => written,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Keys written in descending order at a time: see [`write_layer`].
const RUN: usize = 17;

/// Writes `layer` into `trees`, in key order by runs of [`RUN`] keys, each run backwards.
///
/// Neighbouring keys share sled's nodes, hence key order. Runs backwards because rebuilt keys
/// are mostly appended to ranges (a room's next messages): sled splits a leaf that has grown
/// past 16 keys in two halves, so keys in ascending order leave every leaf half full and split
/// one for every 8 or 9 keys written, and each split rewrites the leaf's parent too (about
/// half of the writing). Written backwards 17 at a time, leaves end up nearly full and splits
/// happen half as often (same contents, a third less CPU for 1M chat messages).
///
/// A tree's writes are split into as many contiguous key ranges as there are cores, each
/// written by a thread of its own: sled's inserts are lock-free, threads writing apart meet
/// only where a range ends, and one thread's inserts were a rebuild's slowest part.
fn write_layer(trees: &[sled::Tree], layer: &Layer) -> Result<(), ProjectionError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    for (tree, writes) in trees.iter().zip(layer) {
        let mut writes: Vec<_> = writes.iter().collect();
        writes.sort_unstable_by_key(|&(key, _)| key);
        for run in writes.chunks_mut(RUN) {
            run.reverse();
        }
        // Whole runs per thread; few writes are not worth a thread.
        let per_thread = writes.len().div_ceil(threads).div_ceil(RUN) * RUN;
        if threads == 1 || writes.len() < PARALLEL_WRITES {
            write_range(tree, &writes)?;
            continue;
        }
        std::thread::scope(|scope| {
            let parts: Vec<_> = writes
                .chunks(per_thread)
                .map(|part| scope.spawn(move || write_range(tree, part)))
                .collect();
            parts.into_iter().try_for_each(|part| match part.join() {
                Ok(written) => written,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        })?;
    }
    Ok(())
}

/// Fewer writes to one tree than this are written by one thread.
const PARALLEL_WRITES: usize = 4096;

fn write_range(
    tree: &sled::Tree,
    writes: &[(&IVec, &Option<IVec>)],
) -> Result<(), ProjectionError> {
    for (key, value) in writes {
        match value {
            Some(value) => tree.insert(key, value.clone())?,
            None => tree.remove(key)?,
        };
    }
    Ok(())
}

impl Trees for WriteBuffer {
    fn get(&self, tree: usize, key: &[u8]) -> TxResult<Option<IVec>> {
        if let Some(value) = self.current.borrow()[tree].get(key) {
            return Ok(value.clone());
        }
        if let Some(writing) = &*self.writing.borrow() {
            if let Some(value) = writing.layer[tree].get(key) {
                return Ok(value.clone());
            }
        }
        Ok(self.trees[tree].get(key)?)
    }

    fn insert(&self, tree: usize, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.hold(tree, key, Some(value));
        Ok(())
    }

    fn remove(&self, tree: usize, key: &[u8]) -> TxResult<()> {
        self.hold(tree, key, None);
        Ok(())
    }
}

impl WriteBuffer {
    /// Buffers `value` (`None`: removed) for `key` of `tree`, over what was buffered for it.
    fn hold(&self, tree: usize, key: &[u8], value: Option<&[u8]>) {
        let size = |value: Option<&[u8]>| key.len() + value.map_or(0, <[u8]>::len);
        let added = size(value);
        let replaced = self.current.borrow_mut()[tree].insert(key.into(), value.map(IVec::from));
        let freed = replaced.map_or(0, |old| size(old.as_deref()));
        self.bytes.set(self.bytes.get() + added - freed);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use cinder_domain::bookmarks::{BookmarkAdded, BookmarkEvent, CommentAdded};
    use cinder_domain::chat::{MessageSent, RoomEvent};
    use cinder_domain::drops::{
        CartEvent, CreatedItem, ProductCreated, ProductEvent, PurchaseEvent,
    };
    use cinder_domain::todos::{
        AllTodosToggled, CompletedTodosCleared, TodoAdded, TodoDeleted, TodoEdited, TodoEvent,
        TodoToggled,
    };
    use cqrs_es::DomainEvent;
    use serde_json::json;

    use super::WriteBuffer;
    use crate::bookmarks::BookmarksReadModel;
    use crate::chat::ChatReadModel;
    use crate::drops::DropsReadModel;
    use crate::todos::TodosReadModel;
    use crate::{Projection, RawEvent, StoredEvent};

    fn projections(db: &sled::Db) -> Vec<Box<dyn Projection>> {
        vec![
            Box::new(ChatReadModel::open(db).unwrap()),
            Box::new(BookmarksReadModel::open(db).unwrap()),
            Box::new(TodosReadModel::open(db).unwrap()),
            Box::new(DropsReadModel::open(db).unwrap()),
        ]
    }

    /// A log touching every projection, every kind of write (counters, overwrites, removals)
    /// and an upcast.
    fn log() -> Vec<StoredEvent> {
        let at = |s: i64| Utc.timestamp_opt(1_767_225_600 + s, 0).unwrap();
        let mut events: Vec<(String, String, String, String, serde_json::Value)> = Vec::new();
        let mut push =
            |aggregate: &str, id: &str, event: &dyn Fn() -> (String, String, serde_json::Value)| {
                let (event_type, version, payload) = event();
                events.push((
                    aggregate.to_owned(),
                    id.to_owned(),
                    event_type,
                    version,
                    payload,
                ));
            };
        fn domain<E: DomainEvent>(event: E) -> (String, String, serde_json::Value) {
            (
                event.event_type(),
                event.event_version(),
                serde_json::to_value(&event).unwrap(),
            )
        }
        push("Room", "old", &|| {
            (
                "MessageSent".into(),
                "1.0".into(),
                json!({"MessageSent": {"id": 1, "room": "old", "sender": "ada",
                    "content": "hi @Bob", "sent_at": "2026-01-01T00:00:00Z"}}),
            )
        });
        for n in 0..40u64 {
            let room = format!("room-{}", n % 3);
            push("Room", &room.clone(), &|| {
                domain(RoomEvent::MessageSent(MessageSent {
                    id: n / 3 + 1,
                    room: room.clone(),
                    sender: format!("s{n}"),
                    content: format!("message {n}"),
                    sent_at: at(n as i64 * if n % 5 == 0 { -1 } else { 1 }),
                    mentions: vec![],
                }))
            });
        }
        for n in 0..6u64 {
            let id = format!("b{n}");
            push("Bookmark", &id.clone(), &|| {
                domain(BookmarkEvent::BookmarkAdded(BookmarkAdded {
                    id: id.clone(),
                    owner: format!("o{}", n % 2),
                    title: format!("t{n}"),
                    url: "https://e.com".into(),
                    description: String::new(),
                    public: n % 3 != 0,
                    tags: vec!["a".into(), format!("t{}", n % 2)],
                    inserted_at: at(n as i64),
                }))
            });
            for c in 1..=n % 3 {
                let bookmark_id = id.clone();
                push("Bookmark", &id.clone(), &|| {
                    domain(BookmarkEvent::CommentAdded(CommentAdded {
                        bookmark_id: bookmark_id.clone(),
                        id: c,
                        author: "c".into(),
                        content: "nice".into(),
                        inserted_at: at(c as i64),
                    }))
                });
            }
        }
        let todos = [
            TodoEvent::TodoAdded(TodoAdded {
                id: 1,
                title: "a".into(),
            }),
            TodoEvent::TodoAdded(TodoAdded {
                id: 2,
                title: "b".into(),
            }),
            TodoEvent::TodoAdded(TodoAdded {
                id: 3,
                title: "c".into(),
            }),
            TodoEvent::TodoToggled(TodoToggled {
                id: 2,
                completed: true,
            }),
            TodoEvent::TodoEdited(TodoEdited {
                id: 3,
                title: "C".into(),
            }),
            TodoEvent::AllTodosToggled(AllTodosToggled {
                completed: true,
                ids: vec![1, 3],
            }),
            TodoEvent::CompletedTodosCleared(CompletedTodosCleared { ids: vec![1, 2] }),
            TodoEvent::TodoAdded(TodoAdded {
                id: 4,
                title: "d".into(),
            }),
            TodoEvent::TodoDeleted(TodoDeleted { id: 3 }),
            TodoEvent::TodoDeleted(TodoDeleted { id: 4 }),
            TodoEvent::TodoAdded(TodoAdded {
                id: 5,
                title: "e".into(),
            }),
        ];
        for (n, event) in todos.into_iter().enumerate() {
            push("TodoList", "list-a", &|| domain(event.clone()));
            if n % 4 == 0 {
                let id = n as u64 + 1;
                push("TodoList", "list-b", &|| {
                    domain(TodoEvent::TodoAdded(TodoAdded {
                        id,
                        title: "b".into(),
                    }))
                });
                push("TodoList", "list-b", &|| {
                    domain(TodoEvent::TodoToggled(TodoToggled {
                        id,
                        completed: true,
                    }))
                });
            }
        }
        let item = |n: u32| CreatedItem {
            id: format!("p1-{n}"),
            sku: format!("sku-{n}"),
            size: format!("{n}"),
            available: 3,
        };
        push("Product", "p1", &|| {
            domain(ProductEvent::ProductCreated(ProductCreated {
                id: "p1".into(),
                sku: "sku".into(),
                name: "shoe".into(),
                brand: "b".into(),
                color: "red".into(),
                price_usd: 100,
                image_url: "/i.png".into(),
                order: -2,
                items: vec![item(1), item(2)],
                created_at: at(0),
            }))
        });
        push("Product", "p1", &|| {
            domain(ProductEvent::ProductReleased {
                product_id: "p1".into(),
            })
        });
        for (cart, event) in [
            (
                "c1",
                CartEvent::ItemAdded {
                    cart_id: "c1".into(),
                    item_id: "p1-1".into(),
                },
            ),
            (
                "c2",
                CartEvent::ItemAdded {
                    cart_id: "c2".into(),
                    item_id: "p1-1".into(),
                },
            ),
            (
                "c1",
                CartEvent::ItemAdded {
                    cart_id: "c1".into(),
                    item_id: "p1-2".into(),
                },
            ),
            (
                "c2",
                CartEvent::ItemRemoved {
                    cart_id: "c2".into(),
                    item_id: "p1-1".into(),
                },
            ),
            (
                "c1",
                CartEvent::CheckedOut {
                    cart_id: "c1".into(),
                    purchase_id: "u1".into(),
                    items: vec!["p1-1".into(), "p1-2".into()],
                },
            ),
        ] {
            push("Cart", cart, &|| domain(event.clone()));
        }
        let purchase = [
            PurchaseEvent::PurchaseStarted {
                purchase_id: "u1".into(),
                cart_id: "c1".into(),
                items: vec!["p1-1".into(), "p1-2".into()],
                started_at: at(9),
            },
            PurchaseEvent::ItemSecured {
                purchase_id: "u1".into(),
                item_id: "p1-1".into(),
            },
            PurchaseEvent::ItemRefused {
                purchase_id: "u1".into(),
                item_id: "p1-2".into(),
                reason: "sold out".into(),
            },
            PurchaseEvent::SaleCompensated {
                purchase_id: "u1".into(),
                item_id: "p1-1".into(),
            },
            PurchaseEvent::PurchaseFailed {
                purchase_id: "u1".into(),
                reason: "sold out".into(),
            },
        ];
        for event in purchase {
            push("Purchase", "u1", &|| domain(event.clone()));
        }
        for event in [
            ProductEvent::ItemSold {
                product_id: "p1".into(),
                item_id: "p1-1".into(),
                available: 2,
                purchase_id: Some("u1".into()),
            },
            ProductEvent::ItemSold {
                product_id: "p1".into(),
                item_id: "p1-2".into(),
                available: 0,
                purchase_id: None,
            },
            ProductEvent::SaleUndone {
                product_id: "p1".into(),
                item_id: "p1-1".into(),
                available: 3,
                purchase_id: "u1".into(),
            },
            ProductEvent::ItemRestocked {
                product_id: "p1".into(),
                item_id: "p1-2".into(),
                quantity: 5,
                available: 5,
            },
        ] {
            push("Product", "p1", &|| domain(event.clone()));
        }
        events
            .into_iter()
            .enumerate()
            .map(
                |(n, (aggregate, id, event_type, version, payload))| StoredEvent {
                    position: n as i64 + 1,
                    tx: n as u64 / 4 + 1,
                    aggregate_type: aggregate,
                    aggregate_id: id,
                    sequence: n as i64 + 1,
                    event_type,
                    event_version: version,
                    payload,
                    metadata: json!({"command_id": format!("c{n}")}),
                    recorded_at: at(n as i64),
                },
            )
            .collect()
    }

    /// Every tree's name and entries.
    type Dump = Vec<(Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>)>;

    fn dump(db: &sled::Db) -> Dump {
        let mut names = db.tree_names();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let tree = db.open_tree(&name).unwrap();
                let entries = tree
                    .iter()
                    .map(|e| e.unwrap())
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                (name.to_vec(), entries)
            })
            .collect()
    }

    #[test]
    fn a_buffer_counts_the_bytes_it_holds_not_those_it_was_given() {
        use crate::Trees;
        let db = sled::Config::new().temporary(true).open().unwrap();
        let buffer = WriteBuffer::new(vec![db.open_tree("a").unwrap(), db.open_tree("b").unwrap()]);
        buffer.insert(0, b"key", &[0; 100]).unwrap();
        buffer.insert(0, b"key", &[0; 1000]).unwrap();
        buffer.insert(1, b"key", &[0; 10]).unwrap();
        assert_eq!(buffer.bytes(), 3 + 1000 + 3 + 10);
        buffer.remove(1, b"key").unwrap();
        assert_eq!(buffer.bytes(), 3 + 1000 + 3);
        buffer.finish().unwrap();
        assert_eq!(buffer.bytes(), 0);
        assert_eq!(
            db.open_tree("a")
                .unwrap()
                .get(b"key")
                .unwrap()
                .unwrap()
                .len(),
            1000
        );
    }

    #[test]
    fn a_buffered_rebuild_writes_what_transactions_write() {
        let log = log();
        let transactional = sled::Config::new().temporary(true).open().unwrap();
        for projection in projections(&transactional) {
            for batch in log.chunks(7) {
                crate::fold(projection.as_ref(), batch).unwrap();
            }
        }
        let expected = dump(&transactional);
        let empty: Vec<_> = expected
            .iter()
            .filter(|(name, entries)| entries.is_empty() && name != b"__sled__default")
            .map(|(name, _)| String::from_utf8_lossy(name))
            .collect();
        assert!(empty.is_empty(), "the log writes every tree: {empty:?}");

        // Batches of several sizes; the buffer written every few batches, reads going through
        // what is buffered, being written, and already written.
        let raw: Vec<RawEvent> = log.iter().cloned().map(RawEvent::from).collect();
        for (batch, write_every) in [(1, 1), (3, 2), (5, 1), (8, 3), (1000, 1)] {
            let buffered = sled::Config::new().temporary(true).open().unwrap();
            for projection in projections(&buffered) {
                let buffer = WriteBuffer::new(projection.trees());
                for (n, events) in raw.chunks(batch).enumerate() {
                    projection.apply_buffered(&buffer, events).unwrap().unwrap();
                    if n % write_every == 0 {
                        buffer.write().unwrap();
                    }
                }
                buffer.finish().unwrap();
            }
            assert_eq!(dump(&buffered), expected, "batches of {batch}");
        }
    }

    #[test]
    fn a_raw_event_decodes_as_its_stored_event() {
        for event in log() {
            let raw = RawEvent::from(event.clone());
            assert_eq!(raw.to_stored().unwrap(), event);
            if event.aggregate_type == "Room" {
                let upcasters = cinder_domain::chat::upcasters();
                let stored: RoomEvent = event.decode(&upcasters).unwrap();
                assert_eq!(raw.decode::<RoomEvent>(&upcasters).unwrap(), stored);
            }
        }
    }
}
