//! `cinder bench <scenario>`: Cinder's speed where its users feel it, printed next to the
//! machine's own limit measured in the same run.
//!
//! Every scenario creates a fresh database, starts real `cinder serve` processes on it (so the
//! server's memory is its own and clients compete with it for the CPU as they would on one
//! box), drives them over real websockets and HTTP, then prints a table and writes it as JSON.
//! These are measurements, not tests: nothing here decides whether a number is good enough.

mod client;
mod commands;
mod contention;
mod cpu;
mod fanout;
mod fanout_reader;
mod lag;
mod node;
mod presence;
mod replay;
mod report;
mod seed;
mod wire;

use std::path::PathBuf;

pub use fanout_reader::{run as run_fanout_reader, ReaderArgs};
pub use report::{Latency, Report, Row};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Commands per second over websockets, against raw single-row inserts.
    Commands,
    /// `commands` in rooms that already hold many events, against empty rooms.
    History,
    /// Time until every one of many sockets in a room has a new message; memory per socket.
    Fanout,
    /// Projection rebuild speed, against a plain streaming read of the same rows.
    Replay,
    /// Bytes pushed to a viewer per new message, in rooms of growing size.
    Wire,
    /// Time from a command on one node to the push on a client of another, at a steady rate.
    Lag,
    /// Two nodes: `commands` with and without visitors joining and leaving rooms by name.
    Presence,
    /// A flash sale: every client buying one product, on one node and then across two.
    Contention,
    /// Every scenario, one after the other.
    All,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Commands => "commands",
            Scenario::History => "history",
            Scenario::Fanout => "fanout",
            Scenario::Replay => "replay",
            Scenario::Wire => "wire",
            Scenario::Lag => "lag",
            Scenario::Presence => "presence",
            Scenario::Contention => "contention",
            Scenario::All => "all",
        }
    }
}

/// `cinder bench` settings; the defaults are the ones the README's table was made with.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    pub scenario: Scenario,
    /// A Postgres database to connect to for creating (and dropping) each scenario's own.
    #[arg(
        long,
        env = "CINDER_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    /// Concurrent clients sending commands (`commands`, `history`, `contention`).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Seconds each measured phase runs (`commands`, `history`, `lag`, `contention`).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Rooms the commands go to (`commands`, `history`, `lag`).
    #[arg(long, default_value_t = 16)]
    pub rooms: usize,
    /// Events each room holds before `history` starts.
    #[arg(long, default_value_t = 10_000)]
    pub history: usize,
    /// Sockets joined to the room (`fanout`).
    #[arg(long, default_value_t = 10_000)]
    pub sockets: usize,
    /// At most this many of `fanout`'s sockets per node and per reader process (default: as
    /// many as the limit on open files allows; more sockets than that take more nodes).
    #[arg(long)]
    pub sockets_per_process: Option<usize>,
    /// Messages sent (`fanout`, and per room size in `wire`).
    #[arg(long, default_value_t = 50)]
    pub messages: usize,
    /// Events in the store (`replay`).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Messages in each room whose pushes are weighed (`wire`).
    #[arg(long, value_delimiter = ',', default_value = "10,1000,100000")]
    pub room_sizes: Vec<usize>,
    /// Commands per second sent to the first node (`lag`).
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Visitors joining a room by name, and leaving it, per second (`presence`).
    #[arg(long, default_value_t = 200)]
    pub churn: u32,
    /// Where the JSON results go, one file per scenario.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("websocket: {0}")]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the server: {0}")]
    Node(String),
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error(transparent)]
    Replay(#[from] crate::replay::ReplayError),
    #[error(transparent)]
    Start(#[from] crate::server::StartError),
}

/// Runs `args.scenario` (or all of them), printing each table and writing its JSON.
pub async fn run(args: &BenchArgs) -> Result<Vec<Report>, BenchError> {
    let scenarios = match args.scenario {
        Scenario::All => vec![
            Scenario::Commands,
            Scenario::History,
            Scenario::Fanout,
            Scenario::Replay,
            Scenario::Wire,
            Scenario::Lag,
            Scenario::Presence,
            Scenario::Contention,
        ],
        one => vec![one],
    };
    std::fs::create_dir_all(&args.out)?;
    let mut reports = Vec::new();
    for scenario in scenarios {
        eprintln!("bench {}: setting up", scenario.name());
        let report = match scenario {
            Scenario::Commands => commands::commands(args).await?,
            Scenario::History => commands::history(args).await?,
            Scenario::Fanout => fanout::fanout(args).await?,
            Scenario::Replay => replay::replay(args).await?,
            Scenario::Wire => wire::wire(args).await?,
            Scenario::Lag => lag::lag(args).await?,
            Scenario::Presence => presence::presence(args).await?,
            Scenario::Contention => contention::contention(args).await?,
            Scenario::All => continue,
        };
        println!("{}", report.table());
        let path = args.out.join(format!("{}.json", scenario.name()));
        std::fs::write(&path, report.json())?;
        eprintln!("bench {}: written to {}", scenario.name(), path.display());
        reports.push(report);
    }
    Ok(reports)
}
