//! `lag`: two nodes on one event store; commands go to node A at a steady rate, and a client of
//! node B times each message's push. A's reply comes after the commit, so "from A's reply"
//! bounds the commit-to-push time from below and "from the send" from above.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::time::MissedTickBehavior;

use super::client::Socket;
use super::node::{Database, Node};
use super::report::{Latency, Report};
use super::{BenchArgs, BenchError};

/// Sockets sending to node A; together they keep up the rate.
const SENDERS: usize = 8;

struct Sent {
    sender: String,
    at: Instant,
    acknowledged: Instant,
}

pub async fn lag(args: &BenchArgs) -> Result<Report, BenchError> {
    let db = Database::create(&args.postgres, "lag").await?;
    let a = Node::start(&db.url, "lag-a").await?;
    let b = Node::start(&db.url, "lag-b").await?;
    let topics: Vec<String> = (0..args.rooms).map(|i| format!("chat:lag-{i}")).collect();

    // Each room once through A first, so both nodes know it.
    let mut first = Socket::connect(&a.socket_url()).await?;
    for topic in &topics {
        first.join(topic, json!({})).await?;
        first.first_message(topic).await?;
    }
    drop(first);

    let mut viewer = Socket::connect(&b.socket_url()).await?;
    for topic in &topics {
        viewer.join(topic, json!({})).await?;
    }
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watching = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(incoming) = viewer.next().await {
                if incoming.event == "message_sent" {
                    if let Some(sender) = incoming.payload["sender"].as_str() {
                        if let Ok(mut seen) = seen.lock() {
                            seen.insert(sender.to_owned(), Instant::now());
                        }
                    }
                }
            }
        })
    };

    eprintln!(
        "bench lag: {} commands/s to node A for {} s",
        args.rate, args.seconds
    );
    let period = Duration::from_secs_f64(SENDERS as f64 / f64::from(args.rate.max(1)));
    let phase = Duration::from_secs(args.seconds);
    let mut senders = Vec::new();
    for k in 0..SENDERS {
        let mut socket = Socket::connect(&a.socket_url()).await?;
        for topic in &topics {
            socket.join(topic, json!({})).await?;
        }
        let topics = topics.clone();
        senders.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut failures = 0usize;
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
            let deadline = Instant::now() + phase;
            let mut n = 0usize;
            while Instant::now() < deadline {
                ticks.tick().await;
                n += 1;
                let topic = &topics[(n * SENDERS + k) % topics.len()];
                let sender = format!("l{k}n{n}");
                let at = Instant::now();
                let payload = json!({"sender": sender, "content": "a steady stream of messages"});
                match socket.call(topic, "send_message", payload).await {
                    Ok(Ok(_)) => sent.push(Sent {
                        sender,
                        at,
                        acknowledged: Instant::now(),
                    }),
                    Ok(Err(_)) => failures += 1,
                    Err(_) => {
                        failures += 1;
                        break;
                    }
                }
            }
            (sent, failures)
        }));
    }
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut failures = 0;
    for task in senders {
        let (mine, failed) = task
            .await
            .map_err(|error| BenchError::Protocol(format!("a sender failed: {error}")))?;
        sent.extend(mine);
        failures += failed;
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    watching.abort();
    b.stop().await;
    a.stop().await;
    db.drop().await?;

    let seen = seen.lock().map(|seen| seen.clone()).unwrap_or_default();
    let (mut from_ack, mut from_send, mut missing) = (Vec::new(), Vec::new(), 0usize);
    for message in &sent {
        match seen.get(&message.sender) {
            Some(pushed) => {
                from_ack.push(pushed.saturating_duration_since(message.acknowledged));
                from_send.push(pushed.saturating_duration_since(message.at));
            }
            None => missing += 1,
        }
    }
    let mut report = Report::new("lag");
    report.setting("rate", args.rate);
    report.setting("rooms", args.rooms);
    report.setting("seconds", args.seconds);
    report.row(
        "commands/s reached",
        sent.len() as f64 / elapsed.as_secs_f64(),
        "1/s",
    );
    report.latency(
        "A's reply to B's push",
        &Latency::of(from_ack),
        Some("≤ 100"),
    );
    report.latency("send on A to B's push", &Latency::of(from_send), None);
    report.row_with_goal("failures", failures as f64, "", "0");
    report.row_with_goal("pushes B never made", missing as f64, "", "0");
    Ok(report)
}
