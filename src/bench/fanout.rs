//! `fanout`: many sockets joined to one room; for each new message, the time until the last of
//! them has it, and the servers' resident memory per connection.
//!
//! A process may hold only as many sockets as its limit on open files allows, and an
//! unprivileged process cannot raise the hard limit (20,000 on the development machine). So
//! the sockets are spread over as many nodes as that takes (all on one database: one room,
//! its messages reaching the other nodes through the log's tail, as in a real deployment),
//! and the clients over as many reader processes (`fanout_reader.rs`), each connecting from
//! its own loopback address. Under the limit it is one node and one reader.
//!
//! Memory per socket is what the servers grow by per socket past a warm-up: each node's first
//! tenth of its sockets joins first (its own reader), then the rest. The first connections
//! cost more than their share (the allocator's first pages and thread caches, the runtime's
//! timer and I/O slabs), and at a few hundred sockets that swung the figure from 0 to 10 KB;
//! the growth from the warm-up to all is what one more idle socket costs.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Notify;

use super::client::Socket;
use super::fanout_reader::now_ns;
use super::node::{Database, Node};
use super::report::{Latency, Report};
use super::{BenchArgs, BenchError};

const ROOM: &str = "fanout";
/// Give up waiting for one message to reach everyone after this long.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Give up waiting for the sockets to connect and join after this long.
const JOIN_TIMEOUT: Duration = Duration::from_secs(900);
/// Descriptors a reader keeps for itself, besides its sockets.
const READER_HEADROOM: u64 = 256;
/// The share of each node's sockets that joins first, before the memory is measured again.
const WARM_UP_SHARE: usize = 10;

/// What the readers have reported, by reader: per message, the last arrival of each reader
/// that has had it on every socket.
#[derive(Default)]
struct Reports {
    joined: Vec<Option<usize>>,
    got: HashMap<usize, Vec<u64>>,
    missed: Vec<Option<usize>>,
    failed: Option<String>,
}

/// One reader process.
struct Reader {
    child: Child,
    stdin: Option<ChildStdin>,
}

