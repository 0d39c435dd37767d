//! The web edge: HTTP pages and API, the socket, live views and assets, and the list of apps.

pub mod admin;
pub mod app;
mod assets;
mod body;
pub mod context;
pub mod errors;
pub mod forms;
mod layout;
pub mod live;
pub mod local_time;
pub mod openapi;
mod paging;
mod params;
pub mod session;
pub mod socket;

/// Declares each app's module and lists its [`app::Registration`] (its `APP`), in nav order.
macro_rules! apps {
    ($($app:ident,)*) => {
        $(pub mod $app;)*

        /// Every app a node runs, in nav order: the one place that names them.
        pub static APPS: &[&app::Registration] = &[$(&$app::APP),*];
    };
}

// One line per app.
apps! {
    chat,
    bookmarks,
    drops,
    todos,
    polls,
    events,
}

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use axum::routing::get;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::bus::CommandBus;
use crate::projections::Progress;
use crate::pubsub::PubSub;
use crate::store::EventLog;
pub use app::{App, Apps};
use session::{Session, Signer};
use socket::{ChannelFactory, SocketSettings};

/// Everything a request, channel or live view may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Node>);

/// A node as its web edge sees it: the platform's parts, and the apps it runs.
pub struct Node {
    pub bus: Arc<CommandBus>,
    pub log: EventLog,
    pub pubsub: PubSub,
    pub progress: Progress,
    pub signer: Signer,
    pub socket: SocketSettings,
    /// Hosts, besides the one a request names itself, whose pages may open sockets.
    pub allowed_hosts: Arc<Vec<String>>,
    /// Every app, opened on this node's read models.
    pub apps: Apps,
    /// Every topic family the socket serves: live views first, then each app's.
    pub channels: Arc<Vec<Arc<dyn ChannelFactory>>>,
    pub presence: crate::presence::Presence,
    /// The password of `/admin` and the admin API (user `admin`).
    pub admin_password: String,
    /// Turns true when the node starts stopping: sockets close with 1001, `/readyz` says 503.
    pub draining: tokio::sync::watch::Receiver<bool>,
    /// Open socket connections (a stopping node waits for them to close).
    pub sockets: crate::shutdown::InFlight,
    /// Largest HTTP request body accepted, in bytes (`CINDER_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Largest reply or push sent, in bytes (`CINDER_MAX_REPLY_BYTES`): pages are cut to fit.
    pub max_reply_bytes: usize,
    /// Open socket connections per client IP, within `CINDER_MAX_SOCKETS_PER_IP`.
    pub socket_slots: socket::IpSlots,
    /// The long poll sessions open on this node (`/socket/longpoll`).
    pub longpoll: socket::LongPollSessions,
}

impl AppState {
    pub fn new(node: Node) -> Self {
        Self(Arc::new(node))
    }
}

impl Deref for AppState {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.0
    }
}

/// The names of every app's projections, in the order a node runs them: known before any data
/// dir is opened, for `cinder replay --help` and its argument's check.
pub fn projection_names() -> Vec<&'static str> {
    app::projection_names(APPS)
}

/// A command bus with every app's aggregates registered: what a node, the CLI and the tests
/// send commands through.
pub fn command_bus(log: EventLog, clock: cinder_domain::Clock) -> CommandBus {
    let mut bus = CommandBus::new(log, clock);
    for registration in APPS {
        (registration.aggregates)(&mut bus);
    }
    bus
}

/// Every topic family the socket serves: `lv:` live views, then each app's topics.
pub fn channel_factories(apps: &Apps) -> Vec<Arc<dyn ChannelFactory>> {
    let mut factories: Vec<Arc<dyn ChannelFactory>> = vec![Arc::new(live::LiveChannels)];
    factories.extend(apps.iter().flat_map(|app| app.channels()));
    factories
}

/// Every route: the pages, the socket and assets for browsers, and the API, each of whose
/// endpoints is registered with its OpenAPI description ([`openapi`]), then each app's.
pub fn routes(apps: &Apps) -> OpenApiRouter<AppState> {
    let home = apps.nav().first().map_or("/events", |nav| nav.href);
    let mut routes = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .route("/", get(move || async move { Redirect::to(home) }))
        .route("/socket/websocket", get(socket::upgrade))
        .route(
            "/socket/longpoll",
            get(socket::longpoll::poll)
                .post(socket::longpoll::publish)
                .options(socket::longpoll::preflight),
        )
        .route("/assets/cinder.js", get(assets::script))
        .route("/assets/cinder.css", get(assets::style))
        .route("/assets/apps.css", {
            let styles: Arc<str> = apps.styles().into();
            get(move || std::future::ready(assets::css(styles.to_string())))
        })
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi::openapi_json));
    for app in apps.iter() {
        routes = routes.merge(app.routes());
    }
    routes
}

