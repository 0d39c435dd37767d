//! The websocket transport, `/socket/websocket`: the upgrade, the frames read from it, and a
//! writer that sends what the outbox queued.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::{SinkExt, StreamExt};

use super::channel::{ChannelFactory, SocketInfo};
use super::connection::{self, Incoming, INVALID_DATA, PROTOCOL_ERROR};
use super::connection::{TOO_BIG, UNSUPPORTED};
use super::frame::Serializer;
use super::outbox::{Outbox, Outgoing};
use crate::config::SocketSettings;
use crate::web::AppState;

/// Queued frames written with one flush, at most.
const WRITE_BATCH: usize = 64;

/// How long a closing connection waits for its queued frames to be written.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Upgrades to a websocket once [`super::admit`] lets the client in.
pub async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let admitted = match super::admit(&state, peer, &params, &headers) {
        Ok(admitted) => admitted,
        Err(refusal) => return (refusal.status, refusal.reason).into_response(),
    };
    let settings = state.socket.clone();
    let factories = state.channels.clone();
    let info = SocketInfo { params, app: state };
    let (serializer, slot) = (admitted.serializer, admitted.slot);
    // The read buffer is allocated for every socket up front, so it is small: frames are
    // mostly a few hundred bytes, and a larger one only makes the buffer grow for a moment.
    upgrade
        .max_message_size(1 << 20)
        .max_frame_size(1 << 20)
        .read_buffer_size(2 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| async move {
            serve(socket, serializer, factories, info, settings).await;
            drop(slot);
        })
}

/// Serves one upgraded websocket, whose client speaks `serializer`, until it closes.
pub async fn serve(
    socket: WebSocket,
    serializer: Serializer,
    factories: Arc<Vec<Arc<dyn ChannelFactory>>>,
    info: SocketInfo,
    settings: SocketSettings,
) {
    let (mut sink, stream) = socket.split();
    let budget = connection::outbox_budget(&settings, &info);
    let (outbox, mut outgoing) = Outbox::new(budget, info.app.max_reply_bytes, serializer);
    // Frames already queued together go out in one write (a reply and the push it caused,
    // say), not one system call each. A frame's bytes count against the budget until the
    // flush has handed them to the kernel, so what the websocket layer buffers counts too.
    let writer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        let mut written = Vec::with_capacity(WRITE_BATCH);
        'writing: while outgoing.recv_many(&mut batch, WRITE_BATCH).await > 0 {
            for queued in batch.drain(..) {
                let (message, closing) = match queued.message {
                    Outgoing::Text(text) => (Message::Text(text.into()), false),
                    Outgoing::Close(code, reason) => (
                        Message::Close(Some(CloseFrame {
                            code,
                            reason: reason.into(),
                        })),
                        true,
                    ),
                };
                written.push(queued.permit);
                if sink.feed(message).await.is_err() || closing {
                    break 'writing;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
            written.clear();
        }
        let _ = sink.close().await;
    });

    let mut incoming = stream.map(incoming);
    let close = connection::run(
        &mut incoming,
        outbox.clone(),
        serializer,
        factories,
        info,
        settings,
    )
    .await;
    match close {
        // If even the close frame does not fit, the client is not reading: just hang up.
        Some((code, reason)) => {
            if outbox.close(code, reason).is_err() {
                writer.abort();
            }
        }
        None => writer.abort(),
    }
    drop(outbox);
    let mut writer = writer;
    if tokio::time::timeout(CLOSE_WAIT, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// What a websocket message (or error) is to the connection.
fn incoming(message: Result<Message, axum::Error>) -> Incoming {
    match message {
        Ok(Message::Text(text)) => Incoming::Text(text),
        Ok(Message::Binary(_)) => Incoming::Refused(UNSUPPORTED, "binary frames are not supported"),
        Ok(Message::Close(_)) => Incoming::Gone,
        Ok(Message::Ping(_) | Message::Pong(_)) => Incoming::Alive,
        Err(error) => match refused_frame(error) {
            Some((code, reason)) => Incoming::Refused(code, reason),
            None => Incoming::Gone,
        },
    }
}

/// The close code and reason for a frame the websocket layer could not read, or `None` when
/// the peer just went away (nothing to say to it).
fn refused_frame(error: axum::Error) -> Option<(u16, &'static str)> {
    use tokio_tungstenite::tungstenite::Error;
    let Ok(error) = error.into_inner().downcast::<Error>() else {
        return Some((PROTOCOL_ERROR, "frame refused"));
    };
    match *error {
        Error::Utf8(_) => Some((INVALID_DATA, "text frames must be UTF-8")),
        Error::Capacity(_) => Some((TOO_BIG, "frame too large")),
        Error::Protocol(
            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => None,
        Error::Protocol(_) => Some((PROTOCOL_ERROR, "protocol error")),
        Error::ConnectionClosed | Error::AlreadyClosed | Error::Io(_) => None,
        _ => Some((PROTOCOL_ERROR, "frame refused")),
    }
}
