//! Job classes: `[[queue]]`s bound to pools, each class sized on its own.
//!
//! A queue with `pools = [...]` may only be served by those pools' workers (GPU renders on GPU
//! instances). Queues that share a pool, and the pools they name, form one class: a class's
//! pools serve only its queues, so each class is a farm of its own, sized from its own queues'
//! demand against its own workers, and no worker is counted twice. A policy whose queues name
//! no pools is one farm, exactly as before job classes.
//!
//! Each class carries the policy narrowed to it ([`Class::policy`]: its pools, its queues, its
//! SLO), which `decide` runs on (`control::classes`), so every strategy, boot estimate and
//! throughput is the class's own. The caps stay the whole policy's: budgets and the launch
//! guard are shared across classes (see `control::classes`).

use std::time::Duration;

use super::{Policy, QueueClass};

/// One job class: some queues and the pools that serve them.
#[derive(Debug, Clone)]
pub struct Class {
    /// The class's queue names joined by `+` (`gpu`, `cpu+thumbnails`).
    pub name: String,
    /// Its queues (indices into `Policy::queues`, in policy order).
    pub queues: Vec<usize>,
    /// Its pools (indices into `Policy::pools`, in policy order).
    pub pools: Vec<usize>,
    /// The policy narrowed to the class: its pools and queues, and its SLO (the tightest of its
    /// interactive queues' `wait_slo`, else `target.wait_slo`). It has no classes of its own.
    pub policy: Box<Policy>,
}

impl Policy {
    /// The queues pool `pool`'s workers take jobs from, in the order they take them:
    /// interactive queues first, then batch ones, each in policy order (indices into
    /// `queues`). The simulator's workers and `spillway worker --policy` follow it.
    pub fn queues_served_by(&self, pool: usize) -> Vec<usize> {
        let of = |class: QueueClass| {
            self.queues
                .iter()
                .enumerate()
                .filter(move |(_, q)| q.class == class && q.pools.contains(&pool))
                .map(|(i, _)| i)
        };
        of(QueueClass::Interactive)
            .chain(of(QueueClass::Batch))
            .collect()
    }

    /// Derives the job classes again from the policy as it is now: after a setting was
    /// changed in code (`compare` sweeping a knob), each class's narrowed policy must carry it.
    pub fn refresh_classes(&mut self) {
        // A validated policy's queues serve every pool: derive cannot fail here.
        self.classes = derive(self).unwrap_or_default();
    }
}

/// What joining queues into classes found wrong: a pool no queue may use.
pub(super) struct Unserved {
    pub pool: String,
}

/// The policy's job classes: none when no queue names its pools, or when every queue is
/// served by one connected set of pools (one farm; its SLO is then the tightest queue's,
/// written into `policy.target.wait_slo`). Pools no bound queue may use are returned as
/// problems.
pub(super) fn derive(policy: &mut Policy) -> Result<Vec<Class>, Vec<Unserved>> {
    policy.classes.clear();
    if !policy.queues.iter().any(|q| q.bound) {
        return Ok(Vec::new());
    }
    // Union-find over pools, joined through the queues that name several.
    let n = policy.pools.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut used = vec![false; n];
    for q in &policy.queues {
        for &p in &q.pools {
            used[p] = true;
        }
        for w in q.pools.windows(2) {
            let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
            parent[a.max(b)] = a.min(b);
        }
    }
    let unserved: Vec<Unserved> = (0..n)
        .filter(|&p| !used[p])
        .map(|p| Unserved {
            pool: policy.pools[p].name.clone(),
        })
        .collect();
    if !unserved.is_empty() {
        return Err(unserved);
    }
    let roots: Vec<usize> = (0..n).map(|p| root(&mut parent, p)).collect();
    let mut components = roots.clone();
    components.sort_unstable();
    components.dedup();
    let slo_of = |queues: &[usize], policy: &Policy| -> Duration {
        queues
            .iter()
            .filter(|&&q| policy.queues[q].class == QueueClass::Interactive)
            .filter_map(|&q| policy.queues[q].wait_slo)
            .min()
            .unwrap_or(policy.target.wait_slo)
    };
    if components.len() == 1 {
        let all: Vec<usize> = (0..policy.queues.len()).collect();
        policy.target.wait_slo = slo_of(&all, policy);
        return Ok(Vec::new());
    }
    let mut classes = Vec::with_capacity(components.len());
    for c in components {
        let pools: Vec<usize> = (0..n).filter(|&p| roots[p] == c).collect();
        let queues: Vec<usize> = (0..policy.queues.len())
            .filter(|&q| {
                policy.queues[q]
                    .pools
                    .first()
                    .is_some_and(|&p| roots[p] == c)
            })
            .collect();
        let mut narrowed = policy.clone();
        narrowed.pools = pools.iter().map(|&p| policy.pools[p].clone()).collect();
        narrowed.queues = queues
            .iter()
            .map(|&q| {
                let mut spec = policy.queues[q].clone();
                spec.pools = spec
                    .pools
                    .iter()
                    .filter_map(|p| pools.iter().position(|x| x == p))
                    .collect();
                spec
            })
            .collect();
        narrowed.target.wait_slo = slo_of(&queues, policy);
        classes.push(Class {
            name: queues
                .iter()
                .map(|&q| policy.queues[q].name.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            queues,
            pools,
            policy: Box::new(narrowed),
        });
    }
    Ok(classes)
}
