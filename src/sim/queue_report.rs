//! Each queue's own figures in a report, with job classes: its jobs' waits against its own
//! SLO, and the pools its jobs ran on (from the simulator's record of where each job started).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::format_wait;
use crate::policy::{Policy, QueueClass};

use super::trace::Job;
use super::world::World;

/// One `[[queue]]`'s figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueReport {
    pub name: String,
    /// Whether its jobs are batch work (their waits are not judged).
    pub batch: bool,
    /// Its SLO: its own `wait_slo`, else `target.wait_slo`.
    pub slo_wait_s: f64,
    pub jobs: u64,
    /// Jobs that started (and so have a wait).
    pub started: u64,
    pub wait_p50_s: f64,
    pub wait_p99_s: f64,
    pub wait_max_s: f64,
    /// Fraction of its started jobs that waited at most `slo_wait_s`.
    pub slo_attainment: f64,
    /// Whether its p99 wait meets its SLO and every one of its jobs started (batch queues:
    /// whether every job started).
    pub meets_slo: bool,
    /// Jobs by the pool of the worker they (last) started on.
    pub ran_on: BTreeMap<String, u64>,
}

/// The figures of each of `policy`'s queues; empty without job classes.
pub fn build(policy: &Policy, jobs: &[Job], world: &World) -> Vec<QueueReport> {
    let Some(ran_on) = world.ran_on.as_ref() else {
        return Vec::new();
    };
    let mut waits: Vec<Vec<f64>> = vec![Vec::new(); policy.queues.len()];
    let mut counts = vec![0u64; policy.queues.len()];
    let mut on: Vec<Vec<u64>> = vec![vec![0; policy.pools.len()]; policy.queues.len()];
    for (i, (j, &start)) in jobs.iter().zip(&world.started).enumerate() {
        let q = usize::from(j.queue).min(policy.queues.len().saturating_sub(1));
        counts[q] += 1;
        if start == i64::MIN {
            continue;
        }
        waits[q].push((start - j.submit_ms) as f64 / 1000.0);
        if let Some(p) = on[q].get_mut(usize::from(ran_on[i])) {
            *p += 1;
        }
    }
    policy
        .queues
        .iter()
        .enumerate()
        .map(|(q, spec)| {
            let w = &mut waits[q];
            w.sort_unstable_by(f64::total_cmp);
            let at = |p: f64| {
                if w.is_empty() {
                    return 0.0;
                }
                w[((w.len() as f64 * p).ceil() as usize).clamp(1, w.len()) - 1]
            };
            let slo = spec
                .wait_slo
                .unwrap_or(policy.target.wait_slo)
                .as_secs_f64();
            let batch = spec.class == QueueClass::Batch;
            let all_started = w.len() as u64 == counts[q];
            QueueReport {
                name: spec.name.clone(),
                batch,
                slo_wait_s: slo,
                jobs: counts[q],
                started: w.len() as u64,
                wait_p50_s: at(0.50),
                wait_p99_s: at(0.99),
                wait_max_s: w.last().copied().unwrap_or(0.0),
                slo_attainment: w.iter().filter(|&&x| x <= slo).count() as f64
                    / w.len().max(1) as f64,
                meets_slo: all_started && (batch || at(0.99) <= slo),
                ran_on: policy
                    .pools
                    .iter()
                    .zip(&on[q])
                    .filter(|(_, n)| **n > 0)
                    .map(|(p, n)| (p.name.clone(), *n))
                    .collect(),
            }
        })
        .collect()
}

/// The queues' lines of the report's table.
pub fn table(queues: &[QueueReport]) -> String {
    let mut s = String::new();
    for q in queues {
        let ran: Vec<String> = q.ran_on.iter().map(|(p, n)| format!("{p} {n}")).collect();
        let verdict = if q.batch {
            "batch".to_string()
        } else {
            format!(
                "p99 {} ≤ {}: {}",
                format_wait(q.wait_p99_s),
                format_wait(q.slo_wait_s),
                if q.meets_slo { "meets" } else { "MISSES" }
            )
        };
        s.push_str(&format!(
            "  queue {:<10} {verdict}; {} jobs, ran on {}\n",
            q.name,
            q.jobs,
            if ran.is_empty() {
                "none".to_string()
            } else {
                ran.join(", ")
            }
        ));
    }
    s
}
