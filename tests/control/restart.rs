//! Knowing before acting: what `decide` does right after the service started or became the
//! leader, while it has not yet heard every worker (issue: "a restart kills running renders").
//!
//! Reproductions, on the decide seam: a restarted service saw every listed instance as booting
//! and overdue and terminated all of them; it read a datacenter that had not reported yet as
//! empty and launched EC2 to cover it.

use crate::farm;

use farm::actions::{holds, launches, terminated};
use farm::{Farm, at, picnik};
use spillway::control::{ControlMemory, ReasonKind};

/// 8 EC2 workers launched an hour before `now_s`, long past `boot_timeout` (10 min), none
/// heard from yet; the datacenter busy.
fn restarted_farm(now_s: i64, listening_s: i64) -> Farm {
    Farm::at(at(now_s))
        .dc_busy(40)
        .ec2_booting_since(8, at(now_s - 3600))
        .listening_since(at(listening_s))
}

#[test]
fn a_restart_terminates_no_unheard_instance_and_launches_nothing_on_a_steady_farm() {
    // 16 ms after the start, before any heartbeat could arrive.
    let step = restarted_farm(10_000, 10_000).decide(&picnik(), &ControlMemory::default());
    assert!(terminated(&step).is_empty(), "{:?}", step.decision);
    assert!(launches(&step).is_empty(), "{:?}", step.decision);
    let text = &step.decision.actions[0].reason().text;
    assert!(
        text.contains("learning the fleet for 60s more (8 workers not heard from yet)"),
        "{text}"
    );
    assert_eq!(step.decision.learning_until, Some(at(10_060)));
}

#[test]
fn without_the_learning_time_the_same_farm_is_terminated_as_overdue() {
    // The positive control: a service that has listened for longer than lost_after judges
    // the same silent instances by boot_timeout, as before.
    let step = restarted_farm(10_000, 9_000).decide(&picnik(), &ControlMemory::default());
    assert_eq!(terminated(&step).len(), 8);
    assert_eq!(step.decision.learning_until, None);
}

#[test]
fn an_instance_launched_after_the_start_is_booting_not_unknown() {
    // Launched by this process 20 minutes after it started: judged by boot_timeout.
    let farm = Farm::at(at(3_000))
        .dc_busy(40)
        .waiting(10.0)
        .ec2_booting_since(2, at(1_300))
        .listening_since(at(1_000));
    let step = farm.decide(&picnik(), &ControlMemory::default());
    assert_eq!(terminated(&step).len(), 2);
}

#[test]
fn a_datacenter_that_has_not_reported_counts_at_its_configured_size_not_as_zero() {
    // 0 of 40 datacenter workers heard from, queue empty, min_free = 2.
    let farm = Farm::at(at(10_001))
        .dc_unheard()
        .listening_since(at(10_000));
    let step = farm.decide(&picnik(), &ControlMemory::default());
    assert!(launches(&step).is_empty(), "{:?}", step.decision);
    // The positive control: the same empty report once learned is a datacenter of 0.
    let learned = Farm::at(at(10_001)).dc_unheard().listening_since(at(9_000));
    let step = learned.decide(&picnik(), &ControlMemory::default());
    assert!(!launches(&step).is_empty(), "{:?}", step.decision);
}

#[test]
fn while_learning_a_backlog_beyond_the_whole_farm_still_launches() {
    // 40 datacenter workers (unheard) and 8 unheard EC2: 400 jobs waiting need more.
    let farm = restarted_farm(10_000, 10_000).waiting(400.0);
    let step = farm.decide(&picnik(), &ControlMemory::default());
    let launched: u32 = launches(&step).iter().map(|l| l.1).sum();
    assert!(launched > 0, "{:?}", step.decision);
    assert!(terminated(&step).is_empty());
}

#[test]
fn while_learning_idle_workers_are_not_scaled_in() {
    let policy = farm::picnik_with("scale_in_after = \"5m\"", "scale_in_after = \"0s\"");
    let farm = Farm::at(at(10_010))
        .ec2_idle_since(20, at(0))
        .listening_since(at(10_000));
    let step = farm.decide(&policy, &ControlMemory::default());
    assert!(terminated(&step).is_empty(), "{:?}", step.decision);
    assert!(!holds(&step).is_empty());
    // Once learned, the same surplus goes.
    let learned = Farm::at(at(10_010))
        .ec2_idle_since(20, at(0))
        .listening_since(at(9_000));
    let step = learned.decide(&policy, &ControlMemory::default());
    assert!(!terminated(&step).is_empty(), "{:?}", step.decision);
    let _ = ReasonKind::Surplus;
}

#[test]
fn a_tick_that_terminates_overdue_workers_says_so_not_that_pools_are_at_max() {
    // Reproduction (issue "hostile input", finding 9): a boot-timeout tick held with kind
    // max_instances at 2 of 8, the reason operators alert on.
    let farm = Farm::at(at(3_000))
        .dc_busy(40)
        .waiting(10.0)
        .ec2_booting_since(2, at(1_300))
        .listening_since(at(1_000));
    let step = farm.decide(&picnik(), &ControlMemory::default());
    assert_eq!(terminated(&step).len(), 2);
    let held = holds(&step);
    assert!(
        !held.contains(&ReasonKind::MaxInstances),
        "{:?}",
        step.decision
    );
    assert!(
        held.contains(&ReasonKind::BootTimeout),
        "{:?}",
        step.decision
    );
}
