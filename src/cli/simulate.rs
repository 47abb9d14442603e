//! `spillway simulate` and `spillway compare`: load a workload, run, print, write files.

use std::path::PathBuf;

use clap::Args;

use super::WorkloadArgs;
use crate::cli::output::OutputFile;
use crate::cli::output::{say, simulations_bar};
use crate::model::parse_duration;
use crate::policy::PoolKind;
use crate::policy::{self, Policy};
use crate::sim::compare;
use crate::sim::faults::{Faults, parse_instant, parse_window};
use crate::sim::injection::Injection;
use crate::sim::plot::{PlotData, PlotSample, PoolLook, render_svg};
use crate::sim::scenario;
use crate::sim::trace::{self, DurationDist};
use crate::sim::{self, SimConfig, SimOutput, Workload};

/// The scenario `spillway simulate` runs with no arguments.
pub const DEFAULT_SCENARIO: &str = "nfs-slowdown";

/// Arguments of `spillway simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Policy file (default: the embedded policies/picnik.toml).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Override the policy's strategy: spillway, hpa, target-tracking, static.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub report_json: Option<PathBuf>,
    /// Draw queue, demand, busy and capacity over time as SVG here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Write every tick's decision (actions and reasons) here as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub decisions: Option<PathBuf>,
    /// Write the per-minute samples (demand, queue, busy, booting, ready per pool) here as CSV.
    #[arg(long, value_name = "FILE")]
    pub samples: Option<PathBuf>,
}

/// Arguments of `spillway compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Policy file whose pools, targets and SLO every strategy shares.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Write the comparison as JSON here.
    #[arg(long)]
    pub report_json: Option<PathBuf>,
}

fn load_policy(path: &Option<PathBuf>) -> Result<Policy, Box<dyn std::error::Error>> {
    Ok(match path {
        Some(p) => policy::load(p)?,
        None => policy::embedded_default(),
    })
}

