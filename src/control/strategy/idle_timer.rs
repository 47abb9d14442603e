//! The break-even idle timer: a scalable worker idle for longer than it would cost to relaunch
//! goes, down to the launch target, without waiting for the fleet's surplus to last
//! `scale_in_after` (ski rental, as in AutoScale's delayed-off, TOCS 2012).
//!
//! Relaunching a worker costs one boot, billed, plus EC2's 60 s billing minimum: an idle worker
//! kept longer than that has cost more than one relaunch would. So the timer starts at that
//! break-even time and is learned from whether the workers it let go were needed again: a
//! launch within one reaction time (boot plus interval) of a cut makes it a quarter longer (a
//! farm whose demand comes back in crowds keeps its idle workers), a cut that needed no
//! launch makes it a tenth shorter, never below the break-even time nor above an hour.
//!
//! Only idle workers go (longest idle first, EC2 before command pools: the victims' rule), never
//! below the launch target, which holds the policy's headroom over the demand expected one boot
//! from now, and only on full ticks with data fit to scale in on. The slower surplus rule
//! (`scale_in_after` over the mean and recent peak of demand) stays for a surplus spread over
//! workers that each take a job now and then.
//!
//! Measured (docs/RESULTS.md § The break-even idle timer, compare-all seeds 1–3): against the
//! surplus rule alone, each at its cheapest SLO-meeting ratio, 28 of 39 workload-seed cells
//! cheaper by up to 4.7% (flash-crowd seed 3 from 1.031 to 0.982× HPA), 9 dearer by at most
//! 1.0%.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{Timestamp, WorkerState};
use crate::policy::Policy;

use crate::control::decision::{FleetPlan, Reason, ReasonKind};
use crate::control::facts::Facts;
use crate::control::observation::Observation;

/// EC2's billing minimum: a relaunched instance is billed at least this long.
const BILLING_MINIMUM: Duration = Duration::from_secs(60);
/// The longest the timer grows to.
pub const MAX_TIMER: Duration = Duration::from_secs(3600);
/// How much longer a cut that was followed by a launch makes the timer.
const REGRET_GROWTH: f64 = 1.25;
/// How much shorter a cut that needed no launch makes it.
const CONFIRMED_SHRINK: f64 = 0.9;

/// What the idle timer remembers between ticks (saved with the rest of the memory, so a
/// restart keeps what it learned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleTimer {
    /// How long a worker may idle, learned; `None` until the first lesson (then the
    /// break-even time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Duration>,
    /// The cut being judged: when it was, and whether anything was launched since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<IdleCut>,
}

/// A cut by the idle timer, not judged yet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdleCut {
    pub at: Timestamp,
    /// Whether a launch was decided at or after `at`.
    pub relaunched: bool,
}

/// The break-even idle time for workers that take `boot` to become ready.
pub fn break_even(boot: Duration) -> Duration {
    boot + BILLING_MINIMUM
}

impl IdleTimer {
    /// How long a worker may idle now.
    pub fn current(&self, boot: Duration) -> Duration {
        self.after.unwrap_or_else(|| break_even(boot))
    }

    /// Notes `count` launches decided (on any tick): a pending cut was premature.
    pub fn note_launches(&mut self, count: u32) {
        if let Some(cut) = &mut self.cut
            && count > 0
        {
            cut.relaunched = true;
        }
    }

    /// Judges the pending cut, if it can be: relaunched, the timer grows; quiet for a whole
    /// `reaction`, it shrinks.
    pub fn learn(&mut self, now: Timestamp, reaction: Duration, boot: Duration) {
        let Some(cut) = self.cut else { return };
        let timer = self.current(boot);
        let lesson = if cut.relaunched {
            timer.mul_f64(REGRET_GROWTH)
        } else if now.since(cut.at) > reaction {
            timer.mul_f64(CONFIRMED_SHRINK).max(break_even(boot))
        } else {
            return;
        };
        self.after = Some(lesson.min(MAX_TIMER));
        self.cut = None;
    }
}

