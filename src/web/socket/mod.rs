//! The socket: Phoenix Channels over a websocket (`/socket/websocket`, see `websocket.rs`) or
//! long polling (`/socket/longpoll`, see `longpoll.rs`), with serializer 2.0.0 or 1.0.0 chosen
//! by `?vsn=` as Phoenix chooses (1.0.0 when the client names none). Both transports run the
//! same connection (`connection.rs`): the same channels, limits, errors and budgets.

pub mod channel;
mod connection;
pub mod frame;
pub mod longpoll;
mod outbox;
mod websocket;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Extension;

pub use crate::config::{SocketSettings, DEFAULT_OUTBOX_BYTES};
pub use channel::{Channel, ChannelFactory, Joined, Push, Pusher, SocketInfo, Stalled};
pub use connection::reason;
pub use frame::Serializer;
pub use longpoll::LongPollSessions;
pub use websocket::{serve, upgrade};

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

/// Why a client may not connect, and the HTTP status that says so.
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

/// A connection allowed in: the serializer its client speaks, and its place among its IP's.
pub(crate) struct Admitted {
    pub serializer: Serializer,
    pub slot: Option<IpSlot>,
}

/// What every transport checks before a connection starts: the serializer version, the page's
/// origin, the connect token (if one is given) and the number of connections the client's IP
/// has open.
pub(crate) fn admit(
    state: &AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Admitted, Refusal> {
    let refuse = |status, reason: &str| Refusal {
        status,
        reason: reason.to_owned(),
    };
    let vsn = params
        .iter()
        .find(|(k, _)| k == "vsn")
        .map(|(_, v)| v.as_str());
    // Phoenix refuses a version it does not serve as it refuses a connect: 403.
    let Some(serializer) = Serializer::for_vsn(vsn) else {
        tracing::warn!(?vsn, "socket: serializer version not served, refused");
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "vsn must be 2.0.0 or 1.0.0 (serializer version not served)",
        ));
    };
    if !origin_allowed(headers, &state.allowed_hosts) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "socket: foreign origin refused");
        return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
    }
    if let Err(error) = super::live::check_connect_token(state, params) {
        tracing::warn!(%error, "socket: connect token refused");
        return Err(refuse(StatusCode::FORBIDDEN, &error.to_string()));
    }
    // Served without connect info (a router in a unit test), there is no peer to count.
    let slot = match peer {
        Some(Extension(ConnectInfo(peer))) => match state.socket_slots.take(peer.ip()) {
            Some(slot) => Some(slot),
            None => {
                tracing::warn!(ip = %peer.ip(), limit = state.socket_slots.limit, "socket: too many connections from one IP, refused");
                return Err(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many open sockets from this address",
                ));
            }
        },
        None => None,
    };
    Ok(Admitted { serializer, slot })
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
