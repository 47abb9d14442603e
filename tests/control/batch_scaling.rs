//! Batch-aware scaling as a specification: what `decide` does while a backfill runs, under
//! each `[batch]` rule.

use crate::farm;

use farm::{Farm, at};
use spillway::control::{Action, ControlMemory, ReasonKind, Step};
use spillway::model::WorkerId;
use spillway::policy::{self, Policy};

fn policy_with(batch: &str) -> Policy {
    let text = format!("{}\n{batch}", policy::EMBEDDED_DEFAULT);
    policy::from_toml_str(&text, "batch.toml").expect("valid policy")
}

fn launched(step: &Step) -> Vec<(u32, ReasonKind)> {
    step.decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { count, reason, .. } => Some((*count, reason.kind)),
            _ => None,
        })
        .collect()
}

fn removed(step: &Step) -> (Vec<WorkerId>, Vec<WorkerId>) {
    let (mut terminated, mut drained) = (vec![], vec![]);
    for a in &step.decision.actions {
        match a {
            Action::Terminate { workers, .. } => terminated.extend(workers.iter().cloned()),
            Action::Drain { workers, .. } => drained.extend(workers.iter().cloned()),
            _ => {}
        }
    }
    (terminated, drained)
}

/// Two ticks a minute apart in which `done` batch jobs finished on `running` workers: enough
/// for `decide` to measure batch throughput.
fn measured(policy: &Policy, farm: impl Fn(i64, f64) -> Farm, backlog: f64, done: f64) -> Step {
    let first = farm(600, backlog).decide(policy, &ControlMemory::default());
    farm(660, backlog - done).decide(policy, &first.memory)
}

#[test]
fn workers_busy_with_batch_jobs_are_not_interactive_demand() {
    let policy = policy_with("");
    // 40 datacenter workers busy with interactive jobs: headroom is missing, EC2 launches.
    let interactive = Farm::at(at(600))
        .dc_busy(40)
        .decide(&policy, &ControlMemory::default());
    assert!(
        !launched(&interactive).is_empty(),
        "{:?}",
        interactive.decision
    );
    // The same 40 busy with batch jobs: interactive work has them all, nothing launches.
    let batch = Farm::at(at(600))
        .dc_busy(40)
        .batch(5_000.0, 40)
        .decide(&policy, &ControlMemory::default());
    assert!(launched(&batch).is_empty(), "{:?}", batch.decision);
}

#[test]
fn without_a_rule_surplus_ec2_workers_busy_with_batch_jobs_are_drained_not_terminated() {
    let policy = policy_with("");
    let farm = |t| Farm::at(at(t)).dc_busy(40).ec2_busy(10).batch(5_000.0, 50);
    let mut memory = ControlMemory::default();
    let mut drained = vec![];
    for k in 0..10 {
        let step = farm(600 + 60 * k).decide(&policy, &memory);
        let (terminated, d) = removed(&step);
        assert!(
            terminated.is_empty(),
            "busy workers terminated: {:?}",
            step.decision
        );
        assert!(launched(&step).is_empty());
        drained.extend(d);
        memory = step.memory;
    }
    assert_eq!(
        drained.len(),
        10,
        "every surplus EC2 worker drains once the surplus lasted"
    );
}

#[test]
fn a_deadline_launches_what_finishes_the_backlog_in_time_and_no_more_while_they_boot() {
    let policy = policy_with("[batch]\ndeadline = \"30m\"\n");
    // 40 datacenter workers run batch jobs at 0.1 jobs/s each.
    let farm = |t, backlog| Farm::at(at(t)).dc_busy(40).batch(backlog, 40);
    let step = measured(&policy, farm, 20_000.0, 240.0);
    let l = launched(&step);
    assert_eq!(l.len(), 1, "{:?}", step.decision);
    let (count, kind) = l[0];
    assert!(
        kind == ReasonKind::BatchDeadline || kind == ReasonKind::StepCap,
        "{:?}",
        step.decision
    );
    assert!(
        count >= 20,
        "19,760 jobs in under 30 minutes need many workers: {count}"
    );
    // A minute later the launched workers boot: counted as the batch's, not launched again.
    let booting = Farm::at(at(720))
        .dc_busy(40)
        .batch(19_520.0, 40)
        .ec2_booting_since(count as usize, at(660));
    let next = booting.decide(&policy, &step.memory);
    let again: u32 = launched(&next).iter().map(|l| l.0).sum();
    let wanted = next.memory.batch.allotted;
    assert!(
        count + again <= wanted,
        "the booting {count} were launched again: {:?}",
        next.decision
    );
}

