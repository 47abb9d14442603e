//! `control.launch_interval`: the loop ticks that often, and the ticks between two full ones
//! (every `control.interval`) only launch. A backlog seen 15 s after a full tick is launched
//! for then, not 45 s later; a launch-only tick never scales in, however long a surplus has
//! lasted; and the completions of the launch-only ticks reach the next full tick's throughput,
//! which is then the one a 60 s loop would have learned.

use spillway::control::memory::Surplus;
use spillway::control::{ControlMemory, ReasonKind, Step, decide};
use spillway::policy::{self, Policy};

use crate::farm::actions::{holds, launches, terminations};
use crate::farm::{Farm, at, picnik, picnik_with};

fn fast() -> Policy {
    picnik_with(
        "window = \"60s\"",
        "window = \"60s\"\nlaunch_interval = \"15s\"",
    )
}

/// Runs full ticks every 60 s from `from` to `to` (inclusive) on the same farm.
fn full_ticks(policy: &Policy, farm: &Farm, from: i64, to: i64) -> ControlMemory {
    let mut memory = ControlMemory::default();
    let mut t = from;
    while t <= to {
        let mut f = farm.clone();
        f.now = at(t);
        memory = decide(policy, &f.observe(), &memory, at(t)).memory;
        t += 60;
    }
    memory
}

fn tick(policy: &Policy, farm: Farm, memory: &ControlMemory, t: i64) -> Step {
    let mut f = farm;
    f.now = at(t);
    decide(policy, &f.observe(), memory, at(t))
}

#[test]
fn a_backlog_seen_between_full_ticks_is_launched_for_at_once() {
    let policy = fast();
    let quiet = Farm::at(at(36_000)).dc_busy(40);
    let memory = full_ticks(&policy, &quiet, 35_400, 36_000);
    let spike = Farm::at(at(36_015)).dc_busy(40).waiting(120.0);
    let step = tick(&policy, spike, &memory, 36_015);
    let launched = launches(&step);
    assert!(
        launched
            .iter()
            .any(|(pool, n, kind)| pool == "ec2" && *n > 0 && *kind == ReasonKind::Backlog),
        "15 s after a full tick, 120 jobs waiting on a busy fleet: {launched:?}"
    );
    // The slow state did not move: no demand recorded, the full tick's time kept.
    assert_eq!(step.memory.demand, memory.demand);
    assert_eq!(step.memory.last_full_tick, Some(at(36_000)));
    // The launch is in the ledger, so the next ticks' caps count it.
    assert!(step.memory.ledger != memory.ledger);
}

#[test]
fn a_quiet_launch_only_tick_holds_and_says_why() {
    let policy = fast();
    let quiet = Farm::at(at(36_000)).dc_busy(30);
    let memory = full_ticks(&policy, &quiet, 35_400, 36_000);
    let step = tick(&policy, quiet, &memory, 36_030);
    assert!(launches(&step).is_empty());
    assert_eq!(holds(&step), vec![ReasonKind::BetweenTicks]);
}

#[test]
fn a_launch_only_tick_never_scales_in_however_long_the_surplus_lasted() {
    let policy = fast();
    // 20 idle EC2 workers beside 20 busy datacenter ones since 10:00: a surplus from the start.
    let idle = Farm::at(at(36_000))
        .dc_busy(20)
        .ec2_idle_since(20, at(35_000));
    let mut memory = full_ticks(&policy, &idle, 36_000, 36_300);
    // A surplus of 20 timed since 09:55: any full tick now scales it in.
    memory.surplus = Some(Surplus {
        since: at(35_700),
        min: 20,
    });
    let between = tick(&policy, idle.clone(), &memory, 36_315);
    assert!(
        terminations(&between).is_empty(),
        "{:?}",
        terminations(&between)
    );
    assert_eq!(holds(&between), vec![ReasonKind::BetweenTicks]);
    // The next full tick, with the memory the launch-only one left, does scale in.
    let full = tick(&policy, idle, &between.memory, 36_360);
    assert!(
        !terminations(&full).is_empty(),
        "the full tick after 11 minutes of surplus: {:?}",
        full.decision.actions
    );
}

#[test]
fn completions_of_launch_only_ticks_count_at_the_next_full_tick() {
    let busy = Farm::at(at(36_000)).dc_busy(40);
    let observed = |policy: &Policy, memory: &ControlMemory, t: i64, done: u64| {
        let mut f = busy.clone();
        f.now = at(t);
        let mut obs = f.observe();
        obs.completed = Some(done);
        decide(policy, &obs, memory, at(t)).memory
    };
    // A 60 s loop: 40 jobs done in the minute.
    let slow = picnik();
    let m = observed(&slow, &ControlMemory::default(), 36_000, 0);
    let slow_rate = observed(&slow, &m, 36_060, 40).throughput;
    // A 15 s loop: 10 jobs reported at each of four ticks.
    let policy = fast();
    let mut m = observed(&policy, &ControlMemory::default(), 36_000, 0);
    for t in [36_015, 36_030, 36_045, 36_060] {
        m = observed(&policy, &m, t, 10);
    }
    assert_eq!(m.throughput, slow_rate);
    assert!(slow_rate.is_some_and(|r| (r - 40.0 / 60.0).abs() < 1e-9));
}

#[test]
fn a_launch_interval_must_divide_the_interval_and_belongs_to_spillway() {
    // The seed's text with a launch interval and `edits`: the checker's message.
    let refused = |every: &str, edits: &[(&str, &str)]| {
        let mut text = policy::EMBEDDED_DEFAULT.replace(
            "window = \"60s\"",
            &format!("window = \"60s\"\nlaunch_interval = \"{every}\""),
        );
        for (from, to) in edits {
            text = text.replace(from, to);
        }
        policy::from_toml_str(&text, "p.toml")
            .unwrap_err()
            .to_string()
    };
    let e = refused("25s", &[]);
    assert!(
        e.contains("control.launch_interval") && e.contains("whole ticks"),
        "{e}"
    );
    let e = refused("15s", &[("strategy = \"spillway\"", "strategy = \"hpa\"")]);
    assert!(
        e.contains("control.launch_interval") && e.contains("spillway's rule"),
        "{e}"
    );
}
