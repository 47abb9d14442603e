//! Safety properties of `decide`, checked over random sequences of observations for every
//! strategy, with and without a command pool of on-prem VMs: never above a pool's max (a
//! command pool's `workers`) or the budget, never a busy or unknown worker terminated or
//! stopped, datacenter static workers never touched, VMs stopped only once EC2 gives up every
//! idle worker, never launch and terminate in one pool in one step, never scale in on stale or
//! missing data, and always a reason.

use crate::farm;

use std::collections::HashSet;
use std::time::Duration;

use farm::{Farm, at, picnik_with_command};
use proptest::prelude::*;
use spillway::control::{Action, ControlMemory, ReasonKind};
use spillway::model::{Timestamp, WorkerState};
use spillway::policy::{self, Policy};

#[derive(Debug, Clone)]
struct Tick {
    dc_busy: usize,
    ec2_busy: usize,
    ec2_idle: Vec<u32>,
    ec2_booting: Vec<u32>,
    waiting: u32,
    queue: u8,
    listing_missing: bool,
    /// Batch jobs waiting and how many busy workers run batch jobs.
    batch: Option<(u32, usize)>,
    /// Command-pool VMs: busy, idle (seconds ago), started and not heartbeating (seconds ago).
    vm_busy: usize,
    vm_idle: Vec<u32>,
    vm_booting: Vec<u32>,
    /// The service (re)started listening this many seconds ago (a restart or failover).
    restarted: Option<u32>,
    /// EC2 workers judged lost, and ones that finished a drain.
    lost: usize,
    drained: usize,
}

fn tick() -> impl Strategy<Value = Tick> {
    (
        0usize..=40,
        0usize..40,
        prop::collection::vec(0u32..1200, 0..30),
        prop::collection::vec(0u32..1500, 0..15),
        prop_oneof![Just(0u32), 0u32..20, 0u32..400],
        prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        prop::bool::weighted(0.1),
        prop::option::weighted(0.3, (0u32..5000, 0usize..80)),
        (
            0usize..8,
            prop::collection::vec(0u32..1200, 0..8),
            prop::collection::vec(0u32..900, 0..4),
        ),
        (prop::option::weighted(0.2, 0u32..120), 0usize..3, 0usize..3),
    )
        .prop_map(
            |(
                dc_busy,
                ec2_busy,
                ec2_idle,
                ec2_booting,
                waiting,
                queue,
                listing_missing,
                batch,
                (vm_busy, vm_idle, vm_booting),
                (restarted, lost, drained),
            )| {
                Tick {
                    dc_busy,
                    ec2_busy,
                    ec2_idle,
                    ec2_booting,
                    waiting,
                    queue,
                    listing_missing,
                    batch,
                    vm_busy,
                    vm_idle,
                    vm_booting,
                    restarted,
                    lost,
                    drained,
                }
            },
        )
}

/// The generated policy; `vms` is a command pool's (`workers`, `min`), appended after `ec2`.
fn policy_for(
    strategy: &str,
    max: u32,
    budget: u32,
    band: f64,
    scale_in_after_s: u32,
    batch_rules: &str,
    vms: Option<(u32, u32)>,
) -> Policy {
    let strategy_line = format!("strategy = \"{strategy}\"");
    let max_line = format!("max = {max}");
    let budget_line = format!("max_hourly_usd = {budget}");
    let band_line = format!("band = {band}");
    let scale_in_line = format!("scale_in_after = \"{scale_in_after_s}s\"");
    let edits = [
        ("strategy = \"spillway\"", strategy_line.as_str()),
        ("max = 200", max_line.as_str()),
        ("max_hourly_usd = 60", budget_line.as_str()),
        ("band = 0.15", band_line.as_str()),
        ("scale_in_after = \"5m\"", scale_in_line.as_str()),
        ("[budget]", &format!("{batch_rules}\n[budget]")),
    ];
    if let Some((workers, min)) = vms {
        return picnik_with_command(workers, min, &edits);
    }
    let mut text = policy::EMBEDDED_DEFAULT.to_string();
    for (from, to) in edits {
        text = text.replace(from, to);
    }
    policy::from_toml_str(&text, "prop.toml").expect("valid generated policy")
}

