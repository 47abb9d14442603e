//! The cost/wait frontier: the evaluated settings no other setting beats on both EC2 cost and
//! p99 wait.

use std::time::Duration;

use serde::Serialize;

use crate::sim::report::Report;

/// The verdict on a run or a setting: the SLO met and, where there is one, the batch deadline.
fn feasible(meets_slo: bool, batch_on_time: Option<bool>) -> bool {
    meets_slo && batch_on_time != Some(false)
}

/// One simulation of one setting.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ec2_cost_usd: f64,
    pub ec2_billed_hours: f64,
    pub wait_p99_s: f64,
    pub launches: u64,
    pub completed_all: bool,
    pub meets_slo: bool,
    pub batch_on_time: Option<bool>,
}

impl Outcome {
    /// Meets the SLO and, where there is one, the batch deadline.
    pub fn feasible(&self) -> bool {
        feasible(self.meets_slo, self.batch_on_time)
    }

    /// What `tune` keeps of a report; `deadline` is the policy's `batch.deadline`.
    pub fn of(r: &Report, deadline: Option<Duration>) -> Outcome {
        let batch_on_time = match (deadline, r.batch_submitted_s, r.batch_finished_s) {
            (Some(d), Some(a), Some(b)) => Some(b - a <= d.as_secs_f64()),
            (Some(_), Some(_), None) => Some(false),
            _ => None,
        };
        Outcome {
            ec2_cost_usd: r.ec2_cost_usd,
            ec2_billed_hours: r.ec2_billed_hours,
            wait_p99_s: r.wait_p99_s,
            launches: r.launches,
            completed_all: r.completed == r.jobs,
            meets_slo: r.meets_slo,
            batch_on_time,
        }
    }
}

/// One setting of the knobs, simulated on every tuning workload: costs and launches are their
/// mean, the wait their worst, the verdicts hold only when they hold on every one.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The knobs' values, in the order of `Tuning::knobs`.
    pub values: Vec<f64>,
    pub ec2_cost_usd: f64,
    pub ec2_billed_hours: f64,
    pub wait_p99_s: f64,
    /// The p99 wait on each tuning workload.
    pub wait_p99s_s: Vec<f64>,
    pub launches: u64,
    /// Every job finished by the end of the run.
    pub completed_all: bool,
    /// Every job finished and the p99 wait is within the SLO.
    pub meets_slo: bool,
    /// The batch finished within `batch.deadline` (absent without batch jobs or a deadline).
    pub batch_on_time: Option<bool>,
}

impl Evaluation {
    /// `values` judged on `outcomes` (at least one).
    pub fn combine(values: Vec<f64>, outcomes: &[Outcome]) -> Evaluation {
        let n = outcomes.len().max(1) as f64;
        let mean = |f: fn(&Outcome) -> f64| outcomes.iter().map(f).sum::<f64>() / n;
        let on_time: Vec<bool> = outcomes.iter().filter_map(|o| o.batch_on_time).collect();
        Evaluation {
            values,
            ec2_cost_usd: mean(|o| o.ec2_cost_usd),
            ec2_billed_hours: mean(|o| o.ec2_billed_hours),
            wait_p99_s: outcomes.iter().map(|o| o.wait_p99_s).fold(0.0, f64::max),
            wait_p99s_s: outcomes.iter().map(|o| o.wait_p99_s).collect(),
            launches: mean(|o| o.launches as f64).round() as u64,
            completed_all: outcomes.iter().all(|o| o.completed_all),
            meets_slo: !outcomes.is_empty() && outcomes.iter().all(|o| o.meets_slo),
            batch_on_time: (!on_time.is_empty()).then(|| on_time.iter().all(|&b| b)),
        }
    }

    /// Meets the SLO and, where there is one, the batch deadline.
    pub fn feasible(&self) -> bool {
        feasible(self.meets_slo, self.batch_on_time)
    }
}

/// Indices of the non-dominated evaluations by (cost, p99 wait), cheapest first. A run that
/// left jobs unfinished or missed the batch deadline is not on it: its wait hides that.
pub fn frontier(evals: &[Evaluation]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..evals.len())
        .filter(|&i| {
            let e = &evals[i];
            e.completed_all && e.batch_on_time != Some(false)
        })
        .collect();
    order.sort_by(|&a, &b| {
        evals[a]
            .ec2_cost_usd
            .total_cmp(&evals[b].ec2_cost_usd)
            .then(evals[a].wait_p99_s.total_cmp(&evals[b].wait_p99_s))
    });
    let mut out: Vec<usize> = Vec::new();
    let mut best_wait = f64::INFINITY;
    for i in order {
        // Cheapest first: a point is on the frontier when it waits less than every cheaper one.
        if evals[i].wait_p99_s < best_wait {
            best_wait = evals[i].wait_p99_s;
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(cost: f64, wait: f64) -> Evaluation {
        Evaluation {
            values: vec![],
            ec2_cost_usd: cost,
            ec2_billed_hours: cost,
            wait_p99_s: wait,
            wait_p99s_s: vec![wait],
            launches: 0,
            completed_all: true,
            meets_slo: wait <= 30.0,
            batch_on_time: None,
        }
    }

    #[test]
    fn the_frontier_keeps_only_points_no_other_beats_on_both() {
        let evals = vec![
            e(10.0, 5.0),
            e(8.0, 20.0),
            e(9.0, 25.0),
            e(6.0, 40.0),
            e(12.0, 5.0),
        ];
        assert_eq!(frontier(&evals), vec![3, 1, 0]);
    }
}
