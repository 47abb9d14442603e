//! Tests of delivering one batch: how a partial failure is split into acknowledged, retryable
//! and permanent entries; only failed entries resent; bounded attempts and backoff.

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
