//! One control tick of the live service: observe (queue window, EC2 listing, heartbeats,
//! command-pool starts still booting), `decide`, log, export ([`super::export`]) and record the
//! decision, then act (unless `--dry-run`, paused, or a follower of the replicas' lease).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::clock::{Clock, Stopwatch};
use crate::control::{ByClass, ControlMemory, Observation, decide};
use crate::metrics::Metrics;
use crate::model::Instance;
use crate::model::Timestamp;
use crate::policy::Policy;
use crate::service::act::ec2::Ec2Fleet;
use crate::service::act::programs::CommandRunner;
use crate::service::forward::LeaderAddress;
use crate::service::lease::{Lease, Role};
use crate::service::observe::queues::{QueueSampler, QueueWindow};
use crate::service::observe::registry::Registry;

use super::observe;
use super::status::{PoolCounts, Recorder, StatusBoard, TickReport};

/// Launches not yet listed are counted as booting for this long (EC2's eventual consistency).
const RECENT_LAUNCH_GRACE: Duration = Duration::from_secs(120);

/// The control loop's state between ticks.
pub struct Engine {
    pub(super) policy: Policy,
    pub(super) fleet: Ec2Fleet,
    pub(super) commands: CommandRunner,
    pub(super) sampler: QueueSampler,
    pub(super) window: QueueWindow,
    pub(super) registry: Arc<Registry>,
    /// What workers reported of their jobs (finished, and taken with their waits), taken every tick.
    pub(super) job_reports: Arc<super::observe::jobs::JobReports>,
    /// The queue waits of the jobs taken within the last window.
    pub(super) recent_waits: super::observe::jobs::RecentWaits,
    pub(super) metrics: Metrics,
    pub(super) status: Arc<StatusBoard>,
    pub(super) recorder: Option<Recorder>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) memory: ControlMemory,
    /// Where the memory is saved after every decision (`--state-file`).
    pub(super) state: Option<super::state::StateFile>,
    /// Instances launched by this process and not listed yet, by id.
    pub(super) recent: HashMap<String, Instance>,
    /// Command-pool VMs this process started that have not sent a heartbeat yet, by
    /// placeholder id (`<client token>/<k>`); they count as booting until `boot_timeout`.
    pub(super) starts: HashMap<String, Instance>,
    /// Each worker's jobs-done counter at the previous tick; `None` before the first tick, so
    /// a restart does not read every worker's lifetime total as one tick's completions.
    pub(super) jobs_done: Option<HashMap<String, u64>>,
    pub(super) dry_run: bool,
    /// With `--dry-run`: what the dry run would have changed, laid over every observation.
    pub(super) shadow: Option<super::shadow::Shadow>,
    /// While paused: observe and decide, act on nothing (not even clean-up).
    pub(super) pause: Arc<super::pause::PauseSwitch>,
    /// The replicas' lease (`[lease]`); `None` for a single replica.
    pub(super) lease: Option<Lease>,
    /// Where the HTTP handler passes heartbeats on to while this replica follows.
    pub(super) leader: Arc<LeaderAddress>,
    pub(super) next_lease_check: Timestamp,
    pub(super) started_at: Timestamp,
    /// Since when this process has heard every heartbeat meant for the leader: its start, or
    /// when it last became the leader. `decide` learns the fleet for `learn_for` after it.
    pub(super) listening_since: Timestamp,
    /// Whether this process led at the previous tick (always, without `[lease]`).
    pub(super) was_leading: bool,
    pub(super) ticks: u64,
    /// The holds of the previous tick (pool, kind): a repeated hold is logged at DEBUG.
    pub(super) last_holds: Vec<(String, crate::control::ReasonKind)>,
}

impl Engine {
    /// Renews or tries to take the lease every third of its period (between ticks too, so a
    /// follower takes over within about one period of the leader's last renewal).
    pub(super) async fn keep_lease(&mut self) {
        let now = self.clock.now();
        let Some(lease) = &mut self.lease else {
            return;
        };
        if now < self.next_lease_check {
            return;
        }
        self.next_lease_check = now.plus(lease.duration() / 3);
        match lease.refresh(now).await {
            Ok(role) => {
                // A follower passes heartbeats on to the leader it read from the lease item.
                self.leader.set(match &role {
                    Role::Follower { address, .. } => address.clone(),
                    Role::Leader { .. } => None,
                });
                let leads = lease.leads(now);
                if (self.metrics.leader.get() > 0.5) != leads {
                    info!(replica = %lease.me(), role = ?role, "Lease role changed.");
                }
                self.metrics.leader.set(if leads { 1.0 } else { 0.0 });
            }
            Err(e) => {
                self.metrics
                    .observation_errors
                    .with_label_values(&["lease"])
                    .inc();
                warn!(error = %e, "Renewing the lease failed; leadership lapses unless renewed in time.");
            }
        }
    }