pub async fn fanout(args: &BenchArgs) -> Result<Report, BenchError> {
    // Each process (and the nodes, which inherit it) gets its hard limit on open files.
    let limit = crate::http::raise_open_files_limit();
    let per_node = crate::http::fitting(usize::MAX).0.max(1);
    let per_reader = limit
        .map(|limit| limit.saturating_sub(READER_HEADROOM).max(1) as usize)
        .unwrap_or(usize::MAX);
    let per_process = per_node
        .min(per_reader)
        .min(args.sockets_per_process.unwrap_or(usize::MAX))
        .max(1);
    let processes = args.sockets.div_ceil(per_process).clamp(1, 200);

    let db = Database::create(&args.postgres, "fanout").await?;
    let mut nodes = Vec::with_capacity(processes);
    for k in 0..processes {
        nodes.push(Node::start(&db.url, &format!("fanout{k}")).await?);
    }
    let topic = format!("chat:{ROOM}");

    // The sender; its first message makes the room, so joins read an existing room.
    let mut sender = Socket::connect(&nodes[0].socket_url()).await?;
    sender.join(&topic, json!({})).await?;
    send(&mut sender, &topic, 0).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = resident(&nodes);

    eprintln!(
        "bench fanout: connecting {} sockets to {processes} node(s) (open files limit {})",
        args.sockets,
        limit.map_or("none".to_owned(), |limit| limit.to_string())
    );
    let connect_started = Instant::now();
    let reports = Arc::new(Mutex::new(Reports::default()));
    let reported = Arc::new(Notify::new());
    let shares: Vec<usize> = (0..processes)
        .map(|k| args.sockets / processes + usize::from(k < args.sockets % processes))
        .collect();
    // Two waves, a reader per node in each (each from an address of its own): the warm-up,
    // then the rest of the node's sockets. Memory is measured after each.
    let warm_ups: Vec<usize> = shares.iter().map(|share| share / WARM_UP_SHARE).collect();
    let waves = [warm_ups.clone(), rests(&shares, &warm_ups)];
    let mut readers: Vec<Reader> = Vec::with_capacity(2 * processes);
    let mut measured = Vec::with_capacity(waves.len());
    for wave in &waves {
        for (node, &sockets) in nodes.iter().zip(wave).filter(|(_, &n)| n > 0) {
            let reader = Reader::spawn(
                readers.len(),
                node,
                &topic,
                sockets,
                args,
                &reports,
                &reported,
            )?;
            readers.push(reader);
        }
        let started = readers.len();
        wait_for(&reports, &reported, JOIN_TIMEOUT, |r| {
            r.joined.len() == started && r.joined.iter().all(Option::is_some)
        })
        .await?;
        // Let the last joins' replies and pushes drain: idle sockets are measured.
        tokio::time::sleep(Duration::from_secs(2)).await;
        measured.push(resident(&nodes));
    }
    let connect_time = connect_started.elapsed();
    let (warm, connected) = (measured[0], measured[1]);
    let reader_count = readers.len();
    let warm_sockets: usize = warm_ups.iter().sum();

    eprintln!("bench fanout: sending {} messages", args.messages);
    let mut until_last = Vec::with_capacity(args.messages);
    let cpu_before = (cpu(&nodes), readers_cpu(&readers));
    for n in 1..=args.messages {
        let sent = now_ns();
        send(&mut sender, &topic, n).await?;
        let _ = wait_for(&reports, &reported, DELIVERY_TIMEOUT, |r| {
            r.got.get(&n).is_some_and(|got| got.len() == reader_count)
        })
        .await;
        let last = lock(&reports)
            .got
            .get(&n)
            .and_then(|got| got.iter().max().copied());
        if let Some(last) = last {
            until_last.push(Duration::from_nanos(last.saturating_sub(sent)));
        }
    }
    let after = resident(&nodes);
    let cpu_after = (cpu(&nodes), readers_cpu(&readers));
    for reader in &mut readers {
        reader.stdin = None;
    }
    let _ = wait_for(&reports, &reported, Duration::from_secs(60), |r| {
        r.missed.iter().all(Option::is_some)
    })
    .await;
    let undelivered: usize = lock(&reports).missed.iter().map(|m| m.unwrap_or(0)).sum();
    let never_complete = args.messages - until_last.len();
    for mut reader in readers {
        let _ = reader.child.kill().await;
    }
    for node in nodes {
        node.stop().await;
    }
    db.drop().await?;

    let mut report = Report::new("fanout");
    report.setting("sockets", args.sockets);
    report.setting("messages", args.messages);
    report.setting("warm-up sockets (joined first)", warm_sockets);
    report.row("nodes", processes as f64, "");
    report.row("reader processes", reader_count as f64, "");
    report.setting(
        "open files limit per process",
        limit.map_or("none".to_owned(), |limit| limit.to_string()),
    );
    report.latency(
        "send to the last socket",
        &Latency::of(until_last),
        Some("≤ 500"),
    );
    report.row_with_goal("deliveries missed", undelivered as f64, "", "0");
    report.row_with_goal(
        "messages that never reached every socket",
        never_complete as f64,
        "",
        "0",
    );
    report.row(
        "connect and join, all sockets",
        connect_time.as_secs_f64(),
        "s",
    );
    if let (Some(idle), Some(warm), Some(connected)) = (idle, warm, connected) {
        let after_warm_up = args.sockets - warm_sockets;
        let per = connected.saturating_sub(warm) as f64 / after_warm_up.max(1) as f64;
        report.row("servers' memory before the sockets", mib(idle), "MiB");
        report.row(
            "servers' memory with the warm-up's joined",
            mib(warm),
            "MiB",
        );
        report.row(
            "servers' memory with them all joined",
            mib(connected),
            "MiB",
        );
        report.row_with_goal(
            "memory per idle connection (past the warm-up)",
            per / 1000.0,
            "KB",
            "≤ 12",
        );
    }
    // Where the time goes: every delivery is a frame written by a node and read by a reader,
    // all on this machine's cores.
    let per_message = |before: Option<Duration>, after: Option<Duration>| {
        let spent = after?.checked_sub(before?)?;
        Some(spent.as_secs_f64() * 1000.0 / args.messages.max(1) as f64)
    };
    if let Some(ms) = per_message(cpu_before.0, cpu_after.0) {
        report.row("servers' CPU per message", ms, "ms");
    }
    if let Some(ms) = per_message(cpu_before.1, cpu_after.1) {
        report.row("readers' CPU per message", ms, "ms");
    }
    if let Some(after) = after {
        report.row("servers' memory after the messages", mib(after), "MiB");
    }
    Ok(report)
}

