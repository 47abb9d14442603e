//! What `decide` is told about the world at one tick.
//!
//! The service fills this from SQS, heartbeats and `DescribeInstances`; the simulator fills it
//! from its model. A part that could not be read is `None`, never zero: `decide` must be able
//! to tell "the queue is empty" from "we do not know the queue".

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{QueueStats, Timestamp, Worker};

use super::strategy::oracle::OraclePlan;

/// Everything observed for one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Interactive queue statistics; `None` when they could not be read.
    pub queue: Option<QueueObservation>,
    /// Batch (backfill) queue statistics; `None` when there is no batch queue or it could not
    /// be read.
    #[serde(default)]
    pub batch: Option<QueueObservation>,
    /// One entry per policy pool, in policy order.
    pub pools: Vec<PoolObservation>,
    /// Launch-to-ready durations of workers that became ready since the previous observation,
    /// in the pools whose boots feed the boot estimate ([`Policy::feeds_boot_estimate`]).
    ///
    /// [`Policy::feeds_boot_estimate`]: crate::policy::Policy::feeds_boot_estimate
    #[serde(default)]
    pub boots: Vec<Duration>,
    /// Jobs finished since the previous observation (from workers' jobs-done counters);
    /// `None` when unknown. Gives throughput, hence how fast a queue drains by itself.
    #[serde(default)]
    pub completed: Option<u64>,
    /// Set (with who and why) while an operator has paused scaling: `decide` still observes
    /// and learns, but every decision is a hold.
    #[serde(default)]
    pub paused: Option<String>,
    /// Since when whoever observes has been able to hear every worker's heartbeat: the live
    /// service's start, or the moment it became the replicas' leader. Until
    /// [`Policy::learn_for`] after it, a worker not heard from is *unknown* (neither booting
    /// nor absent), nothing is scaled in and no boot is judged overdue. `None`: always
    /// listening (the simulator without restarts).
    ///
    /// [`Policy::learn_for`]: crate::policy::Policy::learn_for
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listening_since: Option<Timestamp>,
    /// The clairvoyant strategy's plan of needs over time: the simulator passes it in
    /// `compare`'s oracle run; never set live, never recorded.
    #[serde(skip)]
    pub oracle_plan: Option<Arc<OraclePlan>>,
    /// The measured queue wait of the window's interactive jobs; `None` when no worker
    /// reported one (unknown, never zero). Read only with `target.wait_feedback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_wait: Option<MeasuredWait>,
    /// With job classes ([`Policy::classes`]): each queue and pool on its own, which `decide`
    /// sizes each class from; `None` without classes (one farm: the fields above say it all).
    ///
    /// [`Policy::classes`]: crate::policy::Policy::classes
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_class: Option<ByClass>,
}

/// What job classes need observed apart: each `[[queue]]`'s statistics, and each pool's boots
/// and completions (so that each class learns its own boot time and throughput).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ByClass {
    /// One per `[[queue]]`, in policy order; `None` when it could not be read.
    pub queues: Vec<Option<QueueObservation>>,
    /// One per pool, in policy order: launch-to-ready durations since the previous
    /// observation.
    pub boots: Vec<Vec<Duration>>,
    /// One per pool, in policy order: jobs its workers finished since the previous
    /// observation; `None` when unknown.
    pub completed: Vec<Option<u64>>,
    /// The clairvoyant strategy's plan for each class (`compare`'s oracle run only).
    #[serde(skip)]
    pub oracle_plans: Vec<Arc<OraclePlan>>,
}

/// The queue waits users actually had: the interactive jobs taken within the window, as
/// workers measured them (SQS's `SentTimestamp` to taking the job).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasuredWait {
    /// The 99th percentile of their waits, seconds.
    pub p99_s: f64,
    /// How many jobs it was measured on.
    pub jobs: u32,
}

impl MeasuredWait {
    /// The measure of `waits` (seconds, in any order); `None` when there are none.
    pub fn of(waits: &mut [f64]) -> Option<MeasuredWait> {
        if waits.is_empty() {
            return None;
        }
        waits.sort_unstable_by(f64::total_cmp);
        // Nearest rank: the smallest wait at or above 99% of the jobs.
        let rank = ((waits.len() as f64 * 0.99).ceil() as usize).clamp(1, waits.len());
        Some(MeasuredWait {
            p99_s: waits[rank - 1],
            jobs: u32::try_from(waits.len()).unwrap_or(u32::MAX),
        })
    }
}

/// Queue statistics: averaged over the policy window and the latest sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QueueObservation {
    /// Mean over `control.window`.
    pub averaged: QueueStats,
    /// The most recent sample.
    pub latest: QueueStats,
    /// When the most recent sample was taken; older than `control.stale_after` is stale.
    pub sampled_at: Timestamp,
}

/// The workers of one pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolObservation {
    /// The pool's name, as in the policy.
    pub pool: String,
    /// Every worker of the pool; `None` when the fleet listing failed.
    pub workers: Option<Vec<Worker>>,
}
