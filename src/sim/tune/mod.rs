//! `spillway tune`: the policy's knobs searched together on a workload, the cost/wait frontier,
//! and a recommendation checked on workloads the search never saw.
//!
//! 1. The current policy is simulated as written.
//! 2. The current setting, each knob moved alone along its axis, a Latin hypercube of the
//!    knobs ([`space`]), then generations of an evolution strategy
//!    ([`search`]) until the budget of simulations is spent. Each setting is written into the
//!    policy's own text ([`policy_text`]) and parsed back by the policy checker, so the policy
//!    simulated is the one a recommendation would write, caps and all.
//! 3. The frontier of EC2 cost against p99 wait ([`frontier`]).
//! 4. The safety margin: the feasible settings on the frontier, cheapest first, are re-run on
//!    the validation workloads (other seeds, held-out days). One is recommended when it meets
//!    the SLO (and the batch deadline) on every one, and its worst p99 plus half the spread of
//!    its p99s across all the runs is still within the SLO ([`excess`]).
//!
//! Simulations run on `threads` threads; results do not depend on how many.

pub mod frontier;
pub mod plot;
pub mod policy_text;
pub mod search;
pub mod space;

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

pub use frontier::{Evaluation, Outcome};

use crate::policy::{self, Policy};
use crate::sim::rng::SimRng;
use crate::sim::{self, Workload};

/// What `tune` is given.
pub struct TuneInput<'a> {
    pub policy: &'a Policy,
    /// The policy file's text (every setting is written into it).
    pub text: &'a str,
    /// The file's name, for the checker's messages.
    pub source: &'a str,
    /// The workloads every setting is judged on (the same traffic on one or more seeds): its
    /// cost is their mean, its wait their worst.
    pub tuning: &'a [Workload],
    pub validation: &'a [Workload],
    /// The knobs searched ([`space::knobs`], or some of them); the others stay as written.
    pub knobs: &'a [space::TuneKnob],
    /// Settings the search may simulate (each on every tuning workload; the validation runs
    /// come on top).
    pub budget: usize,
    pub threads: usize,
    /// Seeds the search (not the simulations).
    pub seed: u64,
}

/// Why `tune` could not start.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error(
        "tune searches spillway's own knobs; the policy's strategy is \"{0}\" (set control.strategy = \"spillway\")"
    )]
    NotSpillway(&'static str),
    #[error("the policy's text cannot be edited: {0}")]
    Text(String),
}

/// One validation run of a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub workload: String,
    pub wait_p99_s: f64,
    pub ec2_billed_hours: f64,
    pub feasible: bool,
}

/// A candidate re-run on the validation workloads.
#[derive(Debug, Clone, Serialize)]
pub struct Validated {
    /// Index into `Tuning::evaluations`.
    pub index: usize,
    pub checks: Vec<Check>,
    /// [`excess`] of the tuning run and the checks (at most 0 to pass).
    pub excess_s: f64,
}

impl Validated {
    /// Feasible on every check, with the spread of the p99s as a margin under `slo_s`.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.feasible) && self.excess_s <= 0.0
    }
}

/// How far `here` (the tuning runs' p99s) and `checks` land over `slo_s` once half the spread
/// of all their p99s is added to the worst: positive is a shortfall, negative a margin left.
/// For roughly normal p99s, six seeds' worst is about the mean plus 1.3 standard deviations
/// and their spread about 2.5, so this asks the mean plus about 2.5 to fit: a day in a hundred
/// over the SLO, where the worst alone would be one in ten.
pub fn excess(here: &[f64], checks: &[Check], slo_s: f64) -> f64 {
    let waits = checks
        .iter()
        .map(|c| c.wait_p99_s)
        .chain(here.iter().copied());
    let worst = waits.clone().fold(f64::MIN, f64::max);
    let best = waits.fold(f64::MAX, f64::min);
    worst + (worst - best) / 2.0 - slo_s
}

/// The result (`--report-json`).
#[derive(Debug, Clone, Serialize)]
pub struct Tuning {
    pub workload: String,
    pub slo_wait_s: f64,
    /// The knobs searched, as `section.key`.
    pub knobs: Vec<String>,
    pub current: Evaluation,
    pub evaluations: Vec<Evaluation>,
    /// Indices into `evaluations`, cheapest first.
    pub frontier: Vec<usize>,
    /// Candidates re-run on the validation workloads, in the order tried; the last passed
    /// when there is a recommendation.
    pub validated: Vec<Validated>,
    /// Index into `evaluations` of the recommended setting.
    pub recommended: Option<usize>,
    /// Settings the policy checker refused (counted, not simulated).
    pub refused_settings: usize,
    pub simulations: usize,
}

/// At most this many candidates are re-run before giving up on a recommendation.
pub const MAX_CANDIDATES: usize = 16;

