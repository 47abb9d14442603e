//! What a simulation run measured: waits, cost, actions and elasticity, as JSON and as a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::control::Decision;
use crate::model::format_wait;
use crate::policy::Policy;

use super::SimConfig;
use super::demand::{self, Elasticity};
use super::trace::{Job, JobClass};
use super::world::{WState, World};

pub use super::sample::Sample;

/// Counts of decisions by action and reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecisionTally {
    pub ticks: u64,
    /// `"launch/backlog"` → count, and so on.
    pub actions: BTreeMap<String, u64>,
}

/// A run's decisions counted by their labels as they come: the keys of a [`DecisionTally`] are
/// written once a run, not once a tick.
#[derive(Debug, Default)]
pub struct DecisionCounts {
    ticks: u64,
    by_label: BTreeMap<(&'static str, &'static str), u64>,
}

impl DecisionCounts {
    /// Counts one decision.
    pub fn record(&mut self, d: &Decision) {
        self.ticks += 1;
        for a in &d.actions {
            *self
                .by_label
                .entry((a.label(), a.reason().kind.label()))
                .or_default() += 1;
        }
    }

    /// The counts as the report's tally.
    pub fn tally(&self) -> DecisionTally {
        DecisionTally {
            ticks: self.ticks,
            actions: self
                .by_label
                .iter()
                .map(|((action, reason), n)| (format!("{action}/{reason}"), *n))
                .collect(),
        }
    }
}

/// Everything a run measured. Field names are a stable contract (`--report-json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub policy: String,
    pub strategy: String,
    pub seed: u64,
    pub jobs: u64,
    pub completed: u64,
    /// Interactive jobs only: the SLO is theirs.
    pub wait_mean_s: f64,
    pub wait_p50_s: f64,
    pub wait_p95_s: f64,
    pub wait_p99_s: f64,
    pub wait_max_s: f64,
    /// Fraction of interactive jobs that waited at all.
    pub waited_fraction: f64,
    pub slo_wait_s: f64,
    /// Fraction of interactive jobs that waited at most `slo_wait_s`.
    pub slo_attainment: f64,
    /// Whether the p99 wait meets the SLO.
    pub meets_slo: bool,
    pub batch_jobs: u64,
    /// When the first batch job was submitted, seconds from the start (null without batch jobs).
    pub batch_submitted_s: Option<f64>,
    /// When the last batch job finished, seconds from the start (null without batch jobs).
    pub batch_finished_s: Option<f64>,
    pub ec2_billed_hours: f64,
    pub ec2_busy_hours: f64,
    /// Billed EC2 hours spent booting.
    pub ec2_boot_hours: f64,
    /// Billed EC2 hours neither busy nor booting: idle, draining, or billing minimums.
    pub ec2_idle_hours: f64,
    pub ec2_cost_usd: f64,
    pub datacenter_busy_hours: f64,
    pub launches: u64,
    pub terminations: u64,
    pub launch_failures: u64,
    /// Terminations of busy workers that the simulated world refused (always 0 for a correct
    /// controller; counted, never hidden).
    pub busy_terminations_refused: u64,
    /// Spot instances taken away, and jobs they were running (run again from the queue).
    pub spot_interruptions: u64,
    pub jobs_restarted: u64,
    /// EC2 actions that failed because the API was unreachable.
    pub ec2_actions_failed: u64,
    pub oracle_ec2_hours_floor: f64,
    pub elasticity: Elasticity,
    pub simulated_hours: f64,
    pub decisions: DecisionTally,
    /// With job classes: each queue's own figures (`meets_slo` above is then whether every
    /// queue meets its own SLO).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<super::queue_report::QueueReport>,
}

fn quantile(sorted: &[f32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx] as f64
}

