//! Test support: a fresh event store per test (a Postgres database or an embedded one), a server
//! on a free port, and a raw Phoenix Channels client over tokio-tungstenite.

use std::path::PathBuf;
use std::time::Duration;

use cinder::config::Config;
use cinder::server::Server;
use cinder::store::{EmbeddedEventLog, EventLog, PostgresEventLog};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use tokio_tungstenite::tungstenite::Message;

/// The server to create test databases on, without a database name (one given in
/// `CINDER_TEST_POSTGRES`, as in `postgres://postgres@127.0.0.1:5444/postgres`, is left off).
pub fn admin_url() -> String {
    let url = std::env::var("CINDER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let server = rest.split_once('/').map_or(rest, |(server, _)| server);
            format!("{scheme}://{server}")
        }
        None => url,
    }
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("cinder_test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(&format!("{}/postgres", admin_url()))
            .await
            .expect("connect to Postgres (is it running on 127.0.0.1:5432?)");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let url = format!("{}/{name}", admin_url());
        TestDb { name, url }
    }

    /// A migrated event log on this database.
    pub async fn log(&self) -> EventLog {
        let log = PostgresEventLog::connect(&self.url).await.expect("connect");
        log.migrate().await.expect("migrate");
        EventLog::Postgres(log)
    }
}

impl TestDb {
    /// A database someone else owns: not dropped by this handle.
    pub fn existing(url: &str) -> TestDb {
        TestDb {
            name: String::new(),
            url: url.to_owned(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let name = self.name.clone();
        // Drop runs outside async; use a runtime of its own on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) =
                    PgConnection::connect(&format!("{}/postgres", admin_url())).await
                {
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// The event stores the behaviour tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Embedded,
}

/// A fresh event store of one backend, for one test.
pub struct TestStore {
    pub log: EventLog,
    /// The Postgres database, kept until the test ends (none for the embedded store, which is
    /// temporary and goes with its last handle).
    pub db: Option<TestDb>,
}

impl TestStore {
    pub async fn new(backend: Backend) -> TestStore {
        match backend {
            Backend::Postgres => {
                let db = TestDb::new().await;
                TestStore {
                    log: db.log().await,
                    db: Some(db),
                }
            }
            Backend::Embedded => TestStore {
                log: EventLog::Embedded(EmbeddedEventLog::temporary().expect("temporary store")),
                db: None,
            },
        }
    }

    /// The same store as another node sees it: a pool of its own on the Postgres database; for
    /// the embedded store, which one process owns, another handle on it.
    pub async fn other_node(&self) -> EventLog {
        match &self.db {
            Some(db) => db.log().await,
            None => self.log.clone(),
        }
    }
}

/// A directory of its own for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("cinder-test-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test configuration: the database, a data dir, any free port, a fixed secret.
pub fn config(db: &TestDb, dir: &TempDir) -> Config {
    let mut config = Config::new(Some(db.url.clone()), dir.0.clone());
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.secret_key_base = Some("test secret key base".into());
    config
}

/// A running server with its own database and data dir.
pub struct TestServer {
    pub server: Server,
    pub db: TestDb,
    pub _dir: TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let db = TestDb::new().await;
        let dir = TempDir::new();
        let mut config = config(&db, &dir);
        adjust(&mut config);
        let server = Server::start(config).await.expect("server starts");
        TestServer {
            server,
            db,
            _dir: dir,
        }
    }

    /// A server on an existing database (the caller keeps it alive and cleans it up).
    pub async fn start_on(database_url: &str) -> TestServer {
        let dir = TempDir::new();
        let mut config = Config::new(Some(database_url.to_owned()), dir.0.clone());
        config.addr = "127.0.0.1:0".parse().expect("addr");
        config.secret_key_base = Some("test secret key base".into());
        let server = Server::start(config).await.expect("server starts");
        TestServer {
            server,
            db: TestDb::existing(database_url),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/socket/websocket?vsn=2.0.0", self.server.addr)
    }

    /// GETs `path`, with `cookie` if given: the status and the JSON body (null if not JSON).
    pub async fn get_json(&self, path: &str, cookie: Option<&str>) -> (u16, Value) {
        let mut request = http().get(format!("{}{path}", self.url()));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("GET");
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

/// The default `CINDER_MAX_REPLY_BYTES`: no reply, page or JSON list may be larger.
pub const MAX_REPLY_BYTES: usize = 512 * 1024;

impl TestServer {
    /// GETs `path`: the body as text, checked to be within [`MAX_REPLY_BYTES`].
    pub async fn get_within_budget(&self, path: &str) -> String {
        let body = http()
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("a body");
        assert!(
            body.len() <= MAX_REPLY_BYTES,
            "{path} answered {} bytes, more than {MAX_REPLY_BYTES}",
            body.len()
        );
        body
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw Phoenix Channels V2 client.
pub struct Client {
    pub ws: Ws,
    next_ref: u64,
}

/// How long a client waits for an expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Client { ws, next_ref: 0 }
    }

    /// A client over a websocket opened elsewhere (on a socket with particular options, say).
    pub fn from_ws(ws: Ws) -> Client {
        Client { ws, next_ref: 0 }
    }

    pub fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Sends `[join_ref, ref, topic, event, payload]`; returns the ref.
    pub async fn send(
        &mut self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> String {
        let msg_ref = self.make_ref();
        let frame = serde_json::json!([join_ref, msg_ref, topic, event, payload]);
        self.send_text(frame.to_string()).await;
        msg_ref
    }

    /// Joins `topic`; returns (join_ref, reply payload).
    pub async fn join(&mut self, topic: &str, payload: Value) -> (String, Value) {
        let join_ref = self.make_ref();
        let frame = serde_json::json!([join_ref, join_ref, topic, "phx_join", payload]);
        self.send_text(frame.to_string()).await;
        let reply = self.reply_to(&join_ref).await;
        (join_ref, reply)
    }

    /// The next text frame, decoded.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the wait")
                .expect("the connection is open")
                .expect("a readable frame");
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).expect("server frames are JSON");
            }
        }
    }

    /// Waits for the frame that satisfies `matches`, skipping others.
    pub async fn until(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self.next().await;
            if matches(&frame) {
                return frame;
            }
        }
    }

    /// The `phx_reply` payload for `msg_ref`.
    pub async fn reply_to(&mut self, msg_ref: &str) -> Value {
        self.until(|f| f[3] == "phx_reply" && f[1] == msg_ref).await[4].clone()
    }

    /// Waits for the connection to close; returns the close code, if one was sent.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("closes within the wait")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// An HTTP client that keeps cookies off (tests pass them explicitly).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// Turns `async fn name(backend: Backend)` into two tests, `name::postgres` and `name::embedded`.
/// Tokio test arguments (a flavor, say) may follow the name.
macro_rules! on_both_stores {
    ($name:ident $(, $($tokio:tt)+)?) => {
        mod $name {
            use crate::support::Backend;

            #[tokio::test$(($($tokio)+))?]
            async fn postgres() {
                super::$name(Backend::Postgres).await
            }

            #[tokio::test$(($($tokio)+))?]
            async fn embedded() {
                super::$name(Backend::Embedded).await
            }
        }
    };
}
pub(crate) use on_both_stores;
