//! Cinder's read models: projections that fold the event log into sled, and the queries over
//! them. A projection knows events and sled, nothing about HTTP or sockets; it reports what it
//! changed as [`Change`]s, and the server decides who to tell.

pub mod bookmarks;
pub mod chat;
mod chunk;
mod codec;
pub mod drops;
pub mod polls;
mod projection;
pub mod todos;
mod trees;

/// The log's types, from the domain crate (below the store, the bus and the read models).
pub use cinder_domain::{Cursor, LogEvent, RawEvent, StoredEvent};
pub use projection::{fold, Change, ChangeValue, Projection, ProjectionError, TxResult};
pub use trees::{Trees, WriteBuffer};
