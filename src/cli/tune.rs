//! `spillway tune`: search the policy's knobs together on a workload, print the frontier, check
//! the recommendation on other seeds and held-out traces, and write it as a policy file.

use std::path::PathBuf;

use clap::Args;

use super::WorkloadArgs;
use super::simulate::load_workload;
use crate::cli::output::{OutputFile, say, simulations_bar};
use crate::policy::{self, Policy};
use crate::sim::Workload;
use crate::sim::trace::JobClass;
use crate::sim::tune::{self, Evaluation, TuneInput, Tuning, space};

/// Arguments of `spillway tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Policy file to tune (default: the embedded policies/picnik.toml). Its caps, budget, SLO
    /// and batch deadline stay as written.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Settings the search may simulate, each on every tuning seed (the validation runs come
    /// on top).
    #[arg(long, default_value_t = 240)]
    pub budget: usize,
    /// Judge every setting on this many seeds, from --seed on: its cost is their mean, its
    /// p99 wait their worst (one seed overfits to that seed's luck).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub tune_seeds: u64,
    /// Search only these knobs (comma-separated, e.g. `free_busy_ratio,band`); the others stay
    /// as written. Default: all of them.
    #[arg(long, value_delimiter = ',', value_name = "KNOBS")]
    pub knobs: Vec<String>,
    /// Simulations run at once (default: every core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Seeds the recommendation must also meet the SLO on (default: the four after the tuning
    /// seeds).
    #[arg(long, value_delimiter = ',', value_name = "SEEDS")]
    pub validate_seeds: Vec<u64>,
    /// A held-out trace (another day) the recommendation must also meet the SLO on, read
    /// like --trace. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub validate_trace: Vec<PathBuf>,
    /// Draw the frontier, the current policy and the recommendation as SVG here.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Write the recommended policy here (the input file with the knobs set, and a comment
    /// header saying where it came from).
    #[arg(long, value_name = "FILE")]
    pub write_policy: Option<PathBuf>,
    /// Write every simulated setting, the frontier and the checks as JSON here.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

fn policy_and_text(
    path: &Option<PathBuf>,
) -> Result<(Policy, String, String), Box<dyn std::error::Error>> {
    Ok(match path {
        Some(p) => {
            let policy = policy::load(p)?;
            let text = std::fs::read_to_string(p)?;
            (policy, text, p.display().to_string())
        }
        None => (
            policy::embedded_default(),
            policy::EMBEDDED_DEFAULT.to_string(),
            "policies/picnik.toml (embedded)".to_string(),
        ),
    })
}

/// The workload `args` names, its label rewritten by `label` for the reports.
fn labelled(
    args: &WorkloadArgs,
    policy: &Policy,
    label: impl FnOnce(&str) -> String,
) -> Result<Workload, Box<dyn std::error::Error>> {
    let mut w = load_workload(args, false, policy)?;
    w.label = label(&w.label);
    Ok(w)
}

