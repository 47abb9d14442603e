//! Every cap on a pool's size, enforced here and nowhere else.
//!
//! A strategy asks for workers; this module grants what the pool's `max` (a command pool's
//! `workers`), the per-tick launch step, the launches-per-hour guard, the hourly dollar budget
//! and the daily dollar budget allow, and says which cap bound when one did. It also says how
//! far a pool is below its `min` (launched whatever the strategy wants) and how many workers
//! above its `min` scale-in may remove.

use crate::policy::Policy;

use super::decision::ReasonKind;
use super::facts::Facts;
use super::ledger::Ledger;
use crate::model::Timestamp;

/// The outcome of asking for launches in one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Workers that may be launched.
    pub granted: u32,
    /// The cap that cut the request short, with a sentence.
    pub bound: Option<(ReasonKind, String)>,
}

/// Workers pool `index` must launch to reach its `min` (0 for static pools).
pub fn below_min(policy: &Policy, facts: &Facts, index: usize) -> u32 {
    policy.pools[index]
        .scaling()
        .map_or(0, |s| s.min.saturating_sub(facts.pools[index].capacity()))
}

/// Workers of pool `index` that scale-in may still remove once `already` are removed this
/// tick: its capacity above its `min` (0 for static pools, which are never scaled in).
pub fn removable(policy: &Policy, facts: &Facts, index: usize, already: u32) -> u32 {
    policy.pools[index].scaling().map_or(0, |s| {
        facts.pools[index]
            .capacity()
            .saturating_sub(already)
            .saturating_sub(s.min)
    })
}

/// Workers pool `index` has room for below its `max`, counting ready and booting ones.
pub fn room(policy: &Policy, facts: &Facts, index: usize) -> u32 {
    policy.pools[index]
        .scaling()
        .map_or(0, |s| s.max.saturating_sub(facts.pools[index].capacity()))
}

/// Hourly price of every launched worker that exists (any state: EC2 instances, and command
/// pools' VMs when they have a price), with the rest of the fleet's when one job class is
/// decided ([`Facts::spend_elsewhere`]): what the budgets judge.
pub fn fleet_spend(policy: &Policy, facts: &Facts) -> f64 {
    hourly_spend(policy, facts) + facts.spend_elsewhere
}

/// Hourly price of the policy's launched workers that exist (any state: EC2 instances, and
/// command pools' VMs when they have a price).
pub fn hourly_spend(policy: &Policy, facts: &Facts) -> f64 {
    policy
        .pools
        .iter()
        .zip(&facts.pools)
        .map(|(p, f)| pool_spend(p, f))
        .sum()
}

/// Hourly price of one pool's launched workers that exist (0 for a static pool).
pub fn pool_spend(pool: &crate::policy::Pool, facts: &super::facts::PoolFacts) -> f64 {
    if pool.scaling().is_none() {
        return 0.0;
    }
    let n = facts.capacity() + facts.draining + facts.overdue.len() as u32;
    n as f64 * pool.budget_price()
}

/// The most EC2 may cost per hour now under `budget.max_daily_usd`: the rate
/// that keeps the spend of the 24 h ending at the next tick, and of those ending an hour from
/// now, within the budget, counting what leaves the window by then. Running instances count:
/// when the fleet costs more, idle workers are scaled in.
pub fn daily_rate_cap(policy: &Policy, ledger: &Ledger, now: Timestamp) -> Option<SpendCap> {
    let max_day = policy.budget.max_daily_usd?;
    let spent = ledger.spent_last_day(now);
    let per_hour = |span: std::time::Duration| {
        let hours = span.as_secs_f64().max(1.0) / 3600.0;
        (max_day - spent + ledger.leaving_day(now, span)).max(0.0) / hours
    };
    let cap = per_hour(std::time::Duration::from_secs(3600)).min(per_hour(policy.control.interval));
    Some(SpendCap {
        usd_per_hour: cap,
        source: SpendSource::Daily { spent, max_day },
    })
}

/// A cap on what the running fleet may cost per hour, and where it comes from. Its sentence is
/// written only when a reason needs it (a tick checks the caps far more often than one binds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpendCap {
    pub usd_per_hour: f64,
    source: SpendSource,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SpendSource {
    Hourly,
    Daily { spent: f64, max_day: f64 },
}

