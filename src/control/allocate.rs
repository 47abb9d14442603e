//! Turns a fleet-wide target for scalable workers into per-pool actions.
//!
//! Shared by every strategy so that the safety rules hold for all of them: command pools (on-prem
//! VMs, nearly free) fill before EC2 pools, each kind in policy order, and scale-in runs the
//! other way round, touching a command pool only once every EC2 pool is at its `min`; only idle
//! workers are terminated or stopped, longest idle first (who goes: `victims.rs`); static pools
//! are never touched; caps (pool `min` and `max`, launch step, budget) come from
//! [`caps`](super::caps); no scale-in happens on stale or missing data; workers that never
//! booted, were lost or have drained are terminated.

use crate::model::Timestamp;
use crate::policy::Policy;

use super::caps;
use super::decision::{Action, Decision, FleetPlan, Reason, ReasonKind};
use super::facts::{Facts, QueueStatus};
use super::ledger::Ledger;
use super::observation::Observation;
use super::victims::shrink;

/// Builds the decision for `plan`.
pub fn plan_actions(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    ledger: &Ledger,
    plan: FleetPlan,
    now: Timestamp,
) -> Decision {
    let mut actions = Vec::new();
    let mut desired_per_pool: Vec<u32> = facts.pools.iter().map(|f| f.capacity()).collect();

    // Workers that never booted are cleaned up (on fresh data only), lost and drained ones
    // whenever their pool is listed; their pool launches nothing this tick, so no pool both
    // launches and terminates in one step.
    let mut cleaned = vec![false; policy.pools.len()];
    for (i, pool) in policy.pools.iter().enumerate() {
        let f = &facts.pools[i];
        for (gone, kind, what) in [
            (
                &f.lost,
                ReasonKind::WorkerLost,
                "sent no heartbeat within lost_after",
            ),
            (
                &f.drained,
                ReasonKind::Drained,
                "finished the drain they were asked for",
            ),
        ] {
            if pool.scaling().is_some() && f.known && !gone.is_empty() {
                cleaned[i] = true;
                actions.push(Action::Terminate {
                    pool: pool.name.clone(),
                    workers: gone.clone(),
                    reason: Reason::new(
                        kind,
                        format!("{} worker(s) in {} {what}", gone.len(), pool.name),
                    ),
                });
            }
        }
        if pool.scaling().is_some() && !f.overdue.is_empty() && facts.scale_in_safe() {
            cleaned[i] = true;
            actions.push(Action::Terminate {
                pool: pool.name.clone(),
                workers: f.overdue.clone(),
                reason: Reason::new(
                    ReasonKind::BootTimeout,
                    format!(
                        "{} worker(s) in {} did not become ready within boot_timeout",
                        f.overdue.len(),
                        pool.name
                    ),
                ),
            });
        }
    }

    let current = facts.scalable_capacity(policy);
    let mut target = plan.scalable_target.unwrap_or(current);
    // While the fleet is being learned, unknown workers may be busy or idle: launch only for
    // the jobs waiting beyond every worker that might be free.
    let mut learning_bound = None;
    if facts.learning_until.is_some() {
        let beyond =
            facts.queue_latest.visible - f64::from(facts.idle + facts.booting + facts.unknown);
        let allowed = current + beyond.ceil().max(0.0) as u32;
        if target > allowed {
            learning_bound = Some(Reason::new(
                plan.reason.kind,
                format!(
                    "{}; while learning the fleet, launching only for the {} jobs waiting beyond \
                     every worker that may be free",
                    plan.reason.text,
                    allowed - current
                ),
            ));
            target = allowed;
        }
    }
    let plan = match learning_bound {
        Some(reason) => FleetPlan {
            scalable_target: plan.scalable_target.map(|_| target),
            reason,
        },
        None => plan,
    };
    let mut need = target.saturating_sub(current);
    let mut launched_any = false;
    let mut planned_usd = 0.0;
    let mut constraint: Option<Reason> = None;
    // Pools that launch again next tick, once their overdue workers are gone.
    let mut replacing = Vec::new();

    // Launches: the deficit fills command pools, then EC2 pools; a pool below its min always
    // launches up to it.
    for i in policy.launch_order() {
        let pool = &policy.pools[i];
        let f = &facts.pools[i];
        if f.known && cleaned[i] {
            replacing.push(pool.name.as_str());
        }
        if !f.known || cleaned[i] {
            continue;
        }
        let below_min = caps::below_min(policy, facts, i);
        let want = below_min.max(need.min(caps::room(policy, facts, i)));
        if want == 0 {
            continue;
        }
        let planned: u32 = desired_per_pool
            .iter()
            .zip(&facts.pools)
            .map(|(d, f)| d.saturating_sub(f.capacity()))
            .sum();
        let grant = caps::grant_launch(policy, facts, ledger, i, want, planned, planned_usd, now);
        if let Some((kind, text)) = &grant.bound {
            constraint = Some(Reason::new(
                *kind,
                format!("{text}: wanted {want} more in {}", pool.name),
            ));
        }
        need = need.saturating_sub(grant.granted);
        if grant.granted > 0 {
            planned_usd += grant.granted as f64 * pool.budget_price();
            desired_per_pool[i] = f.capacity() + grant.granted;
            let reason = if below_min > 0 {
                Reason::new(
                    ReasonKind::PoolMinimum,
                    format!(
                        "{} has {} workers, below its min of {}",
                        pool.name,
                        f.capacity(),
                        f.capacity() + below_min
                    ),
                )
            } else {
                plan.reason.clone()
            };
            actions.push(Action::Launch {
                pool: pool.name.clone(),
                count: grant.granted,
                client_token: client_token(&policy.name, &pool.name, now, grant.granted),
                reason,
            });
            launched_any = true;
        }
    }

    if need > 0 && constraint.is_none() && facts.missing_pool.is_some() {
        constraint = Some(unsafe_data_reason(facts));
    }
    if need > 0 && constraint.is_none() && !replacing.is_empty() {
        constraint = Some(Reason::new(
            ReasonKind::BootTimeout,
            format!(
                "wanted {need} more workers ({}); {} launch again next tick, once the overdue \
                 workers are terminated",
                plan.reason.text,
                replacing.join(", ")
            ),
        ));
    }
    if need > 0 && constraint.is_none() {
        constraint = Some(Reason::new(
            ReasonKind::MaxInstances,
            format!(
                "every command and EC2 pool is at its max: wanted {need} more workers ({})",
                plan.reason.text
            ),
        ));
    }

    // Scale-in: only when the strategy asked for less, the data is fresh, and nothing launched.
    if !launched_any && target < current {
        if !facts.scale_in_safe() {
            constraint = Some(unsafe_data_reason(facts));
        } else {
            // A batch keeps workers busy back to back, so surplus workers would never go idle:
            // drain them (they finish their job, then go).
            let batch = facts.batch.is_some_and(|b| b.backlog >= 0.5);
            let removed = shrink(
                policy,
                obs,
                facts,
                current - target,
                &plan.reason,
                batch.then_some("busy with batch work"),
                &mut actions,
            );
            for (i, n) in removed.iter().enumerate() {
                desired_per_pool[i] -= n;
            }
            if removed.iter().all(|&n| n == 0) {
                constraint = Some(Reason::new(
                    ReasonKind::NoIdleWorker,
                    format!(
                        "{}, but no idle worker above its pool's min can be scaled in (EC2 first; \
                         command pools once every EC2 pool is at its min)",
                        plan.reason.text
                    ),
                ));
            }
        }
    }

    // A spending cap that binds while workers run (the daily budget's rate falls as the day's
    // spend nears it): idle workers go, then busy ones drain (never terminated).
    let quiet = actions.iter().all(|a| matches!(a, Action::Hold { .. }));
    if quiet
        && facts.scale_in_safe()
        && let Some(spend_cap) = caps::spend_cap(policy, ledger, now)
    {
        let cap = spend_cap.usd_per_hour;
        let spend = caps::fleet_spend(policy, facts);
        let price = policy
            .pools
            .iter()
            .filter(|p| p.scaling().is_some())
            .map(|p| p.budget_price())
            .fold(0.0, f64::max);
        if spend > cap + 1e-9 && price > 0.0 {
            let over = ((spend - cap) / price - 1e-9).ceil() as u32;
            let reason = Reason::new(
                spend_cap.kind(),
                format!("{}; the fleet costs ${spend:.2}/h", spend_cap.why()),
            );
            let busy = Some("over the budget");
            let removed = shrink(policy, obs, facts, over, &reason, busy, &mut actions);
            for (i, n) in removed.iter().enumerate() {
                desired_per_pool[i] -= n;
            }
            if removed.iter().any(|&n| n > 0) {
                constraint = None;
            }
        }
    }

    let acted = actions.iter().any(|a| !matches!(a, Action::Hold { .. }));
    if constraint.is_none() && facts.missing_pool.is_some() {
        constraint = Some(unsafe_data_reason(facts));
    }
    if let Some(reason) = constraint {
        actions.push(Action::Hold { pool: None, reason });
    } else if !acted {
        actions.push(Action::Hold {
            pool: None,
            reason: plan.reason,
        });
    }
    Decision::new(actions, desired_per_pool)
}

fn unsafe_data_reason(facts: &Facts) -> Reason {
    if let Some(pool) = &facts.missing_pool {
        return Reason::new(
            ReasonKind::MissingFleet,
            format!("worker listing for pool {pool} failed; no launch or scale-in on missing data"),
        );
    }
    match facts.queue_status {
        QueueStatus::Fresh if facts.learning_until.is_some() => Reason::new(
            ReasonKind::LearningFleet,
            "the fleet is still being learned; no scale-in before every worker could report",
        ),
        QueueStatus::Stale { age } => Reason::new(
            ReasonKind::StaleQueue,
            format!(
                "queue statistics are {}s old; not scaling in on stale data",
                age.as_secs()
            ),
        ),
        _ => Reason::new(
            ReasonKind::MissingQueue,
            "queue statistics could not be read; not scaling in on missing data",
        ),
    }
}

/// An idempotency token for a launch: the same decision replayed gives the same token, and
/// decisions at different times never share one. At most 64 ASCII characters (EC2's limit).
pub fn client_token(policy: &str, pool: &str, now: Timestamp, count: u32) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in policy.bytes().chain([0]).chain(pool.bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("spillway-{h:016x}-{}-{count}", now.as_millis())
}
