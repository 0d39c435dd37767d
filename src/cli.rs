//! The `cinder` command.

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::server::{event_log, Server};

#[derive(Debug, Parser)]
#[command(
    name = "cinder",
    version,
    about = "A real-time, event-sourced web platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the apps, the socket and the API.
    Serve(Config),
    /// Apply the event store's migrations and exit.
    Migrate(Config),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => {
            let server = Server::start(config).await?;
            println!("Cinder is running at {}", server.url());
            server.run_until_signal().await;
        }
        Command::Migrate(config) => {
            event_log(&config).await?;
            println!("migrations applied");
        }
    }
    Ok(())
}
