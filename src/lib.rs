//! Cinder: a real-time, event-sourced web platform. Commands arrive over a websocket (or HTTP),
//! aggregates decide, events land in the event store, projections fold them into sled and the
//! changed HTML is pushed to every live view that shows it.
//!
//! - [`store`]: the event store and its gap-safe global log.
//! - [`bus`]: the command bus over cqrs-es, with the aggregate cache and retries.
//! - [`projections`]: this node's tail of the log into the read models.
//! - [`pubsub`]: read model changes, by topic, to live views and channels;
//!   [`recent_changes`]: the last of them, for pages that reconnect.
//! - [`web`]: HTTP, the Phoenix Channels socket, live views, the apps' pages and APIs.
//! - [`http`]: serving HTTP connections, with timeouts and caps.
//! - [`server`]: wiring it together; [`cli`]: the `cinder` command; [`bench`]: `cinder bench`.

pub mod bench;
pub mod bus;
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod http;
pub mod metrics;
pub mod opaque;
pub mod presence;
pub mod process;
pub mod projections;
pub mod pubsub;
pub mod read_models;
pub mod recent_changes;
pub mod replay;
pub mod secrets;
pub mod server;
pub mod shutdown;
pub mod simulators;
pub mod store;
pub mod web;
