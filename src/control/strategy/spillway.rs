//! spillway's own strategy: keep headroom for the demand expected one boot time from now.
//!
//! Capacity (ready + booting, datacenter first) is compared with `desired = ceil(future +
//! headroom)`. Demand is busy workers plus the waiting jobs' work spread over half a boot time
//! ([`demand_sample`]: a queue of short renders needs a fraction of a worker per job, a queue of
//! hour-long jobs one each). It is taken as the mean over one measured boot time or the latest
//! demand less what the fleet's own completions absorb within the wait SLO, whichever is more
//! (short-job noise is ignored, a step up of long jobs counts at once), less a standing queue
//! the fleet clears within a quarter of the SLO. `future` adds the 15-minute trend over the boot
//! time or the rise the time-of-day profile expects. Headroom is the policy's
//! `max(min_free, free_busy_ratio × future)`, or the learned growth reserve if more. Launches
//! happen when the shortfall exceeds `band` × headroom (plus what completions absorb), or at once
//! when waiting jobs would take longer than half the SLO to drain (then for the jobs completions
//! do not absorb within the SLO); scale-in only after capacity exceeded desired by more than
//! `band` × headroom for `scale_in_after`, against the mean (or, for jobs that do not revert,
//! the recent peak) of demand over that time.

use std::time::Duration;

use crate::model::{QueueStats, Timestamp};
use crate::policy::Policy;

use crate::control::decision::FleetPlan;
use crate::control::decision::{Reason, ReasonKind};
use crate::control::facts::{Facts, QueueStatus};
use crate::control::memory::{ControlMemory, MAX_WAIT_EXTRA, Surplus};
use crate::control::observation::Observation;

use super::idle_timer;

/// The trend is fitted over at least this long: shorter fits turn queue noise into launches.
const MIN_TREND_SPAN: Duration = Duration::from_secs(900);
/// The time-of-day profile may raise the forecast by at most this factor.
const MAX_PROFILE_RISE: f64 = 1.5;

/// How much demand history the growth reserve is learned from.
const RESERVE_HISTORY: Duration = Duration::from_secs(2 * 3600);
/// Share of the wait SLO a standing queue may take before it needs workers of its own.
const QUEUE_ALLOWANCE: f64 = 0.25;
/// How often the growth reserve is recomputed.
const RESERVE_REFRESH: Duration = Duration::from_secs(300);
/// The quantile of demand growth over a boot time that idle workers absorb.
const RESERVE_QUANTILE: f64 = 0.9;
/// SQS's longest message delay: a delayed message becomes visible within it.
const SQS_MAX_DELAY: Duration = Duration::from_secs(900);

/// The share of the SLO the measured p99 is steered below: a window's p99 above it adds
/// headroom, one below half of it gives headroom back. Below 1, so that the whole run's p99,
/// which the windows' excursions raise, stays within the SLO.
const FEEDBACK_AIM: f64 = 0.8;
/// Measured waits count only when at least this many jobs were taken in the window.
const FEEDBACK_MIN_JOBS: u32 = 5;
/// How much headroom (share of demand) a tick adds while the measured p99 exceeds the aim.
const FEEDBACK_STEP_UP: f64 = 0.05;
/// How much it gives back per tick while the measured p99 is below half the aim.
const FEEDBACK_STEP_DOWN: f64 = 0.01;

/// With `target.wait_feedback`, moves the extra headroom with the measured wait: up while the
/// window's p99 exceeds [`FEEDBACK_AIM`] of the SLO, down while it is below half of that
/// (slowly: a burst of waits is often followed by another), unchanged on too few jobs or in
/// between. Without the setting there is none. Measured in docs/strategies.md: it does not
/// pay.
pub fn update_wait_extra(policy: &Policy, facts: &Facts, memory: &mut ControlMemory) {
    if !policy.target.wait_feedback {
        memory.wait_extra = 0.0;
        return;
    }
    let Some(m) = facts.measured_wait.filter(|m| m.jobs >= FEEDBACK_MIN_JOBS) else {
        return;
    };
    let slo = policy.target.wait_slo.as_secs_f64();
    // Down to no ratio at all (`min_free` and the growth reserve still hold).
    let floor = -policy.target.free_busy_ratio;
    if m.p99_s > FEEDBACK_AIM * slo {
        memory.wait_extra = (memory.wait_extra + FEEDBACK_STEP_UP).min(MAX_WAIT_EXTRA);
    } else if m.p99_s < FEEDBACK_AIM * slo / 2.0 {
        memory.wait_extra = (memory.wait_extra - FEEDBACK_STEP_DOWN).max(floor);
    }
}

/// Workers wanted for `demand` jobs: the demand plus its headroom, which is the policy's
/// `max(min_free, free_busy_ratio × demand)` or the learned growth `reserve`, whichever is more.
pub fn with_headroom(policy: &Policy, demand: f64, reserve: f64) -> u32 {
    let t = &policy.target;
    let headroom = (t.free_busy_ratio * demand)
        .max(t.min_free as f64)
        .max(reserve);
    (demand + headroom - 1e-9).ceil().max(0.0) as u32
}

