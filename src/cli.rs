//! The `cinder` command.

use clap::{Parser, Subcommand};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the apps, the socket and the API.
    Serve(Config),
    /// Apply the event store's migrations and exit.
    Migrate(Config),
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
    }
    Ok(())
}
