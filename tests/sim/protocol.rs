//! The simulator speaks the service's protocol with its workers: scale-in is the drain
//! handshake (the worker is asked, answers drained with its next heartbeat, and only the next
//! decision terminates it, billed until then), and a restarted controller resumes its memory
//! (as from `--state-file`) and hears each worker again only at its next heartbeat (every 10 s,
//! each at its own phase).
//!
//! Reproduction (issue "the service knows before it acts"): a restart judged every instance it
//! had not heard from yet as overdue and terminated it, busy or not.

use spillway::control::{Action, ReasonKind};
use spillway::policy;
use spillway::sim::faults::Faults;
use spillway::sim::{self, SimConfig, SimOutput, scenario};

fn diurnal(faults: Faults) -> SimOutput {
    let day = scenario::build("diurnal", 1).expect("scenario");
    let config = SimConfig {
        faults,
        keep_decisions: true,
        ..SimConfig::default()
    };
    sim::run(&policy::embedded_default(), &day.jobs, &config)
}

fn boot_timeouts(out: &SimOutput) -> usize {
    out.decisions
        .iter()
        .flat_map(|(_, d)| &d.actions)
        .filter(|a| matches!(a, Action::Terminate { reason, .. } if reason.kind == ReasonKind::BootTimeout))
        .count()
}

#[test]
fn hourly_restarts_terminate_no_worker_and_cost_within_two_percent() {
    let steady = diurnal(Faults::default());
    let restarted = diurnal(Faults {
        restart_every_ms: Some(3_600_000),
        ..Faults::default()
    });
    let learning = restarted
        .decisions
        .iter()
        .filter(|(_, d)| d.learning_until.is_some())
        .count();
    assert_eq!(
        learning, 72,
        "one learning tick per hourly restart over 3 days"
    );
    assert_eq!(restarted.report.busy_terminations_refused, 0);
    assert_eq!(
        boot_timeouts(&restarted),
        0,
        "no unheard worker judged overdue"
    );
    let (a, b) = (
        steady.report.ec2_billed_hours,
        restarted.report.ec2_billed_hours,
    );
    assert!(
        (b - a).abs() <= 0.02 * a,
        "EC2 hours {a:.1} without restarts, {b:.1} with"
    );
    assert!(
        restarted.report.meets_slo,
        "{:?}",
        restarted.report.wait_p99_s
    );
    eprintln!(
        "diurnal: {a:.1} EC2 h steady, {b:.1} with a restart every hour ({:+.2}%); p99 {:.1} s vs {:.1} s",
        (b / a - 1.0) * 100.0,
        steady.report.wait_p99_s,
        restarted.report.wait_p99_s
    );
}

#[test]
fn a_failover_at_the_afternoon_peak_terminates_nothing_it_has_not_heard() {
    let out = diurnal(Faults {
        failovers_ms: vec![(24 + 15) * 3_600_000],
        ..Faults::default()
    });
    assert_eq!(out.report.busy_terminations_refused, 0);
    assert_eq!(boot_timeouts(&out), 0);
    let at_failover = out
        .decisions
        .iter()
        .find(|(t, _)| *t >= (39 * 3600) as f64)
        .expect("a tick at the failover");
    assert!(
        at_failover.1.learning_until.is_some(),
        "{:?}",
        at_failover.1
    );
}

#[test]
fn every_scale_in_is_a_drain_request_then_a_decided_termination_of_the_drained_worker() {
    use std::collections::HashMap;
    let out = diurnal(Faults::default());
    let mut asked: HashMap<String, f64> = HashMap::new();
    let mut ended = 0;
    for (t, d) in &out.decisions {
        for a in &d.actions {
            let Action::Terminate {
                workers, reason, ..
            } = a
            else {
                continue;
            };
            for w in workers {
                if reason.kind == ReasonKind::Drained {
                    let at = asked.remove(&w.0).expect("a drained worker had been asked");
                    assert!(*t > at, "terminated in the tick it was asked: {w}");
                    ended += 1;
                } else if reason.kind != ReasonKind::BootTimeout {
                    assert!(asked.insert(w.0.clone(), *t).is_none(), "asked twice: {w}");
                }
            }
        }
    }
    assert!(ended > 100, "{ended} drained workers terminated");
    assert!(asked.len() <= 5, "left draining at the end: {asked:?}");
    assert_eq!(out.report.busy_terminations_refused, 0);
}
