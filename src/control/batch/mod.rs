//! Batch (backfill) work: served after interactive work, on spare capacity, and on EC2 only as
//! far as the policy's `[batch]` rules allow.
//!
//! Two steps around the strategy. [`interactive_view`] shows the strategy the farm as
//! interactive work sees it: workers running batch jobs count as free (interactive jobs take
//! the next free worker, so a batch job delays them by one batch job at most) and the EC2
//! workers allotted to the batch are left out. [`plan`] then adds the batch's own EC2
//! allotment to the strategy's target. The allotment counts scalable workers: like every
//! launch it fills command pools before EC2, and `max_ec2` / `max_usd` bound it as if it were
//! all EC2 (a conservative bound when command pools serve part of it):
//! - no rule: none; the batch runs on spare capacity only, and EC2 workers the interactive
//!   target does not need are drained even while busy with batch jobs;
//! - `deadline`: the fewest workers that finish the backlog in the time left, at the measured
//!   batch throughput per worker, less the spare capacity the batch already has;
//! - `max_ec2`: at most that many (alone: exactly that many while a backlog remains);
//! - `max_usd`: no more than the batch can pay for until it finishes, and nothing once spent.
//!
//! The batch's spend is the hourly price of its allotment integrated over time.

pub mod memory;
pub mod rules;

pub use memory::BatchMemory;

use std::borrow::Cow;

use crate::model::Timestamp;
use crate::policy::Policy;

use crate::control::decision::FleetPlan;
use crate::control::decision::{Reason, ReasonKind};
use crate::control::facts::{Facts, PoolFacts};
use crate::control::memory::ControlMemory;
use rules::Supply;

/// Weight of the newest throughput measurement in the smoothed rate.
const RATE_WEIGHT: f64 = 0.3;

/// The facts as interactive work sees them: batch-busy workers are free, and `allotted` EC2
/// workers (the batch's own) are left out.
pub fn interactive_view<'f>(policy: &Policy, facts: &'f Facts, allotted: u32) -> Cow<'f, Facts> {
    if facts.batch.is_none() && allotted == 0 {
        // No batch and nothing allotted: the farm as it is (nothing to move or leave out).
        return Cow::Borrowed(facts);
    }
    let mut view = facts.clone();
    let Some(batch) = facts.batch else {
        // Unknown batch queue: keep the allotment out of the view all the same.
        remove_allotment(policy, &mut view, allotted);
        return Cow::Owned(view);
    };
    // Batch jobs are taken datacenter first: convert their workers there first.
    let mut left = (batch.in_flight.round().max(0.0) as u32).min(facts.busy);
    for i in policy.dispatch_order() {
        let pf = &mut view.pools[i];
        let n = left.min(pf.busy);
        pf.busy -= n;
        pf.idle += n;
        left -= n;
    }
    remove_allotment(policy, &mut view, allotted);
    Cow::Owned(view)
}

/// Leaves `allotted` scalable workers out of the view in scale-in order (last EC2 pool first,
/// command pools last), idle ones first.
fn remove_allotment(policy: &Policy, view: &mut Facts, allotted: u32) {
    let mut left = allotted;
    for i in policy.launch_order().into_iter().rev() {
        let pf: &mut PoolFacts = &mut view.pools[i];
        for count in [&mut pf.idle, &mut pf.booting, &mut pf.unknown, &mut pf.busy] {
            let n = left.min(*count);
            *count -= n;
            left -= n;
        }
    }
    view.busy = view.pools.iter().map(|p| p.busy).sum();
    view.idle = view.pools.iter().map(|p| p.idle).sum();
    view.booting = view.pools.iter().map(|p| p.booting).sum();
    view.unknown = view.pools.iter().map(|p| p.unknown).sum();
}

