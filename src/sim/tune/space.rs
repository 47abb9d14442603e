//! The knobs `tune` searches together, and the map between a point of the unit cube (where the
//! search moves) and the values written into the policy.
//!
//! Every knob shapes how much headroom spillway keeps and how fast it reacts; none of them is a
//! cap. Pool sizes, budgets, the SLO and the batch deadline are the operator's limits and stay
//! as written.

use std::time::Duration;

use super::policy_text::Setting;
use crate::model::format_duration;
use crate::policy::Policy;

/// How a knob's value is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// A number, kept to three significant digits.
    Number,
    /// A whole number.
    Count,
    /// Whole seconds, written as a duration (`"90s"`, `"2m30s"`).
    Seconds,
}

/// One knob: a policy field and the range searched.
#[derive(Debug, Clone)]
pub struct TuneKnob {
    pub section: &'static str,
    pub key: &'static str,
    pub lo: f64,
    pub hi: f64,
    /// Searched on a log scale (then `lo > 0`).
    pub log: bool,
    pub unit: Unit,
}

impl TuneKnob {
    /// `section.key`, as `policy check` names it.
    pub fn field(&self) -> String {
        format!("{}.{}", self.section, self.key)
    }

    /// The value at `u` in [0, 1], rounded as it is written.
    pub fn value(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let x = if self.log {
            (self.lo.ln() + u * (self.hi.ln() - self.lo.ln())).exp()
        } else {
            self.lo + u * (self.hi - self.lo)
        };
        match self.unit {
            Unit::Count | Unit::Seconds => x.round(),
            Unit::Number => three_digits(x),
        }
    }

