//! A recorded day as a job trace: the finished jobs in `spillway run --record` files (format 2,
//! `docs/record.md`) turned into a job log `submit_s,duration_s` that `simulate --trace`
//! replays. Each job's submit time is its SQS `SentTimestamp` (for a report without one, the
//! report's arrival less its run and wait), relative to the earliest; its duration is how long
//! its command ran. A job that failed and ran again is two rows: both runs took a worker.
//!
//! Every problem is reported with file and line before anything is written: lines that are not
//! record lines, a newer format, ticks going back in time, two policies, and neither job
//! records nor the queue statistics to rebuild arrivals from ([`super::reconstruct`]).

use std::path::Path;

use serde::Deserialize;

use super::reconstruct::{self, QueueSample};
use super::trace::{self, TraceError};
use crate::model::Timestamp;

/// The newest record format this build reads.
pub const NEWEST_FORMAT: u32 = 2;
/// A tick later than the previous one by more than this is a gap in the record.
const GAP_MS: i64 = 10 * 60 * 1000;

/// One record line, as far as a trace needs it.
#[derive(Debug, Deserialize)]
struct Line {
    #[serde(default)]
    format: Option<u32>,
    #[serde(default)]
    policy: Option<String>,
    at: Timestamp,
    observation: serde_json::Value,
    #[serde(default)]
    jobs: Vec<RecordedJob>,
}

#[derive(Debug, Deserialize)]
struct RecordedJob {
    #[serde(default)]
    sent_at: Option<Timestamp>,
    waited_s: f64,
    ran_s: f64,
    reported_at: Timestamp,
}

/// The job log and what was found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `(submit_s, duration_s)`, by submit time.
    pub jobs: Vec<(f64, f64)>,
    /// Ticks read.
    pub ticks: usize,
    /// Jobs whose submit time was derived (no `SentTimestamp` in the report).
    pub derived_submits: usize,
    /// Gaps of more than ten minutes between ticks: `(file:line, minutes)`.
    pub gaps: Vec<(String, f64)>,
    /// What each tick saw of the queue, for a rebuild when there are no job records.
    pub samples: Vec<QueueSample>,
}

impl Recorded {
    /// The job log's text.
    pub fn csv(&self) -> String {
        trace::to_csv(trace::JOB_LOG_HEADER, &self.jobs)
    }
}

/// Reads `paths` (in order) into one job log.
pub fn from_records(paths: &[&Path]) -> Result<Recorded, TraceError> {
    let mut texts = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|source| TraceError::Unreadable {
            path: p.display().to_string(),
            source,
        })?;
        texts.push((p.display().to_string(), text));
    }
    parse(&texts)
}

