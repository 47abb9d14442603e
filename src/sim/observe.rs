//! What the simulated controller observes: window averages of the queue and busy workers
//! from exact time integrals, and each pool's workers in the states the service would report.
//!
//! Workers heartbeat every [`HEARTBEAT_EVERY_MS`], each at its own phase, and a heartbeat
//! arrives [`HEARTBEAT_LATENCY_MS`] later. A controller that has just (re)started has heard
//! none of them: until a worker's next heartbeat arrives, an EC2 worker is a listed instance
//! with no report (`Booting`, launched long ago) and a datacenter or command-pool worker is
//! not seen at all, exactly as the service reports them after a restart.

use std::collections::VecDeque;

use crate::control::{PoolObservation, QueueObservation};
use crate::model::{QueueStats, Timestamp, Worker, WorkerId, WorkerState};
use crate::policy::Policy;

use super::world::{WState, World};

/// Time-weighted integrals of queue length and busy workers, for window averages.
pub(super) struct Integrals {
    pub(super) last_ms: i64,
    pub(super) visible: f64,
    pub(super) busy: f64,
    pub(super) snapshots: VecDeque<(i64, f64, f64)>,
}

impl Integrals {
    pub(super) fn new() -> Integrals {
        Integrals {
            last_ms: 0,
            visible: 0.0,
            busy: 0.0,
            snapshots: VecDeque::new(),
        }
    }

    /// The queue as observed at `now`: `visible` jobs waiting and `in_flight` running, and
    /// their means over the last `window_ms` (the latest sample while no time has passed).
    pub(super) fn observe(
        &mut self,
        now: i64,
        window_ms: i64,
        visible: usize,
        in_flight: u32,
    ) -> QueueObservation {
        let (visible_avg, busy_avg) = self.window_mean(now, window_ms);
        let latest = QueueStats {
            visible: visible as f64,
            in_flight: f64::from(in_flight),
            delayed: 0.0,
        };
        let averaged = if visible_avg.is_nan() {
            latest
        } else {
            QueueStats {
                visible: visible_avg,
                in_flight: busy_avg,
                delayed: 0.0,
            }
        };
        QueueObservation {
            averaged,
            latest,
            sampled_at: Timestamp(now),
        }
    }

    pub(super) fn advance(&mut self, now: i64, visible: usize, busy: u32) {
        let dt = (now - self.last_ms) as f64;
        self.visible += dt * visible as f64;
        self.busy += dt * busy as f64;
        self.last_ms = now;
    }

    /// Mean (visible, busy) over the last `window_ms`, and records a snapshot at `now`.
    pub(super) fn window_mean(&mut self, now: i64, window_ms: i64) -> (f64, f64) {
        self.snapshots.push_back((now, self.visible, self.busy));
        let from = now - window_ms;
        while self.snapshots.len() > 2 && self.snapshots[1].0 <= from {
            self.snapshots.pop_front();
        }
        let (t0, v0, b0) = self.snapshots[0];
        let span = (now - t0) as f64;
        if span <= 0.0 {
            return (f64::NAN, f64::NAN);
        }
        ((self.visible - v0) / span, (self.busy - b0) / span)
    }
}

/// How often a simulated worker heartbeats (the worker's default).
pub const HEARTBEAT_EVERY_MS: i64 = 10_000;
/// How long a heartbeat takes to arrive.
pub const HEARTBEAT_LATENCY_MS: i64 = 200;

/// When worker `index`'s first heartbeat after `since` arrives: each worker beats at its own
/// phase within the period.
pub(super) fn heard_at(index: u32, since: i64) -> i64 {
    let phase = (i64::from(index) * 7_919) % HEARTBEAT_EVERY_MS;
    since + (phase - since).rem_euclid(HEARTBEAT_EVERY_MS) + HEARTBEAT_LATENCY_MS
}

