//! The limits of HTTP connections, as flags and environment variables (`CINDER_HTTP_*`), read
//! by the accept loop in `crate::http`.

use std::time::Duration;

/// Limits of HTTP connections, configurable by flag or environment (`CINDER_HTTP_*`).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct HttpSettings {
    /// A connection must send a whole request head within this long of being accepted (or,
    /// kept alive, of the first byte of its next request): `10s`, `1m`.
    #[arg(id = "http_header_timeout", value_name = "DURATION", long = "http-header-timeout", env = "CINDER_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = super::parse_duration)]
    pub header_timeout: Duration,
    /// A connection with no byte read or written for this long is closed (a kept-alive one
    /// between requests, or a request whose body stalls): `60s`, `2m`.
    #[arg(id = "http_idle_timeout", value_name = "DURATION", long = "http-idle-timeout", env = "CINDER_HTTP_IDLE_TIMEOUT", default_value = "60s", value_parser = super::parse_duration)]
    pub idle_timeout: Duration,
    /// Open HTTP connections at most (websockets included); lowered at start-up to fit under
    /// the process's limit on open files.
    #[arg(
        id = "http_max_connections",
        value_name = "N",
        long = "http-max-connections",
        env = "CINDER_HTTP_MAX_CONNECTIONS",
        default_value_t = DEFAULT_MAX_CONNECTIONS
    )]
    pub max_connections: usize,
    /// Open HTTP connections one client IP may have (websockets included); the next is
    /// answered 429 and closed.
    #[arg(
        id = "http_max_connections_per_ip",
        value_name = "N",
        long = "http-max-connections-per-ip",
        env = "CINDER_HTTP_MAX_CONNECTIONS_PER_IP",
        default_value_t = DEFAULT_MAX_CONNECTIONS_PER_IP
    )]
    pub max_connections_per_ip: usize,
}

/// Default of `CINDER_HTTP_MAX_CONNECTIONS`: Phoenix's (Plug.Cowboy's `max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Default of `CINDER_HTTP_MAX_CONNECTIONS_PER_IP`.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
        }
    }
}
