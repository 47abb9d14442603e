//! Job classes: `[[queue]]`s bound to pools, each class sized on its own.
//!
//! A queue with `pools = [...]` may only be served by those pools' workers (GPU renders on GPU
//! instances). Queues that name the same pools form one class: a class's pools serve only its
//! queues, so each class is a farm of its own, sized from its own queues' demand against its
//! own workers, and no worker is counted twice. Queues that share some pools but not all are
//! refused (sizing them would count the shared workers twice, or size one queue's jobs on
//! workers that cannot take them). A policy whose queues name no pools is one farm, exactly as
//! before job classes.
//!
//! Each class carries the policy narrowed to it ([`Class::policy`]: its pools, its queues, its
//! SLO), which `decide` runs on (`control::classes`), so every strategy, boot estimate and
//! throughput is the class's own. The caps stay the whole policy's: budgets and the launch
//! guard are shared across classes (see `control::classes`).

use std::time::Duration;

use super::checker::Checker;
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

/// What joining queues into classes found wrong.
pub(super) enum Unserved {
    /// A pool no queue may use.
    Pool { pool: String },
    /// Two queues share a pool but not all their pools: neither one class (some of their
    /// pools cannot take the other's jobs) nor two (the shared pool would be counted twice).
    Overlap {
        queue: usize,
        other: usize,
        shared: String,
    },
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
    let mut unserved: Vec<Unserved> = (0..n)
        .filter(|&p| !used[p])
        .map(|p| Unserved::Pool {
            pool: policy.pools[p].name.clone(),
        })
        .collect();
    let queues = &policy.queues;
    for (q, a) in queues.iter().enumerate() {
        let clash = queues.iter().enumerate().skip(q + 1).find_map(|(o, b)| {
            let shared = a.pools.iter().find(|p| b.pools.contains(p))?;
            (a.pools != b.pools).then_some((o, *shared))
        });
        if let Some((other, shared)) = clash {
            unserved.push(Unserved::Overlap {
                queue: q,
                other,
                shared: policy.pools[shared].name.clone(),
            });
        }
    }
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

impl Checker<'_> {
    /// Reports what joining the queues into classes found wrong, at the pool's or the
    /// queue's line (`pool_at`, `queue_at`: where each section starts).
    pub(super) fn class_problem(
        &mut self,
        policy: &Policy,
        pool_at: &[usize],
        queue_at: &[usize],
        problem: Unserved,
    ) {
        match problem {
            Unserved::Pool { pool } => {
                let i = policy
                    .pools
                    .iter()
                    .position(|p| p.name == pool)
                    .unwrap_or(0);
                self.problem(
                    pool_at.get(i).copied().unwrap_or(0),
                    &format!("pool[{i}].name"),
                    format!(
                        "pool \"{pool}\" takes no queue's jobs: a [[queue]] names its pools, and \
                         none names this one (add it to a queue's pools, or remove it)"
                    ),
                );
            }
            Unserved::Overlap {
                queue,
                other,
                shared,
            } => {
                let name = |q: usize| policy.queues[q].name.as_str();
                self.problem(
                    queue_at.get(queue).copied().unwrap_or(0),
                    &format!("queue[{queue}].pools"),
                    format!(
                        "shares pool \"{shared}\" with queue \"{}\" (queue[{other}]) but not all \
                         its pools: queues that share a pool must name the same pools (one class), \
                         or none in common (two classes), so that no worker is counted twice",
                        name(other)
                    ),
                );
            }
        }
    }
}
