//! The controller through cloud faults, in the simulator: an EC2 API outage, 30% of launches
//! never booting, and spot interruptions at 5% an hour. Each run keeps its SLO, every job
//! finishes, and the faults leave no unsafe action behind.

use spillway::control::{Action, ReasonKind};
use spillway::policy;
use spillway::sim::scenario;
use spillway::sim::{self, SimConfig, SimOutput};

fn run(name: &str) -> SimOutput {
    let s = scenario::build(name, 1).expect("scenario");
    let config = SimConfig {
        speed_changes: s.speed_changes,
        faults: s.faults,
        launch_failure_rate: s.launch_failure_rate,
        keep_decisions: true,
        ..SimConfig::default()
    };
    sim::run(&policy::embedded_default(), &s.jobs, &config)
}

/// EC2 workers (ready or booting) per sample time.
fn ec2_fleet(out: &SimOutput) -> Vec<(f64, u32)> {
    out.samples
        .iter()
        .map(|s| (s.t_s, s.ready[1] + s.booting))
        .collect()
}

fn peak(fleet: &[(f64, u32)], from: f64, to: f64) -> u32 {
    fleet
        .iter()
        .filter(|(t, _)| (from..to).contains(t))
        .map(|f| f.1)
        .max()
        .unwrap_or(0)
}

#[test]
fn an_ec2_outage_holds_the_fleet_the_datacenter_keeps_working_and_recovery_brings_no_storm() {
    let s = scenario::build("ec2-outage", 1).unwrap();
    let (from, to) = s.faults.ec2_outages[0];
    let (from, to) = (from as f64 / 1000.0, to as f64 / 1000.0);
    let out = run("ec2-outage");
    let calm = run("diurnal");
    let r = &out.report;
    assert!(r.meets_slo && r.completed == r.jobs, "{r:?}");
    for (t, d) in &out.decisions {
        if (from..to).contains(t) {
            assert!(
                d.actions.iter().all(|a| matches!(a, Action::Hold { .. })),
                "acted blind at {t}: {d:?}"
            );
            assert!(
                d.actions
                    .iter()
                    .any(|a| a.reason().kind == ReasonKind::MissingFleet),
                "{d:?}"
            );
        }
    }
    // The datacenter (and the instances already running) kept serving through the outage.
    let busy_in_outage = out
        .samples
        .iter()
        .filter(|s| (from..to).contains(&s.t_s))
        .all(|s| s.busy > 0);
    assert!(busy_in_outage);
    // Recovery: no more EC2 workers than the same afternoon without an outage needed, +10%.
    let after = peak(&ec2_fleet(&out), to, to + 7200.0);
    let usual = peak(&ec2_fleet(&calm), from, to + 7200.0);
    assert!(
        after as f64 <= usual as f64 * 1.1,
        "launch storm after recovery: {after} EC2 workers against {usual} without the outage"
    );
    assert_eq!(r.busy_terminations_refused, 0);
}

#[test]
fn a_third_of_launches_failing_are_cleaned_up_and_replaced_within_the_slo() {
    let out = run("launch-failures");
    let r = &out.report;
    assert!(r.meets_slo && r.completed == r.jobs, "{r:?}");
    let share = r.launch_failures as f64 / r.launches as f64;
    assert!((0.25..0.35).contains(&share), "failure share {share}");
    // Every launch ends terminated (failures at boot_timeout): nothing left behind.
    assert_eq!(r.launches, r.terminations, "{r:?}");
    let cleaned = out
        .decisions
        .iter()
        .flat_map(|(_, d)| &d.actions)
        .filter(|a| {
            matches!(a, Action::Terminate { .. }) && a.reason().kind == ReasonKind::BootTimeout
        })
        .map(|a| match a {
            Action::Terminate { workers, .. } => workers.len() as u64,
            _ => 0,
        })
        .sum::<u64>();
    assert_eq!(
        cleaned, r.launch_failures,
        "each failed launch terminated at boot_timeout"
    );
}

#[test]
fn spot_interruptions_rerun_their_jobs_and_the_fleet_is_refilled_within_the_slo() {
    let out = run("spot-interruptions");
    let r = &out.report;
    assert!(r.meets_slo && r.completed == r.jobs, "{r:?}");
    // About 5% of instance-hours (Poisson): within a generous band of the expectation.
    let expected = 0.05 * r.ec2_billed_hours;
    let n = r.spot_interruptions as f64;
    assert!(
        (expected * 0.6..expected * 1.4).contains(&n),
        "{n} interruptions over {:.0} instance-hours",
        r.ec2_billed_hours
    );
    assert!(r.jobs_restarted > 0 && r.jobs_restarted <= r.spot_interruptions);
    assert_eq!(r.launches, r.terminations + r.spot_interruptions, "{r:?}");
}
