//! Tests of the pure join: listing × heartbeats → workers, boots, lost and drained clean-up.

use super::*;
use crate::policy;

const POLICY: &str = r#"
name = "t"
[control]
interval = "1s"
[target]
free_busy_ratio = 0.0
wait_slo = "30s"
[[pool]]
name = "dc"
kind = "static"
workers = 2
[[pool]]
name = "ec2"
kind = "ec2"
max = 10
image_id = "ami-1"
instance_types = ["c5.large"]
"#;

fn inst(id: &str, at: i64) -> Instance {
    Instance {
        id: id.into(),
        pool: "ec2".into(),
        launched_at: Timestamp::from_millis(at),
    }
}

fn rec(worker: &str, instance: Option<&str>, pool: &str, busy: bool, last_seen: i64) -> Record {
    Record {
        worker_id: worker.into(),
        pool: pool.into(),
        instance_id: instance.map(str::to_string),
        state: if busy {
            ReportedState::Busy
        } else {
            ReportedState::Idle
        },
        state_since: Timestamp::from_millis(last_seen),
        job_id: None,
        jobs_done: 0,
        jobs_credited: 0,
        credit_allowance_milli: 0,
        drained: false,
        first_seen: Timestamp::from_millis(last_seen),
        last_seen: Timestamp::from_millis(last_seen),
        drain_requested: None,
        boot_recorded: false,
        interrupted: None,
    }
}

#[test]
fn joins_listing_with_heartbeats() {
    let p = policy::from_toml_str(POLICY, "t").unwrap();
    let now = 100_000;
    let lost_after = Duration::from_secs(30);
    let mut draining = rec("w-d", Some("i-d"), "ec2", false, now - 1_000);
    draining.drain_requested = Some(Timestamp::from_millis(95_000));
    draining.drained = true;
    let mut stuck = rec("w-s", Some("i-s"), "ec2", true, now - 1_000);
    stuck.drain_requested = Some(Timestamp::from_millis(0));
    let records = vec![
        rec("w-b", Some("i-busy"), "ec2", true, now - 1_000),
        rec("w-l", Some("i-lost"), "ec2", false, now - 31_000),
        draining,
        stuck,
        rec("host1", None, "dc", false, now - 500),
        rec("host2", None, "dc", true, now - 40_000),
        rec("w-x", Some("i-not-ours"), "ec2", false, now),
    ];
    let listed = vec![
        inst("i-boot", 90_000),
        inst("i-busy", 10_000),
        inst("i-lost", 10_000),
        inst("i-d", 10_000),
        inst("i-s", 10_000),
    ];
    let recent = vec![inst("i-new", 99_000), inst("i-busy", 10_000)];
    let v = join(
        &p,
        Some(&listed),
        &recent,
        &records,
        Timestamp::from_millis(now),
        lost_after,
        Timestamp::from_millis(0),
    );
    let dc = v.pools[0].workers.as_ref().unwrap();
    assert_eq!(dc.len(), 1, "the silent datacenter host is lost");
    let ec2 = v.pools[1].workers.as_ref().unwrap();
    let state = |id: &str| ec2.iter().find(|w| w.id.0 == id).map(|w| w.state);
    assert_eq!(state("i-boot"), Some(WorkerState::Booting));
    assert_eq!(
        state("i-new"),
        Some(WorkerState::Booting),
        "a launch not listed yet counts"
    );
    assert!(matches!(state("i-busy"), Some(WorkerState::Busy { .. })));
    assert_eq!(
        state("i-lost"),
        Some(WorkerState::Lost),
        "lost workers are not capacity, but still count against max and budget"
    );
    assert_eq!(state("i-d"), Some(WorkerState::Drained));
    assert_eq!(
        state("i-s"),
        Some(WorkerState::Draining { busy: true }),
        "a busy worker is never released, even past its drain deadline"
    );
    assert_eq!(
        state("i-not-ours"),
        None,
        "a heartbeat alone makes no EC2 worker"
    );
    assert_eq!(ec2.len(), 6);
    assert_eq!(v.instances_per_pool, vec![0, 6]);
    assert_eq!(v.boots.len(), 4, "{:?}", v.boots);
    assert!(v.boots.iter().all(|b| b.pool == 1));
}

