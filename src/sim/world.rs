//! The simulated farm: a FIFO queue per class, workers per pool, and what decisions do to them.
//!
//! Interactive jobs are served before batch jobs. An idle worker takes the next job; idle
//! workers are picked static datacenter pools first, then command pools (on-prem VMs), then EC2
//! pools, each kind in policy order, most recently freed first (so surplus idleness gathers on a
//! few EC2 workers, which scale-in can then remove). Launched workers (EC2 instances, started
//! VMs) boot for a drawn time around their pool's `boot_time` (or never, on a launch failure);
//! only EC2 workers are billed, per second from launch to termination with a 60 s minimum.
//! Command-pool VMs are on-prem: their busy time counts as datacenter time.
//!
//! Scale-in speaks the service's drain handshake: a worker told to drain takes no more jobs,
//! finishes the one it runs, reports `drained` with its next heartbeat, and is terminated (and
//! billed until then) only when the controller's next decision says so.

use std::collections::VecDeque;

use crate::model::WorkerId;
use crate::policy::{Policy, PoolKind};

mod actions;
mod dispatch;
mod interruptions;
mod routing;

pub(crate) use routing::Routing;

use super::SimConfig;
use super::rng::SimRng;

/// A worker's simulated state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WState {
    Booting,
    Idle { since: i64 },
    Busy { since: i64 },
    Gone,
}

/// One simulated worker.
#[derive(Debug, Clone)]
pub struct SimWorker {
    pub id: WorkerId,
    pub pool: usize,
    pub launched_ms: i64,
    pub state: WState,
    /// Told to drain: takes no more jobs, finishes its job, reports drained, then is terminated.
    pub draining: bool,
    /// When the controller hears that it has drained (ms; while idle and draining).
    pub drained_at: i64,
    /// Whether the job it runs is a batch job.
    on_batch: bool,
    /// The lane of the job it runs (see [`Routing`]).
    lane: u16,
    /// The job it runs (when busy) and when that job will end (ms).
    job: u32,
    busy_until: i64,
    /// Position in `World::live[pool]`.
    slot: usize,
}

/// Something the world asks the event loop to schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    JobDone { worker: u32, at: i64 },
    BootDone { worker: u32, at: i64 },
}

/// Counters the report is built from.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub launches: u64,
    pub launch_failures: u64,
    pub terminations: u64,
    /// Terminations the world refused because the worker was busy (must stay 0).
    pub busy_terminations_refused: u64,
    pub ec2_billed_s: f64,
    /// Billed seconds spent booting (launch to ready, or to termination if never ready).
    pub ec2_boot_s: f64,
    pub ec2_cost_usd: f64,
    pub ec2_busy_s: f64,
    pub datacenter_busy_s: f64,
    /// Spot instances taken away, and jobs they were running (back in the queue).
    pub spot_interruptions: u64,
    pub jobs_restarted: u64,
    /// EC2 actions that failed because the API was unreachable.
    pub ec2_actions_failed: u64,
}

/// Boots and completions per pool since the last observation (job classes).
#[derive(Debug, Clone, Default)]
pub struct PerPoolTally {
    pub boots: Vec<Vec<std::time::Duration>>,
    pub completed: Vec<u64>,
}

/// The simulated farm.
pub struct World {
    pub workers: Vec<SimWorker>,
    /// Live (not gone) worker indices per pool.
    pub live: Vec<Vec<u32>>,
    /// Idle workers per pool, most recently freed last.
    idle: Vec<Vec<u32>>,
    /// Jobs waiting, one FIFO per lane ([`Routing`]): without job classes, interactive (0)
    /// and batch (1).
    pub queues: Vec<VecDeque<u32>>,
    pub busy: u32,
    /// Workers running batch jobs (included in `busy`).
    pub busy_batch: u32,
    /// Workers running each lane's jobs.
    pub busy_in: Vec<u32>,
    /// With job classes: boots and completions per pool since the last observation (each
    /// class learns its own).
    pub per_pool: Option<PerPoolTally>,
    /// With job classes: per job, the pool of the worker it (last) started on.
    pub ran_on: Option<Vec<u16>>,
    pub(crate) routing: Routing,
    pub booting: u32,
    pub tally: Tally,
    /// Boot durations completed since the last observation.
    pub boots: Vec<std::time::Duration>,
    /// Jobs finished since the last observation.
    pub completed_since_tick: u64,
    /// Whether any worker changed since the observation was last built (the simulator reuses
    /// it otherwise: over a long quiet trace most ticks change nothing).
    pub dirty: bool,
    /// Idle workers that are draining: their report of `drained` arrives with time, so the
    /// observation is rebuilt every tick while there are any.
    pub idle_draining: u32,
    /// Per-job start time (ms), `i64::MIN` until started.
    pub started: Vec<i64>,
    /// With `target.wait_feedback`: (start ms, wait s) of interactive jobs started recently,
    /// what workers would report (the simulator trims it to the window).
    pub taken_waits: Option<VecDeque<(i64, f64)>>,
    pool_speed: Vec<f64>,
    pool_cost: Vec<f64>,
    pool_is_ec2: Vec<bool>,
    pool_is_command: Vec<bool>,
    /// Whether a pool's boots feed the controller's boot estimate.
    feeds_boot: Vec<bool>,
    boot_ms: Vec<f64>,
    boot_jitter: f64,
    launch_failure_rate: f64,
    rng: SimRng,
    /// Spot interruptions draw from their own stream: other draws stay as without them.
    spot_rng: SimRng,
    next_id: u64,
    /// Speed incidents: (pool, from ms, to ms, factor).
    incidents: Vec<(usize, i64, i64, f64)>,
}

