//! A scenario's own database, and `cinder serve` processes on it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use tokio::process::{Child, Command};

use super::BenchError;

/// A database created for one scenario and dropped after it.
pub struct Database {
    admin_url: String,
    name: String,
    pub url: String,
}

impl Database {
    pub async fn create(admin_url: &str, scenario: &str) -> Result<Self, BenchError> {
        let name = format!("cinder_bench_{scenario}_{}", std::process::id());
        let mut admin = quiet(admin_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let url = with_database(admin_url, &name);
        // The event store's tables, as `cinder migrate` makes them.
        let log = crate::store::PostgresEventLog::connect(&url)
            .await
            .map_err(|error| BenchError::Node(format!("event store: {error}")))?;
        log.migrate()
            .await
            .map_err(|error| BenchError::Node(format!("event store: {error}")))?;
        log.pool().close().await;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    pub async fn connect(&self) -> Result<PgConnection, BenchError> {
        quiet(&self.url).await
    }

    pub async fn drop(self) -> Result<(), BenchError> {
        let mut admin = quiet(&self.admin_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        Ok(())
    }
}

/// A connection that does not log its statements: seeding is slow on purpose, and dropping
/// what does not exist is not news.
async fn quiet(url: &str) -> Result<PgConnection, BenchError> {
    let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
    let mut conn = PgConnection::connect_with(&options).await?;
    conn.execute("SET client_min_messages = warning").await?;
    Ok(conn)
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|at| at + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// A `cinder serve` process of this same binary, with limits raised so that the load comes
/// from one address without being refused, and its own data dir.
pub struct Node {
    child: Child,
    pub url: String,
    data_dir: PathBuf,
}

/// The live view token secret every bench node shares, so pages of one node join on another.
const SECRET: &str = "bench-secret-key-base-bench-secret-key-base-bench-secret-key-base";

impl Node {
    pub async fn start(database_url: &str, label: &str) -> Result<Self, BenchError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let data_dir = std::env::temp_dir().join(format!(
            "cinder-bench-{label}-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir)?;
        let log = std::fs::File::create(data_dir.join("node.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("CINDER_ADDR", format!("127.0.0.1:{port}"))
            .env("CINDER_DATA_DIR", &data_dir)
            .env("SECRET_KEY_BASE", SECRET)
            .env("CINDER_ADMIN_PASSWORD", "bench")
            .env("CINDER_MAX_SOCKETS_PER_IP", "1000000")
            .env("CINDER_HTTP_MAX_CONNECTIONS_PER_IP", "1000000")
            .env("CINDER_HTTP_MAX_CONNECTIONS", "1000000")
            .env("CINDER_SOCKET_EVENTS_PER_SECOND", "1000000")
            .env("CINDER_SOCKET_EVENT_BURST", "1000000")
            .env("CINDER_SOCKET_IDLE_TIMEOUT", "1h")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let mut node = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data_dir,
        };
        node.wait_ready().await?;
        Ok(node)
    }

    /// Waits for `/readyz`: the node listens once its read models have caught up.
    async fn wait_ready(&mut self) -> Result<(), BenchError> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(BenchError::Node(format!(
                    "exited with {status} before it was ready: {}",
                    self.log_tail()
                )));
            }
            if let Ok(response) = http.get(format!("{}/readyz", self.url)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(BenchError::Node(format!(
                    "not ready after 10 minutes: {}",
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.data_dir.join("node.log")).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        log.get(start..).unwrap_or_default().to_owned()
    }

    /// The process's resident memory, from `/proc` (Linux).
    pub fn resident_bytes(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// The CPU time the process has used so far, from `/proc` (Linux).
    pub fn cpu(&self) -> Option<Duration> {
        super::cpu::process_cpu(self.child.id()?)
    }

    /// The node's group commits so far, from `/metrics`: how many, and the commands they held
    /// (`cinder_append_batch_commands`' count and sum).
    pub async fn batches(&self) -> Result<(f64, f64), BenchError> {
        let metrics = self.metrics().await?;
        Ok((
            metrics.value("cinder_append_batch_commands_count"),
            metrics.value("cinder_append_batch_commands_sum"),
        ))
    }

    /// The batches the node's tail has applied so far, from `/metrics`: taken from memory (its
    /// own group commits, as committed) and read from the log.
    pub async fn tail_batches(&self) -> Result<(f64, f64), BenchError> {
        let metrics = self.metrics().await?;
        Ok((
            metrics.value("cinder_tail_batches_total{source=\"memory\"}"),
            metrics.value("cinder_tail_batches_total{source=\"log\"}"),
        ))
    }

    async fn metrics(&self) -> Result<Metrics, BenchError> {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await?
            .text()
            .await?;
        Ok(Metrics(text))
    }

    /// `ws://…/socket/websocket?vsn=2.0.0` of this node.
    pub fn socket_url(&self) -> String {
        format!(
            "{}/socket/websocket?vsn=2.0.0",
            self.url.replacen("http://", "ws://", 1)
        )
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A node's `/metrics` text.
struct Metrics(String);

impl Metrics {
    /// The value of the series `name` (with its labels, as written), 0 if absent.
    fn value(&self, name: &str) -> f64 {
        self.0
            .lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "b"),
            "postgres://u@h/b?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "b"), "postgres://u@h/b");
    }
}
