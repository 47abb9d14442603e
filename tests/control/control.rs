//! The controller as a specification: named situations and what `decide` must do in each.

use crate::farm;

use std::time::Duration;

use farm::actions::{holds, launches, terminated};
use farm::{Farm, at, picnik, picnik_with};
use spillway::control::{Action, ControlMemory, ReasonKind, Step};
use spillway::model::WorkerId;

#[test]
fn datacenter_capacity_is_used_before_any_launch() {
    let step = Farm::at(at(600))
        .dc_busy(20)
        .decide(&picnik(), &ControlMemory::default());
    assert!(launches(&step).is_empty(), "{:?}", step.decision);
    assert!(terminated(&step).is_empty());
    assert_eq!(holds(&step), vec![ReasonKind::WithinBand]);
}

#[test]
fn a_backlog_beyond_the_datacenter_launches_the_overflow_into_ec2() {
    // 40 busy + 30 waiting = 70 demand; headroom 25% → 88 desired; 40 on hand → 48 more.
    let step = Farm::at(at(600))
        .dc_busy(40)
        .waiting(30.0)
        .decide(&picnik(), &ControlMemory::default());
    assert_eq!(
        launches(&step),
        vec![("ec2".to_string(), 48, ReasonKind::Backlog)]
    );
    let reason = step.decision.actions[0].reason().text.clone();
    assert!(reason.contains("30 jobs waiting"), "{reason}");
}

#[test]
fn booting_workers_count_as_capacity_on_the_way() {
    let farm = Farm::at(at(600))
        .dc_busy(40)
        .waiting(30.0)
        .ec2_booting_since(48, at(540));
    let step = farm.decide(&picnik(), &ControlMemory::default());
    assert!(
        launches(&step).is_empty(),
        "no duplicate launch while 48 boot: {:?}",
        step.decision
    );
}

#[test]
fn small_shortfalls_within_the_band_cause_no_churn() {
    // 40 dc busy + 10 ec2 busy, nothing waiting: desired 63 (13 of it headroom). 62 on hand is
    // short by less than 15% of the headroom, so nothing launches.
    let farm = Farm::at(at(600))
        .dc_busy(40)
        .ec2_busy(10)
        .ec2_idle_since(12, at(590));
    let step = farm.decide(&picnik(), &ControlMemory::default());
    assert!(
        launches(&step).is_empty() && terminated(&step).is_empty(),
        "{:?}",
        step.decision
    );
    // 60 on hand is short by 3: more than the band tolerates, so the headroom is restored.
    let farm = Farm::at(at(600))
        .dc_busy(40)
        .ec2_busy(10)
        .ec2_idle_since(10, at(590));
    let step = farm.decide(&picnik(), &ControlMemory::default());
    assert_eq!(
        launches(&step).iter().map(|l| l.1).sum::<u32>(),
        3,
        "{:?}",
        step.decision
    );
    // Nor does a surplus scale in at once: 70 on hand is 7 above 63, more than the band's
    // 15% of the headroom, but it must persist for `scale_in_after` first.
    let farm = Farm::at(at(600))
        .dc_busy(40)
        .ec2_busy(10)
        .ec2_idle_since(20, at(590));
    let step = farm.decide(&picnik(), &ControlMemory::default());
    assert_eq!(holds(&step), vec![ReasonKind::ScaleInPending]);
}

#[test]
fn surplus_must_persist_before_idle_ec2_workers_go_longest_idle_first() {
    let policy = picnik();
    // 10 busy datacenter workers, 30 idle; 20 idle EC2 workers, each of which took a job a
    // few seconds ago (so none has idled past the break-even time: the idle timer's rule
    // does not apply, and the surplus must last `scale_in_after`).
    let base = |now| {
        Farm::at(at(now))
            .dc_busy(10)
            .ec2_idle_since(10, at(now - 20))
            .ec2_idle_since(10, at(now - 10))
    };
    let first = base(1000).decide(&policy, &ControlMemory::default());
    assert!(terminated(&first).is_empty());
    assert_eq!(holds(&first), vec![ReasonKind::ScaleInPending]);
    let early = base(1200).decide(&policy, &first.memory);
    assert!(
        terminated(&early).is_empty(),
        "only 200 s of the 300 s: {:?}",
        early.decision
    );
    let late = base(1300).decide(&policy, &early.memory);
    let gone = terminated(&late);
    assert_eq!(
        gone.len(),
        20,
        "desired is 13 and the datacenter alone has 40: {:?}",
        late.decision
    );
    assert!(
        gone.iter().all(|id| id.0.starts_with("i-")),
        "never a datacenter worker"
    );
}