impl World {
    /// A farm with the policy's static workers present and idle at time 0.
    pub fn new(policy: &Policy, jobs: usize, config: &SimConfig) -> World {
        let n = policy.pools.len();
        let routing = Routing::new(policy);
        let mut w = World {
            workers: Vec::new(),
            live: vec![Vec::new(); n],
            idle: vec![Vec::new(); n],
            queues: vec![VecDeque::new(); routing.lanes()],
            busy: 0,
            busy_batch: 0,
            busy_in: vec![0; routing.lanes()],
            per_pool: (!policy.classes.is_empty()).then(|| PerPoolTally {
                boots: vec![Vec::new(); n],
                completed: vec![0; n],
            }),
            ran_on: (!policy.classes.is_empty()).then(|| vec![0; jobs]),
            routing,
            booting: 0,
            tally: Tally::default(),
            boots: Vec::new(),
            completed_since_tick: 0,
            dirty: true,
            idle_draining: 0,
            started: vec![i64::MIN; jobs],
            taken_waits: policy.target.wait_feedback.then(VecDeque::new),
            pool_speed: policy.pools.iter().map(|p| p.speed).collect(),
            pool_cost: policy.pools.iter().map(|p| p.billed_price()).collect(),
            pool_is_ec2: policy.pools.iter().map(|p| p.ec2().is_some()).collect(),
            pool_is_command: policy.pools.iter().map(|p| p.command().is_some()).collect(),
            feeds_boot: (0..n).map(|i| policy.feeds_boot_estimate(i)).collect(),
            boot_ms: policy
                .pools
                .iter()
                .map(|p| p.scaling().map_or(0.0, |s| s.boot_time.as_millis() as f64))
                .collect(),
            boot_jitter: config.boot_jitter,
            launch_failure_rate: config.launch_failure_rate,
            rng: SimRng::new(config.seed, 0xb007),
            spot_rng: SimRng::new(config.seed, 0x5b07),
            next_id: 0,
            incidents: config
                .speed_changes
                .iter()
                .filter_map(|c| {
                    let p = policy.pools.iter().position(|p| p.name == c.pool)?;
                    Some((
                        p,
                        (c.from_s * 1000.0) as i64,
                        (c.to_s * 1000.0) as i64,
                        c.factor,
                    ))
                })
                .collect(),
        };
        for (i, pool) in policy.pools.iter().enumerate() {
            if let PoolKind::Static { workers } = pool.kind {
                for k in 0..workers {
                    let idx = w.add_worker(
                        i,
                        WorkerId(format!("{}-{k:03}", pool.name)),
                        0,
                        WState::Idle { since: 0 },
                    );
                    w.idle[i].push(idx);
                }
            }
        }
        w
    }

    fn add_worker(&mut self, pool: usize, id: WorkerId, now: i64, state: WState) -> u32 {
        self.dirty = true;
        let idx = self.workers.len() as u32;
        let slot = self.live[pool].len();
        self.live[pool].push(idx);
        self.workers.push(SimWorker {
            id,
            pool,
            launched_ms: now,
            state,
            draining: false,
            drained_at: i64::MAX,
            on_batch: false,
            lane: 0,
            job: 0,
            busy_until: 0,
            slot,
        });
        idx
    }

    fn remove_live(&mut self, idx: u32) {
        let (pool, slot) = (
            self.workers[idx as usize].pool,
            self.workers[idx as usize].slot,
        );
        self.live[pool].swap_remove(slot);
        if let Some(&moved) = self.live[pool].get(slot) {
            self.workers[moved as usize].slot = slot;
        }
    }

    /// Jobs waiting, every queue.
    pub fn queued(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Batch jobs waiting.
    pub fn queued_batch(&self) -> usize {
        self.waiting(true)
    }

    /// Interactive jobs waiting.
    pub fn queued_interactive(&self) -> usize {
        self.waiting(false)
    }

    fn waiting(&self, batch: bool) -> usize {
        if !self.routing.by_queue() {
            // The two lanes of a farm without classes (the simulator's hot path).
            return self.queues[usize::from(batch)].len();
        }
        self.queues
            .iter()
            .zip(&self.routing.batch)
            .filter(|(_, b)| **b == batch)
            .map(|(q, _)| q.len())
            .sum()
    }

    /// Ready (idle or busy) workers in `pool`.
    pub fn ready_in(&self, pool: usize) -> usize {
        self.live[pool]
            .iter()
            .filter(|&&i| {
                matches!(
                    self.workers[i as usize].state,
                    WState::Idle { .. } | WState::Busy { .. }
                )
            })
            .count()
    }

    /// `worker` leaves the booting state at `now` (ready or terminated): its boot time is billed
    /// as booting. Returns how long it booted, in milliseconds.
    fn end_boot(&mut self, worker: u32, now: i64) -> i64 {
        self.dirty = true;
        let w = &self.workers[worker as usize];
        let booted_ms = (now - w.launched_ms).max(0);
        self.booting -= 1;
        if self.pool_is_ec2[w.pool] {
            self.tally.ec2_boot_s += booted_ms as f64 / 1000.0;
        }
        booted_ms
    }

    fn bill(&mut self, idx: u32, now: i64) {
        let w = &self.workers[idx as usize];
        if self.pool_is_ec2[w.pool] {
            let secs = ((now - w.launched_ms) as f64 / 1000.0).max(60.0);
            self.tally.ec2_billed_s += secs;
            self.tally.ec2_cost_usd += secs / 3600.0 * self.pool_cost[w.pool];
        }
    }

    /// Bills every EC2 worker still alive at the end of the run.
    pub fn close_books(&mut self, now: i64) {
        let alive: Vec<u32> = self.live.iter().flatten().copied().collect();
        for idx in alive {
            self.bill(idx, now);
        }
    }
}
