//! Jobs as workers report them in their heartbeats, finished ([`JobRecord`]) and taken (the
//! queue wait, [`QueueWait`]): the HTTP handler adds each one, the control loop takes what
//! arrived since its last tick ([`JobReports::take`]) to write the finished ones into
//! `--record` (so a recorded day can be replayed as a job trace) and to keep the window's
//! queue waits ([`RecentWaits`]). Bounded: past [`MAX_PENDING`] jobs of a kind between two
//! ticks the oldest are dropped and counted.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::control::MeasuredWait;
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

/// A job taken from a queue: what it had waited, when the service heard of it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueWait {
    /// The policy's name for the queue (`other` for a queue the policy does not name).
    pub queue: String,
    pub waited_s: f64,
    pub heard_at: Timestamp,
}

/// The jobs reported since the control loop last took them.
#[derive(Debug, Default)]
pub struct JobReports {
    inner: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    jobs: VecDeque<JobRecord>,
    taken: VecDeque<QueueWait>,
    dropped: u64,
}

/// What [`JobReports::take`] hands over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reported {
    /// Finished jobs.
    pub jobs: Vec<JobRecord>,
    /// Jobs taken.
    pub taken: Vec<QueueWait>,
    /// Finished jobs dropped since the last take because more than [`MAX_PENDING`] arrived.
    pub dropped: u64,
}

impl JobReports {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one finished job; past [`MAX_PENDING`] the oldest is dropped.
    pub fn add_finished(&self, job: JobRecord) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if p.jobs.len() >= MAX_PENDING {
            p.jobs.pop_front();
            p.dropped += 1;
        }
        p.jobs.push_back(job);
    }

    /// Adds one job taken; past [`MAX_PENDING`] the oldest is dropped.
    pub fn add_taken(&self, wait: QueueWait) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if p.taken.len() >= MAX_PENDING {
            p.taken.pop_front();
        }
        p.taken.push_back(wait);
    }

    /// Everything added since the last take.
    pub fn take(&self) -> Reported {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Reported {
            jobs: p.jobs.drain(..).collect(),
            taken: p.taken.drain(..).collect(),
            dropped: std::mem::take(&mut p.dropped),
        }
    }
}

/// The queue waits of the jobs taken within the last window, for the oldest job's age.
#[derive(Debug, Default)]
pub struct RecentWaits {
    waits: VecDeque<QueueWait>,
}

impl RecentWaits {
    /// Adds `taken` and forgets what was heard before `now - window`.
    pub fn update(&mut self, taken: Vec<QueueWait>, now: Timestamp, window: Duration) {
        self.waits.extend(taken);
        let from = now.minus(window);
        self.waits.retain(|w| w.heard_at >= from);
    }

    /// The measured wait of the jobs taken from `queues` within the window (what `decide`
    /// reads); `None` when none was taken.
    pub fn measured(&self, queues: &[&str]) -> Option<MeasuredWait> {
        let mut waits: Vec<f64> = self
            .waits
            .iter()
            .filter(|w| queues.contains(&w.queue.as_str()))
            .map(|w| w.waited_s)
            .collect();
        MeasuredWait::of(&mut waits)
    }

    /// The longest wait of a job taken from `queue` within the window: how old the oldest job
    /// was when a worker took it. `None` when no job was taken from it.
    pub fn oldest(&self, queue: &str) -> Option<f64> {
        self.waits
            .iter()
            .filter(|w| w.queue == queue)
            .map(|w| w.waited_s)
            .max_by(f64::total_cmp)
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
        let f = JobReports::new();
        f.add_finished(job(1));
        f.add_finished(job(2));
        assert_eq!(f.take().jobs, vec![job(1), job(2)]);
        assert_eq!(f.take(), Reported::default());
    }

    #[test]
    fn the_oldest_wait_is_the_longest_of_the_window_per_queue() {
        let at = Timestamp::from_millis;
        let wait = |queue: &str, waited_s: f64, heard: i64| QueueWait {
            queue: queue.into(),
            waited_s,
            heard_at: at(heard),
        };
        let mut r = RecentWaits::default();
        let window = Duration::from_secs(60);
        r.update(
            vec![
                wait("renders", 5.0, 0),
                wait("renders", 90.0, 10_000),
                wait("thumbs", 1.0, 10_000),
            ],
            at(20_000),
            window,
        );
        assert_eq!(r.oldest("renders"), Some(90.0));
        assert_eq!(r.oldest("thumbs"), Some(1.0));
        assert_eq!(r.oldest("backfill"), None);
        // A minute later only what was heard within the window counts.
        r.update(vec![wait("renders", 12.0, 65_000)], at(70_000), window);
        assert_eq!(r.oldest("renders"), Some(90.0));
        r.update(Vec::new(), at(71_000), window);
        assert_eq!(r.oldest("renders"), Some(12.0));
        assert_eq!(r.oldest("thumbs"), None);
    }

    #[test]
    fn past_the_bound_the_oldest_are_dropped_and_counted() {
        let f = JobReports::new();
        for n in 0..(MAX_PENDING as i64 + 5) {
            f.add_finished(job(n));
        }
        let t = f.take();
        assert_eq!(t.jobs.len(), MAX_PENDING);
        assert_eq!(t.dropped, 5);
        assert_eq!(t.jobs[0], job(5));
    }
}
