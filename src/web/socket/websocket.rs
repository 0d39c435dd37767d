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
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};

use super::channel::{ChannelFactory, SocketInfo};
use super::connection::{self, Incoming, INVALID_DATA, PROTOCOL_ERROR};
use super::connection::{TOO_BIG, UNSUPPORTED};
use super::frame::Serializer;
use super::outbox::{Held, Outbox, Outgoing, Queued, Receiver};
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
    // Each of these buffers is per socket, and most sockets sit idle holding them:
    // - read, 2 KiB: allocated up front and zeroed before the first read, so all of it is
    //   resident for every socket. Clients' frames are mostly a few hundred bytes (heartbeats,
    //   events, a live view's join with its tokens); one this size reads any of them in one
    //   call. A larger frame is read into a buffer its own size, 2 KiB a call, and tungstenite
    //   keeps that one afterwards: a socket holds its largest frame's worth, at most the
    //   connection's frame limit (`CINDER_SOCKET_MAX_FRAME`), as larger frames close it.
    // - write, 8 KiB: frames are gathered until this many bytes are waiting, then written,
    //   and the writer flushes after each burst anyway; so a burst (a join reply and the
    //   history after it) goes out in 8 KiB writes rather than a system call a frame. The
    //   buffer keeps the capacity of the largest burst (up to 8 KiB and a frame): about one
    //   push's for sockets that only get pushes.
    // - message and frame, 1 MiB: the websocket layer's own bound on what one frame may take
    //   while it is read, far above the connection's frame limit, which refuses what lies
    //   between with 1009 and a log line.
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
    let (sink, stream) = socket.split();
    let budget = connection::outbox_budget(&settings, &info);
    let (outbox, outgoing) = Outbox::new(budget, info.app.max_reply_bytes, serializer);
    let writer = tokio::spawn(write(sink, outgoing));

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

/// Writes what the outbox queues to the websocket until the connection ends.
///
/// Frames already queued together go out in one write (a reply and the push it caused, say),
/// not one system call each. A frame's bytes count against the budget until the flush has
/// handed them to the kernel, so what the websocket layer buffers counts too. Between bursts
/// the writer holds nothing but the sink: it takes frames one at a time rather than into a
/// batch kept allocated, since most sockets are idle most of the time.
async fn write(mut sink: SplitSink<WebSocket, Message>, mut outgoing: Receiver) {
    let mut held = Held::default();
    while let Some(first) = outgoing.recv().await {
        let mut next = Some(first);
        let mut fed = 0;
        while let Some(queued) = next.take() {
            let Queued { message, permit } = *queued;
            let (message, closing) = match message {
                Outgoing::Text(text) => (Message::Text(text.into()), false),
                Outgoing::Close(code, reason) => (
                    Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })),
                    true,
                ),
            };
            held.add(permit);
            if sink.feed(message).await.is_err() || closing {
                let _ = sink.close().await;
                return;
            }
            fed += 1;
            if fed < WRITE_BATCH {
                next = outgoing.try_recv().ok();
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
        held.release();
    }
    let _ = sink.close().await;
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
