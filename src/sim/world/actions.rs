//! What a decision does to the simulated farm: launches boot (or fail to); a termination of an
//! idle worker starts the drain handshake (it takes no more jobs and reports `drained` with its
//! next heartbeat), and one of a drained, or never booted, worker bills and removes it; drains
//! let busy workers finish their job first. In a command pool a launch is a VM start and a
//! termination a stop (nothing billed). A busy worker named for termination is refused and
//! counted (the controller must never ask).

use crate::control::{Action, Decision};
use crate::model::WorkerId;
use crate::policy::Policy;

use super::{Scheduled, WState, World};

impl World {
    /// Applies a decision's launches, terminations and drains; returns boots to schedule. With
    /// `ec2_down` every action on an EC2 pool fails (and is counted).
    pub fn apply(
        &mut self,
        decision: &Decision,
        policy: &Policy,
        now: i64,
        ec2_down: bool,
    ) -> Vec<Scheduled> {
        let mut out = Vec::new();
        for action in &decision.actions {
            let on_ec2 = match action {
                Action::Launch { pool, .. }
                | Action::Terminate { pool, .. }
                | Action::Drain { pool, .. } => policy
                    .pools
                    .iter()
                    .any(|p| &p.name == pool && p.ec2().is_some()),
                Action::Hold { .. } => false,
            };
            if ec2_down && on_ec2 {
                self.tally.ec2_actions_failed += 1;
                continue;
            }
            match action {
                Action::Launch { pool, count, .. } => {
                    let Some(p) = policy.pools.iter().position(|x| &x.name == pool) else {
                        continue;
                    };
                    for _ in 0..*count {
                        self.next_id += 1;
                        let id = if self.pool_is_command[p] {
                            WorkerId(format!("{pool}-vm-{:06}", self.next_id))
                        } else {
                            WorkerId(format!("i-{:08x}", self.next_id))
                        };
                        let idx = self.add_worker(p, id, now, WState::Booting);
                        self.booting += 1;
                        self.tally.launches += 1;
                        if self.rng.chance(self.launch_failure_rate) {
                            self.tally.launch_failures += 1;
                            continue;
                        }
                        let boot = self.boot_ms[p]
                            * (self.boot_jitter * self.rng.normal()).exp().clamp(0.5, 2.0);
                        out.push(Scheduled::BootDone {
                            worker: idx,
                            at: now + boot.round() as i64,
                        });
                    }
                }
                Action::Terminate { workers, .. } => {
                    for id in workers {
                        self.terminate(id, now);
                    }
                }
                Action::Drain { workers, .. } => {
                    for id in workers {
                        match self.find_live(id) {
                            Some(idx)
                                if matches!(
                                    self.workers[idx as usize].state,
                                    WState::Busy { .. }
                                ) =>
                            {
                                self.workers[idx as usize].draining = true;
                                self.dirty = true;
                            }
                            Some(_) => self.terminate(id, now),
                            None => {}
                        }
                    }
                }
                Action::Hold { .. } => {}
            }
        }
        out
    }

    fn terminate(&mut self, id: &WorkerId, now: i64) {
        let Some(idx) = self.find_live(id) else {
            return;
        };
        let w = &self.workers[idx as usize];
        match w.state {
            WState::Busy { .. } => {
                self.tally.busy_terminations_refused += 1;
                return;
            }
            WState::Booting => {
                self.end_boot(idx, now);
            }
            // Asked to drain: it hears so, and answers drained, with its next heartbeat.
            WState::Idle { .. } if !w.draining => {
                let heard = super::super::observe::heard_at(idx, now);
                let w = &mut self.workers[idx as usize];
                w.draining = true;
                w.drained_at = heard;
                self.idle_draining += 1;
                self.dirty = true;
                return;
            }
            _ => {}
        }
        self.retire(idx, now);
    }

    /// Notes that worker `idx` leaves the world: an idle draining one no longer awaits its end.
    pub(super) fn leave(&mut self, idx: u32) {
        let w = &self.workers[idx as usize];
        if w.draining && matches!(w.state, WState::Idle { .. }) {
            self.idle_draining -= 1;
        }
    }

    /// Bills and removes a worker that is not busy.
    pub(super) fn retire(&mut self, idx: u32, now: i64) {
        self.leave(idx);
        self.dirty = true;
        self.bill(idx, now);
        self.workers[idx as usize].state = WState::Gone;
        self.remove_live(idx);
        self.tally.terminations += 1;
    }

    fn find_live(&self, id: &WorkerId) -> Option<u32> {
        self.live
            .iter()
            .flatten()
            .copied()
            .find(|&i| &self.workers[i as usize].id == id)
    }
}