/// Loads the workload named by the arguments (a trace, a scenario, or the default scenario),
/// its queues bound to `policy`'s.
pub fn load_workload(
    w: &WorkloadArgs,
    progress: bool,
    policy: &Policy,
) -> Result<Workload, Box<dyn std::error::Error>> {
    if !(w.scale.is_finite() && w.scale > 0.0) {
        return Err(format!("--scale {} must be a number above 0", w.scale).into());
    }
    if !(w.boot_jitter.is_finite() && (0.0..=3.0).contains(&w.boot_jitter)) {
        return Err(format!(
            "--boot-jitter {} must be a number from 0 to 3",
            w.boot_jitter
        )
        .into());
    }
    if !(0.0..1.0).contains(&w.launch_failure_rate) {
        return Err(format!(
            "--launch-failure-rate {} must be at least 0 and below 1",
            w.launch_failure_rate
        )
        .into());
    }
    let mut faults = Faults {
        spot_interruptions_per_hour: w.spot_interruptions,
        ..Faults::default()
    };
    for spec in &w.ec2_outage {
        faults
            .ec2_outages
            .push(parse_window(spec).map_err(|e| format!("--ec2-outage {e}"))?);
    }
    if let Some(spec) = &w.restart_every {
        let every = parse_duration(spec).map_err(|e| format!("--restart-every {spec:?}: {e}"))?;
        if every.is_zero() {
            return Err(format!("--restart-every {spec:?} must be longer than zero").into());
        }
        faults.restart_every_ms = Some(every.as_millis().min(i64::MAX as u128) as i64);
    }
    for spec in &w.failover_at {
        let at = parse_instant(spec).map_err(|e| format!("--failover-at {e}"))?;
        faults.failovers_ms.push(at);
    }
    if !(w.spot_interruptions.is_finite() && w.spot_interruptions >= 0.0) {
        return Err(format!(
            "--spot-interruptions {} must be 0 or more",
            w.spot_interruptions
        )
        .into());
    }
    let config = SimConfig {
        faults,
        seed: w.seed,
        boot_jitter: w.boot_jitter,
        launch_failure_rate: w.launch_failure_rate,
        progress,
        ..SimConfig::default()
    };
    let durations = DurationDist::parse(&w.durations).map_err(|e| format!("--durations: {e}"))?;
    // Every injection is checked before any trace is read: all problems at once.
    let injections: Vec<Injection> = w
        .backfill
        .iter()
        .map(|s| Injection::parse(s))
        .collect::<Result<_, _>>()?;
    let mut batch = Vec::new();
    let mut problems = Vec::new();
    for inj in &injections {
        match inj.load(durations, w.seed) {
            Ok(jobs) => batch.extend(jobs),
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n").into());
    }
    let mut workload = base_workload(w, durations, config)?;
    if !batch.is_empty() {
        workload.label = format!("{} + {} backfill jobs", workload.label, batch.len());
        workload.jobs.extend(batch);
        workload.jobs.sort_by_key(|j| j.submit_ms);
    }
    sim::binding::bind_queues(&mut workload.jobs, &workload.queues, policy)?;
    Ok(workload)
}

fn base_workload(
    w: &WorkloadArgs,
    durations: DurationDist,
    mut config: SimConfig,
) -> Result<Workload, Box<dyn std::error::Error>> {
    if let Some(path) = &w.trace {
        let raw = trace::read(path)?;
        let jobs = trace::to_jobs(&raw, w.scale, durations, w.seed)?;
        let queues = raw.queue_names();
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        return Ok(Workload {
            label: format!("{name} ×{}", w.scale),
            about: None,
            jobs,
            queues,
            config,
        });
    }
    let name = w.scenario.as_deref().unwrap_or(DEFAULT_SCENARIO);
    let s = scenario::build(name, w.seed).ok_or_else(|| {
        format!(
            "unknown scenario \"{name}\" (expected one of: {})",
            scenario::NAMES.join(", ")
        )
    })?;
    config.speed_changes = s.speed_changes;
    config.faults.ec2_outages.extend(s.faults.ec2_outages);
    config.faults.spot_interruptions_per_hour += s.faults.spot_interruptions_per_hour;
    if w.launch_failure_rate == 0.0 {
        config.launch_failure_rate = s.launch_failure_rate;
    }
    let mut jobs = s.jobs;
    if w.scale != 1.0 {
        let rows = jobs
            .iter()
            .map(|j| (j.submit_ms as f64 / 1000.0, j.duration_s))
            .collect();
        let raw = if s.queues.is_empty() {
            trace::RawTrace::JobLog(rows)
        } else {
            trace::RawTrace::QueuedJobLog {
                rows,
                queue: jobs.iter().map(|j| j.queue).collect(),
                names: Vec::new(),
            }
        };
        let classes: Vec<_> = jobs.iter().map(|j| j.class).collect();
        jobs = trace::to_jobs(&raw, w.scale, DurationDist::Fixed(0.0), w.seed)?;
        if classes.iter().any(|c| *c != trace::JobClass::Interactive) {
            return Err("--scale cannot be combined with the backfill scenario".into());
        }
    }
    Ok(Workload {
        label: format!("scenario {name}"),
        about: Some(s.about),
        jobs,
        queues: s.queues.iter().map(|q| q.to_string()).collect(),
        config,
    })
}

/// Runs `spillway simulate`.
pub fn simulate(args: &SimulateArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut policy = load_policy(&args.policy)?;
    if let Some(s) = &args.strategy {
        // A policy that closes the loop on measured waits, or launches between ticks, keeps
        // doing so.
        let wanted = match s.as_str() {
            "spillway" if policy.target.wait_feedback => "spillway+wait",
            "spillway" if policy.control.launch_interval.is_some() => "spillway+launch",
            other => other,
        };
        let knob = compare::knobs(&policy)
            .into_iter()
            .find(|k| k.strategy == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown strategy \"{s}\" (expected spillway, hpa, target-tracking or static)"
                )
            })?;
        let current = match s.as_str() {
            "spillway" => policy.target.free_busy_ratio,
            "hpa" => policy.hpa.target_per_replica,
            "target-tracking" => policy.target_tracking.backlog_per_instance,
            _ => policy.first_ec2().map_or(0.0, |(_, e)| e.min as f64),
        };
        policy = compare::configure(&policy, &knob, current);
    }
    let mut workload = load_workload(&args.workload, true, &policy)?;
    workload.config.keep_decisions = args.decisions.is_some();
    // Opened before the run: a path that cannot be written fails now, not after it.
    let report_json = OutputFile::create_if(args.report_json.as_ref())?;
    let samples = OutputFile::create_if(args.samples.as_ref())?;
    let decisions = OutputFile::create_if(args.decisions.as_ref())?;
    let plot = OutputFile::create_if(args.plot.as_ref())?;
    if let Some(about) = workload.about {
        say!("{}: {about}\n", workload.label);
    }
    say!(
        "{} jobs; policy {} ({} strategy)\n\n",
        workload.jobs.len(),
        policy.name,
        policy.control.strategy.name()
    );
    let out = sim::run(&policy, &workload.jobs, &workload.config);
    say!("{}", out.report.table());
    if let Some(file) = report_json {
        let path = file.write((serde_json::to_string_pretty(&out.report)? + "\n").as_bytes())?;
        say!("\nreport written to {}\n", path.display());
    }
    if let Some(file) = samples {
        let path = file.write(samples_csv(&policy, &out).as_bytes())?;
        say!("samples written to {}\n", path.display());
    }
    if let Some(file) = decisions {
        let mut text = String::new();
        for (t_s, d) in &out.decisions {
            let line = serde_json::json!({ "t_s": t_s, "decision": d });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        let path = file.write(text.as_bytes())?;
        say!("decisions written to {}\n", path.display());
    }
    if let Some(file) = plot {
        let svg = render_svg(&plot_data(&policy, &workload.label, &out));
        let path = file.write(svg.as_bytes())?;
        say!("plot written to {}\n", path.display());
    }
    Ok(())
}