/// Scalable workers idle since `before` or earlier.
fn idle_since(policy: &Policy, obs: &Observation, before: Timestamp) -> u32 {
    let mut n = 0;
    for (pool, listed) in policy.pools.iter().zip(&obs.pools) {
        if pool.scaling().is_none() || listed.pool != pool.name {
            continue;
        }
        for w in listed.workers.iter().flatten() {
            if matches!(w.state, WorkerState::Idle { since } if since <= before) {
                n += 1;
            }
        }
    }
    n
}

/// The cut for this tick, if any: the workers idle past the timer, down to the launch target
/// `desired`. Judges the previous cut first.
#[allow(clippy::too_many_arguments)]
pub fn cut(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    timer: &mut IdleTimer,
    now: Timestamp,
    (boot, reaction): (Duration, Duration),
    desired: u32,
    scalable: u32,
) -> Option<FleetPlan> {
    timer.learn(now, reaction, boot);
    let capacity = facts.capacity();
    if capacity <= desired || !facts.scale_in_safe() {
        return None;
    }
    let after = timer.current(boot);
    let before = now.as_millis().checked_sub(after.as_millis() as i64)?;
    let idle = idle_since(policy, obs, Timestamp(before));
    let k = idle.min(capacity - desired).min(scalable);
    if k == 0 {
        return None;
    }
    timer.cut.get_or_insert(IdleCut {
        at: now,
        relaunched: false,
    });
    Some(FleetPlan::resize(
        scalable - k,
        Reason::new(
            ReasonKind::IdleTimer,
            format!(
                "{k} of {idle} workers idle for {}s or more go (relaunching one costs a \
                 {}s boot and the billing minimum; learned from the cuts since), down to the \
                 launch target {desired}, have {capacity}",
                after.as_secs(),
                boot.as_secs()
            ),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ControlMemory;

    const BOOT: Duration = Duration::from_secs(180);

    #[test]
    fn what_was_learned_survives_a_restart_and_an_older_state_file_loads_without_it() {
        let mut memory = ControlMemory::default();
        memory.idle_timer.after = Some(Duration::from_secs(375));
        memory.idle_timer.cut = Some(IdleCut {
            at: Timestamp(60_000),
            relaunched: true,
        });
        let saved = serde_json::to_string(&memory).unwrap();
        let loaded: ControlMemory = serde_json::from_str(&saved).unwrap();
        assert_eq!(loaded.idle_timer, memory.idle_timer);
        let mut older: serde_json::Value = serde_json::from_str(&saved).unwrap();
        older.as_object_mut().unwrap().remove("idle_timer");
        let loaded: ControlMemory = serde_json::from_value(older).unwrap();
        assert_eq!(loaded.idle_timer.current(BOOT), break_even(BOOT));
    }

    #[test]
    fn the_timer_grows_to_an_hour_at_most_and_shrinks_to_the_break_even_time_at_least() {
        let mut t = IdleTimer::default();
        for i in 0..40 {
            t.cut = Some(IdleCut {
                at: Timestamp(i),
                relaunched: false,
            });
            t.note_launches(1);
            t.learn(Timestamp(i), Duration::from_secs(240), BOOT);
        }
        assert_eq!(t.current(BOOT), MAX_TIMER);
        for i in 0..80 {
            t.cut = Some(IdleCut {
                at: Timestamp(0),
                relaunched: false,
            });
            t.note_launches(0);
            t.learn(Timestamp(241_000 + i), Duration::from_secs(240), BOOT);
        }
        assert_eq!(t.current(BOOT), break_even(BOOT));
        // Not judged before a whole reaction time has passed.
        t.after = Some(Duration::from_secs(500));
        t.cut = Some(IdleCut {
            at: Timestamp(0),
            relaunched: false,
        });
        t.learn(Timestamp(239_000), Duration::from_secs(240), BOOT);
        assert_eq!(t.current(BOOT), Duration::from_secs(500));
        assert!(t.cut.is_some());
    }
}
