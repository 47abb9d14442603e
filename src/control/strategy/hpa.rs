//! Baseline: the Kubernetes HPA driven by KEDA's SQS scaler, with upstream defaults.
//!
//! The metric is visible + in-flight messages (KEDA `scaleOnInFlight`, default on), read at
//! each sync (policy `control.interval`, 15 s upstream), as an `AverageValue` target per
//! replica. Replicas are all workers, datacenter included, since all of them drain the queue;
//! the command and EC2 pools supply the difference. The arithmetic (tolerance, scale-down stabilization,
//! default rate policies) is upstream's, in [`hpa_math`](super::hpa_math), checked against the
//! upstream test cases in `tests/control/hpa_cases.rs`.

use crate::model::Timestamp;
use crate::policy::Policy;

use super::hpa_math::{self, Recommendation, ScaleEvent, ScalingRules, Tolerance};
use crate::control::decision::FleetPlan;
use crate::control::decision::{Reason, ReasonKind};
use crate::control::facts::{Facts, QueueStatus};
use crate::control::memory::ControlMemory;

/// How long scale events are remembered (longer than any default policy period).
const EVENT_MEMORY_MS: i64 = 600_000;

/// The HPA plan for this tick.
pub fn plan(
    policy: &Policy,
    facts: &Facts,
    memory: &mut ControlMemory,
    now: Timestamp,
) -> FleetPlan {
    if facts.queue_status != QueueStatus::Fresh {
        return FleetPlan::hold(Reason::new(
            ReasonKind::MissingQueue,
            "hpa: metric unavailable, keeping the current replica count",
        ));
    }
    let s = &policy.hpa;
    let q = facts.queue_latest;
    let current = facts.capacity().min(i32::MAX as u32) as i32;
    let metric_milli = ((q.visible + q.in_flight) * 1000.0).round() as i64;
    let target_milli = ((s.target_per_replica * 1000.0).round() as i64).max(1);
    let tolerance = Tolerance {
        scale_down: s.tolerance,
        scale_up: s.tolerance,
    };
    let (proposed, _) =
        hpa_math::external_per_pod_replicas(current, &[metric_milli], target_milli, tolerance);

    let hpa = &mut memory.hpa;
    let age = |t: Timestamp| now.since(t).as_secs_f64();
    let down_window = s.downscale_stabilization.as_secs() as u32;
    let recs: Vec<Recommendation> = hpa
        .recommendations
        .iter()
        .map(|&(t, r)| Recommendation {
            replicas: r,
            age_s: age(t),
        })
        .collect();
    let stabilized = hpa_math::stabilize_with_behaviors(current, proposed, &recs, 0, down_window);
    hpa.recommendations.push_back((now, proposed));
    while hpa
        .recommendations
        .front()
        .is_some_and(|&(t, _)| now.since(t) > s.downscale_stabilization)
    {
        hpa.recommendations.pop_front();
    }

    let events = |q: &std::collections::VecDeque<(Timestamp, i32)>| -> Vec<ScaleEvent> {
        q.iter()
            .map(|&(t, c)| ScaleEvent {
                change: c,
                age_s: age(t),
            })
            .collect()
    };
    let statics = facts.static_ready as i32;
    let (min_scalable, max_scalable): (u32, u32) = policy
        .pools
        .iter()
        .filter_map(|p| p.scaling())
        .fold((0, 0), |(a, b), s| (a + s.min, b + s.max));
    let (replicas, limit) = hpa_math::rate_limited_replicas(
        statics + min_scalable as i32,
        statics + max_scalable as i32,
        current,
        stabilized,
        &events(&hpa.scale_up_events),
        &events(&hpa.scale_down_events),
        &ScalingRules::default_scale_up(),
        &ScalingRules::default_scale_down(),
    );
    if replicas > current {
        hpa.scale_up_events.push_back((now, replicas - current));
    } else if replicas < current {
        hpa.scale_down_events.push_back((now, current - replicas));
    }
    for q in [&mut hpa.scale_up_events, &mut hpa.scale_down_events] {
        while q
            .front()
            .is_some_and(|&(t, _)| now.since(t).as_millis() as i64 > EVENT_MEMORY_MS)
        {
            q.pop_front();
        }
    }

    let text = format!(
        "hpa: {:.0} messages / {} per replica → {proposed}, stabilized {stabilized}, {} {replicas} (current {current})",
        q.visible + q.in_flight,
        s.target_per_replica,
        limit.as_str()
    );
    if replicas == current {
        return FleetPlan::hold(Reason::new(ReasonKind::Baseline, text));
    }
    let scalable = facts.scalable_capacity(policy) as i64 + (replicas - current) as i64;
    FleetPlan::resize(
        scalable.max(0) as u32,
        Reason::new(ReasonKind::Baseline, text),
    )
}