#[test]
fn max_ec2_caps_the_batch_and_says_so() {
    let policy = policy_with("[batch]\ndeadline = \"30m\"\nmax_ec2 = 10\n");
    let farm = |t, backlog| Farm::at(at(t)).dc_busy(40).batch(backlog, 40);
    let step = measured(&policy, farm, 20_000.0, 240.0);
    assert_eq!(launched(&step), vec![(10, ReasonKind::BatchMaxEc2)]);
    assert!(
        step.decision
            .actions
            .iter()
            .any(|a| a.reason().text.contains("batch.max_ec2"))
    );
}

#[test]
fn a_spent_batch_budget_releases_the_batch_workers_at_once() {
    let policy = policy_with("[batch]\nmax_ec2 = 10\nmax_usd = 20\n");
    let mut memory = ControlMemory::default();
    memory.batch.allotted = 10;
    memory.batch.spent_usd = 20.5;
    memory.batch.started_at = Some(at(0));
    memory.batch.rate_per_worker = Some(0.1);
    let step = Farm::at(at(600))
        .dc_busy(40)
        .ec2_busy(10)
        .batch(5_000.0, 50)
        .decide(&policy, &memory);
    let (terminated, drained) = removed(&step);
    assert!(terminated.is_empty());
    assert_eq!(drained.len(), 10, "{:?}", step.decision);
    assert!(
        step.decision
            .actions
            .iter()
            .any(|a| a.reason().kind == ReasonKind::BatchBudget)
    );
}

#[test]
fn an_unreadable_batch_queue_keeps_the_batch_workers_as_they_are() {
    let policy = policy_with("[batch]\nmax_ec2 = 10\n");
    let mut memory = ControlMemory::default();
    memory.batch.allotted = 10;
    memory.batch.started_at = Some(at(0));
    // No batch observation at all; interactive work is quiet.
    let step = Farm::at(at(600)).ec2_busy(10).decide(&policy, &memory);
    let (terminated, drained) = removed(&step);
    assert!(
        terminated.is_empty() && drained.is_empty(),
        "{:?}",
        step.decision
    );
    assert!(launched(&step).is_empty(), "{:?}", step.decision);
    assert_eq!(step.memory.batch.allotted, 10);
}

#[test]
fn a_finished_batch_releases_its_workers_with_a_reason() {
    let policy = policy_with("[batch]\nmax_ec2 = 10\n");
    let mut memory = ControlMemory::default();
    memory.batch.allotted = 10;
    memory.batch.started_at = Some(at(0));
    let step = Farm::at(at(600))
        .ec2_idle_since(10, at(590))
        .batch(0.0, 0)
        .decide(&policy, &memory);
    let (terminated, _) = removed(&step);
    assert_eq!(terminated.len(), 10, "{:?}", step.decision);
    assert!(
        step.decision
            .actions
            .iter()
            .any(|a| a.reason().kind == ReasonKind::BatchDone)
    );
    assert_eq!(step.memory.batch.allotted, 0);
}

#[test]
fn a_batch_nothing_can_run_gets_one_ec2_worker_to_measure_its_throughput() {
    // No headroom target: a busy datacenter leaves the batch nothing to run on.
    let text = format!("{}\n[batch]\ndeadline = \"8h\"\n", policy::EMBEDDED_DEFAULT)
        .replace("free_busy_ratio = 0.25", "free_busy_ratio = 0.0")
        .replace("min_free = 2", "min_free = 0");
    let policy = policy::from_toml_str(&text, "batch.toml").expect("valid policy");
    let busy = |t| Farm::at(at(t)).dc_busy(40);
    let without = busy(600).decide(&policy, &ControlMemory::default());
    let with = busy(600)
        .batch(1_000.0, 0)
        .decide(&policy, &ControlMemory::default());
    let count = |s: &Step| launched(s).iter().map(|l| l.0).sum::<u32>();
    assert_eq!(count(&with), count(&without) + 1, "{:?}", with.decision);
    assert_eq!(with.memory.batch.allotted, 1);
    // With idle datacenter workers to measure on, no EC2 worker is launched for it.
    let idle = Farm::at(at(600))
        .batch(1_000.0, 0)
        .decide(&policy, &ControlMemory::default());
    assert!(launched(&idle).is_empty(), "{:?}", idle.decision);
}
