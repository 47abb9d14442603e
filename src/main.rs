//! The `spillway` command line: parses arguments and hands each subcommand to the library.
//! Errors are boxed only here, printed, and turned into a non-zero exit.

use std::process::ExitCode;

use clap::Parser;
use spillway::cli::backfill;
use spillway::cli::{
    Cli, Command, PolicyCommand, completions, man_page, policy_check, run, simulate, trace, tune,
    worker,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = matches!(&cli.command, Command::Run(a) if a.log_format == run::LogFormat::Json);
    init_tracing(json_logs);
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Simulate(args) => simulate::simulate(&args),
        Command::Compare(args) => simulate::compare(&args),
        Command::Tune(args) => tune::run(&args),
        Command::Policy {
            command: PolicyCommand::Check { files },
        } => {
            if policy_check(&files) {
                Ok(())
            } else {
                return ExitCode::from(1);
            }
        }
        Command::Backfill(args) => {
            return match runtime().block_on(backfill::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(error.exit_code())
                }
            };
        }
        Command::Trace { command } => trace::run(&command),
        Command::Run(args) => runtime().block_on(run::run(args)).map_err(Into::into),
        Command::Worker(args) => runtime().block_on(worker::run(args)).map_err(Into::into),
        Command::Completions { shell } => {
            completions(shell);
            Ok(())
        }
        Command::Man => man_page()
            .map(|page| spillway::cli::output::to_stdout(format_args!("{page}")))
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime")
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