#[test]
fn scale_in_takes_the_longest_idle_first_and_never_a_busy_worker() {
    let text = spillway::policy::EMBEDDED_DEFAULT
        .replace("scale_in_after = \"5m\"", "scale_in_after = \"0s\"")
        .replace("band = 0.15", "band = 0.0");
    let policy = spillway::policy::from_toml_str(&text, "t.toml").unwrap();
    // 40 dc busy + 10 ec2 busy = 50 → desired 63; 15 idle EC2 (10 since t=100, 5 since t=500)
    // make 65: a surplus of 2, taken from the ten idle since t=100.
    let farm = Farm::at(at(1000))
        .dc_busy(40)
        .ec2_busy(10)
        .ec2_idle_since(5, at(500))
        .ec2_idle_since(10, at(100));
    let step = farm.decide(&policy, &ControlMemory::default());
    let gone = terminated(&step);
    assert_eq!(gone.len(), 2, "{:?}", step.decision);
    let long_idle: Vec<WorkerId> = farm.ec2[15..].iter().map(|w| w.id.clone()).collect();
    assert!(
        gone.iter().all(|id| long_idle.contains(id)),
        "longest idle first: {gone:?}"
    );
    let busy: Vec<&WorkerId> = farm
        .ec2
        .iter()
        .filter(|w| w.is_busy())
        .map(|w| &w.id)
        .collect();
    assert!(gone.iter().all(|id| !busy.contains(&id)));
}

#[test]
fn stale_queue_statistics_never_scale_in_and_say_so() {
    let policy = picnik_with("scale_in_after = \"5m\"", "scale_in_after = \"0s\"");
    let farm = Farm::at(at(1000))
        .ec2_idle_since(20, at(0))
        .queue_age(Duration::from_secs(600));
    let step = farm.decide(&policy, &ControlMemory::default());
    assert!(terminated(&step).is_empty());
    let text = step.decision.actions[0].reason().text.clone();
    assert_eq!(holds(&step), vec![ReasonKind::StaleQueue], "{text}");
    assert!(text.contains("600s old"), "{text}");
}

#[test]
fn missing_queue_statistics_are_not_read_as_an_empty_queue() {
    let policy = picnik_with("scale_in_after = \"5m\"", "scale_in_after = \"0s\"");
    let step = Farm::at(at(1000))
        .ec2_idle_since(20, at(0))
        .queue_missing()
        .decide(&policy, &ControlMemory::default());
    assert!(terminated(&step).is_empty());
    assert_eq!(holds(&step), vec![ReasonKind::MissingQueue]);
    // But busy workers alone can still justify more capacity.
    let busy = Farm::at(at(1000))
        .dc_busy(40)
        .queue_missing()
        .decide(&policy, &ControlMemory::default());
    assert_eq!(
        launches(&busy).iter().map(|l| l.2).collect::<Vec<_>>(),
        vec![ReasonKind::MissingQueue]
    );
}

#[test]
fn a_failed_fleet_listing_launches_nothing_and_terminates_nothing_in_that_pool() {
    let step = Farm::at(at(1000))
        .dc_busy(40)
        .waiting(50.0)
        .ec2_listing_missing()
        .decide(&picnik(), &ControlMemory::default());
    assert!(
        launches(&step).is_empty(),
        "launching blind could double the fleet: {:?}",
        step.decision
    );
    assert!(terminated(&step).is_empty());
    assert_eq!(
        holds(&step),
        vec![ReasonKind::MissingFleet],
        "the hold says why"
    );
}

#[test]
fn the_max_instances_cap_binds_and_is_reported() {
    let policy = picnik_with("max = 200", "max = 30");
    let step = Farm::at(at(1000))
        .dc_busy(40)
        .ec2_busy(25)
        .waiting(100.0)
        .decide(&policy, &ControlMemory::default());
    assert_eq!(
        launches(&step),
        vec![("ec2".to_string(), 5, ReasonKind::Backlog)]
    );
    assert!(
        holds(&step).contains(&ReasonKind::MaxInstances),
        "{:?}",
        step.decision
    );
}

#[test]
fn the_hourly_budget_binds_and_is_reported() {
    // $10/h at $0.34/h affords 29 instances; 20 exist.
    let policy = picnik_with("max_hourly_usd = 60", "max_hourly_usd = 10");
    let step = Farm::at(at(1000))
        .dc_busy(40)
        .ec2_busy(20)
        .waiting(100.0)
        .decide(&policy, &ControlMemory::default());
    assert_eq!(launches(&step)[0].1, 9);
    assert!(holds(&step).contains(&ReasonKind::BudgetCap));
}

