//! Command pools (on-prem VMs started and stopped by a program) as a specification: `decide`
//! fills them before EC2 and scales them in only once EC2 is at its min, idle VMs only,
//! longest idle first, within `min` and `workers`; a start that never heartbeats is a failed
//! launch; the simulator serves jobs on them without billing EC2.

use crate::farm;

use farm::actions::{launches, terminations};
use farm::{Farm, at, picnik_with_command};
use spillway::control::{Action, ControlMemory, ReasonKind};
use spillway::model::WorkerId;
use spillway::sim::{self, SimConfig, trace::Job, trace::JobClass};

/// Scale in at once, on a band of zero, keeping only `min_free` free workers.
const EAGER: &[(&str, &str)] = &[
    ("free_busy_ratio = 0.25", "free_busy_ratio = 0.0"),
    ("band = 0.15", "band = 0.0"),
    ("scale_in_after = \"5m\"", "scale_in_after = \"0s\""),
];

#[test]
fn a_backlog_fills_the_command_pool_before_ec2_although_it_is_written_after() {
    let policy = picnik_with_command(6, 0, &[]);
    let step = Farm::at(at(600))
        .dc_busy(40)
        .with_vms()
        .waiting(20.0)
        .decide(&policy, &ControlMemory::default());
    let l = launches(&step);
    assert_eq!(l.len(), 2, "{:?}", step.decision);
    assert_eq!((l[0].0.as_str(), l[0].1), ("vms", 6), "all six VMs first");
    assert_eq!(l[1].0, "ec2", "EC2 only for the rest");
    assert!(l[1].1 > 0);
    assert_eq!(l[0].2, l[1].2, "both for the strategy's reason");
}

#[test]
fn a_small_backlog_starts_vms_and_launches_no_ec2() {
    let policy = picnik_with_command(20, 0, &[]);
    let step = Farm::at(at(600))
        .dc_busy(40)
        .with_vms()
        .waiting(5.0)
        .decide(&policy, &ControlMemory::default());
    let l = launches(&step);
    assert_eq!(l.len(), 1, "{:?}", step.decision);
    assert_eq!(l[0].0, "vms");
    assert!(l[0].1 >= 5 && l[0].1 <= 20, "{l:?}");
}

#[test]
fn the_command_pool_min_is_kept_on_even_without_demand() {
    let policy = picnik_with_command(6, 2, &[]);
    let step = Farm::at(at(600))
        .with_vms()
        .vm_idle_since(1, at(0))
        .decide(&policy, &ControlMemory::default());
    assert_eq!(
        launches(&step),
        vec![("vms".to_string(), 1, ReasonKind::PoolMinimum)]
    );
}

#[test]
fn never_more_vms_than_the_pool_has() {
    let policy = picnik_with_command(3, 0, &[]);
    let step = Farm::at(at(600))
        .dc_busy(40)
        .with_vms()
        .vm_busy(2)
        .vm_booting_since(1, at(590))
        .waiting(30.0)
        .decide(&policy, &ControlMemory::default());
    let l = launches(&step);
    assert!(l.iter().all(|(p, _, _)| p == "ec2"), "{l:?}");
    assert!(
        !l.is_empty(),
        "the overflow goes to EC2: {:?}",
        step.decision
    );
}

#[test]
fn scale_in_terminates_ec2_before_stopping_vms_and_keeps_the_min() {
    let policy = picnik_with_command(6, 1, EAGER);
    // 40 busy datacenter workers need 42 with min_free = 2; 3 EC2 and 4 VMs idle: 5 surplus.
    let step = Farm::at(at(3600))
        .dc_busy(40)
        .ec2_idle_since(3, at(3000))
        .with_vms()
        .vm_idle_since(1, at(3500))
        .vm_idle_since(1, at(1000))
        .vm_idle_since(1, at(2000))
        .vm_idle_since(1, at(3550))
        .decide(&policy, &ControlMemory::default());
    let t = terminations(&step);
    assert_eq!(t.len(), 2, "{:?}", step.decision);
    assert_eq!(
        (t[0].0.as_str(), t[0].1.len()),
        ("ec2", 3),
        "EC2 goes first"
    );
    assert_eq!(t[1].0, "vms");
    let ids: Vec<&str> = t[1].1.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(ids, ["vm-0005", "vm-0006"], "longest idle VMs first");
    // Each has idled past the break-even time (a 3-minute boot and the billing minimum).
    assert_eq!(t[1].2, ReasonKind::IdleTimer);
}

#[test]
fn idle_vms_stay_while_busy_ec2_workers_are_above_their_min() {
    let policy = picnik_with_command(6, 0, EAGER);
    // 43 busy need 45; 47 on hand. The surplus should leave as EC2 once its jobs end, not as
    // the free VMs now.
    let step = Farm::at(at(3600))
        .dc_busy(40)
        .ec2_busy(3)
        .with_vms()
        .vm_idle_since(4, at(1000))
        .decide(&policy, &ControlMemory::default());
    assert!(terminations(&step).is_empty(), "{:?}", step.decision);
    let held: Vec<ReasonKind> = step
        .decision
        .actions
        .iter()
        .map(|a| a.reason().kind)
        .collect();
    assert_eq!(held, vec![ReasonKind::NoIdleWorker]);
}

