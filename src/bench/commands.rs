//! `commands` and `history`: `SendMessage` over websockets from many clients at once, next to
//! the rate at which the same connections can insert rows of the same size straight into a
//! table shaped like `events`, one row per transaction (the limit: every command is at least
//! one such insert).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

use super::client::Socket;
use super::node::{Database, Node};
use super::report::{Latency, Report};
use super::{cpu, seed, BenchArgs, BenchError};

pub async fn commands(args: &BenchArgs) -> Result<Report, BenchError> {
    let db = Database::create(&args.postgres, "commands").await?;
    let node = Node::start(&db.url, "commands").await?;
    let postmaster = cpu::local_postmaster(&mut db.connect().await?).await;
    let rooms = names("room", args.rooms);
    let phase = Duration::from_secs(args.seconds);
    eprintln!("bench commands: {} clients for {phase:?}", args.clients);
    let batches_before = node.batches().await?;
    let tail_before = node.tail_batches().await?;
    let started = cpu::Reading::now(&[&node], postmaster);
    let run = send_messages(&node, &rooms, args.clients, phase).await?;
    let ended = cpu::Reading::now(&[&node], postmaster);
    let (node_cpu, postgres_cpu) = ended.since(&started);
    let clients_cpu = ended.clients_since(&started);
    let batches_after = node.batches().await?;
    let tail_after = node.tail_batches().await?;
    node.stop().await;
    eprintln!("bench commands: raw inserts for {phase:?}");
    let (limit, raw_cpu) = raw_inserts(&db, args.clients, phase, postmaster).await?;
    db.drop().await?;

    let mut report = Report::new("commands");
    report.setting("clients", args.clients);
    report.setting("rooms", args.rooms);
    report.setting("seconds", args.seconds);
    run.rows(&mut report, "", Some("≤ 12"));
    let batches = batches_after.0 - batches_before.0;
    let batched = batches_after.1 - batches_before.1;
    report.row(
        "group commits/s",
        batches / run.elapsed.as_secs_f64(),
        "1/s",
    );
    report.row("commands per group commit", batched / batches.max(1.0), "");
    let from_memory = tail_after.0 - tail_before.0;
    let read = tail_after.1 - tail_before.1;
    report.row(
        "tail batches applied from memory",
        100.0 * from_memory / (from_memory + read).max(1.0),
        "%",
    );
    let acknowledged = run.acknowledged().max(1) as f64;
    report.row(
        "server CPU per command",
        node_cpu.as_secs_f64() * 1e6 / acknowledged,
        "µs",
    );
    let inserted = (limit * phase.as_secs_f64()).max(1.0);
    let per = |cpu: Duration, n: f64| cpu.as_secs_f64() * 1e6 / n;
    // Each part's CPU per command and per raw insert, where it could be read.
    let postgres = postgres_cpu
        .zip(raw_cpu.postgres)
        .map(|(command, raw)| (per(command, acknowledged), per(raw, inserted)));
    let clients = clients_cpu
        .zip(raw_cpu.clients)
        .map(|(command, raw)| (per(command, acknowledged), per(raw, inserted)));
    if let Some((command, raw)) = postgres {
        report.row("Postgres CPU per command", command, "µs");
        report.row("Postgres CPU per raw insert", raw, "µs");
    }
    if let Some((command, raw)) = clients {
        report.row("clients' CPU per command", command, "µs");
        report.row("clients' CPU per raw insert", raw, "µs");
    }
    if let (Some(postgres), Some(clients)) = (postgres, clients) {
        // Saturated cores divide between the parts: with a server that cost nothing, commands/s
        // over raw inserts/s would be at most what a raw insert costs over what a command
        // costs Postgres and its client.
        report.row(
            "ceiling of commands / raw inserts with a free server",
            (postgres.1 + clients.1) / (postgres.0 + clients.0).max(1e-9),
            "×",
        );
    }
    report.row("raw inserts/s (the limit)", limit, "1/s");
    report.row_with_goal("commands / raw inserts", run.rate() / limit, "×", "≥ 1.0");
    Ok(report)
}

pub async fn history(args: &BenchArgs) -> Result<Report, BenchError> {
    let db = Database::create(&args.postgres, "history").await?;
    let empty = names("empty", args.rooms);
    let full = names("full", args.rooms);
    eprintln!(
        "bench history: writing {} events into each of {} rooms",
        args.history, args.rooms
    );
    seed::messages(&mut db.connect().await?, &full, args.history).await?;
    let node = Node::start(&db.url, "history").await?;
    let phase = Duration::from_secs(args.seconds);
    eprintln!("bench history: empty rooms for {phase:?}");
    let fresh = send_messages(&node, &empty, args.clients, phase).await?;
    eprintln!("bench history: full rooms for {phase:?}");
    let old = send_messages(&node, &full, args.clients, phase).await?;
    node.stop().await;
    db.drop().await?;

    let mut report = Report::new("history");
    report.setting("clients", args.clients);
    report.setting("rooms", args.rooms);
    report.setting("events per room", args.history);
    report.setting("seconds", args.seconds);
    fresh.rows(&mut report, "empty rooms: ", None);
    old.rows(&mut report, &format!("rooms of {}: ", args.history), None);
    report.latency(
        &format!("first command in a room of {} (cold cache)", args.history),
        &Latency::of(old.first.clone()),
        None,
    );
    report.row_with_goal(
        "full rooms / empty rooms",
        old.rate() / fresh.rate(),
        "×",
        "≥ 0.9",
    );
    Ok(report)
}