/// The demand a tick records, in workers: jobs running plus the work of the jobs waiting,
/// spread over half a boot time (a launch helps only after one boot, so the queue's work must be
/// done by then; half gave smoother waits and fewer hours than a whole boot time on the built-in
/// scenarios). A waiting job counts as a whole worker only when jobs last half a boot time or
/// longer; a queue of 40 s renders needs a fraction of a worker per job, as measured by the mean
/// service time (busy / throughput). Without a measured throughput every waiting job counts
/// whole. Delayed messages (scheduled renders) are demand arriving: SQS says how many there are,
/// not when each becomes visible (within 15 minutes), so the share that arrives within a boot
/// time, delays taken as spread evenly, counts as waiting.
pub fn demand_sample(policy: &Policy, memory: &ControlMemory, queue: &QueueStats) -> f64 {
    let busy = queue.in_flight;
    let boot = memory.boot_estimate(configured_boot(policy)).as_secs_f64();
    let per_job = match memory.throughput {
        Some(rate) if rate > 0.0 && busy > 0.0 && boot > 0.0 => {
            (busy / rate / (boot / 2.0)).min(1.0)
        }
        _ => 1.0,
    };
    let arriving = (boot / SQS_MAX_DELAY.as_secs_f64()).min(1.0) * queue.delayed.max(0.0);
    busy + per_job * (queue.visible + arriving)
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

/// The boot time the policy expects of the capacity it launches (see
/// [`Policy::boot_reference`]).
pub fn configured_boot(policy: &Policy) -> Duration {
    policy.boot_reference()
}

/// Jobs waiting beyond every idle, booting and unheard-of worker, when they need a launch now:
/// `None` when there are none or the fleet drains them soon enough. A spike that the workers
/// on hand drain within a tick needs no launch (the launch would arrive after it); a queue
/// still unserved a tick later, or one large next to the fleet, does. With a measured
/// throughput the queue's drain time is known: launch when it exceeds half the wait SLO;
/// without one, fall back to the queue's persistence or size. Remembers this tick's backlog.
fn backlog(policy: &Policy, facts: &Facts, memory: &mut ControlMemory) -> Option<f64> {
    // Workers not heard from yet (a restart) may be idle: counted here like booting ones.
    let unserved = facts.queue_latest.visible - (facts.idle + facts.booting + facts.unknown) as f64;
    let persistent = match memory.throughput {
        Some(rate) if rate > 0.0 => unserved / rate > policy.target.wait_slo.as_secs_f64() / 2.0,
        _ => {
            memory.unserved_last > 0.0
                || unserved > policy.hysteresis.band * facts.capacity() as f64
        }
    };
    memory.unserved_last = unserved.max(0.0);
    (unserved > 0.0 && persistent).then_some(unserved)
}

/// The spillway strategy's plan for this tick.
pub fn plan(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    memory: &mut ControlMemory,
    now: Timestamp,
) -> FleetPlan {
    let boot = memory.boot_estimate(configured_boot(policy));
    update_wait_extra(policy, facts, memory);
    // Headroom the measured waits asked for, on top of the policy's.
    let extra = memory.wait_extra;
    let with_headroom = |policy: &Policy, demand: f64, reserve: f64| {
        let ratio = (policy.target.free_busy_ratio + extra).max(0.0);
        let headroom = (ratio * demand)
            .max(policy.target.min_free as f64)
            .max(reserve);
        (demand + headroom - 1e-9).ceil().max(0.0) as u32
    };
    let capacity = facts.capacity();
    // The pools spillway scales (command, then EC2); static capacity is fixed.
    let scalable = facts.scalable_capacity(policy);
    let busy = facts.busy as f64;

    if facts.queue_status != QueueStatus::Fresh {
        // Size on busy workers alone: a lower bound, so it can only add capacity.
        memory.surplus = None;
        let desired = with_headroom(policy, busy, 0.0);
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
                scalable + (desired - capacity),
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

    // Launches follow sustained demand. Jobs the fleet's own completions absorb within the wait
    // SLO (`absorbed`, from measured throughput) need no new worker: short-job noise above the
    // mean over one boot time is ignored, while a step up of long jobs counts at once.
    let absorbed = memory.throughput.unwrap_or(0.0) * policy.target.wait_slo.as_secs_f64();
    let window_level = facts.queue_averaged.in_flight + facts.queue_averaged.visible;
    let latest_level = busy + facts.queue_latest.visible;
    // A standing queue the fleet clears within a fraction of the SLO needs no worker of its own.
    let allowance = (QUEUE_ALLOWANCE * absorbed).min(facts.queue_averaged.visible);
    let demand_now = memory
        .mean_demand(now, boot.max(policy.control.window))
        .unwrap_or(window_level)
        .max(latest_level - absorbed)
        - allowance;
    let (future, kind) = forecast(memory, now, demand_now, boot);
    // Idle workers must absorb the demand growth that can happen before a launch is ready.
    let reaction = boot + policy.control.interval;
    let growth = match memory.reserve {
        Some((at, g)) if now.since(at) < RESERVE_REFRESH => g,
        _ => {
            let g = memory
                .demand_growth(now, reaction, RESERVE_HISTORY, RESERVE_QUANTILE)
                .unwrap_or(0.0);
            memory.reserve = Some((now, g));
            g
        }
    };
    let reserve = (growth - absorbed).max(0.0);
    let desired_out = with_headroom(policy, future, reserve);
    let band = policy.hysteresis.band;

    if let Some(unserved) = backlog(policy, facts, memory) {
        memory.surplus = None;
        let add = desired_out
            .saturating_sub(capacity)
            .max((unserved - absorbed).ceil().max(0.0) as u32);
        return FleetPlan::resize(
            scalable + add,
            Reason::new(
                ReasonKind::Backlog,
                format!(
                    "{:.0} jobs waiting, {unserved:.0} beyond idle and booting workers for more than a tick; \
                     target {desired_out} (demand {demand_now:.0} → {future:.1} in {}s), have {capacity}",
                    facts.queue_latest.visible,
                    boot.as_secs()
                ),
            ),
        );
    }
    if desired_out > capacity {
        memory.surplus = None;
        // The band tolerates a shortfall of part of the headroom, plus what the fleet's own
        // completions absorb within the SLO (up to the band of demand). Applied to the whole
        // fleet regardless, it would let the headroom erode before a burst of long jobs.
        let headroom = (desired_out as f64 - future).max(0.0);
        let tolerated = band * headroom + absorbed.min(band * future);
        if (capacity as f64) < desired_out as f64 - tolerated - 1e-9 {
            return FleetPlan::resize(
                scalable + (desired_out - capacity),
                Reason::new(
                    kind,
                    format!(
                        "capacity {capacity} below the target {desired_out} by more than {:.0}% \
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
                "capacity {capacity} within {:.0}% of the target {desired_out}",
                band * 100.0
            ),
        ));
    }

    // Scale-in is judged on the mean demand over `scale_in_after`, not its peak: sizing to the
    // peak of noise keeps about two standard deviations of idle workers all day, while the
    // queue absorbs short excursions above the mean well within the wait SLO.
    let span = policy.hysteresis.scale_in_after.max(policy.control.window);
    // Growth the fleet's completions do not absorb within the SLO does not revert by itself
    // (long jobs): keep the recent peak of it, as the idle capacity the next burst will need.
    let mean = memory
        .mean_demand(now, span)
        .unwrap_or(demand_now)
        .max(latest_level - absorbed)
        .max(memory.max_demand(now, span).unwrap_or(0.0) - absorbed);
    let base_in = mean.max(future - demand_now + mean);
    let desired_in = with_headroom(policy, base_in, reserve);
    // The band tolerates a surplus of part of the headroom: applied to the whole fleet it would
    // keep 15 idle workers beside 100 busy ones all afternoon, which costs far more than the
    // churn it saves.
    let slack_in = band * (desired_in as f64 - base_in).max(0.0);
    if scalable == 0 {
        memory.surplus = None;
        return FleetPlan::hold(Reason::new(
            ReasonKind::WithinBand,
            format!(
                "capacity {capacity} is above the scale-in target {desired_in}, but all of it \
                 is datacenter capacity, which is never scaled in"
            ),
        ));
    }
    // Workers idle past the break-even time go first, down to the launch target.
    if let Some(cut) = idle_timer::cut(
        policy,
        obs,
        facts,
        &mut memory.idle_timer,
        now,
        (boot, reaction),
        desired_out,
        scalable,
    ) {
        memory.surplus = None;
        return cut;
    }
    if (capacity as f64) <= desired_in as f64 + slack_in {
        memory.surplus = None;
        let kept = if capacity > desired_in {
            format!(
                "a surplus of {} is within the band of {slack_in:.1} workers ({:.0}% of the headroom)",
                capacity - desired_in,
                band * 100.0
            )
        } else {
            format!(
                "no surplus: the recent demand keeps {} more",
                desired_in - capacity
            )
        };
        return FleetPlan::hold(Reason::new(
            ReasonKind::WithinBand,
            format!(
                "capacity {capacity} meets the launch target {desired_out} and the scale-in \
                 target {desired_in} ({kept})"
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
        scalable.saturating_sub(tracked.min),
        Reason::new(
            ReasonKind::Surplus,
            format!(
                "surplus of at least {} workers for {}s (capacity {capacity}, scale-in target {desired_in})",
                tracked.min,
                lasted.as_secs()
            ),
        ),
    )
}
