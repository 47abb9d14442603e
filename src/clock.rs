//! Time for the live service: the [`Clock`] trait, the wall clock ([`SystemClock`]), a clock
//! tests move by hand ([`ManualClock`]) and a [`Stopwatch`] for measuring how long work took.
//!
//! This is the only file that reads the wall clock (`clippy.toml` bans `Instant::now` and
//! `SystemTime::now` everywhere else), so everything else can be tested with a fixed time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::model::Timestamp;

/// A source of the current time. Contract: `now` never goes backwards for a given clock
/// (the system clock is read through a monotonic offset), and is cheap to call.
pub trait Clock: Send + Sync + 'static {
    /// The current instant, in milliseconds since the Unix epoch.
    fn now(&self) -> Timestamp;
}

/// The wall clock: Unix time at start-up, advanced by a monotonic clock, so a step of the
/// system time (NTP) never moves `now` backwards while the service runs.
#[derive(Debug, Clone)]
pub struct SystemClock {
    start_unix_ms: i64,
    start: Instant,
}

impl SystemClock {
    /// Reads the wall clock once.
    #[allow(clippy::disallowed_methods)]
    pub fn new() -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        SystemClock {
            start_unix_ms: unix.as_millis() as i64,
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.start_unix_ms).plus(self.start.elapsed())
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(at.as_millis())))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }

    /// Sets the clock to `at` (tests only; may move it backwards).
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Measures elapsed monotonic time, e.g. how long one `decide` call took.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring.
    #[allow(clippy::disallowed_methods)]
    pub fn start() -> Self {
        Stopwatch(Instant::now())
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// The monotonic clock, for code that measures rates and intervals (the backfill's progress).
#[allow(clippy::disallowed_methods)]
pub fn monotonic_now() -> Instant {
    Instant::now()
}

/// Seconds since the Unix epoch, read from the wall clock.
#[allow(clippy::disallowed_methods)]
pub fn unix_now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = ManualClock::new(Timestamp::from_millis(1_000));
        let d = c.clone();
        assert_eq!(c.now(), Timestamp::from_millis(1_000));
        d.advance(Duration::from_secs(2));
        assert_eq!(c.now(), Timestamp::from_millis(3_000));
    }

    #[test]
    fn system_clock_is_unix_time_and_monotonic() {
        let c = SystemClock::new();
        let a = c.now();
        assert!(a.as_millis() > 1_600_000_000_000, "{a}");
        assert!(c.now() >= a);
    }
}
