//! Finished jobs as workers report them in their heartbeats: the HTTP handler adds each one
//! ([`FinishedJobs::add`]), the control loop takes what arrived since its last tick
//! ([`FinishedJobs::take`]) to write into `--record` (so a recorded day can be replayed as a
//! job trace) and to measure the window's queue waits. Bounded: past [`MAX_PENDING`] jobs
//! between two ticks the oldest are dropped and counted.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::heartbeat::protocol::JobReport;
use crate::model::Timestamp;

/// The most finished jobs kept between two ticks.
pub const MAX_PENDING: usize = 100_000;

/// One finished job, as the record carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The policy's name for its queue (`other` for a queue the policy does not name).
    pub queue: String,
    /// The pool of the worker that ran it.
    pub pool: String,
    /// When it was queued (SQS's `SentTimestamp`), when the worker reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    /// From queued to taken, seconds.
    pub waited_s: f64,
    /// How long the command ran, seconds.
    pub ran_s: f64,
    /// Whether the command exited 0.
    pub ok: bool,
    /// The command's exit status, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// When the service received the report.
    pub reported_at: Timestamp,
}

impl JobRecord {
    /// The record of `report` from a worker of `pool`, its queue named `queue`, received at
    /// `now`.
    pub fn of(report: &JobReport, queue: &str, pool: &str, now: Timestamp) -> Self {
        JobRecord {
            queue: queue.to_string(),
            pool: pool.to_string(),
            sent_at: report.sent_at_ms.map(Timestamp::from_millis),
            waited_s: report.waited_s,
            ran_s: report.ran_s,
            ok: report.ok,
            exit: report.exit,
            reported_at: now,
        }
    }
}

/// The jobs reported since the control loop last took them.
#[derive(Debug, Default)]
pub struct FinishedJobs {
    inner: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    jobs: VecDeque<JobRecord>,
    dropped: u64,
}

/// What [`FinishedJobs::take`] hands over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Taken {
    pub jobs: Vec<JobRecord>,
    /// Jobs dropped since the last take because more than [`MAX_PENDING`] arrived.
    pub dropped: u64,
}

impl FinishedJobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one finished job; past [`MAX_PENDING`] the oldest is dropped.
    pub fn add(&self, job: JobRecord) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if p.jobs.len() >= MAX_PENDING {
            p.jobs.pop_front();
            p.dropped += 1;
        }
        p.jobs.push_back(job);
    }

    /// Everything added since the last take.
    pub fn take(&self) -> Taken {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Taken {
            jobs: p.jobs.drain(..).collect(),
            dropped: std::mem::take(&mut p.dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: i64) -> JobRecord {
        JobRecord {
            queue: "renders".into(),
            pool: "ec2".into(),
            sent_at: Some(Timestamp::from_millis(n)),
            waited_s: 1.0,
            ran_s: 2.0,
            ok: true,
            exit: Some(0),
            reported_at: Timestamp::from_millis(n + 3_000),
        }
    }

    #[test]
    fn a_take_hands_over_what_arrived_since_the_last_one() {
        let f = FinishedJobs::new();
        f.add(job(1));
        f.add(job(2));
        assert_eq!(f.take().jobs, vec![job(1), job(2)]);
        assert_eq!(f.take(), Taken::default());
    }

    #[test]
    fn past_the_bound_the_oldest_are_dropped_and_counted() {
        let f = FinishedJobs::new();
        for n in 0..(MAX_PENDING as i64 + 5) {
            f.add(job(n));
        }
        let t = f.take();
        assert_eq!(t.jobs.len(), MAX_PENDING);
        assert_eq!(t.dropped, 5);
        assert_eq!(t.jobs[0], job(5));
    }
}
