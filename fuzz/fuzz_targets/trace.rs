//! Fuzz target: trace CSV text (a job log `submit_s,duration_s` or an arrival series
//! `t_seconds,arrivals`) through `sim::trace::parse`, then through `to_jobs`. Neither may
//! panic; accepted rows must be finite, ≥ 0 and in time order; a trace too large to expand
//! must be refused with an error, and the jobs drawn from a small one must start at or after
//! zero, in order.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::sim::trace::{self, DurationDist, RawTrace, TraceError};

/// Traces that expand to more jobs than this (but fewer than `trace::MAX_JOBS`) are valid
/// workloads that are only big: expanding them would test memory, not code, so they are skipped.
const EXPAND_UP_TO: f64 = 10_000.0;

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
    let rows = match &raw {
        RawTrace::JobLog(rows) | RawTrace::Arrivals(rows) => rows,
    };
    assert!(!rows.is_empty());
    for (i, &(t, v)) in rows.iter().enumerate() {
        assert!(t.is_finite() && t >= 0.0 && v.is_finite() && v >= 0.0);
        assert!(i == 0 || rows[i - 1].0 <= t);
    }
    // Vary the scale with the input so that both thinning and replication are reached.
    let scale: f64 = [1.0, 0.5, 2.5][data.len() % 3];
    let durations = DurationDist::Exponential { mean: 20.0 };
    let expected = raw.expected_jobs(scale);
    if expected.is_nan() || expected > trace::MAX_JOBS {
        let refused = trace::to_jobs(&raw, scale, durations, 7);
        assert!(matches!(refused, Err(TraceError::TooLarge { .. })));
        return;
    }
    // Stochastic rounding adds at most one job per row to the expectation.
    if expected + rows.len() as f64 > EXPAND_UP_TO {
        return;
    }
    let jobs = trace::to_jobs(&raw, scale, durations, 7).expect("a small trace expands");
    assert!(jobs.iter().all(|j| j.submit_ms >= 0));
    assert!(jobs.windows(2).all(|w| w[0].submit_ms <= w[1].submit_ms));
});
