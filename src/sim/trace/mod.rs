//! Workload traces: reading the CSV files, drawing durations, and rescaling the load.
//!
//! Two formats, told apart by the header: a job log `submit_s,duration_s` (one job per row) and
//! an arrival series `t_seconds,arrivals` (a count per time bin; durations are drawn from a
//! [`DurationDist`]). Every malformed row is reported with file, line and field before anything
//! runs.

use std::path::Path;

pub use super::durations::DurationDist;
use super::rng::SimRng;

mod parse;
pub use parse::parse;

/// Which queue a job goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobClass {
    /// People are waiting for it.
    Interactive,
    /// Part of a backfill: served after interactive work.
    Batch,
}

/// One render job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Job {
    /// Submission time, milliseconds from the trace start.
    pub submit_ms: i64,
    /// Run time at speed 1.0, seconds.
    pub duration_s: f64,
    pub class: JobClass,
    /// The queue it is submitted to: an index into the workload's queue names as read, then,
    /// once bound to a policy with job classes, into the policy's `[[queue]]`s (0 otherwise).
    pub queue: u16,
}

/// The header of a job log.
pub const JOB_LOG_HEADER: &str = "submit_s,duration_s";
/// The header of a job log that names each job's queue (job classes).
pub const QUEUED_JOB_LOG_HEADER: &str = "submit_s,duration_s,queue";
/// The most queues a trace names.
pub const MAX_QUEUES: usize = 64;
/// The header of an arrival series.
pub const ARRIVALS_HEADER: &str = "t_seconds,arrivals";

/// A trace's text: `header`, then one `a,b` row per pair, in milliseconds' precision.
pub fn to_csv(header: &str, rows: &[(f64, f64)]) -> String {
    let mut out = format!("{header}\n");
    for (a, b) in rows {
        out.push_str(&format!("{a:.3},{b:.3}\n"));
    }
    out
}

/// A trace file as read, before durations are drawn or load is scaled.
#[derive(Debug, Clone, PartialEq)]
pub enum RawTrace {
    /// `submit_s,duration_s` rows.
    JobLog(Vec<(f64, f64)>),
    /// `submit_s,duration_s,queue` rows: the jobs' rows, each row's queue (an index into
    /// `names`), and the queue names in the order they first appear.
    QueuedJobLog {
        rows: Vec<(f64, f64)>,
        queue: Vec<u16>,
        names: Vec<String>,
    },
    /// `t_seconds,arrivals` rows.
    Arrivals(Vec<(f64, f64)>),
}

impl RawTrace {
    /// The queues a queued job log names, in order (`Job::queue` indexes them); empty for
    /// other traces.
    pub fn queue_names(&self) -> Vec<String> {
        match self {
            RawTrace::QueuedJobLog { names, .. } => names.clone(),
            _ => Vec::new(),
        }
    }

    /// How many jobs [`to_jobs`] makes from this trace at `scale`, on average.
    pub fn expected_jobs(&self, scale: f64) -> f64 {
        match self {
            RawTrace::JobLog(rows) | RawTrace::QueuedJobLog { rows, .. } => {
                rows.len() as f64 * scale
            }
            RawTrace::Arrivals(rows) => rows.iter().map(|r| r.1).sum::<f64>() * scale,
        }
    }
}

/// The most jobs [`to_jobs`] expands a trace into (about 2.4 GB of them); a larger trace or
/// `--scale` is refused before anything is allocated.
pub const MAX_JOBS: f64 = 100_000_000.0;
/// The longest span a trace may cover, seconds from its first row (about 3 years; the shared
/// LANL log covers 2): the simulator samples the whole span every minute.
pub const MAX_SPAN_S: f64 = 1e8;
/// The longest job a trace may hold, seconds (about 115 days).
pub const MAX_JOB_S: f64 = 1e7;

/// A number as a message shows it: plain up to a billion, in exponent form beyond (1e300
/// has 301 digits).
pub fn figure(v: f64) -> String {
    if v.abs() < 1e9 {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Errors from reading a trace; the caller prints them and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}: cannot read trace: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", .problems.join("\n"))]
    Invalid { problems: Vec<String> },
    /// The trace at this scale asks for more than [`MAX_JOBS`] jobs.
    #[error(
        "the trace expands to {expected:.3e} jobs at this --scale, more than the {MAX_JOBS:.0} one simulation holds: lower --scale or split the trace"
    )]
    TooLarge { expected: f64, scale: f64 },
}