fn farm_for(t: &Tick, now_s: i64, vms: bool) -> Farm {
    let mut f = Farm::at(at(now_s))
        .dc_busy(t.dc_busy)
        .ec2_busy(t.ec2_busy)
        .waiting(t.waiting as f64);
    for ago in &t.ec2_idle {
        f = f.ec2_idle_since(1, at(now_s - *ago as i64));
    }
    for ago in &t.ec2_booting {
        f = f.ec2_booting_since(1, at(now_s - *ago as i64));
    }
    if let Some((waiting, running)) = t.batch {
        f = f.batch(waiting as f64, running);
    }
    if vms {
        f = f.with_vms().vm_busy(t.vm_busy);
        for ago in &t.vm_idle {
            f = f.vm_idle_since(1, at(now_s - *ago as i64));
        }
        for ago in &t.vm_booting {
            f = f.vm_booting_since(1, at(now_s - *ago as i64));
        }
    }
    f = f
        .ec2_in_state(t.lost, WorkerState::Lost)
        .ec2_in_state(t.drained, WorkerState::Drained);
    if let Some(ago) = t.restarted {
        f = f.listening_since(at(now_s - ago as i64));
    }
    f = match t.queue {
        1 => f.queue_age(Duration::from_secs(900)),
        2 => f.queue_missing(),
        _ => f,
    };
    if t.listing_missing {
        f.ec2_listing_missing()
    } else {
        f
    }
}