    /// Jobs finished since the previous tick, from the jobs the registry credited each worker
    /// (its counter's plausible growth since its first heartbeat). `None` on the first tick.
    /// Jobs finished since the last tick, in all and per pool (policy order): `None` on the
    /// first tick, which has no counters to compare with.
    fn completions(
        &mut self,
        records: &[crate::service::observe::registry::Record],
    ) -> (Option<u64>, Vec<Option<u64>>) {
        let now: HashMap<String, (u64, &str)> = records
            .iter()
            .map(|r| (r.worker_id.clone(), (r.jobs_credited, r.pool.as_str())))
            .collect();
        let pools = &self.policy.pools;
        let mut per_pool: Vec<Option<u64>> = vec![None; pools.len()];
        let done = self.jobs_done.as_ref().map(|before| {
            per_pool.iter_mut().for_each(|p| *p = Some(0));
            let mut total = 0;
            for (id, &(n, pool)) in &now {
                let d = match before.get(id) {
                    Some(&b) if n >= b => n - b,
                    _ => n,
                };
                total += d;
                if let Some(i) = pools.iter().position(|p| p.name == pool) {
                    per_pool[i] = per_pool[i].map(|s| s + d);
                }
            }
            total
        });
        self.jobs_done = Some(now.into_iter().map(|(id, (n, _))| (id, n)).collect());
        (done, per_pool)
    }

    /// Takes one queue sample into the window.
    pub async fn sample(&mut self) {
        let now = self.clock.now();
        match self.sampler.sample(now).await {
            Ok(s) => {
                for (name, _, q) in &s.per_queue {
                    for (state, v) in [
                        ("visible", q.visible),
                        ("in_flight", q.in_flight),
                        ("delayed", q.delayed),
                    ] {
                        self.metrics
                            .queue_messages
                            .with_label_values(&[name.as_str(), state])
                            .set(v);
                    }
                }
                self.window.push(s);
            }
            Err((queue, e)) => {
                self.metrics
                    .observation_errors
                    .with_label_values(&["sqs"])
                    .inc();
                warn!(queue = %queue, error = %e, "Queue sample failed; the queue counts as unknown.");
                self.window.failed();
            }
        }
    }

