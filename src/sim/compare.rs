//! `spillway compare`: every strategy on one workload, each swept over its main knob.
//!
//! For each strategy a coarse sweep spans a wide range of its knob; the range is widened while
//! the cheapest SLO-meeting setting sits at its edge, then refined by bisection between that
//! setting and its cheaper neighbour until their EC2 hours differ by at most `REFINE_TO` (2%)
//! or the knob's resolution (four significant digits) is reached.
//! A coarse sweep flatters whoever is swept finest; this gives every strategy the same care.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::policy::{Policy, Strategy};
use crate::sim::{self, SimConfig, clairvoyant, report::Report, trace::Job};

mod knobs;

pub use knobs::{Knob, configure, knobs};

/// Refinement stops when the best setting and its cheaper, SLO-missing neighbour differ by at
/// most this share of EC2 hours (at most 10% is required; finer makes close races fair).
pub const REFINE_TO: f64 = 0.02;

/// One evaluated setting.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub setting: f64,
    pub ec2_billed_hours: f64,
    pub wait_p99_s: f64,
    pub meets_slo: bool,
    pub slo_attainment: f64,
    pub launches: u64,
    pub ec2_cost_usd: f64,
    /// With job classes: each queue's p99 wait against its own SLO.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueVerdict>,
}

/// One queue's p99 wait against its SLO, in a run with job classes.
#[derive(Debug, Clone, Serialize)]
pub struct QueueVerdict {
    pub name: String,
    pub wait_p99_s: f64,
    pub slo_wait_s: f64,
    pub meets_slo: bool,
}

impl Run {
    fn from(setting: f64, r: &Report) -> Run {
        Run {
            setting,
            ec2_billed_hours: r.ec2_billed_hours,
            wait_p99_s: r.wait_p99_s,
            meets_slo: r.meets_slo,
            slo_attainment: r.slo_attainment,
            launches: r.launches,
            ec2_cost_usd: r.ec2_cost_usd,
            queues: r
                .queues
                .iter()
                .filter(|q| !q.batch)
                .map(|q| QueueVerdict {
                    name: q.name.clone(),
                    wait_p99_s: q.wait_p99_s,
                    slo_wait_s: q.slo_wait_s,
                    meets_slo: q.meets_slo,
                })
                .collect(),
        }
    }
}

/// The sweep of one strategy.
#[derive(Debug, Clone, Serialize)]
pub struct StrategySweep {
    pub strategy: String,
    pub knob: String,
    /// The cheapest setting that meets the SLO, if any.
    pub best: Option<Run>,
    /// Every setting run, by knob value.
    pub runs: Vec<Run>,
}

/// The whole comparison (`--report-json`).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub slo_wait_s: f64,
    pub oracle_ec2_hours_floor: f64,
    pub oracle: Run,
    pub strategies: Vec<StrategySweep>,
}

fn grid(k: &Knob, lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n)
        .map(|i| {
            let f = i as f64 / (n - 1) as f64;
            if k.log {
                (lo.ln() + f * (hi.ln() - lo.ln())).exp()
            } else {
                lo + f * (hi - lo)
            }
        })
        .map(|x| round_knob(k, x))
        .collect();
    v.dedup();
    v
}

/// Called once per simulation run, from the sweeping threads (for a progress bar).
pub type OnRun<'a> = &'a (dyn Fn() + Sync);

