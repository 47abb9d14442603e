//! `--rate`: parsing `500/s`-style limits and a token bucket on messages shared by all
//! in-flight batches.

use std::str::FromStr;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::clock::monotonic_now;

/// A message rate limit, e.g. `500/s`, `500` (per second), `30/m`, `3600/h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, unit) = s.trim().split_once('/').unwrap_or((s.trim(), "s"));
        let seconds = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            other => return Err(format!("unknown rate unit {other:?} (use /s, /m or /h)")),
        };
        let count: f64 = count
            .trim()
            .parse()
            .map_err(|_| format!("rate {s:?} is not a number of messages, e.g. 500/s"))?;
        if !(count.is_finite() && count > 0.0) {
            return Err(format!("rate {s:?} must be positive"));
        }
        Ok(Rate {
            per_second: count / seconds,
        })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/s", self.per_second)
    }
}

/// A token bucket refilled at `rate`; a caller takes one token per message. The balance may go
/// negative, so a batch larger than the bucket still passes, and later callers wait their turn.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    capacity: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    /// A bucket holding a tenth of a second of messages (at least one batch of 10), full at start.
    pub fn new(rate: Rate) -> Self {
        let capacity = (rate.per_second / 10.0).max(10.0);
        RateLimiter {
            per_second: rate.per_second,
            capacity,
            state: Mutex::new(Bucket {
                tokens: capacity,
                refilled_at: monotonic_now(),
            }),
        }
    }

    /// Waits until `messages` may be sent.
    pub async fn acquire(&self, messages: usize) {
        let wait = {
            let mut bucket = self.state.lock().await;
            let now = monotonic_now();
            let refill = now.duration_since(bucket.refilled_at).as_secs_f64() * self.per_second;
            bucket.tokens = (bucket.tokens + refill).min(self.capacity);
            bucket.refilled_at = now;
            bucket.tokens -= messages as f64;
            if bucket.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-bucket.tokens / self.per_second)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units() {
        assert_eq!("500/s".parse::<Rate>().unwrap().per_second, 500.0);
        assert_eq!("500".parse::<Rate>().unwrap().per_second, 500.0);
        assert_eq!("30/m".parse::<Rate>().unwrap().per_second, 0.5);
        assert_eq!("7200/h".parse::<Rate>().unwrap().per_second, 2.0);
        assert!("0/s".parse::<Rate>().is_err());
        assert!("-1/s".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        assert!("5/day".parse::<Rate>().is_err());
    }

    #[tokio::test]
    async fn the_bucket_holds_callers_to_the_rate() {
        let limiter = RateLimiter::new(Rate { per_second: 1000.0 });
        let start = monotonic_now();
        // 100 tokens at start, then 1000 per second: 300 messages need about 0.2 s.
        for _ in 0..30 {
            limiter.acquire(10).await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!((0.19..0.6).contains(&took), "took {took}");
    }
}
