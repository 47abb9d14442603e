//! Workload traces: reading the CSV files, drawing durations, and rescaling the load.
//!
//! Two formats, told apart by the header: a job log `submit_s,duration_s` (one job per row) and
//! an arrival series `t_seconds,arrivals` (a count per time bin; durations are drawn from a
//! [`DurationDist`]). Every malformed row is reported with file, line and field before anything
//! runs.

use std::path::Path;

pub use super::durations::DurationDist;
use super::rng::SimRng;

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
}

/// The header of a job log.
pub const JOB_LOG_HEADER: &str = "submit_s,duration_s";
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
    /// `t_seconds,arrivals` rows.
    Arrivals(Vec<(f64, f64)>),
}

impl RawTrace {
    /// How many jobs [`to_jobs`] makes from this trace at `scale`, on average.
    pub fn expected_jobs(&self, scale: f64) -> f64 {
        match self {
            RawTrace::JobLog(rows) => rows.len() as f64 * scale,
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

/// Parses trace text; `origin` names it in messages. Lists every bad row (the first 50).
pub fn parse(text: &str, origin: &str) -> Result<RawTrace, TraceError> {
    let mut lines = text.lines().enumerate();
    let raw_header = lines.next().map(|(_, h)| h.trim()).unwrap_or_default();
    let header = raw_header.to_ascii_lowercase();
    let (is_log, names) = match header.replace(' ', "").as_str() {
        JOB_LOG_HEADER => (true, ["submit_s", "duration_s"]),
        ARRIVALS_HEADER => (false, ["t_seconds", "arrivals"]),
        _ if raw_header.starts_with('{') => {
            return Err(TraceError::Invalid {
                problems: vec![format!(
                    "{origin}:1: this is a JSON Lines file (a `spillway run --record` file?), not a trace: turn a record into a job log with `spillway trace from-record {origin} -o trace.csv`"
                )],
            });
        }
        _ => {
            // Quoted as written, shortened: a whole line of data says little more.
            let shown: String = raw_header.chars().take(60).collect();
            let cut = if raw_header.chars().count() > 60 {
                "…"
            } else {
                ""
            };
            return Err(TraceError::Invalid {
                problems: vec![format!(
                    "{origin}:1: header \"{shown}{cut}\" is not a trace header (expected \"submit_s,duration_s\" or \"t_seconds,arrivals\")"
                )],
            });
        }
    };
    // A row a line at most: sized once.
    let mut rows = Vec::with_capacity(text.bytes().filter(|&b| b == b'\n').count() + 1);
    let mut problems = Vec::new();
    let mut bad = 0usize;
    let mut last_t = f64::NEG_INFINITY;
    let mut first_t = None;
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut complain = |msg: String| {
            bad += 1;
            if problems.len() < 50 {
                problems.push(format!("{origin}:{}: {msg}", i + 1));
            }
        };
        // Two fields, found without collecting them (a trace may have millions of rows); the
        // commas are counted only on a row that has too many.
        let (fields, found) = match line.split_once(',') {
            None => ([line, ""], 1),
            Some((a, b)) if b.contains(',') => ([a, b], 2 + b.matches(',').count()),
            Some((a, b)) => ([a.trim(), b.trim()], 2),
        };
        if found != 2 {
            complain(format!(
                "expected 2 fields ({}), found {found}",
                names.join(","),
            ));
            continue;
        }
        let mut vals = [0.0; 2];
        let mut ok = true;
        for k in 0..2 {
            match plain_decimal(fields[k]).map_or_else(|| fields[k].parse::<f64>(), Ok) {
                Ok(v) if v.is_finite() && v >= 0.0 => vals[k] = v,
                _ => {
                    complain(format!(
                        "{}: \"{}\" is not a number ≥ 0",
                        names[k], fields[k]
                    ));
                    ok = false;
                }
            }
        }
        if !ok {
            continue;
        }
        if vals[0] < last_t {
            complain(format!(
                "{}: {} goes back in time (previous row {last_t})",
                names[0], vals[0]
            ));
            continue;
        }
        let first = *first_t.get_or_insert(vals[0]);
        if vals[0] - first > MAX_SPAN_S {
            complain(format!(
                "{}: {} is {:.3e} s after the first row, beyond the longest span a simulation \
                 covers ({MAX_SPAN_S:.0e} s, about 3 years): split the trace",
                names[0],
                figure(vals[0]),
                vals[0] - first
            ));
            continue;
        }
        if !is_log && vals[1] > MAX_JOBS {
            complain(format!(
                "{}: {} arrivals in one row is more than the {MAX_JOBS:.0} jobs one simulation \
                 holds",
                names[1],
                figure(vals[1])
            ));
            continue;
        }
        if is_log && vals[1] > MAX_JOB_S {
            complain(format!(
                "{}: {} s is longer than the longest job a simulation holds ({MAX_JOB_S:.0e} s)",
                names[1],
                figure(vals[1])
            ));
            continue;
        }
        last_t = vals[0];
        rows.push((vals[0], vals[1]));
    }
    if bad > 0 {
        if bad > problems.len() {
            problems.push(format!(
                "{origin}: … and {} more bad rows",
                bad - problems.len()
            ));
        }
        return Err(TraceError::Invalid { problems });
    }
    if rows.is_empty() {
        return Err(TraceError::Invalid {
            problems: vec![format!("{origin}: the trace has no rows")],
        });
    }
    Ok(if is_log {
        RawTrace::JobLog(rows)
    } else {
        RawTrace::Arrivals(rows)
    })
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
        RawTrace::JobLog(rows) => {
            let first = rows.first().map_or(0.0, |r| r.0);
            let last = rows.last().map_or(0.0, |r| r.0);
            let span = (last - first).max(1.0);
            for &(submit, duration) in rows {
                let copies = rng.round_stochastic(scale);
                for k in 0..copies {
                    let t = if k == 0 {
                        submit - first
                    } else {
                        let jitter = (rng.uniform() * 2.0 - 1.0) * 30.0;
                        ((submit - first) + k as f64 * 86_400.0 + jitter).rem_euclid(span)
                    };
                    jobs.push(job(t, duration));
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

/// A number written as plain digits with at most one point and 15 significant digits (what
/// trace files hold), read without the general parser: the digits as an integer divided by a
/// power of ten, both exact in an f64, so the quotient is the correctly rounded value
/// `str::parse` gives (Clinger's fast path). `None` for anything else (signs, exponents, more
/// digits), which the general parser reads.
fn plain_decimal(s: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (mut mantissa, mut digits, mut after_point) = (0u64, 0usize, None::<usize>);
    for &b in s.as_bytes() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                if let Some(n) = after_point.as_mut() {
                    *n += 1;
                }
            }
            b'.' if after_point.is_none() => after_point = Some(0),
            _ => return None,
        }
        if digits > 15 {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    Some(mantissa as f64 / POW10[after_point.unwrap_or(0)])
}

fn job(t: f64, duration_s: f64) -> Job {
    Job {
        submit_ms: (t * 1000.0).round() as i64,
        duration_s,
        class: JobClass::Interactive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_read_as_the_general_parser_reads_them() {
        let typical = [
            "0",
            "0.0",
            "7",
            "125001.669",
            "0.400",
            "1.5",
            "3.",
            ".5",
            "999999999999999",
            "0.00000000000001",
            "12345.678901234",
            "0.1",
            "0.3",
            "86400",
            "17304.25",
        ];
        for s in typical {
            assert_eq!(
                plain_decimal(s).map(f64::to_bits),
                Some(s.parse::<f64>().unwrap().to_bits()),
                "{s}"
            );
        }
        // Anything else, sixteen digits or more (leading zeros count), goes to the general
        // parser.
        let others = [
            "",
            ".",
            "1e3",
            "-1",
            "+1",
            "1.2.3",
            "1,5",
            "1234567890123456",
            "inf",
            "NaN",
            "0.000000000000001",
        ];
        for s in others {
            assert_eq!(plain_decimal(s), None, "{s}");
        }
        // Random numbers as traces write them, bit for bit.
        let mut rng = SimRng::new(7, 0);
        for _ in 0..100_000 {
            let v = rng.exponential(1000.0);
            for s in [format!("{v:.3}"), format!("{v:.6}"), format!("{:.0}", v)] {
                assert_eq!(
                    plain_decimal(&s).map(f64::to_bits),
                    Some(s.parse::<f64>().unwrap().to_bits()),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let text = "submit_s,duration_s\n0,10\nx,5\n3,-1\n4\n5,1\n2,1\n";
        let TraceError::Invalid { problems } = parse(text, "t.csv").unwrap_err() else {
            panic!()
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("t.csv:3: submit_s"));
        assert!(problems[1].starts_with("t.csv:4: duration_s"));
        assert!(problems[2].starts_with("t.csv:5: expected 2 fields"));
        assert!(problems[3].contains("goes back in time"));
    }

    #[test]
    fn spans_and_jobs_beyond_what_a_simulation_holds_are_refused_with_their_line() {
        // Reproduction (issue "hostile input"): `submit_s,duration_s\n0,10\n1e12,10` ran 40 s
        // and aborted allocating 3.7 GB; an arrival series at 1e15 did the same, and a 1e300 s
        // job overflowed the oracle's plan.
        for (text, field) in [
            ("submit_s,duration_s\n0,10\n1e12,10\n", "t.csv:3: submit_s"),
            ("t_seconds,arrivals\n0,1\n1e15,1\n", "t.csv:3: t_seconds"),
            ("submit_s,duration_s\n0,1e300\n", "t.csv:2: duration_s"),
            ("t_seconds,arrivals\n0,1\n60,1e15\n", "t.csv:3: arrivals"),
        ] {
            let TraceError::Invalid { problems } = parse(text, "t.csv").unwrap_err() else {
                panic!("{text}")
            };
            assert!(problems[0].starts_with(field), "{problems:?}");
        }
        // A trace that starts late is measured from its first row.
        assert!(parse("submit_s,duration_s\n5e9,10\n5.0001e9,10\n", "t.csv").is_ok());
    }

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