    /// Runs one tick.
    pub async fn tick(&mut self) {
        let now = self.clock.now();
        self.ticks += 1;
        self.metrics.ticks.inc();
        let mut errors = Vec::new();
        let listing = match self.fleet.list().await {
            Ok(v) => Some(v),
            Err(e) => {
                self.metrics
                    .observation_errors
                    .with_label_values(&["ec2"])
                    .inc();
                warn!(error = %e, "Listing instances failed; the fleet counts as unknown.");
                errors.push(format!("ec2: DescribeInstances failed: {e}"));
                None
            }
        };
        if let Some(listed) = &listing {
            self.recent.retain(|id, i| {
                !listed.iter().any(|l| &l.id == id)
                    && now.since(i.launched_at) < RECENT_LAUNCH_GRACE
            });
            // What the registry keeps first when an EC2 pool's workers fill it.
            for pool in self.policy.pools.iter().filter(|p| p.ec2().is_some()) {
                let ours = listed
                    .iter()
                    .chain(self.recent.values())
                    .filter(|i| i.pool == pool.name)
                    .map(|i| i.id.clone())
                    .collect();
                self.registry.set_owned(&pool.name, ours);
            }
        }
        let (queue, batch) = self.window.observe(now, self.policy.control.window);
        if queue.is_none() {
            errors.push("sqs: the latest queue sample failed".into());
        }
        let lost_after = self.policy.lost_after();
        let records = self.registry.snapshot();
        let recent: Vec<Instance> = self
            .recent
            .values()
            .chain(self.starts.values())
            .cloned()
            .collect();
        let mut view = observe::join(
            &self.policy,
            listing.as_deref(),
            &recent,
            &records,
            now,
            lost_after,
            // LaunchTime has whole seconds: an instance launched in our first second counts.
            self.started_at.minus(Duration::from_secs(2)),
        );
        if let Some(shadow) = &mut self.shadow {
            let boot = self.memory.boot_estimate(self.policy.boot_reference());
            shadow.apply(&mut view, boot, now);
        }
        for b in &view.boots {
            self.registry.mark_boot_recorded(&b.key);
            self.metrics.boot_seconds.observe(b.took.as_secs_f64());
        }
        for id in &view.started {
            self.starts.remove(id);
        }
        // A replica that has just become the leader has not heard every worker yet.
        let leads = self.lease.as_ref().is_none_or(|l| l.leads(now));
        if leads && !self.was_leading {
            self.listening_since = now;
        }
        self.was_leading = leads;
        let (completed, completed_by_pool) = self.completions(&records);
        // What workers reported since the last tick: the window's waits, the record's jobs.
        let mut jobs = self.job_reports.take();
        self.recent_waits.update(
            std::mem::take(&mut jobs.taken),
            now,
            self.policy.control.window,
        );
        let interactive: Vec<&str> = self
            .policy
            .queues
            .iter()
            .filter(|q| q.class == crate::policy::QueueClass::Interactive)
            .map(|q| q.name.as_str())
            .collect();
        let obs = Observation {
            queue,
            batch,
            pools: view.pools.clone(),
            boots: view
                .boots
                .iter()
                .filter(|b| self.policy.feeds_boot_estimate(b.pool))
                .map(|b| b.took)
                .collect(),
            completed,
            paused: self.pause.state(),
            listening_since: Some(self.listening_since),
            oracle_plan: None,
            measured_wait: self.recent_waits.measured(&interactive),
            by_class: (!self.policy.classes.is_empty()).then(|| ByClass {
                queues: self.window.per_queue(now, self.policy.control.window),
                boots: (0..self.policy.pools.len())
                    .map(|p| {
                        view.boots
                            .iter()
                            .filter(|b| b.pool == p)
                            .map(|b| b.took)
                            .collect()
                    })
                    .collect(),
                completed: completed_by_pool,
                oracle_plans: Vec::new(),
            }),
        };
        self.metrics
            .paused
            .set(if obs.paused.is_some() { 1.0 } else { 0.0 });
        let watch = Stopwatch::start();
        let step = decide(&self.policy, &obs, &self.memory, now);
        self.metrics
            .decide_seconds
            .observe(watch.elapsed().as_secs_f64());
        self.memory = step.memory;
        // Saved before acting: the ledger already counts this decision's launches.
        self.save_state(now);
        let decision = step.decision;
        self.export(&obs, &view, &decision);
        for q in &self.policy.queues {
            let gauge = &self.metrics.oldest_job_age;
            match self.recent_waits.oldest(&q.name) {
                Some(s) => gauge.with_label_values(&[q.name.as_str()]).set(s),
                None => {
                    let _ = gauge.remove_label_values(&[q.name.as_str()]);
                }
            }
        }
        if let Some(r) = &mut self.recorder
            && let Err(e) = r.write(now, &obs, &decision, &jobs)
        {
            warn!(error = %e, "Writing the decision record failed.");
        }
        // A follower decides (for /status and the record) but never acts; the leader checks its
        // fence right before acting, so a leader paused past its lease does not act on it.
        let (leading, role) = match &mut self.lease {
            None => (true, "single".to_string()),
            Some(l) if !l.leads(now) => (false, format!("follower ({})", l.me())),
            Some(l) if self.dry_run || obs.paused.is_some() => {
                (true, format!("leader ({})", l.me()))
            }
            Some(l) => {
                let fenced = l.fence(now).await;
                let me = l.me().to_string();
                if fenced {
                    (true, format!("leader ({me})"))
                } else {
                    warn!(replica = %me, "Lost the lease before acting; not acting this tick.");
                    (
                        false,
                        format!("follower ({me}): the lease moved on before acting"),
                    )
                }
            }
        };
        self.metrics.leader.set(if leading { 1.0 } else { 0.0 });
        let executed = if self.dry_run {
            // What a real run would have changed, kept so the next ticks see it.
            match &mut self.shadow {
                Some(shadow) if obs.paused.is_none() && leading => shadow.record(&decision, now),
                _ => Vec::new(),
            }
        } else if obs.paused.is_some() || !leading {
            Vec::new()
        } else {
            let executed = self.act(&decision, &view, now).await;
            if !executed.is_empty() {
                // VMs just started (or given up on) must be known after a restart too.
                self.save_state(now);
            }
            executed
        };
        self.registry
            .forget_silent_since(now.minus(lost_after * 10));
        if errors.is_empty() {
            self.metrics
                .last_tick_timestamp
                .set(now.as_millis() as f64 / 1000.0);
        }
        self.status.push(TickReport {
            tick: self.ticks,
            at: now,
            observation_errors: errors,
            queue: obs.queue,
            workers: PoolCounts::of(&obs),
            decision,
            executed,
            role,
        });
    }

    /// Writes `--state-file` (memory and pending command-pool starts); a failure is logged and
    /// counted, and the tick goes on.
    fn save_state(&self, now: Timestamp) {
        if let Some(state) = &self.state
            && let Err(e) = state.save(&self.memory, self.starts.values(), now)
        {
            self.metrics.state_save_errors.inc();
            warn!(path = %state.path().display(), error = %e, "Saving the controller's state failed.");
        }
    }
}
