//! The break-even idle timer: a scalable worker idle for longer than relaunching it would cost
//! (a boot, billed, plus the 60 s billing minimum: 240 s for the seed's 3-minute boot) goes at
//! once, longest idle first, down to the launch target and never below it, never a busy worker,
//! never on data unfit to scale in on; a launch soon after a cut makes the timer longer.

use spillway::control::{ControlMemory, ReasonKind, Step, decide};
use spillway::model::WorkerId;

use crate::farm::actions::{holds, launches, terminations};
use crate::farm::{Farm, at, picnik};

/// 44 busy workers (40 datacenter, 4 EC2) want 55 with the seed's ratio of 0.25; 16 idle EC2
/// workers make 60: eight idle since `long_since`, eight for 100 s.
fn farm(now: i64, long_since: i64) -> Farm {
    Farm::at(at(now))
        .dc_busy(40)
        .ec2_busy(4)
        .ec2_idle_since(8, at(long_since))
        .ec2_idle_since(8, at(now - 100))
}

/// The long-idle workers of [`farm`]: added right after the four busy ones.
fn long_idle() -> Vec<WorkerId> {
    (5..=12).map(|i| WorkerId(format!("i-{i:04}"))).collect()
}

fn cut(step: &Step) -> Vec<WorkerId> {
    terminations(step)
        .into_iter()
        .filter(|(_, _, kind)| *kind == ReasonKind::IdleTimer)
        .flat_map(|(_, ids, _)| ids)
        .collect()
}

#[test]
fn a_worker_idle_longer_than_a_relaunch_costs_goes_at_once_down_to_the_launch_target() {
    let policy = picnik();
    let step = decide(
        &policy,
        &farm(1000, 1000 - 241).observe(),
        &ControlMemory::default(),
        at(1000),
    );
    let gone = cut(&step);
    assert_eq!(
        gone.len(),
        5,
        "60 on hand, the launch target is 55: {:?}",
        step.decision
    );
    assert!(
        gone.iter().all(|id| long_idle().contains(id)),
        "only workers idle past the break-even time: {gone:?}"
    );
    let text = &step.decision.actions[0].reason().text;
    assert!(text.contains("idle for 240s or more"), "{text}");

    // Idle for a second less than the break-even time: nothing goes yet (the surplus rule
    // starts its clock instead).
    let step = decide(
        &policy,
        &farm(1000, 1000 - 239).observe(),
        &ControlMemory::default(),
        at(1000),
    );
    assert!(terminations(&step).is_empty(), "{:?}", step.decision);
    assert_eq!(holds(&step), vec![ReasonKind::ScaleInPending]);
}

#[test]
fn never_below_the_launch_target_nor_a_busy_worker() {
    // 56 busy want 70; 40 long-idle EC2 workers make 96: 26 go, 14 long-idle ones stay.
    let step = decide(
        &picnik(),
        &Farm::at(at(2000))
            .dc_busy(40)
            .ec2_busy(16)
            .ec2_idle_since(40, at(0))
            .observe(),
        &ControlMemory::default(),
        at(2000),
    );
    let gone = cut(&step);
    assert_eq!(gone.len(), 26, "{:?}", step.decision);
    let busy: Vec<WorkerId> = (1..=16).map(|i| WorkerId(format!("i-{i:04}"))).collect();
    assert!(gone.iter().all(|id| !busy.contains(id)), "{gone:?}");
}

#[test]
fn not_on_data_unfit_to_scale_in_on() {
    let policy = picnik();
    // Stale queue statistics: the busy workers alone are a lower bound, never a reason to cut.
    let mut stale = farm(1000, 0);
    stale.queue_age = std::time::Duration::from_secs(600);
    let step = decide(
        &policy,
        &stale.observe(),
        &ControlMemory::default(),
        at(1000),
    );
    assert!(terminations(&step).is_empty(), "{:?}", step.decision);
    // A restart 30 s ago: the fleet is still being learned.
    let learning = farm(1000, 0).listening_since(at(970));
    let step = decide(
        &policy,
        &learning.observe(),
        &ControlMemory::default(),
        at(1000),
    );
    assert!(terminations(&step).is_empty(), "{:?}", step.decision);
}

#[test]
fn a_launch_soon_after_a_cut_makes_the_timer_longer() {
    let policy = picnik();
    // Cut at 1000 (the long-idle workers had idled 300 s).
    let first = decide(
        &policy,
        &farm(1000, 700).observe(),
        &ControlMemory::default(),
        at(1000),
    );
    assert_eq!(cut(&first).len(), 5);
    // A minute later a backlog needs launches: the cut was premature.
    let mut busy = Farm::at(at(1060)).dc_busy(40).ec2_busy(15);
    busy.waiting = 60.0;
    let second = decide(&policy, &busy.observe(), &first.memory, at(1060));
    assert!(!launches(&second).is_empty(), "{:?}", second.decision);
    // Once the backlog's demand has left the averages, a surplus of workers idle for 250 s:
    // past the break-even time, short of the lengthened timer (a quarter longer: 300 s), so
    // none of them goes.
    let third = decide(
        &policy,
        &farm(1400, 1400 - 250).observe(),
        &second.memory,
        at(1400),
    );
    assert!(cut(&third).is_empty(), "{:?}", third.decision);
    assert_eq!(
        third.memory.idle_timer.after,
        Some(std::time::Duration::from_secs(300))
    );
    // Idle for 301 s, they go.
    let fourth = decide(
        &policy,
        &farm(1400, 1400 - 301).observe(),
        &second.memory,
        at(1400),
    );
    assert_eq!(cut(&fourth).len(), 5, "{:?}", fourth.decision);
}

#[test]
fn a_cut_that_needed_no_launch_shortens_the_timer_to_no_less_than_the_break_even_time() {
    let policy = picnik();
    let mut memory = ControlMemory::default();
    memory.idle_timer.after = Some(std::time::Duration::from_secs(400));
    let first = decide(&policy, &farm(1000, 500).observe(), &memory, at(1000));
    assert_eq!(cut(&first).len(), 5);
    // Nothing launched for a reaction time (a boot and an interval: 240 s): a tenth shorter.
    let later = decide(
        &policy,
        &Farm::at(at(1300))
            .dc_busy(40)
            .ec2_busy(4)
            .ec2_idle_since(11, at(1290))
            .observe(),
        &first.memory,
        at(1300),
    );
    assert_eq!(
        later.memory.idle_timer.after,
        Some(std::time::Duration::from_secs(360))
    );
}
