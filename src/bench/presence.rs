//! `presence`: what presence churn costs the commands load. Two nodes share one Postgres;
//! `commands`' clients send to the first, joined to their rooms (so they get every
//! `presence_diff` of them), while visitors join those rooms with a name and leave again, on
//! both nodes, at a steady rate. Commands per second without churn (before and after), with it,
//! and with the same joins made without a name (so presence is not involved: what the joins
//! themselves cost), in the same run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::Socket;
use super::commands::{names, send_messages, Run};
use super::cpu;
use super::node::{Database, Node};
use super::report::Report;
use super::{BenchArgs, BenchError};

/// Joins per second one churning socket makes, under a node's default join limit (10/s).
const JOINS_PER_SOCKET: f64 = 5.0;

pub async fn presence(args: &BenchArgs) -> Result<Report, BenchError> {
    let db = Database::create(&args.postgres, "presence").await?;
    let a = Node::start(&db.url, "presence-a").await?;
    let b = Node::start(&db.url, "presence-b").await?;
    let postmaster = cpu::local_postmaster(&mut db.connect().await?).await;
    let nodes = [&a, &b];
    let phase = Duration::from_secs(args.seconds);
    let commands = |rooms: Vec<String>| {
        let a = &a;
        async move {
            let started = cpu::Reading::now(&nodes, postmaster);
            let run = send_messages(a, &rooms, args.clients, phase).await?;
            let used = cpu::Reading::now(&nodes, postmaster).since(&started);
            Ok::<_, BenchError>(Phase { run, used, phase })
        }
    };
    // Fresh rooms per phase: a room refuses a repeated message for a while.
    let rooms = names("room", args.rooms);
    // Someone on B who watches a room: presence made on A must reach B through Postgres.
    let mut watcher = Socket::connect(&b.socket_url()).await?;
    watcher
        .join(&format!("chat:{}", rooms[0]), json!({}))
        .await?;

    eprintln!(
        "bench presence: {} clients, no churn, {phase:?}",
        args.clients
    );
    let before = commands(names("quiet", args.rooms)).await?;
    eprintln!(
        "bench presence: the same with {} joins and leaves/s, {phase:?}",
        args.churn
    );
    let churn = Churn::start(&nodes, &rooms, args.churn, true).await?;
    let watching = tokio::spawn(count_diffs(watcher, phase));
    let during = commands(rooms.clone()).await?;
    let churned = churn.stop().await?;
    let diffs_seen = watching
        .await
        .map_err(|error| BenchError::Protocol(format!("the watcher failed: {error}")))??;
    eprintln!("bench presence: the same joins without a name, {phase:?}");
    let nameless_rooms = names("nameless", args.rooms);
    let nameless = Churn::start(&nodes, &nameless_rooms, args.churn, false).await?;
    let joins_only = commands(nameless_rooms).await?;
    let nameless = nameless.stop().await?;
    eprintln!("bench presence: no churn again, {phase:?}");
    let after = commands(names("calm", args.rooms)).await?;
    let left_behind = left_behind(&nodes, &rooms).await?;
    a.stop().await;
    b.stop().await;
    db.drop().await?;

    let without = (before.run.rate() + after.run.rate()) / 2.0;
    let mut report = Report::new("presence");
    report.setting("clients", args.clients);
    report.setting("rooms", args.rooms);
    report.setting("seconds", args.seconds);
    report.setting("churn", args.churn);
    report.row(
        "commands/s without churn (before)",
        before.run.rate(),
        "1/s",
    );
    report.row("commands/s without churn (after)", after.run.rate(), "1/s");
    report.row("commands/s with churn", during.run.rate(), "1/s");
    report.row(
        "commands/s with nameless joins",
        joins_only.run.rate(),
        "1/s",
    );
    report.row_with_goal(
        "with churn / without",
        during.run.rate() / without,
        "×",
        "≥ 0.9",
    );
    report.row(
        "with nameless joins / without",
        joins_only.run.rate() / without,
        "×",
    );
    // Rates move with whatever else the machine runs; CPU per command much less. A CPU-bound
    // server's rate is its CPU over the CPU per command, so their ratio is the rate's.
    let per_command = |phases: &[&Phase], of: fn(&Phase) -> Option<Duration>| {
        let used: Option<Duration> = phases.iter().map(|p| of(p)).sum();
        let commands: f64 = phases.iter().map(|p| p.commands()).sum();
        used.map(|used| used.as_secs_f64() * 1000.0 / commands.max(1.0))
    };
    let server = |p: &Phase| p.used.1.map(|postgres| p.used.0 + postgres);
    let nodes_only = |p: &Phase| Some(p.used.0);
    let postgres = |p: &Phase| p.used.1;
    for (label, of) in [
        ("server", server as fn(&Phase) -> Option<Duration>),
        ("nodes'", nodes_only),
        ("Postgres", postgres),
    ] {
        for (phase, phases) in [
            ("no churn", vec![&before, &after]),
            ("with churn", vec![&during]),
            ("nameless joins", vec![&joins_only]),
        ] {
            if let Some(ms) = per_command(&phases, of) {
                report.row(format!("{label} CPU per command, {phase}"), ms, "ms");
            }
        }
    }
    if let (Some(without), Some(with)) = (
        per_command(&[&before, &after], server),
        per_command(&[&during], server),
    ) {
        report.row_with_goal(
            "with churn / without, from server CPU per command",
            without / with,
            "×",
            "≥ 0.9",
        );
    }
    report.row(
        "joins/s made",
        churned.joins as f64 / churned.elapsed.as_secs_f64(),
        "1/s",
    );
    report.row(
        "leaves/s made",
        churned.leaves as f64 / churned.elapsed.as_secs_f64(),
        "1/s",
    );
    report.row(
        "presence_diff pushes seen on the other node",
        diffs_seen as f64,
        "",
    );
    report.row_with_goal(
        "failures",
        (before.run.failures
            + during.run.failures
            + joins_only.run.failures
            + after.run.failures
            + churned.failures
            + nameless.failures) as f64,
        "",
        "0",
    );
    report.row_with_goal("entries left behind", left_behind as f64, "", "0");
    Ok(report)
}

