//! Wires a node together: event store, projections, bus, web; and stops it cleanly.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use cinder_domain::Clock;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bus::CommandBus;
use crate::config::Config;
use crate::projections::ProjectionRunner;
use crate::pubsub::PubSub;
use crate::read_models::ReadModels;
use crate::shutdown::{InFlight, GRACE};
use crate::store::{EventLog, PostgresEventLog, StoreError};
use crate::web::session::Signer;
use crate::web::{channel_factories, router, App, AppState};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read models: {0}")]
    ReadModels(#[from] cinder_read_models::ProjectionError),
    #[error("projections could not catch up: {0}")]
    CatchUp(#[from] crate::projections::RunError),
    #[error("data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The event store named by the configuration, migrated: Postgres at `DATABASE_URL`, or without
/// one the embedded store in `<data dir>/events` (apart from the read models, which can be
/// deleted and rebuilt from it).
pub async fn event_log(config: &Config) -> Result<EventLog, StartError> {
    let Some(url) = config.database_url.as_deref() else {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let path = config.data_dir.join("events");
        let log = crate::store::EmbeddedEventLog::open(&path)?;
        tracing::info!(
            path = %path.display(),
            "no DATABASE_URL: using the embedded event store (one node only)"
        );
        return Ok(EventLog::Embedded(log));
    };
    let log = PostgresEventLog::connect(url).await?;
    log.migrate().await?;
    Ok(EventLog::Postgres(log))
}

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
}

impl Server {
    /// Starts a node: migrates the store, brings every projection up to date, then serves.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        crate::metrics::install();
        let log = event_log(&config).await?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let secret = secret_key_base(&config)?;
        let models = ReadModels::open(&config.data_dir.join("read_models"))?;

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
        let state = AppState::new(App {
            bus: CommandBus::new(log.clone(), Clock::system()),
            log,
            presence: presence.clone(),
            pubsub,
            progress,
            signer: signer(&secret, &config),
            socket: config.socket.clone(),
            allowed_hosts: Arc::new(config.allowed_hosts.clone()),
            channels: Arc::new(channel_factories()),
            chat: models.chat.clone(),
            bookmarks: models.bookmarks.clone(),
            todos: models.todos.clone(),
            drops: models.drops.clone(),
            admin_password: admin_password(&config),
            draining: draining.clone(),
            sockets: InFlight::default(),
            max_body_bytes: config.max_body_bytes,
            max_reply_bytes: config.max_reply_bytes,
            socket_slots: crate::web::socket::IpSlots::new(config.max_sockets_per_ip),
            longpoll: Default::default(),
        });
        tasks.push(until(
            stopping.clone(),
            crate::process::checkout::spawn_recovery(
                state.clone(),
                std::time::Duration::from_secs(30),
            ),
        ));
        if let Some(every) = config.simulate_bookmarks {
            tasks.push(until(
                stopping.clone(),
                crate::simulators::bookmarks::spawn(state.clone(), every),
            ));
        }

        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
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

/// `CINDER_ADMIN_PASSWORD`, or a new one, printed so the operator can log in.
fn admin_password(config: &Config) -> String {
    if let Some(password) = config.admin_password.clone().filter(|p| !p.is_empty()) {
        return password;
    }
    let password = format!("{:016x}", rand::random::<u64>());
    println!("CINDER_ADMIN_PASSWORD is not set; the /admin password for this run is: {password}");
    tracing::warn!(
        "CINDER_ADMIN_PASSWORD is not set: generated one for this run (printed on stdout)"
    );
    password
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

/// `SECRET_KEY_BASE`, or the one generated into the data dir on first start.
fn secret_key_base(config: &Config) -> Result<String, StartError> {
    if let Some(secret) = &config.secret_key_base {
        return Ok(secret.clone());
    }
    let path = config.data_dir.join("secret_key_base");
    let io = |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    };
    if Path::new(&path).exists() {
        return std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(io);
    }
    let secret = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    std::fs::write(&path, &secret).map_err(io)?;
    tracing::warn!(
        path = %path.display(),
        "SECRET_KEY_BASE is not set: generated one and kept it in the data dir; \
         set SECRET_KEY_BASE to share sessions across nodes"
    );
    Ok(secret)
}
