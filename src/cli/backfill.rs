//! The `spillway backfill submit|status` command line: clap argument types and the function
//! that runs them. `main.rs` only parses and calls [`run`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::aws::{self, AwsOptions};
use crate::backfill::{self, BackfillError, DEFAULT_GROUP_ID, Rate, RetryPolicy, SubmitOptions};
use crate::cli::output::say;

/// Bulk-submit jobs from a JSON Lines file to SQS, resumably.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(subcommand)]
    pub command: BackfillCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackfillCommand {
    /// Validate a JSON Lines file and send every job to an SQS queue; rerun to resume.
    Submit(SubmitArgs),
    /// Show what a checkpoint says: total, acknowledged, in doubt, finished.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The jobs: one JSON object per line (optional `id`, optional `duration_s`).
    pub input: PathBuf,
    /// The queue's URL; a URL ending in `.fifo` is a FIFO queue.
    #[arg(long)]
    pub queue_url: String,
    /// Limit on messages sent, e.g. `500/s`, `30/m` (default: no limit).
    #[arg(long)]
    pub rate: Option<Rate>,
    /// SendMessageBatch calls in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Validate and print the planned batches; make no SQS call.
    #[arg(long)]
    pub dry_run: bool,
    /// Send the valid lines and write the invalid ones to --rejects instead of refusing.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Where --skip-invalid writes rejected lines [default: <input>.rejects.jsonl].
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// MessageGroupId on FIFO queues.
    #[arg(long, default_value = DEFAULT_GROUP_ID)]
    pub group_id: String,
    /// Checkpoint file [default: <input>.spillway-ckpt].
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Calls per batch before giving up on transient errors (the run then stops; rerun resumes).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_attempts: u32,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The checkpoint file, e.g. jobs.jsonl.spillway-ckpt.
    #[arg(long)]
    pub checkpoint: PathBuf,
}

impl SubmitArgs {
    /// The library options these arguments stand for.
    pub fn options(&self) -> SubmitOptions {
        SubmitOptions {
            rate: self.rate,
            concurrency: usize::from(self.concurrency),
            dry_run: self.dry_run,
            skip_invalid: self.skip_invalid,
            rejects: self.rejects.clone(),
            group_id: self.group_id.clone(),
            checkpoint: self.checkpoint.clone(),
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                ..RetryPolicy::default()
            },
            handle_ctrl_c: true,
            progress_bar: std::io::stderr().is_terminal(),
            ..SubmitOptions::new(&self.input, &self.queue_url)
        }
    }
}

/// Runs a `backfill` subcommand. The caller turns an error into
/// [`BackfillError::exit_code`] after printing it.
pub async fn run(args: BackfillArgs) -> Result<(), BackfillError> {
    match args.command {
        BackfillCommand::Status(status) => {
            say!("{}", backfill::status(&status.checkpoint)?);
            Ok(())
        }
        BackfillCommand::Submit(submit) => {
            let options = submit.options();
            if options.dry_run {
                say!("{}", backfill::dry_run(&options)?);
                return Ok(());
            }
            if !options.queue_url.starts_with("http://")
                && !options.queue_url.starts_with("https://")
            {
                return Err(BackfillError::Usage(format!(
                    "--queue-url {:?} is not a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
                    options.queue_url
                )));
            }
            // The backfill retries failed entries itself, so the SDK makes one attempt per call.
            // SQS signs with the queue's region, so a region in the URL wins over the chain's.
            let aws = AwsOptions {
                region: aws::region_from_queue_url(&options.queue_url),
                max_attempts: 1,
                attempt_timeout: Duration::from_secs(20),
                ..AwsOptions::default()
            };
            let make_client = async || aws::sqs(&aws::load(&aws).await);
            backfill::submit_with(&options, make_client)
                .await
                .map(|_| ())
        }
    }
}