impl Report {
    /// Builds the report at the end of a run.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        policy: &Policy,
        jobs: &[Job],
        world: &World,
        samples: &[Sample],
        curve: &[f64],
        decisions: &DecisionCounts,
        end_ms: i64,
        config: &SimConfig,
    ) -> Report {
        let mut waits: Vec<f32> = Vec::with_capacity(jobs.len());
        let (mut completed, mut batch_jobs, mut batch_end) = (0u64, 0u64, None::<f64>);
        for (j, &start) in jobs.iter().zip(&world.started) {
            if start == i64::MIN {
                continue;
            }
            completed += 1;
            match j.class {
                JobClass::Interactive => waits.push(((start - j.submit_ms) as f64 / 1000.0) as f32),
                JobClass::Batch => {
                    batch_jobs += 1;
                    let end = start as f64 / 1000.0 + j.duration_s;
                    batch_end = Some(batch_end.map_or(end, |e: f64| e.max(end)));
                }
            }
        }
        let busy_now = world
            .workers
            .iter()
            .filter(|w| matches!(w.state, WState::Busy { .. }))
            .count() as u64;
        completed -= busy_now.min(completed);
        let n = waits.len().max(1) as f64;
        let mean = waits.iter().map(|&w| w as f64).sum::<f64>() / n;
        let waited = waits.iter().filter(|&&w| w > 0.0).count() as f64 / n;
        let slo = policy.target.wait_slo.as_secs_f64();
        let within = waits.iter().filter(|&&w| (w as f64) <= slo).count() as f64 / n;
        waits.sort_unstable_by(f32::total_cmp);
        let bin_ms = (config.sample_every_s * 1000.0) as i64;
        let p99 = quantile(&waits, 0.99);
        let t = &world.tally;
        let queues = super::queue_report::build(policy, jobs, world);
        // With job classes, each class's floor on its own pools (a GPU render cannot use the
        // datacenter's spare CPUs).
        let floor = if policy.classes.is_empty() {
            demand::ec2_hours_floor(policy, &config.speed_changes, curve, bin_ms)
        } else {
            policy
                .classes
                .iter()
                .map(|c| {
                    let mine = super::binding::class_jobs(c, jobs);
                    let curve = demand::demand_curve(&mine, end_ms, bin_ms);
                    demand::ec2_hours_floor(&c.policy, &config.speed_changes, &curve, bin_ms)
                })
                .sum()
        };
        let mut meets_slo = p99 <= slo && completed == jobs.len() as u64;
        if !queues.is_empty() {
            meets_slo = completed == jobs.len() as u64 && queues.iter().all(|q| q.meets_slo);
        }
        Report {
            policy: policy.name.clone(),
            strategy: policy.control.strategy.name().to_string(),
            seed: config.seed,
            jobs: jobs.len() as u64,
            completed,
            wait_mean_s: mean,
            wait_p50_s: quantile(&waits, 0.50),
            wait_p95_s: quantile(&waits, 0.95),
            wait_p99_s: p99,
            wait_max_s: waits.last().copied().unwrap_or(0.0) as f64,
            waited_fraction: waited,
            slo_wait_s: slo,
            slo_attainment: within,
            meets_slo,
            batch_jobs,
            batch_submitted_s: jobs
                .iter()
                .find(|j| j.class == JobClass::Batch)
                .map(|j| j.submit_ms as f64 / 1000.0),
            batch_finished_s: batch_end,
            ec2_billed_hours: t.ec2_billed_s / 3600.0,
            ec2_busy_hours: t.ec2_busy_s / 3600.0,
            ec2_boot_hours: t.ec2_boot_s / 3600.0,
            ec2_idle_hours: ((t.ec2_billed_s - t.ec2_busy_s - t.ec2_boot_s) / 3600.0).max(0.0),
            ec2_cost_usd: t.ec2_cost_usd,
            datacenter_busy_hours: t.datacenter_busy_s / 3600.0,
            launches: t.launches,
            terminations: t.terminations,
            launch_failures: t.launch_failures,
            busy_terminations_refused: t.busy_terminations_refused,
            spot_interruptions: t.spot_interruptions,
            jobs_restarted: t.jobs_restarted,
            ec2_actions_failed: t.ec2_actions_failed,
            oracle_ec2_hours_floor: floor,
            elasticity: demand::elasticity(policy, samples, curve),
            simulated_hours: end_ms as f64 / 3_600_000.0,
            decisions: decisions.tally(),
            queues,
        }
    }

    /// A readable summary table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let slo_mark = if self.meets_slo { "meets" } else { "MISSES" };
        let _ = writeln!(
            s,
            "policy {} · strategy {} · seed {} · {:.1} h simulated",
            self.policy, self.strategy, self.seed, self.simulated_hours
        );
        let _ = writeln!(
            s,
            "  jobs             {:>12} ({} completed, {} batch)",
            self.jobs, self.completed, self.batch_jobs
        );
        let _ = writeln!(
            s,
            "  wait p50/p95/p99 {:>10} {:>10} {:>10}   max {}, mean {}",
            format_wait(self.wait_p50_s),
            format_wait(self.wait_p95_s),
            format_wait(self.wait_p99_s),
            format_wait(self.wait_max_s),
            format_wait(self.wait_mean_s)
        );
        let _ = writeln!(
            s,
            "  SLO              p99 ≤ {}: {slo_mark}; {:.2}% of jobs within, {:.2}% waited at all",
            format_wait(self.slo_wait_s),
            self.slo_attainment * 100.0,
            self.waited_fraction * 100.0
        );
        s.push_str(&super::queue_report::table(&self.queues));
        let _ = writeln!(
            s,
            "  EC2              {:>10.1} billed h ({:.1} busy h, {:.0}% utilised)   ${:.2}",
            self.ec2_billed_hours,
            self.ec2_busy_hours,
            100.0 * self.ec2_busy_hours / self.ec2_billed_hours.max(1e-9),
            self.ec2_cost_usd
        );
        let _ = writeln!(
            s,
            "  EC2 breakdown    {:>10.1} h booting, {:.1} h idle",
            self.ec2_boot_hours, self.ec2_idle_hours
        );
        let _ = writeln!(
            s,
            "  floor            {:>10.1} EC2 h (zero idle, zero boot)   → {:.2}× the floor",
            self.oracle_ec2_hours_floor,
            self.ec2_billed_hours / self.oracle_ec2_hours_floor.max(1e-9)
        );
        let _ = writeln!(
            s,
            "  datacenter       {:>10.1} busy h",
            self.datacenter_busy_hours
        );
        let _ = writeln!(
            s,
            "  actions          {} launches, {} terminations, {} launch failures",
            self.launches, self.terminations, self.launch_failures
        );
        if self.spot_interruptions + self.ec2_actions_failed > 0 {
            let _ = writeln!(
                s,
                "  faults           {} spot interruptions ({} jobs run again), {} EC2 actions failed",
                self.spot_interruptions, self.jobs_restarted, self.ec2_actions_failed
            );
        }
        let e = &self.elasticity;
        let _ = writeln!(
            s,
            "  elasticity       under {:.2} / over {:.2} workers, time under {:.1}% / over {:.1}%, jitter {:+.2}/h (fleet changes per hour beyond demand's)",
            e.accuracy_under,
            e.accuracy_over,
            e.timeshare_under * 100.0,
            e.timeshare_over * 100.0,
            e.jitter
        );
        if let (Some(a), Some(b)) = (self.batch_submitted_s, self.batch_finished_s) {
            let _ = writeln!(
                s,
                "  batch            {} jobs, first submitted at {:.1} h, last finished at {:.1} h ({:.2} h later)",
                self.batch_jobs,
                a / 3600.0,
                b / 3600.0,
                (b - a) / 3600.0
            );
        }
        s
    }
}

/// A progress bar on stderr for long runs; silent when not on a terminal.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A bar over `total` jobs if `enabled` and stderr is a terminal.
    pub fn new(enabled: bool, total: u64) -> Progress {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() || total < 200_000 {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} simulating {bar:40} {human_pos}/{human_len} jobs, {elapsed} so far, eta {eta}",
        ) {
            bar.set_style(style);
        }
        Progress(Some(bar))
    }

    /// Jobs processed so far.
    pub fn set(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.set_position(n);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
