//! The LongPoll transport, `/socket/longpoll`, for clients that cannot open a websocket (a
//! proxy in the way): the official `phoenix` client falls back to it, and
//! `new Socket(url, {transport: LongPoll})` asks for it. It follows Phoenix's protocol:
//!
//! - `GET` without a session token opens a session: the answer is
//!   `{"status": 410, "token": T, "messages": []}` (410 is how Phoenix says "here is a new
//!   session"). The token is signed with `SECRET_KEY_BASE` and names the session.
//! - `GET` with the token (the `token` query parameter, or the `x-phoenix-longpoll-token`
//!   header) waits up to [`WINDOW`] for frames: `{"status": 200, "token", "messages": [...]}`
//!   with the frames' texts, or `{"status": 204, "token", "messages": []}` when none came.
//! - `POST` with the token sends frames, one per line (`application/x-ndjson`, up to
//!   [`BATCH`] of them) or the whole body as one; `{"status": 200}` once they are handled.
//! - A session that ended (idle, refused input, the node stopping) answers `{"status": 410}`:
//!   the client opens a new one and joins its channels again. A refused connect (origin,
//!   connect token, serializer version, too many sockets from one address) is
//!   `{"status": 403}`.
//!
//! The HTTP status is always 200, as Phoenix sends it; the JSON `status` is what the client
//! reads. A session is a connection like a websocket's (`connection.rs`): the same channels,
//! limits, Origin check, idle timeout (counted from the client's last request) and byte budget
//! for what waits to be polled. Sessions live in this node's memory: behind a load balancer,
//! long polling needs sticky sessions (a request for a session on another node is told 410).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::channel::SocketInfo;
use super::connection::{self, Incoming, INVALID_DATA, UNSUPPORTED};
use super::outbox::{Outbox, Outgoing, Receiver};
use crate::web::AppState;

/// How long a poll waits for a frame before it is answered 204 (Phoenix's `window_ms`); at
/// most half the idle timeout, so a client that polls again at once is never idle.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Frames one `POST` may carry (Phoenix's `@max_poll_batch_size`).
pub const BATCH: usize = 100;
/// How long a session token is honoured (Phoenix's two weeks); the session itself ends much
/// sooner, after the idle timeout.
const TOKEN_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);
/// What the session token is signed for.
const PURPOSE: &str = "longpoll";
/// The header newer clients send the token in.
const TOKEN_HEADER: &str = "x-phoenix-longpoll-token";
/// How long an ended session keeps its last frames (the replies to a stopping node's last
/// commands, say) for a poll to take.
const LINGER: Duration = Duration::from_secs(5);

/// The long poll sessions open on this node. Cheap to clone.
#[derive(Clone, Default)]
pub struct LongPollSessions {
    open: Arc<Mutex<HashMap<String, Arc<Session>>>>,
}

impl LongPollSessions {
    /// Sessions open (or ended and not yet polled to their end).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().get(id).cloned()
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// One client's session: where its frames go in, and where frames for it wait to be polled.
struct Session {
    inbound: mpsc::Sender<Incoming>,
    /// Held by the poll in progress (a newer poll waits for it).
    outgoing: tokio::sync::Mutex<Receiver>,
}

/// What a session token carries.
#[derive(Serialize, Deserialize)]
struct SessionToken {
    session: String,
}

/// `GET /socket/longpoll`: opens a session, or waits for its frames.
pub async fn poll(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if !super::origin_allowed(&headers, &state.allowed_hosts) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "longpoll: foreign origin refused");
        return answer(json!({"status": 403, "reason": "origin not allowed"}));
    }
    match session_token(&state, &params, &headers) {
        Some(id) => match state.longpoll.get(&id) {
            Some(session) => listen(&state, &id, &session).await,
            None => answer(json!({"status": 410})),
        },
        None => open(&state, peer, params, &headers),
    }
}

/// `POST /socket/longpoll`: frames from the client, handled in order before the answer.
pub async fn publish(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !super::origin_allowed(&headers, &state.allowed_hosts) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "longpoll: foreign origin refused");
        return answer(json!({"status": 403, "reason": "origin not allowed"}));
    }
    let Some(session) =
        session_token(&state, &params, &headers).and_then(|id| state.longpoll.get(&id))
    else {
        return answer(json!({"status": 410}));
    };
    let batch = frames(&headers, &body);
    let handled = async {
        for frame in batch {
            session.inbound.send(frame).await.ok()?;
        }
        let (done, handled) = oneshot::channel();
        session.inbound.send(Incoming::Handled(done)).await.ok()?;
        handled.await.ok()
    };
    match tokio::time::timeout(window(&state), handled).await {
        Ok(Some(())) => answer(json!({"status": 200})),
        // The session ended on this input (a malformed frame, say) or before it.
        Ok(None) => answer(json!({"status": 410})),
        Err(_) => answer(json!({"status": 408})),
    }
}

/// `OPTIONS /socket/longpoll`: a browser's preflight before a cross-origin request (the Origin
/// of the request itself is checked as always).
pub async fn preflight(headers: HeaderMap) -> Response {
    let asked = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(""));
    (
        [
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, asked),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("get, post, options"),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("3600"),
            ),
        ],
        "",
    )
        .into_response()
}