/// The run's samples as CSV, one row per sample, one `ready_<pool>` column per pool.
pub fn samples_csv(policy: &Policy, out: &SimOutput) -> String {
    let mut text = String::from("t_s,demand,queued,busy,booting");
    for p in &policy.pools {
        text.push_str(&format!(",ready_{}", p.name));
    }
    // With job classes, each queue's waiting jobs too.
    if !policy.classes.is_empty() {
        for q in &policy.queues {
            text.push_str(&format!(",queued_{}", q.name));
        }
    }
    text.push('\n');
    for s in &out.samples {
        text.push_str(&format!(
            "{},{:.3},{},{},{}",
            s.t_s, s.demand, s.queued, s.busy, s.booting
        ));
        for r in s.ready.iter().chain(&s.by_queue) {
            text.push_str(&format!(",{r}"));
        }
        text.push('\n');
    }
    text
}

/// The chart's data for a run.
pub fn plot_data(policy: &Policy, label: &str, out: &SimOutput) -> PlotData {
    let r = &out.report;
    PlotData {
        title: format!("{} on {label}", policy.control.strategy.name()),
        subtitle: format!(
            "p99 wait {:.1} s (SLO {:.0} s) · EC2 {:.1} h (floor {:.1} h) · ${:.2} · {} launches",
            r.wait_p99_s,
            r.slo_wait_s,
            r.ec2_billed_hours,
            r.oracle_ec2_hours_floor,
            r.ec2_cost_usd,
            r.launches
        ),
        pools: policy.pools.iter().map(|p| p.name.clone()).collect(),
        pool_kinds: policy
            .pools
            .iter()
            .map(|p| match p.kind {
                PoolKind::Static { .. } => PoolLook::Datacenter,
                PoolKind::Command(_) => PoolLook::Command,
                PoolKind::Ec2(_) => PoolLook::Ec2,
            })
            .collect(),
        samples: out
            .samples
            .iter()
            .map(|s| PlotSample {
                t_s: s.t_s,
                queued: s.queued as f64,
                queued_batch: s.queued_batch as f64,
                demand: s.demand,
                busy: s.busy as f64,
                capacity: s.ready.iter().map(|&x| x as f64).collect(),
                booting: s.booting as f64,
                by_queue: s.by_queue.iter().map(|&x| f64::from(x)).collect(),
            })
            .collect(),
        queues: match policy.classes.is_empty() {
            true => Vec::new(),
            false => policy.queues.iter().map(|q| q.name.clone()).collect(),
        },
    }
}

/// Runs `spillway compare`.
pub fn compare(args: &CompareArgs) -> Result<(), Box<dyn std::error::Error>> {
    let policy = load_policy(&args.policy)?;
    let workload = load_workload(&args.workload, false, &policy)?;
    let report_json = OutputFile::create_if(args.report_json.as_ref())?;
    say!(
        "{}: {} jobs; every strategy swept over its main knob\n\n",
        workload.label,
        workload.jobs.len()
    );
    let bar = simulations_bar(
        compare::EXPECTED_RUNS,
        "{spinner} comparing {bar:30} {pos}/~{len} simulations, {elapsed} so far, eta {eta}",
    );
    let c = compare::compare_with_progress(&policy, &workload.jobs, &workload.config, &|| {
        if let Some(b) = &bar {
            b.inc(1);
            if b.position() >= b.length().unwrap_or(0) {
                b.inc_length(4);
            }
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    say!("{}", crate::sim::compare_table::table(&c));
    if let Some(file) = report_json {
        let path = file.write((serde_json::to_string_pretty(&c)? + "\n").as_bytes())?;
        say!("\ncomparison written to {}\n", path.display());
    }
    Ok(())
}
