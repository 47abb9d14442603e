//! Command-line arguments and the thin glue from each subcommand to the library.

pub mod backfill;
pub mod output;
pub mod run;
pub mod simulate;
pub mod trace;
pub mod tune;
pub mod worker;

use std::path::PathBuf;

use crate::cli::output::say;
use clap::{Args, Parser, Subcommand};

/// spillway: autoscaling for hybrid render farms (datacenter first, EC2 for the overflow).
#[derive(Debug, Parser)]
#[command(name = "spillway", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay a trace or a built-in scenario through a policy; print a summary.
    Simulate(simulate::SimulateArgs),
    /// Run every strategy on one workload, each swept over its main knob, side by side.
    Compare(simulate::CompareArgs),
    /// Search the policy's knobs together on a workload: the cost/wait frontier, and the
    /// cheapest setting that meets the SLO on other seeds too, written as a policy file.
    Tune(tune::TuneArgs),
    /// Run the autoscaler against SQS and EC2 (or any AWS-compatible endpoint).
    Run(run::RunArgs),
    /// Bulk-submit jobs from a JSON Lines file to SQS, resumably.
    Backfill(crate::cli::backfill::BackfillArgs),
    /// The render-side agent: take jobs from SQS, run a command on each, heartbeat to the
    /// service, obey drain.
    Worker(worker::WorkerArgs),
    /// Validate policy files.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Make traces: `trace from-record` turns `run --record` files into a job log.
    Trace {
        #[command(subcommand)]
        command: trace::TraceCommand,
    },
    /// Print a completion script for SHELL (e.g. `spillway completions bash >
    /// /etc/bash_completion.d/spillway`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page, spillway(1), in roff (e.g. `spillway man > spillway.1`).
    Man,
}

/// Writes `shell`'s completion script for the whole command line to standard output.
pub fn completions(shell: clap_complete::Shell) {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "spillway", &mut out);
    say!("{}", String::from_utf8_lossy(&out));
}

/// The manual page, spillway(1), in roff: the options and every subcommand with its own.
pub fn man_page() -> Result<String, std::io::Error> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    // One section per subcommand (and `policy check`), so the page is the whole manual.
    let mut sub: std::collections::VecDeque<(String, clap::Command)> = cmd
        .get_subcommands()
        .map(|c| (format!("spillway {}", c.get_name()), c.clone()))
        .collect();
    while let Some((path, c)) = sub.pop_front() {
        sub.extend(
            c.get_subcommands()
                .map(|s| (format!("{path} {}", s.get_name()), s.clone())),
        );
        let man = clap_mangen::Man::new(c.clone());
        out.extend_from_slice(format!(".SH \"{}\"\n", path.to_uppercase()).as_bytes());
        man.render_description_section(&mut out)?;
        man.render_options_section(&mut out)?;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `spillway policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files; report every problem with file, line and field.
    Check {
        /// Policy files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Where the workload comes from (shared by simulate and compare).
#[derive(Debug, Clone, Args)]
pub struct WorkloadArgs {
    /// A trace CSV: `submit_s,duration_s` job log or `t_seconds,arrivals` series.
    #[arg(long, conflicts_with = "scenario")]
    pub trace: Option<PathBuf>,
    /// A built-in scenario: diurnal, christmas, nfs-slowdown, slow-release, backfill,
    /// ec2-outage, launch-failures, spot-interruptions, flash-crowd, spike-shift.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Multiply the arrival rate by this factor, keeping the shape of the day.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Job durations for arrival series: fixed:20s | exp:20s | lognormal:20s:1.0.
    #[arg(long, default_value = "lognormal:15s:0.8")]
    pub durations: String,
    /// Random seed (arrivals, durations, boot times, launch failures).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Probability that a launch never becomes ready.
    #[arg(long, default_value_t = 0.0)]
    pub launch_failure_rate: f64,
    /// Spread (log-normal sigma) of boot times around the pool's boot_time.
    #[arg(long, default_value_t = 0.15)]
    pub boot_jitter: f64,
    /// Inject a backfill file (JSON Lines, as `backfill submit` takes) at time T as batch jobs,
    /// e.g. `jobs.jsonl@33h`; jobs without `duration_s` draw from --durations. Repeatable.
    #[arg(long, value_name = "FILE@T")]
    pub backfill: Vec<String>,
    /// The EC2 API is unreachable from FROM to TO (e.g. `37h..37h30m`): no listing, no launch,
    /// no termination; running instances keep working. Repeatable.
    #[arg(long, value_name = "FROM..TO")]
    pub ec2_outage: Vec<String>,
    /// Spot interruptions per EC2 instance-hour (0.05 = 5% an hour); jobs on an interrupted
    /// instance run again.
    #[arg(long, default_value_t = 0.0)]
    pub spot_interruptions: f64,
    /// The controller restarts every DURATION (a crash or a deploy, e.g. `1h`): it resumes its
    /// memory as from --state-file and hears each worker again only at its next heartbeat.
    #[arg(long, value_name = "DURATION")]
    pub restart_every: Option<String>,
    /// Another replica takes over the lease at T (e.g. `30h`, or seconds from the start): like
    /// a restart, it has heard no worker yet. Repeatable.
    #[arg(long, value_name = "T")]
    pub failover_at: Vec<String>,
}

/// Prints every problem of every file; returns whether all were valid.
pub fn policy_check(files: &[PathBuf]) -> bool {
    let mut ok = true;
    for f in files {
        match crate::policy::load(f) {
            Ok(p) => say!(
                "{}: ok (policy \"{}\", strategy {}, {} pools)\n",
                f.display(),
                p.name,
                p.control.strategy.name(),
                p.pools.len()
            ),
            Err(e) => {
                ok = false;
                eprintln!("{e}");
            }
        }
    }
    ok
}
