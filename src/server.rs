//! Wires a node together: event store, projections, bus, web; and stops it cleanly.

use std::net::SocketAddr;
use std::sync::Arc;

use cinder_domain::Clock;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::data_dir::DataDirLock;
use crate::projections::ProjectionRunner;
use crate::pubsub::PubSub;
use crate::read_models::ReadModels;
use crate::shutdown::{InFlight, GRACE};
use crate::store::{EventLog, PostgresEventLog, StoreError};
use crate::web::session::Signer;
use crate::web::{channel_factories, command_bus, router, AppState, Node};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read models: {0}")]
    ReadModels(#[from] cinder_read_models::ProjectionError),
    #[error("projections could not catch up: {0}")]
    CatchUp(#[from] crate::projections::RunError),
    #[error("data dir {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error(transparent)]
    Held(#[from] crate::data_dir::DataDirError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("{addr} is already in use (another cinder node, or another program, listens there); stop it or pass --addr")]
    AddrInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("cannot connect to the database at {url} (DATABASE_URL): {reason}")]
    Database { url: String, reason: String },
}

impl StartError {
    fn bind(addr: SocketAddr, error: std::io::Error) -> StartError {
        if error.kind() == std::io::ErrorKind::AddrInUse {
            StartError::AddrInUse { addr }
        } else {
            StartError::Bind {
                addr,
                reason: error.to_string(),
            }
        }
    }
}

/// The event store named by the configuration, migrated: Postgres at `DATABASE_URL`, or without
/// one the embedded store in `<data dir>/events` (apart from the read models, which can be
/// deleted and rebuilt from it).
pub async fn event_log(config: &Config) -> Result<EventLog, StartError> {
    let Some(url) = config.database_url.as_deref() else {
        std::fs::create_dir_all(&config.data_dir).map_err(|error| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            reason: error.to_string(),
        })?;
        let path = config.data_dir.join("events");
        let log = crate::store::EmbeddedEventLog::open(&path)?;
        tracing::info!(
            path = %path.display(),
            "no DATABASE_URL: using the embedded event store (one node only)"
        );
        return Ok(EventLog::Embedded(log));
    };
    let log = match PostgresEventLog::connect(url).await {
        Ok(log) => log,
        Err(error) => {
            return Err(StartError::Database {
                url: without_password(url),
                reason: why_not_connected(url, error).await,
            })
        }
    };
    log.migrate().await?;
    Ok(EventLog::Postgres(log))
}

/// Why connecting to `url` failed, in the database's or the network's words: the pool only
/// says it timed out, so one plain connection is tried for the reason.
async fn why_not_connected(url: &str, error: StoreError) -> String {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(url).await {
        Err(sqlx::Error::Database(error)) => error.message().to_owned(),
        Err(sqlx::Error::Io(error)) => error.to_string(),
        Err(other) => other.to_string(),
        Ok(_) => match error {
            StoreError::Unavailable(reason) | StoreError::Other(reason) => reason,
            other => other.to_string(),
        },
    }
}

/// `url` with its password, if it has one, replaced by `***` (for messages).
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Takes `addr` without listening yet, so that a taken port is reported before anything else
/// happens (and nothing connects before the node is ready to serve).
fn reserve(addr: SocketAddr) -> Result<tokio::net::TcpSocket, StartError> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|error| StartError::bind(addr, error))?;
    // As `TcpListener::bind` does: a restarted node may take its port back at once.
    #[cfg(unix)]
    socket
        .set_reuseaddr(true)
        .map_err(|error| StartError::bind(addr, error))?;
    socket
        .bind(addr)
        .map_err(|error| StartError::bind(addr, error))?;
    Ok(socket)
}

/// Connections the kernel queues for the accept loop (what `TcpListener::bind` uses).
const LISTEN_BACKLOG: u32 = 1024;

/// A running node.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    /// Turned true first when stopping: no new connections, sockets close with 1001.
    drain: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    http: JoinHandle<()>,
    db: sled::Db,
    /// Held until the node has stopped: no other process may open its data dir meanwhile.
    _data_dir: DataDirLock,
}

impl Server {
    /// Starts a node: migrates the store, brings every projection up to date, then serves.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        crate::metrics::install();
        let data_dir = DataDirLock::acquire(&config.data_dir)?;
        let socket = reserve(config.addr)?;
        let log = event_log(&config).await?;
        let secret = crate::secrets::secret_key_base(&config)?;
        let admin_password = crate::secrets::admin_password(&config)?;
        let models = ReadModels::open(&config.data_dir.join("read_models"), crate::web::APPS)?;

        let (shutdown, stopping) = watch::channel(false);
        let (drain, draining) = watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(until(stopping.clone(), log.spawn_listener()));