/// Every number a reason states as "desired N".
fn desired_figures(text: &str) -> Vec<u32> {
    text.match_indices("desired ")
        .filter_map(|(i, m)| {
            let digits: String = text[i + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn decide_is_safe_for_every_strategy(
        strategy in prop::sample::select(vec!["spillway", "hpa", "target-tracking", "static"]),
        max in 1u32..80,
        budget in 1u32..40,
        band in prop::sample::select(vec![0.0, 0.1, 0.3]),
        scale_in_after_s in prop::sample::select(vec![0u32, 60, 300]),
        batch_rules in prop::sample::select(vec![
            "",
            "\n[batch]\ndeadline = \"2h\"\n",
            "\n[batch]\nmax_ec2 = 30\n",
            "\n[batch]\ndeadline = \"1h\"\nmax_ec2 = 50\nmax_usd = 5\n",
        ]),
        ticks in prop::collection::vec(tick(), 1..25),
        vms in prop::option::of((1u32..12, 0u32..3).prop_map(|(w, m)| (w, m.min(w)))),
    ) {
        let policy = policy_for(strategy, max, budget, band, scale_in_after_s, batch_rules, vms);
        let cost = policy.pools[1].cost_per_hour;
        let mut memory = ControlMemory::default();
        for (k, t) in ticks.iter().enumerate() {
            let now_s = 10_000 + 60 * k as i64;
            let farm = farm_for(t, now_s, vms.is_some());
            let obs = farm.observe();
            let step = spillway::control::decide(&policy, &obs, &memory, Timestamp::from_millis(now_s * 1000));
            let d = &step.decision;
            prop_assert!(!d.actions.is_empty(), "a decision always says something");
            let existing = farm.ec2.len() as u32;
            let mut launched = 0u32;
            let mut vms_started = 0u32;
            let mut terminated_pools = HashSet::new();
            let mut drained = 0;
            let mut launched_pools = HashSet::new();
            let mut ec2_gone = HashSet::new();
            let mut vms_stopped_for_surplus = false;
            for a in &d.actions {
                prop_assert!(!a.reason().text.trim().is_empty());
                // A reason's figures are the decision's: what /status and the metrics show.
                for said in desired_figures(&a.reason().text) {
                    prop_assert_eq!(said, d.desired_total, "{}", a.reason().text);
                }
                let stated = format!("desired {} workers", d.desired_total);
                prop_assert!(a.reason().text.contains(&stated), "{}", a.reason().text);
                match a {
                    Action::Launch { pool, count, .. } => {
                        prop_assert!(pool == "ec2" || pool == "vms", "only EC2 and command pools launch: {}", pool);
                        if pool == "ec2" {
                            launched += count;
                        } else {
                            vms_started += count;
                        }
                        launched_pools.insert(pool.clone());
                    }
                    Action::Terminate { pool, workers, reason } => {
                        prop_assert!(pool != "datacenter", "datacenter workers are never terminated");
                        terminated_pools.insert(pool.clone());
                        if pool == "vms" && reason.kind != ReasonKind::BootTimeout {
                            vms_stopped_for_surplus = true;
                        }
                        for id in workers {
                            let w = farm.workers(pool).iter().find(|w| &w.id == id);
                            prop_assert!(w.is_some(), "terminated an unknown worker {}", id);
                            let w = w.unwrap();
                            prop_assert!(!w.is_busy(), "terminated busy worker {}", id);
                            let released = matches!(
                                w.state,
                                WorkerState::Idle { .. } | WorkerState::Booting | WorkerState::Drained | WorkerState::Lost
                            );
                            prop_assert!(released, "terminated a worker still draining {}", id);
                            if pool == "ec2" {
                                ec2_gone.insert(id.clone());
                            }
                        }
                    }
                    Action::Drain { pool, workers, reason } => {
                        prop_assert!(pool != "datacenter", "datacenter workers are never drained");
                        let budget = matches!(reason.kind, ReasonKind::BudgetCap | ReasonKind::DailyBudgetCap);
                        prop_assert!(t.batch.is_some() || budget, "drained busy workers without a batch or a budget: {:?}", d);
                        terminated_pools.insert(pool.clone());
                        drained += workers.len();
                        for id in workers {
                            let w = farm.workers(pool).iter().find(|w| &w.id == id);
                            prop_assert!(w.is_some(), "drained an unknown worker {}", id);
                            prop_assert!(matches!(w.unwrap().state, WorkerState::Busy { .. }), "drained a worker that is not busy {}", id);
                            if pool == "ec2" {
                                ec2_gone.insert(id.clone());
                            }
                        }
                    }
                    Action::Hold { .. } => {}
                }
            }
            prop_assert!(launched_pools.is_disjoint(&terminated_pools), "launch and terminate in one pool: {:?}", d);
            if launched > 0 {
                prop_assert!(existing + launched <= max, "above max: {} + {} > {}", existing, launched, max);
                prop_assert!((existing + launched) as f64 * cost <= budget as f64 + 1e-9, "above budget");
            }
            if let Some((workers, _)) = vms && vms_started > 0 {
                let on = farm.workers("vms").len() as u32;
                prop_assert!(on + vms_started <= workers, "above the command pool's workers: {} + {} > {}", on, vms_started, workers);
            }
            if vms_stopped_for_surplus {
                let idle_ec2_left = farm.ec2.iter().any(|w| {
                    matches!(w.state, WorkerState::Idle { .. }) && !ec2_gone.contains(&w.id)
                });
                prop_assert!(!idle_ec2_left, "stopped a VM while an idle EC2 worker stays: {:?}", d);
            }
            // lost_after is 60 s: a worker may not have been heard from yet.
            let learning = t.restarted.is_some_and(|ago| ago < 60);
            prop_assert_eq!(d.learning_until.is_some(), learning);
            let unsafe_data = t.queue != 0 || t.listing_missing || learning;
            if unsafe_data {
                // Lost and drained workers go whenever their pool is listed; nothing else does.
                let scaled_in = d.actions.iter().any(|a| matches!(a, Action::Terminate { reason, .. }
                    if !matches!(reason.kind, ReasonKind::WorkerLost | ReasonKind::Drained)));
                prop_assert!(!scaled_in && drained == 0, "scaled in on stale or missing data: {:?}", d);
            }
            if !t.listing_missing && t.lost + t.drained > 0 {
                let released = d.actions.iter().filter(|a| matches!(a, Action::Terminate { reason, .. }
                    if matches!(reason.kind, ReasonKind::WorkerLost | ReasonKind::Drained))).count();
                prop_assert!(released > 0, "lost or drained workers kept: {:?}", d);
            }
            if t.listing_missing {
                prop_assert_eq!(launched, 0, "launched blind into a pool it could not list");
            }
            memory = step.memory;
        }
    }
}
