//! The `spillway` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spillway::cli_backfill::{self, BackfillArgs};

#[derive(Debug, Parser)]
#[command(
    name = "spillway",
    version,
    about = "Autoscaling controller for hybrid render farms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bulk-submit jobs from a JSON Lines file to SQS, resumably.
    Backfill(BackfillArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Command::Backfill(args) = Cli::parse().command;
    match cli_backfill::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
