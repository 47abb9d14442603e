//! Launch-only ticks: with `control.launch_interval`, the loop ticks that often, and the ticks
//! between two full ones (every `control.interval`) only launch.
//!
//! A spike shows first as a queue the fleet on hand cannot drain within the SLO. Seen on a
//! 60 s loop, it waits up to a minute before the 3-minute boot even starts; a launch-only tick
//! every 15 s starts it sooner. Everything else keeps the full tick's cadence, so the fast
//! ticks add no noise: they record no demand, learn no throughput (their completions are
//! carried to the next full tick), time no surplus, size no forecast and never scale in. They
//! launch for the backlog rule alone ([`strategy::spillway::backlog`]), through the same caps
//! and safety rules as a full tick, and clean up lost, drained and never-booted workers as it
//! would.

use crate::model::Timestamp;
use crate::policy::{Policy, Strategy};

use super::allocate;
use super::batch;
use super::decision::{Decision, FleetPlan, Reason, ReasonKind, Step};
use super::facts::{Facts, QueueStatus};
use super::memory::ControlMemory;
use super::observation::Observation;
use super::strategy;

/// Whether the tick at `now` is a launch-only one: the policy has a `launch_interval`, the
/// strategy is spillway, and the last full tick was less than an `interval` ago (half a launch
/// interval of slack, for a live loop's jitter).
pub fn is_launch_only(policy: &Policy, memory: &ControlMemory, now: Timestamp) -> bool {
    match (policy.control.launch_interval, memory.last_full_tick) {
        (Some(every), Some(last)) if matches!(policy.control.strategy, Strategy::Spillway) => {
            now.since(last) + every / 2 < policy.control.interval
        }
        _ => false,
    }
}

/// A launch-only tick (see the module's documentation).
pub fn decide(
    policy: &Policy,
    obs: &Observation,
    mut memory: ControlMemory,
    now: Timestamp,
    finish: impl FnOnce(&mut Decision, &Facts),
) -> Step {
    let facts = Facts::gather(policy, obs, now);
    for boot in &obs.boots {
        memory.record_boot(*boot);
    }
    // The next full tick learns the throughput from every completion since the last one.
    memory.completed_between = memory
        .completed_between
        .zip(obs.completed)
        .map(|(a, b)| a.saturating_add(b));
    let plan = plan(policy, obs, &facts, &mut memory);
    let mut decision = allocate::plan_actions(policy, obs, &facts, &memory.ledger, plan, now);
    finish(&mut decision, &facts);
    memory.ledger.record_launches(now, decision.launched());
    Step { decision, memory }
}

/// What a launch-only tick asks for: the workers for the backlog the fleet cannot drain, on
/// top of everything there (a batch's workers included), or holding as it is.
fn plan(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    memory: &mut ControlMemory,
) -> FleetPlan {
    if let Some(why) = &obs.paused {
        return FleetPlan::hold(Reason::new(
            ReasonKind::Paused,
            format!("scaling is paused ({why}); observing, not acting"),
        ));
    }
    if facts.queue_status != QueueStatus::Fresh {
        return FleetPlan::hold(Reason::new(
            ReasonKind::BetweenTicks,
            "a launch-only tick without fresh queue statistics: waiting for the full tick",
        ));
    }
    let view = batch::interactive_view(policy, facts, memory.batch.allotted);
    let absorbed = memory.throughput.unwrap_or(0.0) * policy.target.wait_slo.as_secs_f64();
    let add = strategy::spillway::backlog(policy, &view, memory)
        .map_or(0, |unserved| (unserved - absorbed).ceil().max(0.0) as u32);
    if add == 0 {
        return FleetPlan::hold(Reason::new(
            ReasonKind::BetweenTicks,
            "a launch-only tick: no backlog beyond idle and booting workers that the fleet \
             cannot drain within the SLO",
        ));
    }
    FleetPlan::resize(
        facts.scalable_capacity(policy) + add,
        Reason::new(
            ReasonKind::Backlog,
            format!(
                "{:.0} jobs waiting, {add} more than idle and booting workers drain within the \
                 SLO (a launch-only tick)",
                facts.queue_latest.visible
            ),
        ),
    )
}