#[test]
fn a_lost_worker_still_running_leaves_no_room_for_a_launch_beyond_the_budget() {
    // Found by the fault matrix (worker-crash × scaling out): the lost worker's instance
    // was left out of the count, so its replacement launched before it was terminated.
    let text = POLICY.replace("max = 10", "max = 10\ncost_per_hour = 1.0")
        + "[budget]\nmax_hourly_usd = 3.0\n";
    let p = policy::from_toml_str(&text, "t").unwrap();
    let now = 100_000;
    let records = vec![
        rec("w-1", Some("i-1"), "ec2", true, now - 500),
        rec("w-2", Some("i-2"), "ec2", true, now - 500),
        rec("w-3", Some("i-3"), "ec2", true, now - 60_000),
    ];
    let listed = vec![inst("i-1", 0), inst("i-2", 0), inst("i-3", 0)];
    let v = join(
        &p,
        Some(&listed),
        &[],
        &records,
        Timestamp::from_millis(now),
        Duration::from_secs(30),
        Timestamp::from_millis(0),
    );
    let lost = |v: &FleetView| {
        v.pools[1]
            .workers
            .iter()
            .flatten()
            .filter(|w| w.state == WorkerState::Lost)
            .count()
    };
    assert_eq!(lost(&v), 1, "the lost worker is judged lost");
    let backlog = crate::model::QueueStats {
        visible: 20.0,
        in_flight: 2.0,
        delayed: 0.0,
    };
    let obs = crate::control::Observation {
        paused: None,
        queue: Some(crate::control::QueueObservation {
            averaged: backlog,
            latest: backlog,
            sampled_at: Timestamp::from_millis(now),
        }),
        batch: None,
        pools: v.pools,
        boots: Vec::new(),
        completed: None,
        listening_since: None,
        oracle_plan: None,
        measured_wait: None,
        by_class: None,
    };
    let step = crate::control::decide(
        &p,
        &obs,
        &crate::control::ControlMemory::default(),
        Timestamp::from_millis(now),
    );
    assert_eq!(
        step.decision.launched(),
        0,
        "three instances run at $1/h under a $3/h budget: {:?}",
        step.decision
    );
    assert_eq!(
        step.decision.terminated(),
        1,
        "decide terminates the lost worker: {:?}",
        step.decision
    );
}

#[test]
fn a_failed_listing_is_unknown_and_releases_nothing() {
    let p = policy::from_toml_str(POLICY, "t").unwrap();
    let records = vec![rec("w-l", Some("i-lost"), "ec2", false, 0)];
    let v = join(
        &p,
        None,
        &[],
        &records,
        Timestamp::from_millis(100_000),
        Duration::from_secs(1),
        Timestamp::from_millis(0),
    );
    assert_eq!(v.pools[1].workers, None, "unknown, and nothing judged lost");
}

#[test]
fn an_idle_worker_past_its_drain_deadline_is_released() {
    let p = policy::from_toml_str(POLICY, "t").unwrap();
    let mut r = rec("w", Some("i-1"), "ec2", false, 99_000);
    r.drain_requested = Some(Timestamp::from_millis(50_000));
    let at = |now| {
        join(
            &p,
            Some(&[inst("i-1", 0)]),
            &[],
            std::slice::from_ref(&r),
            Timestamp::from_millis(now),
            Duration::from_secs(30),
            Timestamp::from_millis(0),
        )
    };
    let state = |now| at(now).pools[1].workers.as_ref().unwrap()[0].state;
    assert_eq!(
        state(70_000),
        WorkerState::Draining { busy: false },
        "within the deadline, wait for `drained`"
    );
    assert_eq!(state(100_000), WorkerState::Drained);
}

#[test]
fn a_static_pool_holds_no_more_workers_than_it_has() {
    // Reproduction (issue "hostile input"): 100 forged `datacenter` heartbeats where the
    // policy says `workers = 2` counted as 100 idle workers.
    let p = policy::from_toml_str(POLICY, "t").unwrap();
    let now = 100_000;
    let mut records = vec![
        rec("host1", None, "dc", true, now - 500),
        rec("host2", None, "dc", false, now - 500),
    ];
    for k in 0..100 {
        let mut forged = rec(&format!("forged-{k}"), None, "dc", false, now - 100);
        forged.first_seen = Timestamp::from_millis(now - 100);
        records.push(forged);
    }
    for r in &mut records[..2] {
        r.first_seen = Timestamp::from_millis(1_000);
    }
    let v = join(
        &p,
        Some(&[]),
        &[],
        &records,
        Timestamp::from_millis(now),
        Duration::from_secs(30),
        Timestamp::from_millis(0),
    );
    let dc: Vec<&str> = v.pools[0]
        .workers
        .iter()
        .flatten()
        .map(|w| w.id.0.as_str())
        .collect();
    assert_eq!(
        dc,
        vec!["host1", "host2"],
        "the first heard, up to the pool's size"
    );
}
