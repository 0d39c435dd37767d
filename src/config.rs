//! Configuration, from flags or the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

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

    #[arg(skip)]
    pub socket: SocketSettings,
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
            socket: SocketSettings::default(),
        }
    }
}
