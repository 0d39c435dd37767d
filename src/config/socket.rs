//! The limits of one socket connection (websocket or long poll), as flags and environment
//! variables (`CINDER_SOCKET_*`). The socket (`crate::web::socket`) reads them; they live here
//! with the rest of the configuration.

use std::time::Duration;

/// Limits of one connection, configurable by flag or environment (`CINDER_SOCKET_*`).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct SocketSettings {
    /// Close a socket silent for this long (clients heartbeat every 30 s): `60s`, `2m`.
    #[arg(long = "socket-idle-timeout", env = "CINDER_SOCKET_IDLE_TIMEOUT", default_value = "60s", value_parser = super::parse_duration)]
    pub idle_timeout: Duration,
    /// Largest text frame accepted, in bytes; a larger one closes the connection with 1009.
    #[arg(long = "socket-max-frame", env = "CINDER_SOCKET_MAX_FRAME", default_value_t = 64 * 1024)]
    pub max_frame: usize,
    /// Bytes queued for a client (and, apart, bytes of its frames waiting for a busy channel)
    /// before it counts as too slow and is dropped. At least `CINDER_MAX_REPLY_BYTES`.
    #[arg(
        long = "socket-outbox-bytes",
        env = "CINDER_SOCKET_OUTBOX_BYTES",
        default_value_t = DEFAULT_OUTBOX_BYTES
    )]
    pub outbox_bytes: usize,
    /// Channels one connection may have joined at once.
    #[arg(
        long = "socket-max-channels",
        env = "CINDER_SOCKET_MAX_CHANNELS",
        default_value_t = 100
    )]
    pub max_channels: usize,
    /// Sustained joins per second per connection.
    #[arg(
        long = "socket-joins-per-second",
        env = "CINDER_SOCKET_JOINS_PER_SECOND",
        default_value_t = 10.0
    )]
    pub joins_per_second: f64,
    /// Joins a connection may make at once above the sustained rate.
    #[arg(
        long = "socket-join-burst",
        env = "CINDER_SOCKET_JOIN_BURST",
        default_value_t = 50.0
    )]
    pub join_burst: f64,
    /// Sustained channel events per second per connection.
    #[arg(
        long = "socket-events-per-second",
        env = "CINDER_SOCKET_EVENTS_PER_SECOND",
        default_value_t = 100.0
    )]
    pub events_per_second: f64,
    /// Channel events a connection may send at once above the sustained rate.
    #[arg(
        long = "socket-event-burst",
        env = "CINDER_SOCKET_EVENT_BURST",
        default_value_t = 200.0
    )]
    pub event_burst: f64,
}

impl Default for SocketSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(60),
            max_frame: 64 * 1024,
            outbox_bytes: DEFAULT_OUTBOX_BYTES,
            max_channels: 100,
            joins_per_second: 10.0,
            join_burst: 50.0,
            events_per_second: 100.0,
            event_burst: 200.0,
        }
    }
}

/// Default of `CINDER_SOCKET_OUTBOX_BYTES`: 1 MiB.
pub const DEFAULT_OUTBOX_BYTES: usize = 1024 * 1024;
