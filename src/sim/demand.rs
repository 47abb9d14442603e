//! The policy-independent demand curve and what is derived from it.
//!
//! Demand `d(t)` is the number of jobs that would be running at `t` if no job ever waited
//! (infinite-server occupancy, at speed 1.0). From it come the physical floor of EC2 hours and
//! the SPEC Research Group elasticity metrics (the oracle's plan is in [`super::clairvoyant`]).

use serde::Serialize;

use crate::policy::{Policy, PoolKind};

use super::SpeedChange;
use super::sample::Sample;
use super::trace::Job;

/// Mean demand in each `bin_ms` bin from 0 to `end_ms` (exact time averages, O(jobs + bins)).
pub fn demand_curve(jobs: &[Job], end_ms: i64, bin_ms: i64) -> Vec<f64> {
    let bins = (end_ms / bin_ms + 1).max(1) as usize;
    // diff[k] changes the "fully covered" level from bin k on; partial bins are added directly.
    let mut diff = vec![0.0f64; bins + 1];
    let mut partial = vec![0.0f64; bins];
    let bin = bin_ms as f64;
    for j in jobs {
        let a = j.submit_ms as f64;
        let b = a + j.duration_s * 1000.0;
        let (ka, kb) = ((a / bin) as usize, (b / bin) as usize);
        if ka >= bins {
            continue;
        }
        if ka == kb {
            partial[ka] += (b - a) / bin;
            continue;
        }
        partial[ka] += ((ka + 1) as f64 * bin - a) / bin;
        if kb < bins {
            partial[kb] += (b - kb as f64 * bin) / bin;
        }
        diff[ka + 1] += 1.0;
        diff[kb.min(bins)] -= 1.0;
    }
    let mut level = 0.0;
    (0..bins)
        .map(|k| {
            level += diff[k];
            level + partial[k]
        })
        .collect()
}

/// Static datacenter capacity in speed-1.0 workers at `t_ms`, after speed incidents.
pub fn static_capacity(policy: &Policy, changes: &[SpeedChange], t_ms: i64) -> f64 {
    on_prem_capacity(policy, changes, t_ms, false)
}

/// On-prem capacity in speed-1.0 workers at `t_ms`, after speed incidents: static pools, and
/// command pools at their full `workers` when `with_command`.
fn on_prem_capacity(
    policy: &Policy,
    changes: &[SpeedChange],
    t_ms: i64,
    with_command: bool,
) -> f64 {
    policy
        .pools
        .iter()
        .map(|p| match &p.kind {
            PoolKind::Static { workers } => (*workers, p),
            PoolKind::Command(c) if with_command => (c.workers, p),
            PoolKind::Command(_) | PoolKind::Ec2(_) => (0, p),
        })
        .map(|(workers, p)| {
            let factor: f64 = changes
                .iter()
                .filter(|c| {
                    c.pool == p.name
                        && t_ms as f64 >= c.from_s * 1000.0
                        && (t_ms as f64) < c.to_s * 1000.0
                })
                .map(|c| c.factor)
                .product();
            workers as f64 * p.speed * factor
        })
        .sum()
}

pub fn ec2_speed(policy: &Policy) -> f64 {
    policy
        .first_ec2()
        .map_or(1.0, |(i, _)| policy.pools[i].speed)
}

/// EC2 hours if demand beyond the datacenter (static pools, and command pools at full size)
/// were served with zero idle, boot or billing minimum: `Σ max(d − D, 0) × bin / speed_ec2`.
/// A floor no controller can beat.
pub fn ec2_hours_floor(
    policy: &Policy,
    changes: &[SpeedChange],
    demand: &[f64],
    bin_ms: i64,
) -> f64 {
    let speed = ec2_speed(policy);
    demand
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let cap = on_prem_capacity(policy, changes, k as i64 * bin_ms + bin_ms / 2, true);
            (d - cap).max(0.0) * bin_ms as f64 / 1000.0 / speed / 3600.0
        })
        .sum()
}

/// SPEC Research Group elasticity metrics (Herbst et al., "Ready for Rain?", 2018), with
/// demand `d_t` from [`demand_curve`] and supply `s_t` the ready workers at each sample, in
/// speed-1.0 units. Over the `T` samples:
/// - `accuracy_under = Σ max(d_t − s_t, 0) / T`: mean missing capacity, workers;
/// - `accuracy_over = Σ max(s_t − d_t, 0) / T`: mean excess capacity, workers;
/// - `timeshare_under`, `timeshare_over`: fraction of samples with `s_t < d_t`, `s_t > d_t`;
/// - `jitter = (supply adaptations − demand adaptations) / hours`, an adaptation being a
///   sample where the value moved from the previous one (positive: supply churns more than demand).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Elasticity {
    pub accuracy_under: f64,
    pub accuracy_over: f64,
    pub timeshare_under: f64,
    pub timeshare_over: f64,
    pub jitter: f64,
}

/// Computes [`Elasticity`] from samples and the demand curve binned at the sample spacing.
pub fn elasticity(policy: &Policy, samples: &[Sample], demand: &[f64]) -> Elasticity {
    let n = samples.len().min(demand.len());
    if n == 0 {
        return Elasticity::default();
    }
    let speeds: Vec<f64> = policy.pools.iter().map(|p| p.speed).collect();
    let supply = |s: &Sample| {
        s.ready
            .iter()
            .zip(&speeds)
            .map(|(r, v)| *r as f64 * v)
            .sum::<f64>()
    };
    let mut e = Elasticity::default();
    let (mut supply_moves, mut demand_moves) = (0i64, 0i64);
    for k in 0..n {
        let (s, d) = (supply(&samples[k]), demand[k]);
        e.accuracy_under += (d - s).max(0.0);
        e.accuracy_over += (s - d).max(0.0);
        e.timeshare_under += f64::from(u8::from(s < d - 1e-9));
        e.timeshare_over += f64::from(u8::from(s > d + 1e-9));
        if k > 0 {
            supply_moves += i64::from((s - supply(&samples[k - 1])).abs() > 1e-9);
            demand_moves += i64::from((d.round() - demand[k - 1].round()).abs() > 0.0);
        }
    }
    let t = n as f64;
    let hours = (samples[n - 1].t_s - samples[0].t_s).max(1.0) / 3600.0;
    e.accuracy_under /= t;
    e.accuracy_over /= t;
    e.timeshare_under /= t;
    e.timeshare_over /= t;
    e.jitter = (supply_moves - demand_moves) as f64 / hours;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::trace::JobClass;

    fn job(at_s: f64, dur_s: f64) -> Job {
        Job {
            submit_ms: (at_s * 1000.0) as i64,
            duration_s: dur_s,
            class: JobClass::Interactive,
            queue: 0,
        }
    }

    #[test]
    fn demand_curve_is_the_time_average_occupancy() {
        // One job covering 30..150 s over 60 s bins: 0.5, 1, 0.5.
        let d = demand_curve(&[job(30.0, 120.0)], 180_000, 60_000);
        assert_eq!(&d[..3], &[0.5, 1.0, 0.5]);
        let total: f64 = d.iter().sum::<f64>() * 60.0;
        assert!((total - 120.0).abs() < 1e-9);
    }
}
