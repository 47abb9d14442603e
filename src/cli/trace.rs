//! `spillway trace from-record`: a `--record` file (or several, in order) turned into a trace
//! that `simulate --trace` and `compare --trace` replay: a job log from the job records
//! ([`crate::sim::recorded`]), or, without them, an arrival series rebuilt from the queue
//! statistics ([`crate::sim::reconstruct`]).

use std::path::PathBuf;

use clap::Subcommand;

use crate::sim::{reconstruct, recorded};

/// `spillway trace …`.
#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Turn `spillway run --record` files into a job log `submit_s,duration_s` (one row per
    /// finished job, from the job records `spillway worker` reports).
    FromRecord {
        /// Record files, read in the order given.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the trace (written only when every file read cleanly).
        #[arg(short, long)]
        output: PathBuf,
        /// Rebuild arrivals from the queue statistics even when there are job records (to see
        /// how close the rebuild comes on a record that has both).
        #[arg(long)]
        from_queue_stats: bool,
    },
}

/// Runs `spillway trace from-record`.
pub fn run(command: &TraceCommand) -> Result<(), Box<dyn std::error::Error>> {
    let TraceCommand::FromRecord {
        files,
        output,
        from_queue_stats,
    } = command;
    let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    let recorded = recorded::from_records(&paths)?;
    if recorded.jobs.is_empty() || *from_queue_stats {
        let rebuilt = reconstruct::rebuild(&recorded.samples).ok_or(
            "no two ticks with queue statistics and completions: nothing to rebuild arrivals from",
        )?;
        std::fs::write(output, rebuilt.csv())
            .map_err(|e| format!("{}: cannot write the trace: {e}", output.display()))?;
        let why = if recorded.jobs.is_empty() {
            "no job records"
        } else {
            "--from-queue-stats"
        };
        eprintln!(
            "{why}: {:.0} arrivals rebuilt from the queue statistics of {} ticks ({} skipped as unknown) → {}",
            rebuilt.total(),
            rebuilt.used + 1,
            rebuilt.skipped,
            output.display()
        );
        match rebuilt.mean_run_s {
            Some(m) => eprintln!(
                "jobs ran {m:.1} s on average: replay with --durations exp:{m:.1}s (or your own distribution)"
            ),
            None => eprintln!("no job completed: choose --durations yourself"),
        }
        return Ok(());
    }
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
