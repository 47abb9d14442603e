//! Axis helpers for the simulator chart: round tick values, time-axis ticks and labels,
//! and compact number text (at most one decimal place).

use std::fmt;

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;

/// A number written with at most one decimal place and no trailing `.0`; non-finite is `0`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Num(pub f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = (self.0 * 10.0).round() / 10.0;
        if !r.is_finite() || r == 0.0 {
            f.write_str("0")
        } else if r.fract() == 0.0 && r.abs() < 1e15 {
            write!(f, "{}", r as i64)
        } else {
            write!(f, "{r:.1}")
        }
    }
}

/// Label for a count tick: `750`, `2.5`, or `12k` from ten thousand up.
pub(crate) fn count_label(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{}k", Num(v / 1000.0))
    } else {
        Num(v).to_string()
    }
}

/// A duration in its largest whole unit: `30s`, `10m`, `6h`, `2d`, or `1.5h` when not whole.
pub(super) fn duration_label(secs: f64) -> String {
    let (unit, suffix) = [(DAY, "d"), (HOUR, "h"), (MINUTE, "m")]
        .into_iter()
        .find(|&(u, _)| secs >= u)
        .unwrap_or((1.0, "s"));
    format!("{}{suffix}", Num(secs / unit))
}

/// Ticks `0, s, 2s, …, top` with `top >= max`, about `target` intervals, and a step `s`
/// that is 1, 2 or 5 times a power of ten and at least `min_step` (which must be > 0).
pub(crate) fn nice_ticks(max: f64, target: usize, min_step: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        0.0
    };
    let raw = (max / target.max(1) as f64).max(min_step).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let nice = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|&n| n * mag >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0);
    let step = nice * mag;
    let n = ((max / step) * (1.0 - 1e-12)).ceil().clamp(1.0, 100.0) as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// Ticks for a time axis spanning `t0..=t1` seconds since trace start: positions (s) and
/// labels, in minutes (`45m`) under 3 h, hours (`6h`) under 3 days, days (`day 3`) beyond.
/// Ticks fall on round multiples of the step; at most `max_ticks` of them.
pub(super) fn time_ticks(t0: f64, t1: f64, max_ticks: usize) -> Vec<(f64, String)> {
    let span = t1 - t0;
    if !span.is_finite() || span <= 0.0 {
        return Vec::new();
    }
    let (unit, suffix, steps): (f64, &str, &[f64]) = if span < 3.0 * HOUR {
        (MINUTE, "m", &[1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0])
    } else if span < 3.0 * DAY {
        (HOUR, "h", &[1.0, 2.0, 3.0, 6.0, 12.0, 24.0])
    } else {
        (
            DAY,
            "day",
            &[1.0, 2.0, 7.0, 14.0, 30.0, 60.0, 90.0, 180.0, 365.0],
        )
    };
    let max_ticks = max_ticks.max(2);
    let fits = |s: f64| span / (s * unit) < max_ticks as f64;
    let mut step = steps.iter().copied().find(|&s| fits(s)).unwrap_or(365.0);
    while !fits(step) {
        step *= 2.0;
    }
    let first = (t0 / (step * unit)).ceil();
    (0..=max_ticks)
        .map(|i| (first + i as f64) * step * unit)
        .take_while(|&t| t <= t1 + 1e-6 * span)
        .map(|t| {
            let v = Num(t / unit);
            let label = if unit == DAY {
                format!("day {v}")
            } else {
                format!("{v}{suffix}")
            };
            (t, label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step is round when it is 1, 2 or 5 times a power of ten.
    fn is_round(step: f64) -> bool {
        let mag = 10f64.powf(step.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .any(|n| (step / mag - n).abs() < 1e-9)
    }

    #[test]
    fn nice_ticks_are_round_and_cover_the_range() {
        for &max in &[
            0.3, 1.0, 7.0, 9.9, 10.0, 37.0, 123.0, 999.0, 1001.0, 48_500.0, 3e7,
        ] {
            let t = nice_ticks(max, 5, 1.0);
            assert_eq!(t[0], 0.0);
            let step = t[1] - t[0];
            assert!(step >= 1.0 && is_round(step), "max {max}: step {step}");
            assert!(*t.last().unwrap() >= max, "max {max}: ticks {t:?}");
            assert!(
                *t.last().unwrap() - step < max,
                "max {max}: too many ticks {t:?}"
            );
            assert!((2..=11).contains(&t.len()), "max {max}: {} ticks", t.len());
            for w in t.windows(2) {
                assert!(((w[1] - w[0]) - step).abs() < 1e-9 * step.max(1.0));
            }
        }
        assert_eq!(nice_ticks(37.0, 5, 1.0), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(nice_ticks(0.0, 5, 1.0), vec![0.0, 1.0]);
        assert_eq!(nice_ticks(f64::NAN, 5, 1.0), vec![0.0, 1.0]);
    }

    #[test]
    fn num_has_at_most_one_decimal() {
        assert_eq!(Num(12.0).to_string(), "12");
        assert_eq!(Num(12.345).to_string(), "12.3");
        assert_eq!(Num(-0.01).to_string(), "0");
        assert_eq!(Num(f64::NAN).to_string(), "0");
        assert_eq!(Num(f64::INFINITY).to_string(), "0");
        assert_eq!(count_label(25_000.0), "25k");
        assert_eq!(count_label(2.5), "2.5");
        assert_eq!(duration_label(21_600.0), "6h");
        assert_eq!(duration_label(600.0), "10m");
        assert_eq!(duration_label(604_800.0), "7d");
        assert_eq!(duration_label(15.0), "15s");
    }

    #[test]
    fn time_ticks_pick_unit_by_span() {
        let min = time_ticks(0.0, 2.0 * HOUR, 13);
        assert_eq!(min[0], (0.0, "0m".to_string()));
        assert_eq!(min[1].1, "10m");
        let hrs = time_ticks(0.0, DAY, 13);
        let labels: Vec<&str> = hrs.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "0h", "2h", "4h", "6h", "8h", "10h", "12h", "14h", "16h", "18h", "20h", "22h",
                "24h"
            ]
        );
        let week = time_ticks(0.0, 7.0 * DAY, 13);
        assert_eq!(week[3].1, "day 3");
        let year = time_ticks(0.0, 365.0 * DAY, 13);
        assert!(year.len() <= 13 && year.len() >= 5);
        assert!(year.iter().all(|(t, _)| (t / DAY) % 30.0 == 0.0));
        // Starts off a round value: the first tick is the next multiple of the step.
        let off = time_ticks(1000.0, 1000.0 + 6.0 * HOUR, 13);
        assert_eq!(off[0], (HOUR, "1h".to_string()));
        assert!(time_ticks(5.0, 5.0, 13).is_empty());
        assert!(time_ticks(0.0, f64::INFINITY, 13).is_empty());
    }
}
