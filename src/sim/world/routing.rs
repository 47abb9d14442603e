//! Which queue a job waits in, and which workers may take it.
//!
//! The world keeps one FIFO *lane* per queue. Without job classes there are two, interactive
//! (lane 0) and batch (lane 1), and every pool serves both. With job classes each `[[queue]]`
//! is a lane (its policy index), a job waits in its own queue's lane (`Job::queue`), and only
//! the pools the queue names take its jobs. A worker takes from the lanes its pool serves:
//! interactive queues before batch ones, then in policy order, as the worker agent does.

use crate::policy::{Policy, QueueClass};

use super::super::trace::{Job, JobClass};

/// The lanes and who serves them.
#[derive(Debug, Clone)]
pub(crate) struct Routing {
    /// Whether lanes are the policy's queues (job classes) or the two classes of work.
    by_queue: bool,
    /// Per pool: the lanes its workers take jobs from, in the order they take them.
    pub(super) serves: Vec<Vec<usize>>,
    /// Per lane: the pools that take its jobs, in the order idle workers are picked.
    pub(super) takers: Vec<Vec<usize>>,
    /// Per lane: the interactive lanes a worker that could take its job would serve first
    /// (a batch job starts on an idle worker only once they are empty).
    pub(super) first: Vec<Vec<usize>>,
    /// Per lane: whether it holds batch work.
    pub(crate) batch: Vec<bool>,
}

impl Routing {
    /// The routing of `policy`'s farm.
    pub(crate) fn new(policy: &Policy) -> Routing {
        let dispatch = policy.dispatch_order();
        if policy.classes.is_empty() {
            return Routing {
                by_queue: false,
                serves: vec![vec![0, 1]; policy.pools.len()],
                takers: vec![dispatch.clone(), dispatch],
                first: vec![Vec::new(), vec![0]],
                batch: vec![false, true],
            };
        }
        let batch: Vec<bool> = policy
            .queues
            .iter()
            .map(|q| q.class == QueueClass::Batch)
            .collect();
        let serves: Vec<Vec<usize>> = (0..policy.pools.len())
            .map(|p| policy.queues_served_by(p))
            .collect();
        let takers: Vec<Vec<usize>> = policy
            .queues
            .iter()
            .map(|q| {
                dispatch
                    .iter()
                    .copied()
                    .filter(|p| q.pools.contains(p))
                    .collect()
            })
            .collect();
        let first = (0..policy.queues.len())
            .map(|q| {
                if !batch[q] {
                    return Vec::new();
                }
                let mut before: Vec<usize> = takers[q]
                    .iter()
                    .flat_map(|&p| serves[p].iter().copied())
                    .filter(|&l| !batch[l])
                    .collect();
                before.sort_unstable();
                before.dedup();
                before
            })
            .collect();
        Routing {
            by_queue: true,
            serves,
            takers,
            first,
            batch,
        }
    }

    /// Whether lanes are the policy's queues (job classes).
    pub(crate) fn by_queue(&self) -> bool {
        self.by_queue
    }

    /// How many lanes there are.
    pub(crate) fn lanes(&self) -> usize {
        self.batch.len()
    }

    /// The lane `job` waits in.
    pub(crate) fn lane(&self, job: &Job) -> usize {
        if self.by_queue {
            usize::from(job.queue)
        } else {
            usize::from(job.class == JobClass::Batch)
        }
    }
}
