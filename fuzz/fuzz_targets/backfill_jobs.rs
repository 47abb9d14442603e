//! Fuzz target: backfill job files (JSON Lines) through `backfill::jobs::parse_jobs`, which
//! checks every line before anything is sent. It must never panic, and it must account for
//! every line exactly once: as a job, a rejected line or a blank one, with unique job ids and
//! every job within SQS's message limits.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use spillway::backfill::jobs::{self, MAX_MESSAGE_BYTES};

const SOURCE: &str = "jobs.jsonl";

fuzz_target!(|data: &[u8]| {
    let file = jobs::parse_jobs(data, SOURCE);
    assert_eq!(file.size, data.len() as u64);

    let content = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut lines = content.split(|&b| b == b'\n').count();
    if content.is_empty() || content.ends_with(b"\n") {
        lines -= 1;
    }
    assert_eq!(
        file.jobs.len() + file.problems.len() + file.blank_lines,
        lines
    );

    let mut seen_lines = HashSet::new();
    let mut seen_ids = HashSet::new();
    for job in &file.jobs {
        assert!((1..=lines).contains(&job.line));
        assert!(seen_lines.insert(job.line));
        assert!(
            seen_ids.insert(job.id.as_str()),
            "duplicate id {:?}",
            job.id
        );
        assert!(!job.id.is_empty() && job.id.chars().all(jobs::sqs_char_ok));
        assert!(job.body.chars().all(jobs::sqs_char_ok) && !job.body.contains('\n'));
        assert!(job.message_bytes(SOURCE) <= MAX_MESSAGE_BYTES);
        assert!(job.duration_s.is_none_or(|d| d >= 0.0));
    }
    for problem in &file.problems {
        assert!((1..=lines).contains(&problem.line));
        assert!(seen_lines.insert(problem.line));
        assert!(!problem.reason.is_empty());
    }
});
