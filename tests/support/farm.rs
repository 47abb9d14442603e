//! An in-process render farm for service tests. It watches the account's instances on moto
//! (directly, not through the proxy) and "boots" a worker for each new one: a task that
//! heartbeats as that instance, takes jobs from SQS, is busy for each job's `duration_s`
//! (keeping the message invisible meanwhile), and honours drain like
//! `examples/render_worker.rs` ([`super::farm_worker`]). When an instance is terminated, its
//! worker dies with it (a job it held comes back to the queue when its visibility lapses); a
//! worker can also crash on its own, leaving its instance running. Instances can be *muted*:
//! they never get a worker, so they never heartbeat.
//!
//! The farm records what the service can only infer: when each worker was busy, so a test can
//! tell whether a TerminateInstances named a busy worker's instance. Tasks rather than
//! processes keep dozens of services side by side cheap on two cores.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::farm_worker::boot;
use super::proxy::Proxy;

/// What really happened to one instance's worker.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    /// Never got a worker.
    pub muted: bool,
    /// Busy spells: start, end (`None`: still busy), job id.
    pub busy: Vec<(Instant, Option<Instant>, String)>,
    /// When the service first answered `drain`.
    pub told_to_drain: Option<Instant>,
    /// When it reported `drained` and exited.
    pub drained_at: Option<Instant>,
    /// When the farm saw its instance terminated.
    pub gone_at: Option<Instant>,
    /// It was busy when its instance went.
    pub died_busy: bool,
    /// When its worker crashed (the instance kept running).
    pub crashed_at: Option<Instant>,
}

impl Truth {
    /// Whether it was busy at `t`.
    pub fn busy_at(&self, t: Instant) -> bool {
        self.busy
            .iter()
            .any(|(from, to, _)| *from <= t && to.is_none_or(|end| end > t))
    }

    /// Whether it is busy now.
    pub fn busy_now(&self) -> bool {
        self.busy.last().is_some_and(|(_, to, _)| to.is_none())
    }
}

/// The farm's shared state (its workers write their truth and finished jobs here).
#[derive(Default)]
pub struct State {
    pub truth: HashMap<String, Truth>,
    tasks: HashMap<String, Vec<JoinHandle<()>>>,
    pub done: Vec<String>,
    muted: HashSet<String>,
    mute_next: usize,
    /// Instances the farm saw pending or running in its last look.
    live: Vec<String>,
    /// The service, `host:port`; until known, heartbeats fail (workers still take jobs).
    pub service: Option<String>,
}

/// Where the farm's workers live.
#[derive(Clone)]
pub struct FarmConfig {
    /// Direct (not proxied) clients of the test's account.
    pub ec2: aws_sdk_ec2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// Muted instances are also shown `pending` through this proxy (an instance stuck
    /// pending); `None`: they look running (booted, but never heartbeating).
    pub pending_via: Option<Proxy>,
}

/// The running farm; stops (killing every worker) when dropped.
pub struct Farm {
    config: FarmConfig,
    state: Arc<Mutex<State>>,
    monitor: JoinHandle<()>,
}

