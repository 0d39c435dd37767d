//! The `cinder` command.

use clap::{Parser, Subcommand};

use std::time::Duration;

use cinder_domain::Clock;

use crate::config::{Config, StoreConfig};
use crate::data_dir::DataDirLock;
use crate::replay::replay;
use crate::server::{event_log, Server};
use crate::web::projection_names;

#[derive(Debug, Parser)]
#[command(
    name = "cinder",
    version,
    about = "A real-time, event-sourced web platform",
    after_help = "With no command, `cinder` serves: `cinder serve`, configured by the \
                  environment (see `cinder serve --help`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Apps with example data or traffic.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SeedApp {
    Drops,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the apps, the socket and the API.
    Serve(Box<Config>),
    /// Apply the event store's migrations and exit.
    Migrate {
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Create an app's example data (`cinder seed drops`).
    Seed {
        /// The app whose example data to create.
        app: SeedApp,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Play an app's traffic through the command bus (`cinder simulate drops`).
    Simulate {
        /// The app whose traffic to play.
        app: SeedApp,
        #[command(flatten)]
        store: StoreConfig,
        /// Sales per tick.
        #[arg(long, default_value_t = 200)]
        per_tick: usize,
        /// Milliseconds between ticks.
        #[arg(long, default_value_t = 250)]
        tick_ms: u64,
    },
    /// Measure Cinder against this machine's limits (`cinder bench commands`); needs Postgres.
    Bench(crate::bench::BenchArgs),
    /// One process of `cinder bench fanout`'s sockets (started by the bench).
    #[command(hide = true)]
    FanoutReader(crate::bench::ReaderArgs),
    /// Rebuild read models from the event store (stop the node using the data dir first).
    Replay {
        #[command(flatten)]
        store: StoreConfig,
        /// Only this projection (default: all of them).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(projection_names()))]
        projection: Option<String>,
    },
}

impl Cli {
    /// The command to run: the one given, or `serve` configured by the environment.
    pub fn command(self) -> Command {
        match self.command {
            Some(command) => command,
            None => Cli::parse_from(["cinder", "serve"])
                .command
                .unwrap_or_else(|| Command::Serve(Box::new(Config::new(None, "./data".into())))),
        }
    }
}

/// Holds the data dir for a command that opens the embedded store in it (the Postgres store
/// leaves the data dir alone, so a running node's does not stand in the way).
fn hold_data_dir(store: &StoreConfig) -> anyhow::Result<Option<DataDirLock>> {
    Ok(if store.embedded() {
        Some(DataDirLock::acquire(&store.data_dir)?)
    } else {
        None
    })
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command() {
        Command::Serve(config) => {
            let server = Server::start(*config).await?;
            println!("Cinder is running at {}", server.url());
            server.run_until_signal().await;
        }
        Command::Migrate { store } => {
            let _held = hold_data_dir(&store)?;
            event_log(&store.config()).await?;
            println!("event store ready (migrations applied)");
        }
        Command::Seed {
            app: SeedApp::Drops,
            store,
        } => {
            let _held = hold_data_dir(&store)?;
            let log = event_log(&store.config()).await?;
            let bus = crate::web::command_bus(log, Clock::system());
            let created = crate::simulators::drops::seed(&bus).await?;
            println!("seeded drops: {created} product(s) created (existing ones left alone)");
        }
        Command::Simulate {
            app: SeedApp::Drops,
            store,
            per_tick,
            tick_ms,
        } => {
            let _held = hold_data_dir(&store)?;
            let log = event_log(&store.config()).await?;
            let bus = crate::web::command_bus(log.clone(), Clock::system());
            let report = crate::simulators::drops::simulate(
                &bus,
                &log,
                per_tick.max(1),
                Duration::from_millis(tick_ms.max(1)),
            )
            .await?;
            let left: u64 = crate::simulators::drops::counts_after(&log, report.last)
                .await?
                .values()
                .flat_map(|items| items.values())
                .map(|n| u64::from(*n))
                .sum();
            println!(
                "launch over in {:.1} s: {} sold, {} sold-out refusals, {} errors, {} units left",
                report.elapsed.as_secs_f64(),
                report.sold,
                report.sold_out_refusals,
                report.errors,
                left
            );
            if report.errors > 0 || left > 0 {
                anyhow::bail!("the launch did not end cleanly");
            }
        }
        Command::Replay { store, projection } => {
            let report = replay(&store.config(), projection.as_deref(), true).await?;
            println!(
                "replayed {} events into {} in {:.2} s: {}",
                indicatif::HumanCount(report.events as u64),
                report.projections.join(", "),
                report.elapsed.as_secs_f64(),
                crate::replay::format_rate(report.events_per_second())
            );
        }
        Command::Bench(args) => {
            crate::bench::run(&args).await?;
        }
        Command::FanoutReader(args) => crate::bench::run_fanout_reader(args).await?,
    }
    Ok(())
}
