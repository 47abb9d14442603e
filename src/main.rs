//! The `spillway` command line: parses arguments and hands each subcommand to the library.
//! Errors are boxed only here, printed, and turned into a non-zero exit.

use std::process::ExitCode;

use clap::Parser;
use spillway::cli::{Cli, Command, PolicyCommand, policy_check, simulate};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Simulate(args) => simulate::simulate(args),
        Command::Compare(args) => simulate::compare(args),
        Command::Policy {
            command: PolicyCommand::Check { files },
        } => {
            if policy_check(files) {
                Ok(())
            } else {
                return ExitCode::from(1);
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
