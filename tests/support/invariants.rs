//! The invariants checked after every cell of the fault matrix, and the cell's row of the
//! outcome table:
//!
//! 1. the service is still up: `/status` always answered, it recovered (two clean ticks after
//!    the fault healed) and it stopped cleanly;
//! 2. no TerminateInstances named an instance whose worker was busy at that moment;
//! 3. no orphans: every live instance carries the policy's tag, the proxy's ledger knows it,
//!    and the service counts exactly the live instances;
//! 4. the pool's max and the hourly budget were never exceeded (replaying the ledger);
//! 5. no scale-in decided, no drain requested and nothing terminated on a tick whose
//!    observation failed, except workers released on earlier ticks (drained or lost);
//! 6. the phase's own expectations: the backlog served, the fleet held, or scaled in to zero;
//!    every job done exactly once; lost capacity replaced once, not twice.

use std::collections::{BTreeSet, HashMap};

use super::cell::{BUDGET, MAX, PRICE, Phase, Run};
use super::ledger::{By, request_ids};
use super::matrix_faults::FaultKind;

/// A cell's verdict and key figures.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub fault: &'static str,
    pub phase: &'static str,
    pub violations: Vec<String>,
    pub launched: usize,
    pub terminated: usize,
    pub failed_ticks: usize,
    pub ticks: usize,
    /// Seconds from the fault to the first clean tick after the last failed one.
    pub recovered_s: Option<f64>,
    pub peak: usize,
    pub hits: u64,
    pub boot_timeouts: usize,
    /// The phase's goal, e.g. `served 6 jobs in 9.4 s`.
    pub goal: String,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// A panicked cell.
    pub fn panicked(fault: FaultKind, phase: Phase, message: String) -> Outcome {
        Outcome {
            fault: fault.name(),
            phase: phase.name(),
            violations: vec![format!("the cell panicked: {message}")],
            launched: 0,
            terminated: 0,
            failed_ticks: 0,
            ticks: 0,
            recovered_s: None,
            peak: 0,
            hits: 0,
            boot_timeouts: 0,
            goal: "-".into(),
        }
    }
}

