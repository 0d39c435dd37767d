//! `wire`: bytes pushed to a viewer for each new chat message, in rooms of 10, 1,000 and
//! 100,000 messages (`--room-sizes`). A live view gets a patch for the one message and a channel client the
//! message itself, so neither should grow with the room.

use std::time::Duration;

use serde_json::json;

use super::client::Socket;
use super::node::{Database, Node};
use super::report::Report;
use super::{seed, BenchArgs, BenchError};

const WAIT: Duration = Duration::from_secs(10);

pub async fn wire(args: &BenchArgs) -> Result<Report, BenchError> {
    let db = Database::create(&args.postgres, "wire").await?;
    let mut conn = db.connect().await?;
    for &size in &args.room_sizes {
        eprintln!("bench wire: writing a room of {size} messages");
        seed::messages(&mut conn, &[room(size)], size).await?;
    }
    drop(conn);
    let node = Node::start(&db.url, "wire").await?;
    let http = reqwest::Client::new();

    let mut report = Report::new("wire");
    report.setting("messages per room", args.messages);
    let mut patches = Vec::new();
    let mut pushes = Vec::new();
    for &size in &args.room_sizes {
        let (patch, push) = measure(&node, &http, &room(size), args.messages).await?;
        report.row(
            format!("live view patch, room of {size}"),
            patch,
            "bytes/message",
        );
        report.row(
            format!("channel push, room of {size}"),
            push,
            "bytes/message",
        );
        patches.push(patch);
        pushes.push(push);
    }
    report.row_with_goal("live view spread", spread(&patches), "%", "≤ 10");
    report.row_with_goal("channel spread", spread(&pushes), "%", "≤ 10");
    node.stop().await;
    db.drop().await?;
    Ok(report)
}

/// Names of one length, so that the room's name (in the topic and the payload) weighs the same.
fn room(size: usize) -> String {
    format!("wire-{size:06}")
}

/// (largest − smallest) / smallest, in percent.
fn spread(values: &[f64]) -> f64 {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    (max - min) / min.max(1e-9) * 100.0
}

/// Average bytes a live view of `room` and a `chat:<room>` client receive per message posted.
async fn measure(
    node: &Node,
    http: &reqwest::Client,
    room: &str,
    messages: usize,
) -> Result<(f64, f64), BenchError> {
    let page = http
        .get(format!("{}/chat/{room}", node.url))
        .send()
        .await?
        .text()
        .await?;
    let token = page
        .split("data-cinder-token=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| BenchError::Protocol(format!("no live view token on /chat/{room}")))?;
    let mut view = Socket::connect(&node.socket_url()).await?;
    view.join(&format!("lv:/chat/{room}"), json!({ "token": token }))
        .await?;
    let mut channel = Socket::connect(&node.socket_url()).await?;
    channel.join(&format!("chat:{room}"), json!({})).await?;
    // One message first: the room's aggregate loads cold, and anything the joins started
    // (presence) settles.
    post(node, http, room, 0).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain(&mut view).await;
    drain(&mut channel).await;

    let (mut patch_bytes, mut push_bytes) = (0, 0);
    for n in 1..=messages {
        let marker = post(node, http, room, n).await?;
        patch_bytes += bytes_until(&mut view, &marker).await?;
        push_bytes += bytes_until(&mut channel, &marker).await?;
    }
    let per = |bytes: usize| bytes as f64 / messages.max(1) as f64;
    Ok((per(patch_bytes), per(push_bytes)))
}

/// Posts message `n` over HTTP; returns its content.
async fn post(
    node: &Node,
    http: &reqwest::Client,
    room: &str,
    n: usize,
) -> Result<String, BenchError> {
    let content = format!("wire message {n:05}, about as long as people type in a chat");
    let response = http
        .post(format!("{}/api/chat/rooms/{room}/messages", node.url))
        .json(&json!({ "sender": format!("w{n}"), "content": content }))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(BenchError::Protocol(format!(
            "message {n} refused: {}",
            response.text().await?
        )));
    }
    Ok(content)
}

/// Bytes of every frame received up to and including the one carrying `marker`.
async fn bytes_until(socket: &mut Socket, marker: &str) -> Result<usize, BenchError> {
    let mut bytes = 0;
    loop {
        let incoming = tokio::time::timeout(WAIT, socket.next())
            .await
            .map_err(|_| BenchError::Protocol(format!("{marker:?} never arrived")))??;
        bytes += incoming.bytes;
        if incoming.payload.to_string().contains(marker) {
            return Ok(bytes);
        }
    }
}

async fn drain(socket: &mut Socket) {
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await {}
}