/// Adds the batch's EC2 allotment to the strategy's `plan` (made on `view`).
pub fn plan(
    policy: &Policy,
    facts: &Facts,
    view: &Facts,
    control: &mut ControlMemory,
    plan: FleetPlan,
    now: Timestamp,
) -> FleetPlan {
    let boot = control.boot_estimate(crate::control::strategy::spillway::configured_boot(policy));
    let (memory, profile) = (&mut control.batch, &control.profile);
    let view_ec2 = view.scalable_capacity(policy);
    let held = facts.scalable_capacity(policy).saturating_sub(view_ec2);
    let Some(batch) = facts.batch else {
        if memory.allotted == 0 {
            return plan;
        }
        // The batch queue cannot be read: keep the allotment as it is, no more, no less.
        return with_allotment(plan, view_ec2, held, memory.allotted, || {
            Reason::new(
                ReasonKind::MissingQueue,
                "batch queue statistics are missing; keeping the batch's EC2 workers as they are",
            )
        });
    };
    let cost_per_s = policy
        .first_ec2()
        .map_or(0.0, |(i, _)| policy.pools[i].budget_price())
        / 3600.0;
    if let Some((at, _)) = memory.last {
        // The batch pays for its allotment; the interactive fleet's headroom it borrows is
        // paid for by interactive work anyway.
        memory.spent_usd += held as f64 * cost_per_s * now.since(at).as_secs_f64();
    }
    if batch.backlog < 0.5 {
        let was = memory.allotted;
        *memory = BatchMemory::default();
        return with_allotment(plan, view_ec2, held, 0, || {
            Reason::new(
                ReasonKind::BatchDone,
                format!("the batch is done: releasing its {was} EC2 workers"),
            )
        });
    }
    measure(memory, batch.backlog, batch.in_flight_averaged, now);
    let started = *memory.started_at.get_or_insert(now);
    let rules = &policy.batch;
    let (extra, reason) = if rules.deadline.is_none()
        && rules.max_ec2.is_none()
        && rules.max_usd.is_none()
    {
        (
            0,
            Reason::new(
                ReasonKind::BatchSpareOnly,
                format!(
                    "{:.0} batch jobs left; no [batch] rule, so only spare capacity serves them",
                    batch.backlog
                ),
            ),
        )
    } else {
        // What the strategy keeps free at demand d, less the band it tolerates.
        let keeps = |d: f64| {
            (1.0 - policy.hysteresis.band)
                * (crate::control::strategy::spillway::with_headroom(policy, d, 0.0) as f64 - d)
        };
        let supply = Supply {
            headroom: &keeps,
            static_workers: facts.static_ready as f64,
            interactive_now: facts.queue_averaged.in_flight + facts.queue_averaged.visible,
            profile,
            batch_running: batch.in_flight,
        };
        let (want, reason) = rules::allotment(
            policy,
            memory,
            &supply,
            batch.backlog,
            started,
            boot,
            cost_per_s,
            now,
        );
        settle(policy, memory, want, reason, now)
    };
    memory.allotted = extra;
    with_allotment(plan, view_ec2, held, extra, || reason)
}

/// Hysteresis on the allotment: more at once (a deadline is at stake); fewer only once the wish
/// for fewer has lasted `scale_in_after`, and then only down to the most wanted over that time;
/// a spent `max_usd` cuts at once. Draining and relaunching would cost a boot each time.
fn settle(
    policy: &Policy,
    memory: &mut BatchMemory,
    want: u32,
    reason: Reason,
    now: Timestamp,
) -> (u32, Reason) {
    let spent = policy
        .batch
        .max_usd
        .is_some_and(|max| memory.spent_usd >= max);
    if want >= memory.allotted || spent {
        memory.lower = None;
        return (want, reason);
    }
    let (since, most) = match memory.lower {
        Some((since, most)) => (since, most.max(want)),
        None => (now, want),
    };
    let wait = policy.hysteresis.scale_in_after;
    if now.since(since) >= wait {
        memory.lower = None;
        return (most, reason);
    }
    memory.lower = Some((since, most));
    let kept = memory.allotted;
    let text = format!(
        "{} (keeping {kept} until fewer has been enough for {}s)",
        reason.text,
        wait.as_secs()
    );
    (kept, Reason::new(reason.kind, text))
}

/// Folds the backlog's fall since the previous tick into the per-worker rate.
fn measure(memory: &mut BatchMemory, backlog: f64, workers: f64, now: Timestamp) {
    if let Some((at, before)) = memory.last {
        let dt = now.since(at).as_secs_f64();
        // A rising backlog is still being submitted: no throughput reading this tick.
        if dt > 0.0 && before > backlog && workers >= 0.5 {
            let rate = (before - backlog) / dt / workers;
            memory.rate_per_worker = Some(match memory.rate_per_worker {
                Some(old) => (1.0 - RATE_WEIGHT) * old + RATE_WEIGHT * rate,
                None => rate,
            });
        }
    }
    memory.last = Some((now, backlog));
}

/// `plan` with the batch's `extra` EC2 workers on top of the interactive target. When the
/// interactive plan holds and only the batch changes, the batch's reason drives the action.
fn with_allotment(
    plan: FleetPlan,
    view_ec2: u32,
    held: u32,
    extra: u32,
    reason: impl FnOnce() -> Reason,
) -> FleetPlan {
    match plan.scalable_target {
        Some(target) => FleetPlan::resize(target + extra, plan.reason),
        None if extra == held => plan,
        None => FleetPlan::resize(view_ec2 + extra, reason()),
    }
}