/// Runs `spillway tune`.
pub fn run(args: &TuneArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.budget < 2 {
        return Err(format!("--budget {} must be at least 2", args.budget).into());
    }
    if args.jobs == Some(0) {
        return Err("--jobs must be at least 1".into());
    }
    let (policy, text, source) = policy_and_text(&args.policy)?;
    if args.tune_seeds == 0 {
        return Err("--tune-seeds must be at least 1".into());
    }
    let with_seed = |seed: u64| {
        let args = WorkloadArgs {
            seed,
            ..args.workload.clone()
        };
        labelled(&args, &policy, |label| format!("{label} seed {seed}"))
    };
    let first = args.workload.seed;
    let tuning: Vec<Workload> = (first..first + args.tune_seeds)
        .map(with_seed)
        .collect::<Result<_, _>>()?;
    let seeds: Vec<u64> = if args.validate_seeds.is_empty() {
        (first + args.tune_seeds..first + args.tune_seeds + 4).collect()
    } else {
        args.validate_seeds.clone()
    };
    let mut validation: Vec<Workload> =
        seeds.into_iter().map(with_seed).collect::<Result<_, _>>()?;
    for path in &args.validate_trace {
        let args = WorkloadArgs {
            trace: Some(path.clone()),
            scenario: None,
            ..args.workload.clone()
        };
        validation.push(labelled(&args, &policy, |_| path.display().to_string())?);
    }
    // Opened before the search: a path that cannot be written fails now, not after it.
    let plot = OutputFile::create_if(args.plot.as_ref())?;
    let written = OutputFile::create_if(args.write_policy.as_ref())?;
    let report_json = OutputFile::create_if(args.report_json.as_ref())?;
    let threads = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let has_batch = tuning[0].jobs.iter().any(|j| j.class == JobClass::Batch);
    let knobs = space::select(
        space::knobs(
            &policy,
            has_batch,
            tune::policy_text::has_key(&text, "control", "stale_after"),
        ),
        &args.knobs,
    )?;
    say!(
        "{}: {} jobs; tuning {} knobs of {source} together on {} seed{}: {}\n",
        tuning[0].label,
        tuning[0].jobs.len(),
        knobs.len(),
        tuning.len(),
        if tuning.len() == 1 { "" } else { "s" },
        knobs
            .iter()
            .map(space::TuneKnob::field)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bar = simulations_bar(
        (args.budget as u64 + 1) * tuning.len() as u64 + validation.len() as u64,
        "{spinner} tuning {bar:30} {pos}/{len} simulations, {elapsed} so far, eta {eta}",
    );
    let started = crate::clock::Stopwatch::start();
    let input = TuneInput {
        policy: &policy,
        text: &text,
        source: &source,
        tuning: &tuning,
        validation: &validation,
        knobs: &knobs,
        budget: args.budget,
        threads,
        seed: args.workload.seed,
    };
    let t = tune::tune(&input, &|| {
        if let Some(b) = &bar {
            b.inc(1);
            if b.position() >= b.length().unwrap_or(0) {
                b.inc_length(validation.len() as u64);
            }
        }
    })?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    say!(
        "{} simulations on {threads} thread{} in {:.1} s\n\n",
        t.simulations,
        if threads == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    say!("{}", table(&t, &knobs));
    if let Some(file) = report_json {
        let path = file.write((serde_json::to_string_pretty(&t)? + "\n").as_bytes())?;
        say!("\ntuning written to {}\n", path.display());
    }
    if let Some(file) = plot {
        let title = format!("spillway tune: {} ({} knobs)", t.workload, t.knobs.len());
        let path = file.write(tune::plot::render(&t, &title).as_bytes())?;
        say!("frontier drawn in {}\n", path.display());
    }
    let Some(best) = t.recommended.map(|i| &t.evaluations[i]) else {
        return Err(format!(
            "no setting met the SLO on the workload and on every validation run ({} tried); \
             nothing to recommend",
            t.validated.len()
        )
        .into());
    };
    if let Some(file) = written {
        let body = tune::policy_text(&policy, &text, &knobs, &best.values)?;
        let out = format!("{}{body}", header(&t, &knobs, &source, best));
        // What is written must pass `policy check`, as the simulated policy did.
        policy::from_toml_str(&out, "the recommended policy")?;
        let path = file.write(out.as_bytes())?;
        say!("recommended policy written to {}\n", path.display());
    }
    Ok(())
}

fn row(mark: &str, e: &Evaluation, knobs: &[space::TuneKnob]) -> String {
    let mut line = format!(
        "{mark:<2}{:>10.2} {:>9.1} {:>7.1} {:>8}",
        e.ec2_cost_usd, e.ec2_billed_hours, e.wait_p99_s, e.launches
    );
    for (k, &v) in knobs.iter().zip(&e.values) {
        line.push_str(&format!("  {:>w$}", k.show(v), w = k.key.len()));
    }
    line + "\n"
}

/// The frontier, the current policy and the recommendation with its checks.
pub fn table(t: &Tuning, knobs: &[space::TuneKnob]) -> String {
    let mut out = format!(
        "frontier: {} of {} settings, none beaten on both EC2 cost and p99 wait (★ recommended)\n",
        t.frontier.len(),
        t.evaluations.len()
    );
    out.push_str(&format!(
        "{:<2}{:>10} {:>9} {:>7} {:>8}",
        "", "EC2 $", "EC2 h", "p99 s", "launches"
    ));
    for k in knobs {
        out.push_str(&format!("  {}", k.key));
    }
    out.push('\n');
    for &i in &t.frontier {
        let mark = if t.recommended == Some(i) { "★" } else { "" };
        out.push_str(&row(mark, &t.evaluations[i], knobs));
    }
    out.push_str("\ncurrent policy, as written:\n");
    out.push_str(&row("", &t.current, knobs));
    if let Some(i) = t.recommended {
        let r = &t.evaluations[i];
        out.push_str(
            "recommended: the cheapest that meets the SLO here and on every check, with the \
             spread of its p99s to spare:\n",
        );
        out.push_str(&row("★", r, knobs));
        for v in t.validated.iter() {
            let e = &t.evaluations[v.index];
            let verdict = if v.passed() {
                format!("holds with {:.1} s to spare", -v.excess_s)
            } else {
                format!("refused, {:.1} s over", v.excess_s)
            };
            out.push_str(&format!(
                "  ${:.2} (p99 {:.1} s here) on {}: {verdict}\n",
                e.ec2_cost_usd,
                e.wait_p99_s,
                checks_text(&v.checks),
            ));
        }
        let worst = t.validated.last().map_or(r.wait_p99_s, |v| {
            v.checks
                .iter()
                .map(|c| c.wait_p99_s)
                .fold(r.wait_p99_s, f64::max)
        });
        out.push_str(&format!(
            "margin: p99 {:.1} s here, {:.1} s at worst on the checks, against the SLO's {:.0} s\n",
            r.wait_p99_s, worst, t.slo_wait_s
        ));
        if t.current.ec2_cost_usd > 0.0 {
            out.push_str(&format!(
                "EC2 cost {:+.1}% against the current policy{}\n",
                100.0 * (r.ec2_cost_usd / t.current.ec2_cost_usd - 1.0),
                if t.current.feasible() {
                    ""
                } else {
                    " (which misses the SLO here)"
                }
            ));
        }
    }
    out
}

/// Each check's workload and p99, comma-separated.
fn checks_text(checks: &[tune::Check]) -> String {
    checks
        .iter()
        .map(|c| format!("{} p99 {:.1} s", c.workload, c.wait_p99_s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn header(t: &Tuning, knobs: &[space::TuneKnob], source: &str, best: &Evaluation) -> String {
    let checks = t
        .validated
        .last()
        .map_or(String::new(), |v| checks_text(&v.checks));
    let changed: Vec<String> = knobs
        .iter()
        .zip(t.current.values.iter().zip(&best.values))
        .filter(|(_, (a, b))| a != b)
        .map(|(k, (a, b))| format!("{} {} -> {}", k.field(), k.show(*a), k.show(*b)))
        .collect();
    format!(
        "# Written by `spillway tune` from {source}, on {} ({} simulations).\n\
         # There: EC2 {:.1} h (${:.2}), p99 wait {:.1} s against the SLO's {:.0} s; the policy as\n\
         # given: EC2 {:.1} h, p99 {:.1} s. Checked on: {}.\n\
         # Changed: {}.\n\n",
        t.workload,
        t.simulations,
        best.ec2_billed_hours,
        best.ec2_cost_usd,
        best.wait_p99_s,
        t.slo_wait_s,
        t.current.ec2_billed_hours,
        t.current.wait_p99_s,
        if checks.is_empty() {
            "nothing else".to_string()
        } else {
            checks
        },
        if changed.is_empty() {
            "nothing".to_string()
        } else {
            changed.join(", ")
        },
    )
}
