//! The simulator: replays a workload through the same `decide` the live service runs.
//!
//! A plain, seeded, single-threaded discrete-event loop (no async runtime). Jobs arrive from
//! the trace, completions and boots come off a binary heap, and every `control.interval` the
//! controller observes the simulated farm, decides, and the world applies the decision. Queue
//! statistics are averaged exactly over `control.window` (time-weighted integrals). The same
//! policy, trace and seed always give the same report.

pub mod binding;
pub mod clairvoyant;
pub mod compare;
pub mod compare_table;
pub mod demand;
pub mod durations;
pub mod faults;
pub mod injection;
mod observe;
pub mod plot;
pub mod queue_report;
pub mod reconstruct;
pub mod recorded;
pub mod report;
pub mod rng;
pub mod sample;
pub mod scenario;
pub mod trace;
pub mod tune;
pub mod world;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use crate::control::strategy::oracle::OraclePlan;
use crate::control::{ByClass, ControlMemory, Decision, Observation, decide_owned};
use crate::model::Timestamp;
use crate::policy::Policy;

use observe::{Integrals, observe_pools};
use report::Report;
use sample::Sample;
use trace::{Job, JobClass};
use world::{Scheduled, World};

/// A change of render speed in one pool for a while (an incident).
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedChange {
    pub pool: String,
    pub from_s: f64,
    pub to_s: f64,
    pub factor: f64,
}

/// A workload ready to run: a label for reports, what it shows (built-in scenarios), its jobs
/// and how to simulate them (incidents, faults, seed).
pub struct Workload {
    pub label: String,
    pub about: Option<&'static str>,
    pub jobs: Vec<trace::Job>,
    /// The queues its jobs are submitted to, which `Job::queue` indexes (empty: one queue);
    /// [`binding::bind_queues`] points them at a policy's.
    pub queues: Vec<String>,
    pub config: SimConfig,
}

/// How to run a simulation besides the policy and the jobs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// Sigma of the log-normal spread of boot times around `boot_time`.
    pub boot_jitter: f64,
    /// Probability that a launch never becomes ready.
    pub launch_failure_rate: f64,
    /// Speed incidents.
    pub speed_changes: Vec<SpeedChange>,
    /// Seconds between samples for the plot and the elasticity metrics.
    pub sample_every_s: f64,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Keep every tick's decision in the output (`simulate --decisions`).
    pub keep_decisions: bool,
    /// EC2 outages and spot interruptions.
    pub faults: faults::Faults,
    /// The clairvoyant strategy's plan, handed to `decide` in every observation
    /// (`compare`'s oracle run only).
    pub oracle_plan: Option<Arc<OraclePlan>>,
    /// With job classes, the oracle's plan for each class (`compare`'s oracle run only).
    pub class_oracle_plans: Vec<Arc<OraclePlan>>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            boot_jitter: 0.15,
            launch_failure_rate: 0.0,
            speed_changes: Vec::new(),
            sample_every_s: 60.0,
            progress: false,
            keep_decisions: false,
            faults: faults::Faults::default(),
            oracle_plan: None,
            class_oracle_plans: Vec::new(),
        }
    }
}

/// The report and the sampled time series of one run.
#[derive(Debug, Clone)]
pub struct SimOutput {
    pub report: Report,
    pub samples: Vec<Sample>,
    /// Every tick's decision with its time in seconds, when `keep_decisions` was set.
    pub decisions: Vec<(f64, Decision)>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    BootDone(u32),
    JobDone(u32),
}

/// A taken job's wait reaches the service with the worker's next heartbeat: half a period
/// later on average.
const WAIT_REPORT_DELAY_MS: i64 = observe::HEARTBEAT_EVERY_MS / 2 + observe::HEARTBEAT_LATENCY_MS;

