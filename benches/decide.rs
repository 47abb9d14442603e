//! `cargo bench --bench decide`: time per `decide` call with 100 and 10,000 workers over three
//! pools (targets: ≤ 5 µs and ≤ 200 µs). A plain harness: warm up, then report the median of
//! several batches.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock to time itself

use std::hint::black_box;
use std::time::Instant;

use spillway::control::{ControlMemory, Observation, PoolObservation, QueueObservation, decide};
use spillway::model::{QueueStats, Timestamp, Worker, WorkerId, WorkerState};
use spillway::policy::{self, Policy};

fn three_pools(dc: u32, max: u32) -> Policy {
    let text = format!(
        r#"name = "bench"
[control]
interval = "60s"
[target]
free_busy_ratio = 0.25
min_free = 2
wait_slo = "30s"
[[pool]]
name = "datacenter"
kind = "static"
workers = {dc}
[[pool]]
name = "ec2-a"
kind = "ec2"
max = {max}
[[pool]]
name = "ec2-b"
kind = "ec2"
max = {max}
"#
    );
    policy::from_toml_str(&text, "bench.toml").expect("bench policy")
}

fn farm(policy: &Policy, per_pool: usize, now: Timestamp) -> Observation {
    let pools = policy
        .pools
        .iter()
        .map(|p| {
            let workers = (0..per_pool)
                .map(|i| Worker {
                    id: WorkerId(format!("{}-{i}", p.name)),
                    launched_at: Timestamp(0),
                    state: match i % 10 {
                        0 => WorkerState::Booting,
                        1..=3 => WorkerState::Idle {
                            since: Timestamp((i as i64) * 1000),
                        },
                        _ => WorkerState::Busy {
                            since: Timestamp(0),
                        },
                    },
                })
                .collect();
            PoolObservation {
                pool: p.name.clone(),
                workers: Some(workers),
            }
        })
        .collect();
    let stats = QueueStats {
        visible: 10.0,
        in_flight: (per_pool * 3) as f64 * 0.6,
        delayed: 0.0,
    };
    Observation {
        queue: Some(QueueObservation {
            averaged: stats,
            latest: stats,
            sampled_at: now,
        }),
        batch: None,
        pools,
        boots: vec![],
        completed: None,
        paused: None,
        listening_since: None,
        oracle_plan: None,
        measured_wait: None,
        by_class: None,
    }
}

fn bench(label: &str, workers: usize) {
    let per_pool = workers / 3;
    let policy = three_pools(per_pool as u32, per_pool as u32 * 2);
    let now = Timestamp(3_600_000);
    let obs = farm(&policy, per_pool, now);
    // A memory with a surplus being timed and a trend history, as in steady operation.
    let mut memory = ControlMemory::default();
    for k in 0..30 {
        memory = decide(&policy, &obs, &memory, Timestamp(now.0 - (30 - k) * 60_000)).memory;
    }
    let iters = if workers > 1000 { 2_000 } else { 200_000 };
    let mut batches = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(decide(
                black_box(&policy),
                black_box(&obs),
                black_box(&memory),
                now,
            ));
        }
        batches.push(start.elapsed().as_secs_f64() / iters as f64);
    }
    batches.sort_by(f64::total_cmp);
    println!(
        "decide, {label:>14}: median {:>8.2} µs per call (min {:.2}, max {:.2})",
        batches[3] * 1e6,
        batches[0] * 1e6,
        batches[6] * 1e6
    );
}

fn main() {
    bench("100 workers", 100);
    bench("10,000 workers", 10_000);
}