/// One phase of commands, and the server's CPU time over it: the nodes', Postgres' if known.
struct Phase {
    run: Run,
    used: (Duration, Option<Duration>),
    phase: Duration,
}

impl Phase {
    /// About how many commands it acknowledged.
    fn commands(&self) -> f64 {
        self.run.rate() * self.phase.as_secs_f64()
    }
}

/// Visitors joining rooms with a name and leaving again, spread over nodes and sockets.
struct Churn {
    tasks: Vec<tokio::task::JoinHandle<Result<(), BenchError>>>,
    joins: Arc<AtomicUsize>,
    leaves: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
    stop: tokio::sync::watch::Sender<bool>,
    started: Instant,
}

struct Churned {
    joins: usize,
    leaves: usize,
    failures: usize,
    elapsed: Duration,
}

impl Churn {
    /// `rate` joins (and leaves) per second of `rooms`, by name if `named`.
    async fn start(
        nodes: &[&Node],
        rooms: &[String],
        rate: u32,
        named: bool,
    ) -> Result<Self, BenchError> {
        let sockets = (f64::from(rate) / JOINS_PER_SOCKET).ceil().max(1.0) as usize;
        // Each socket joins and leaves once per period; the sockets start spread over it.
        let period = Duration::from_secs_f64(sockets as f64 / f64::from(rate.max(1)));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (joins, leaves, failures) = (Arc::default(), Arc::default(), Arc::default());
        let mut tasks = Vec::with_capacity(sockets);
        for s in 0..sockets {
            let socket = Socket::connect(&nodes[s % nodes.len()].socket_url()).await?;
            let offset = period.mul_f64(s as f64 / sockets as f64);
            let visitor = Visitor {
                socket,
                join: if named {
                    json!({ "name": format!("visitor-{s}") })
                } else {
                    json!({})
                },
                rooms: rooms.to_vec(),
                joins: Arc::clone(&joins),
                leaves: Arc::clone(&leaves),
                failures: Arc::clone(&failures),
            };
            tasks.push(tokio::spawn(visitor.run(offset, period, stopped.clone())));
        }
        Ok(Self {
            tasks,
            joins,
            leaves,
            failures,
            stop,
            started: Instant::now(),
        })
    }

    async fn stop(self) -> Result<Churned, BenchError> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.await
                .map_err(|error| BenchError::Protocol(format!("a visitor failed: {error}")))??;
        }
        Ok(Churned {
            joins: self.joins.load(Ordering::Relaxed),
            leaves: self.leaves.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        })
    }
}

/// One churning socket: joins the next room, leaves it, once per period.
struct Visitor {
    socket: Socket,
    /// The join's payload: with a name or without.
    join: serde_json::Value,
    rooms: Vec<String>,
    joins: Arc<AtomicUsize>,
    leaves: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
}

impl Visitor {
    async fn run(
        mut self,
        offset: Duration,
        period: Duration,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), BenchError> {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.changed() => return Ok(()),
            }
            let topic = format!("chat:{}", self.rooms[n % self.rooms.len()]);
            n += 1;
            let joined = self
                .socket
                .call(&topic, "phx_join", self.join.clone())
                .await?;
            if joined.is_err() {
                self.failures.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.joins.fetch_add(1, Ordering::Relaxed);
            match self.socket.call(&topic, "phx_leave", json!({})).await? {
                Ok(_) => self.leaves.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.failures.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

/// How many `presence_diff` pushes `socket` receives in `phase`.
async fn count_diffs(mut socket: Socket, phase: Duration) -> Result<usize, BenchError> {
    let deadline = tokio::time::Instant::now() + phase;
    let mut diffs = 0;
    while let Ok(incoming) = tokio::time::timeout_at(deadline, socket.next()).await {
        diffs += usize::from(incoming?.event == "presence_diff");
    }
    Ok(diffs)
}

/// Visitors still listed on any node once they have all left (given a few seconds to settle):
/// each node's `presence_state` of each room, joined afresh.
async fn left_behind(nodes: &[&Node], rooms: &[String]) -> Result<usize, BenchError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut listed = 0;
        for node in nodes {
            let mut socket = Socket::connect(&node.socket_url()).await?;
            for room in rooms {
                let topic = format!("chat:{room}");
                socket.join(&topic, json!({})).await?;
                listed += presence_state(&mut socket).await?;
            }
        }
        if listed == 0 || Instant::now() > deadline {
            return Ok(listed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The number of names in the `presence_state` that follows a join.
async fn presence_state(socket: &mut Socket) -> Result<usize, BenchError> {
    loop {
        let incoming = socket.next().await?;
        if incoming.event == "presence_state" {
            return Ok(incoming.payload.as_object().map_or(0, serde_json::Map::len));
        }
    }
}
