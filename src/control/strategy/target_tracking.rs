//! Baseline: EC2 Auto Scaling target tracking on SQS backlog per instance.
//!
//! As the AWS guide describes the pattern: the metric is visible messages divided by in-service
//! instances, one datapoint a minute. Scale-out fires after `scale_out_periods` datapoints above
//! target and sets capacity proportionally, `ceil(in_service × metric / target)`; instances
//! still warming up are left out of the metric but count as capacity. Scale-in fires after
//! `scale_in_periods` datapoints below 90% of target, removes at most 10% per step, and waits
//! until no instance is warming. Missing data means no scaling (INSUFFICIENT_DATA).
//! Datacenter workers count as in-service instances, since they drain the same queue.

use std::time::Duration;

use crate::model::{Timestamp, WorkerState};
use crate::policy::Policy;

use crate::control::decision::FleetPlan;
use crate::control::decision::{Reason, ReasonKind};
use crate::control::facts::{Facts, QueueStatus};
use crate::control::memory::ControlMemory;
use crate::control::observation::Observation;

const DATAPOINT: Duration = Duration::from_secs(60);

/// The target-tracking plan for this tick.
pub fn plan(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    memory: &mut ControlMemory,
    now: Timestamp,
) -> FleetPlan {
    let tt = &policy.target_tracking;
    if facts.queue_status != QueueStatus::Fresh {
        return FleetPlan::hold(Reason::new(
            ReasonKind::MissingQueue,
            "target tracking: INSUFFICIENT_DATA, no scaling",
        ));
    }
    let state = &mut memory.target_tracking;
    let due = state
        .last_datapoint
        .is_none_or(|t| now.since(t) >= DATAPOINT);
    if !due {
        return FleetPlan::hold(Reason::new(
            ReasonKind::Baseline,
            "target tracking: waiting for the next datapoint",
        ));
    }
    state.last_datapoint = Some(now);

    let mut warming = 0u32;
    for (pool, p) in policy.pools.iter().zip(&obs.pools) {
        if pool.scaling().is_none() {
            continue;
        }
        for w in p.workers.iter().flatten() {
            let ready = matches!(w.state, WorkerState::Idle { .. } | WorkerState::Busy { .. });
            if ready && now.since(w.launched_at) < tt.warmup {
                warming += 1;
            }
        }
    }
    let ready = facts.busy + facts.idle;
    let in_service = ready.saturating_sub(warming);
    let backlog = facts.queue_averaged.visible;
    let metric = if in_service == 0 {
        if backlog > 0.0 { f64::INFINITY } else { 0.0 }
    } else {
        backlog / in_service as f64
    };
    let target = tt.backlog_per_instance;
    if metric > target {
        state.high_streak += 1;
        state.low_streak = 0;
    } else if metric < 0.9 * target {
        state.low_streak += 1;
        state.high_streak = 0;
    } else {
        state.high_streak = 0;
        state.low_streak = 0;
    }
    let capacity = facts.capacity();
    let scalable = facts.scalable_capacity(policy);
    let proportional = if metric.is_finite() {
        (in_service.max(1) as f64 * metric / target).ceil() as u32
    } else {
        capacity + backlog.ceil() as u32
    };
    if state.high_streak >= tt.scale_out_periods && proportional > capacity {
        return FleetPlan::resize(
            scalable + (proportional - capacity),
            Reason::new(
                ReasonKind::Baseline,
                format!(
                    "target tracking: backlog per instance {metric:.2} above {target} for {} min; capacity {capacity} → {proportional}",
                    state.high_streak
                ),
            ),
        );
    }
    if state.low_streak >= tt.scale_in_periods && warming == 0 && proportional < capacity {
        let step = (capacity / 10).max(1);
        let new_capacity = proportional.max(capacity.saturating_sub(step));
        return FleetPlan::resize(
            scalable.saturating_sub(capacity - new_capacity),
            Reason::new(
                ReasonKind::Baseline,
                format!(
                    "target tracking: backlog per instance {metric:.2} below 90% of {target} for {} min; capacity {capacity} → {new_capacity}",
                    state.low_streak
                ),
            ),
        );
    }
    FleetPlan::hold(Reason::new(
        ReasonKind::Baseline,
        format!("target tracking: backlog per instance {metric:.2} (target {target}); no alarm"),
    ))
}
