//! Figures every strategy needs, computed once per tick from the observation.
//!
//! One pass over the workers counts busy, idle, booting and draining per pool, and spots
//! workers that never became ready within `boot_timeout`. It also judges whether the queue
//! statistics are fresh: stale or missing data is never read as zero.
//!
//! While the observer is still learning the fleet (it started, or became the leader, less than
//! `heartbeat.learn_for` ago: [`Observation::listening_since`]) a worker it has not heard from is
//! *unknown*: an instance launched before it started listening, or the part of a static or
//! command pool's configured size that has not reported yet. Unknown workers count as capacity
//! (so launches are made only for what the whole farm cannot absorb) but are never judged
//! overdue, and nothing is scaled in until the learning ends.

use std::time::Duration;

use crate::model::{QueueStats, Timestamp, Worker, WorkerId, WorkerState};
use crate::policy::{Policy, PoolKind};

use super::observation::Observation;

/// Per-pool counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolFacts {
    /// Whether the pool's workers are known this tick.
    pub known: bool,
    pub busy: u32,
    pub idle: u32,
    /// Booting and still within `boot_timeout`: capacity on the way.
    pub booting: u32,
    pub draining: u32,
    /// Not heard from yet while the fleet is being learned: counted as capacity, never
    /// judged (see the module's documentation).
    pub unknown: u32,
    /// Launched longer than `boot_timeout` ago and still not ready.
    pub overdue: Vec<WorkerId>,
    /// Finished their drain: to terminate (counted in `draining` until then).
    pub drained: Vec<WorkerId>,
    /// Silent past `lost_after`: to terminate (counted in `draining` until then).
    pub lost: Vec<WorkerId>,
}

impl PoolFacts {
    /// Workers that are up and not draining.
    pub fn ready(&self) -> u32 {
        self.busy + self.idle
    }

    /// Ready plus booting plus unknown: what the pool will have without further action, as
    /// far as anyone can tell.
    pub fn capacity(&self) -> u32 {
        self.ready() + self.booting + self.unknown
    }
}

/// The batch queue at one tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchQueue {
    /// Jobs not yet finished: visible plus in flight (latest sample).
    pub backlog: f64,
    /// Batch jobs running now (latest sample).
    pub in_flight: f64,
    /// Batch jobs running, averaged over the window.
    pub in_flight_averaged: f64,
}

/// Whether the queue statistics can be acted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueStatus {
    Fresh,
    Stale { age: Duration },
    Missing,
}

/// Everything counted for one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub now: Timestamp,
    pub pools: Vec<PoolFacts>,
    pub queue_status: QueueStatus,
    /// The latest queue sample when fresh.
    pub queue_latest: QueueStats,
    /// The window-averaged queue sample when fresh.
    pub queue_averaged: QueueStats,
    /// The batch (backfill) queue when its statistics are fresh; `None` when there is no batch
    /// queue or it could not be read (never read as empty).
    pub batch: Option<BatchQueue>,
    /// Sum over pools.
    pub busy: u32,
    pub idle: u32,
    pub booting: u32,
    /// Workers not heard from while the fleet is being learned.
    pub unknown: u32,
    /// Until when the fleet is being learned; `None` once it is known.
    pub learning_until: Option<Timestamp>,
    /// Ready workers of static pools.
    pub static_ready: u32,
    /// First pool whose listing is missing, if any.
    pub missing_pool: Option<String>,
    /// The measured queue wait of the window, when it is a plausible one.
    pub measured_wait: Option<super::MeasuredWait>,
    /// With job classes, deciding one class: what the rest of the fleet costs per hour (the
    /// other classes' workers, and what they launched or removed this tick), which the class's
    /// budget caps count with its own spend. 0 for a farm without classes.
    pub spend_elsewhere: f64,
}

