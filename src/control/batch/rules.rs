//! The `[batch]` rules: how many EC2 workers a running batch may have.
//!
//! - `deadline`: the fewest workers that finish the backlog in time. The work left (backlog
//!   over the measured throughput per worker) is first set against the worker-seconds
//!   interactive work is expected to leave free until the deadline (idle datacenter workers and
//!   the interactive fleet's headroom, following the learned time-of-day profile, so quiet
//!   evenings and nights count); EC2 covers the rest, spread over the time left after a boot.
//! - `max_ec2`: at most that many (alone: that many while a backlog remains).
//! - `max_usd`: no more than the rest of the batch's budget pays for until it finishes.
//!
//! The reason of the result names the rule that set it.

use std::time::Duration;

use crate::model::Timestamp;
use crate::policy::Policy;

use super::memory::BatchMemory;
use crate::control::decision::{Reason, ReasonKind};
use crate::control::memory::TimeOfDayProfile;

/// The deadline plan aims to finish with this share of the time left, for throughput noise.
const DEADLINE_MARGIN: f64 = 0.9;
/// Step of the integration of spare datacenter capacity over the time left.
const SUPPLY_STEP: Duration = Duration::from_secs(300);
/// The profile may scale today's interactive demand by at most this factor either way.
const MAX_PROFILE_RATIO: f64 = 4.0;

/// Capacity the batch gets without EC2 workers of its own: datacenter workers interactive work
/// leaves free, and the free headroom the interactive fleet keeps (batch jobs fill it until
/// interactive jobs need it).
pub struct Supply<'a> {
    /// Ready datacenter workers.
    pub static_workers: f64,
    /// Free workers the interactive fleet keeps at a demand: `free_at(d)`.
    pub headroom: &'a dyn Fn(f64) -> f64,
    /// Interactive demand now (busy plus waiting, window mean).
    pub interactive_now: f64,
    /// Interactive demand by time of day, learned across days.
    pub profile: &'a TimeOfDayProfile,
    /// Batch jobs running now.
    pub batch_running: f64,
}

impl Supply<'_> {
    /// Spare workers at interactive demand `d`.
    fn spare_at(&self, d: f64) -> f64 {
        (self.static_workers - d).max((self.headroom)(d)).max(0.0)
    }

    /// Spare workers now.
    pub fn spare_now(&self) -> f64 {
        self.spare_at(self.interactive_now)
    }

    /// Expected spare worker-seconds from `now` to `to`: today's demand follows
    /// the profile's shape (or stays as now, before a whole day has been learned).
    pub fn spare_seconds(&self, now: Timestamp, to: Timestamp) -> f64 {
        let base = self.profile.at(now);
        let mut t = now;
        let mut total = 0.0;
        while t < to {
            let step = SUPPLY_STEP.min(to.since(t));
            let demand = match (base, self.profile.at(t)) {
                (Some(a), Some(b)) if a >= 1.0 => {
                    self.interactive_now * (b / a).clamp(1.0 / MAX_PROFILE_RATIO, MAX_PROFILE_RATIO)
                }
                _ => self.interactive_now,
            };
            total += self.spare_at(demand) * step.as_secs_f64();
            t = t.plus(step);
        }
        total
    }
}

