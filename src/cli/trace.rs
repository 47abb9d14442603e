//! `spillway trace from-record`: a `--record` file (or several, in order) turned into a job log
//! that `simulate --trace` and `compare --trace` replay ([`crate::sim::recorded`]).

use std::path::PathBuf;

use clap::Subcommand;

use crate::sim::recorded;

/// `spillway trace …`.
#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Turn `spillway run --record` files into a job log `submit_s,duration_s` (one row per
    /// finished job, from the job records `spillway worker` reports).
    FromRecord {
        /// Record files, read in the order given.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the job log (written only when every file read cleanly).
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Runs `spillway trace from-record`.
pub fn run(command: &TraceCommand) -> Result<(), Box<dyn std::error::Error>> {
    let TraceCommand::FromRecord { files, output } = command;
    let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    let recorded = recorded::from_records(&paths)?;
    std::fs::write(output, recorded.csv())
        .map_err(|e| format!("{}: cannot write the job log: {e}", output.display()))?;
    let span_h = recorded.jobs.last().map_or(0.0, |(s, _)| s / 3600.0);
    eprintln!(
        "{} jobs over {span_h:.1} h from {} ticks in {} file(s) → {}",
        recorded.jobs.len(),
        recorded.ticks,
        files.len(),
        output.display()
    );
    if recorded.derived_submits > 0 {
        eprintln!(
            "{} job(s) had no SentTimestamp: submitted at their report's arrival less their wait and run",
            recorded.derived_submits
        );
    }
    for (at, minutes) in &recorded.gaps {
        eprintln!(
            "{at}: a gap of {minutes:.0} min between ticks (the service was not running; agents report what finished meanwhile when it is back)"
        );
    }
    Ok(())
}
