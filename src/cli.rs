//! The `cinder` command.

use clap::{Parser, Subcommand};

use std::time::Duration;

use cinder_domain::Clock;

use crate::bus::CommandBus;
use crate::config::Config;
use crate::replay::replay;
use crate::server::{event_log, Server};

#[derive(Debug, Parser)]
#[command(
    name = "cinder",
    version,
    about = "A real-time, event-sourced web platform",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// With no command, `cinder` serves, configured by these flags.
    #[command(flatten)]
    pub serve: Config,
}

/// Apps with example data or traffic.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SeedApp {
    Drops,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the apps, the socket and the API.
    Serve(Config),
    /// Apply the event store's migrations and exit.
    Migrate(Config),
    /// Create an app's example data (`cinder seed drops`).
    Seed {
        app: SeedApp,
        #[command(flatten)]
        config: Config,
    },
    /// Play an app's traffic through the command bus (`cinder simulate drops`).
    Simulate {
        app: SeedApp,
        #[command(flatten)]
        config: Config,
        /// Sales per tick.
        #[arg(long, default_value_t = 200)]
        per_tick: usize,
        /// Milliseconds between ticks.
        #[arg(long, default_value_t = 250)]
        tick_ms: u64,
    },
    /// Measure Cinder against this machine's limits (`cinder bench commands`); needs Postgres.
    Bench(crate::bench::BenchArgs),
    /// Rebuild read models from the event store (stop the node using the data dir first).
    Replay {
        #[command(flatten)]
        config: Config,
        /// Only this projection (default: all).
        #[arg(long)]
        projection: Option<String>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(config) => {
            let server = Server::start(config).await?;
            println!("Cinder is running at {}", server.url());
            server.run_until_signal().await;
        }
        Command::Migrate(config) => {
            event_log(&config).await?;
            println!("event store ready (migrations applied)");
        }
        Command::Seed {
            app: SeedApp::Drops,
            config,
        } => {
            let log = event_log(&config).await?;
            let bus = CommandBus::new(log, Clock::system());
            let created = crate::simulators::drops::seed(&bus).await?;
            println!("seeded drops: {created} product(s) created (existing ones left alone)");
        }
        Command::Simulate {
            app: SeedApp::Drops,
            config,
            per_tick,
            tick_ms,
        } => {
            let log = event_log(&config).await?;
            let bus = CommandBus::new(log.clone(), Clock::system());
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
        Command::Replay { config, projection } => {
            let report = replay(&config, projection.as_deref(), true).await?;
            println!(
                "replayed {} events into {} in {:.2} s: {:.0} events/s",
                report.events,
                report.projections.join(", "),
                report.elapsed.as_secs_f64(),
                report.events_per_second()
            );
        }
        Command::Bench(args) => {
            crate::bench::run(&args).await?;
        }
    }
    Ok(())
}
