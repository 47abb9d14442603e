//! The heartbeat registry as a specification: drain requests, which `drained` reports are
//! believed, worker ids bound to their instance, bounded pools that evict forgeries and the
//! silent before the live, and jobs-done counters credited only at a plausible rate.

use std::collections::HashSet;
use std::time::Duration;

use spillway::heartbeat::protocol::{Command, Heartbeat, ReportedState};
use spillway::model::Timestamp;
use spillway::service::observe::registry::{Limits, MAX_JOBS_PER_SECOND, Refused, Registry};

fn hb(id: &str, state: ReportedState) -> Heartbeat {
    Heartbeat {
        worker_id: id.into(),
        pool: "ec2".into(),
        instance_id: Some(format!("i-{id}")),
        state,
        job_id: None,
        jobs_done: 0,
        drained: false,
        finished: Vec::new(),
        interrupted: None,
        taken: Vec::new(),
    }
}

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Pool `ec2` holds 3 workers; silent after 20 s.
fn small() -> Registry {
    Registry::bounded(Limits {
        per_pool: [("ec2".to_string(), 3)].into(),
        silent_after: Duration::from_secs(20),
    })
}

fn ids(r: &Registry) -> Vec<String> {
    let mut v: Vec<String> = r.snapshot().into_iter().map(|r| r.worker_id).collect();
    v.sort();
    v
}

#[test]
fn drain_requests_reach_the_worker_by_instance_id() {
    let r = Registry::new();
    assert_eq!(r.beat(hb("a", ReportedState::Idle), t(0)), Ok(Command::Run));
    assert!(r.request_drain("i-a", t(1)));
    assert!(!r.request_drain("i-zzz", t(1)));
    assert_eq!(
        r.beat(hb("a", ReportedState::Busy), t(2)),
        Ok(Command::Drain)
    );
    let rec = &r.snapshot()[0];
    assert_eq!(rec.drain_requested, Some(t(1)));
    assert_eq!((rec.state, rec.state_since), (ReportedState::Busy, t(2)));
    r.forget("i-a");
    assert!(r.snapshot().is_empty());
}

#[test]
fn drained_is_believed_only_in_answer_to_a_drain_request() {
    // Reproduction (issue "hostile input", finding 3): a forged `drained` from any worker id
    // had a healthy instance terminated.
    let r = Registry::new();
    let forged = Heartbeat {
        drained: true,
        finished: Vec::new(),
        interrupted: None,
        taken: Vec::new(),
        ..hb("evil", ReportedState::Idle)
    };
    assert_eq!(r.beat(forged.clone(), t(0)), Ok(Command::Run));
    assert!(!r.snapshot()[0].drained && !r.snapshot()[0].draining());
    assert!(r.request_drain("i-evil", t(1)));
    assert_eq!(r.beat(forged, t(2)), Ok(Command::Drain));
    assert!(r.snapshot()[0].drained);
}

#[test]
fn a_worker_id_stays_bound_to_its_instance_while_it_is_heard() {
    let r = small();
    r.beat(hb("a", ReportedState::Busy), t(0)).unwrap();
    let moved = Heartbeat {
        instance_id: Some("i-other".into()),
        ..hb("a", ReportedState::Idle)
    };
    let refused = r.beat(moved.clone(), t(1_000)).unwrap_err();
    assert!(matches!(refused, Refused::Conflict { .. }), "{refused:?}");
    assert_eq!(refused.label(), "conflict");
    let other_pool = Heartbeat {
        pool: "datacenter".into(),
        ..hb("a", ReportedState::Idle)
    };
    assert!(r.beat(other_pool, t(1_000)).is_err());
    let rec = &r.snapshot()[0];
    assert_eq!(
        (rec.instance_id.as_deref(), rec.state),
        (Some("i-a"), ReportedState::Busy),
        "the refused heartbeats changed nothing"
    );
    // Silent past silent_after, the id is free again (a worker relaunched elsewhere).
    assert_eq!(r.beat(moved, t(21_000)), Ok(Command::Run));
    assert_eq!(r.snapshot()[0].instance_id.as_deref(), Some("i-other"));
}

#[test]
fn a_full_pool_refuses_new_workers_while_every_one_is_heard_and_ours() {
    // Reproduction (finding 6): 100,000 fake worker ids filled the registry and real workers got
    // 503 for minutes.
    let r = small();
    for id in ["a", "b", "c"] {
        r.beat(hb(id, ReportedState::Idle), t(0)).unwrap();
    }
    r.set_owned("ec2", ["i-a", "i-b", "i-c"].map(String::from).into());
    assert_eq!(
        r.beat(hb("d", ReportedState::Idle), t(1_000)),
        Err(Refused::Full("ec2".into()))
    );
    // Another pool is not affected by this one being full.
    let dc = Heartbeat {
        pool: "datacenter".into(),
        instance_id: None,
        ..hb("dc1", ReportedState::Idle)
    };
    assert_eq!(r.beat(dc, t(1_000)), Ok(Command::Run));
    // Known workers keep beating.
    assert_eq!(
        r.beat(hb("a", ReportedState::Busy), t(1_000)),
        Ok(Command::Run)
    );
}

