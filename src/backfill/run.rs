//! Executing a plan: up to `--concurrency` batches in flight, each checkpointed as sent before
//! its call and as acknowledged after it; stopping cleanly (checkpoint flushed, in-flight batches
//! finished) on a permanent refusal, an exhausted retry budget, or Ctrl-C.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::SubmitOptions;
use super::checkpoint::Record;
use super::checkpoint_writer::CheckpointWriter;
use super::error::BackfillError;
use super::plan::{Batch, Plan, resume_notice};
use super::progress::Progress;
use super::rate::RateLimiter;
use super::send::{BatchOutcome, BatchSink, RetryPolicy, deliver};
use crate::cli::output::say;

/// The figures of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Jobs acknowledged by SQS in this run.
    pub sent: usize,
    /// Jobs skipped because an earlier run had them acknowledged.
    pub skipped: usize,
    /// Invalid lines left out (`--skip-invalid`).
    pub rejected: usize,
    pub elapsed: Duration,
    /// `SendMessageBatch` calls made, retries included.
    pub calls: u64,
    /// Upper bound on the jobs this run may have put in a standard queue twice: those in doubt
    /// from an interrupted earlier run, plus those resent after an ambiguous call error.
    pub maybe_twice: usize,
}

impl Summary {
    pub fn messages_per_second(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {}, skipped {} (already in checkpoint), rejected {}, elapsed {:.2} s, {:.1} messages/s",
            self.sent,
            self.skipped,
            self.rejected,
            self.elapsed.as_secs_f64(),
            self.messages_per_second()
        )?;
        if self.maybe_twice > 0 {
            write!(f, ", up to {} possibly delivered twice", self.maybe_twice)?;
        }
        Ok(())
    }
}

struct Shared<S> {
    sink: S,
    writer: CheckpointWriter,
    limiter: Option<RateLimiter>,
    retry: RetryPolicy,
    progress: Progress,
}

/// Sends every batch of `plan` through `sink`. Prints the resume notice (if any) and the summary
/// line on stdout, whether the run succeeds or not.
pub async fn execute<S: BatchSink>(
    plan: Plan,
    sink: S,
    options: &SubmitOptions,
) -> Result<Summary, BackfillError> {
    let writer = match &plan.existing {
        Some(state) => CheckpointWriter::resume(&plan.checkpoint_path, state)?,
        None => CheckpointWriter::create(&plan.checkpoint_path, plan.header.clone())?,
    };
    if let Some(notice) = resume_notice(&plan) {
        say!("{notice}\n");
    }
    let started_unix_s = crate::clock::unix_now_secs();
    writer
        .write(&Record::Run {
            started_unix_s,
            already_acked: plan.skipped,
            in_doubt: plan.in_doubt,
        })
        .await?;
    let progress = if options.progress_bar {
        Progress::new(plan.to_send)
    } else {
        Progress::plain(plan.to_send)
    };
    let shared = Arc::new(Shared {
        sink,
        writer,
        limiter: options.rate.map(RateLimiter::new),
        retry: options.retry.clone(),
        progress,
    });
    let mut summary = Summary {
        skipped: plan.skipped,
        rejected: plan.rejected.len(),
        maybe_twice: if plan.header.fifo { 0 } else { plan.in_doubt },
        ..Summary::default()
    };

    let stop = drive(&shared, plan.batches, options, &mut summary).await;

    shared.progress.finish();
    summary.sent = shared.progress.done();
    summary.elapsed = shared.progress.elapsed();
    let total = plan.header.total_jobs;
    let result = match stop {
        Some(error) => Err(error),
        None => {
            let acked = summary.sent + summary.skipped;
            if acked >= total {
                shared.writer.write(&Record::Done { acked }).await?;
            }
            Ok(summary.clone())
        }
    };
    say!("backfill: {summary}\n");
    result
}

/// Runs the batches; returns why it stopped early, if it did.
async fn drive<S: BatchSink>(
    shared: &Arc<Shared<S>>,
    batches: Vec<Batch>,
    options: &SubmitOptions,
    summary: &mut Summary,
) -> Option<BackfillError> {
    let concurrency = options.concurrency.max(1);
    let mut queue = batches.into_iter();
    let mut in_flight: JoinSet<Result<BatchOutcome, BackfillError>> = JoinSet::new();
    let mut permanent = Vec::new();
    let mut failure: Option<BackfillError> = None;
    let mut interrupted = false;
    let ctrl_c = async {
        if options.handle_ctrl_c {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(ctrl_c);
    loop {
        let stopping = interrupted || failure.is_some() || !permanent.is_empty();
        while !stopping && in_flight.len() < concurrency {
            let Some(batch) = queue.next() else { break };
            in_flight.spawn(send_one(Arc::clone(shared), batch));
        }
        if in_flight.is_empty() {
            break;
        }
        tokio::select! {
            joined = in_flight.join_next() => match joined.expect("a task is in flight") {
                Ok(Ok(outcome)) => {
                    summary.calls += u64::from(outcome.calls);
                    summary.maybe_twice += outcome.maybe_twice;
                    permanent.extend(outcome.permanent);
                    if let Some((attempts, message)) = outcome.gave_up {
                        failure.get_or_insert(BackfillError::Transient { attempts, message });
                    }
                }
                Ok(Err(error)) => {
                    failure.get_or_insert(error);
                }
                Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
            },
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                shared.progress.suspend(|| {
                    tracing::warn!("interrupted: finishing and checkpointing the batches in flight");
                });
            }
        }
    }
    if !permanent.is_empty() {
        permanent.sort_by_key(|f| f.line);
        return Some(BackfillError::Permanent {
            failures: permanent,
        });
    }
    failure.or(interrupted.then_some(BackfillError::Interrupted))
}

/// One batch: take rate tokens, record it as sent, deliver, record what was acknowledged.
async fn send_one<S: BatchSink>(
    shared: Arc<Shared<S>>,
    batch: Batch,
) -> Result<BatchOutcome, BackfillError> {
    if let Some(limiter) = &shared.limiter {
        limiter.acquire(batch.jobs.len()).await;
    }
    let lines = batch.jobs.iter().map(|j| j.line).collect();
    shared
        .writer
        .write(&Record::Sent {
            batch: batch.number,
            lines,
        })
        .await?;
    let outcome = deliver(
        &shared.sink,
        &batch.jobs,
        &shared.retry,
        shared.limiter.as_ref(),
        true,
    )
    .await;
    if !outcome.acked.is_empty() {
        let lines = outcome.acked.clone();
        shared
            .writer
            .write(&Record::Acked {
                batch: batch.number,
                lines,
            })
            .await?;
    }
    if !outcome.refused.is_empty() {
        let lines = outcome.refused.clone();
        shared
            .writer
            .write(&Record::Refused {
                batch: batch.number,
                lines,
            })
            .await?;
    }
    shared.progress.add(outcome.acked.len());
    Ok(outcome)
}