impl SpendCap {
    pub fn kind(&self) -> ReasonKind {
        match self.source {
            SpendSource::Hourly => ReasonKind::BudgetCap,
            SpendSource::Daily { .. } => ReasonKind::DailyBudgetCap,
        }
    }

    /// The cap as a reason's sentence.
    pub fn why(&self) -> String {
        let cap = self.usd_per_hour;
        match self.source {
            SpendSource::Hourly => format!("budget of ${cap:.2}/h (budget.max_hourly_usd)"),
            SpendSource::Daily { spent, max_day } => format!(
                "${spent:.2} of ${max_day:.2} spent on EC2 in the last 24 h (budget.max_daily_usd): \
                 at most ${cap:.2}/h now"
            ),
        }
    }
}

/// The tightest cap on what the running fleet may cost per hour (`budget.max_hourly_usd`, the
/// daily budget's rate); `None` without a budget.
pub fn spend_cap(policy: &Policy, ledger: &Ledger, now: Timestamp) -> Option<SpendCap> {
    let hourly = policy.budget.max_hourly_usd.map(|max| SpendCap {
        usd_per_hour: max,
        source: SpendSource::Hourly,
    });
    hourly
        .into_iter()
        .chain(daily_rate_cap(policy, ledger, now))
        .min_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour))
}

/// How many of `want` workers pool `index` may launch, given `planned` launches and
/// `planned_usd` per hour already granted to other pools this tick, and the recent `ledger`.
#[allow(clippy::too_many_arguments)]
pub fn grant_launch(
    policy: &Policy,
    facts: &Facts,
    ledger: &Ledger,
    index: usize,
    want: u32,
    planned: u32,
    planned_usd: f64,
    now: Timestamp,
) -> Grant {
    let pool = &policy.pools[index];
    let Some(scaling) = pool.scaling() else {
        return Grant {
            granted: 0,
            bound: None,
        };
    };
    let f = &facts.pools[index];
    let existing = f.capacity() + f.draining + f.overdue.len() as u32;
    let mut granted = want;
    let mut bound = None;

    let room = scaling.max.saturating_sub(existing);
    if granted > room {
        granted = room;
        bound = Some((
            ReasonKind::MaxInstances,
            format!(
                "pool {} is at its max of {} workers",
                pool.name, scaling.max
            ),
        ));
    }
    let step = policy.control.max_launch_per_tick;
    if granted > step {
        granted = step;
        bound = Some((
            ReasonKind::StepCap,
            format!("at most {step} launches per tick (control.max_launch_per_tick)"),
        ));
    }
    if let Some(per_hour) = policy.budget.max_launches_per_hour {
        let used = ledger.launches_last_hour(now) + planned;
        let left = per_hour.saturating_sub(used);
        if granted > left {
            granted = left;
            bound = Some((
                ReasonKind::LaunchRateCap,
                format!(
                    "{used} launches in the last hour, at most {per_hour} (budget.max_launches_per_hour)"
                ),
            ));
        }
    }
    if let Some(cap) = daily_rate_cap(policy, ledger, now)
        && pool.budget_price() > 0.0
    {
        let spend = fleet_spend(policy, facts) + planned_usd;
        let affordable = ((cap.usd_per_hour - spend) / pool.budget_price() + 1e-9)
            .floor()
            .max(0.0) as u32;
        if granted > affordable {
            granted = affordable;
            bound = Some((
                ReasonKind::DailyBudgetCap,
                format!("{} (spending ${spend:.2}/h)", cap.why()),
            ));
        }
    }
    if let Some(max_usd) = policy.budget.max_hourly_usd
        && pool.budget_price() > 0.0
    {
        let spend = fleet_spend(policy, facts) + planned_usd;
        let affordable = ((max_usd - spend) / pool.budget_price() + 1e-9)
            .floor()
            .max(0.0) as u32;
        if granted > affordable {
            granted = affordable;
            bound = Some((
                ReasonKind::BudgetCap,
                format!("budget of ${max_usd:.2}/h reached (spending ${spend:.2}/h)"),
            ));
        }
    }
    Grant { granted, bound }
}