#[test]
fn the_launch_step_per_tick_binds_and_is_reported() {
    let policy = picnik_with(
        "window = \"60s\"",
        "window = \"60s\"\nmax_launch_per_tick = 7",
    );
    let step = Farm::at(at(1000))
        .dc_busy(40)
        .waiting(100.0)
        .decide(&policy, &ControlMemory::default());
    assert_eq!(launches(&step)[0].1, 7);
    assert!(holds(&step).contains(&ReasonKind::StepCap));
}

#[test]
fn workers_that_never_boot_are_terminated_and_not_counted() {
    // boot_timeout defaults to 10 minutes; these were launched 20 minutes ago.
    let farm = Farm::at(at(1300))
        .dc_busy(40)
        .waiting(10.0)
        .ec2_booting_since(5, at(100));
    let step = farm.decide(&picnik(), &ControlMemory::default());
    let gone = terminated(&step);
    assert_eq!(gone.len(), 5);
    assert!(
        step.decision
            .actions
            .iter()
            .any(|a| a.reason().kind == ReasonKind::BootTimeout)
    );
    assert!(
        launches(&step).is_empty(),
        "the replacement comes next tick, not in the same step"
    );
}

#[test]
fn pool_minimums_are_kept() {
    let policy = picnik_with("min = 0", "min = 3");
    let step = Farm::at(at(1000)).decide(&policy, &ControlMemory::default());
    assert_eq!(
        launches(&step),
        vec![("ec2".to_string(), 3, ReasonKind::PoolMinimum)]
    );
}

#[test]
fn decide_is_pure_and_launch_tokens_are_deterministic() {
    let farm = Farm::at(at(1000)).dc_busy(40).waiting(30.0);
    let a = farm.decide(&picnik(), &ControlMemory::default());
    let b = farm.decide(&picnik(), &ControlMemory::default());
    assert_eq!(a, b);
    let later = Farm {
        now: at(1060),
        ..farm.clone()
    }
    .decide(&picnik(), &ControlMemory::default());
    let token = |s: &Step| match &s.decision.actions[0] {
        Action::Launch { client_token, .. } => client_token.clone(),
        other => panic!("{other:?}"),
    };
    assert_ne!(token(&a), token(&later), "a new decision gets a new token");
    assert!(token(&a).len() <= 64 && token(&a).is_ascii());
}

#[test]
fn a_rising_trend_launches_before_the_queue_builds() {
    let policy = picnik();
    let mut mem = ControlMemory::default();
    // Busy datacenter workers climb 2 per minute, nothing waits yet.
    let mut step = None;
    for minute in 0..15 {
        let farm = Farm::at(at(60 * minute)).dc_busy(20 + 2 * minute as usize);
        let s = farm.decide(&policy, &mem);
        mem = s.memory.clone();
        step = Some(s);
    }
    let step = step.unwrap();
    let kinds: Vec<ReasonKind> = launches(&step).iter().map(|l| l.2).collect();
    // 48 busy now; +2/min over the 3 min boot → 54, with headroom 68 > 40 on hand.
    assert_eq!(kinds, vec![ReasonKind::Forecast], "{:?}", step.decision);
}

#[test]
fn hpa_baseline_follows_upstream_rate_limits() {
    let policy = picnik_with(
        "strategy = \"spillway\"",
        "strategy = \"hpa\"\n[hpa]\ntarget_per_replica = 1.0",
    );
    // 40 busy + 200 waiting = 240 messages at 1 per replica; current 40 → +100% → 80.
    let step = Farm::at(at(1000))
        .dc_busy(40)
        .waiting(200.0)
        .decide(&policy, &ControlMemory::default());
    assert_eq!(
        launches(&step).iter().map(|l| l.1).sum::<u32>(),
        40,
        "{:?}",
        step.decision
    );
}

#[test]
fn delayed_messages_count_as_demand_arriving_within_a_boot_time() {
    // Reproduction: scheduled renders were read and ignored when sizing. 40 datacenter
    // workers busy, nothing visible, 300 renders delayed: with a 3 min boot a fifth of them
    // (3 of SQS's 15 minutes) arrives before a launch now could be ready.
    let busy = || Farm::at(at(600)).dc_busy(40);
    let quiet = busy().decide(&picnik(), &ControlMemory::default());
    let scheduled = busy()
        .delayed(300.0)
        .decide(&picnik(), &ControlMemory::default());
    let wanted = |s: &Step| s.decision.desired_total;
    let text = &scheduled.decision.actions[0].reason().text;
    assert!(
        text.contains("demand 100 "),
        "40 busy + 60 arriving: {text}"
    );
    assert!(
        wanted(&scheduled) > wanted(&quiet),
        "quiet {} vs scheduled {}: {:?}",
        wanted(&quiet),
        wanted(&scheduled),
        scheduled.decision
    );
}
