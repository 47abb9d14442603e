//! Carrying out a decision: launches through the EC2 fleet (or a command pool's start
//! program, [`command`]); terminations of named workers, through the drain handshake for a
//! worker that heartbeats (it finishes its job first, and `decide` terminates it once it says
//! it has drained), at once for one that never booted, was lost or has drained (a command
//! pool's VMs stopped with its stop program). Decides nothing; never called in `--dry-run`.

mod command;
pub mod ec2;
pub mod programs;
pub mod provider;

use tracing::{info, warn};

use crate::control::{Action, Decision};
use crate::model::{Instance, Timestamp, WorkerId, WorkerState, names};

use super::engine::Engine;
use super::observe::FleetView;

impl Engine {
    /// Applies `decision`; returns one line per thing done, for `/status`. Every action comes
    /// from `decide`; how one is carried out depends only on what was observed of its workers.
    pub(super) async fn act(
        &mut self,
        decision: &Decision,
        view: &FleetView,
        now: Timestamp,
    ) -> Vec<String> {
        let mut done = Vec::new();
        for action in &decision.actions {
            match action {
                Action::Launch {
                    pool,
                    count,
                    client_token,
                    ..
                } => done.push(self.launch(pool, *count, client_token, now).await),
                Action::Terminate {
                    pool,
                    workers,
                    reason,
                } => {
                    done.extend(
                        self.terminate_workers(pool, workers, view, reason.kind.label(), now)
                            .await,
                    );
                }
                // The worker finishes its job, says it is drained, and `decide` then
                // terminates it.
                Action::Drain { pool, workers, .. } => {
                    for w in workers {
                        done.push(self.ask_to_drain(pool, w, now));
                    }
                }
                Action::Hold { .. } => {}
            }
        }
        done
    }

    /// Terminates `workers` of `pool` by what was observed of each: a command-pool start that
    /// never heartbeated is given up (a failed launch: no VM is known by name); a worker that
    /// heartbeats and has not drained is asked to drain first (the protocol's handshake: it is
    /// terminated once it confirms); any other (never booted, lost, drained) is terminated,
    /// or its VM stopped, now.
    async fn terminate_workers(
        &mut self,
        pool: &str,
        workers: &[WorkerId],
        view: &FleetView,
        why: &str,
        now: Timestamp,
    ) -> Vec<String> {
        let observed = |w: &WorkerId| {
            view.pools
                .iter()
                .find(|p| p.pool == pool)
                .and_then(|p| p.workers.as_ref())
                .and_then(|ws| ws.iter().find(|x| &x.id == w))
                .map(|x| x.state)
        };
        let mut done = Vec::new();
        let (mut starts, mut now_gone, mut never_booted) = (Vec::new(), Vec::new(), 0u64);
        for w in workers {
            match observed(w) {
                _ if self.starts.contains_key(&w.0) => starts.push(w.clone()),
                Some(WorkerState::Idle { .. } | WorkerState::Busy { .. }) => {
                    done.push(self.ask_to_drain(pool, w, now));
                }
                state => {
                    never_booted += u64::from(state == Some(WorkerState::Booting));
                    now_gone.push(w.0.clone());
                }
            }
        }
        if !starts.is_empty() {
            done.push(self.fail_starts(pool, &starts));
        }
        if now_gone.is_empty() {
            return done;
        }
        if self.is_command_pool(pool) {
            info!(pool = %pool, workers = %names(&now_gone), reason = why, "Stopping VMs.");
            done.push(self.stop_vms(pool, &now_gone).await);
        } else {
            // A launched instance that never became ready is a failed launch.
            self.metrics
                .launch_failures
                .with_label_values(&[pool])
                .inc_by(never_booted);
            done.push(self.terminate(pool, &now_gone, why).await);
        }
        done
    }

    /// Asks worker `w` of `pool` to drain (it finishes any job and takes no other).
    fn ask_to_drain(&self, pool: &str, w: &WorkerId, now: Timestamp) -> String {
        if self.registry.request_drain(&w.0, now) {
            info!(pool = %pool, worker = %w, "Asked the worker to drain.");
            format!("drain {w} in {pool}")
        } else {
            warn!(pool = %pool, worker = %w, "Cannot drain a worker that never sent a heartbeat.");
            format!("cannot drain {w} in {pool}: never heard from")
        }
    }

    async fn launch(&mut self, pool: &str, count: u32, token: &str, now: Timestamp) -> String {
        if self.is_command_pool(pool) {
            return self.start_vms(pool, count, token, now).await;
        }
        let Some(ec2) = self
            .policy
            .pools
            .iter()
            .find(|p| p.name == pool)
            .and_then(|p| p.ec2())
        else {
            return format!("launch in {pool}: not an EC2 pool");
        };
        match self.fleet.launch(pool, &ec2.launch, count, token).await {
            Ok(l) => {
                for f in &l.failures {
                    warn!(pool = %pool, attempt = %f, "Launch option failed; tried the next one.");
                }
                let short = count.saturating_sub(l.ids.len() as u32);
                if short > 0 {
                    self.metrics
                        .launch_failures
                        .with_label_values(&[pool])
                        .inc_by(u64::from(short));
                }
                for id in &l.ids {
                    self.recent.insert(
                        id.clone(),
                        Instance {
                            id: id.clone(),
                            pool: pool.to_string(),
                            launched_at: now,
                        },
                    );
                }
                info!(pool = %pool, launched = l.ids.len(), wanted = count, instances = %names(&l.ids), "Launched instances.");
                format!(
                    "launched {} of {count} in {pool}: {}",
                    l.ids.len(),
                    names(&l.ids)
                )
            }
            Err(e) => {
                self.count_failed_launch(pool, count);
                warn!(pool = %pool, count, error = %e, "Launch failed.");
                format!("launch of {count} in {pool} failed: {e}")
            }
        }
    }

    /// Counts a launch (or a command pool's start) of `count` workers in `pool` that failed.
    pub(super) fn count_failed_launch(&self, pool: &str, count: u32) {
        self.metrics
            .action_errors
            .with_label_values(&["launch"])
            .inc();
        self.metrics
            .launch_failures
            .with_label_values(&[pool])
            .inc_by(u64::from(count));
    }

    async fn terminate(&mut self, pool: &str, ids: &[String], why: &str) -> String {
        match self.fleet.terminate(ids, Some(pool)).await {
            Ok(gone) => {
                for id in ids {
                    self.registry.forget(id);
                    self.recent.remove(id);
                }
                let skipped: Vec<&String> = ids.iter().filter(|i| !gone.contains(i)).collect();
                if !skipped.is_empty() {
                    warn!(pool = %pool, skipped = %names(&skipped), "Not terminating instances without this policy's tags (or already gone).");
                }
                info!(pool = %pool, instances = %names(&gone), reason = why, "Terminated instances.");
                format!("terminated {} in {pool} ({why})", names(&gone))
            }
            Err(e) => {
                self.metrics
                    .action_errors
                    .with_label_values(&["terminate"])
                    .inc();
                warn!(pool = %pool, instances = %names(ids), error = %e, "Terminate failed; will retry next tick.");
                format!("terminate {ids:?} in {pool} failed: {e}")
            }
        }
    }
}