#[test]
fn busy_vms_are_never_stopped() {
    let policy = picnik_with_command(6, 0, EAGER);
    let step = Farm::at(at(3600))
        .with_vms()
        .vm_busy(3)
        .vm_idle_since(1, at(3000))
        .decide(&policy, &ControlMemory::default());
    let t = terminations(&step);
    assert_eq!(t.len(), 1, "{:?}", step.decision);
    assert_eq!(t[0].1, vec![WorkerId("vm-0004".into())]);
}

#[test]
fn a_started_vm_that_never_heartbeats_is_a_failed_launch() {
    let policy = picnik_with_command(6, 0, &[]);
    // boot_timeout defaults to 5 minutes for command pools.
    let step = Farm::at(at(3600))
        .with_vms()
        .vm_booting_since(1, at(3000))
        .vm_booting_since(1, at(3590))
        .decide(&policy, &ControlMemory::default());
    let t = terminations(&step);
    assert_eq!(
        t,
        vec![(
            "vms".to_string(),
            vec![WorkerId("vm-0001".into())],
            ReasonKind::BootTimeout
        )]
    );
}

fn burst() -> Vec<Job> {
    // 30 ten-minute jobs at once, on a farm of 4 datacenter workers; one short job an hour
    // later keeps the run going through the scale-in.
    let job = |submit_ms, duration_s| Job {
        submit_ms,
        duration_s,
        class: JobClass::Interactive,
        queue: 0,
    };
    (0..30)
        .map(|i| job(120_000 + i * 100, 600.0))
        .chain([job(3_600_000, 1.0)])
        .collect()
}

fn small_farm(command: &str) -> spillway::policy::Policy {
    let text = format!(
        r#"
name = "small"
[control]
interval = "30s"
[target]
free_busy_ratio = 0.0
wait_slo = "60s"
[hysteresis]
scale_in_after = "2m"
[[pool]]
name = "dc"
kind = "static"
workers = 4
[[pool]]
name = "ec2"
kind = "ec2"
max = 40
cost_per_hour = 1.0
boot_time = "2m"
{command}
"#
    );
    spillway::policy::from_toml_str(&text, "small.toml").unwrap_or_else(|e| panic!("{e}"))
}

const VMS: &str = r#"[[pool]]
name = "vms"
kind = "command"
workers = 16
boot_time = "1m"
start_command = ["render-vm", "start"]
stop_command = ["render-vm", "stop"]"#;

#[test]
fn the_simulator_serves_a_burst_on_vms_before_paying_for_ec2() {
    let config = SimConfig {
        keep_decisions: true,
        ..SimConfig::default()
    };
    let ec2_only = sim::run(&small_farm(""), &burst(), &config).report;
    let hybrid = sim::run(&small_farm(VMS), &burst(), &config);
    for r in [&ec2_only, &hybrid.report] {
        assert_eq!(r.completed, 31);
        assert_eq!(r.busy_terminations_refused, 0);
    }
    let r = &hybrid.report;
    assert!(
        r.ec2_billed_hours + 2.0 < ec2_only.ec2_billed_hours,
        "the VMs' 2.7 job-hours are not paid as EC2: {} vs {} EC2 hours",
        r.ec2_billed_hours,
        ec2_only.ec2_billed_hours
    );
    assert!(
        r.datacenter_busy_hours > ec2_only.datacenter_busy_hours + 2.0,
        "VM time counts as on-prem: {} vs {}",
        r.datacenter_busy_hours,
        ec2_only.datacenter_busy_hours
    );
    assert!(r.oracle_ec2_hours_floor < ec2_only.oracle_ec2_hours_floor);
    // Order: VMs start before any EC2 launch, and are scaled in no earlier than the last EC2
    // worker (a scale-in asks the worker to drain; the drained worker's termination follows).
    let when = |label: &str, pool: &str| -> Vec<f64> {
        hybrid
            .decisions
            .iter()
            .filter(|(_, d)| {
                d.actions.iter().any(|a| match a {
                    Action::Launch { pool: p, .. } => label == "launch" && p == pool,
                    Action::Terminate {
                        pool: p, reason, ..
                    } => label == "terminate" && p == pool && reason.kind != ReasonKind::Drained,
                    _ => false,
                })
            })
            .map(|(t, _)| *t)
            .collect()
    };
    let first_launch = hybrid.decisions.iter().find_map(|(_, d)| {
        d.actions.iter().find_map(|a| match a {
            Action::Launch { pool, count, .. } => Some((pool.clone(), *count)),
            _ => None,
        })
    });
    assert_eq!(first_launch, Some(("vms".to_string(), 16)));
    let (vm_stops, ec2_ends) = (when("terminate", "vms"), when("terminate", "ec2"));
    assert!(!vm_stops.is_empty(), "the VMs are stopped again once idle");
    assert!(
        vm_stops[0] >= *ec2_ends.last().expect("EC2 scaled in"),
        "VMs stop only after EC2 is gone: {vm_stops:?} vs {ec2_ends:?}"
    );
    assert!(
        when("launch", "vms").len() == 1,
        "started once, not flapping"
    );
}
