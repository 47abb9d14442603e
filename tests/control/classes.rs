//! Job classes in `decide`: each class sized from its own queues on its own pools, the caps
//! shared by all of them.
//!
//! Reproduction (issue "Job classes"): with a `gpu` pool declared second, a simulation gave it
//! 0 workers while the first EC2 pool peaked at 129, because every pool was one overflow chain
//! sized from one queue.

use std::time::Duration;

use spillway::control::{
    Action, ByClass, ControlMemory, Observation, PoolObservation, QueueObservation, decide,
};
use spillway::model::{QueueStats, Timestamp, Worker, WorkerId, WorkerState};
use spillway::policy::{self, Policy};

const GPU_POLICY: &str = include_str!("../../policies/gpu-classes.toml");

fn gpu_policy(edits: &[(&str, &str)]) -> Policy {
    let mut text = GPU_POLICY.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "edit {from:?} did not apply");
        text = text.replace(from, to);
    }
    policy::from_toml_str(&text, "gpu-classes.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn queue(waiting: f64, running: f64, now: Timestamp) -> Option<QueueObservation> {
    let s = QueueStats {
        visible: waiting,
        in_flight: running,
        delayed: 0.0,
    };
    Some(QueueObservation {
        averaged: s,
        latest: s,
        sampled_at: now,
    })
}

/// The farm of `gpu-classes.toml`: 30 of its 40 datacenter workers busy on renders, no EC2
/// instance yet, `renders` and `gpu` jobs waiting in their queues.
fn farm(renders: f64, gpu: f64, now: Timestamp) -> Observation {
    let dc = (0..40)
        .map(|i| Worker {
            id: WorkerId(format!("dc-{i}")),
            launched_at: Timestamp(0),
            state: if i < 30 {
                WorkerState::Busy {
                    since: Timestamp(0),
                }
            } else {
                WorkerState::Idle {
                    since: Timestamp(0),
                }
            },
        })
        .collect();
    let pool = |name: &str, workers| PoolObservation {
        pool: name.into(),
        workers: Some(workers),
    };
    let renders_q = queue(renders, 30.0, now);
    let gpu_q = queue(gpu, 0.0, now);
    let total = QueueStats {
        visible: renders + gpu,
        in_flight: 30.0,
        delayed: 0.0,
    };
    Observation {
        queue: Some(QueueObservation {
            averaged: total,
            latest: total,
            sampled_at: now,
        }),
        batch: None,
        pools: vec![
            pool("datacenter", dc),
            pool("cpu-ec2", Vec::new()),
            pool("gpu-ec2", Vec::new()),
        ],
        boots: Vec::new(),
        completed: None,
        paused: None,
        listening_since: None,
        oracle_plan: None,
        measured_wait: None,
        by_class: Some(ByClass {
            queues: vec![renders_q, gpu_q],
            boots: vec![Vec::new(); 3],
            completed: vec![None; 3],
            oracle_plans: Vec::new(),
        }),
    }
}

fn launched(actions: &[Action], pool: &str) -> u32 {
    actions
        .iter()
        .map(|a| match a {
            Action::Launch { pool: p, count, .. } if p == pool => *count,
            _ => 0,
        })
        .sum()
}

#[test]
fn queues_bound_to_pools_form_classes_each_with_its_own_pools_and_slo() {
    let p = gpu_policy(&[]);
    let classes: Vec<(&str, Vec<usize>, Duration)> = p
        .classes
        .iter()
        .map(|c| (c.name.as_str(), c.pools.clone(), c.policy.target.wait_slo))
        .collect();
    assert_eq!(
        classes,
        vec![
            ("renders", vec![0, 1], Duration::from_secs(30)),
            ("gpu", vec![2], Duration::from_secs(60)),
        ]
    );
    // A policy whose queues name no pools is one farm, as before.
    assert!(policy::embedded_default().classes.is_empty());
}

#[test]
fn each_class_launches_on_its_own_pools_for_its_own_queue() {
    let now = Timestamp::from_millis(600_000);
    let policy = gpu_policy(&[]);
    // GPU renders waiting, the renders' queue empty: only GPU instances.
    let d = decide(
        &policy,
        &farm(0.0, 30.0, now),
        &ControlMemory::default(),
        now,
    )
    .decision;
    assert!(launched(&d.actions, "gpu-ec2") > 0, "{:?}", d.actions);
    assert_eq!(launched(&d.actions, "cpu-ec2"), 0, "{:?}", d.actions);
    // Renders waiting beyond the datacenter, no GPU render: CPU instances for them, and no
    // more GPU instances than the GPU class's own headroom (`min_free`).
    let d = decide(
        &policy,
        &farm(60.0, 0.0, now),
        &ControlMemory::default(),
        now,
    )
    .decision;
    assert!(launched(&d.actions, "cpu-ec2") >= 50, "{:?}", d.actions);
    assert_eq!(
        launched(&d.actions, "gpu-ec2"),
        policy.target.min_free,
        "{:?}",
        d.actions
    );
    // Every reason says which class it is about.
    assert!(
        d.actions
            .iter()
            .all(|a| a.reason().text.starts_with("class ")),
        "{:?}",
        d.actions
    );
}

#[test]
fn the_hourly_budget_and_the_launch_guard_are_shared_by_the_classes() {
    let now = Timestamp::from_millis(600_000);
    // Each class alone would spend the whole budget: together they stay within it.
    let policy = gpu_policy(&[("max_hourly_usd = 150", "max_hourly_usd = 30")]);
    let d = decide(
        &policy,
        &farm(400.0, 200.0, now),
        &ControlMemory::default(),
        now,
    )
    .decision;
    let usd = f64::from(launched(&d.actions, "cpu-ec2")) * 0.34
        + f64::from(launched(&d.actions, "gpu-ec2")) * 1.20;
    assert!(usd <= 30.0 + 1e-9, "launched ${usd:.2}/h: {:?}", d.actions);
    assert!(usd > 25.0, "the budget is used: ${usd:.2}/h");
    // The launches-per-hour guard counts every class's launches.
    let policy = gpu_policy(&[(
        "max_hourly_usd = 150",
        "max_hourly_usd = 150\nmax_launches_per_hour = 12",
    )]);
    let mut memory = ControlMemory::default();
    let mut total = 0;
    for minute in 0..5 {
        let t = now.plus(Duration::from_secs(60 * minute));
        let step = decide(&policy, &farm(400.0, 200.0, t), &memory, t);
        total += step.decision.launched();
        memory = step.memory;
    }
    assert_eq!(
        total, 12,
        "launches in five minutes under a guard of 12 an hour"
    );
}
