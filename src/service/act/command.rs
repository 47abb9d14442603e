//! Carrying out a decision in a command pool: a launch runs the start program (the VMs then
//! count as booting, under placeholder ids, until they heartbeat); a start that never
//! heartbeats within `boot_timeout` is a failed launch (nothing to stop: no VM is known by
//! name); released workers (drained, or lost) are stopped by running the stop program with
//! their ids. Every run is logged with what the program printed and counted by outcome.

use tracing::{info, warn};

use crate::model::Instance;
use crate::model::{Timestamp, WorkerId};
use crate::policy::CommandPool;
use crate::service::act::programs::outcome;

use super::super::engine::Engine;

impl Engine {
    /// Whether `pool` is one of the policy's command pools.
    pub(super) fn is_command_pool(&self, pool: &str) -> bool {
        self.command_pool(pool).is_some()
    }

    fn command_pool(&self, pool: &str) -> Option<CommandPool> {
        self.policy
            .pools
            .iter()
            .find(|p| p.name == pool)
            .and_then(|p| p.command().cloned())
    }

    /// Runs `pool`'s start program for `count` VMs; on success they are booting from `now`.
    pub(super) async fn start_vms(
        &mut self,
        pool: &str,
        count: u32,
        token: &str,
        now: Timestamp,
    ) -> String {
        let Some(c) = self.command_pool(pool) else {
            return format!("start in {pool}: not a command pool");
        };
        let result = self.commands.start(pool, &c, count, token).await;
        self.metrics
            .command_runs
            .with_label_values(&[pool, "start", outcome(&result)])
            .inc();
        match result {
            Ok(ran) => {
                for k in 0..count {
                    let id = format!("{token}/{k}");
                    let start = Instance {
                        id: id.clone(),
                        pool: pool.to_string(),
                        launched_at: now,
                    };
                    self.starts.insert(id, start);
                }
                info!(pool = %pool, count, stdout = %ran.stdout, stderr = %ran.stderr, "Started VMs.");
                format!("started {count} VMs in {pool}")
            }
            Err(e) => {
                self.count_failed_launch(pool, count);
                warn!(pool = %pool, count, error = %e, "The start program failed.");
                format!("start of {count} VMs in {pool} failed: {e}")
            }
        }
    }

    /// Gives up on starts in `pool` whose VM never sent a heartbeat: failed launches.
    pub(super) fn fail_starts(&mut self, pool: &str, starts: &[WorkerId]) -> String {
        for s in starts {
            self.starts.remove(&s.0);
        }
        self.metrics
            .launch_failures
            .with_label_values(&[pool])
            .inc_by(starts.len() as u64);
        warn!(pool = %pool, count = starts.len(), "Started VMs sent no heartbeat within boot_timeout; counted as failed launches.");
        format!(
            "{} VM start(s) in {pool} never heartbeated (boot_timeout)",
            starts.len()
        )
    }

    /// Runs `pool`'s stop program for the released workers `ids`; they are forgotten once it
    /// succeeds, and retried next tick when it fails.
    pub(super) async fn stop_vms(&mut self, pool: &str, ids: &[String]) -> String {
        let Some(c) = self.command_pool(pool) else {
            return format!("stop in {pool}: not a command pool");
        };
        let result = self.commands.stop(pool, &c, ids).await;
        self.metrics
            .command_runs
            .with_label_values(&[pool, "stop", outcome(&result)])
            .inc();
        match result {
            Ok(ran) => {
                for id in ids {
                    self.registry.forget(id);
                }
                info!(pool = %pool, workers = ?ids, stdout = %ran.stdout, stderr = %ran.stderr, "Stopped VMs.");
                format!("stopped {} in {pool}", crate::model::names(ids))
            }
            Err(e) => {
                self.metrics
                    .action_errors
                    .with_label_values(&["terminate"])
                    .inc();
                warn!(pool = %pool, workers = ?ids, error = %e, "The stop program failed; will retry next tick.");
                format!("stop {ids:?} in {pool} failed: {e}")
            }
        }
    }
}
