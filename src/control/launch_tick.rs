//! Launch-only ticks: with `control.launch_interval`, the loop ticks that often, and the ticks
//! between two full ones (every `control.interval`) only launch.
//!
//! A spike shows first as a queue the fleet on hand cannot drain within the SLO. Seen on a
//! 60 s loop, it waits up to a minute before the 3-minute boot even starts; a launch-only tick
//! every 15 s starts it sooner. Everything else keeps the full tick's cadence, so the fast
//! ticks add no noise: a launch-only tick decides the full tick on a copy of the memory and
//! keeps its decision only when it launches and removes nothing. The copy is dropped: no
//! demand is recorded, no throughput learned (the completions are carried to the next full
//! tick), no surplus timed, and nothing is ever scaled in between full ticks. The launches go
//! through the same caps (`max_launch_per_tick` is per tick, launch-only ones included) and
//! are entered in the ledger.
//!
//! Measured (docs/RESULTS.md § Launch-only ticks): a 60 s loop with launch-only ticks every
//! 15 s bills 17–24% less than the 60 s loop alone on `spike-shift` and 0.4–4.5% less on
//! `flash-crowd` (seeds 1–3, each at its cheapest SLO-meeting ratio), and about the same on
//! steady days.

use crate::model::Timestamp;
use crate::policy::{Policy, Strategy};

use super::decision::{Action, Reason, ReasonKind, Step};
use super::facts::Facts;
use super::memory::ControlMemory;
use super::observation::Observation;

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

/// A launch-only tick (see the module's documentation): the full tick is decided on a copy of
/// the memory, and its launches are kept when it launches and removes nothing; the copy is
/// dropped, so the slow state moves only on full ticks.
pub fn decide(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    mut memory: ControlMemory,
    now: Timestamp,
    full_tick: fn(&Policy, &Observation, &Facts, ControlMemory, Timestamp) -> Step,
) -> Step {
    let trial = full_tick(policy, obs, facts, memory.clone(), now);
    for boot in &obs.boots {
        memory.record_boot(*boot);
    }
    // The next full tick learns the throughput from every completion since the last one.
    memory.completed_between = memory
        .completed_between
        .zip(obs.completed)
        .map(|(a, b)| a.saturating_add(b));
    let launches = trial.decision.launched() > 0;
    let removes = trial
        .decision
        .actions
        .iter()
        .any(|a| matches!(a, Action::Terminate { .. } | Action::Drain { .. }));
    let decision = if launches && !removes {
        trial.decision
    } else {
        let reason = Reason::new(
            ReasonKind::BetweenTicks,
            "a launch-only tick: a full tick would launch nothing now",
        );
        super::holding(reason, facts)
    };
    memory.record_launches(now, decision.launched());
    Step { decision, memory }
}