pub(super) fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

/// What one phase of sending did.
pub(super) struct Run {
    /// Acknowledged commands, and how long each took from push to reply.
    latencies: Vec<Duration>,
    pub(super) failures: usize,
    elapsed: Duration,
    /// The first command of each room, before the phase (loading the room cold).
    first: Vec<Duration>,
}

impl Run {
    pub(super) fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Commands acknowledged.
    pub(super) fn acknowledged(&self) -> usize {
        self.latencies.len()
    }

    fn rows(&self, report: &mut Report, prefix: &str, p99_goal: Option<&'static str>) {
        report.row(format!("{prefix}commands/s"), self.rate(), "1/s");
        report.latency(
            &format!("{prefix}latency"),
            &Latency::of(self.latencies.clone()),
            p99_goal,
        );
        report.row_with_goal(format!("{prefix}failures"), self.failures as f64, "", "0");
    }
}

/// `clients` sockets, each joined to one of `rooms`, sending `SendMessage` back to back (the
/// next once the last is acknowledged) for `phase`. Each room first gets one command alone.
pub(super) async fn send_messages(
    node: &Node,
    rooms: &[String],
    clients: usize,
    phase: Duration,
) -> Result<Run, BenchError> {
    let mut first = Vec::new();
    let mut socket = Socket::connect(&node.socket_url()).await?;
    for room in rooms {
        let topic = format!("chat:{room}");
        socket.join(&topic, json!({})).await?;
        let started = Instant::now();
        socket.first_message(&topic).await?;
        first.push(started.elapsed());
    }
    drop(socket);

    let mut sockets = Vec::with_capacity(clients);
    for i in 0..clients {
        let room = &rooms[i % rooms.len()];
        let topic = format!("chat:{room}");
        let mut socket = Socket::connect(&node.socket_url()).await?;
        socket.join(&topic, json!({})).await?;
        sockets.push((socket, topic));
    }
    let start = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::with_capacity(clients);
    for (i, (mut socket, topic)) in sockets.into_iter().enumerate() {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            start.wait().await;
            let deadline = Instant::now() + phase;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let payload = json!({
                    "sender": format!("c{i}n{n}"),
                    "content": format!("message {n} from client {i}, about as long as people type"),
                });
                let sent = Instant::now();
                match socket.call(&topic, "send_message", payload).await {
                    Ok(Ok(_)) => latencies.push(sent.elapsed()),
                    Ok(Err(_)) => failures += 1,
                    Err(_) => {
                        failures += 1;
                        break;
                    }
                }
            }
            (latencies, failures)
        }));
    }
    start.wait().await;
    let started = Instant::now();
    let mut run = Run {
        latencies: Vec::new(),
        failures: 0,
        elapsed: Duration::ZERO,
        first,
    };
    for task in tasks {
        let (latencies, failures) = task
            .await
            .map_err(|error| BenchError::Protocol(format!("a client failed: {error}")))?;
        run.latencies.extend(latencies);
        run.failures += failures;
    }
    run.elapsed = started.elapsed();
    Ok(run)
}

/// Rows like the last event (same payload and metadata) inserted into a copy of the `events`
/// table (its columns, defaults, identity and indexes) by `clients` connections, each row its
/// own transaction, for `phase`: inserts per second, and the CPU Postgres used meanwhile (if it
/// runs on this machine as `postmaster`).
async fn raw_inserts(
    db: &Database,
    clients: usize,
    phase: Duration,
    postmaster: Option<u32>,
) -> Result<(f64, RawCpu), BenchError> {
    let mut conn = db.connect().await?;
    conn.execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        .await?;
    let (payload, metadata): (String, String) = sqlx::query_as(
        "SELECT payload::text, metadata::text FROM events ORDER BY position DESC LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await?;
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(PgConnection::connect(&db.url).await?);
    }
    let start = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for (i, mut conn) in connections.into_iter().enumerate() {
        let (start, payload, metadata) = (start.clone(), payload.clone(), metadata.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let deadline = Instant::now() + phase;
            let mut inserted = 0u64;
            while Instant::now() < deadline {
                sqlx::query(
                    "INSERT INTO raw_events (aggregate_type, aggregate_id, sequence, event_type,
                                             event_version, payload, metadata)
                     VALUES ('Room', $1, $2, 'MessageSent', '2.0.0', $3::json, $4::json)",
                )
                .bind(format!("raw-{i}"))
                .bind(inserted as i64 + 1)
                .bind(&payload)
                .bind(&metadata)
                .execute(&mut conn)
                .await?;
                inserted += 1;
            }
            Ok::<_, sqlx::Error>((inserted, conn))
        }));
    }
    start.wait().await;
    let started = Instant::now();
    let cpu_before = cpu::Reading::now(&[], postmaster);
    let mut total = 0;
    let mut open = Vec::with_capacity(clients);
    for task in tasks {
        let (inserted, conn) = task
            .await
            .map_err(|error| BenchError::Protocol(format!("an inserter failed: {error}")))??;
        total += inserted;
        open.push(conn);
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    // Read while every connection is still open: a backend that has exited is not counted.
    let after = cpu::Reading::now(&[], postmaster);
    let used = RawCpu {
        postgres: after.since(&cpu_before).1,
        clients: after.clients_since(&cpu_before),
    };
    drop(open);
    Ok((rate, used))
}

/// The CPU raw inserts cost: Postgres', and their clients' (this process).
struct RawCpu {
    postgres: Option<Duration>,
    clients: Option<Duration>,
}
