//! The test's side of an end-to-end run: one example worker process per instance the service
//! launched, and the check that no instance is terminated while its worker still runs (which
//! would have killed a job).

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;

use super::service::Running;
use super::workers::instances;

/// Worker processes by instance id, and how they ended.
#[derive(Default)]
pub struct Fleet {
    workers: HashMap<String, Child>,
    exited: HashMap<String, bool>,
    /// The most instances seen running or pending at once.
    pub max_seen: usize,
}

impl Fleet {
    /// Lists the policy's instances, starts a worker (with `spawn`) for each new one, records
    /// workers that exited, and asserts that every terminated instance's worker had drained and
    /// exited cleanly. Returns how many instances are running or pending.
    pub async fn step(
        &mut self,
        ec2: &aws_sdk_ec2::Client,
        policy: &str,
        spawn: impl Fn(&str) -> Child,
    ) -> usize {
        let listed = instances(ec2, policy).await;
        let live: Vec<&String> = listed
            .iter()
            .filter(|(_, s)| matches!(s, InstanceStateName::Running | InstanceStateName::Pending))
            .map(|(id, _)| id)
            .collect();
        self.max_seen = self.max_seen.max(live.len());
        for id in &live {
            if !self.workers.contains_key(*id) {
                self.workers.insert((*id).clone(), spawn(id));
            }
        }
        self.reap();
        for (id, state) in &listed {
            if *state == InstanceStateName::Terminated && self.workers.contains_key(id) {
                // The worker exits right after its last heartbeat: give it a moment.
                for _ in 0..10 {
                    if self.exited.contains_key(id) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.reap();
                }
                assert_eq!(
                    self.exited.get(id),
                    Some(&true),
                    "instance {id} was terminated but its worker had not drained and exited"
                );
            }
        }
        live.len()
    }

    /// Steps the fleet every 200 ms until `jobs` lines are in `done_file`, no instance of
    /// `policy` is live and every worker has exited; panics with the service's status if that
    /// takes longer than 90 s. Returns the done file's lines.
    pub async fn settle(
        &mut self,
        ec2: &aws_sdk_ec2::Client,
        policy: &str,
        running: &Running,
        done_file: &Path,
        jobs: usize,
        spawn: impl Fn(&str) -> Child,
    ) -> Vec<String> {
        let within = Duration::from_secs(90);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let live = self.step(ec2, policy, &spawn).await;
            let done = std::fs::read_to_string(done_file).unwrap_or_default();
            if done.lines().count() >= jobs && live == 0 && self.all_exited() {
                return done.lines().map(str::to_string).collect();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not settled in {within:?}: {} of {jobs} jobs done, {live} live instances, \
                 {}/{} workers exited; status {:#}",
                done.lines().count(),
                self.exited(),
                self.started(),
                running.status().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn reap(&mut self) {
        for (id, child) in self.workers.iter_mut() {
            if let Some(st) = child.try_wait().unwrap() {
                self.exited.entry(id.clone()).or_insert(st.success());
            }
        }
    }

    /// Workers started so far.
    pub fn started(&self) -> usize {
        self.workers.len()
    }

    /// Workers that have exited.
    pub fn exited(&self) -> usize {
        self.exited.len()
    }

    /// Whether at least one worker ran and every one has exited.
    pub fn all_exited(&self) -> bool {
        !self.workers.is_empty() && self.exited.len() == self.workers.len()
    }

    /// Whether every worker that exited did so cleanly (drained).
    pub fn all_clean(&self) -> bool {
        self.exited.values().all(|ok| *ok)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.workers.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
