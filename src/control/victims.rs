//! Who goes when the fleet shrinks: idle workers to terminate (scale-in victims) and busy ones
//! to drain (a batch, or a budget that binds), EC2 pools last-to-first before command pools,
//! longest in their state first, never below a pool's `min`.

use crate::model::{Timestamp, WorkerId, WorkerState};
use crate::policy::Policy;

use super::caps;
use super::decision::{Action, Reason};
use super::facts::Facts;
use super::observation::Observation;

/// Shrinks the scalable pools by `excess` workers, all with `reason`: idle ones terminated (or
/// stopped) first; then, when `busy` says why busy ones may go too, busy ones drained (they
/// finish their job, then go). Returns how many leave each pool.
pub(super) fn shrink(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    excess: u32,
    reason: &Reason,
    busy: Option<&str>,
    actions: &mut Vec<Action>,
) -> Vec<u32> {
    let mut removed = choose_victims(policy, obs, facts, excess, reason, actions);
    let short = excess - removed.iter().sum::<u32>();
    if short > 0
        && let Some(why) = busy
    {
        let drained = choose_drains(policy, obs, facts, &removed, short, (reason, why), actions);
        for (r, d) in removed.iter_mut().zip(&drained) {
            *r += d;
        }
    }
    removed
}

/// Scalable capacity above `min` still left in the EC2 pools once `gone[j]` of pool `j` are
/// removed: a command pool gives up workers only beyond it, since its VMs cost (nearly) nothing
/// and an EC2 worker kept instead would be paid for.
fn ec2_left(policy: &Policy, facts: &Facts, gone: &[u32]) -> u32 {
    policy
        .launch_order()
        .into_iter()
        .filter(|&j| policy.pools[j].ec2().is_some())
        .map(|j| caps::removable(policy, facts, j, gone[j]))
        .sum()
}

/// How many of `excess` pool `i` may give up, `gone` being removed so far: at most its
/// capacity above `min`, and for a command pool only what EC2 cannot give.
fn allowance(policy: &Policy, facts: &Facts, i: usize, gone: &[u32], excess: u32) -> u32 {
    let mut n = excess.min(caps::removable(policy, facts, i, gone[i]));
    if policy.pools[i].command().is_some() {
        n = n.min(excess.saturating_sub(ec2_left(policy, facts, gone)));
    }
    n
}

/// Picks `excess` workers of `state` (idle or busy, by `since`), scalable pools in reverse
/// launch order (EC2 last-to-first, then command pools), longest in that state first. Returns
/// (pool index, chosen) for each pool that gives some.
fn choose(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    gone: &mut [u32],
    mut excess: u32,
    since: impl Fn(&WorkerState) -> Option<Timestamp>,
) -> Vec<(usize, Vec<WorkerId>)> {
    let mut out = Vec::new();
    for i in policy.launch_order().into_iter().rev() {
        let n = allowance(policy, facts, i, gone, excess);
        if n == 0 {
            continue;
        }
        let Some(workers) = obs.pools.get(i).and_then(|p| p.workers.as_ref()) else {
            continue;
        };
        let mut found: Vec<(Timestamp, &WorkerId)> = workers
            .iter()
            .filter_map(|w| since(&w.state).map(|t| (t, &w.id)))
            .collect();
        found.sort_unstable();
        let chosen: Vec<_> = found
            .into_iter()
            .take(n as usize)
            .map(|(_, id)| id.clone())
            .collect();
        if chosen.is_empty() {
            continue;
        }
        gone[i] += chosen.len() as u32;
        excess -= chosen.len() as u32;
        out.push((i, chosen));
    }
    out
}

/// Picks idle workers to terminate (EC2) or stop (command pools): `excess` in all, never below
/// a pool's `min`. Returns how many per pool.
fn choose_victims(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    excess: u32,
    reason: &Reason,
    actions: &mut Vec<Action>,
) -> Vec<u32> {
    let mut removed = vec![0; policy.pools.len()];
    let idle = |s: &WorkerState| match *s {
        WorkerState::Idle { since } => Some(since),
        _ => None,
    };
    for (i, victims) in choose(policy, obs, facts, &mut removed, excess, idle) {
        actions.push(Action::Terminate {
            pool: policy.pools[i].name.clone(),
            workers: victims,
            reason: reason.clone(),
        });
    }
    removed
}

/// Picks busy workers to drain after `removed` idle ones were scaled in: `excess` in all, in
/// the same order and under the same bounds as [`choose_victims`]; `why` says why busy ones go.
fn choose_drains(
    policy: &Policy,
    obs: &Observation,
    facts: &Facts,
    removed: &[u32],
    excess: u32,
    (reason, why): (&Reason, &str),
    actions: &mut Vec<Action>,
) -> Vec<u32> {
    let mut gone = removed.to_vec();
    let busy = |s: &WorkerState| match *s {
        WorkerState::Busy { since } => Some(since),
        _ => None,
    };
    for (i, chosen) in choose(policy, obs, facts, &mut gone, excess, busy) {
        let then = if policy.pools[i].command().is_some() {
            "stopped"
        } else {
            "terminated"
        };
        actions.push(Action::Drain {
            pool: policy.pools[i].name.clone(),
            workers: chosen,
            reason: Reason::new(
                reason.kind,
                format!("{} ({why}: drained, then {then})", reason.text),
            ),
        });
    }
    gone.iter().zip(removed).map(|(g, r)| g - r).collect()
}
