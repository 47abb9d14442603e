//! What the load generator counts: heartbeats sent, accepted and failed (by kind), each
//! accepted heartbeat's latency and each heartbeat's schedule lag (how late the request
//! started compared with when it was due), and the summary printed at the end. Every sample
//! is kept (a few bytes each); percentiles are read from the sorted samples.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Counts and samples, shared by every simulated worker.
#[derive(Debug, Default)]
pub struct Tally {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    sent: u64,
    accepted: u64,
    failed: BTreeMap<String, u64>,
    /// Latency of accepted heartbeats, microseconds.
    latency_us: Vec<u32>,
    /// Start of the request minus when it was due, microseconds, for every heartbeat.
    lag_us: Vec<u32>,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Tally {
    /// Records one heartbeat: how late it started, how long it took, and whether it failed.
    pub fn record(&self, lag: Duration, took: Duration, failure: Option<String>) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.sent += 1;
        c.lag_us.push(micros(lag));
        match failure {
            None => {
                c.accepted += 1;
                c.latency_us.push(micros(took));
            }
            Some(kind) => *c.failed.entry(kind).or_default() += 1,
        }
    }

    /// `sent, accepted, failed` so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        let c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (c.sent, c.accepted, c.sent - c.accepted)
    }

    /// The final report, one `key: values` line per figure. `expected` is how many heartbeats
    /// the schedule held: dropped counts those never sent too.
    pub fn report(&self, expected: u64) -> String {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let failures = if c.failed.is_empty() {
            "none".to_string()
        } else {
            let kinds: Vec<String> = c.failed.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            kinds.join(", ")
        };
        let (sent, accepted) = (c.sent, c.accepted);
        let latency = Percentiles::of(&mut c.latency_us);
        let lag = Percentiles::of(&mut c.lag_us);
        format!(
            "heartbeats: expected {expected} sent {sent} accepted {accepted} dropped {}\n\
             failures: {failures}\n\
             latency_ms: {latency}\n\
             schedule_lag_ms: {lag}",
            expected.saturating_sub(accepted),
        )
    }
}

/// p50, p90, p99, p99.9 and max of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// Sorts `us` (microseconds) and reads the nearest-rank percentiles; zeros when empty.
    pub fn of(us: &mut [u32]) -> Self {
        us.sort_unstable();
        let at = |q: f64| {
            if us.is_empty() {
                return 0.0;
            }
            let rank = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len());
            f64::from(us[rank - 1]) / 1000.0
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
            self.p50, self.p90, self.p99, self.p999, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut us: Vec<u32> = (1..=1000).rev().map(|n| n * 1000).collect();
        let p = Percentiles::of(&mut us);
        assert_eq!((p.p50, p.p99, p.p999, p.max), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(Percentiles::of(&mut []).max, 0.0);
    }

    #[test]
    fn dropped_is_expected_minus_accepted() {
        let t = Tally::default();
        let ms = Duration::from_millis;
        t.record(ms(0), ms(2), None);
        t.record(ms(1), ms(5_000), Some("timeout".into()));
        t.record(ms(0), ms(1), Some("status 503".into()));
        assert_eq!(t.counts(), (3, 1, 2));
        let r = t.report(4);
        assert!(r.contains("expected 4 sent 3 accepted 1 dropped 3"), "{r}");
        assert!(r.contains("failures: status 503: 1, timeout: 1"), "{r}");
        assert!(r.contains("latency_ms: p50 2.000"), "{r}");
    }
}
