//! The socket endpoint: `/socket/websocket?vsn=2.0.0`, Phoenix Channels V2.

pub mod channel;
mod connection;
pub mod frame;

use std::sync::Arc;

use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

pub use channel::{Channel, ChannelFactory, Joined, Push, Pusher, SocketInfo, Stalled};
pub use connection::{reason, serve, SocketSettings};

use super::AppState;

/// Upgrades to a websocket after checking the serializer version and the page's origin.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let vsn = params
        .iter()
        .find(|(k, _)| k == "vsn")
        .map(|(_, v)| v.as_str());
    if vsn.is_some_and(|v| v != "2.0.0") {
        return (StatusCode::BAD_REQUEST, "only vsn=2.0.0 is supported").into_response();
    }
    if !origin_allowed(&headers, &state.allowed_hosts) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "socket: foreign origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let settings = state.socket.clone();
    let factories = state.channels.clone();
    let info = SocketInfo { params, app: state };
    upgrade
        .max_message_size(1 << 20)
        .max_frame_size(1 << 20)
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| connection::serve(socket, factories, info, settings))
}

/// A browser always sends `Origin`; it must name this server's own host (as the browser
/// reached it) or one of the configured hosts. Programs that send no `Origin` are not browsers
/// and cannot be used for cross-site hijacking, so they pass.
fn origin_allowed(headers: &HeaderMap, allowed_hosts: &Arc<Vec<String>>) -> bool {
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
