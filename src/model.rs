//! Domain nouns shared by every seam: instants, workers, pools and queue statistics.
//!
//! `Timestamp` counts milliseconds since an epoch chosen by whoever builds it: the Unix epoch in
//! the live service, the start of the trace in the simulator. The control code only ever
//! subtracts timestamps, so both work.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since an epoch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// The instant `s` seconds after the epoch (rounded to the millisecond).
    pub fn from_secs_f64(s: f64) -> Self {
        Timestamp((s * 1000.0).round() as i64)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The instant in RFC 3339, UTC, to the millisecond (`2026-12-07T06:10:47.123Z`), as
    /// `/status` shows it.
    pub fn rfc3339(self) -> String {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            of_day / 3600,
            of_day % 3600 / 60,
            of_day % 60
        )
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// How long after `earlier` this instant is; zero if it is not later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// This instant moved forward by `d`.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    /// This instant moved back by `d`.
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={:.3}s", self.as_secs_f64())
    }
}

/// Names as people read them in a log line or a message: `i-1,i-2,i-3`; past 20, the first
/// 20 and `… (N in all)`.
pub fn names<T: fmt::Display>(items: &[T]) -> String {
    const SHOWN: usize = 20;
    let mut out = items
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if items.len() > SHOWN {
        out.push_str(&format!(",… ({} in all)", items.len()));
    }
    out
}

/// The name of a worker: an EC2 instance id, or a datacenter host name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkerId(pub String);

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for WorkerId {
    fn from(s: &str) -> Self {
        WorkerId(s.to_string())
    }
}

/// What a worker is doing, as last observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkerState {
    /// Launched, not yet ready to take jobs.
    Booting,
    /// Ready and waiting for a job since `since`.
    Idle { since: Timestamp },
    /// Running a job since `since`.
    Busy { since: Timestamp },
    /// Told to finish its current job and take no more; `busy` says whether a job still runs.
    Draining { busy: bool },
    /// Finished the drain it was asked for (idle, taking nothing): safe to terminate.
    Drained,
    /// Silent for longer than `lost_after` while its instance still runs: no longer capacity,
    /// but billed until terminated.
    Lost,
}

/// One worker as observed at the start of a tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    /// Stable name; scale-in names workers, never counts.
    pub id: WorkerId,
    /// When it was launched (EC2) or first seen (datacenter).
    pub launched_at: Timestamp,
    /// Its state.
    #[serde(flatten)]
    pub state: WorkerState,
}

impl Worker {
    /// Whether a job runs on it right now (busy, or draining with a job).
    pub fn is_busy(&self) -> bool {
        matches!(
            self.state,
            WorkerState::Busy { .. } | WorkerState::Draining { busy: true }
        )
    }
}

/// Queue message counts (may be averages over a window, hence `f64`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueStats {
    /// Messages waiting to be received (jobs nobody has started).
    pub visible: f64,
    /// Messages received and not yet deleted (jobs running).
    pub in_flight: f64,
    /// Messages sent with a delay that are not visible yet.
    pub delayed: f64,
}

/// A wait in seconds as people read it: `12.3 s` under two minutes, `34.5 min` under two
/// hours, `7.20 h` beyond.
pub fn format_wait(s: f64) -> String {
    if !s.is_finite() {
        return format!("{s} s");
    }
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.2} h", s / 3600.0)
    }
}

/// Formats a duration the way policies write them: `90s`, `5m`, `1h30m`.
pub fn format_duration(d: Duration) -> String {
    let total = d.as_secs();
    let ms = d.subsec_millis();
    if total == 0 && ms > 0 {
        return format!("{ms}ms");
    }
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Parses a human duration: one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`
/// (`90s`, `5m`, `1h30m`, `1.5h`). Returns a readable message on failure.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration (expected e.g. \"90s\", \"5m\", \"1h30m\")".into());
    }
    let mut total_ms = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "\"{text}\" is not a duration: expected a number before the unit"
            ));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| {
            format!(
                "\"{text}\" is not a duration: bad number \"{}\"",
                &rest[..num_len]
            )
        })?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            "" => {
                return Err(format!(
                    "\"{text}\" is not a duration: missing unit (ms, s, m, h, d)"
                ));
            }
            u => {
                return Err(format!(
                    "\"{text}\" is not a duration: unknown unit \"{u}\" (ms, s, m, h, d)"
                ));
            }
        };
        rest = &rest[unit_len..];
        total_ms += value * factor;
    }
    if !total_ms.is_finite() || total_ms > 1e15 {
        return Err(format!("\"{text}\" is too long a duration"));
    }
    Ok(Duration::from_millis(total_ms.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_show_in_the_unit_that_reads_best() {
        assert_eq!(format_wait(0.04), "0.0 s");
        assert_eq!(format_wait(29.96), "30.0 s");
        assert_eq!(format_wait(791.5), "13.2 min");
        assert_eq!(format_wait(25_933.4), "7.20 h");
    }

    #[test]
    fn instants_show_in_rfc3339() {
        let at = |ms| Timestamp::from_millis(ms).rfc3339();
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_796_623_847_123), "2026-12-07T06:10:47.123Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn durations_parse_and_format_round_trip() {
        for (text, secs) in [
            ("90s", 90),
            ("5m", 300),
            ("1h30m", 5400),
            ("1.5h", 5400),
            ("2d", 172_800),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(
            parse_duration("m5")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(parse_duration("1..2s").unwrap_err().contains("bad number"));
    }

    #[test]
    fn timestamps_never_go_negative_in_differences() {
        let a = Timestamp::from_millis(1_000);
        let b = Timestamp::from_millis(4_000);
        assert_eq!(b.since(a), Duration::from_secs(3));
        assert_eq!(a.since(b), Duration::ZERO);
        assert_eq!(a.plus(Duration::from_secs(3)), b);
    }
}

/// One instance of this policy, as listed (or a command-pool start not answered yet, which
/// `--state-file` keeps across a restart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    /// The `spillway:pool` tag.
    pub pool: String,
    /// EC2's LaunchTime.
    pub launched_at: Timestamp,
}