impl Facts {
    /// Counts the observation against the policy at `now`.
    pub fn gather(policy: &Policy, obs: &Observation, now: Timestamp) -> Facts {
        let mut facts = Facts {
            now,
            pools: Vec::with_capacity(policy.pools.len()),
            queue_status: QueueStatus::Missing,
            queue_latest: QueueStats::default(),
            queue_averaged: QueueStats::default(),
            batch: None,
            busy: 0,
            idle: 0,
            booting: 0,
            unknown: 0,
            learning_until: obs
                .listening_since
                .map(|since| since.plus(policy.learn_for()))
                .filter(|&until| now < until),
            static_ready: 0,
            missing_pool: None,
            // A wait that is not a number of seconds, or measured on no job, is unknown.
            measured_wait: obs
                .measured_wait
                .filter(|m| m.jobs > 0 && m.p99_s.is_finite() && m.p99_s >= 0.0),
            spend_elsewhere: 0.0,
        };
        // Statistics that are not counts (not numbers, negative) are unknown, not zero.
        if let Some(q) = &obs.queue
            && let (Some(latest), Some(averaged)) = (counts(q.latest), counts(q.averaged))
        {
            let age = now.since(q.sampled_at);
            if age > policy.control.stale_after {
                facts.queue_status = QueueStatus::Stale { age };
            } else {
                facts.queue_status = QueueStatus::Fresh;
                facts.queue_latest = latest;
                facts.queue_averaged = averaged;
            }
        }
        if let Some(b) = &obs.batch
            && now.since(b.sampled_at) <= policy.control.stale_after
            && let (Some(latest), Some(averaged)) = (counts(b.latest), counts(b.averaged))
        {
            facts.batch = Some(BatchQueue {
                backlog: latest.visible + latest.in_flight,
                in_flight: latest.in_flight,
                in_flight_averaged: averaged.in_flight,
            });
        }
        for (i, pool) in policy.pools.iter().enumerate() {
            let workers = obs
                .pools
                .get(i)
                .filter(|p| p.pool == pool.name)
                .and_then(|p| p.workers.as_deref());
            let timeout = pool.scaling().map(|s| s.boot_timeout);
            // While learning, a worker launched before the observer could hear it is unknown.
            let unheard_before = facts.learning_until.and(obs.listening_since);
            let pf = match workers {
                Some(ws) => {
                    let mut pf = count_pool(ws, timeout, unheard_before, now);
                    // A pool whose workers are their heartbeats counts at its configured size.
                    if facts.learning_until.is_some() && pool.ec2().is_none() {
                        let configured = match pool.kind {
                            PoolKind::Static { workers } => workers,
                            _ => pool.scaling().map_or(0, |s| s.max),
                        };
                        let heard = pf.ready() + pf.booting + pf.draining + pf.unknown;
                        pf.unknown += configured.saturating_sub(heard);
                    }
                    pf
                }
                None => {
                    facts.missing_pool.get_or_insert_with(|| pool.name.clone());
                    PoolFacts::default()
                }
            };
            facts.busy += pf.busy;
            facts.idle += pf.idle;
            facts.booting += pf.booting;
            facts.unknown += pf.unknown;
            if matches!(pool.kind, PoolKind::Static { .. }) {
                facts.static_ready += pf.ready();
            }
            facts.pools.push(pf);
        }
        facts
    }

    /// Whether the data allows removing capacity this tick: fresh queue statistics, every
    /// pool listed, and the fleet learned.
    pub fn scale_in_safe(&self) -> bool {
        self.queue_status == QueueStatus::Fresh
            && self.missing_pool.is_none()
            && self.learning_until.is_none()
    }

    /// Ready plus booting workers across all pools.
    pub fn capacity(&self) -> u32 {
        self.pools.iter().map(PoolFacts::capacity).sum()
    }

    /// Capacity (ready plus booting) of the pools spillway scales: command and EC2 pools.
    pub fn scalable_capacity(&self, policy: &Policy) -> u32 {
        policy
            .pools
            .iter()
            .zip(&self.pools)
            .filter(|(p, _)| p.scaling().is_some())
            .map(|(_, f)| f.capacity())
            .sum()
    }
}

/// The most messages a queue statistic is taken to hold; more is read as this many (no farm
/// spillway sizes serves more, and larger numbers would only overflow the arithmetic).
pub const MAX_MESSAGES: f64 = 1e8;

/// Queue statistics as counts: `None` when one is not a number or negative (unknown, never
/// zero), each clamped to [`MAX_MESSAGES`].
fn counts(q: QueueStats) -> Option<QueueStats> {
    let ok = |v: f64| !v.is_nan() && v >= 0.0;
    (ok(q.visible) && ok(q.in_flight) && ok(q.delayed)).then(|| QueueStats {
        visible: q.visible.min(MAX_MESSAGES),
        in_flight: q.in_flight.min(MAX_MESSAGES),
        delayed: q.delayed.min(MAX_MESSAGES),
    })
}

/// Counts one pool's workers; a booting worker launched before `unheard_before` is unknown.
fn count_pool(
    workers: &[Worker],
    boot_timeout: Option<Duration>,
    unheard_before: Option<Timestamp>,
    now: Timestamp,
) -> PoolFacts {
    let mut pf = PoolFacts {
        known: true,
        ..PoolFacts::default()
    };
    for w in workers {
        match w.state {
            WorkerState::Busy { .. } => pf.busy += 1,
            WorkerState::Idle { .. } => pf.idle += 1,
            WorkerState::Draining { .. } => pf.draining += 1,
            WorkerState::Drained => {
                pf.draining += 1;
                pf.drained.push(w.id.clone());
            }
            WorkerState::Lost => {
                pf.draining += 1;
                pf.lost.push(w.id.clone());
            }
            WorkerState::Booting if unheard_before.is_some_and(|t| w.launched_at < t) => {
                pf.unknown += 1
            }
            WorkerState::Booting => match boot_timeout {
                Some(t) if now.since(w.launched_at) > t => pf.overdue.push(w.id.clone()),
                _ => pf.booting += 1,
            },
        }
    }
    pf
}
