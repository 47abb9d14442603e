//! Turns a fleet-wide EC2 target into per-pool actions.
//!
//! Shared by every strategy so that the safety rules hold for all of them: pools are filled in
//! policy order and drained in reverse; only idle workers are terminated, longest idle first;
//! pool minimums hold; caps come from [`caps`](super::caps); no scale-in happens on stale or
//! missing data; workers that never booted are terminated.

use crate::model::{Timestamp, WorkerState};
use crate::policy::Policy;

use super::caps;
use super::decision::{Action, Decision, Reason, ReasonKind};
use super::facts::{Facts, QueueStatus};
use super::ledger::Ledger;
use super::observation::Observation;

/// What a strategy wants: a total EC2 worker count, or to hold, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetPlan {
    /// Desired EC2 workers across all EC2 pools; `None` holds the fleet as it is.
    pub ec2_target: Option<u32>,
    pub reason: Reason,
}

impl FleetPlan {
    /// Hold, because of `reason`.
    pub fn hold(reason: Reason) -> Self {
        FleetPlan {
            ec2_target: None,
            reason,
        }
    }

    /// Resize EC2 to `target`, because of `reason`.
    pub fn resize(target: u32, reason: Reason) -> Self {
        FleetPlan {
            ec2_target: Some(target),
            reason,
        }
    }
}

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

    // Workers that never booted are cleaned up (on fresh data only); their pool launches
    // nothing this tick, so no pool both launches and terminates in one step.
    let mut cleaned = vec![false; policy.pools.len()];
    for (i, pool) in policy.pools.iter().enumerate() {
        let f = &facts.pools[i];
        if pool.ec2().is_some() && !f.overdue.is_empty() && facts.scale_in_safe() {
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

    let current = facts.ec2_capacity(policy);
    let target = plan.ec2_target.unwrap_or(current);
    let mut need = target.saturating_sub(current);
    let mut launched_any = false;
    let mut planned_usd = 0.0;
    let mut constraint: Option<Reason> = None;

    // Launches: the deficit fills EC2 pools in policy order; a pool below its min always
    // launches up to it.
    for (i, pool) in policy.pools.iter().enumerate() {
        let Some(ec2) = pool.ec2() else { continue };
        let f = &facts.pools[i];
        if !f.known || cleaned[i] {
            continue;
        }
        let below_min = ec2.min.saturating_sub(f.capacity());
        let room = ec2.max.saturating_sub(f.capacity());
        let want = below_min.max(need.min(room));
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
            planned_usd += grant.granted as f64 * pool.cost_per_hour;
            desired_per_pool[i] = f.capacity() + grant.granted;
            let reason = if below_min > 0 {
                Reason::new(
                    ReasonKind::PoolMinimum,
                    format!("{} is below its min of {}", pool.name, ec2.min),
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
    if need > 0 && constraint.is_none() {
        constraint = Some(Reason::new(
            ReasonKind::MaxInstances,
            format!(
                "every EC2 pool is at its max: wanted {need} more workers ({})",
                plan.reason.text
            ),
        ));
    }

    // Scale-in: only when the strategy asked for less, the data is fresh, and nothing launched.
    if !launched_any && target < current {
        if !facts.scale_in_safe() {
            constraint = Some(unsafe_data_reason(facts));
        } else {
            let mut removed = choose_victims(
                policy,
                obs,
                facts,
                current - target,
                &plan.reason,
                &mut actions,
            );
            let mut excess = current - target - removed.iter().sum::<u32>();
            // A batch keeps workers busy back to back, so surplus EC2 workers would never go
            // idle: drain them (they finish their job, then go).
            if excess > 0 && facts.batch.is_some_and(|b| b.backlog >= 0.5) {
                let drained = choose_drains(
                    policy,
                    obs,
                    facts,
                    &removed,
                    excess,
                    &plan.reason,
                    &mut actions,
                );
                for (r, d) in removed.iter_mut().zip(&drained) {
                    *r += d;
                }
                excess -= drained.iter().sum::<u32>();
            }
            let _ = excess;
            for (i, n) in removed.iter().enumerate() {
                desired_per_pool[i] -= n;
            }
            if removed.iter().all(|&n| n == 0) {
                constraint = Some(Reason::new(
                    ReasonKind::NoIdleWorker,
                    format!(
                        "{}, but no idle EC2 worker above its pool's min can be terminated",
                        plan.reason.text
                    ),
                ));
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
    Decision {
        actions,
        desired_total: desired_per_pool.iter().sum(),
        desired_per_pool,
    }
}

/// Picks idle EC2 workers to terminate, pools in reverse policy order, longest idle first,
/// `excess` in all, never below a pool's `min`. Returns how many per pool.
fn choose_victims(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    mut excess: u32,
    reason: &Reason,
    actions: &mut Vec<Action>,
) -> Vec<u32> {
    let mut removed = vec![0; policy.pools.len()];
    for (i, pool) in policy.pools.iter().enumerate().rev() {
        let Some(ec2) = pool.ec2() else { continue };
        let f = &facts.pools[i];
        let removable = excess.min(f.capacity().saturating_sub(ec2.min));
        if removable == 0 {
            continue;
        }
        let Some(workers) = obs.pools.get(i).and_then(|p| p.workers.as_ref()) else {
            continue;
        };
        let mut idle: Vec<(Timestamp, &crate::model::WorkerId)> = workers
            .iter()
            .filter_map(|w| match w.state {
                WorkerState::Idle { since } => Some((since, &w.id)),
                _ => None,
            })
            .collect();
        idle.sort_unstable();
        let victims: Vec<_> = idle
            .into_iter()
            .take(removable as usize)
            .map(|(_, id)| id.clone())
            .collect();
        if victims.is_empty() {
            continue;
        }
        removed[i] = victims.len() as u32;
        excess -= removed[i];
        actions.push(Action::Terminate {
            pool: pool.name.clone(),
            workers: victims,
            reason: reason.clone(),
        });
    }
    removed
}

/// Picks busy EC2 workers to drain after `removed` idle ones were terminated: pools in reverse
/// policy order, longest busy first, `excess` in all, never below a pool's `min`.
fn choose_drains(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    removed: &[u32],
    mut excess: u32,
    reason: &Reason,
    actions: &mut Vec<Action>,
) -> Vec<u32> {
    let mut drained = vec![0; policy.pools.len()];
    for (i, pool) in policy.pools.iter().enumerate().rev() {
        let Some(ec2) = pool.ec2() else { continue };
        let left = facts.pools[i].capacity() - removed[i];
        let drainable = excess.min(left.saturating_sub(ec2.min));
        let Some(workers) = obs.pools.get(i).and_then(|p| p.workers.as_ref()) else {
            continue;
        };
        if drainable == 0 {
            continue;
        }
        let mut busy: Vec<(Timestamp, &crate::model::WorkerId)> = workers
            .iter()
            .filter_map(|w| match w.state {
                WorkerState::Busy { since } => Some((since, &w.id)),
                _ => None,
            })
            .collect();
        busy.sort_unstable();
        let chosen: Vec<_> = busy
            .into_iter()
            .take(drainable as usize)
            .map(|(_, id)| id.clone())
            .collect();
        if chosen.is_empty() {
            continue;
        }
        drained[i] = chosen.len() as u32;
        excess -= drained[i];
        actions.push(Action::Drain {
            pool: pool.name.clone(),
            workers: chosen,
            reason: Reason::new(
                reason.kind,
                format!(
                    "{} (busy with batch work: drained, then terminated)",
                    reason.text
                ),
            ),
        });
    }
    drained
}

fn unsafe_data_reason(facts: &Facts) -> Reason {
    if let Some(pool) = &facts.missing_pool {
        return Reason::new(
            ReasonKind::MissingFleet,
            format!("worker listing for pool {pool} failed; no launch or scale-in on missing data"),
        );
    }
    match facts.queue_status {
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