impl Farm {
    /// Starts watching; `muted` instances (and the next `mute_next` new ones) get no worker.
    pub fn start(config: FarmConfig, muted: &[String], mute_next: usize) -> Farm {
        let state = Arc::new(Mutex::new(State {
            muted: muted.iter().cloned().collect(),
            mute_next,
            ..State::default()
        }));
        if let Some(p) = &config.pending_via {
            muted.iter().for_each(|id| p.show_pending(id));
        }
        let (c, s) = (config.clone(), state.clone());
        let monitor = tokio::spawn(async move {
            loop {
                look(&c, &s).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Farm {
            config,
            state,
            monitor,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends heartbeats to the service at `host` from now on.
    pub fn heartbeat_to(&self, host: &str) {
        self.lock().service = Some(host.to_string());
    }

    /// What happened to every instance's worker so far.
    pub fn truth(&self) -> HashMap<String, Truth> {
        self.lock().truth.clone()
    }

    /// Job ids finished (deleted from the queue), in order.
    pub fn done(&self) -> Vec<String> {
        self.lock().done.clone()
    }

    /// Instances whose worker is busy now.
    pub fn busy(&self) -> Vec<String> {
        let s = self.lock();
        let mut ids: Vec<String> = s
            .truth
            .iter()
            .filter(|(_, t)| t.busy_now())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Instances seen pending or running at the farm's last look.
    pub fn live(&self) -> Vec<String> {
        self.lock().live.clone()
    }

    /// Terminates `instance` on moto behind the service's back (a spot interruption), kills
    /// its worker at once, and notes it in the proxy's ledger.
    pub async fn interrupt(&self, instance: &str, proxy: &Proxy) {
        self.config
            .ec2
            .terminate_instances()
            .instance_ids(instance)
            .send()
            .await
            .expect("TerminateInstances (interruption)");
        proxy.note(&[], &[instance.to_string()]);
        gone(&mut self.lock(), instance);
    }
}

impl Farm {
    /// Kills `instance`'s worker but leaves the instance running: it stops heartbeating, and
    /// a job it held comes back to the queue when its visibility lapses.
    pub fn crash(&self, instance: &str) {
        let mut s = self.lock();
        for task in s.tasks.remove(instance).unwrap_or_default() {
            task.abort();
        }
        let now = Instant::now();
        let t = s.truth.entry(instance.to_string()).or_default();
        t.crashed_at = Some(now);
        if let Some(spell) = t.busy.last_mut()
            && spell.1.is_none()
        {
            spell.1 = Some(now);
        }
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        self.monitor.abort();
        for tasks in self.lock().tasks.values() {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

/// Marks `instance` gone and kills its worker.
fn gone(s: &mut State, instance: &str) {
    let now = Instant::now();
    let t = s.truth.entry(instance.to_string()).or_default();
    if t.gone_at.is_some() {
        return;
    }
    t.gone_at = Some(now);
    if let Some(spell) = t.busy.last_mut()
        && spell.1.is_none()
    {
        spell.1 = Some(now);
        t.died_busy = true;
    }
    for task in s.tasks.remove(instance).unwrap_or_default() {
        task.abort();
    }
}

/// One look at the account: boot workers for new instances, kill those of terminated ones.
async fn look(c: &FarmConfig, state: &Arc<Mutex<State>>) {
    let Ok(out) = c.ec2.describe_instances().send().await else {
        return;
    };
    let listed: Vec<(String, InstanceStateName)> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| Some((i.instance_id()?.to_string(), i.state()?.name()?.clone())))
        .collect();
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.live = listed
        .iter()
        .filter(|(_, st)| matches!(st, InstanceStateName::Pending | InstanceStateName::Running))
        .map(|(id, _)| id.clone())
        .collect();
    for (id, st) in listed {
        let known = s.truth.contains_key(&id);
        match st {
            InstanceStateName::Pending | InstanceStateName::Running if !known => {
                let mut muted = s.muted.contains(&id);
                if !muted && s.mute_next > 0 {
                    s.mute_next -= 1;
                    muted = true;
                    if let Some(p) = &c.pending_via {
                        p.show_pending(&id);
                    }
                }
                s.truth.insert(
                    id.clone(),
                    Truth {
                        muted,
                        ..Truth::default()
                    },
                );
                if !muted {
                    let tasks = boot(c, state.clone(), &id);
                    s.tasks.insert(id, tasks);
                }
            }
            InstanceStateName::ShuttingDown
            | InstanceStateName::Terminated
            | InstanceStateName::Stopping
            | InstanceStateName::Stopped
                if known =>
            {
                gone(&mut s, &id);
            }
            _ => {}
        }
    }
}
