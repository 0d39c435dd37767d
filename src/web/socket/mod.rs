//! The socket endpoint: `/socket/websocket`, Phoenix Channels with serializer 2.0.0 or 1.0.0
//! (`?vsn=`, as Phoenix chooses: 1.0.0 when the client names none).

pub mod channel;
mod connection;
pub mod frame;
mod outbox;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

pub use channel::{Channel, ChannelFactory, Joined, Push, Pusher, SocketInfo, Stalled};
pub use connection::{reason, serve, SocketSettings, DEFAULT_OUTBOX_BYTES};
pub use frame::Serializer;

use super::AppState;

/// Open websocket connections per client IP, up to a limit (`CINDER_MAX_SOCKETS_PER_IP`).
#[derive(Clone)]
pub struct IpSlots {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in [`IpSlots`], given back when dropped (when the connection ends, or
/// the upgrade never completes).
pub struct IpSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl IpSlots {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, unless it already has `limit` open.
    pub fn take(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            ip,
            open: self.open.clone(),
        })
    }

    /// Connections open from `ip`.
    pub fn count(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Upgrades to a websocket after checking the serializer version, the page's origin, the
/// connect token (if one is given) and the number of sockets the client's IP has open.
pub async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let vsn = params
        .iter()
        .find(|(k, _)| k == "vsn")
        .map(|(_, v)| v.as_str());
    // Phoenix refuses a version it does not serve as it refuses a connect: 403.
    let Some(serializer) = Serializer::for_vsn(vsn) else {
        tracing::warn!(?vsn, "socket: serializer version not served, refused");
        return (
            StatusCode::FORBIDDEN,
            "vsn must be 2.0.0 or 1.0.0 (serializer version not served)",
        )
            .into_response();
    };
    if !origin_allowed(&headers, &state.allowed_hosts) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "socket: foreign origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    if let Err(error) = super::live::check_connect_token(&state, &params) {
        tracing::warn!(%error, "socket: connect token refused");
        return (StatusCode::FORBIDDEN, error.to_string()).into_response();
    }
    // Served without connect info (a router in a unit test), there is no peer to count.
    let slot = match peer {
        Some(Extension(ConnectInfo(peer))) => match state.socket_slots.take(peer.ip()) {
            Some(slot) => Some(slot),
            None => {
                tracing::warn!(ip = %peer.ip(), limit = state.socket_slots.limit, "socket: too many connections from one IP, refused");
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many open sockets from this address",
                )
                    .into_response();
            }
        },
        None => None,
    };
    let settings = state.socket.clone();
    let factories = state.channels.clone();
    let info = SocketInfo { params, app: state };
    // The read buffer is allocated for every socket up front, so it is small: frames are
    // mostly a few hundred bytes, and a larger one only makes the buffer grow for a moment.
    upgrade
        .max_message_size(1 << 20)
        .max_frame_size(1 << 20)
        .read_buffer_size(2 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| async move {
            connection::serve(socket, serializer, factories, info, settings).await;
            drop(slot);
        })
}

/// A browser always sends `Origin` with a websocket upgrade (and with a cross-origin `POST`); it
/// must name this server's own host (as the browser reached it) or one of the configured hosts.
/// Programs that send no `Origin` are not browsers and cannot be used for cross-site hijacking,
/// so they pass.
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed_hosts: &Arc<Vec<String>>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(authority) = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'))
    else {
        return false;
    };
    let own = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if own == Some(authority) {
        return true;
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(host, _)| host);
    allowed_hosts.iter().any(|allowed| allowed == host)
}
