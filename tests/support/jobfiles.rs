//! Job files for tests: writing them, and checking what arrived against what was written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_sdk_sqs::types::Message;

/// A fresh directory for one test's files.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spillway-backfill-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `n` jobs; every fifth has no `id` (so it gets a derived one). Returns the lines.
pub fn write_jobs(path: &Path, n: usize) -> Vec<String> {
    let lines: Vec<String> = (1..=n)
        .map(|i| {
            if i % 5 == 0 {
                format!("{{\"scene\":\"s{i}\",\"frame\":{i}}}")
            } else {
                format!(
                    "{{\"id\":\"job-{i:05}\",\"frame\":{i},\"duration_s\":{}.5}}",
                    i % 7
                )
            }
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    lines
}

/// Body -> times received.
pub fn body_counts(messages: &[Message]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in messages {
        *counts.entry(m.body().unwrap().to_owned()).or_insert(0) += 1;
    }
    counts
}

pub fn assert_each_exactly_once(lines: &[String], messages: &[Message]) {
    let counts = body_counts(messages);
    assert_eq!(messages.len(), lines.len(), "message count");
    for line in lines {
        assert_eq!(counts.get(line), Some(&1), "{line}");
    }
}
