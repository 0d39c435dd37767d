//! Configuration, from flags or the environment: the node's own settings here, and the
//! settings of its parts each in a file of its own ([`socket`], [`http`], [`presence`]). The
//! parts read their settings from here; configuration imports nothing of theirs.

mod http;
mod presence;
mod socket;

pub use http::{HttpSettings, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP};
pub use presence::PresenceSettings;
pub use socket::{SocketSettings, DEFAULT_OUTBOX_BYTES};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Postgres URL of the event store, e.g. postgres://postgres@127.0.0.1:5432/cinder
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Address to listen on.
    #[arg(long, env = "CINDER_ADDR", default_value = "127.0.0.1:4000")]
    pub addr: SocketAddr,

    /// Where this node keeps its read models (sled) and generated secrets.
    #[arg(long, env = "CINDER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Key material for signing sessions and tokens. Generated once into the data dir if unset.
    #[arg(long, env = "SECRET_KEY_BASE", hide_env_values = true)]
    pub secret_key_base: Option<String>,

    /// The key base before the last rotation: tokens it signed are still honoured for
    /// `--previous-key-grace` after this node starts. New tokens are signed with the current one.
    #[arg(long, env = "SECRET_KEY_BASE_PREVIOUS", hide_env_values = true)]
    pub secret_key_base_previous: Option<String>,

    /// How long after this node starts tokens of the previous key are honoured: `7d`, `12h`,
    /// `30m`, `90s` or plain seconds; 0 honours none.
    #[arg(long, env = "CINDER_PREVIOUS_KEY_GRACE", default_value = "7d", value_parser = parse_duration)]
    pub previous_key_grace: Duration,

    /// Other hosts whose pages may open sockets (comma-separated), besides this server's own.
    #[arg(long, env = "CINDER_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Password of `/admin` and the admin API (user `admin`). If unset, one is generated once,
    /// printed, and kept in <data dir>/admin_password.
    #[arg(long, env = "CINDER_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Add a random public bookmark every interval (default 2s), through the command bus.
    #[arg(long, num_args = 0..=1, default_missing_value = "2s", value_parser = parse_interval, value_name = "INTERVAL")]
    pub simulate_bookmarks: Option<Duration>,

    /// Largest HTTP request body accepted, in bytes; a larger one gets 413.
    #[arg(long, env = "CINDER_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Websocket connections one client IP may have open at once; the next upgrade gets 429.
    #[arg(long, env = "CINDER_MAX_SOCKETS_PER_IP", default_value_t = DEFAULT_MAX_SOCKETS_PER_IP)]
    pub max_sockets_per_ip: usize,

    /// Largest reply or push a socket sends, in bytes (at least 65536); pages and lists that
    /// could grow are paged to stay within it.
    #[arg(long, env = "CINDER_MAX_REPLY_BYTES", default_value_t = DEFAULT_MAX_REPLY_BYTES, value_parser = parse_reply_bytes)]
    pub max_reply_bytes: usize,

    #[command(flatten)]
    pub socket: SocketSettings,

    #[command(flatten)]
    pub http: HttpSettings,

    /// Heartbeat and timeout of presence shared through Postgres.
    #[arg(skip)]
    pub presence: PresenceSettings,
}

/// Where the commands other than `serve` find the event store: Postgres, or the embedded store
/// in the data dir. (Only these two of `serve`'s settings concern them.)
#[derive(Debug, Clone, clap::Args)]
pub struct StoreConfig {
    /// Postgres URL of the event store, e.g. postgres://postgres@127.0.0.1:5432/cinder
    /// (default: the embedded store in <data dir>/events).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Where the node keeps its read models, the embedded event store and generated secrets.
    #[arg(long, env = "CINDER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl StoreConfig {
    /// The node configuration these settings name, everything else at its default.
    pub fn config(&self) -> Config {
        Config::new(self.database_url.clone(), self.data_dir.clone())
    }

