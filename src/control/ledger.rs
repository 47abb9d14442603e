//! The recent history the runaway guards need: launches over the last hour and EC2 dollars over
//! the last day, kept in time buckets so memory stays small whatever the tick.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const QUARTER_MS: i64 = 900_000;
const DAY_MS: i64 = 86_400_000;

/// Launches per minute for the last hour, dollars per quarter hour for the last day.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// `(minute start, launches)`, oldest first.
    pub launches: VecDeque<(Timestamp, u32)>,
    /// `(quarter-hour start, dollars)`, oldest first.
    pub spend: VecDeque<(Timestamp, f64)>,
}

fn add<T: Copy + std::ops::AddAssign>(
    buckets: &mut VecDeque<(Timestamp, T)>,
    now: Timestamp,
    width_ms: i64,
    keep_ms: i64,
    v: T,
) {
    let start = Timestamp(now.as_millis().div_euclid(width_ms) * width_ms);
    match buckets.back_mut() {
        Some((at, total)) if *at == start => *total += v,
        _ => buckets.push_back((start, v)),
    }
    while buckets
        .front()
        .is_some_and(|(at, _)| at.as_millis() + width_ms <= now.as_millis() - keep_ms)
    {
        buckets.pop_front();
    }
}

impl Ledger {
    /// Notes `count` launches decided at `now`.
    pub fn record_launches(&mut self, now: Timestamp, count: u32) {
        if count > 0 {
            add(&mut self.launches, now, MINUTE_MS, HOUR_MS, count);
        }
    }

    /// Notes `usd` spent on EC2 in the tick ending at `now`.
    pub fn record_spend(&mut self, now: Timestamp, usd: f64) {
        if usd > 0.0 {
            add(&mut self.spend, now, QUARTER_MS, DAY_MS, usd);
        }
    }

    /// Launches in the hour before `now` (whole minutes: slightly more, never fewer).
    pub fn launches_last_hour(&self, now: Timestamp) -> u32 {
        self.launches
            .iter()
            .filter(|(at, _)| at.as_millis() + MINUTE_MS > now.as_millis() - HOUR_MS)
            .map(|(_, n)| n)
            .sum()
    }

    /// Dollars that leave the day window within `span` after `now`: whole quarter hours that
    /// end by then (never more than will leave).
    pub fn leaving_day(&self, now: Timestamp, span: std::time::Duration) -> f64 {
        let gone = now.as_millis() - DAY_MS;
        let edge = gone + span.as_millis().min(DAY_MS as u128) as i64;
        self.spend
            .iter()
            .filter(|(at, _)| {
                let end = at.as_millis() + QUARTER_MS;
                end > gone && end <= edge
            })
            .map(|(_, usd)| usd)
            .sum()
    }

    /// Dollars spent in the day before `now` (whole quarter hours: slightly more, never less).
    pub fn spent_last_day(&self, now: Timestamp) -> f64 {
        self.spend
            .iter()
            .filter(|(at, _)| at.as_millis() + QUARTER_MS > now.as_millis() - DAY_MS)
            .map(|(_, usd)| usd)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_min(m: i64) -> Timestamp {
        Timestamp(m * MINUTE_MS)
    }

    #[test]
    fn launches_leave_the_hour_and_spend_leaves_the_day() {
        let mut l = Ledger::default();
        l.record_launches(at_min(0), 5);
        l.record_launches(at_min(0), 2);
        l.record_launches(at_min(30), 4);
        assert_eq!(l.launches_last_hour(at_min(30)), 11);
        assert_eq!(
            l.launches_last_hour(at_min(60)),
            11,
            "whole minutes: never fewer"
        );
        assert_eq!(
            l.launches_last_hour(at_min(61)),
            4,
            "minute 0 has left the hour"
        );
        assert_eq!(l.launches.len(), 2);
        for q in 0..200 {
            l.record_spend(Timestamp(q * QUARTER_MS), 1.0);
        }
        assert!(l.spend.len() <= 97, "bounded: {}", l.spend.len());
        // 96 whole quarters plus the one that has just begun: never less than the day.
        assert_eq!(l.spent_last_day(Timestamp(199 * QUARTER_MS)), 97.0);
    }
}
