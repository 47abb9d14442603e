//! `spillway backfill`: resumable bulk submission of a JSON Lines job file to an SQS queue.
//!
//! A run reads and validates the whole file first ([`jobs`]), then sends the jobs in batches of
//! up to ten with `SendMessageBatch` ([`send`], [`sqs`]), up to `--concurrency` calls in flight,
//! optionally held to `--rate` ([`rate`]). Every batch is recorded in an append-only checkpoint
//! ([`checkpoint`]) as *sent* before its call and as *acknowledged* after SQS's answer, so
//! rerunning the same command after a crash skips what SQS acknowledged and resends only the rest.
//!
//! Delivery guarantees after a crash: on a standard queue, only the jobs in flight at the crash
//! (sent, not yet acknowledged) may be delivered twice, and the resume says how many. On a FIFO
//! queue each job's deduplication id (derived from its id) makes the resend exactly once, as long
//! as it happens within SQS's 5-minute deduplication window.
//!
//! Entry points: [`submit`] (with an SQS client), [`submit_to`] (with any [`BatchSink`]),
//! [`dry_run`] and [`status`].

pub mod checkpoint;
pub mod checkpoint_writer;
pub mod error;
pub mod jobs;
pub mod plan;
pub mod progress;
pub mod rate;
pub mod run;
pub mod send;
pub mod sqs;

use crate::cli::output::say;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use error::{BackfillError, EntryFailure};
pub use rate::Rate;
pub use run::Summary;
pub use send::{BatchReply, BatchSink, CallError, FailedEntry, RetryPolicy};
pub use sqs::SqsSink;

/// The default `MessageGroupId` on FIFO queues.
pub const DEFAULT_GROUP_ID: &str = "spillway-backfill";

/// Everything `backfill submit` is told.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    pub input: PathBuf,
    pub queue_url: String,
    pub rate: Option<Rate>,
    /// Batches in flight at once.
    pub concurrency: usize,
    pub dry_run: bool,
    pub skip_invalid: bool,
    /// Default `<input>.rejects.jsonl`.
    pub rejects: Option<PathBuf>,
    /// FIFO queues only.
    pub group_id: String,
    /// Default `<input>.spillway-ckpt`.
    pub checkpoint: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// Stop cleanly on Ctrl-C (the command line sets this; library callers may not want it).
    pub handle_ctrl_c: bool,
    /// Show an indicatif bar when stderr is a terminal (otherwise plain log lines).
    pub progress_bar: bool,
}

impl SubmitOptions {
    /// The command line's defaults: concurrency 8, no rate limit, group `spillway-backfill`.
    pub fn new(input: impl Into<PathBuf>, queue_url: impl Into<String>) -> Self {
        SubmitOptions {
            input: input.into(),
            queue_url: queue_url.into(),
            rate: None,
            concurrency: 8,
            dry_run: false,
            skip_invalid: false,
            rejects: None,
            group_id: DEFAULT_GROUP_ID.to_owned(),
            checkpoint: None,
            retry: RetryPolicy::default(),
            handle_ctrl_c: false,
            progress_bar: false,
        }
    }
}

/// The `spillway-backfill` attribute value for `input`: its file name.
pub fn source_name(input: &Path) -> String {
    input
        .file_name()
        .map_or_else(|| input.to_string_lossy(), |n| n.to_string_lossy())
        .into_owned()
}

/// Validates and plans without any SQS call; returns the dry-run report.
pub fn dry_run(options: &SubmitOptions) -> Result<String, BackfillError> {
    let plan = plan::prepare(&SubmitOptions {
        dry_run: true,
        ..options.clone()
    })?;
    Ok(plan::dry_run_report(&plan, &options.queue_url))
}

/// Submits to the queue with `client` (see [`submit_to`]).
pub async fn submit(
    options: &SubmitOptions,
    client: aws_sdk_sqs::Client,
) -> Result<Summary, BackfillError> {
    submit_with(options, async || client).await
}

/// Validates the whole input, then (unless it is a dry run, which prints the plan instead)
/// sends every job not yet acknowledged in the checkpoint through `sink`.
pub async fn submit_to<S: BatchSink>(
    options: &SubmitOptions,
    sink: S,
) -> Result<Summary, BackfillError> {
    let Some(plan) = plan_or_print_dry_run(options)? else {
        return Ok(Summary::default());
    };
    run::execute(plan, sink, options).await
}

/// Like [`submit`], but the SQS client is made (e.g. the AWS configuration loaded) only once the
/// input has been validated and the checkpoint matched, so a bad input fails fast and offline.
pub async fn submit_with(
    options: &SubmitOptions,
    make_client: impl AsyncFnOnce() -> aws_sdk_sqs::Client,
) -> Result<Summary, BackfillError> {
    let Some(plan) = plan_or_print_dry_run(options)? else {
        return Ok(Summary::default());
    };
    let sink = SqsSink::new(
        make_client().await,
        &options.queue_url,
        &options.group_id,
        &plan.source_name,
    );
    run::execute(plan, sink, options).await
}

/// The plan of a real run, or `None` after printing the dry-run report.
fn plan_or_print_dry_run(options: &SubmitOptions) -> Result<Option<plan::Plan>, BackfillError> {
    if options.dry_run {
        say!("{}", dry_run(options)?);
        return Ok(None);
    }
    let plan = plan::prepare(options)?;
    if !plan.rejected.is_empty() {
        tracing::warn!(
            "skipping {} invalid line(s); written to {}",
            plan.rejected.len(),
            plan.rejects_path.display()
        );
    }
    Ok(Some(plan))
}

/// The `backfill status` report for a checkpoint file.
pub fn status(path: &Path) -> Result<String, BackfillError> {
    let state = checkpoint::load(path)?.ok_or_else(|| {
        BackfillError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint"),
        )
    })?;
    let h = &state.header;
    let acked = state.acked.len();
    let in_doubt = state.in_doubt.len();
    let mut out = String::new();
    let _ = writeln!(out, "checkpoint: {}", path.display());
    let _ = writeln!(
        out,
        "input: {} ({} bytes, sha256 {})",
        h.input, h.input_size, h.input_sha256
    );
    let kind = match &h.group_id {
        Some(group) => format!("FIFO, message group {group:?}"),
        None => "standard".to_owned(),
    };
    let _ = writeln!(out, "queue: {} ({kind})", h.queue_url);
    let _ = writeln!(out, "total: {}", h.total_jobs);
    let _ = writeln!(out, "acked: {acked}");
    let _ = writeln!(
        out,
        "in-doubt: {in_doubt} (sent, never acknowledged: may or may not be in the queue)"
    );
    let _ = writeln!(
        out,
        "pending: {}",
        h.total_jobs.saturating_sub(acked + in_doubt)
    );
    let _ = writeln!(out, "runs: {}", state.runs);
    if !h.fifo && state.resumed_in_doubt > 0 {
        let _ = writeln!(
            out,
            "possibly delivered twice by resumes: up to {}",
            state.resumed_in_doubt
        );
    }
    let finished = if state.finished() {
        "yes"
    } else {
        "no (run the same submit command again to resume)"
    };
    let _ = writeln!(out, "finished: {finished}");
    Ok(out)
}