#[test]
fn a_full_pool_evicts_forged_instances_then_second_claims_then_the_silent() {
    let r = small();
    r.beat(hb("real", ReportedState::Busy), t(0)).unwrap();
    r.beat(hb("fake", ReportedState::Idle), t(5_000)).unwrap();
    let second_claim = Heartbeat {
        instance_id: Some("i-real".into()),
        ..hb("copycat", ReportedState::Idle)
    };
    r.beat(second_claim, t(6_000)).unwrap();
    let owned: HashSet<String> = ["i-real", "i-new", "i-newer", "i-last"]
        .map(String::from)
        .into();
    r.set_owned("ec2", owned);
    // i-fake is not one of the pool's instances: it goes first.
    r.beat(hb("new", ReportedState::Idle), t(7_000)).unwrap();
    assert_eq!(ids(&r), ["copycat", "new", "real"]);
    // Then a second claim on an instance someone else claimed first.
    r.beat(hb("newer", ReportedState::Idle), t(8_000)).unwrap();
    assert_eq!(ids(&r), ["new", "newer", "real"]);
    // Every one heard, ours and first on its instance: refused.
    assert!(r.beat(hb("last", ReportedState::Idle), t(9_000)).is_err());
    // Once "real" is silent (the others keep beating), it gives up its place.
    for id in ["new", "newer"] {
        r.beat(hb(id, ReportedState::Idle), t(25_000)).unwrap();
    }
    assert_eq!(
        r.beat(hb("last", ReportedState::Idle), t(25_000)),
        Ok(Command::Run)
    );
    assert_eq!(ids(&r), ["last", "new", "newer"]);
}

#[test]
fn jobs_done_counters_are_credited_at_a_plausible_rate() {
    // Reproduction (finding 6): `jobs_done: u64::MAX` made throughput 2.4e18 jobs/s.
    let r = Registry::new();
    let at = |jobs_done: u64| Heartbeat {
        jobs_done,
        ..hb("a", ReportedState::Busy)
    };
    let credited = || r.snapshot()[0].jobs_credited;
    r.beat(at(3), t(0)).unwrap();
    assert_eq!(credited(), 0, "what it claims before it was heard");
    r.beat(at(5), t(10_000)).unwrap();
    assert_eq!(credited(), 2);
    // 10 s more earn 200 on top of the 198 left: 400 in 20 s, 20 a second.
    r.beat(at(u64::MAX), t(20_000)).unwrap();
    assert_eq!(credited(), MAX_JOBS_PER_SECOND * 20);
    // A burst of heartbeats in one instant earns nothing more.
    for k in 1..=100 {
        r.beat(at(20 * k), t(20_000)).unwrap();
    }
    assert_eq!(credited(), MAX_JOBS_PER_SECOND * 20);
    // A restarted worker counts from zero again; the credit never goes back.
    r.beat(at(2), t(30_000)).unwrap();
    assert_eq!(credited(), MAX_JOBS_PER_SECOND * 20 + 2);
    // A first heartbeat claiming a huge count is credited nothing.
    r.beat(
        Heartbeat {
            jobs_done: u64::MAX,
            ..hb("b", ReportedState::Idle)
        },
        t(30_000),
    )
    .unwrap();
    let b = r
        .snapshot()
        .into_iter()
        .find(|x| x.worker_id == "b")
        .unwrap();
    assert_eq!(b.jobs_credited, 0);
}

#[test]
fn a_worker_idle_at_two_heartbeats_that_ran_jobs_in_between_is_idle_only_since_the_second() {
    // The break-even idle timer lets a worker go once it has idled past the cost of a
    // relaunch: one that runs short jobs between its heartbeats is not idle all along.
    let r = Registry::new();
    let idle = |jobs_done: u64| Heartbeat {
        jobs_done,
        ..hb("a", ReportedState::Idle)
    };
    let since = || r.snapshot()[0].state_since;
    r.beat(idle(0), t(0)).unwrap();
    r.beat(idle(0), t(10_000)).unwrap();
    assert_eq!(since(), t(0), "no job in between: idle all along");
    r.beat(idle(3), t(20_000)).unwrap();
    assert_eq!(since(), t(20_000), "three jobs done in between");
    r.beat(idle(3), t(30_000)).unwrap();
    assert_eq!(since(), t(20_000));
}