        let pubsub = PubSub::default();
        let mut runner = ProjectionRunner::new(
            &models.db,
            log.clone(),
            pubsub.clone(),
            models.projections(),
        )?;
        // Read models that start from nothing (a new or lost data dir, a new version) are
        // rebuilt the fast way first; nobody is served until the node has caught up anyway.
        let fresh = runner.fresh();
        let rebuilt = if fresh.is_empty() {
            0
        } else {
            runner.rebuild_with(&fresh, |_| {}).await?
        };
        let caught_up = runner.catch_up().await?;
        tracing::info!(rebuilt, events = caught_up, "projections caught up");
        let progress = runner.progress();
        tasks.push(until(stopping.clone(), tokio::spawn(runner.run())));

        // Presence is shared through Postgres, or this node's alone with the embedded store.
        let presence = match &log {
            EventLog::Postgres(pg) => crate::presence::Presence::shared(
                pubsub.clone(),
                pg.pool().clone(),
                config.presence.clone(),
            ),
            EventLog::Embedded(_) => crate::presence::Presence::new(pubsub.clone()),
        };
        if let Some(task) = presence.spawn() {
            tasks.push(until(stopping.clone(), task));
        }
        let state = AppState::new(Node {
            bus: Arc::new(command_bus(log.clone(), Clock::system())),
            log,
            presence: presence.clone(),
            pubsub,
            progress,
            signer: signer(&secret, &config),
            socket: config.socket.clone(),
            allowed_hosts: Arc::new(config.allowed_hosts.clone()),
            channels: Arc::new(channel_factories(&models.apps)),
            apps: models.apps.clone(),
            admin_password,
            draining: draining.clone(),
            sockets: InFlight::default(),
            max_body_bytes: config.max_body_bytes,
            max_reply_bytes: config.max_reply_bytes,
            socket_slots: crate::web::socket::IpSlots::new(config.max_sockets_per_ip),
            longpoll: Default::default(),
        });
        for app in state.apps.iter() {
            for task in app.spawn(&state, &config) {
                tasks.push(until(stopping.clone(), task));
            }
        }

        let listener = socket
            .listen(LISTEN_BACKLOG)
            .map_err(|error| StartError::bind(config.addr, error))?;
        let addr = listener
            .local_addr()
            .map_err(|error| StartError::bind(config.addr, error))?;
        if config.socket.outbox_bytes < config.max_reply_bytes {
            tracing::warn!(
                outbox_bytes = config.socket.outbox_bytes,
                max_reply_bytes = config.max_reply_bytes,
                "CINDER_SOCKET_OUTBOX_BYTES is below CINDER_MAX_REPLY_BYTES: sockets queue up \
                 to CINDER_MAX_REPLY_BYTES instead"
            );
        }
        let app = router(state.clone());
        let http = tokio::spawn(crate::http::serve(
            listener,
            app,
            config.http.clone(),
            draining,
        ));
        tracing::info!(%addr, "cinder listening");
        Ok(Server {
            addr,
            state,
            shutdown,
            drain,
            tasks,
            http,
            db: models.db,
            _data_dir: data_dir,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully: stops accepting connections, closes every socket with 1001 (once its
    /// channels have answered the frames they were handling), lets in-flight requests and
    /// commands finish (for up to [`GRACE`] in all), then ends background work and flushes the
    /// read models.
    pub async fn stop(self) {
        let deadline = tokio::time::Instant::now() + GRACE;
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let _ = self.drain.send(true);
        let mut http = self.http;
        if tokio::time::timeout(left(), &mut http).await.is_err() {
            tracing::warn!("requests still running after the grace period: cut off");
            http.abort();
        }
        if !self.state.sockets.idle(left()).await {
            tracing::warn!(
                sockets = self.state.sockets.count(),
                "sockets still open after the grace period"
            );
        }
        if !self.state.bus.in_flight.idle(left()).await {
            tracing::warn!(
                commands = self.state.bus.in_flight.count(),
                "commands still running after the grace period: cut off"
            );
        }
        // This node's visitors leave every other node's presence now, not after the timeout.
        self.state.presence.leave().await;
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(error) = self.db.flush_async().await {
            tracing::error!(%error, "flushing read models failed");
        }
    }

    /// Runs until SIGINT or SIGTERM, then stops.
    pub async fn run_until_signal(self) {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await;
    }
}

/// Aborts `task` once `stopping` turns true.
fn until(mut stopping: watch::Receiver<bool>, task: JoinHandle<()>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut task = task;
        let stop = async {
            let _ = stopping.wait_for(|s| *s).await;
        };
        tokio::select! {
            _ = stop => {
                task.abort();
                // Wait until it is gone: its handles on the read models must be released.
                let _ = (&mut task).await;
            }
            _ = &mut task => {}
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

/// The signer of `secret`, also honouring `SECRET_KEY_BASE_PREVIOUS` for the grace period from
/// now, if set.
fn signer(secret: &str, config: &Config) -> Signer {
    let signer = Signer::new(secret);
    match config
        .secret_key_base_previous
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        Some(previous) => {
            tracing::info!(
                grace_seconds = config.previous_key_grace.as_secs(),
                "SECRET_KEY_BASE_PREVIOUS is set: honouring tokens signed with it during the grace"
            );
            signer.with_previous(previous, config.previous_key_grace)
        }
        None => signer,
    }
}
