//! Configuration, from flags or the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::web::socket::SocketSettings;

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

    /// Other hosts whose pages may open sockets (comma-separated), besides this server's own.
    #[arg(long, env = "CINDER_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Password of `/admin` and the admin API (user `admin`). Generated and printed if unset.
    #[arg(long, env = "CINDER_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Add a random public bookmark every interval (default 2s), through the command bus.
    #[arg(long, num_args = 0..=1, default_missing_value = "2s", value_parser = parse_interval, value_name = "INTERVAL")]
    pub simulate_bookmarks: Option<Duration>,

    #[arg(skip)]
    pub socket: SocketSettings,

    /// Heartbeat and timeout of presence shared through Postgres.
    #[arg(skip)]
    pub presence: crate::presence::PresenceSettings,
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

impl Config {
    /// A configuration for `database_url` and `data_dir` with every other setting at its default.
    pub fn new(database_url: Option<String>, data_dir: PathBuf) -> Self {
        Self {
            database_url,
            addr: SocketAddr::from(([127, 0, 0, 1], 4000)),
            data_dir,
            secret_key_base: None,
            allowed_hosts: Vec::new(),
            simulate_bookmarks: None,
            admin_password: None,
            socket: SocketSettings::default(),
            presence: crate::presence::PresenceSettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("3"), Ok(Duration::from_secs(3)));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("soon").is_err());
    }
}