/// Which of the world's workers each pool's observed list holds, in order, when it holds every
/// live one (`None` while a restarted observer is still hearing them): a pool whose live
/// workers are the same as last time has its list updated in place.
pub(super) type Listed = Vec<Option<Vec<u32>>>;

/// A worker's state as its heartbeats (or, booting, the listing) report it at `now`.
fn observed_state(w: &super::world::SimWorker, now: i64) -> WorkerState {
    match w.state {
        WState::Booting | WState::Gone => WorkerState::Booting,
        WState::Idle { .. } if w.draining && now >= w.drained_at => WorkerState::Drained,
        WState::Idle { .. } if w.draining => WorkerState::Draining { busy: false },
        WState::Idle { since } => WorkerState::Idle {
            since: Timestamp(since),
        },
        WState::Busy { .. } if w.draining => WorkerState::Draining { busy: true },
        WState::Busy { since } => WorkerState::Busy {
            since: Timestamp(since),
        },
    }
}

/// The workers of each pool as the controller would observe them at `now`, having listened
/// since `listening` (ms; `None`: always).
pub(super) fn observe_pools(
    world: &World,
    policy: &Policy,
    now: i64,
    listening: Option<i64>,
    out: &mut Vec<PoolObservation>,
    listed: &mut Listed,
) {
    listed.resize(policy.pools.len(), None);
    // Last tick's lists: a pool with the same live workers is updated in place; otherwise its
    // ids are moved over rather than copied (most workers are still there, in the same order).
    let mut last: Vec<PoolObservation> = std::mem::take(out);
    for (p, pool) in policy.pools.iter().enumerate() {
        let live = &world.live[p];
        if let Some(o) = last.get_mut(p)
            && o.pool == pool.name
            && let Some(ws) = o.workers.as_mut()
            && listening.is_none()
            && listed[p].as_deref() == Some(live.as_slice())
        {
            for (seen, &i) in ws.iter_mut().zip(live) {
                let w = &world.workers[i as usize];
                seen.launched_at = Timestamp(w.launched_ms);
                seen.state = observed_state(w, now);
            }
            out.push(PoolObservation {
                pool: std::mem::take(&mut o.pool),
                workers: o.workers.take(),
            });
            continue;
        }
        let reports_only = pool.ec2().is_none();
        let (name, mut previous) = match last.get_mut(p) {
            Some(o) if o.pool == pool.name => (
                std::mem::take(&mut o.pool),
                o.workers.take().unwrap_or_default(),
            ),
            _ => (pool.name.clone(), Vec::new()),
        };
        let mut cursor = 0;
        let mut id_of = |name: &WorkerId| -> WorkerId {
            // The next id of last tick's list, or the one after it (a worker gone between).
            for k in [cursor, cursor + 1] {
                if let Some(w) = previous.get_mut(k)
                    && w.id == *name
                {
                    cursor = k + 1;
                    return std::mem::replace(&mut w.id, WorkerId(String::new()));
                }
            }
            name.clone()
        };
        let mut workers = Vec::with_capacity(live.len());
        workers.extend(live.iter().filter_map(|&i| {
            let w = &world.workers[i as usize];
            let unheard = listening.is_some_and(|since| now < heard_at(i, since))
                && !matches!(w.state, WState::Booting | WState::Gone);
            if unheard {
                // Only EC2 lists its instances; other pools' workers are their reports.
                return (!reports_only).then(|| Worker {
                    id: id_of(&w.id),
                    launched_at: Timestamp(w.launched_ms),
                    state: WorkerState::Booting,
                });
            }
            Some(Worker {
                id: id_of(&w.id),
                launched_at: Timestamp(w.launched_ms),
                state: observed_state(w, now),
            })
        }));
        // Without a listening window every live worker is in the list, in order.
        listed[p] = listening.is_none().then(|| live.clone());
        out.push(PoolObservation {
            pool: name,
            workers: Some(workers),
        });
    }
}