/// Sweeps one strategy (sequentially; strategies run in parallel).
pub fn sweep(
    policy: &Policy,
    knob: &Knob,
    jobs: &[Job],
    config: &SimConfig,
    on_run: OnRun<'_>,
) -> StrategySweep {
    let mut runs: Vec<Run> = Vec::new();
    let eval = |x: f64, runs: &mut Vec<Run>| -> Run {
        if let Some(r) = runs.iter().find(|r| (r.setting - x).abs() < 1e-9) {
            return r.clone();
        }
        let out = sim::run(&configure(policy, knob, x), jobs, config);
        on_run();
        let run = Run::from(x, &out.report);
        runs.push(run.clone());
        run
    };
    let (mut lo, mut hi) = (knob.lo, knob.hi);
    for x in grid(knob, lo, hi, 7) {
        eval(x, &mut runs);
    }
    // Widen while nothing meets the SLO (towards more capacity) or the best sits at the cheap
    // edge (towards less).
    let cap = if knob.integer {
        policy.first_ec2().map_or(0, |(_, e)| e.max) as f64
    } else {
        f64::INFINITY
    };
    for _ in 0..4 {
        let best = cheapest(&runs);
        let cheap_end = if knob.larger_is_more { lo } else { hi };
        let toward_more = best.is_none();
        let toward_less = best
            .as_ref()
            .is_some_and(|b| (b.setting - cheap_end).abs() < 1e-9);
        if !toward_more && !toward_less {
            break;
        }
        let upward = toward_more == knob.larger_is_more;
        let (a, b) = if upward {
            if hi >= cap {
                break;
            }
            (
                hi,
                if knob.log {
                    hi * 4.0
                } else {
                    (hi + (hi - lo).max(1.0)).min(cap)
                },
            )
        } else {
            if lo <= 0.0 || (knob.log && lo < 1e-4) {
                break;
            }
            (
                if knob.log {
                    lo / 4.0
                } else {
                    (lo - (hi - lo)).max(0.0)
                },
                lo,
            )
        };
        for x in grid(knob, a, b, 4) {
            eval(x, &mut runs);
        }
        lo = lo.min(a);
        hi = hi.max(b);
    }
    // Bisect between the best and its cheaper neighbour that misses the SLO.
    for _ in 0..12 {
        let Some(best) = cheapest(&runs) else { break };
        runs.sort_by(|a, b| a.setting.total_cmp(&b.setting));
        let i = runs
            .iter()
            .position(|r| (r.setting - best.setting).abs() < 1e-9)
            .unwrap_or(0);
        let neighbour = if knob.larger_is_more {
            i.checked_sub(1).map(|j| &runs[j])
        } else {
            runs.get(i + 1)
        };
        let Some(n) = neighbour else { break };
        if (n.ec2_billed_hours - best.ec2_billed_hours).abs()
            <= REFINE_TO * best.ec2_billed_hours.max(1e-9)
        {
            break;
        }
        let mid = if knob.log {
            (n.setting.ln() + best.setting.ln()).mul_add(0.5, 0.0).exp()
        } else {
            (n.setting + best.setting) / 2.0
        };
        let mid = round_knob(knob, mid);
        if runs.iter().any(|r| (r.setting - mid).abs() < 1e-9) {
            break;
        }
        eval(mid, &mut runs);
    }
    runs.sort_by(|a, b| a.setting.total_cmp(&b.setting));
    StrategySweep {
        strategy: knob.strategy.to_string(),
        knob: knob.name.to_string(),
        best: cheapest(&runs),
        runs,
    }
}

/// Rounds a knob value for display: whole numbers, or four significant digits.
fn round_knob(k: &Knob, x: f64) -> f64 {
    if k.integer {
        return x.round();
    }
    if x <= 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(3 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

fn cheapest(runs: &[Run]) -> Option<Run> {
    runs.iter()
        .filter(|r| r.meets_slo)
        .min_by(|a, b| a.ec2_billed_hours.total_cmp(&b.ec2_billed_hours))
        .cloned()
}

/// Runs every strategy and the oracle on `jobs`, strategies in parallel threads.
pub fn compare(policy: &Policy, jobs: &[Job], config: &SimConfig) -> Comparison {
    compare_with_progress(policy, jobs, config, &|| {})
}

/// About how many simulations [`compare`] runs: four strategies of about 16 each, and the
/// oracle (the sweeps adapt, so this is a guess a progress bar can grow from).
pub const EXPECTED_RUNS: u64 = 4 * 16 + 1;

/// [`compare`], calling `on_run` after every simulation.
pub fn compare_with_progress(
    policy: &Policy,
    jobs: &[Job],
    config: &SimConfig,
    on_run: OnRun<'_>,
) -> Comparison {
    let step = Duration::from_secs(15);
    let plan = clairvoyant::oracle_plan(policy, &config.speed_changes, jobs, step);
    // With job classes, a plan per class from its own queues' jobs, on its own pools.
    let class_plans = policy
        .classes
        .iter()
        .map(|c| {
            let mine = super::binding::class_jobs(c, jobs);
            Arc::new(clairvoyant::oracle_plan(
                &c.policy,
                &config.speed_changes,
                &mine,
                step,
            ))
        })
        .collect();
    let mut oracle_policy = policy.clone();
    oracle_policy.control.strategy = Strategy::Oracle;
    let oracle_config = SimConfig {
        oracle_plan: Some(Arc::new(plan)),
        class_oracle_plans: class_plans,
        ..config.clone()
    };
    oracle_policy.control.interval = step;
    oracle_policy.control.launch_interval = None;
    oracle_policy.budget.max_hourly_usd = None;
    oracle_policy.refresh_classes();
    let knobs = knobs(policy);
    let (oracle_report, strategies) = std::thread::scope(|s| {
        let handles: Vec<_> = knobs
            .iter()
            .map(|k| s.spawn(move || sweep(policy, k, jobs, config, on_run)))
            .collect();
        let oracle = sim::run(&oracle_policy, jobs, &oracle_config).report;
        on_run();
        (
            oracle,
            handles
                .into_iter()
                .filter_map(|h| h.join().ok())
                .collect::<Vec<_>>(),
        )
    });
    Comparison {
        slo_wait_s: policy.target.wait_slo.as_secs_f64(),
        oracle_ec2_hours_floor: oracle_report.oracle_ec2_hours_floor,
        oracle: Run::from(0.0, &oracle_report),
        strategies,
    }
}
