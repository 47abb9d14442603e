//! What `--dry-run` would have changed, kept as a shadow of the fleet so that the dry run
//! previews the real run instead of deciding the same launch every tick.
//!
//! A dry run makes no mutating call, so without a shadow its next tick sees the fleet it saw
//! before, decides the same launch again, and trips `max_launches_per_hour` within minutes.
//! With it, the workers a decision would have launched count as booting for the estimated boot
//! time and as idle after it (until a later decision scales them in); the workers it would have
//! terminated or drained are gone once idle (a busy one drains until its job ends). So over a
//! quiet hour a dry run logs the decisions a real run would make, and its ledger matches.

use std::collections::HashSet;
use std::time::Duration;

use crate::control::{Action, Decision};
use crate::model::{Timestamp, Worker, WorkerId, WorkerState};

use super::observe::FleetView;

/// The prefix of a shadow worker's id: never an EC2 instance id or a safe host name.
const SHADOW: &str = "dry-run:";

/// The shadow of what the dry run decided.
#[derive(Debug, Default)]
pub struct Shadow {
    /// Workers the dry run would have launched: (pool, id, when).
    launched: Vec<(String, WorkerId, Timestamp)>,
    /// Real workers the dry run would have terminated or drained.
    released: HashSet<WorkerId>,
}

impl Shadow {
    /// Lays the shadow over `view` at `now`: launched workers appear (booting for `boot`, then
    /// idle), released real workers drain (busy) or are gone (otherwise).
    pub fn apply(&mut self, view: &mut FleetView, boot: Duration, now: Timestamp) {
        // A released real worker no longer observed has gone by itself: stop shadowing it.
        if view.pools.iter().all(|p| p.workers.is_some()) {
            let seen: HashSet<&WorkerId> = view
                .pools
                .iter()
                .flat_map(|p| p.workers.iter().flatten())
                .map(|w| &w.id)
                .collect();
            self.released.retain(|id| seen.contains(id));
        }
        for (index, pool) in view.pools.iter_mut().enumerate() {
            let Some(workers) = pool.workers.as_mut() else {
                continue;
            };
            workers.retain_mut(|w| {
                if !self.released.contains(&w.id) {
                    return true;
                }
                let busy = w.is_busy();
                w.state = WorkerState::Draining { busy };
                busy
            });
            for (_, id, at) in self.launched.iter().filter(|l| l.0 == pool.pool) {
                let ready = at.plus(boot);
                workers.push(Worker {
                    id: id.clone(),
                    launched_at: *at,
                    state: if now < ready {
                        WorkerState::Booting
                    } else {
                        WorkerState::Idle { since: ready }
                    },
                });
                if let Some(n) = view.instances_per_pool.get_mut(index) {
                    *n += 1;
                }
            }
        }
    }

    /// Records what `decision` would have done at `now`; returns one line per change, for
    /// `/status` ("would launch …").
    pub fn record(&mut self, decision: &Decision, now: Timestamp) -> Vec<String> {
        let mut said = Vec::new();
        for action in &decision.actions {
            match action {
                Action::Launch {
                    pool,
                    count,
                    client_token,
                    ..
                } => {
                    for k in 0..*count {
                        let id = WorkerId(format!("{SHADOW}{client_token}/{k}"));
                        self.launched.push((pool.clone(), id, now));
                    }
                    said.push(format!("dry run: would launch {count} in {pool}"));
                }
                Action::Terminate { pool, workers, .. } | Action::Drain { pool, workers, .. } => {
                    let verb = match action {
                        Action::Drain { .. } => "drain",
                        _ => "terminate",
                    };
                    for w in workers {
                        if w.0.starts_with(SHADOW) {
                            self.launched.retain(|l| &l.1 != w);
                        } else {
                            self.released.insert(w.clone());
                        }
                    }
                    said.push(format!("dry run: would {verb} {workers:?} in {pool}"));
                }
                Action::Hold { .. } => {}
            }
        }
        said
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{PoolObservation, Reason, ReasonKind};

    fn view(workers: Vec<Worker>) -> FleetView {
        FleetView {
            pools: vec![PoolObservation {
                pool: "ec2".into(),
                workers: Some(workers),
            }],
            instances_per_pool: vec![0],
            ..FleetView::default()
        }
    }

    fn worker(id: &str, state: WorkerState) -> Worker {
        Worker {
            id: WorkerId(id.into()),
            launched_at: Timestamp(0),
            state,
        }
    }

    #[test]
    fn decided_launches_boot_then_idle_and_released_workers_drain_then_go() {
        let t = Timestamp::from_millis;
        let reason = || Reason::new(ReasonKind::Backlog, "test");
        let mut shadow = Shadow::default();
        let decision = Decision {
            actions: vec![
                Action::Launch {
                    pool: "ec2".into(),
                    count: 2,
                    client_token: "tok".into(),
                    reason: reason(),
                },
                Action::Terminate {
                    pool: "ec2".into(),
                    workers: vec![WorkerId("i-idle".into())],
                    reason: reason(),
                },
                Action::Drain {
                    pool: "ec2".into(),
                    workers: vec![WorkerId("i-busy".into())],
                    reason: reason(),
                },
            ],
            desired_total: 0,
            desired_per_pool: vec![0],
            learning_until: None,
        };
        let said = shadow.record(&decision, t(0));
        assert_eq!(said[0], "dry run: would launch 2 in ec2");
        let real = || {
            view(vec![
                worker("i-idle", WorkerState::Idle { since: t(0) }),
                worker("i-busy", WorkerState::Busy { since: t(0) }),
            ])
        };
        let mut v = real();
        shadow.apply(&mut v, Duration::from_secs(60), t(30_000));
        let states: Vec<(String, WorkerState)> = v.pools[0]
            .workers
            .iter()
            .flatten()
            .map(|w| (w.id.0.clone(), w.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("i-busy".into(), WorkerState::Draining { busy: true }),
                ("dry-run:tok/0".into(), WorkerState::Booting),
                ("dry-run:tok/1".into(), WorkerState::Booting),
            ]
        );
        assert_eq!(v.instances_per_pool, vec![2]);
        let mut v = real();
        shadow.apply(&mut v, Duration::from_secs(60), t(90_000));
        let last = v.pools[0].workers.as_ref().unwrap().last().unwrap().state;
        assert_eq!(last, WorkerState::Idle { since: t(60_000) });
    }
}
