//! A Phoenix Channels V2 client, enough to join topics, push events and read what comes back.

use std::collections::HashMap;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::BenchError;

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One websocket connection.
pub struct Socket {
    write: SplitSink<Stream, Message>,
    read: SplitStream<Stream>,
    next_ref: u64,
    join_refs: HashMap<String, String>,
}

/// A frame from the server, with its size on the wire (the text; the frame header adds 2–4).
#[derive(Debug)]
pub struct Incoming {
    pub msg_ref: Option<String>,
    pub event: String,
    pub payload: Value,
    pub bytes: usize,
}

/// Small buffers: thousands of these share the machine with the server.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

impl Socket {
    pub async fn connect(url: &str) -> Result<Self, BenchError> {
        // No Nagle: a push right after a reply would otherwise wait for a delayed ACK.
        let (stream, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(config()), true).await?;
        Ok(Self::new(stream))
    }

    /// A websocket to `url` over `tcp`, a connection already made (from a chosen address).
    pub async fn over(tcp: TcpStream, url: &str) -> Result<Self, BenchError> {
        tcp.set_nodelay(true)?;
        let (stream, _) = tokio_tungstenite::client_async_with_config(
            url,
            MaybeTlsStream::Plain(tcp),
            Some(config()),
        )
        .await?;
        Ok(Self::new(stream))
    }

    fn new(stream: Stream) -> Self {
        let (write, read) = stream.split();
        Self {
            write,
            read,
            next_ref: 0,
            join_refs: HashMap::new(),
        }
    }

    /// Sends `event` on `topic`; returns its ref, which the reply will carry.
    pub async fn push(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<String, BenchError> {
        self.next_ref += 1;
        let msg_ref = self.next_ref.to_string();
        let join_ref = if event == "phx_join" {
            self.join_refs.insert(topic.to_owned(), msg_ref.clone());
            Some(msg_ref.clone())
        } else {
            self.join_refs.get(topic).cloned()
        };
        let frame = json!([join_ref, msg_ref, topic, event, payload]);
        self.write.send(Message::text(frame.to_string())).await?;
        Ok(msg_ref)
    }

    /// The next text frame from the server, as it came.
    pub async fn next_text(&mut self) -> Result<String, BenchError> {
        loop {
            let message = self
                .read
                .next()
                .await
                .ok_or_else(|| BenchError::Protocol("the server closed the socket".into()))??;
            match message {
                Message::Text(text) => return Ok(text.as_str().to_owned()),
                Message::Close(frame) => {
                    return Err(BenchError::Protocol(format!(
                        "the server closed the socket: {frame:?}"
                    )))
                }
                _ => continue,
            }
        }
    }

    /// The next text frame from the server.
    pub async fn next(&mut self) -> Result<Incoming, BenchError> {
        let text = self.next_text().await?;
        let (_join_ref, msg_ref, _topic, event, payload): (
            Option<String>,
            Option<String>,
            String,
            String,
            Value,
        ) = serde_json::from_str(&text)
            .map_err(|_| BenchError::Protocol(format!("not a frame: {text}")))?;
        Ok(Incoming {
            msg_ref,
            event,
            payload,
            bytes: text.len(),
        })
    }

    /// Sends one message on `topic` and waits until it is acknowledged: the first message of a
    /// room makes the room and loads it into the node's cache.
    pub async fn first_message(&mut self, topic: &str) -> Result<(), BenchError> {
        self.call(
            topic,
            "send_message",
            json!({"sender": "first", "content": "hello"}),
        )
        .await?
        .map_err(|reply| BenchError::Protocol(format!("first message refused: {reply}")))?;
        Ok(())
    }

    /// Pushes and waits for the reply, dropping anything else that arrives meanwhile: `Ok` with
    /// the reply's `response` when its status is ok, `Err` with it when refused.
    pub async fn call(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<Result<Value, Value>, BenchError> {
        let msg_ref = self.push(topic, event, payload).await?;
        loop {
            let incoming = self.next().await?;
            if incoming.event == "phx_reply" && incoming.msg_ref.as_deref() == Some(&msg_ref) {
                let response = incoming.payload["response"].clone();
                return Ok(match incoming.payload["status"].as_str() {
                    Some("ok") => Ok(response),
                    _ => Err(response),
                });
            }
        }
    }

    /// Joins `topic`, refusing to go on if the server does.
    pub async fn join(&mut self, topic: &str, payload: Value) -> Result<Value, BenchError> {
        self.call(topic, "phx_join", payload)
            .await?
            .map_err(|reason| BenchError::Protocol(format!("join {topic} refused: {reason}")))
    }
}
