//! Carrying out a decision: launches through the EC2 fleet (or a command pool's start
//! program, [`command`]), scale-in as drain requests (the worker finishes its job first),
//! immediate termination of instances that never booted, and the service's own clean-up of
//! lost and drained workers (terminated, or their VMs stopped). Never called in `--dry-run`.

mod command;
pub mod ec2;
pub mod programs;
pub mod provider;

use std::collections::BTreeMap;

use tracing::{info, warn};

use crate::control::{Action, Decision, ReasonKind};
use crate::model::Instance;
use crate::model::Timestamp;

use super::engine::Engine;
use super::observe::FleetView;

impl Engine {
    /// Applies `decision`, then cleans up; returns one line per thing done, for `/status`.
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
                } if reason.kind == ReasonKind::BootTimeout && self.is_command_pool(pool) => {
                    done.push(self.fail_starts(pool, workers));
                }
                Action::Terminate {
                    pool,
                    workers,
                    reason,
                } if reason.kind == ReasonKind::BootTimeout => {
                    let ids: Vec<String> = workers.iter().map(|w| w.0.clone()).collect();
                    self.metrics
                        .launch_failures
                        .with_label_values(&[pool.as_str()])
                        .inc_by(ids.len() as u64);
                    done.push(self.terminate(pool, &ids, "boot_timeout").await);
                }
                // Scale-in and drains both go through the worker: it finishes any job, says it
                // is drained, and only then is terminated (see `observe`).
                Action::Terminate { pool, workers, .. } | Action::Drain { pool, workers, .. } => {
                    for w in workers {
                        if self.registry.request_drain(&w.0, now) {
                            info!(pool = %pool, worker = %w, "Asked the worker to drain.");
                            done.push(format!("drain {w} in {pool}"));
                        } else {
                            warn!(pool = %pool, worker = %w, "Cannot drain a worker that never sent a heartbeat.");
                        }
                    }
                }
                Action::Hold { .. } => {}
            }
        }
        // A command pool's released VMs are stopped with one run of its program.
        let mut stops: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for c in &view.cleanup {
            self.metrics
                .scaling_actions
                .with_label_values(&[c.pool.as_str(), "terminate", c.why])
                .inc();
            if self.is_command_pool(&c.pool) {
                info!(pool = %c.pool, worker = %c.instance_id, reason = c.why, "Stopping a VM the service released.");
                stops
                    .entry(&c.pool)
                    .or_default()
                    .push(c.instance_id.clone());
                continue;
            }
            info!(pool = %c.pool, instance = %c.instance_id, reason = c.why, "Terminating a worker the service released.");
            done.push(
                self.terminate(&c.pool, std::slice::from_ref(&c.instance_id), c.why)
                    .await,
            );
        }
        for (pool, ids) in stops {
            done.push(self.stop_vms(pool, &ids).await);
        }
        done
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
                info!(pool = %pool, launched = l.ids.len(), wanted = count, instances = ?l.ids, "Launched instances.");
                format!("launched {} of {count} in {pool}: {:?}", l.ids.len(), l.ids)
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
                    warn!(pool = %pool, skipped = ?skipped, "Not terminating instances without this policy's tags (or already gone).");
                }
                info!(pool = %pool, instances = ?gone, reason = why, "Terminated instances.");
                format!("terminated {gone:?} in {pool} ({why})")
            }
            Err(e) => {
                self.metrics
                    .action_errors
                    .with_label_values(&["terminate"])
                    .inc();
                warn!(pool = %pool, instances = ?ids, error = %e, "Terminate failed; will retry next tick.");
                format!("terminate {ids:?} in {pool} failed: {e}")
            }
        }
    }
}
