//! `fanout`: many sockets joined to one room; for each new message, the time until the last of
//! them has it, and the server's resident memory per connection.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use serde_json::json;

use super::client::Socket;
use super::node::{Database, Node};
use super::report::{Latency, Report};
use super::{BenchArgs, BenchError};

const ROOM: &str = "fanout";
/// Handshakes and joins in flight at once while the sockets connect.
const CONNECTING: usize = 64;
/// Give up waiting for one message to reach everyone after this long.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Arrivals of one message: how many sockets have it, and the latest arrival (nanoseconds
/// after the bench's epoch).
#[derive(Default)]
struct Arrivals {
    count: AtomicUsize,
    last: AtomicU64,
}

pub async fn fanout(args: &BenchArgs) -> Result<Report, BenchError> {
    let db = Database::create(&args.postgres, "fanout").await?;
    let node = Node::start(&db.url, "fanout").await?;
    let topic = format!("chat:{ROOM}");

    // The sender; its first message makes the room, so joins read an existing room.
    let mut sender = Socket::connect(&node.socket_url()).await?;
    sender.join(&topic, json!({})).await?;
    send(&mut sender, &topic, 0).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = node.resident_bytes();

    let epoch = Instant::now();
    let arrivals: Arc<Vec<Arrivals>> =
        Arc::new((0..=args.messages).map(|_| Arrivals::default()).collect());
    eprintln!("bench fanout: connecting {} sockets", args.sockets);
    let connect_started = Instant::now();
    let url = node.socket_url();
    let joined: Vec<Result<Socket, BenchError>> = stream::iter(0..args.sockets)
        .map(|_| {
            let (url, topic) = (url.clone(), topic.clone());
            async move {
                let mut socket = Socket::connect(&url).await?;
                socket.join(&topic, json!({})).await?;
                Ok(socket)
            }
        })
        .buffer_unordered(CONNECTING)
        .collect()
        .await;
    let connect_time = connect_started.elapsed();
    let mut readers = Vec::with_capacity(args.sockets);
    for socket in joined {
        let mut socket = socket?;
        let arrivals = arrivals.clone();
        readers.push(tokio::spawn(async move {
            // Ten thousand of these share the machine with the server: find the marker in
            // the text instead of parsing every frame.
            while let Ok(text) = socket.next_text().await {
                let Some(arrival) = text
                    .split_once("\"content\":\"fanout ")
                    .and_then(|(_, rest)| rest.split('"').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| arrivals.get(n))
                else {
                    continue;
                };
                let at = epoch.elapsed().as_nanos() as u64;
                arrival.last.fetch_max(at, Ordering::Relaxed);
                arrival.count.fetch_add(1, Ordering::Release);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let connected = node.resident_bytes();

    eprintln!("bench fanout: sending {} messages", args.messages);
    let mut until_last = Vec::with_capacity(args.messages);
    let mut undelivered = 0;
    for n in 1..=args.messages {
        let sent = epoch.elapsed();
        send(&mut sender, &topic, n).await?;
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        let arrival = &arrivals[n];
        while arrival.count.load(Ordering::Acquire) < args.sockets && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        undelivered += args.sockets - arrival.count.load(Ordering::Acquire).min(args.sockets);
        let last = Duration::from_nanos(arrival.last.load(Ordering::Relaxed));
        until_last.push(last.saturating_sub(sent));
    }
    let after = node.resident_bytes();
    for reader in &readers {
        reader.abort();
    }
    node.stop().await;
    db.drop().await?;

    let mut report = Report::new("fanout");
    report.setting("sockets", args.sockets);
    report.setting("messages", args.messages);
    report.latency(
        "send to the last socket",
        &Latency::of(until_last),
        Some("≤ 250"),
    );
    report.row_with_goal("deliveries missed", undelivered as f64, "", "0");
    report.row(
        "connect and join, all sockets",
        connect_time.as_secs_f64(),
        "s",
    );
    if let (Some(idle), Some(connected)) = (idle, connected) {
        let per = connected.saturating_sub(idle) as f64 / args.sockets.max(1) as f64;
        report.row("server memory before the sockets", mib(idle), "MiB");
        report.row("server memory with them joined", mib(connected), "MiB");
        report.row_with_goal("memory per idle connection", per / 1000.0, "KB", "≤ 20");
    }
    if let Some(after) = after {
        report.row("server memory after the messages", mib(after), "MiB");
    }
    Ok(report)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn send(sender: &mut Socket, topic: &str, n: usize) -> Result<(), BenchError> {
    let payload =
        json!({"sender": format!("sender{}", n % 1000), "content": format!("fanout {n}")});
    sender
        .call(topic, "send_message", payload)
        .await?
        .map_err(|reply| BenchError::Protocol(format!("message {n} refused: {reply}")))?;
    Ok(())
}
