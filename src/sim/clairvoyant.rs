//! The clairvoyant oracle's plan: from the whole trace, the workers beyond the static pools
//! needed in each step so that every job starts within the wait SLO.
//!
//! The plan replays the trace once through a lazy FIFO schedule with a capacity that grows only
//! when it must: a job starts at once while a worker is free (the static pools are always
//! there), otherwise it waits for the next job to end, and a job that has waited the whole SLO
//! gets a worker of its own. At each step boundary the capacity falls back to what is running.
//! The plan for a step is the most capacity the step used, beyond the static pools, at EC2
//! speed: the least any controller that knew the future could hold without a job waiting past
//! the SLO (up to the speed of the pool that runs it), where planning for zero wait would hold
//! capacity for every instantaneous peak.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use crate::control::strategy::oracle::OraclePlan;
use crate::model::Timestamp;
use crate::policy::Policy;

use super::SpeedChange;
use super::demand::{ec2_speed, static_capacity};
use super::trace::Job;

/// The oracle's plan for `jobs` (sorted by submission), in steps of `step`, allowing each job
/// to wait up to `policy.target.wait_slo`.
pub fn oracle_plan(
    policy: &Policy,
    changes: &[SpeedChange],
    jobs: &[Job],
    step: Duration,
) -> OraclePlan {
    let step_ms = step.as_millis().max(1) as i64;
    let wait_ms = policy.target.wait_slo.as_millis() as i64;
    let floor = |t: i64| static_capacity(policy, changes, t).floor() as i64;
    let end = jobs
        .iter()
        .map(|j| j.submit_ms + wait_ms + (j.duration_s * 1000.0) as i64)
        .max()
        .unwrap_or(0);
    let bins = (end / step_ms + 1) as usize;
    let mut peak = vec![0i64; bins];
    let mut ends: BinaryHeap<Reverse<i64>> = BinaryHeap::new();
    let mut waiting: VecDeque<&Job> = VecDeque::new();
    let (mut next, mut capacity, mut bin) = (0usize, floor(0), 0usize);
    let start = |job: &Job, at: i64, ends: &mut BinaryHeap<Reverse<i64>>| {
        ends.push(Reverse(at + (job.duration_s * 1000.0) as i64));
    };
    loop {
        let arrival = jobs.get(next).map_or(i64::MAX, |j| j.submit_ms);
        let done = ends.peek().map_or(i64::MAX, |r| r.0);
        let deadline = waiting.front().map_or(i64::MAX, |j| j.submit_ms + wait_ms);
        let boundary = (bin as i64 + 1) * step_ms;
        let now = arrival.min(done).min(deadline).min(boundary);
        if now == i64::MAX || bin >= bins {
            break;
        }
        if now == boundary {
            // A new step: capacity falls back to what runs (never below the static pools).
            bin += 1;
            capacity = (ends.len() as i64).max(floor(now));
        } else if now == done {
            ends.pop();
            if let Some(job) = waiting.pop_front() {
                start(job, now, &mut ends);
            }
        } else if now == arrival {
            let job = &jobs[next];
            next += 1;
            if (ends.len() as i64) < capacity {
                start(job, now, &mut ends);
            } else {
                waiting.push_back(job);
            }
        } else if let Some(job) = waiting.pop_front() {
            // Waited the whole SLO: it needs a worker of its own now.
            capacity += 1;
            start(job, now, &mut ends);
        }
        // Capacity never falls below what runs: it is the level the step holds.
        debug_assert!(ends.len() as i64 <= capacity);
        if bin < bins {
            peak[bin] = peak[bin].max(capacity);
        }
    }
    let speed = ec2_speed(policy);
    let need = peak
        .iter()
        .enumerate()
        .map(|(b, &p)| {
            let beyond = p as f64 - static_capacity(policy, changes, b as i64 * step_ms);
            (beyond.max(0.0) / speed).ceil() as u32
        })
        .collect();
    OraclePlan {
        start: Timestamp(0),
        step,
        need,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::trace::JobClass;

    fn job(submit_s: f64, duration_s: f64) -> Job {
        Job {
            submit_ms: (submit_s * 1000.0) as i64,
            duration_s,
            class: JobClass::Interactive,
            queue: 0,
        }
    }

    #[test]
    fn a_burst_of_long_jobs_needs_a_worker_each_once_the_slo_runs_out() {
        let policy = crate::policy::embedded_default();
        // 50 simultaneous jobs at t=100 s for 10 minutes: 10 wait for the 40 datacenter workers
        // until the 30 s SLO runs out, then need 10 more workers, /0.8 speed → 13.
        let jobs: Vec<Job> = (0..50).map(|_| job(100.0, 600.0)).collect();
        let plan = oracle_plan(&policy, &[], &jobs, Duration::from_secs(15));
        assert_eq!(plan.max_need(Timestamp(0), Timestamp(119_000)), 0);
        assert_eq!(plan.max_need(Timestamp(120_000), Timestamp(134_000)), 13);
        assert_eq!(plan.max_need(Timestamp(400_000), Timestamp(400_000)), 13);
        assert_eq!(plan.max_need(Timestamp(760_000), Timestamp(800_000)), 0);
    }

    #[test]
    fn a_short_peak_waits_for_the_jobs_ending_within_the_slo() {
        let policy = crate::policy::embedded_default();
        // 40 jobs of 20 s fill the datacenter at 0 s; 45 jobs of 60 s arrive at 10 s. 40 of
        // them take the workers freed at 20 s (a 10 s wait); 5 wait until the SLO runs out at
        // 40 s and need workers of their own: 5 / 0.8 → 7. Planning for zero wait would have
        // asked for ceil(45 / 0.8) = 57 at 10 s.
        let mut jobs: Vec<Job> = (0..40).map(|_| job(0.0, 20.0)).collect();
        jobs.extend((0..45).map(|_| job(10.0, 60.0)));
        let plan = oracle_plan(&policy, &[], &jobs, Duration::from_secs(15));
        assert_eq!(plan.max_need(Timestamp(0), Timestamp(29_000)), 0);
        assert_eq!(plan.max_need(Timestamp(30_000), Timestamp(44_000)), 7);
    }
}
