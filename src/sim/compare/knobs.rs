//! The knob each strategy is swept over (its name in the policy, its range and resolution),
//! and a policy configured to run one strategy at one setting of its knob.

use std::time::Duration;

use crate::policy::{Policy, Strategy};

/// The knob a strategy is swept over.
#[derive(Debug, Clone, Copy)]
pub struct Knob {
    pub strategy: &'static str,
    pub name: &'static str,
    /// Initial range.
    pub lo: f64,
    pub hi: f64,
    /// Sweep on a log scale.
    pub log: bool,
    /// Whole numbers only.
    pub integer: bool,
    /// True when a larger value buys more capacity (and costs more).
    pub larger_is_more: bool,
}

/// The knobs of the four online strategies; with `target.wait_feedback`, spillway twice:
/// without it (`spillway`) and with it (`spillway+wait`), to show what closing the loop on the
/// measured wait buys; likewise with `control.launch_interval`: `spillway` on full ticks
/// alone and `spillway+launch` with the launch-only ticks between them.
pub fn knobs(policy: &Policy) -> Vec<Knob> {
    let max = policy.first_ec2().map_or(0, |(_, e)| e.max) as f64;
    let spillway = |strategy| Knob {
        strategy,
        name: "target.free_busy_ratio",
        lo: 0.0,
        hi: 1.0,
        log: false,
        integer: false,
        larger_is_more: true,
    };
    let mut out = vec![spillway("spillway")];
    if policy.target.wait_feedback {
        out.push(spillway("spillway+wait"));
    }
    if policy.control.launch_interval.is_some() {
        out.push(spillway("spillway+launch"));
    }
    out.extend([
        Knob {
            strategy: "hpa",
            name: "hpa.target_per_replica",
            lo: 0.4,
            hi: 1.6,
            log: true,
            integer: false,
            larger_is_more: false,
        },
        Knob {
            strategy: "target-tracking",
            name: "target_tracking.backlog_per_instance",
            lo: 0.005,
            hi: 2.0,
            log: true,
            integer: false,
            larger_is_more: false,
        },
        Knob {
            strategy: "static",
            name: "pool.min (EC2)",
            lo: 0.0,
            hi: max,
            log: false,
            integer: true,
            larger_is_more: true,
        },
    ]);
    out
}

/// `policy` set up to run `knob`'s strategy at `value`, with that strategy's own loop period.
pub fn configure(policy: &Policy, knob: &Knob, value: f64) -> Policy {
    let mut p = policy.clone();
    match knob.strategy {
        "spillway" | "spillway+wait" | "spillway+launch" => {
            p.control.strategy = Strategy::Spillway;
            p.target.free_busy_ratio = value;
            p.target.wait_feedback = knob.strategy == "spillway+wait";
        }
        "hpa" => {
            p.control.strategy = Strategy::Hpa;
            p.control.interval = Duration::from_secs(15);
            p.control.window = Duration::from_secs(15);
            p.hpa.target_per_replica = value;
        }
        "target-tracking" => {
            p.control.strategy = Strategy::TargetTracking;
            p.control.interval = Duration::from_secs(60);
            p.control.window = Duration::from_secs(60);
            p.target_tracking.backlog_per_instance = value;
        }
        _ => {
            p.control.strategy = Strategy::Static;
            if let Some(e) = p.pools.iter_mut().find_map(|pool| match &mut pool.kind {
                crate::policy::PoolKind::Ec2(e) => Some(e),
                _ => None,
            }) {
                e.min = (value.round() as u32).min(e.max);
            }
            p.budget.max_hourly_usd = None;
        }
    }
    // Launch-only ticks run in `spillway+launch` alone: `spillway` shows the full ticks
    // without them, and every other strategy keeps its own period.
    if knob.strategy != "spillway+launch" {
        p.control.launch_interval = None;
    }
    // With job classes, each class runs the configured strategy on its own.
    p.refresh_classes();
    p
}