/// What is left of each node's `shares` after its `warm_ups`.
fn rests(shares: &[usize], warm_ups: &[usize]) -> Vec<usize> {
    shares.iter().zip(warm_ups).map(|(s, w)| s - w).collect()
}

/// The CPU time the nodes have used together, if every one could be read.
fn cpu(nodes: &[Node]) -> Option<Duration> {
    nodes.iter().map(Node::cpu).sum()
}

/// The CPU time the readers have used together, if every one could be read.
fn readers_cpu(readers: &[Reader]) -> Option<Duration> {
    readers
        .iter()
        .map(|reader| super::cpu::process_cpu(reader.child.id()?))
        .sum()
}

/// The nodes' resident memory together, if every one could be read.
fn resident(nodes: &[Node]) -> Option<u64> {
    nodes.iter().map(Node::resident_bytes).sum()
}

impl Reader {
    /// Starts reader `k`: `sockets` sockets to `node`, from loopback address 127.0.0.(2 + k)
    /// (all of 127.0.0.0/8 is the loopback interface on Linux: nothing to set up).
    fn spawn(
        k: usize,
        node: &Node,
        topic: &str,
        sockets: usize,
        args: &BenchArgs,
        reports: &Arc<Mutex<Reports>>,
        reported: &Arc<Notify>,
    ) -> Result<Reader, BenchError> {
        let source = format!("127.0.{}.{}", k / 200, 2 + k % 200);
        let mut child = Command::new(std::env::current_exe()?)
            .arg("fanout-reader")
            .args(["--url", &node.socket_url()])
            .args(["--source", &source, "--topic", topic])
            .args(["--sockets", &sockets.to_string()])
            .args(["--messages", &args.messages.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Node("a reader without stdout".into()))?;
        {
            let mut r = lock(reports);
            r.joined.push(None);
            r.missed.push(None);
        }
        let (reports, reported) = (reports.clone(), reported.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut words = line.split_whitespace();
                let (what, a, b) = (words.next(), words.next(), words.next());
                let number = |word: Option<&str>| word.and_then(|w| w.parse::<u64>().ok());
                let mut r = lock(&reports);
                match (what, number(a), number(b)) {
                    (Some("joined"), Some(count), _) => r.joined[k] = Some(count as usize),
                    (Some("got"), Some(n), Some(at)) => {
                        r.got.entry(n as usize).or_default().push(at)
                    }
                    (Some("missed"), Some(count), _) => r.missed[k] = Some(count as usize),
                    _ => {}
                }
                drop(r);
                reported.notify_waiters();
            }
            let mut r = lock(&reports);
            if r.joined[k].is_none() {
                r.failed = Some(format!("reader {k} ended before its sockets joined"));
            }
            drop(r);
            reported.notify_waiters();
        });
        Ok(Reader { child, stdin })
    }
}

/// Waits until `done` holds of the readers' reports, a reader failed, or `timeout` passed.
async fn wait_for(
    reports: &Mutex<Reports>,
    reported: &Notify,
    timeout: Duration,
    done: impl Fn(&Reports) -> bool,
) -> Result<(), BenchError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = reported.notified();
        {
            let r = lock(reports);
            if let Some(failed) = &r.failed {
                return Err(BenchError::Protocol(failed.clone()));
            }
            if done(&r) {
                return Ok(());
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err(BenchError::Protocol(format!(
                "the readers did not report within {timeout:?}"
            )));
        }
    }
}

fn lock(reports: &Mutex<Reports>) -> std::sync::MutexGuard<'_, Reports> {
    reports
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
