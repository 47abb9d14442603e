//! The money and batch sections of a policy: `[budget]` (hourly and daily spend, launches an
//! hour; the hourly cap must pay for the pools' minimum instances) and `[batch]` (a backfill's
//! deadline and its limits).

use toml::Spanned;

use super::checker::Checker;
use super::file::{BatchSection, BudgetSection};
use super::{BatchRules, Budget, Pool};

impl Checker<'_> {
    /// `[budget]`, judged against the `pools` already read.
    pub(super) fn budget(&mut self, raw: Option<Spanned<BudgetSection>>, pools: &[Pool]) -> Budget {
        match raw {
            None => Budget::default(),
            Some(b) => {
                let at = b.span().start;
                let b = b.into_inner();
                let daily = b.max_daily_usd.map(|x| {
                    self.number(
                        Some(x),
                        at,
                        "budget.max_daily_usd",
                        None,
                        |x| x > 0.0,
                        "must be above 0",
                    )
                });
                let launches_at = b
                    .max_launches_per_hour
                    .as_ref()
                    .map_or(at, |s| s.span().start);
                let launches = b
                    .max_launches_per_hour
                    .map(|n| self.count(Some(n), at, "budget.max_launches_per_hour", None));
                if launches == Some(0) {
                    self.problem(
                        launches_at,
                        "budget.max_launches_per_hour",
                        "must be at least 1",
                    );
                }
                let max = self.number(
                    b.max_hourly_usd,
                    at,
                    "budget.max_hourly_usd",
                    Some(f64::INFINITY),
                    |x| x > 0.0,
                    "must be above 0",
                );
                let floor: f64 = pools
                    .iter()
                    .filter_map(|p| p.scaling().map(|s| s.min as f64 * p.budget_price()))
                    .sum();
                // A max already refused (≤ 0) is not judged again against the floor.
                if max.is_finite() && max > 0.0 && floor > max {
                    self.problem(
                        at,
                        "budget.max_hourly_usd",
                        format!(
                            "${max}/h cannot pay for the pools' minimum instances (${floor:.2}/h)"
                        ),
                    );
                }
                Budget {
                    max_hourly_usd: max.is_finite().then_some(max),
                    max_daily_usd: daily,
                    max_launches_per_hour: launches,
                }
            }
        }
    }

    /// `[batch]`.
    pub(super) fn batch(&mut self, raw: Option<Spanned<BatchSection>>) -> BatchRules {
        match raw {
            None => BatchRules::default(),
            Some(b) => {
                let at = b.span().start;
                let b = b.into_inner();
                BatchRules {
                    deadline: b
                        .deadline
                        .clone()
                        .map(|d| self.positive_duration(Some(d), at, "batch.deadline", None)),
                    max_ec2: b
                        .max_ec2
                        .clone()
                        .map(|n| self.count(Some(n), at, "batch.max_ec2", None)),
                    max_usd: b.max_usd.clone().map(|x| {
                        self.number(
                            Some(x),
                            at,
                            "batch.max_usd",
                            None,
                            |x| x > 0.0,
                            "must be above 0",
                        )
                    }),
                }
            }
        }
    }
}
