//! spillway's own strategy: keep headroom for the demand expected one boot time from now.
//!
//! Capacity (ready + booting, datacenter first) is compared with
//! `desired = ceil(future + max(min_free, free_busy_ratio × future))`, where `future` is the
//! larger of today's demand (busy + waiting jobs), its recent trend extrapolated over the
//! measured boot time, and the rise the time-of-day profile expects over that boot time.
//! Launches happen when jobs wait that nothing on hand or on the way will serve, or when
//! capacity falls below the hysteresis band; scale-in only after the surplus persisted
//! `scale_in_after`, and only by the smallest surplus seen in that time.

use std::time::Duration;

use crate::model::Timestamp;
use crate::policy::Policy;

use super::allocate::FleetPlan;
use super::decision::{Reason, ReasonKind};
use super::facts::{Facts, QueueStatus};
use super::memory::{ControlMemory, Surplus};

/// The trend is fitted over at least this long: shorter fits turn queue noise into launches.
const MIN_TREND_SPAN: Duration = Duration::from_secs(900);
/// The time-of-day profile may raise the forecast by at most this factor.
const MAX_PROFILE_RISE: f64 = 1.5;

/// Workers wanted for `demand` jobs: the demand plus its headroom.
pub fn with_headroom(policy: &Policy, demand: f64) -> u32 {
    let t = &policy.target;
    let headroom = (t.free_busy_ratio * demand).max(t.min_free as f64);
    (demand + headroom - 1e-9).ceil().max(0.0) as u32
}

/// The demand expected one boot time from now, and which signal set it.
fn forecast(
    memory: &ControlMemory,
    now: Timestamp,
    demand_now: f64,
    boot: Duration,
) -> (f64, ReasonKind) {
    let slope = memory
        .demand_slope(now, (boot * 3).max(MIN_TREND_SPAN))
        .max(0.0);
    let by_trend = demand_now + slope * boot.as_secs_f64();
    let by_profile = match (memory.profile.at(now), memory.profile.at(now.plus(boot))) {
        (Some(a), Some(b)) if a >= 1.0 => demand_now * (b / a).clamp(1.0, MAX_PROFILE_RISE),
        _ => demand_now,
    };
    let future = by_trend.max(by_profile);
    let kind = if future > demand_now + 0.5 {
        ReasonKind::Forecast
    } else {
        ReasonKind::Headroom
    };
    (future, kind)
}

/// The spillway strategy's plan for this tick.
pub fn plan(
    policy: &Policy,
    facts: &Facts,
    memory: &mut ControlMemory,
    now: Timestamp,
) -> FleetPlan {
    let configured_boot = policy
        .first_ec2()
        .map(|(_, e)| e.boot_time)
        .unwrap_or(Duration::from_secs(180));
    let boot = memory.boot_estimate(configured_boot);
    let capacity = facts.capacity();
    let ec2 = facts.ec2_capacity(policy);
    let busy = facts.busy as f64;

    if facts.queue_status != QueueStatus::Fresh {
        // Size on busy workers alone: a lower bound, so it can only add capacity.
        memory.surplus = None;
        let desired = with_headroom(policy, busy);
        let what = match facts.queue_status {
            QueueStatus::Stale { age } => format!("queue statistics are {}s old", age.as_secs()),
            _ => "queue statistics are missing".to_string(),
        };
        let kind = if matches!(facts.queue_status, QueueStatus::Stale { .. }) {
            ReasonKind::StaleQueue
        } else {
            ReasonKind::MissingQueue
        };
        return if desired > capacity {
            FleetPlan::resize(
                ec2 + (desired - capacity),
                Reason::new(
                    kind,
                    format!("{what}; {busy} busy workers alone need {desired}, have {capacity}"),
                ),
            )
        } else {
            FleetPlan::hold(Reason::new(
                kind,
                format!("{what}; holding at {capacity} workers (no scale-in on unknown data)"),
            ))
        };
    }

    // Busy workers averaged over the window (the latest count is noisy); waiting jobs as of now.
    let waiting = facts.queue_latest.visible;
    let demand_now = facts.queue_averaged.in_flight + waiting;
    let (future, kind) = forecast(memory, now, demand_now, boot);
    let desired_out = with_headroom(policy, future);
    let band = policy.hysteresis.band;

    if desired_out > capacity {
        memory.surplus = None;
        let unserved = waiting - (facts.idle + facts.booting) as f64;
        let below_band = (capacity as f64) < desired_out as f64 * (1.0 - band);
        let add = desired_out - capacity;
        if unserved > 0.0 {
            return FleetPlan::resize(
                ec2 + add,
                Reason::new(
                    ReasonKind::Backlog,
                    format!(
                        "{waiting:.0} jobs waiting, {unserved:.0} beyond idle and booting workers; \
                         desired {desired_out} (demand {demand_now:.0} → {future:.1} in {}s), have {capacity}",
                        boot.as_secs()
                    ),
                ),
            );
        }
        if below_band {
            return FleetPlan::resize(
                ec2 + add,
                Reason::new(
                    kind,
                    format!(
                        "capacity {capacity} below desired {desired_out} by more than {:.0}% \
                         (demand {demand_now:.0} → {future:.1} in {}s)",
                        band * 100.0,
                        boot.as_secs()
                    ),
                ),
            );
        }
        return FleetPlan::hold(Reason::new(
            ReasonKind::WithinBand,
            format!(
                "capacity {capacity} within {:.0}% of desired {desired_out}",
                band * 100.0
            ),
        ));
    }

    // Scale-in is judged on the larger of the averaged and the latest demand.
    let averaged = facts.queue_averaged.visible + facts.queue_averaged.in_flight;
    let desired_in = desired_out.max(with_headroom(policy, averaged.max(demand_now)));
    if (capacity as f64) <= desired_in as f64 * (1.0 + band) || ec2 == 0 {
        memory.surplus = None;
        return FleetPlan::hold(Reason::new(
            ReasonKind::WithinBand,
            format!(
                "capacity {capacity} within {:.0}% of desired {desired_in}",
                band * 100.0
            ),
        ));
    }
    let surplus = capacity - desired_in;
    let tracked = match memory.surplus {
        Some(s) => Surplus {
            since: s.since,
            min: s.min.min(surplus),
        },
        None => Surplus {
            since: now,
            min: surplus,
        },
    };
    let lasted = now.since(tracked.since);
    if lasted < policy.hysteresis.scale_in_after {
        memory.surplus = Some(tracked);
        return FleetPlan::hold(Reason::new(
            ReasonKind::ScaleInPending,
            format!(
                "surplus of {} for {}s of the {}s required before scale-in",
                tracked.min,
                lasted.as_secs(),
                policy.hysteresis.scale_in_after.as_secs()
            ),
        ));
    }
    memory.surplus = None;
    FleetPlan::resize(
        ec2.saturating_sub(tracked.min),
        Reason::new(
            ReasonKind::Surplus,
            format!(
                "surplus of at least {} workers for {}s (capacity {capacity}, desired {desired_in})",
                tracked.min,
                lasted.as_secs()
            ),
        ),
    )
}