/// The session a request names: the first token (header, then `token` parameters) that is a
/// session token signed by this node's key. The socket's connect parameter `token` (a live
/// view token) travels in the same query string, so a `token` that is not a session token is
/// not one.
fn session_token(
    state: &AppState,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Option<String> {
    let from_header = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    let from_params = params
        .iter()
        .filter(|(name, _)| name == "token")
        .map(|(_, value)| value.as_str());
    from_header
        .into_iter()
        .chain(from_params)
        .find_map(|token| {
            state
                .signer
                .verify::<SessionToken>(PURPOSE, token, TOKEN_MAX_AGE)
                .ok()
                .map(|claims| claims.session)
        })
}

/// Opens a session for a client that [`super::admit`] lets in, and runs its connection.
fn open(
    state: &AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Response {
    let admitted = match super::admit(state, peer, &params, headers) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            return answer(json!({"status": 403, "reason": refusal.reason}));
        }
    };
    let id = format!("{:032x}", rand::random::<u128>());
    let settings = state.socket.clone();
    let info = SocketInfo {
        params,
        app: state.clone(),
    };
    let budget = connection::outbox_budget(&settings, &info);
    let (outbox, outgoing) = Outbox::new(budget, state.max_reply_bytes, admitted.serializer);
    let (inbound, mut frames) = mpsc::channel(BATCH);
    state.longpoll.lock().insert(
        id.clone(),
        Arc::new(Session {
            inbound,
            outgoing: tokio::sync::Mutex::new(outgoing),
        }),
    );
    let sessions = state.longpoll.clone();
    let factories = state.channels.clone();
    let serializer = admitted.serializer;
    let slot = admitted.slot;
    let session = id.clone();
    tokio::spawn(async move {
        let mut incoming = futures_util::stream::poll_fn(move |cx| frames.poll_recv(cx));
        let close = connection::run(
            &mut incoming,
            outbox.clone(),
            serializer,
            factories,
            info,
            settings,
        )
        .await;
        // Frames still queued are not handled: a POST waiting on them learns so now.
        drop(incoming);
        if let Some((code, reason)) = close {
            let _ = outbox.close(code, reason);
        }
        drop(outbox);
        drop(slot);
        tokio::time::sleep(LINGER).await;
        sessions.remove(&session);
    });
    let token = state.signer.sign(PURPOSE, &SessionToken { session: id });
    answer(json!({"status": 410, "token": token, "messages": []}))
}

/// Answers a poll with the frames waiting for the client: as soon as there is one, with every
/// other one already there (up to a reply's bytes), or with none after the window.
async fn listen(state: &AppState, id: &str, session: &Session) -> Response {
    let token = state.signer.sign(
        PURPOSE,
        &SessionToken {
            session: id.to_owned(),
        },
    );
    // A poll is the client being there: the idle timeout counts from the last one. If frames
    // are queued for the connection already, they say so themselves.
    if let Err(mpsc::error::TrySendError::Closed(_)) = session.inbound.try_send(Incoming::Alive) {
        // The connection ended; what it left may still be waiting below.
    }
    let window = window(state);
    let Ok(mut outgoing) = tokio::time::timeout(window, session.outgoing.lock()).await else {
        return answer(json!({"status": 204, "token": token, "messages": []}));
    };
    let first = match tokio::time::timeout(window, outgoing.recv()).await {
        Err(_) => return answer(json!({"status": 204, "token": token, "messages": []})),
        Ok(first) => first,
    };
    let mut messages: Vec<String> = Vec::new();
    let mut bytes = 0;
    let mut ended = false;
    let mut next = first;
    loop {
        match next.map(|queued| queued.message) {
            Some(Outgoing::Text(text)) => {
                bytes += text.len();
                messages.push(text);
            }
            Some(Outgoing::Close(..)) | None => {
                ended = true;
                break;
            }
        }
        if bytes >= state.max_reply_bytes {
            break;
        }
        next = match outgoing.try_recv() {
            Ok(queued) => Some(queued),
            Err(mpsc::error::TryRecvError::Empty) => break,
            Err(mpsc::error::TryRecvError::Disconnected) => None,
        };
    }
    if ended {
        state.longpoll.remove(id);
        if messages.is_empty() {
            return answer(json!({"status": 410}));
        }
    }
    answer(json!({"status": 200, "token": token, "messages": messages}))
}

/// The frames of a `POST` body: one per line for `application/x-ndjson` (at most [`BATCH`]),
/// else the whole body. Binary frames (base64 lines) are refused, as on the websocket.
fn frames(headers: &HeaderMap, body: &Bytes) -> Vec<Incoming> {
    let Ok(text) = std::str::from_utf8(body) else {
        return vec![Incoming::Refused(INVALID_DATA, "text frames must be UTF-8")];
    };
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-ndjson"));
    if !ndjson {
        return vec![Incoming::Text(text.to_owned().into())];
    }
    text.split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty())
        .take(BATCH)
        .map(|line| {
            if line.starts_with('[') || line.starts_with('{') {
                Incoming::Text(line.to_owned().into())
            } else {
                Incoming::Refused(UNSUPPORTED, "binary frames are not supported")
            }
        })
        .collect()
}

/// How long a poll waits: [`WINDOW`], or half the idle timeout if that is shorter.
fn window(state: &AppState) -> Duration {
    WINDOW.min(state.socket.idle_timeout / 2)
}

/// A long poll answer: HTTP 200 with the JSON the client reads, never cached, readable from
/// any page this node lets in (the Origin was checked).
fn answer(body: Value) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}