/// Reads and parses a trace file.
pub fn read(path: &Path) -> Result<RawTrace, TraceError> {
    let text = std::fs::read_to_string(path).map_err(|source| TraceError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Turns a raw trace into jobs: draws durations for arrival series and scales the load by
/// `scale` (see docs/reports.md: a job log thins or replicates jobs, shifting copy k by k days;
/// an arrival series multiplies bin counts with stochastic rounding). Refuses a trace that
/// would make more than [`MAX_JOBS`] jobs.
pub fn to_jobs(
    raw: &RawTrace,
    scale: f64,
    durations: DurationDist,
    seed: u64,
) -> Result<Vec<Job>, TraceError> {
    let expected = raw.expected_jobs(scale);
    if expected.is_nan() || expected > MAX_JOBS {
        return Err(TraceError::TooLarge { expected, scale });
    }
    let mut rng = SimRng::new(seed, 0x7ace);
    // Sized once (a million-job log otherwise moves its jobs some twenty times as it grows).
    let mut jobs = Vec::with_capacity((expected.ceil() as usize).min(1 << 24) + 16);
    match raw {
        RawTrace::JobLog(rows) | RawTrace::QueuedJobLog { rows, .. } => {
            let queue = match raw {
                RawTrace::QueuedJobLog { queue, .. } => queue.as_slice(),
                _ => &[],
            };
            let first = rows.first().map_or(0.0, |r| r.0);
            let last = rows.last().map_or(0.0, |r| r.0);
            let span = (last - first).max(1.0);
            for (i, &(submit, duration)) in rows.iter().enumerate() {
                let q = queue.get(i).copied().unwrap_or(0);
                let copies = rng.round_stochastic(scale);
                for k in 0..copies {
                    let t = if k == 0 {
                        submit - first
                    } else {
                        let jitter = (rng.uniform() * 2.0 - 1.0) * 30.0;
                        ((submit - first) + k as f64 * 86_400.0 + jitter).rem_euclid(span)
                    };
                    jobs.push(Job {
                        queue: q,
                        ..job(t, duration)
                    });
                }
            }
            jobs.sort_by_key(|j| j.submit_ms);
        }
        RawTrace::Arrivals(rows) => {
            let first = rows.first().map_or(0.0, |r| r.0);
            for (i, &(t, n)) in rows.iter().enumerate() {
                let width = rows.get(i + 1).map_or(60.0, |next| (next.0 - t).max(0.0));
                let count = rng.round_stochastic(n * scale);
                let mut offsets: Vec<f64> = (0..count).map(|_| rng.uniform() * width).collect();
                offsets.sort_by(f64::total_cmp);
                for off in offsets {
                    jobs.push(job(t - first + off, durations.sample(&mut rng)));
                }
            }
        }
    }
    Ok(jobs)
}

fn job(t: f64, duration_s: f64) -> Job {
    Job {
        submit_ms: (t * 1000.0).round() as i64,
        duration_s,
        class: JobClass::Interactive,
        queue: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_a_job_log_keeps_the_expected_count_and_time_of_day() {
        let rows: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64 * 600.0, 30.0)).collect();
        let raw = RawTrace::JobLog(rows);
        let jobs = to_jobs(&raw, 2.5, DurationDist::Fixed(1.0), 1).unwrap();
        assert!((jobs.len() as f64 - 2500.0).abs() < 100.0, "{}", jobs.len());
        assert!(jobs.windows(2).all(|w| w[0].submit_ms <= w[1].submit_ms));
        let thinned = to_jobs(&raw, 0.5, DurationDist::Fixed(1.0), 1).unwrap();
        assert!((thinned.len() as f64 - 500.0).abs() < 60.0);
    }

    #[test]
    fn arrival_series_scale_bin_counts() {
        let raw = RawTrace::Arrivals((0..100).map(|i| (i as f64 * 60.0, 10.0)).collect());
        let jobs = to_jobs(&raw, 1.5, DurationDist::Fixed(20.0), 3).unwrap();
        assert_eq!(jobs.len(), 1500);
        assert!(jobs.iter().all(|j| j.duration_s == 20.0));
    }

    #[test]
    fn a_trace_too_large_to_expand_is_refused_not_a_panic() {
        // `spillway simulate --trace` on this two-line file used to panic with "capacity
        // overflow": the parser accepts the row, and 1e300 arrivals became u64::MAX jobs.
        let err = parse("t_seconds,arrivals\n0,1e300\n", "huge.csv").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("huge.csv:2: arrivals: 1e300 arrivals in one row"),
            "{err}"
        );
        let huge = RawTrace::Arrivals(vec![(0.0, 1e300)]);
        let err = to_jobs(&huge, 1.0, DurationDist::Fixed(1.0), 1).unwrap_err();
        assert!(matches!(err, TraceError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("lower --scale"), "{err}");
        // The same through --scale on a one-job log, and past f64's range.
        let one = parse("submit_s,duration_s\n0,10\n", "one.csv").unwrap();
        assert!(to_jobs(&one, 1e300, DurationDist::Fixed(1.0), 1).is_err());
        let wide = RawTrace::Arrivals(vec![(0.0, 1e308), (60.0, 1e308)]);
        assert!(to_jobs(&wide, 1.0, DurationDist::Fixed(1.0), 1).is_err());
        assert_eq!(
            to_jobs(&one, 1.0, DurationDist::Fixed(1.0), 1)
                .unwrap()
                .len(),
            1
        );
    }
}
