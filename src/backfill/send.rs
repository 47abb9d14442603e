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
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn failed(index: usize, sender_fault: bool) -> FailedEntry {
        FailedEntry {
            index,
            sender_fault,
            code: if sender_fault {
                "InvalidParameterValue"
            } else {
                "InternalError"
            }
            .into(),
            message: "m".into(),
        }
    }

    #[test]
    fn partition_splits_acked_retryable_and_permanent() {
        let reply = BatchReply {
            succeeded: vec![0, 2, 5],
            failed: vec![failed(1, false), failed(3, true)],
        };
        let p = partition(6, &reply);
        assert_eq!(p.acked, [0, 2, 5]);
        // 4 was not mentioned at all: retried, never assumed acknowledged.
        assert_eq!(p.retry, [1, 4]);
        assert_eq!(p.permanent, [failed(3, true)]);
    }

    #[test]
    fn partition_ignores_out_of_range_and_double_mentions() {
        let reply = BatchReply {
            succeeded: vec![0, 0, 9],
            failed: vec![failed(0, true), failed(7, false)],
        };
        let p = partition(2, &reply);
        assert_eq!(p.acked, [0]);
        assert_eq!(p.retry, [1]);
        assert!(p.permanent.is_empty());
    }

    /// Fails the entries whose line is listed, once per listing, then accepts them.
    struct Scripted {
        calls: Mutex<Vec<Vec<usize>>>,
        fail_once: Mutex<Vec<usize>>,
        refuse: Vec<usize>,
        call_error_first: Option<bool>,
    }

    impl BatchSink for Scripted {
        async fn send_batch(&self, jobs: &[&Job]) -> Result<BatchReply, CallError> {
            let lines: Vec<usize> = jobs.iter().map(|j| j.line).collect();
            let first = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(lines.clone());
                calls.len() == 1
            };
            if let (true, Some(transient)) = (first, self.call_error_first) {
                let code = if transient {
                    "ServiceUnavailable"
                } else {
                    "AccessDenied"
                };
                return Err(CallError {
                    transient,
                    code: code.into(),
                    message: "x".into(),
                });
            }
            let mut reply = BatchReply::default();
            let mut fail_once = self.fail_once.lock().unwrap();
            for (i, line) in lines.iter().enumerate() {
                if self.refuse.contains(line) {
                    reply.failed.push(failed(i, true));
                } else if let Some(pos) = fail_once.iter().position(|l| l == line) {
                    fail_once.remove(pos);
                    reply.failed.push(failed(i, false));
                } else {
                    reply.succeeded.push(i);
                }
            }
            Ok(reply)
        }
    }

    fn scripted(fail_once: &[usize], refuse: &[usize], call_error_first: Option<bool>) -> Scripted {
        Scripted {
            calls: Mutex::new(Vec::new()),
            fail_once: Mutex::new(fail_once.to_vec()),
            refuse: refuse.to_vec(),
            call_error_first,
        }
    }

    fn jobs(n: usize) -> Vec<Job> {
        (1..=n)
            .map(|line| Job {
                line,
                id: format!("j{line}"),
                body: "{}".into(),
                duration_s: None,
            })
            .collect()
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn only_the_failed_entries_are_resent() {
        let sink = scripted(&[2, 5, 5], &[], None);
        let out = deliver(&sink, &jobs(6), &fast(), None, false).await;
        assert_eq!(out.acked, [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            *sink.calls.lock().unwrap(),
            [vec![1, 2, 3, 4, 5, 6], vec![2, 5], vec![5]]
        );
        assert_eq!((out.calls, out.maybe_twice, out.gave_up), (3, 0, None));
    }

    #[tokio::test]
    async fn a_sender_fault_is_permanent_and_the_rest_still_delivered() {
        let sink = scripted(&[1], &[3], None);
        let out = deliver(&sink, &jobs(4), &fast(), None, false).await;
        assert_eq!(out.acked, [1, 2, 4]);
        assert_eq!(out.permanent.len(), 1);
        assert_eq!(
            (out.permanent[0].line, out.permanent[0].job_id.as_str()),
            (3, "j3")
        );
        assert_eq!(out.refused, [3]);
        assert_eq!(sink.calls.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_ambiguous_lines_counted() {
        let sink = scripted(&[2, 2, 2, 2, 2], &[], Some(true));
        let out = deliver(&sink, &jobs(3), &fast(), None, false).await;
        assert_eq!(out.acked, [1, 3]);
        assert_eq!(out.calls, 4);
        let (attempts, last) = out.gave_up.unwrap();
        assert_eq!(attempts, 4);
        assert!(last.starts_with("InternalError"), "{last}");
        // The first call failed ambiguously: lines 1 and 3 may be in the queue twice, and 2 may
        // be in it once, so it is not "refused".
        assert_eq!(out.maybe_twice, 2);
        assert!(out.refused.is_empty());
    }

    #[tokio::test]
    async fn a_non_transient_call_error_refuses_the_whole_batch_at_once() {
        let sink = scripted(&[], &[], Some(false));
        let out = deliver(&sink, &jobs(3), &fast(), None, false).await;
        assert!(out.acked.is_empty());
        assert_eq!(out.permanent.len(), 3);
        assert_eq!(out.permanent[0].code, "AccessDenied");
        assert_eq!(out.refused, [1, 2, 3]);
        assert_eq!(out.calls, 1);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 9,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let fourth = p.backoff(4);
            assert!(fourth >= Duration::from_millis(400) && fourth <= Duration::from_millis(800));
            assert!(p.backoff(30) <= Duration::from_secs(1));
        }
    }
}
