//! The decide seam: one pure function from what was observed to what to do.
//!
//! [`decide`] takes the policy, an [`Observation`], the previous [`ControlMemory`] and the time,
//! and returns a [`Step`]: the [`Decision`] and the next memory. It does no I/O, reads no clock
//! and draws no random numbers, so the live service and the simulator run exactly the same
//! code, and the same inputs always give the same decision.
//!
//! Flow: [`facts`] counts the observation; a [`strategy`] (`spillway`, `hpa`,
//! `target_tracking`, static, `oracle`) proposes a target for the scalable workers (command and EC2 pools) with a
//! reason; [`allocate`] turns it into per-pool launches and named terminations, command pools
//! filled first and drained last, under the caps of [`caps`] and the shared safety rules.
//! [`batch`] adds a backfill's own allotment to spillway's target.

pub mod allocate;
pub mod batch;
pub mod caps;
mod classes;
pub mod decision;
pub mod facts;
pub mod launch_tick;
pub mod ledger;
pub mod memory;
pub mod observation;
pub mod profile;
pub mod strategy;
mod victims;

use crate::model::Timestamp;
use crate::policy::{Policy, Strategy};

pub use decision::{Action, Decision, FleetPlan, Reason, ReasonKind, Step};
pub use facts::{Facts, QueueStatus};
pub use memory::ControlMemory;
pub use observation::{ByClass, MeasuredWait, Observation, PoolObservation, QueueObservation};

/// Decides what to do this tick. Pure: same inputs, same output.
pub fn decide(policy: &Policy, obs: &Observation, memory: &ControlMemory, now: Timestamp) -> Step {
    decide_owned(policy, obs, memory.clone(), now)
}

/// [`decide`], taking the previous memory by value: the same function for a caller that has
/// no further use for it (the simulator), without copying it every tick.
pub fn decide_owned(
    policy: &Policy,
    obs: &Observation,
    memory: ControlMemory,
    now: Timestamp,
) -> Step {
    if !policy.classes.is_empty() {
        return classes::decide(policy, obs, memory, now);
    }
    decide_farm(policy, obs, memory, now, 0.0)
}

/// [`decide_owned`] for one farm (a policy without job classes, or one class of one), whose
/// budgets also count `spend_elsewhere` dollars per hour spent by the rest of the fleet.
fn decide_farm(
    policy: &Policy,
    obs: &Observation,
    memory: ControlMemory,
    now: Timestamp,
    spend_elsewhere: f64,
) -> Step {
    let mut facts = Facts::gather(policy, obs, now);
    facts.spend_elsewhere = spend_elsewhere;
    if launch_tick::is_launch_only(policy, &memory, now) {
        return launch_tick::decide(policy, obs, &facts, memory, now, full_tick);
    }
    full_tick(policy, obs, &facts, memory, now)
}

/// A full tick: everything [`decide_owned`] does, every `control.interval`, on the
/// observation's `facts`.
fn full_tick(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    mut memory: ControlMemory,
    now: Timestamp,
) -> Step {
    let mut completed = obs.completed;
    if policy.control.launch_interval.is_some() {
        // The launch-only ticks' completions since the last full tick count with this tick's;
        // unknown if one of them could not tell.
        let between = match memory.last_full_tick {
            Some(_) => memory.completed_between,
            None => Some(0),
        };
        completed = completed.zip(between).map(|(a, b)| a.saturating_add(b));
        memory.last_full_tick = Some(now);
        memory.completed_between = Some(0);
    }
    memory.ticks = memory.ticks.saturating_add(1);
    // What EC2 cost since the previous tick (unknown while a listing fails: not counted).
    if let Some(last) = memory.last_tick
        && facts.missing_pool.is_none()
    {
        let hours = now.since(last).as_secs_f64() / 3600.0;
        memory
            .ledger
            .record_spend(now, caps::hourly_spend(policy, facts) * hours);
    }
    // A jobs-done count beyond any farm's (a hostile worker's counter) is unknown.
    let completed = completed.filter(|&n| n as f64 <= facts::MAX_MESSAGES);
    memory.record_completions(now, completed);
    for boot in &obs.boots {
        memory.record_boot(*boot);
    }
    if facts.queue_status == QueueStatus::Fresh {
        let demand = strategy::spillway::demand_sample(policy, &memory, &facts.queue_averaged);
        memory.record_demand(now, demand);
    }
    if let Some(why) = &obs.paused {
        let reason = Reason::new(
            ReasonKind::Paused,
            format!("scaling is paused ({why}); observing, not acting"),
        );
        let decision = holding(reason, facts);
        return Step { decision, memory };
    }
    // Strategies size the fleet for interactive work; the batch's allotment comes on top.
    let view = batch::interactive_view(policy, facts, memory.batch.allotted);
    let plan = strategy::plan(policy, obs, &view, &mut memory, now);
    // spillway alone sizes a batch's own EC2 allotment on top of the interactive target.
    let plan = match policy.control.strategy {
        Strategy::Spillway => batch::plan(policy, facts, &view, &mut memory, plan, now),
        _ => plan,
    };
    let mut decision = allocate::plan_actions(policy, obs, facts, &memory.ledger, plan, now);
    state_figures(&mut decision, facts);
    memory.record_launches(now, decision.launched());
    Step { decision, memory }
}

/// Holding every pool at what it has, for `reason` (paused, or a launch-only tick with nothing
/// to launch), with the decided figures.
fn holding(reason: Reason, facts: &Facts) -> Decision {
    let desired = facts.pools.iter().map(|f| f.capacity()).collect();
    let mut decision = Decision::new(vec![Action::Hold { pool: None, reason }], desired);
    state_figures(&mut decision, facts);
    decision
}

/// Ends every reason with the figures decided, the same ones `/status` and the metrics show
/// (`desired N workers, M on hand`), and, while the fleet is being learned, says so and until
/// when. The one place a reason's numbers meet the decision's.
fn state_figures(decision: &mut Decision, facts: &Facts) {
    use std::fmt::Write;
    decision.learning_until = facts.learning_until;
    for a in &mut decision.actions {
        // Written into each reason in place (a tick has one action or a few): no tail string.
        let text = &mut a.reason_mut().text;
        let _ = write!(
            text,
            "; desired {} workers, {} on hand",
            decision.desired_total,
            facts.capacity()
        );
        if let Some(until) = facts.learning_until {
            let _ = write!(
                text,
                "; learning the fleet for {}s more ({} workers not heard from yet): nothing is \
                 scaled in and no boot is judged before then",
                until.since(facts.now).as_secs_f64().ceil(),
                facts.unknown
            );
        }
    }
}
