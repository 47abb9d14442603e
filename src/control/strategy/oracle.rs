//! The clairvoyant strategy: follows a plan computed from the whole trace in advance.
//!
//! Not deployable; it shows how far an online controller is from the best possible. The plan
//! (built by `sim::clairvoyant`) holds, for every step of the trace, how many workers beyond the
//! datacenter's static pools are needed then for every job to start within the wait SLO
//! (command pools fill first, then EC2). At each tick the oracle keeps the most that will be
//! needed between now and one boot time plus one tick ahead: it launches exactly early enough,
//! and keeps an idle worker only while it will be needed again sooner than a relaunch would
//! take.

use std::time::Duration;

use crate::model::Timestamp;
use crate::policy::Policy;

use crate::control::decision::FleetPlan;
use crate::control::decision::{Reason, ReasonKind};

/// Workers beyond the static pools needed over time, from the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct OraclePlan {
    /// Time of `need[0]`.
    pub start: Timestamp,
    /// Spacing of `need`.
    pub step: Duration,
    /// Workers beyond the static pools needed at `start + i × step`.
    pub need: Vec<u32>,
}

impl OraclePlan {
    /// The largest need in `[from, to]`.
    pub fn max_need(&self, from: Timestamp, to: Timestamp) -> u32 {
        let step = self.step.as_millis().max(1) as i64;
        let idx = |t: Timestamp| (t.as_millis() - self.start.as_millis()).div_euclid(step);
        let (a, b) = (idx(from).max(0) as usize, idx(to).max(0) as usize);
        if a >= self.need.len() {
            return 0;
        }
        self.need[a..=b.min(self.need.len() - 1)]
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

/// The oracle's plan for this tick.
pub fn plan(policy: &Policy, plan: &OraclePlan, now: Timestamp) -> FleetPlan {
    let boot = policy.boot_reference();
    let horizon = boot + policy.control.interval;
    let target = plan.max_need(now, now.plus(horizon));
    FleetPlan::resize(
        target,
        Reason::new(
            ReasonKind::Oracle,
            format!(
                "oracle: {target} workers beyond the datacenter needed within the next {}s",
                horizon.as_secs()
            ),
        ),
    )
}
