//! Builders for controller tests: a policy and an observed farm, written the way one would
//! describe a situation ("40 datacenter workers all busy, 12 jobs waiting, 3 EC2 booting"),
//! optionally with a command pool of on-prem VMs (`vms`, after `ec2` in the policy).

#![allow(dead_code)]

pub mod actions;

use std::time::Duration;

use spillway::control::{
    ControlMemory, Observation, PoolObservation, QueueObservation, Step, decide,
};
use spillway::model::{QueueStats, Timestamp, Worker, WorkerId, WorkerState};
use spillway::policy::{self, Policy};

/// The seed policy (40 datacenter workers, EC2 0..200 at $0.34/h, budget $60/h).
pub fn picnik() -> Policy {
    policy::embedded_default()
}

/// A policy from the seed with `edit` applied to its TOML text.
pub fn picnik_with(from: &str, to: &str) -> Policy {
    let text = policy::EMBEDDED_DEFAULT.replace(from, to);
    assert_ne!(
        text,
        policy::EMBEDDED_DEFAULT,
        "edit {from:?} did not apply"
    );
    policy::from_toml_str(&text, "test.toml").unwrap()
}

/// The seed policy with a command pool `vms` of `workers` VMs (`min` always on, speed 1.0, no
/// cost, boot 60 s) appended after its EC2 pool, and `edits` applied to the seed's text.
pub fn picnik_with_command(workers: u32, min: u32, edits: &[(&str, &str)]) -> Policy {
    let mut text = policy::EMBEDDED_DEFAULT.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "edit {from:?} did not apply");
        text = text.replace(from, to);
    }
    text.push_str(&format!(
        r#"
[[pool]]
name = "vms"
kind = "command"
workers = {workers}
min = {min}
boot_time = "60s"
start_command = ["/usr/local/bin/render-vm", "start"]
stop_command = ["/usr/local/bin/render-vm", "stop"]
"#
    ));
    policy::from_toml_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Seconds as a timestamp.
pub fn at(s: i64) -> Timestamp {
    Timestamp::from_millis(s * 1000)
}

/// An observed farm: datacenter and EC2 workers plus the queue.
#[derive(Clone)]
pub struct Farm {
    pub now: Timestamp,
    pub dc: Vec<Worker>,
    pub ec2: Vec<Worker>,
    /// Workers of the command pool `vms`; `None` when the policy has none.
    pub vms: Option<Vec<Worker>>,
    pub waiting: f64,
    /// Delayed messages (not visible yet).
    pub delayed: f64,
    pub queue_age: Duration,
    pub queue_missing: bool,
    pub ec2_listing_missing: bool,
    /// A batch queue: jobs waiting, and how many busy workers run batch jobs.
    pub batch: Option<(f64, usize)>,
    /// When the observer started listening to heartbeats (a restart); `None`: always.
    pub listening_since: Option<Timestamp>,
    pub next: usize,
}

impl Farm {
    /// 40 idle datacenter workers, no EC2, empty queue, at `now`.
    pub fn at(now: Timestamp) -> Farm {
        let mut f = Farm {
            now,
            dc: Vec::new(),
            ec2: Vec::new(),
            vms: None,
            waiting: 0.0,
            delayed: 0.0,
            queue_age: Duration::ZERO,
            queue_missing: false,
            ec2_listing_missing: false,
            batch: None,
            listening_since: None,
            next: 0,
        };
        for i in 0..40 {
            f.dc.push(Worker {
                id: WorkerId(format!("dc-{i:03}")),
                launched_at: Timestamp(0),
                state: WorkerState::Idle {
                    since: Timestamp(0),
                },
            });
        }
        f
    }

    /// Marks `n` datacenter workers busy.
    pub fn dc_busy(mut self, n: usize) -> Farm {
        for w in self.dc.iter_mut().take(n) {
            w.state = WorkerState::Busy {
                since: Timestamp(0),
            };
        }
        self
    }

    fn push_ec2(&mut self, launched_at: Timestamp, state: WorkerState) -> WorkerId {
        self.next += 1;
        let id = WorkerId(format!("i-{:04}", self.next));
        self.ec2.push(Worker {
            id: id.clone(),
            launched_at,
            state,
        });
        id
    }

    /// Adds `n` busy EC2 workers.
    pub fn ec2_busy(mut self, n: usize) -> Farm {
        for _ in 0..n {
            self.push_ec2(
                Timestamp(0),
                WorkerState::Busy {
                    since: Timestamp(0),
                },
            );
        }
        self
    }

    /// Adds `n` EC2 workers idle since `since`.
    pub fn ec2_idle_since(mut self, n: usize, since: Timestamp) -> Farm {
        for _ in 0..n {
            self.push_ec2(Timestamp(0), WorkerState::Idle { since });
        }
        self
    }

    /// Adds `n` EC2 workers observed in `state`.
    pub fn ec2_in_state(mut self, n: usize, state: WorkerState) -> Farm {
        for _ in 0..n {
            self.push_ec2(Timestamp(0), state);
        }
        self
    }