/// The measured wait the service would have at `now`: the jobs heard of within the window
/// (started a report delay earlier). Drops what is too old to be heard in a later window.
fn measured_wait(
    waits: &mut VecDeque<(i64, f64)>,
    now: i64,
    window_ms: i64,
) -> Option<crate::control::MeasuredWait> {
    let heard_by = now - WAIT_REPORT_DELAY_MS;
    let from = heard_by - window_ms;
    while waits.front().is_some_and(|&(t, _)| t < from) {
        waits.pop_front();
    }
    let mut heard: Vec<f64> = waits
        .iter()
        .take_while(|&&(t, _)| t < heard_by)
        .map(|&(_, w)| w)
        .collect();
    crate::control::MeasuredWait::of(&mut heard)
}

/// Runs `policy` over `jobs` (sorted by submission time).
pub fn run(policy: &Policy, jobs: &[Job], config: &SimConfig) -> SimOutput {
    let mut world = World::new(policy, jobs.len(), config);
    let has_batch = jobs.iter().any(|j| j.class == JobClass::Batch);
    let tick_ms = policy.control.tick_every().as_millis().max(1) as i64;
    let window_ms = policy.control.window.as_millis().max(1) as i64;
    let sample_ms = (config.sample_every_s * 1000.0).max(1.0) as i64;
    let last_submit = jobs.last().map_or(0, |j| j.submit_ms);
    let give_up_ms = last_submit + 30 * 86_400_000;

    let mut heap: BinaryHeap<Reverse<(i64, Event)>> = BinaryHeap::new();
    let mut memory = ControlMemory::default();
    let mut obs = Observation {
        paused: None,
        queue: None,
        batch: None,
        pools: Vec::new(),
        boots: Vec::new(),
        completed: None,
        listening_since: None,
        oracle_plan: config.oracle_plan.clone(),
        measured_wait: None,
        by_class: None,
    };
    let mut integrals = Integrals::new();
    let mut batch_integrals = Integrals::new();
    // With job classes, each queue on its own as well.
    let mut lane_integrals: Vec<Integrals> = match world.per_pool {
        Some(_) => (0..world.queues.len()).map(|_| Integrals::new()).collect(),
        None => Vec::new(),
    };
    let mut listed = observe::Listed::new();
    let mut samples = Vec::new();
    let mut decisions = report::DecisionCounts::default();
    let mut kept = Vec::new();
    let mut was_down = false;
    let (mut next_job, mut next_tick, mut next_sample) = (0usize, 0i64, 0i64);
    let (mut last_tick, mut partial_view) = (-1i64, false);
    let mut now = 0i64;
    let progress = report::Progress::new(config.progress, jobs.len() as u64);

    let schedule = |heap: &mut BinaryHeap<Reverse<(i64, Event)>>, s: Option<Scheduled>| match s {
        Some(Scheduled::JobDone { worker, at }) => heap.push(Reverse((at, Event::JobDone(worker)))),
        Some(Scheduled::BootDone { worker, at }) => {
            heap.push(Reverse((at, Event::BootDone(worker))))
        }
        None => {}
    };

    loop {
        let done = next_job >= jobs.len() && world.queued() == 0 && world.busy == 0;
        if done || now > give_up_ms {
            break;
        }
        let t_event = heap.peek().map_or(i64::MAX, |Reverse((t, _))| *t);
        let t_job = jobs.get(next_job).map_or(i64::MAX, |j| j.submit_ms);
        let t = t_event.min(t_job).min(next_tick).min(next_sample);
        integrals.advance(t, world.queued_interactive(), world.busy - world.busy_batch);
        batch_integrals.advance(t, world.queued_batch(), world.busy_batch);
        for (lane, i) in lane_integrals.iter_mut().enumerate() {
            i.advance(t, world.queues[lane].len(), world.busy_in[lane]);
        }
        now = t;
        if t_event == t {
            let Some(Reverse((_, ev))) = heap.pop() else {
                break;
            };
            let s = match ev {
                Event::JobDone(w) => world.job_done(w, jobs, now),
                Event::BootDone(w) => world.boot_done(w, jobs, now),
            };
            schedule(&mut heap, s);
        } else if t_job == t {
            let s = world.arrive(next_job as u32, jobs, now);
            schedule(&mut heap, s);
            next_job += 1;
            if next_job % 65_536 == 0 {
                progress.set(next_job as u64);
            }
        } else if next_sample == t {
            samples.push(Sample::take(&world, now));
            next_sample += sample_ms;
        } else {
            let ec2_down = config.faults.ec2_down(now);
            let rate = config.faults.spot_interruptions_per_hour;
            for s in world.interrupt_spot(rate, tick_ms, jobs, now) {
                schedule(&mut heap, Some(s));
            }
            obs.queue = Some(integrals.observe(
                now,
                window_ms,
                world.queued_interactive(),
                world.busy - world.busy_batch,
            ));
            obs.batch = has_batch.then(|| {
                batch_integrals.observe(now, window_ms, world.queued_batch(), world.busy_batch)
            });
            if let Some(tally) = &mut world.per_pool {
                let queues = lane_integrals
                    .iter_mut()
                    .enumerate()
                    .map(|(lane, i)| {
                        Some(i.observe(
                            now,
                            window_ms,
                            world.queues[lane].len(),
                            world.busy_in[lane],
                        ))
                    })
                    .collect();
                obs.by_class = Some(ByClass {
                    oracle_plans: config.class_oracle_plans.clone(),
                    queues,
                    boots: tally.boots.iter_mut().map(std::mem::take).collect(),
                    completed: tally
                        .completed
                        .iter_mut()
                        .map(|n| Some(std::mem::take(n)))
                        .collect(),
                });
            }
            // A restart or failover: the memory is resumed as from `--state-file`, and the new
            // process has heard no worker yet.
            if config.faults.restarted_between(last_tick, now) {
                memory = memory.resumed();
                obs.listening_since = Some(Timestamp(now));
                world.dirty = true;
            }
            // Until every worker has been heard from, each tick sees more of them.
            let hearing = obs.listening_since.is_some_and(|since| {
                now < since.as_millis()
                    + observe::HEARTBEAT_EVERY_MS
                    + observe::HEARTBEAT_LATENCY_MS
            });
            let draining = world.idle_draining > 0;
            if world.dirty || ec2_down || was_down || hearing || partial_view || draining {
                let listening = obs.listening_since.map(Timestamp::as_millis);
                observe_pools(&world, policy, now, listening, &mut obs.pools, &mut listed);
                world.dirty = false;
            }
            partial_view = hearing;
            last_tick = now;
            was_down = ec2_down;
            if ec2_down {
                // DescribeInstances fails too: the EC2 pools are unknown, not empty.
                for (p, pool) in obs.pools.iter_mut().zip(&policy.pools) {
                    if pool.ec2().is_some() {
                        p.workers = None;
                    }
                }
            }
            obs.boots = std::mem::take(&mut world.boots);
            obs.completed = Some(std::mem::take(&mut world.completed_since_tick));
            if let Some(waits) = &mut world.taken_waits {
                obs.measured_wait = measured_wait(waits, now, window_ms);
            }
            let step = decide_owned(policy, &obs, memory, Timestamp(now));
            decisions.record(&step.decision);
            if config.keep_decisions {
                kept.push((now as f64 / 1000.0, step.decision.clone()));
            }
            for s in world.apply(&step.decision, policy, now, ec2_down) {
                schedule(&mut heap, Some(s));
            }
            memory = step.memory;
            next_tick += tick_ms;
        }
    }
    progress.finish();
    world.close_books(now);
    let curve = demand::demand_curve(jobs, now, sample_ms);
    for (s, d) in samples.iter_mut().zip(&curve) {
        s.demand = *d;
    }
    let report = Report::build(
        policy, jobs, &world, &samples, &curve, &decisions, now, config,
    );
    SimOutput {
        report,
        samples,
        decisions: kept,
    }
}
