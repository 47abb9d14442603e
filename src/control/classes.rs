//! Deciding a policy with job classes: each class is decided as a farm of its own, on the
//! policy narrowed to it, and the decisions are joined.
//!
//! A class's observation is its queues' statistics summed (unknown if one of them is), its
//! pools' workers, and the boots and completions of its pools alone, so each class learns its
//! own boot time and throughput and every strategy (the baselines too: an HPA per class, like
//! one KEDA `ScaledObject` per queue) sizes it from its own demand. A class's pools serve only
//! its queues, so no worker is counted twice.
//!
//! The caps stay the whole policy's. The ledger of launches and spend is one: it is lent to
//! each class in turn, so `budget.max_launches_per_hour` and the daily budget count every
//! class's launches. The hourly budgets count the rest of the fleet's spend with the class's
//! own ([`Facts::spend_elsewhere`]), including what the classes decided before it launched
//! or removed this tick: the classes take the budget in policy order.
//!
//! [`Facts::spend_elsewhere`]: super::facts::Facts::spend_elsewhere

use crate::model::{QueueStats, Timestamp};
use crate::policy::{Policy, QueueClass};

use super::caps;
use super::decision::{Action, Decision, Step};
use super::facts::Facts;
use super::memory::ControlMemory;
use super::observation::{Observation, QueueObservation};

/// Decides every class of `policy` (which has some) and joins their decisions.
pub(super) fn decide(
    policy: &Policy,
    obs: &Observation,
    mut memory: ControlMemory,
    now: Timestamp,
) -> Step {
    memory.ticks = memory.ticks.saturating_add(1);
    memory
        .classes
        .resize_with(policy.classes.len(), ControlMemory::default);
    // What each pool costs per hour now, as the whole farm's listing shows it.
    let facts = Facts::gather(policy, obs, now);
    let mut pool_usd: Vec<f64> = policy
        .pools
        .iter()
        .zip(&facts.pools)
        .map(|(p, f)| caps::pool_spend(p, f))
        .collect();
    let mut ledger = std::mem::take(&mut memory.ledger);
    let mut actions = Vec::new();
    let mut desired = vec![0u32; policy.pools.len()];
    let mut learning_until = None;
    for (k, class) in policy.classes.iter().enumerate() {
        let narrowed = narrow(policy, k, obs, now);
        let mut own = std::mem::take(&mut memory.classes[k]);
        own.ledger = ledger;
        let elsewhere: f64 = (0..policy.pools.len())
            .filter(|p| !class.pools.contains(p))
            .map(|p| pool_usd[p])
            .sum();
        let mut step = super::decide_farm(&class.policy, &narrowed, own, now, elsewhere);
        ledger = std::mem::take(&mut step.memory.ledger);
        for a in &mut step.decision.actions {
            // What the class did changes what the fleet costs for the classes after it.
            let (pool, delta) = match a {
                Action::Launch { pool, count, .. } => (pool.as_str(), *count as f64),
                Action::Terminate { pool, workers, .. } => (pool.as_str(), -(workers.len() as f64)),
                _ => ("", 0.0),
            };
            if let Some(p) = policy.pools.iter().position(|x| x.name == pool) {
                pool_usd[p] = (pool_usd[p] + delta * policy.pools[p].budget_price()).max(0.0);
            }
            let text = &mut a.reason_mut().text;
            text.insert_str(0, &format!("class {}: ", class.name));
        }
        for (i, &p) in class.pools.iter().enumerate() {
            desired[p] = step.decision.desired_per_pool.get(i).copied().unwrap_or(0);
        }
        learning_until = learning_until.or(step.decision.learning_until);
        actions.append(&mut step.decision.actions);
        memory.classes[k] = step.memory;
    }
    memory.ledger = ledger;
    let mut decision = Decision::new(actions, desired);
    decision.learning_until = learning_until;
    Step { decision, memory }
}

/// What class `k` observed: its queues summed, its pools, and its pools' boots and completions.
/// Without a per-queue breakdown (`obs.by_class`), its queues are unknown.
fn narrow(policy: &Policy, k: usize, obs: &Observation, now: Timestamp) -> Observation {
    let class = &policy.classes[k];
    let by = obs.by_class.as_ref();
    let queues = |kind: QueueClass| -> Option<QueueObservation> {
        let mine: Vec<usize> = class
            .queues
            .iter()
            .copied()
            .filter(|&q| policy.queues[q].class == kind)
            .collect();
        if mine.is_empty() {
            // A class with no queue of this kind has none: known to be empty (interactive), or
            // absent (batch).
            return (kind == QueueClass::Interactive).then_some(QueueObservation {
                averaged: QueueStats::default(),
                latest: QueueStats::default(),
                sampled_at: now,
            });
        }
        let mut sum: Option<QueueObservation> = None;
        for q in mine {
            let one = by?.queues.get(q).copied().flatten()?;
            sum = Some(match sum {
                None => one,
                Some(s) => QueueObservation {
                    averaged: add(s.averaged, one.averaged),
                    latest: add(s.latest, one.latest),
                    sampled_at: s.sampled_at.min(one.sampled_at),
                },
            });
        }
        sum
    };
    let boots = by.map_or_else(Vec::new, |b| {
        class
            .pools
            .iter()
            .enumerate()
            .filter(|&(i, _)| class.policy.feeds_boot_estimate(i))
            .flat_map(|(_, &p)| b.boots.get(p).into_iter().flatten().copied())
            .collect()
    });
    let completed = by.and_then(|b| {
        class.pools.iter().try_fold(0u64, |sum, &p| {
            b.completed
                .get(p)
                .copied()
                .flatten()
                .map(|n| sum.saturating_add(n))
        })
    });
    Observation {
        queue: queues(QueueClass::Interactive),
        batch: queues(QueueClass::Batch),
        pools: class
            .pools
            .iter()
            .filter_map(|&p| obs.pools.get(p).cloned())
            .collect(),
        boots,
        completed,
        paused: obs.paused.clone(),
        listening_since: obs.listening_since,
        oracle_plan: by.and_then(|b| b.oracle_plans.get(k).cloned()),
        measured_wait: None,
        by_class: None,
    }
}

fn add(a: QueueStats, b: QueueStats) -> QueueStats {
    QueueStats {
        visible: a.visible + b.visible,
        in_flight: a.in_flight + b.in_flight,
        delayed: a.delayed + b.delayed,
    }
}