/// The batch's EC2 allotment under the rules, with the reason naming the rule that set it.
#[allow(clippy::too_many_arguments)]
pub fn allotment(
    policy: &Policy,
    memory: &BatchMemory,
    supply: &Supply,
    backlog: f64,
    started: Timestamp,
    boot: Duration,
    cost_per_s: f64,
    now: Timestamp,
) -> (u32, Reason) {
    let rules = &policy.batch;
    let Some(rate) = memory.rate_per_worker.filter(|r| *r > 0.0) else {
        // Without a measured throughput only `max_ec2` alone can size the batch. Otherwise the
        // batch is measured first: on the workers already running it or free for it, or else on
        // one EC2 worker.
        if rules.deadline.is_none() && rules.max_usd.is_none() {
            let max = rules.max_ec2.unwrap_or(0);
            return (
                max,
                Reason::new(
                    ReasonKind::BatchMaxEc2,
                    format!("{backlog:.0} batch jobs: {max} EC2 workers (batch.max_ec2)"),
                ),
            );
        }
        let probe = if supply.batch_running >= 0.5 || supply.spare_now() >= 1.0 {
            memory.allotted
        } else {
            memory
                .allotted
                .max(1)
                .min(rules.max_ec2.unwrap_or(u32::MAX))
        };
        return (
            probe,
            Reason::new(
                ReasonKind::BatchMeasuring,
                format!(
                    "{backlog:.0} batch jobs queued; measuring batch throughput on {:.0} worker(s) before sizing",
                    supply.batch_running.max(probe as f64)
                ),
            ),
        );
    };
    let spare = supply.spare_now();
    let pool_max: u32 = policy
        .pools
        .iter()
        .filter_map(|p| p.ec2())
        .map(|e| e.max)
        .sum();
    let (mut extra, mut reason) = match rules.deadline {
        Some(deadline) => {
            let left = deadline.saturating_sub(now.since(started));
            let usable = left
                .saturating_sub(boot)
                .mul_f64(DEADLINE_MARGIN)
                .max(Duration::from_secs(60));
            let work = backlog / rate;
            let free = supply.spare_seconds(now, now.plus(left.mul_f64(DEADLINE_MARGIN)));
            let extra = ((work - free) / usable.as_secs_f64()).ceil().max(0.0) as u32;
            (
                extra.min(pool_max),
                Reason::new(
                    ReasonKind::BatchDeadline,
                    format!(
                        "{backlog:.0} batch jobs, {}s to the deadline, {rate:.3} jobs/s per worker: \
                         {:.1} worker-hours of work, {:.1} expected spare on hand, \
                         so {extra} EC2 (batch.deadline)",
                        left.as_secs(),
                        work / 3600.0,
                        free / 3600.0,
                    ),
                ),
            )
        }
        None => (
            rules.max_ec2.unwrap_or(pool_max),
            Reason::new(
                ReasonKind::BatchMaxEc2,
                format!("{backlog:.0} batch jobs: as many EC2 workers as the batch rules allow"),
            ),
        ),
    };
    if let Some(max) = rules.max_ec2
        && extra > max
    {
        extra = max;
        reason = Reason::new(
            ReasonKind::BatchMaxEc2,
            format!("{backlog:.0} batch jobs: {max} EC2 workers at most (batch.max_ec2)"),
        );
    }
    if let Some(max_usd) = rules.max_usd {
        let left_usd = max_usd - memory.spent_usd;
        let affordable = affordable_workers(left_usd, backlog, rate, spare, cost_per_s, boot);
        if extra > affordable {
            extra = affordable;
            reason = Reason::new(
                ReasonKind::BatchBudget,
                format!(
                    "{backlog:.0} batch jobs: ${:.2} of ${max_usd:.2} spent, {affordable} EC2 workers \
                     affordable until the batch is done (batch.max_usd)",
                    memory.spent_usd
                ),
            );
        }
    }
    (extra, reason)
}

/// The most EC2 workers `e` whose cost until the backlog is done stays within `left_usd`:
/// `e × c × (boot + B / (r (s + e))) ≤ left`.
pub fn affordable_workers(
    left_usd: f64,
    backlog: f64,
    rate: f64,
    spare: f64,
    cost_per_s: f64,
    boot: Duration,
) -> u32 {
    if left_usd <= 0.0 {
        return 0;
    }
    if cost_per_s <= 0.0 {
        return u32::MAX;
    }
    let cost = |e: f64| e * cost_per_s * (boot.as_secs_f64() + backlog / (rate * (spare + e)));
    // The cost rises with e; search the largest affordable count.
    let (mut lo, mut hi) = (0u32, 1u32);
    while cost(hi as f64) <= left_usd && hi < 1 << 20 {
        lo = hi;
        hi *= 2;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if cost(mid as f64) <= left_usd {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affordable_workers_respect_the_remaining_budget() {
        let boot = Duration::from_secs(180);
        let c = 0.34 / 3600.0;
        // 10,000 jobs at 0.25 jobs/s per worker, 20 spare: cost grows with e.
        let e = affordable_workers(20.0, 10_000.0, 0.25, 20.0, c, boot);
        let cost = |e: f64| e * c * (180.0 + 10_000.0 / (0.25 * (20.0 + e)));
        assert!(
            cost(e as f64) <= 20.0 && cost(e as f64 + 1.0) > 20.0,
            "e = {e}"
        );
        assert_eq!(affordable_workers(0.0, 10_000.0, 0.25, 20.0, c, boot), 0);
        assert_eq!(affordable_workers(-1.0, 10_000.0, 0.25, 20.0, c, boot), 0);
    }

    #[test]
    fn without_a_profile_the_spare_capacity_of_now_is_assumed_to_last() {
        let profile = TimeOfDayProfile::default();
        let none = |_: f64| 0.0;
        let s = Supply {
            headroom: &none,
            static_workers: 40.0,
            interactive_now: 30.0,
            profile: &profile,
            batch_running: 0.0,
        };
        let now = Timestamp::from_millis(0);
        let hour = now.plus(Duration::from_secs(3600));
        assert_eq!(s.spare_now(), 10.0);
        assert!((s.spare_seconds(now, hour) - 36_000.0).abs() < 1e-6);
        let quarter = |d: f64| 0.25 * d;
        let busy = Supply {
            headroom: &quarter,
            static_workers: 40.0,
            interactive_now: 80.0,
            profile: &profile,
            batch_running: 0.0,
        };
        assert_eq!(busy.spare_now(), 20.0, "the fleet's headroom is spare");
    }
}
