//! What the simulated controller observes: window averages of the queue and busy workers
//! from exact time integrals, and each pool's workers in the states the service would report.

use std::collections::VecDeque;

use crate::control::PoolObservation;
use crate::model::{Timestamp, Worker, WorkerState};
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

/// The workers of each pool as the controller would observe them.
pub(super) fn observe_pools(world: &World, policy: &Policy, out: &mut Vec<PoolObservation>) {
    out.clear();
    for (p, pool) in policy.pools.iter().enumerate() {
        let workers = world.live[p]
            .iter()
            .map(|&i| {
                let w = &world.workers[i as usize];
                let state = match w.state {
                    WState::Booting | WState::Gone => WorkerState::Booting,
                    WState::Idle { since } => WorkerState::Idle {
                        since: Timestamp(since),
                    },
                    WState::Busy { .. } if w.draining => WorkerState::Draining { busy: true },
                    WState::Busy { since } => WorkerState::Busy {
                        since: Timestamp(since),
                    },
                };
                Worker {
                    id: w.id.clone(),
                    launched_at: Timestamp(w.launched_ms),
                    state,
                }
            })
            .collect();
        out.push(PoolObservation {
            pool: pool.name.clone(),
            workers: Some(workers),
        });
    }
}