    /// Whether the event store is the embedded one, in the data dir.
    pub fn embedded(&self) -> bool {
        self.database_url.is_none()
    }
}

/// Default of `CINDER_PREVIOUS_KEY_GRACE`: 7 days.
pub const DEFAULT_PREVIOUS_KEY_GRACE: Duration = Duration::from_secs(7 * 86400);
/// Default of `CINDER_MAX_BODY_BYTES`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default of `CINDER_MAX_SOCKETS_PER_IP`.
pub const DEFAULT_MAX_SOCKETS_PER_IP: usize = 50;
/// Default of `CINDER_MAX_REPLY_BYTES`: 512 KiB.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 512 * 1024;
/// The smallest `CINDER_MAX_REPLY_BYTES`: room for a page of one item of every kind at its
/// largest (a chat message or comment of 2,000 characters is at most ~12 KB escaped), and the
/// page around it.
pub const MIN_MAX_REPLY_BYTES: usize = 64 * 1024;

/// A reply budget: a number of bytes, at least [`MIN_MAX_REPLY_BYTES`].
fn parse_reply_bytes(text: &str) -> Result<usize, String> {
    let bytes: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of bytes"))?;
    if bytes < MIN_MAX_REPLY_BYTES {
        return Err(format!("at least {MIN_MAX_REPLY_BYTES} bytes"));
    }
    Ok(bytes)
}

/// `250ms`, `2s` or a plain number of seconds.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not an interval like 250ms, 2s or 2");
    let (number, unit) = match text.strip_suffix("ms") {
        Some(ms) => (ms, 0.001),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| invalid())?;
    if !(value > 0.0 && value.is_finite()) {
        return Err(invalid());
    }
    Ok(Duration::from_secs_f64(value * unit))
}

/// `7d`, `12h`, `30m`, `90s` or a plain number of seconds; zero is allowed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration like 7d, 12h, 30m, 90s or 90");
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, 'd')) => (&text[..i], 86400),
        Some((i, 'h')) => (&text[..i], 3600),
        Some((i, 'm')) => (&text[..i], 60),
        Some((i, 's')) => (&text[..i], 1),
        _ => (text, 1),
    };
    let value: u64 = number.trim().parse().map_err(|_| invalid())?;
    value
        .checked_mul(unit)
        .map(Duration::from_secs)
        .ok_or_else(invalid)
}

impl Config {
    /// A configuration for `database_url` and `data_dir` with every other setting at its default.
    pub fn new(database_url: Option<String>, data_dir: PathBuf) -> Self {
        Self {
            database_url,
            addr: SocketAddr::from(([127, 0, 0, 1], 4000)),
            data_dir,
            secret_key_base: None,
            secret_key_base_previous: None,
            previous_key_grace: DEFAULT_PREVIOUS_KEY_GRACE,
            allowed_hosts: Vec::new(),
            simulate_bookmarks: None,
            admin_password: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_sockets_per_ip: DEFAULT_MAX_SOCKETS_PER_IP,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            socket: SocketSettings::default(),
            http: HttpSettings::default(),
            presence: PresenceSettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        socket: SocketSettings,
        #[command(flatten)]
        http: HttpSettings,
    }

    #[test]
    fn socket_flags_default_to_the_documented_limits() {
        let flags = Flags::parse_from(["cinder"]);
        assert_eq!(flags.socket, SocketSettings::default());
        assert_eq!(flags.http, HttpSettings::default());
        let flags = Flags::parse_from(["cinder", "--socket-events-per-second", "5000"]);
        assert_eq!(flags.socket.events_per_second, 5000.0);
    }

    #[test]
    fn reply_budgets_have_a_floor() {
        assert_eq!(parse_reply_bytes("524288"), Ok(524288));
        assert!(parse_reply_bytes("1000").is_err());
        assert!(parse_reply_bytes("lots").is_err());
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("3"), Ok(Duration::from_secs(3)));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("soon").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1d").is_err());
        assert!(parse_duration("").is_err());
    }
}
