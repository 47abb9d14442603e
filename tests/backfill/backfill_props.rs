//! Property tests of the backfill's pure parts (no AWS): partial-failure bookkeeping, batch
//! planning, and validation of arbitrary input.

use proptest::prelude::*;
use spillway::backfill::jobs::{Job, MAX_MESSAGE_BYTES, parse_jobs};
use spillway::backfill::plan::plan_batches;
use spillway::backfill::send::{BatchReply, FailedEntry, MAX_BATCH_ENTRIES, partition};

fn failed(index: usize, sender_fault: bool) -> FailedEntry {
    FailedEntry {
        index,
        sender_fault,
        code: "C".into(),
        message: "m".into(),
    }
}

proptest! {
    /// Every attempted entry ends in exactly one of acked / retry / permanent, whatever the reply
    /// says (including out-of-range and repeated indices), and nothing unmentioned is acked.
    #[test]
    fn partition_settles_every_entry_once(
        attempted in 1usize..=10,
        succeeded in proptest::collection::vec(0usize..12, 0..12),
        failures in proptest::collection::vec((0usize..12, any::<bool>()), 0..12),
    ) {
        let reply = BatchReply {
            succeeded: succeeded.clone(),
            failed: failures.iter().map(|&(i, s)| failed(i, s)).collect(),
        };
        let p = partition(attempted, &reply);
        let mut all: Vec<usize> = p.acked.iter().chain(&p.retry).copied()
            .chain(p.permanent.iter().map(|f| f.index)).collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..attempted).collect::<Vec<_>>());
        for i in &p.acked {
            prop_assert!(succeeded.contains(i));
        }
    }

    /// Batches keep the jobs in order, each exactly once, within the entry and size limits.
    #[test]
    fn batches_cover_the_jobs_within_limits(sizes in proptest::collection::vec(1usize..120_000, 0..60)) {
        let jobs: Vec<Job> = sizes.iter().enumerate().map(|(i, &n)| Job {
            line: i + 1,
            id: format!("{i}"),
            body: "x".repeat(n),
            duration_s: None,
        }).collect();
        let batches = plan_batches(jobs, "f.jsonl");
        let lines: Vec<usize> = batches.iter().flat_map(|b| b.jobs.iter().map(|j| j.line)).collect();
        prop_assert_eq!(lines, (1..=sizes.len()).collect::<Vec<_>>());
        for b in &batches {
            prop_assert!(!b.jobs.is_empty() && b.jobs.len() <= MAX_BATCH_ENTRIES);
            let bytes: usize = b.jobs.iter().map(|j| j.message_bytes("f.jsonl")).sum();
            prop_assert!(bytes <= MAX_MESSAGE_BYTES);
        }
    }

    /// Any input is classified line by line: each non-blank line is a job or a problem, never
    /// both, never lost, and validation never panics.
    #[test]
    fn every_line_is_a_job_a_problem_or_blank(lines in proptest::collection::vec(
        prop_oneof![
            Just(String::new()),
            Just("{\"id\":1}".to_owned()),
            Just("{\"id\":\"a\",\"duration_s\":2}".to_owned()),
            Just("{\"duration_s\":-1}".to_owned()),
            Just("[]".to_owned()),
            "[ -~]{0,20}",
        ], 0..40)) {
        let text = lines.join("\n");
        let f = parse_jobs(text.as_bytes(), "f");
        let mut seen: Vec<usize> = f.jobs.iter().map(|j| j.line)
            .chain(f.problems.iter().map(|p| p.line)).collect();
        seen.sort_unstable();
        let expected: Vec<usize> = lines.iter().enumerate()
            .filter(|(_, l)| !l.trim().is_empty()).map(|(i, _)| i + 1).collect();
        prop_assert_eq!(seen, expected);
    }
}