    /// Where `value` sits in [0, 1] (clamped: a current value outside the range is searched
    /// from its nearest edge).
    pub fn position(&self, value: f64) -> f64 {
        let u = if self.log {
            (value.max(self.lo).ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (value - self.lo) / (self.hi - self.lo)
        };
        if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// `value` as TOML.
    pub fn toml(&self, value: f64) -> String {
        match self.unit {
            Unit::Number => format!("{value}"),
            Unit::Count => format!("{}", value as u64),
            Unit::Seconds => format!(
                "\"{}\"",
                format_duration(Duration::from_secs(value.max(1.0) as u64))
            ),
        }
    }

    /// `value` for a table.
    pub fn show(&self, value: f64) -> String {
        match self.unit {
            Unit::Seconds => format_duration(Duration::from_secs(value.max(1.0) as u64)),
            _ => format!("{value}"),
        }
    }
}

fn three_digits(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(2 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

/// The knobs searched for `policy`; the batch rule's EC2 share only when the workload has
/// batch jobs. `stale_after_written`: the file sets `control.stale_after` (which then bounds
/// the interval).
pub fn knobs(policy: &Policy, has_batch: bool, stale_after_written: bool) -> Vec<TuneKnob> {
    let number = |section, key, lo, hi| TuneKnob {
        section,
        key,
        lo,
        hi,
        log: false,
        unit: Unit::Number,
    };
    let mut out = vec![
        number("target", "free_busy_ratio", 0.0, 1.0),
        TuneKnob {
            unit: Unit::Count,
            ..number("target", "min_free", 0.0, 16.0)
        },
        number("hysteresis", "band", 0.0, 0.5),
        TuneKnob {
            log: true,
            unit: Unit::Seconds,
            ..number("hysteresis", "scale_in_after", 30.0, 1800.0)
        },
    ];
    // The interval from 15 s (or the policy's, if shorter) to 5 min, but never past a
    // `stale_after` the file writes (unwritten, it follows the interval).
    let now = policy.control.interval.as_secs_f64();
    let lo = now.clamp(1.0, 15.0);
    let hi = if stale_after_written {
        policy.control.stale_after.as_secs_f64().min(300.0)
    } else {
        300.0
    };
    if hi > lo {
        out.push(TuneKnob {
            log: true,
            unit: Unit::Seconds,
            ..number("control", "interval", lo, hi)
        });
    }
    if has_batch {
        let max = policy.first_ec2().map_or(0, |(_, e)| e.max) as f64;
        out.push(TuneKnob {
            unit: Unit::Count,
            ..number("batch", "max_ec2", 0.0, max)
        });
    }
    // Every range holds what the file writes, so the search can keep it.
    let now = current(policy, &out);
    for (k, v) in out.iter_mut().zip(now) {
        let v = if k.log { v.max(1.0) } else { v };
        k.lo = k.lo.min(v);
        k.hi = k.hi.max(v);
    }
    out
}

/// The knobs of `all` named in `names` (`target.free_busy_ratio` or just `free_busy_ratio`);
/// every name that is not one of them is reported at once.
pub fn select(all: Vec<TuneKnob>, names: &[String]) -> Result<Vec<TuneKnob>, String> {
    if names.is_empty() {
        return Ok(all);
    }
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !all.iter().any(|k| k.field() == **n || k.key == n.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "--knobs: unknown {} (expected some of: {})",
            unknown
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", "),
            all.iter()
                .map(TuneKnob::field)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|k| names.iter().any(|n| k.field() == *n || k.key == n.as_str()))
        .collect())
}

/// The policy's own values of `knobs`.
pub fn current(policy: &Policy, knobs: &[TuneKnob]) -> Vec<f64> {
    knobs
        .iter()
        .map(|k| match (k.section, k.key) {
            ("target", "free_busy_ratio") => policy.target.free_busy_ratio,
            ("target", "min_free") => policy.target.min_free as f64,
            ("hysteresis", "band") => policy.hysteresis.band,
            ("hysteresis", "scale_in_after") => policy.hysteresis.scale_in_after.as_secs_f64(),
            ("control", "interval") => policy.control.interval.as_secs_f64(),
            ("batch", "max_ec2") => policy.batch.max_ec2.unwrap_or(0) as f64,
            _ => 0.0,
        })
        .collect()
}

/// The settings that write `values` into `policy`'s file. The window keeps its ratio to the
/// interval (a policy that averages over one interval keeps doing so).
pub fn settings(policy: &Policy, knobs: &[TuneKnob], values: &[f64]) -> Vec<Setting> {
    let mut out = Vec::new();
    for (k, &v) in knobs.iter().zip(values) {
        out.push(Setting {
            section: k.section,
            key: k.key,
            value: k.toml(v),
        });
        if (k.section, k.key) == ("control", "interval") {
            let ratio = policy.control.window.as_secs_f64()
                / policy.control.interval.as_secs_f64().max(1e-9);
            let window = TuneKnob {
                key: "window",
                ..k.clone()
            };
            out.push(Setting {
                section: "control",
                key: "window",
                value: window.toml((v * ratio).round()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_values_round_trip_on_both_scales() {
        let p = crate::policy::embedded_default();
        for k in knobs(&p, true, false) {
            for u in [0.0, 0.25, 0.5, 1.0] {
                let v = k.value(u);
                assert!(v >= k.lo - 1e-9 && v <= k.hi + 1e-9, "{} {v}", k.field());
                let back = k.value(k.position(v));
                assert!((back - v).abs() <= 1e-9 + 0.01 * v.abs(), "{}", k.field());
            }
        }
    }

    #[test]
    fn a_written_stale_after_bounds_the_interval() {
        let p = crate::policy::from_toml_str(
            "name = \"t\"\n[target]\nfree_busy_ratio = 0.2\nwait_slo = \"30s\"\n[control]\ninterval = \"1s\"\nstale_after = \"5s\"\n[[pool]]\nname = \"e\"\nkind = \"ec2\"\nmax = 3\nboot_time = \"2s\"\n",
            "t",
        )
        .unwrap();
        let k = knobs(&p, false, true).pop().unwrap();
        assert_eq!((k.key, k.lo, k.hi), ("interval", 1.0, 5.0));
        assert_eq!(knobs(&p, false, false).pop().unwrap().hi, 300.0);
        // The written scale_in_after (5m, the default) is inside its range; a shorter one
        // widens it.
        let k = &knobs(&p, false, true)[3];
        assert_eq!((k.key, k.lo, k.hi), ("scale_in_after", 30.0, 1800.0));
        let mut short = p.clone();
        short.hysteresis.scale_in_after = Duration::from_secs(2);
        assert_eq!(knobs(&short, false, true)[3].lo, 2.0);
    }

    #[test]
    fn the_window_follows_the_interval() {
        let p = crate::policy::embedded_default();
        let ks = knobs(&p, false, false);
        let mut values = current(&p, &ks);
        assert_eq!(ks[4].field(), "control.interval");
        values[4] = 20.0;
        assert!(
            select(ks.clone(), &["band".into(), "nope".into(), "x.y".into()])
                .is_err_and(|e| e.contains("\"nope\", \"x.y\""))
        );
        assert_eq!(
            select(ks.clone(), &["target.min_free".into()])
                .unwrap()
                .len(),
            1
        );
        let s = settings(&p, &ks, &values);
        assert!(
            s.iter()
                .any(|s| s.key == "interval" && s.value == "\"20s\"")
        );
        assert!(s.iter().any(|s| s.key == "window" && s.value == "\"20s\""));
    }
}