/// Runs the search. `on_run` is called after every simulation (for a progress bar).
pub fn tune(input: &TuneInput<'_>, on_run: &(dyn Fn() + Sync)) -> Result<Tuning, TuneError> {
    let p = input.policy;
    if !matches!(p.control.strategy, policy::Strategy::Spillway) {
        return Err(TuneError::NotSpillway(p.control.strategy.name()));
    }
    policy_text::apply(input.text, &[]).map_err(TuneError::Text)?;
    let knobs = input.knobs;
    let deadline = p.batch.deadline;
    // A setting's policy, parsed back from the text it would be written as.
    let policy_for = |values: &[f64]| -> Option<Policy> {
        let text = policy_text(p, input.text, knobs, values).ok()?;
        policy::from_toml_str(&text, input.source).ok()
    };
    let simulate = |policy: &Policy, w: &Workload| {
        let out = Outcome::of(&sim::run(policy, &w.jobs, &w.config).report, deadline);
        on_run();
        out
    };
    let current_values = space::current(p, knobs);
    let current = Evaluation::combine(
        current_values.clone(),
        &par_map(input.tuning, input.threads, |w| simulate(p, w)),
    );
    let slo = p.target.wait_slo.as_secs_f64();
    let mut rng = SimRng::new(input.seed, 0x7475_6e65);
    let mut evaluations: Vec<Evaluation> = Vec::new();
    let mut history: Vec<search::Scored> = Vec::new();
    let mut seen: std::collections::HashSet<Vec<u64>> = std::collections::HashSet::new();
    let mut refused = 0;
    let mut simulations = input.tuning.len();
    let first = (8 + 4 * knobs.len()).min(input.budget.max(2) / 3).max(2);
    let mut generation = 0;
    // Generations that proposed nothing new: the search has converged.
    let mut stale = 0;
    let here: Vec<f64> = current_values
        .iter()
        .zip(knobs)
        .map(|(&v, k)| k.position(v))
        .collect();
    // The current policy, each knob moved alone along its axis (what a one-knob sweep would
    // try), then a hypercube over all of them.
    let mut points = vec![here.clone()];
    points.extend(search::axes(&here));
    points.extend(search::latin_hypercube(first, knobs.len(), &mut rng));
    while evaluations.len() < input.budget && !points.is_empty() {
        // Points whose rounded values were already simulated are skipped.
        let batch: Vec<(Vec<f64>, Vec<f64>, Option<Policy>)> = points
            .drain(..)
            .filter_map(|u| {
                let values: Vec<f64> = knobs.iter().zip(&u).map(|(k, &x)| k.value(x)).collect();
                seen.insert(values.iter().map(|x| x.to_bits()).collect())
                    .then(|| {
                        let policy = policy_for(&values);
                        (u, values, policy)
                    })
            })
            .take(input.budget - evaluations.len())
            .collect();
        stale = if batch.is_empty() { stale + 1 } else { 0 };
        if stale > 20 {
            break;
        }
        // Every setting the checker accepted, on every tuning workload: its outcomes are a
        // contiguous run of `input.tuning.len()`.
        let accepted: Vec<&(Vec<f64>, Vec<f64>, Option<Policy>)> =
            batch.iter().filter(|b| b.2.is_some()).collect();
        refused += batch.len() - accepted.len();
        let runs: Vec<(&Policy, &Workload)> = accepted
            .iter()
            .filter_map(|b| b.2.as_ref())
            .flat_map(|policy| input.tuning.iter().map(move |w| (policy, w)))
            .collect();
        let outcomes = par_map(&runs, input.threads, |&(policy, w)| simulate(policy, w));
        simulations += runs.len();
        for ((u, values, _), mine) in accepted
            .into_iter()
            .zip(outcomes.chunks(input.tuning.len().max(1)))
        {
            let e = Evaluation::combine(values.clone(), mine);
            history.push(search::Scored {
                point: u.clone(),
                cost: e.ec2_cost_usd,
                wait_ratio: e.wait_p99_s / slo.max(1e-9),
                feasible: e.feasible(),
            });
            evaluations.push(e);
        }
        if refused > input.budget {
            break;
        }
        points = search::offspring(&history, 12, search::step(generation), &mut rng);
        generation += 1;
    }
    let frontier = frontier::frontier(&evaluations);
    // The margin: frontier candidates, cheapest first, until one holds on every validation
    // workload with the spread to spare. A dominated setting is never worth trying: a cheaper
    // one waits less.
    let mut validated = Vec::new();
    let mut recommended = None;
    for index in frontier
        .iter()
        .copied()
        .filter(|&i| evaluations[i].feasible())
    {
        if validated.len() >= MAX_CANDIDATES {
            break;
        }
        let here = &evaluations[index].wait_p99s_s;
        let Some(policy) = policy_for(&evaluations[index].values) else {
            continue;
        };
        let checks: Vec<Check> = par_map(input.validation, input.threads, |w| {
            let o = simulate(&policy, w);
            Check {
                workload: w.label.clone(),
                wait_p99_s: o.wait_p99_s,
                ec2_billed_hours: o.ec2_billed_hours,
                feasible: o.feasible(),
            }
        });
        simulations += checks.len();
        let excess_s = excess(here, &checks, slo);
        let v = Validated {
            index,
            checks,
            excess_s,
        };
        let passed = v.passed();
        validated.push(v);
        if passed {
            recommended = Some(index);
            break;
        }
    }
    Ok(Tuning {
        workload: input
            .tuning
            .iter()
            .map(|w| w.label.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        slo_wait_s: slo,
        knobs: knobs.iter().map(space::TuneKnob::field).collect(),
        current,
        evaluations,
        frontier,
        validated,
        recommended,
        refused_settings: refused,
        simulations,
    })
}

/// The policy file for `values` of `knobs`: the original text with the knobs set (what was
/// simulated).
pub fn policy_text(
    policy: &Policy,
    text: &str,
    knobs: &[space::TuneKnob],
    values: &[f64],
) -> Result<String, String> {
    policy_text::apply(text, &space::settings(policy, knobs, values))
}

/// `f` over `items` on `threads` threads, results in the order of `items`.
fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.clamp(1, items.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}
