//! `--backfill jobs.jsonl@T`: a backfill file, the same JSON Lines `spillway backfill submit`
//! sends, dropped into a simulated workload at time `T` as batch jobs.
//!
//! The file goes through the submitter's own validation, so a file the simulator accepts is one
//! the submitter would send. Each job runs for its `duration_s` hint; jobs without one draw a
//! duration from `--durations` (seeded).

use std::path::{Path, PathBuf};

use crate::backfill::jobs::parse_jobs;
use crate::model::parse_duration;

use super::rng::SimRng;
use super::trace::{DurationDist, Job, JobClass, MAX_JOB_S, figure};

/// One `FILE@T` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    pub path: PathBuf,
    /// Seconds from the start of the workload.
    pub at_s: f64,
}

impl Injection {
    /// Parses `FILE@T`, where `T` is seconds (`32400`) or a duration (`9h`, `1d9h` is not
    /// accepted: use `33h`).
    pub fn parse(spec: &str) -> Result<Injection, String> {
        let (path, at) = spec
            .rsplit_once('@')
            .ok_or_else(|| format!("--backfill {spec:?}: expected FILE@T (e.g. jobs.jsonl@33h)"))?;
        if path.is_empty() {
            return Err(format!("--backfill {spec:?}: the file name is empty"));
        }
        let at_s = match at.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => s,
            Ok(_) => return Err(format!("--backfill {spec:?}: T must be 0 or more")),
            Err(_) => parse_duration(at.trim())
                .map_err(|e| format!("--backfill {spec:?}: T {at:?}: {e}"))?
                .as_secs_f64(),
        };
        if at_s > crate::sim::trace::MAX_SPAN_S {
            return Err(format!(
                "--backfill {spec:?}: T is beyond the longest span a simulation covers ({:.0e} s, about 3 years)",
                crate::sim::trace::MAX_SPAN_S
            ));
        }
        Ok(Injection {
            path: PathBuf::from(path),
            at_s,
        })
    }

    /// Reads and validates the file; every bad line is reported, and none is used if any is bad.
    pub fn load(&self, durations: DurationDist, seed: u64) -> Result<Vec<Job>, String> {
        let bytes = std::fs::read(&self.path)
            .map_err(|e| format!("{}: cannot read: {e}", self.path.display()))?;
        jobs_from(&bytes, &self.path, self.at_s, durations, seed)
    }
}

/// The batch jobs of a backfill file's content, all submitted at `at_s`.
pub fn jobs_from(
    bytes: &[u8],
    path: &Path,
    at_s: f64,
    durations: DurationDist,
    seed: u64,
) -> Result<Vec<Job>, String> {
    let name = path.display().to_string();
    let file = parse_jobs(bytes, &name);
    if !file.problems.is_empty() {
        let lines: Vec<String> = file
            .problems
            .iter()
            .map(|p| format!("{name}:{}: {}", p.line, p.reason))
            .collect();
        return Err(format!(
            "{} bad line(s) in the backfill file; nothing was simulated:\n{}",
            lines.len(),
            lines.join("\n")
        ));
    }
    if file.jobs.is_empty() {
        return Err(format!("{name}: the backfill file has no jobs"));
    }
    // The same bound as a trace's jobs: longer ones would overflow the simulated clock.
    let too_long: Vec<String> = file
        .jobs
        .iter()
        .filter_map(|j| Some((j.line, j.duration_s?)))
        .filter(|(_, d)| *d > MAX_JOB_S)
        .map(|(line, d)| {
            format!(
                "{name}:{line}: duration_s: {} s is longer than the longest job a simulation \
                 holds ({MAX_JOB_S:.0e} s)",
                figure(d)
            )
        })
        .collect();
    if !too_long.is_empty() {
        return Err(format!(
            "{} bad line(s) in the backfill file; nothing was simulated:\n{}",
            too_long.len(),
            too_long.join("\n")
        ));
    }
    let mut rng = SimRng::new(seed, 0xbac4_f111);
    let submit_ms = (at_s * 1000.0).round() as i64;
    Ok(file
        .jobs
        .iter()
        .map(|j| Job {
            submit_ms,
            duration_s: j
                .duration_s
                .filter(|d| d.is_finite() && *d >= 0.0)
                .unwrap_or_else(|| durations.sample(&mut rng)),
            class: JobClass::Batch,
            queue: 0,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_longer_than_a_simulation_holds_are_refused_with_their_line() {
        // Reproduction (issue "hostile input"): a backfill job of 1e300 s overflowed the
        // simulated clock (exit 101).
        let text = b"{\"id\":1,\"duration_s\":7}\n{\"id\":2,\"duration_s\":1e300}\n";
        let err =
            jobs_from(text, Path::new("b.jsonl"), 0.0, DurationDist::Fixed(1.0), 1).unwrap_err();
        assert!(
            err.contains("b.jsonl:2: duration_s: 1e300 s is longer"),
            "{err}"
        );
    }

    #[test]
    fn specs_parse_seconds_and_durations() {
        let a = Injection::parse("jobs.jsonl@33h").unwrap();
        assert_eq!(a.path, PathBuf::from("jobs.jsonl"));
        assert_eq!(a.at_s, 33.0 * 3600.0);
        assert_eq!(Injection::parse("a@b.jsonl@120").unwrap().at_s, 120.0);
        assert!(Injection::parse("jobs.jsonl").is_err());
        assert!(Injection::parse("@5").is_err());
        assert!(Injection::parse("x@-5").is_err());
        assert!(Injection::parse("x@soon").unwrap_err().contains("soon"));
    }

    #[test]
    fn jobs_take_their_hint_or_a_drawn_duration() {
        let text = b"{\"id\":1,\"duration_s\":7}\n{\"id\":2}\n";
        let jobs = jobs_from(
            text,
            Path::new("b.jsonl"),
            60.0,
            DurationDist::Fixed(3.0),
            1,
        )
        .unwrap();
        assert_eq!(jobs.len(), 2);
        assert!(
            jobs.iter()
                .all(|j| j.submit_ms == 60_000 && j.class == JobClass::Batch)
        );
        assert_eq!((jobs[0].duration_s, jobs[1].duration_s), (7.0, 3.0));
    }

    #[test]
    fn every_bad_line_is_named_and_nothing_is_used() {
        let text = b"{\"id\":1}\nnot json\n{\"id\":1}\n[1]\n";
        let err =
            jobs_from(text, Path::new("b.jsonl"), 0.0, DurationDist::Fixed(3.0), 1).unwrap_err();
        for line in ["b.jsonl:2:", "b.jsonl:3:", "b.jsonl:4:"] {
            assert!(err.contains(line), "{err}");
        }
        assert!(err.starts_with("3 bad line(s)"), "{err}");
    }
}
