//! Fuzz target: trace CSV text (a job log `submit_s,duration_s` or an arrival series
//! `t_seconds,arrivals`) through `sim::trace::parse`, then, when the trace is small enough to
//! expand cheaply, through `to_jobs`. Neither may panic; accepted rows must be finite, ≥ 0
//! and in time order, and the jobs drawn from them must start at or after zero, in order.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::sim::trace::{self, DurationDist, RawTrace};

/// Above this many expected jobs `to_jobs` is skipped: the fuzzer is after panics, not memory.
const MAX_JOBS: f64 = 10_000.0;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let raw = match trace::parse(text, "fuzz.csv") {
        Ok(raw) => raw,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let (rows, expected) = match &raw {
        RawTrace::JobLog(rows) => (rows, rows.len() as f64),
        RawTrace::Arrivals(rows) => (rows, rows.iter().map(|r| r.1 + 1.0).sum()),
    };
    assert!(!rows.is_empty());
    for (i, &(t, v)) in rows.iter().enumerate() {
        assert!(t.is_finite() && t >= 0.0 && v.is_finite() && v >= 0.0);
        assert!(i == 0 || rows[i - 1].0 <= t);
    }
    // Vary the scale with the input so that both thinning and replication are reached.
    let scale: f64 = [1.0, 0.5, 2.5][data.len() % 3];
    if expected * scale.max(1.0) > MAX_JOBS {
        return;
    }
    let jobs = trace::to_jobs(&raw, scale, DurationDist::Exponential { mean: 20.0 }, 7);
    assert!(jobs.iter().all(|j| j.submit_ms >= 0));
    assert!(jobs.windows(2).all(|w| w[0].submit_ms <= w[1].submit_ms));
});