/// [`from_records`] on texts already read, each with the name its messages use.
pub fn parse(texts: &[(String, String)]) -> Result<Recorded, TraceError> {
    let mut problems = Vec::new();
    let mut raw: Vec<(i64, f64)> = Vec::new();
    let mut out = Recorded {
        jobs: Vec::new(),
        ticks: 0,
        derived_submits: 0,
        gaps: Vec::new(),
        samples: Vec::new(),
    };
    // The first policy named, and where.
    let mut policy: Option<(String, String)> = None;
    for (origin, text) in texts {
        let mut last_at: Option<Timestamp> = None;
        let (problems_before, mut read, mut ticks_here) = (problems.len(), 0usize, 0usize);
        for (i, text) in text.lines().enumerate() {
            let line_no = i + 1;
            if text.trim().is_empty() {
                continue;
            }
            read += 1;
            let line: Line = match serde_json::from_str(text) {
                Ok(l) => l,
                Err(e) => {
                    problems.push(format!(
                        "{origin}:{line_no}: not a spillway --record line ({e}); expected one JSON object per tick with \"at\" and \"observation\""
                    ));
                    continue;
                }
            };
            if let Some(f) = line.format.filter(|f| *f > NEWEST_FORMAT) {
                problems.push(format!(
                    "{origin}:{line_no}: format {f} was written by a newer spillway; this one reads up to {NEWEST_FORMAT}"
                ));
                continue;
            }
            if let Some(name) = &line.policy {
                match &policy {
                    None => policy = Some((name.clone(), format!("{origin}:{line_no}"))),
                    Some((first, at)) if first != name => {
                        problems.push(format!(
                            "{origin}:{line_no}: policy \"{name}\", but {at} is policy \"{first}\": one trace is one farm; convert each policy's records on their own"
                        ));
                        continue;
                    }
                    Some(_) => {}
                }
            }
            if let Some(prev) = last_at {
                if line.at < prev {
                    problems.push(format!(
                        "{origin}:{line_no}: at: the clock went back {} s from the previous tick (a record appended to by another host, or a clock jump)",
                        (prev.0 - line.at.0) as f64 / 1000.0
                    ));
                } else if line.at.0 - prev.0 > GAP_MS {
                    let minutes = (line.at.0 - prev.0) as f64 / 60_000.0;
                    out.gaps.push((format!("{origin}:{line_no}"), minutes));
                }
            }
            last_at = Some(line.at);
            out.ticks += 1;
            ticks_here += 1;
            let o = &line.observation;
            let latest = &o["queue"]["latest"];
            let count = |v: &serde_json::Value| v.as_f64().filter(|x| x.is_finite() && *x >= 0.0);
            let running = count(&latest["in_flight"]);
            out.samples.push(QueueSample {
                at_ms: line.at.0,
                queued: count(&latest["visible"]).zip(running).map(|(v, r)| v + r),
                running,
                completed: o["completed"].as_u64(),
            });
            for j in line.jobs {
                let plausible = |v: f64| v.is_finite() && (0.0..=1e7).contains(&v);
                if !plausible(j.ran_s) || !plausible(j.waited_s) {
                    problems.push(format!(
                        "{origin}:{line_no}: jobs: ran_s and waited_s must be 0 to 1e7 seconds"
                    ));
                    continue;
                }
                let sent = match j.sent_at {
                    Some(t) => t.0,
                    None => {
                        out.derived_submits += 1;
                        j.reported_at.0 - ((j.ran_s + j.waited_s) * 1000.0).round() as i64
                    }
                };
                raw.push((sent, j.ran_s));
            }
        }
        // A file none of whose lines is a record line is one problem, not one per line.
        if read > 1 && ticks_here == 0 && problems.len() - problems_before == read {
            let first = problems[problems_before].clone();
            problems.truncate(problems_before);
            problems.push(format!(
                "{origin}: not a spillway --record file: none of its {read} lines is a record line (first: {first})"
            ));
        }
    }
    if problems.is_empty() && raw.is_empty() && reconstruct::rebuild(&out.samples).is_none() {
        let names: Vec<&str> = texts.iter().map(|(o, _)| o.as_str()).collect();
        problems.push(format!(
            "{}: no job records (the record is older than format 2, or no `spillway worker` reported finished jobs), and no two ticks with queue statistics and completions to rebuild the arrivals from",
            names.join(", ")
        ));
    }
    if !problems.is_empty() {
        let more = problems.len().saturating_sub(50);
        problems.truncate(50);
        if more > 0 {
            problems.push(format!("… and {more} more problems"));
        }
        return Err(TraceError::Invalid { problems });
    }
    raw.sort_by_key(|&(t, _)| t);
    let first = raw.first().map_or(0, |r| r.0);
    out.jobs = raw
        .into_iter()
        .map(|(t, d)| ((t - first) as f64 / 1000.0, d))
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(at: i64, jobs: &str) -> String {
        format!(
            r#"{{"format":2,"policy":"picnik","at":{at},"observation":{{}},"decision":{{}},"jobs":[{jobs}]}}"#
        )
    }

    fn job(sent: i64, ran: f64) -> String {
        format!(
            r#"{{"queue":"renders","pool":"ec2","sent_at":{sent},"waited_s":2.0,"ran_s":{ran},"ok":true,"exit":0,"reported_at":{}}}"#,
            sent + 10_000
        )
    }

    #[test]
    fn jobs_become_rows_by_sent_time_relative_to_the_first() {
        let text = [
            tick(1_000_000, &job(990_000, 40.0)),
            tick(
                1_060_000,
                &format!("{},{}", job(1_000_500, 3.5), job(985_000, 12.0)),
            ),
        ]
        .join("\n");
        let r = parse(&[("rec.jsonl".into(), text)]).unwrap();
        assert_eq!(r.jobs, vec![(0.0, 12.0), (5.0, 40.0), (15.5, 3.5)]);
        assert_eq!(r.ticks, 2);
        assert_eq!(
            r.csv(),
            "submit_s,duration_s\n0.000,12.000\n5.000,40.000\n15.500,3.500\n"
        );
    }

    #[test]
    fn every_bad_line_is_named_and_nothing_is_returned() {
        let text = [
            tick(2_000_000, &job(1_990_000, 4.0)),
            "submit_s,duration_s".to_string(),
            tick(1_000_000, ""),
            r#"{"format":3,"at":5,"observation":{}}"#.to_string(),
        ]
        .join("\n");
        let err = parse(&[("day.jsonl".into(), text)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("day.jsonl:2: not a spillway --record line"),
            "{err}"
        );
        assert!(
            err.contains("day.jsonl:3: at: the clock went back 1000 s"),
            "{err}"
        );
        assert!(
            err.contains("day.jsonl:4: format 3 was written by a newer spillway"),
            "{err}"
        );
    }

    #[test]
    fn records_of_two_policies_are_not_mixed() {
        let other = tick(9_000_000, &job(8_990_000, 1.0)).replace("picnik", "cost-capped");
        let texts = [
            ("a.jsonl".to_string(), tick(1_000_000, &job(990_000, 4.0))),
            ("b.jsonl".to_string(), other),
        ];
        let err = parse(&texts).unwrap_err().to_string();
        assert!(
            err.contains(r#"b.jsonl:1: policy "cost-capped", but a.jsonl:1 is policy "picnik""#),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_no_record_at_all_is_one_problem() {
        let csv = "submit_s,duration_s\n0,5\n1,5\n".to_string();
        let err = parse(&[("jobs.csv".into(), csv)]).unwrap_err().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("jobs.csv: not a spillway --record file: none of its 3 lines"),
            "{err}"
        );
    }

    #[test]
    fn a_record_without_job_records_says_why_and_gaps_are_noted() {
        let old = r#"{"at":1000,"observation":{},"decision":{}}"#.to_string();
        let err = parse(&[("old.jsonl".into(), old)]).unwrap_err().to_string();
        assert!(err.contains("old.jsonl: no job records"), "{err}");
        let text = [tick(0, &job(0, 1.0)), tick(3_600_000, "")].join("\n");
        let r = parse(&[("gap.jsonl".into(), text)]).unwrap();
        assert_eq!(r.gaps, vec![("gap.jsonl:2".to_string(), 60.0)]);
    }
}