pub fn router(state: AppState) -> Router {
    let (routes, document) = routes(&state.apps).split_for_parts();
    routes
        .layer(axum::Extension(openapi::Document::new(&document)))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            with_session,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            same_origin_api_writes,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_body,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// What every answer allows a browser to do with it: no framing by any page (clickjacking of
/// `/admin`, say), scripts only from this site's own files (the pages have no inline script or
/// handler), styles, sockets and form posts to this site only. Product images may come from
/// anywhere over http(s).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' https: http: data:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Sends [`CONTENT_SECURITY_POLICY`], `X-Frame-Options: DENY` (for browsers without
/// `frame-ancestors`) and `X-Content-Type-Options: nosniff` with every answer.
async fn security_headers(request: Request, next: Next) -> Response {
    use axum::http::HeaderValue;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Refuses a request whose body is over `CINDER_MAX_BODY_BYTES` with 413 and a log line: at
/// once when its declared length is over, or (a chunked body) as soon as what arrived is. The
/// body (at most the limit) is read here and handed on, so every handler sees the same limit
/// and none turns a cut-off body into some other error. [`axum::extract::DefaultBodyLimit`]
/// backs this up at the extractors.
async fn limit_body(State(app): State<AppState>, request: Request, next: Next) -> Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use futures_util::StreamExt;
    let limit = app.max_body_bytes;
    let too_large = |method: &axum::http::Method, path: &str, length: Option<u64>| {
        tracing::warn!(%method, %path, length, limit, "request body too large: refused");
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: the limit is {limit} bytes"),
        )
            .into_response()
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(request.method(), request.uri().path(), declared);
    }
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut read = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return (StatusCode::BAD_REQUEST, "could not read the request body").into_response();
        };
        if read.len() + chunk.len() > limit {
            return too_large(&parts.method, parts.uri.path(), None);
        }
        read.extend_from_slice(&chunk);
    }
    let request = Request::from_parts(parts, axum::body::Body::from(read));
    next.run(request).await
}

/// Refuses (403) a write to the JSON API (any method but `GET`, `HEAD`, `OPTIONS` under `/api/`)
/// that a browser sends from a page of a foreign origin. The API takes no CSRF token: the todos
/// and bookmarks endpoints act for the session in the cookie, and the admin endpoints for
/// whoever's browser has the Basic credentials cached, so a foreign page's auto-submitted form
/// (even a `text/plain` one shaped as JSON) must not reach them. Programs send no `Origin` and
/// pass, as the server's own pages and the configured hosts do (see [`socket::origin_allowed`]).
async fn same_origin_api_writes(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/api/")
        && !request.method().is_safe()
        && !socket::origin_allowed(request.headers(), &app.allowed_hosts)
    {
        tracing::warn!(
            method = %request.method(),
            path = request.uri().path(),
            origin = ?request.headers().get(header::ORIGIN),
            "API write from a foreign origin refused"
        );
        return errors::json_error(axum::http::StatusCode::FORBIDDEN, "origin not allowed");
    }
    next.run(request).await
}

/// Any other path: a JSON 404 under `/api/`, else the site's "not found" page (with the nav, so
/// a mistyped address is one click from every app).
async fn not_found(
    State(app): State<AppState>,
    axum::Extension(session): axum::Extension<Session>,
    request: Request,
) -> Response {
    if request.uri().path().starts_with("/api/") {
        return errors::json_error(axum::http::StatusCode::NOT_FOUND, "no such endpoint");
    }
    errors::not_found_page(&app, &session)
}

/// How old the oldest event the projections have not applied may be on a ready node.
const READY_LAG: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "operations_healthz",
    responses((status = 200, description = "The process is up", content_type = "text/plain", body = String, example = "ok"))
)]
async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the node is not stopping, the event store answers, and the projections are caught
/// up: no event they have not applied is older than [`READY_LAG`]. (A node only starts listening
/// once its projections have caught up with the log, rebuilding any that need it.)
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "operations_readyz",
    responses(
        (status = 200, description = "Ready to serve", content_type = "text/plain", body = String, example = "ready"),
        (status = 503, description = "Not ready, and why: stopping, the event store does not answer, or the projections are behind", content_type = "text/plain", body = String, example = "not ready: shutting down"),
    )
)]
async fn readyz(State(app): State<AppState>) -> Response {
    use axum::response::IntoResponse;
    let not_ready = |reason: String| {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}"),
        )
            .into_response()
    };
    if *app.draining.borrow() {
        return not_ready("shutting down".into());
    }
    // The first event after what every projection has applied, if any.
    let unapplied = match app.log.read_after(app.progress.current(), 1).await {
        Ok(events) => events,
        Err(error) => return not_ready(error.to_string()),
    };
    let Some(oldest) = unapplied.first() else {
        return "ready".into_response();
    };
    let age = (chrono::Utc::now() - oldest.recorded_at)
        .to_std()
        .unwrap_or_default();
    if age > READY_LAG {
        return not_ready(format!(
            "projections are behind: an event of {:.1} s ago is not applied yet",
            age.as_secs_f64()
        ));
    }
    "ready".into_response()
}

/// `GET /metrics`: Prometheus' text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "operations_metrics",
    responses((status = 200, description = "Every metric the README lists, in Prometheus' text format", content_type = "text/plain; version=0.0.4", body = String))
)]
async fn metrics() -> Response {
    use axum::response::IntoResponse;
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(),
    )
        .into_response()
}

/// Gives every request a [`Session`] (as an extension): the one in its signed cookie, or a new
/// one, which is then set as the cookie unless the handler set one itself (as is one whose
/// cookie was signed with the previous key).
async fn with_session(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let found = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| Session::from_cookie_header_key(value, &app.signer));
    // A cookie signed with the previous key (during a rotation's grace) is set again, signed
    // with the current one.
    let (session, fresh) = match found {
        Some((session, previous_key)) => (session, previous_key),
        None => (Session::fresh(), true),
    };
    request.extensions_mut().insert(session.clone());
    let mut response = next.run(request).await;
    if fresh && !response.headers().contains_key(header::SET_COOKIE) {
        if let Ok(cookie) = session.cookie(&app.signer).parse() {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    response
}
