//! Faults the simulator can inject, to check the controller stays safe through them: EC2 API
//! outages (listing, launches and terminations all fail, running instances keep working), spot
//! interruptions (instances taken away, their jobs back in the queue), and restarts and
//! failovers of the controller itself (it resumes its memory as from `--state-file`, and has
//! heard no worker until each one's next heartbeat). Launch failures are
//! `SimConfig::launch_failure_rate`.

use crate::model::parse_duration;

/// Faults to inject into one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Windows `[from, to)` in ms during which the EC2 API cannot be reached.
    pub ec2_outages: Vec<(i64, i64)>,
    /// Spot interruptions per EC2 instance-hour (a Poisson rate; 0.05 = 5% an hour).
    pub spot_interruptions_per_hour: f64,
    /// The controller restarts (a crash or a deploy) every this many ms, from the start.
    pub restart_every_ms: Option<i64>,
    /// Another replica takes over at these times (ms): like a restart, it has heard no worker.
    pub failovers_ms: Vec<i64>,
}

impl Faults {
    /// Whether the controller restarted or failed over after `after` and by `upto` (ms).
    pub fn restarted_between(&self, after: i64, upto: i64) -> bool {
        let every = self
            .restart_every_ms
            .filter(|&e| e > 0)
            .is_some_and(|e| upto.div_euclid(e) > after.div_euclid(e) && upto >= e);
        every || self.failovers_ms.iter().any(|&t| t > after && t <= upto)
    }

    /// Whether the EC2 API is unreachable at `now` (ms).
    pub fn ec2_down(&self, now: i64) -> bool {
        self.ec2_outages.iter().any(|&(a, b)| now >= a && now < b)
    }
}

/// Parses an instant from the start (a duration such as `37h30m`, or seconds) into ms.
pub fn parse_instant(spec: &str) -> Result<i64, String> {
    let s = spec.trim();
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok((v * 1000.0).round() as i64),
        Ok(_) => Err(format!("{s} must be 0 or more")),
        Err(_) => parse_duration(s)
            .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
            .map_err(|e| format!("{s:?}: {e}")),
    }
}

/// Parses `FROM..TO` (durations from the start, e.g. `37h..37h30m`, or seconds) into ms.
pub fn parse_window(spec: &str) -> Result<(i64, i64), String> {
    let (a, b) = spec
        .split_once("..")
        .ok_or_else(|| format!("{spec:?}: expected FROM..TO, e.g. 37h..37h30m"))?;
    let at = |s: &str| parse_instant(s).map_err(|e| format!("{spec:?}: {e}"));
    let (from, to) = (at(a)?, at(b)?);
    if to <= from {
        return Err(format!("{spec:?}: the window ends before it starts"));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_bound_the_outage() {
        assert_eq!(parse_window("37h..37h30m"), Ok((133_200_000, 135_000_000)));
        assert_eq!(parse_window("60..120"), Ok((60_000, 120_000)));
        assert!(parse_window("5h").is_err());
        assert!(parse_window("5h..4h").is_err());
        assert!(parse_window("x..4h").unwrap_err().contains("\"x\""));
        let f = Faults {
            ec2_outages: vec![(1_000, 2_000)],
            ..Faults::default()
        };
        assert!(!f.ec2_down(999) && f.ec2_down(1_000) && f.ec2_down(1_999) && !f.ec2_down(2_000));
    }
}
