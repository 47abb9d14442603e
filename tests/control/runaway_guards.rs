//! The runaway guards in `decide`, as a specification: launches per hour and dollars per day
//! bind with a hold, a reason and an alertable kind, and a pause freezes every action.

use crate::farm;

use farm::actions::holds;
use farm::{Farm, at, picnik_with};
use spillway::control::{ControlMemory, ReasonKind, Step};
use spillway::model::Timestamp;

fn launched(step: &Step) -> u32 {
    step.decision.launched()
}

#[test]
fn launches_per_hour_are_capped_across_ticks_and_the_cap_says_so() {
    let policy = picnik_with(
        "max_hourly_usd = 60",
        "max_hourly_usd = 60\nmax_launches_per_hour = 12",
    );
    let mut memory = ControlMemory::default();
    let mut total = 0;
    // A backlog that keeps wanting more, every minute for 40 minutes.
    for k in 0..40 {
        let step = Farm::at(at(600 + 60 * k))
            .dc_busy(40)
            .ec2_busy(total as usize)
            .waiting(400.0)
            .decide(&policy, &memory);
        total += launched(&step);
        assert!(total <= 12, "{total} launches within the hour");
        if total == 12 && launched(&step) == 0 {
            assert!(
                holds(&step).contains(&ReasonKind::LaunchRateCap),
                "{:?}",
                step.decision
            );
            assert!(ReasonKind::LaunchRateCap.is_constraint());
        }
        memory = step.memory;
    }
    assert_eq!(total, 12);
    // An hour after the first launches, the guard lets more through.
    let later = Farm::at(at(600 + 3_700))
        .dc_busy(40)
        .ec2_busy(12)
        .waiting(400.0)
        .decide(&policy, &memory);
    assert!(launched(&later) > 0, "{:?}", later.decision);
}

#[test]
fn a_spent_daily_budget_stops_launches_with_a_reason() {
    let policy = picnik_with(
        "max_hourly_usd = 60",
        "max_hourly_usd = 60\nmax_daily_usd = 5",
    );
    let mut memory = ControlMemory::default();
    // 20 busy EC2 workers at $0.34/h cost $6.80 an hour: within the hour $5 is gone.
    let mut blocked = false;
    for k in 0..60 {
        let step = Farm::at(at(600 + 60 * k))
            .dc_busy(40)
            .ec2_busy(20)
            .waiting(300.0)
            .decide(&policy, &memory);
        if memory
            .ledger
            .spent_last_day(Timestamp::from_millis((600 + 60 * k) * 1000))
            >= 5.0
        {
            assert_eq!(
                launched(&step),
                0,
                "launched after the day's budget: {:?}",
                step.decision
            );
            // Running workers count: the busy ones are drained (they finish their job, then
            // go), never terminated.
            let kinds: Vec<ReasonKind> = step
                .decision
                .actions
                .iter()
                .map(|a| a.reason().kind)
                .collect();
            assert!(
                kinds.contains(&ReasonKind::DailyBudgetCap),
                "{:?}",
                step.decision
            );
            assert_eq!(step.decision.terminated(), 0, "{:?}", step.decision);
            assert_eq!(step.decision.drained(), 20, "{:?}", step.decision);
            blocked = true;
        }
        memory = step.memory;
    }
    assert!(blocked, "the daily budget never bound");
}

#[test]
fn a_paused_controller_holds_everything_but_still_learns() {
    let policy = farm::picnik();
    let farm = Farm::at(at(600))
        .dc_busy(40)
        .waiting(300.0)
        .ec2_idle_since(3, at(0));
    let unpaused = farm.decide(&policy, &ControlMemory::default());
    assert!(launched(&unpaused) > 0);
    let obs = {
        let mut o = farm.observe();
        o.paused = Some("change freeze".into());
        o
    };
    let step = spillway::control::decide(&policy, &obs, &ControlMemory::default(), farm.now);
    assert_eq!(holds(&step), vec![ReasonKind::Paused]);
    assert_eq!(step.decision.actions.len(), 1, "{:?}", step.decision);
    assert!(
        step.decision.actions[0]
            .reason()
            .text
            .contains("change freeze")
    );
    assert_eq!(step.memory.ticks, 1);
    assert!(
        !step.memory.demand.is_empty(),
        "observation still feeds memory"
    );
}
