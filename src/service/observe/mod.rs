//! Builds the per-pool worker view `decide` reads, by joining the EC2 listing (the truth about
//! which instances exist) with heartbeats (the truth about what they do).
//!
//! An EC2 instance with no heartbeat yet is `Booting`; a worker silent longer than
//! `lost_after` is `Lost` (no longer capacity; `decide` terminates it, and while its instance
//! is listed it counts against max and budget); a worker told to drain is `Draining` and
//! becomes `Drained` once it reports idle and drained, or is still idle when the drain
//! deadline passes. What to do about any of them is `decide`'s to say. Command pools have no listing: their workers are their
//! heartbeats, plus the VMs started and not heartbeating yet (`observe/command.rs`). Pure: no
//! I/O, time passed in.

use std::collections::HashMap;
use std::time::Duration;

use crate::control::PoolObservation;
use crate::heartbeat::protocol::ReportedState;
use crate::model::Instance;
use crate::model::{Timestamp, Worker, WorkerId, WorkerState};
use crate::policy::Policy;
use crate::service::observe::registry::Record;

mod command;
pub mod jobs;
pub mod queues;
pub mod registry;

/// What one tick sees of the workers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetView {
    /// One entry per policy pool, in order; `workers` is `None` for EC2 pools when the listing
    /// failed.
    pub pools: Vec<PoolObservation>,
    /// Boots completed since the last tick.
    pub boots: Vec<Boot>,
    /// EC2 instances listed (command-pool VMs on or starting) per pool, for the cost gauge,
    /// policy order.
    pub instances_per_pool: Vec<u32>,
    /// Command-pool starts (ids from `recent`) whose VM sent its first heartbeat this tick.
    pub started: Vec<String>,
}

/// A worker's first heartbeat after its launch (or start).
#[derive(Debug, Clone, PartialEq)]
pub struct Boot {
    /// What the registry knows the worker by (instance id, else worker id).
    pub key: String,
    /// Its pool's index in the policy.
    pub pool: usize,
    /// Launch to first heartbeat.
    pub took: Duration,
}

/// Joins `instances` (all of this policy's listed instances, `None` when listing failed, plus
/// `recent` launches not listed yet: EC2 instances, and command-pool starts whose VM has not
/// heartbeated) with heartbeat `records` at `now`. Boots are recorded only for instances
/// launched after `started_at` (a restarted service would otherwise see every running worker's
/// first heartbeat as a boot).
pub fn join(
    policy: &Policy,
    instances: Option<&[Instance]>,
    recent: &[Instance],
    records: &[Record],
    now: Timestamp,
    lost_after: Duration,
    started_at: Timestamp,
) -> FleetView {
    let lost = |r: &Record| now.since(r.last_seen) > lost_after;
    // An instance is the worker first heard from on it, among those still heard: a second
    // worker id claiming the same instance (a forger with the token) does not replace it.
    let mut by_instance: HashMap<&str, &Record> = HashMap::new();
    for r in records {
        if let Some(id) = r.instance_id.as_deref() {
            let keep = by_instance.get(id).is_none_or(|o| {
                let rank = |x: &Record| (lost(x), x.first_seen, std::cmp::Reverse(x.last_seen));
                rank(o) > rank(r)
            });
            if keep {
                by_instance.insert(id, r);
            }
        }
    }
    let mut view = FleetView::default();
    for (index, pool) in policy.pools.iter().enumerate() {
        if pool.command().is_some() {
            command::join_pool(
                &mut view, index, &pool.name, records, recent, now, lost_after,
            );
            continue;
        }
        if pool.ec2().is_none() {
            // A static pool holds `workers` at most: the first heard count, however many
            // worker ids report (a forger with the token cannot fake capacity).
            let mut heard: Vec<&Record> = records
                .iter()
                .filter(|r| r.pool == pool.name && !lost(r))
                .collect();
            heard.sort_by(|a, b| (a.first_seen, &a.worker_id).cmp(&(b.first_seen, &b.worker_id)));
            let most = match pool.kind {
                crate::policy::PoolKind::Static { workers } => workers,
                _ => u32::MAX,
            };
            let workers = heard
                .into_iter()
                .take(most as usize)
                .map(|r| Worker {
                    id: WorkerId(r.worker_id.clone()),
                    launched_at: r.first_seen,
                    state: state_of(r),
                })
                .collect();
            view.pools.push(PoolObservation {
                pool: pool.name.clone(),
                workers: Some(workers),
            });
            view.instances_per_pool.push(0);
            continue;
        }
        let Some(listed) = instances else {
            view.pools.push(PoolObservation {
                pool: pool.name.clone(),
                workers: None,
            });
            view.instances_per_pool.push(0);
            continue;
        };
        let mut workers = Vec::new();
        let mine = listed.iter().filter(|i| i.pool == pool.name);
        let unlisted = recent
            .iter()
            .filter(|i| i.pool == pool.name && !listed.iter().any(|l| l.id == i.id));
        let mut count = 0;
        for inst in mine.chain(unlisted) {
            count += 1;
            let id = WorkerId(inst.id.clone());
            let Some(rec) = by_instance.get(inst.id.as_str()) else {
                workers.push(Worker {
                    id,
                    launched_at: inst.launched_at,
                    state: WorkerState::Booting,
                });
                continue;
            };
            if !rec.boot_recorded && inst.launched_at >= started_at {
                view.boots.push(Boot {
                    key: inst.id.clone(),
                    pool: index,
                    took: rec.first_seen.since(inst.launched_at),
                });
            }
            workers.push(Worker {
                id,
                launched_at: inst.launched_at,
                state: judged(rec, now, lost_after),
            });
        }
        view.instances_per_pool.push(count);
        view.pools.push(PoolObservation {
            pool: pool.name.clone(),
            workers: Some(workers),
        });
    }
    view
}

/// What a heartbeating worker is, at `now`: lost when silent past `lost_after`, drained once it
/// confirmed its drain while idle (or is still idle when the drain deadline passed), else as
/// it reports.
fn judged(r: &Record, now: Timestamp, lost_after: Duration) -> WorkerState {
    if now.since(r.last_seen) > lost_after {
        return WorkerState::Lost;
    }
    let deadline_passed = r.drain_requested.is_some_and(|t| now.since(t) > lost_after);
    if r.draining() && r.state == ReportedState::Idle && (r.drained || deadline_passed) {
        return WorkerState::Drained;
    }
    state_of(r)
}

fn state_of(r: &Record) -> WorkerState {
    let busy = r.state == ReportedState::Busy;
    if r.draining() {
        WorkerState::Draining { busy }
    } else if busy {
        WorkerState::Busy {
            since: r.state_since,
        }
    } else {
        WorkerState::Idle {
            since: r.state_since,
        }
    }
}

#[cfg(test)]
mod tests;