/// Checks every invariant on `run`.
pub fn check(run: &Run) -> Outcome {
    let mut v = Vec::new();
    let ticks: Vec<_> = run.ticks.iter().filter(|t| t.seen_at >= run.t0).collect();
    // 1. Up.
    if run.unanswered > 0 {
        v.push(format!("/status went unanswered {} times", run.unanswered));
    }
    if !run.stopped_ok {
        v.push("the service did not stop cleanly".into());
    }
    if let Some(why) = &run.stalled {
        v.push(why.clone());
    }
    // 2. No busy worker terminated.
    for (at, body) in &run.terminations {
        for id in request_ids(body) {
            if run.truth.get(&id).is_some_and(|t| t.busy_at(*at)) {
                v.push(format!(
                    "TerminateInstances named {id} while its worker was busy"
                ));
            }
        }
    }
    // 3. No orphans.
    let live: BTreeSet<String> = run.end_live.iter().map(|(id, _)| id.clone()).collect();
    for (id, tagged) in &run.end_live {
        if !tagged {
            v.push(format!("{id} runs without the policy's tag"));
        }
    }
    if run.ledger.live() != live {
        v.push(format!(
            "the ledger says {:?} live, EC2 says {live:?}",
            run.ledger.live()
        ));
    }
    if run.service_count != Some(run.listed as u32) {
        v.push(format!(
            "{} instances live, the service counts {:?}",
            run.listed, run.service_count
        ));
    }
    // 4. Max and budget.
    let (peak, _) = run.ledger.peak();
    if peak > MAX as usize {
        v.push(format!("{peak} instances at once, max {MAX}"));
    }
    if peak as f64 * PRICE > BUDGET + 1e-9 {
        v.push(format!(
            "{peak} instances at once cost ${:.2}/h, budget ${BUDGET:.2}/h",
            peak as f64 * PRICE
        ));
    }
    // 5. No scale-in on a failed observation.
    let failed: Vec<_> = ticks.iter().filter(|t| !t.errors().is_empty()).collect();
    let mut released = 0;
    for t in &failed {
        let acts = t.actions();
        if acts.iter().any(|(a, _)| a == "terminate" || a == "drain") {
            v.push(format!(
                "tick {} scaled in on a failed observation: {acts:?}",
                t.n
            ));
        }
        if t.executed().iter().any(|e| e.starts_with("drain ")) {
            v.push(format!(
                "tick {} asked a worker to drain on a failed observation",
                t.n
            ));
        }
        // Only what earlier, good ticks released may still be terminated: drained workers
        // (their scale-in was decided on good data) and lost ones (judged by heartbeats).
        for e in t.executed().iter().filter(|e| e.starts_with("terminated ")) {
            if e.ends_with("(drained)") || e.ends_with("(worker_lost)") {
                released += 1;
            } else {
                v.push(format!(
                    "tick {} terminated on a failed observation: {e}",
                    t.n
                ));
            }
        }
    }
    // 6. The phase.
    let launched = run.ledger.launched_by(By::Service);
    let terminated = run.ledger.terminated_by(By::Service);
    let mut once: HashMap<&str, usize> = HashMap::new();
    run.done
        .iter()
        .for_each(|j| *once.entry(j).or_default() += 1);
    if let Some((job, n)) = once.iter().find(|(_, n)| **n > 1) {
        v.push(format!("{job} finished {n} times"));
    }
    if run.phase != Phase::Steady && once.len() < run.jobs {
        v.push(format!("{} of {} jobs done", once.len(), run.jobs));
    }
    // Capacity lost to the fault may be replaced, once: 2 muted instances when scaling out,
    // 1 when scaling in (a dud counted as booting capacity while the scale-in went ahead).
    let replaced = match run.fault {
        FaultKind::Interrupt | FaultKind::Crash => run.interrupted.len(),
        f if f.mutes() && run.phase == Phase::Out => 2,
        f if f.mutes() => 1,
        _ => 0,
    };
    let steady_expect = match run.fault {
        FaultKind::Interrupt => (1, 0),
        FaultKind::Crash => (1, 1),
        f if f.mutes() => (0, 1),
        _ => (0, 0),
    };
    match run.phase {
        Phase::Out if launched > 3 + replaced => v.push(format!(
            "{launched} launches for a backlog worth 3 workers and {replaced} replacements"
        )),
        Phase::Steady if (launched, terminated) != steady_expect => v.push(format!(
            "steady: {launched} launched and {terminated} terminated, expected {steady_expect:?}"
        )),
        Phase::In if launched > replaced => {
            v.push(format!("scaling in launched {launched}"));
        }
        _ => {}
    }
    let since = |t: tokio::time::Instant| {
        let (a, b) = (t.max(run.t0), t.min(run.t0));
        let s = (a - b).as_secs_f64();
        if t >= run.t0 { s } else { -s }
    };
    if !v.is_empty() {
        v.push(trace(run, &since));
    }
    let recovered_s = failed.last().and_then(|last| {
        ticks
            .iter()
            .find(|t| t.n > last.n && t.errors().is_empty())
            .map(|t| since(t.seen_at))
    });
    let boot_timeouts: usize = ticks.iter().map(|t| t.boot_timeouts()).sum();
    let goal = match (run.phase, run.goal_at) {
        (Phase::Out, Some(at)) => format!("served {} jobs in {:.1} s", run.jobs, since(at)),
        (Phase::In, Some(at)) => format!("0 instances in {:.1} s", since(at)),
        (Phase::Steady, Some(at)) => format!("replaced, both busy in {:.1} s", since(at)),
        (Phase::Steady, None) if launched + terminated == 0 => "held".into(),
        (Phase::Steady, None) if launched == 0 && terminated == boot_timeouts => {
            "held; the dud terminated at boot_timeout".into()
        }
        (Phase::Steady, None) => format!("+{launched} −{terminated}"),
        (_, None) => "not met".into(),
    } + &if released > 0 {
        format!("; {released} released earlier, terminated on a failed tick")
    } else {
        String::new()
    };
    Outcome {
        fault: run.fault.name(),
        phase: run.phase.name(),
        violations: v,
        launched,
        terminated,
        failed_ticks: failed.len(),
        ticks: ticks.len(),
        recovered_s,
        peak,
        hits: run.fault_hits,
        boot_timeouts,
        goal,
    }
}

/// The ticks that did something or failed, for a failed cell's report.
fn trace(run: &Run, since: &dyn Fn(tokio::time::Instant) -> f64) -> String {
    let mut lines = vec!["ticks (seconds from the fault):".to_string()];
    for t in &run.ticks {
        let acts: Vec<String> = t
            .actions()
            .into_iter()
            .filter(|(a, _)| a != "hold")
            .map(|(a, k)| format!("{a}({k})"))
            .collect();
        if acts.is_empty() && t.errors().is_empty() && t.executed().is_empty() {
            continue;
        }
        lines.push(format!(
            "  {:+.1}s #{} {} queue {} workers {} {:?} {:?}",
            since(t.seen_at),
            t.n,
            acts.join(" "),
            t.report["queue"]["latest"],
            t.report["workers"],
            t.errors(),
            t.executed()
        ));
    }
    lines.join("\n")
}