    /// Adds `n` EC2 workers booting since `launched`.
    pub fn ec2_booting_since(mut self, n: usize, launched: Timestamp) -> Farm {
        for _ in 0..n {
            self.push_ec2(launched, WorkerState::Booting);
        }
        self
    }

    /// The observer (re)started listening at `since`: a service restart or a failover.
    pub fn listening_since(mut self, since: Timestamp) -> Farm {
        self.listening_since = Some(since);
        self
    }

    /// Removes every datacenter worker from the observation (none has reported yet).
    pub fn dc_unheard(mut self) -> Farm {
        self.dc.clear();
        self
    }

    /// Gives the farm the command pool `vms` (empty), observed after `ec2`.
    pub fn with_vms(mut self) -> Farm {
        self.vms.get_or_insert_with(Vec::new);
        self
    }

    fn push_vm(&mut self, launched_at: Timestamp, state: WorkerState) -> WorkerId {
        self.next += 1;
        let id = WorkerId(format!("vm-{:04}", self.next));
        self.vms.get_or_insert_with(Vec::new).push(Worker {
            id: id.clone(),
            launched_at,
            state,
        });
        id
    }

    /// Adds `n` busy VMs to the command pool.
    pub fn vm_busy(mut self, n: usize) -> Farm {
        for _ in 0..n {
            let busy = WorkerState::Busy {
                since: Timestamp(0),
            };
            self.push_vm(Timestamp(0), busy);
        }
        self
    }

    /// Adds `n` VMs idle since `since` to the command pool.
    pub fn vm_idle_since(mut self, n: usize, since: Timestamp) -> Farm {
        for _ in 0..n {
            self.push_vm(Timestamp(0), WorkerState::Idle { since });
        }
        self
    }

    /// Adds `n` VMs started at `launched` and not heartbeating yet to the command pool.
    pub fn vm_booting_since(mut self, n: usize, launched: Timestamp) -> Farm {
        for _ in 0..n {
            self.push_vm(launched, WorkerState::Booting);
        }
        self
    }

    /// Every worker of `pool` (`datacenter`, `ec2` or `vms`).
    pub fn workers(&self, pool: &str) -> &[Worker] {
        match pool {
            "datacenter" => &self.dc,
            "ec2" => &self.ec2,
            _ => self.vms.as_deref().unwrap_or(&[]),
        }
    }

    /// `n` jobs waiting in the queue.
    pub fn waiting(mut self, n: f64) -> Farm {
        self.waiting = n;
        self
    }

    /// Sets the messages sent with a delay, not visible yet.
    pub fn delayed(mut self, n: f64) -> Farm {
        self.delayed = n;
        self
    }

    /// The queue statistics were sampled `age` before now.
    pub fn queue_age(mut self, age: Duration) -> Farm {
        self.queue_age = age;
        self
    }

    /// The queue statistics could not be read.
    pub fn queue_missing(mut self) -> Farm {
        self.queue_missing = true;
        self
    }

    /// The EC2 listing failed.
    pub fn ec2_listing_missing(mut self) -> Farm {
        self.ec2_listing_missing = true;
        self
    }

    /// A batch queue with `waiting` jobs; `running` of the busy workers run batch jobs.
    pub fn batch(mut self, waiting: f64, running: usize) -> Farm {
        self.batch = Some((waiting, running));
        self
    }

    /// The observation `decide` would receive.
    pub fn observe(&self) -> Observation {
        let busy = self
            .dc
            .iter()
            .chain(&self.ec2)
            .chain(self.vms.iter().flatten())
            .filter(|w| w.is_busy())
            .count() as f64;
        let running = self.batch.map_or(0.0, |(_, r)| (r as f64).min(busy));
        let stats = QueueStats {
            visible: self.waiting,
            in_flight: busy - running,
            delayed: self.delayed,
        };
        let batch_stats = self.batch.map(|(waiting, _)| QueueStats {
            visible: waiting,
            in_flight: running,
            delayed: 0.0,
        });
        Observation {
            queue: (!self.queue_missing).then(|| QueueObservation {
                averaged: stats,
                latest: stats,
                sampled_at: self.now.minus(self.queue_age),
            }),
            batch: batch_stats.map(|b| QueueObservation {
                averaged: b,
                latest: b,
                sampled_at: self.now,
            }),
            pools: [
                PoolObservation {
                    pool: "datacenter".into(),
                    workers: Some(self.dc.clone()),
                },
                PoolObservation {
                    pool: "ec2".into(),
                    workers: (!self.ec2_listing_missing).then(|| self.ec2.clone()),
                },
            ]
            .into_iter()
            .chain(self.vms.as_ref().map(|vms| PoolObservation {
                pool: "vms".into(),
                workers: Some(vms.clone()),
            }))
            .collect(),
            boots: Vec::new(),
            completed: None,
            paused: None,
            listening_since: self.listening_since,
            oracle_plan: None,
            measured_wait: None,
            by_class: None,
        }
    }

    /// Runs `decide` on this farm with `memory`.
    pub fn decide(&self, policy: &Policy, memory: &ControlMemory) -> Step {
        decide(policy, &self.observe(), memory, self.now)
    }
}
