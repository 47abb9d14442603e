//! Delivering one batch: the `BatchSink` seam (SQS in production, fakes in tests), the pure
//! bookkeeping of a partial `SendMessageBatch` failure, and the bounded retry loop that resends
//! only the entries that failed.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use super::error::EntryFailure;
use super::jobs::Job;
use super::rate::RateLimiter;

/// Entries per `SendMessageBatch` call (the SQS maximum).
pub const MAX_BATCH_ENTRIES: usize = 10;

/// Sends up to ten jobs in one call. `SqsSink` is the production implementation.
pub trait BatchSink: Send + Sync + 'static {
    /// Sends `jobs`; entry `i` of the reply refers to `jobs[i]`.
    fn send_batch(
        &self,
        jobs: &[&Job],
    ) -> impl Future<Output = Result<BatchReply, CallError>> + Send;
}

/// The per-entry answer to one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReply {
    /// Indices (into the jobs passed) that SQS accepted.
    pub succeeded: Vec<usize>,
    /// Entries SQS refused.
    pub failed: Vec<FailedEntry>,
}

/// One entry of a reply's `Failed` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEntry {
    pub index: usize,
    /// SQS's `SenderFault`: true means resending the same entry cannot succeed.
    pub sender_fault: bool,
    pub code: String,
    pub message: String,
}

/// A whole call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// Throttling, 5xx, timeout or network: worth retrying. Such a call may still have been
    /// carried out, so its entries may already be in the queue.
    pub transient: bool,
    pub code: String,
    pub message: String,
}

/// What to do with each entry of an attempt, by index into the attempted jobs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Partition {
    pub acked: Vec<usize>,
    pub retry: Vec<usize>,
    pub permanent: Vec<FailedEntry>,
}

/// Splits a reply for `attempted` entries into acknowledged, retryable and permanently refused.
/// An entry the reply does not mention (or mentions twice, or out of range) is never taken as
/// acknowledged: unless it also succeeded it is retried.
pub fn partition(attempted: usize, reply: &BatchReply) -> Partition {
    let mut out = Partition::default();
    let mut settled = HashSet::new();
    for &index in &reply.succeeded {
        if index < attempted && settled.insert(index) {
            out.acked.push(index);
        }
    }
    for failure in &reply.failed {
        if failure.index >= attempted || !settled.insert(failure.index) {
            continue;
        }
        if failure.sender_fault {
            out.permanent.push(failure.clone());
        } else {
            out.retry.push(failure.index);
        }
    }
    out.retry
        .extend((0..attempted).filter(|i| !settled.contains(i)));
    out.acked.sort_unstable();
    out.retry.sort_unstable();
    out
}

/// Bounded exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Calls per batch, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt `attempt` (1-based): half the exponential step plus a
    /// random part up to the other half.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// How one batch ended. Lines are input line numbers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Acknowledged by SQS.
    pub acked: Vec<usize>,
    /// Definitely not enqueued: every attempt for them ended in an explicit refusal.
    pub refused: Vec<usize>,
    /// Refused for good (sender faults and non-retryable call errors).
    pub permanent: Vec<EntryFailure>,
    /// Set when the retry budget ran out on transient errors: (attempts, last error).
    pub gave_up: Option<(u32, String)>,
    /// Acknowledged lines that were resent after an ambiguous call error (a timeout, a 5xx):
    /// on a standard queue each may have been enqueued twice.
    pub maybe_twice: usize,
    /// Calls made.
    pub calls: u32,
}

/// Sends `jobs` until every one is acknowledged, permanently refused, or the attempts run out,
/// resending only the entries that failed. With `limiter`, every call first takes one token per
/// entry, except the first call when `first_call_paid` (the caller took them already).
pub async fn deliver<S: BatchSink>(
    sink: &S,
    jobs: &[Job],
    policy: &RetryPolicy,
    limiter: Option<&RateLimiter>,
    first_call_paid: bool,
) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut pending: Vec<&Job> = jobs.iter().collect();
    // Lines whose fate is unknown after some attempt (a transient whole-call error).
    let mut ambiguous: HashSet<usize> = HashSet::new();
    let mut last_error = String::new();
    loop {
        outcome.calls += 1;
        if let Some(limiter) = limiter
            && !(first_call_paid && outcome.calls == 1)
        {
            limiter.acquire(pending.len()).await;
        }
        match sink.send_batch(&pending).await {
            Ok(reply) => {
                let split = partition(pending.len(), &reply);
                for &i in &split.acked {
                    outcome.acked.push(pending[i].line);
                    if ambiguous.contains(&pending[i].line) {
                        outcome.maybe_twice += 1;
                    }
                }
                for failure in split.permanent {
                    let job = pending[failure.index];
                    outcome.permanent.push(EntryFailure {
                        line: job.line,
                        job_id: job.id.clone(),
                        code: failure.code,
                        message: failure.message,
                    });
                }
                if let Some(f) = reply.failed.iter().find(|f| !f.sender_fault) {
                    last_error = format!("{}: {}", f.code, f.message);
                }
                pending = split.retry.iter().map(|&i| pending[i]).collect();
            }
            Err(e) if e.transient => {
                ambiguous.extend(pending.iter().map(|j| j.line));
                last_error = format!("{}: {}", e.code, e.message);
            }
            Err(e) => {
                for job in pending.drain(..) {
                    outcome.permanent.push(EntryFailure {
                        line: job.line,
                        job_id: job.id.clone(),
                        code: e.code.clone(),
                        message: e.message.clone(),
                    });
                }
            }
        }
        if pending.is_empty() {
            break;
        }
        if outcome.calls >= policy.max_attempts {
            outcome.gave_up = Some((outcome.calls, last_error));
            break;
        }
        tokio::time::sleep(policy.backoff(outcome.calls)).await;
    }
    let acked: HashSet<usize> = outcome.acked.iter().copied().collect();
    outcome.refused = jobs
        .iter()
        .map(|j| j.line)
        .filter(|l| !acked.contains(l) && !ambiguous.contains(l))
        .collect();
    outcome.acked.sort_unstable();
    outcome
}

#[cfg(test)]
mod tests;
